"""The predict stage's attention store and the distance binning shared by links and tads.

Layout of ``attention.zarr``: see :mod:`creator.predict` (and :mod:`creator.formats`).
:class:`AttentionWriter` streams it during predict; :func:`read_gene_attention`,
:func:`read_element_attention`, :func:`open_element_attention` and :func:`iter_gene_attention` read
it back; :class:`ElementAttentionBinner` keeps the element-element attention binned at the tads
resolution instead of per window (:func:`binned_block`, :class:`BandAccumulator`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from creator.errors import InputError
from creator.formats import predict_outputs

__all__ = ["AttentionWriter", "read_gene_attention", "read_element_attention", "open_element_attention",
           "iter_gene_attention", "float16_rounded", "binned_block", "BandAccumulator", "window_bin_span",
           "ElementAttentionBinner", "log_distance_bin", "READ_VALUES"]

#: element_attention values read per zarr request (bounds the read buffer)
READ_VALUES = 1 << 24


def log_distance_bin(distance, unit: float = 1.0, per_octave: int = 4) -> np.ndarray:
    """Quarter-octave (``per_octave`` per doubling) bins of ``|distance|``:
    ``floor(per_octave * log2(1 + |distance| / unit))`` as int64 (0 for distance 0)."""
    d = np.abs(np.asarray(distance, dtype=np.float64))
    return np.floor(per_octave * np.log2(1.0 + d / unit)).astype(np.int64)


class _SeqWriter:
    """Appends rows to a zarr array in order, writing whole chunks (bounded buffer)."""

    def __init__(self, array):
        self.array = array
        self.chunk = array.chunks[0]
        self.pos = 0
        self.buf: list[np.ndarray] = []
        self.nbuf = 0

    def append(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self.buf.append(rows)
        self.nbuf += len(rows)
        if self.nbuf >= self.chunk:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self.buf:
            return
        block = np.concatenate(self.buf)
        n = len(block) if final else (len(block) // self.chunk) * self.chunk
        if n:
            self.array[self.pos:self.pos + n] = block[:n]
            self.pos += n
        rest = block[n:]
        self.buf, self.nbuf = ([rest] if len(rest) else []), len(rest)

    def close(self) -> None:
        self._flush(final=True)
        if self.pos != self.array.shape[0]:
            raise RuntimeError(f"attention writer: wrote {self.pos} rows of {self.array.shape[0]}")


class AttentionWriter:
    """Streams per-gene attention into ``attention.zarr`` (layout: module docstring).

    Genes must arrive in index order (as :func:`predict_genes` does when given all genes)."""

    def __init__(self, path: Path, reference, *, n_layers: int, n_heads: int, cell: str,
                 element_attention: bool = True, element_resolution: int | None = None,
                 chunk_rows: int = 1 << 16):
        import zarr

        self.ref = reference
        sizes = reference.window_sizes
        self.gene_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.elem_offsets = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        root.attrs.update(dict(
            layout=("gene_attention[gene_offsets[g]+k, layer, head] = attention of gene g's token to "
                    "cCRE win_lo[g]+k; element_attention[element_offsets[g] + i*E_g + j] = last-layer "
                    "head-mean attention of cCRE win_lo[g]+i to win_lo[g]+j; softmax probabilities"),
            n_layers=int(n_layers), n_heads=int(n_heads), cell_type=cell,
            reference_id=reference.reference_id, element_attention_layer=-1))
        total = int(self.gene_offsets[-1])
        self.gene_arr = root.create_array("gene_attention", shape=(total, n_layers, n_heads), dtype="float16",
                                          chunks=(max(1, min(chunk_rows, total)), n_layers, n_heads))
        root.create_array("gene_offsets", data=self.gene_offsets)
        self.gene_w = _SeqWriter(self.gene_arr)
        self.elem_w = None
        self.binner = None
        if element_attention and element_resolution:
            self.binner = ElementAttentionBinner(root, reference, element_resolution)
        elif element_attention:
            npairs = int(self.elem_offsets[-1])
            arr = root.create_array("element_attention", shape=(npairs,), dtype="float16",
                                    chunks=(max(1, min(chunk_rows * 16, npairs)),))
            root.create_array("element_offsets", data=self.elem_offsets)
            self.elem_w = _SeqWriter(arr)
        self.next_gene = 0

    def __call__(self, genes: np.ndarray, pred: np.ndarray, attn: list[torch.Tensor]) -> None:
        ref = self.ref
        # probabilities of every layer, [B, L, H, T, T] would be large: slice per layer instead
        last = len(attn) - 1
        for b, g in enumerate(genes):
            g = int(g)
            if g != self.next_gene:
                raise RuntimeError(f"attention writer: gene {g} arrived, expected {self.next_gene}")
            self.next_gene += 1
            e = int(ref.hi[g] - ref.lo[g])
            if e == 0:
                continue
            # gene token is the last position T-1; its row over the first e (real) keys
            rows = torch.stack([a[b, :, -1, :e] for a in attn], dim=0)  # [L, H, e]
            self.gene_w.append(rows.permute(2, 0, 1).to(torch.float16).cpu().numpy())
            if self.elem_w is not None or self.binner is not None:
                ee = attn[last][b, :, :e, :e].float().mean(0)
                if self.binner is not None:
                    self.binner.add(g, ee.cpu().numpy())
                else:
                    self.elem_w.append(ee.reshape(-1).to(torch.float16).cpu().numpy())

    def close(self) -> None:
        if self.next_gene != self.ref.n_gene:
            raise RuntimeError(f"attention writer: {self.next_gene} of {self.ref.n_gene} genes written")
        self.gene_w.close()
        if self.elem_w is not None:
            self.elem_w.close()
        if self.binner is not None:
            self.binner.close()


def read_gene_attention(path: str | Path, gene: int) -> np.ndarray:
    """float16 ``[E, n_layers, n_heads]``: gene ``gene``'s token attention to its window's cCREs."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    off = root["gene_offsets"][gene:gene + 2]
    return root["gene_attention"][int(off[0]):int(off[1])]


def read_element_attention(path: str | Path, gene: int) -> np.ndarray:
    """float16 ``[E, E]``: last-layer head-mean element-element attention in gene ``gene``'s window."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    off = root["element_offsets"][gene:gene + 2]
    flat = root["element_attention"][int(off[0]):int(off[1])]
    e = int(round(np.sqrt(len(flat))))
    return flat.reshape(e, e)


def open_element_attention(predict_dir: str | Path, reference, cell: str | None = None):
    """The ``element_attention`` array and ``element_offsets`` of ``predict_dir/attention.zarr``,
    checked against ``reference``; or ``(element_pixels group, None)`` for a store binned during
    predict (:class:`ElementAttentionBinner`)."""
    import zarr

    path = predict_outputs(predict_dir)["attention"]
    fix = ("run the predict stage with attention (creator predict ... --attention, without "
           "--no-element-attention) for this cell type and reference")
    if not path.exists():
        raise InputError("attention store not found", path=path, fix=fix)
    try:
        root = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several types for a broken store
        raise InputError(f"cannot open the attention store: {exc}", path=path, fix=fix) from exc
    attrs = dict(root.attrs)
    rid = attrs.get("reference_id")
    if rid is not None and rid != reference.reference_id:
        raise InputError(f"the attention store was computed against reference {rid!r}, not "
                         f"{reference.reference_id!r}", path=path, fix=fix)
    if cell is not None and attrs.get("cell_type") not in (None, cell):
        raise InputError(f"the attention store is of cell type {attrs.get('cell_type')!r}, not {cell!r}",
                         path=path, fix="point --predict-dir at this cell type's predict directory")
    if "element_pixels" in root:
        return root["element_pixels"], None   # binned during predict (ElementAttentionBinner)
    if "element_attention" not in root or "element_offsets" not in root:
        raise InputError("the attention store has no element_attention (predict ran with "
                         "--no-element-attention)", path=path, fix=fix)
    offsets = np.asarray(root["element_offsets"][...], dtype=np.int64)
    sizes = reference.window_sizes
    expect = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
    if offsets.shape != expect.shape or not np.array_equal(offsets, expect):
        raise InputError("element_offsets do not match the reference's gene windows", path=path, fix=fix)
    return root["element_attention"], offsets


def iter_gene_attention(arr, offsets: np.ndarray, genes: np.ndarray, sizes: np.ndarray
                        ) -> Iterator[tuple[int, np.ndarray]]:
    """``(gene, float32 [E, E])`` for ``genes`` (non-empty windows), reading runs of consecutive
    genes in requests of at most :data:`READ_VALUES` values."""
    genes = [int(g) for g in genes if sizes[g] > 0]
    i = 0
    while i < len(genes):
        j = i + 1
        start = offsets[genes[i]]
        while (j < len(genes) and genes[j] == genes[j - 1] + 1
               and offsets[genes[j] + 1] - start <= READ_VALUES):
            j += 1
        stop = offsets[genes[j - 1] + 1]
        block = np.asarray(arr[int(start):int(stop)], dtype=np.float32)
        for g in genes[i:j]:
            e = int(sizes[g])
            a, b = offsets[g] - start, offsets[g + 1] - start
            yield g, block[a:b].reshape(e, e)
        i = j


def float16_rounded(x) -> np.ndarray:
    """float32 copy of ``x`` rounded to float16 (the values a float16 store holds). Through torch:
    numpy's float32 -> float16 cast is ~10x slower (it was 40% of the demo's predict time); both
    round to nearest even, so the values are identical (tested)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return t.to(torch.float16).to(torch.float32).cpu().numpy()


def binned_block(attn: np.ndarray, elem_bin: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """One window's contribution: ``(b0, sums [m, m], counts [m, m])`` over bins ``b0 .. b0+m-1``
    (upper triangle filled, lower zero), from its ``[E, E]`` attention and the elements' bins
    (non-decreasing). Unordered pairs of distinct elements; value ``(a_ij + a_ji) / 2``."""
    e = len(elem_bin)
    b0 = int(elem_bin[0])
    m = int(elem_bin[-1]) - b0 + 1
    sums = np.zeros((m, m), np.float64)
    counts = np.zeros((m, m), np.int64)
    if e < 2:
        return b0, sums, counts
    u, starts, n = np.unique(elem_bin, return_index=True, return_counts=True)
    s = attn.astype(np.float64)
    s = (s + s.T) * 0.5
    blk = np.add.reduceat(np.add.reduceat(s, starts, axis=0), starts, axis=1)
    diag_self = np.add.reduceat(np.diag(s), starts)
    loc = u - b0
    full = np.zeros((m, m), np.float64)
    full[np.ix_(loc, loc)] = blk
    cnt = np.zeros((m, m), np.int64)
    cnt[np.ix_(loc, loc)] = np.outer(n, n)
    # within a bin: unordered pairs of distinct elements
    full[loc, loc] = (np.diag(blk) - diag_self) * 0.5
    cnt[loc, loc] = n * (n - 1) // 2
    iu = np.triu_indices(m)
    sums[iu] = full[iu]
    counts[iu] = cnt[iu]
    return b0, sums, counts


class BandAccumulator:
    """Sums and counts of one chromosome's bin pairs ``(r, r + d)``, ``0 <= d < band``, for blocks
    that arrive with non-decreasing first rows. Rows before the current block are final; they are
    handed back (sorted) when the buffer must shift, and by :meth:`finish`."""

    def __init__(self, n_bins: int, band: int):
        self.n_bins = int(n_bins)
        self.band = max(1, int(band))
        self.cap = 2 * self.band
        self.sums = np.zeros((self.cap, self.band), np.float64)
        self.counts = np.zeros((self.cap, self.band), np.int64)
        self.r0 = 0
        self.last_b0 = 0

    def add(self, b0: int, sums: np.ndarray, counts: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        m = sums.shape[0]
        if b0 < self.last_b0:
            raise ValueError("blocks must arrive with non-decreasing first bins")
        if m > self.band:
            raise ValueError(f"block of {m} bins exceeds the band ({self.band})")
        self.last_b0 = b0
        out = []
        if b0 - self.r0 + m > self.cap:
            out.append(self._emit(b0))
        p, q = np.nonzero(counts)
        self.sums[b0 - self.r0 + p, q - p] += sums[p, q]
        self.counts[b0 - self.r0 + p, q - p] += counts[p, q]
        return out

    def _emit(self, upto: int) -> tuple[np.ndarray, ...]:
        """Hand back rows ``[r0, upto)`` as ``(bin1, bin2, sum, count)`` and shift the buffer."""
        k = upto - self.r0
        rows, d = np.nonzero(self.counts[:k])
        res = (rows + self.r0, rows + self.r0 + d, self.sums[rows, d], self.counts[rows, d])
        keep = max(self.cap - k, 0)   # a jump past the whole buffer (a gap between windows) keeps nothing
        self.sums[:keep] = self.sums[k:k + keep]
        self.counts[:keep] = self.counts[k:k + keep]
        self.sums[keep:] = 0
        self.counts[keep:] = 0
        self.r0 = upto
        return res

    def finish(self) -> tuple[np.ndarray, ...]:
        return self._emit(self.r0 + self.cap)


def window_bin_span(reference, genes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last bin of each of ``genes``' (non-empty) windows at ``resolution``."""
    first = reference.ccre_center[reference.lo[genes]] // resolution
    last = reference.ccre_center[reference.hi[genes] - 1] // resolution
    return first, last


class ElementAttentionBinner:
    """Bins element-element attention as the predict stage produces it, so that the per-window
    ``E x E`` matrices (about 25 GB per cell type genome-wide at 1 Mb windows) need not be stored.

    Windows arrive in gene index order (genes sorted by chromosome and TSS, so first bins never
    decrease within a chromosome); each is rounded to float16, exactly the values a full store holds,
    and accumulated with :func:`binned_block` into a :class:`BandAccumulator`. So the tads stage gives
    the same numbers from either store. Per chromosome code ``c`` (``reference.chroms[c]``), the
    zarr group ``element_pixels/{c}`` gets ``bin1``, ``bin2`` (int64, bins of the chromosome,
    ``bin1 <= bin2``, sorted), ``sum`` (float64) and ``n`` (int64): sum and count of the
    symmetrised attention over (element pair, window) contributions.
    """

    def __init__(self, group, reference, resolution: int):
        if resolution < 1:
            raise InputError("the element attention resolution must be >= 1 bp", fix="e.g. 10000")
        self.ref = reference
        self.res = int(resolution)
        self.group = group.create_group("element_pixels")
        self.group.attrs.update(dict(resolution=self.res))
        self.code: int | None = None
        self.done: set[int] = set()
        self.acc: BandAccumulator | None = None
        self.parts: list[tuple[np.ndarray, ...]] = []

    def _start(self, code: int) -> None:
        ref = self.ref
        if code in self.done:
            raise RuntimeError(f"element attention binner: chromosome {ref.chroms[code]} arrived twice")
        genes = np.flatnonzero((ref.gene_chrom == code) & (ref.window_sizes > 0))
        first, last = window_bin_span(ref, genes, self.res)
        self.code = code
        self.acc = BandAccumulator(int(last.max()) + 1, int((last - first).max()) + 1)
        self.parts = []

    def add(self, gene: int, attn: np.ndarray) -> None:
        """Gene ``gene``'s window attention ``[E, E]`` (E >= 1)."""
        ref = self.ref
        lo, hi = int(ref.lo[gene]), int(ref.hi[gene])
        code = int(ref.ccre_chrom[lo])
        if code != self.code:
            self._finish()
            self._start(code)
        self.parts += self.acc.add(*binned_block(float16_rounded(attn), ref.ccre_center[lo:hi] // self.res))

    def _finish(self) -> None:
        if self.acc is None:
            return
        self.parts.append(self.acc.finish())
        cols = [np.concatenate([p[k] for p in self.parts]) for k in range(4)]
        order = np.lexsort((cols[1], cols[0]))
        g = self.group.create_group(str(self.code))
        for name, col, dt in zip(("bin1", "bin2", "sum", "n"), cols, (np.int64, np.int64, np.float64, np.int64)):
            g.create_array(name, data=np.ascontiguousarray(col[order], dtype=dt))
        self.done.add(self.code)
        self.acc, self.parts = None, []

    def close(self) -> None:
        self._finish()
