"""Model inputs: a cell type's reference, features and targets opened with clear errors, and the
batches that feed :class:`creator.model.CreatorModel`.

Files read (layouts in :mod:`creator.formats`): ``reference/{ccres,genes}.parquet``,
``windows.npz``, ``sequence.npy``; ``features/{cell}/signal.zarr``; ``targets/{cell}.parquet``.

Per (cell, gene) the inputs are the elements of the gene's window ``[win_lo, win_hi)``, read as ONE
contiguous slice of the sequence tokens and of the signal array, their offsets ``centre - TSS`` (bp)
and the target log1p TPM. The signal is stored at ``resolution_bp``; :func:`per_base` repeats each
bin to per-base input; the fast paths hand the binned signal to
:meth:`CreatorModel.encode_elements`, which repeats its projection per base (the same numbers,
checked against :func:`per_base` input in the tests).

Two kinds of batch, one data structure (:class:`Batch`):

* a *region batch* (training regions; docs/architecture.md): the contiguous element range covering the windows of many
  nearby genes is encoded once by stage 1; every gene gathers its padded window from those shared
  embeddings by index (``Batch.index``), so the gradients of all the genes flow into the shared
  embeddings. :func:`plan_regions` splits each chromosome into overlapping regions of at most
  ``region_bp`` so that each gene whose window fits is assigned to exactly one region;
* a *per-gene batch* (one gene, its window only): the reference the region batch must reproduce,
  and the fallback for a gene whose window is wider than ``region_bp``.

:func:`batch_predictions` runs a :class:`Batch` through the model, optionally in chunks of elements
(stage 1) and of genes (stage 2) under activation checkpointing so that memory stays bounded
whatever the region size; the gradients are the same as without chunks.
:func:`gene_inputs` builds the padded ``[B, E, L]`` tensors of :meth:`CreatorModel.forward`, the slow
reference that re-encodes every element for every gene.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from creator.errors import InputError
from creator.formats import N_TRACKS, REFERENCE_FILES, TRACK_INDEX, TRACKS, reference_outputs

log = logging.getLogger(__name__)

GENE_COLUMNS = ("gene_id", "symbol", "chrom", "tss", "win_lo", "win_hi")
#: signal arrays up to this size are read into memory once (else read per batch from zarr)
DEFAULT_CACHE_BYTES = 1 << 30


# ---------------------------------------------------------------------------------------------
# reference


@dataclass(frozen=True, eq=False)
class Reference:
    """The reference stage's outputs. Gene ``g``'s window is cCRE rows ``[lo[g], hi[g])``."""

    path: Path
    genes: pd.DataFrame
    lo: np.ndarray
    hi: np.ndarray
    tss: np.ndarray
    ccre_center: np.ndarray
    gene_chrom: np.ndarray
    ccre_chrom: np.ndarray
    chroms: tuple[str, ...]
    window_bp: int
    element_bp: int
    reference_id: str
    sequence: np.ndarray  # uint8 [n_ccre, element_bp], memory-mapped

    @property
    def n_gene(self) -> int:
        return len(self.lo)

    @property
    def n_ccre(self) -> int:
        return len(self.ccre_center)

    @property
    def window_sizes(self) -> np.ndarray:
        return self.hi - self.lo

    def gene_chrom_names(self) -> np.ndarray:
        return np.asarray(self.chroms, dtype=object)[self.gene_chrom]


def _rerun_reference(path: Path) -> str:
    return f"rerun the reference stage (creator reference ... --out {path}, or snakemake) so that it writes {', '.join(REFERENCE_FILES)}"


def open_reference(path: str | Path) -> Reference:
    """Open ``results/reference/`` (checks that the four files exist and agree)."""
    path = Path(path)
    files = reference_outputs(path)
    for file in files.values():
        if not file.exists():
            raise InputError(f"reference file {file.name} not found", path=file, fix=_rerun_reference(path))
    try:
        w = np.load(files["windows"], allow_pickle=False)
        arrays = {k: w[k] for k in w.files}
    except Exception as exc:  # zipfile / value errors for a truncated file
        raise InputError(f"cannot read windows.npz: {exc}", path=files["windows"],
                         fix=_rerun_reference(path)) from exc
    need = ("lo", "hi", "tss", "ccre_center", "gene_chrom", "ccre_chrom", "chroms", "window_bp",
            "element_bp", "reference_id")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"windows.npz lacks {', '.join(missing)}", path=files["windows"],
                         fix=_rerun_reference(path))
    genes = pd.read_parquet(files["genes"])
    miss = [c for c in GENE_COLUMNS if c not in genes.columns]
    if miss:
        raise InputError(f"genes.parquet lacks column(s) {', '.join(miss)}", path=files["genes"],
                         fix=_rerun_reference(path))
    lo = arrays["lo"].astype(np.int64)
    hi = arrays["hi"].astype(np.int64)
    if len(genes) != len(lo) or not (np.array_equal(genes["win_lo"].to_numpy(np.int64), lo)
                                      and np.array_equal(genes["win_hi"].to_numpy(np.int64), hi)):
        raise InputError(f"genes.parquet ({len(genes)} genes) and windows.npz ({len(lo)} windows) disagree",
                         path=path, fix=_rerun_reference(path))
    sequence = np.load(files["sequence"], mmap_mode="r")
    centre = arrays["ccre_center"].astype(np.int64)
    element_bp = int(arrays["element_bp"])
    if sequence.ndim != 2 or sequence.shape != (len(centre), element_bp):
        raise InputError(f"sequence.npy has shape {sequence.shape}, expected ({len(centre)}, {element_bp})",
                         path=files["sequence"], fix=_rerun_reference(path))
    if len(lo) and (lo.min() < 0 or hi.max() > len(centre) or np.any(hi < lo)):
        raise InputError("windows.npz has windows outside the cCRE table", path=files["windows"],
                         fix=_rerun_reference(path))
    return Reference(path=path, genes=genes.reset_index(drop=True), lo=lo, hi=hi,
                     tss=arrays["tss"].astype(np.int64), ccre_center=centre,
                     gene_chrom=arrays["gene_chrom"].astype(np.int64),
                     ccre_chrom=arrays["ccre_chrom"].astype(np.int64),
                     chroms=tuple(str(c) for c in arrays["chroms"]),
                     window_bp=int(arrays["window_bp"]), element_bp=element_bp,
                     reference_id=str(arrays["reference_id"]), sequence=sequence)


# ---------------------------------------------------------------------------------------------
# one cell type


@dataclass(eq=False)
class CellInputs:
    """A cell type's inputs over one reference. ``targets`` is float32 [n_gene] (NaN = unknown) or None."""

    cell: str
    reference: Reference
    signal: Any                 # zarr array or np.ndarray, float16 [n_ccre, n_bins, 16]
    features: Path
    resolution_bp: int
    attrs: dict
    targets: np.ndarray | None = None
    targets_file: Path | None = None
    _cache: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_bins(self) -> int:
        return int(self.signal.shape[1])

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens uint8 ``[n, element_bp]`` and signal float16 ``[n, n_bins, 16]`` of cCREs ``[lo, hi)``:
        one contiguous read of each array."""
        lo, hi = int(lo), int(hi)
        tokens = np.array(self.reference.sequence[lo:hi])  # a copy: the memmap is read-only
        return tokens, self.read_signal(lo, hi)

    def read_signal(self, lo: int, hi: int) -> np.ndarray:
        """Signal float16 ``[n, n_bins, 16]`` of cCREs ``[lo, hi)`` (one contiguous read; no tokens)."""
        src = self._cache if self._cache is not None else self.signal
        return np.asarray(src[int(lo):int(hi)], dtype=np.float16)

    def track(self, name: str) -> np.ndarray:
        """Mean over the element of one track, float32 [n_ccre] (read in blocks)."""
        k = TRACK_INDEX[name]
        out = np.empty(self.reference.n_ccre, np.float32)
        step = 65536
        for s in range(0, len(out), step):
            block = self.read_signal(s, min(s + step, len(out)))
            out[s:s + len(block)] = block[:, :, k].astype(np.float32).mean(axis=1)
        return out


def _rerun_features(cell: str, path: Path) -> str:
    return (f"rerun the features stage for {cell} against the current reference (delete {path} and "
            f"run `snakemake {path}` or `creator features ...`)")


def open_cell(reference: Reference, features: str | Path, targets: str | Path | None = None, *,
              cell: str | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES) -> CellInputs:
    """Open one cell type's features (and targets) over ``reference``, checking that they fit it."""
    import zarr

    features = Path(features)
    cell = cell or features.parent.name
    if not features.exists():
        raise InputError(f"no features file for cell type {cell}", path=features,
                         fix=f"run the features stage for {cell} (every cell type of the sample sheet "
                             "with role train/test needs one), or give the path of its signal.zarr "
                             f"(--features, or --features {cell}=PATH for train)")
    try:
        arr = zarr.open_array(str(features), mode="r")
    except Exception as exc:
        raise InputError(f"cannot open the features array of {cell}: {exc}", path=features,
                         fix=_rerun_features(cell, features)) from exc
    attrs = dict(arr.attrs)
    rid = attrs.get("reference_id")
    if rid != reference.reference_id:
        raise InputError(
            f"features of {cell} were computed against another reference: reference_id {rid!r} in "
            f"{features} but {reference.reference_id!r} in {reference_outputs(reference.path)['windows']}",
            path=features, fix=_rerun_features(cell, features))
    if arr.ndim != 3 or arr.shape[0] != reference.n_ccre:
        raise InputError(f"features of {cell} have shape {arr.shape}; the reference has "
                         f"{reference.n_ccre} cCREs", path=features, fix=_rerun_features(cell, features))
    tracks = attrs.get("tracks")
    if arr.shape[2] != N_TRACKS or (tracks is not None and list(tracks) != list(TRACKS)):
        raise InputError(f"features of {cell} have {arr.shape[2]} tracks {tracks}; the model takes the "
                         f"{N_TRACKS} tracks {', '.join(TRACKS)} in that order", path=features,
                         fix=_rerun_features(cell, features))
    res = attrs.get("resolution_bp")
    element_bp = int(attrs.get("element_bp", reference.element_bp))
    if (not isinstance(res, int) or res < 1 or element_bp != reference.element_bp
            or reference.element_bp % res or arr.shape[1] * res != reference.element_bp):
        raise InputError(
            f"features of {cell}: resolution_bp {res} x {arr.shape[1]} bins does not cover the "
            f"reference's element_bp {reference.element_bp} (features element_bp {element_bp})",
            path=features, fix=_rerun_features(cell, features))
    if arr.dtype != np.float16:
        log.warning("%s: signal dtype %s (expected float16); converting on read", features, arr.dtype)
    out = CellInputs(cell=cell, reference=reference, signal=arr, features=features, resolution_bp=res,
                     attrs=attrs)
    nbytes = int(np.prod(arr.shape)) * 2
    if nbytes <= cache_bytes:
        out._cache = np.asarray(arr[...], dtype=np.float16)
    if targets is not None:
        out.targets, out.targets_file = read_targets(reference, targets, cell=cell), Path(targets)
    return out


def read_targets(reference: Reference, path: str | Path, *, cell: str = "") -> np.ndarray:
    """log1p TPM per gene of the reference, float32 (NaN where unmatched)."""
    path = Path(path)
    fix = (f"rerun the targets stage for {cell} against the current reference "
           f"(delete {path} and run `snakemake {path}`)")
    if not path.exists():
        raise InputError(f"no targets file for cell type {cell}", path=path,
                         fix=f"run the targets stage for {cell} (it needs an rnaseq row in the sample sheet)")
    df = pd.read_parquet(path)
    for col in ("gene_id", "log1p_tpm"):
        if col not in df.columns:
            raise InputError(f"targets file lacks column {col}", path=path, fix=fix)
    if len(df) != reference.n_gene or not np.array_equal(df["gene_id"].astype(str).to_numpy(),
                                                          reference.genes["gene_id"].astype(str).to_numpy()):
        raise InputError(f"targets of {cell} ({len(df)} rows) do not list the reference's "
                         f"{reference.n_gene} genes in order", path=path, fix=fix)
    return df["log1p_tpm"].to_numpy(np.float32)


# ---------------------------------------------------------------------------------------------
# tensors and batches


def per_base(signal: torch.Tensor, resolution_bp: int) -> torch.Tensor:
    """``[..., n_bins, 16]`` at ``resolution_bp`` -> float32 ``[..., n_bins * resolution_bp, 16]``."""
    signal = signal.float()
    if resolution_bp == 1:
        return signal
    return torch.repeat_interleave(signal, resolution_bp, dim=-2)


@dataclass
class Batch:
    """Genes of one cell type whose windows all lie in the encoded element range ``[lo, hi)``.

    ``index[b, e]`` is the row (relative to ``lo``) of gene ``b``'s ``e``-th window element
    (0 where ``mask`` is False); ``offset`` is element centre - TSS (bp).
    """

    cell: str
    genes: np.ndarray            # int64 [B] reference gene indices
    lo: int
    hi: int
    tokens: torch.Tensor         # uint8 [N, element_bp]
    signal: torch.Tensor         # float16 [N, n_bins, 16] at resolution_bp
    resolution_bp: int
    index: torch.Tensor          # int64 [B, E]
    mask: torch.Tensor           # bool [B, E]
    offset: torch.Tensor         # int64 [B, E]
    target: torch.Tensor         # float32 [B]
    center: torch.Tensor         # int64 [N]: centres (bp) of the range's elements

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def n_elements(self) -> int:
        return self.hi - self.lo

    def to(self, device, non_blocking: bool = False) -> "Batch":
        mv = {k: getattr(self, k).to(device, non_blocking=non_blocking)
              for k in ("tokens", "signal", "index", "mask", "offset", "target", "center")}
        return replace(self, **mv)


def window_layout(reference: Reference, genes: np.ndarray, base: int) -> tuple[np.ndarray, ...]:
    """Padded ``index`` (relative to ``base``), ``mask`` and ``offset`` arrays for ``genes``."""
    genes = np.asarray(genes, dtype=np.int64)
    sizes = reference.hi[genes] - reference.lo[genes]
    width = int(sizes.max()) if len(genes) else 0
    ar = np.arange(width, dtype=np.int64)
    mask = ar[None, :] < sizes[:, None]
    rows = reference.lo[genes][:, None] + ar[None, :]
    rows = np.where(mask, rows, reference.lo[genes][:, None])
    centre = reference.ccre_center[np.minimum(rows, reference.n_ccre - 1)] if reference.n_ccre else rows
    offset = np.where(mask, centre - reference.tss[genes][:, None], 0)
    index = np.where(mask, rows - base, 0)
    return index, mask, offset


def make_batch(cell: CellInputs, genes) -> Batch:
    """A :class:`Batch` of ``genes`` (same cell type): the element range is the union of their windows."""
    ref = cell.reference
    genes = np.asarray(genes, dtype=np.int64)
    if len(genes) == 0:
        raise ValueError("empty gene list")
    sizes = ref.hi[genes] - ref.lo[genes]
    if np.any(sizes == 0):
        raise ValueError(f"genes with an empty window cannot be batched: {genes[sizes == 0][:5]}")
    chroms = np.unique(ref.gene_chrom[genes])
    if len(chroms) != 1:
        raise ValueError("a batch must hold genes of one chromosome")
    lo, hi = int(ref.lo[genes].min()), int(ref.hi[genes].max())
    tokens, signal = cell.read(lo, hi)
    index, mask, offset = window_layout(ref, genes, lo)
    target = cell.targets[genes] if cell.targets is not None else np.full(len(genes), np.nan, np.float32)
    return Batch(cell=cell.cell, genes=genes, lo=lo, hi=hi, tokens=torch.from_numpy(tokens),
                 signal=torch.from_numpy(signal), resolution_bp=cell.resolution_bp,
                 index=torch.from_numpy(index), mask=torch.from_numpy(mask),
                 offset=torch.from_numpy(offset), target=torch.from_numpy(target.astype(np.float32)),
                 center=torch.from_numpy(ref.ccre_center[lo:hi].astype(np.int64)))


def gene_inputs(cell: CellInputs, genes, device=None) -> dict[str, torch.Tensor]:
    """Padded per-gene inputs of :meth:`CreatorModel.forward`: ``tokens`` [B, E, L] (long),
    ``signal`` [B, E, L, 16] (per base), ``elem_offset``, ``elem_mask`` and ``target`` (the slow
    reference that re-encodes each gene's window)."""
    ref = cell.reference
    genes = np.asarray(genes, dtype=np.int64)
    index, mask, offset = window_layout(ref, genes, 0)
    B, E = index.shape
    tokens = np.zeros((B, E, ref.element_bp), np.uint8)
    signal = np.zeros((B, E, cell.n_bins, N_TRACKS), np.float16)
    for b, g in enumerate(genes):
        t, s = cell.read(ref.lo[g], ref.hi[g])
        tokens[b, : len(t)] = t
        signal[b, : len(s)] = s
    target = cell.targets[genes] if cell.targets is not None else np.full(B, np.nan, np.float32)
    out = dict(tokens=torch.from_numpy(tokens).long(),
               signal=per_base(torch.from_numpy(signal), cell.resolution_bp),
               elem_offset=torch.from_numpy(offset), elem_mask=torch.from_numpy(mask),
               target=torch.from_numpy(target.astype(np.float32)))
    return {k: v.to(device) for k, v in out.items()} if device is not None else out


# ---------------------------------------------------------------------------------------------
# forward through the model


def _encode(model, tokens: torch.Tensor, signal: torch.Tensor, resolution_bp: int) -> torch.Tensor:
    # The element encoder takes the binned signal and repeats its projection per base, which is
    # identical to projecting the per-base signal (:func:`per_base`) but cheaper.
    del resolution_bp
    return model.encode_elements(tokens.long(), signal.float())


def encode_elements(model, tokens: torch.Tensor, signal: torch.Tensor, resolution_bp: int, *,
                    chunk: int | None = None) -> torch.Tensor:
    """Stage 1 over ``[N, ...]`` elements -> ``[N, d]``, in chunks of ``chunk`` elements.

    With gradients enabled and more than one chunk, each chunk runs under activation
    checkpointing (RNG state preserved, so dropout replays identically): memory holds one chunk's
    activations at a time, and the gradients are unchanged.
    """
    n = tokens.shape[0]
    if not chunk or n <= chunk:
        return _encode(model, tokens, signal, resolution_bp)
    from torch.utils.checkpoint import checkpoint

    outs = []
    for s in range(0, n, chunk):
        t, x = tokens[s:s + chunk], signal[s:s + chunk]
        if torch.is_grad_enabled():
            outs.append(checkpoint(_encode, model, t, x, resolution_bp, use_reentrant=False))
        else:
            outs.append(_encode(model, t, x, resolution_bp))
    return torch.cat(outs)


def _genes_forward(model, emb: torch.Tensor, index: torch.Tensor, offset: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
    width = int(mask.sum(1).max())
    index, offset, mask = index[:, :width], offset[:, :width], mask[:, :width]
    pred, _ = model.forward_genes(emb[index], offset, mask)
    return pred


def gene_predictions(model, emb: torch.Tensor, index: torch.Tensor, offset: torch.Tensor,
                     mask: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
    """Stage 2 for genes whose windows are rows ``index`` of the shared embeddings ``emb``.

    The per-gene padded embeddings are gathered by index (``emb[index]``), so gradients flow back
    into the shared ``emb``. Chunks of ``chunk`` genes run under activation checkpointing."""
    B = index.shape[0]
    if not chunk or B <= chunk:
        return _genes_forward(model, emb, index, offset, mask)
    from torch.utils.checkpoint import checkpoint

    outs = []
    for s in range(0, B, chunk):
        args = (emb, index[s:s + chunk], offset[s:s + chunk], mask[s:s + chunk])
        if torch.is_grad_enabled():
            outs.append(checkpoint(_genes_forward, model, *args, use_reentrant=False))
        else:
            outs.append(_genes_forward(model, *args))
    return torch.cat(outs)


def region_predictions(model, emb: torch.Tensor, center: torch.Tensor, index: torch.Tensor,
                       offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Stage 2 of a range's genes through :meth:`CreatorModel.forward_region` (the same numbers as
    :func:`gene_predictions`, less work): ``emb`` ``[N, d]`` and ``center`` ``[N]`` of the range's
    elements; each gene's window (non-empty) is the contiguous rows ``index[b, 0] ..`` of its
    ``mask`` count, its TSS the first element's centre minus its offset."""
    lo = index[:, 0]
    hi = lo + mask.sum(1)
    tss = center[lo] - offset[:, 0]
    return model.forward_region(emb, center, lo, hi, tss)


def batch_predictions(model, batch: Batch, *, element_chunk: int | None = None,
                      gene_chunk: int | None = None) -> torch.Tensor:
    """Predicted log1p expression ``[B]`` of a :class:`Batch`: stage 1 once per element of the range,
    stage 2 per gene from the shared embeddings."""
    emb = encode_elements(model, batch.tokens, batch.signal, batch.resolution_bp, chunk=element_chunk)
    return gene_predictions(model, emb, batch.index, batch.offset, batch.mask, chunk=gene_chunk)


def mse_sum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors over the genes with a finite target (in float32)."""
    ok = torch.isfinite(target)
    diff = pred.float()[ok] - target[ok]
    return (diff * diff).sum()


# ---------------------------------------------------------------------------------------------
# training units: regions and per-gene batches


def trainable_genes(reference: Reference, targets: np.ndarray | None, genes=None) -> np.ndarray:
    """The genes (of ``genes``, default all) with a non-empty window and a finite target."""
    genes = np.arange(reference.n_gene) if genes is None else np.asarray(genes, dtype=np.int64)
    keep = reference.hi[genes] > reference.lo[genes]
    if targets is not None:
        keep &= np.isfinite(targets[genes])
    return genes[keep]


def plan_window_regions(lo, hi, center, tss, region_bp: int, *, chrom=None, genes=None
                        ) -> tuple[list[np.ndarray], np.ndarray]:
    """Group genes with contiguous, non-empty windows ``[lo_g, hi_g)`` (rows of elements with
    non-decreasing ``center`` per chromosome) into regions.

    Per chromosome (``chrom`` codes per gene; default one chromosome), genes are taken in TSS
    order; a region starts at a gene and takes the following genes while the span from the first
    to the last element centre of all their windows stays within ``region_bp``. Each gene is in
    exactly one region; a gene whose own window spans more than ``region_bp`` is returned in
    ``singles``. Returns ``(regions, singles)`` (arrays of gene indices)."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    center, tss = np.asarray(center, dtype=np.int64), np.asarray(tss, dtype=np.int64)
    chrom = np.zeros(len(lo), np.int64) if chrom is None else np.asarray(chrom, dtype=np.int64)
    genes = np.arange(len(lo)) if genes is None else np.asarray(genes, dtype=np.int64)
    if len(genes) and np.any(hi[genes] <= lo[genes]):
        raise ValueError("plan_window_regions: genes with an empty window")
    genes = genes[np.lexsort((tss[genes], chrom[genes]))]
    regions: list[np.ndarray] = []
    singles: list[int] = []
    cur: list[int] = []
    cur_chrom, cur_lo, cur_hi = -1, 0, 0
    for g in genes:
        first, last = int(center[lo[g]]), int(center[hi[g] - 1])
        if last - first > region_bp:
            singles.append(int(g))
            continue
        c = int(chrom[g])
        if cur and c == cur_chrom and max(cur_hi, last) - min(cur_lo, first) <= region_bp:
            cur.append(int(g))
            cur_lo, cur_hi = min(cur_lo, first), max(cur_hi, last)
            continue
        if cur:
            regions.append(np.array(cur, dtype=np.int64))
        cur, cur_chrom, cur_lo, cur_hi = [int(g)], c, first, last
    if cur:
        regions.append(np.array(cur, dtype=np.int64))
    return regions, np.array(singles, dtype=np.int64)


def plan_regions(reference: Reference, genes, region_bp: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Group ``genes`` into region batches (:func:`plan_window_regions` on the reference's windows):
    per chromosome in TSS order, the span of every window's element centres within ``region_bp``;
    regions overlap (they share the elements of neighbouring windows) but each gene is in exactly
    one. Genes with an empty window must be removed first (:func:`trainable_genes`)."""
    ref = reference
    return plan_window_regions(ref.lo, ref.hi, ref.ccre_center, ref.tss, region_bp, chrom=ref.gene_chrom,
                               genes=genes)


@dataclass(frozen=True)
class Unit:
    """One training step's genes: a region batch (several genes) or a per-gene batch (``kind='gene'``)."""

    cell: str
    genes: tuple[int, ...]
    kind: str  # 'region' | 'gene'


def plan_units(cells: dict[str, CellInputs], genes_by_cell: dict[str, np.ndarray], region_bp: int) -> list[Unit]:
    """The training units of every cell type, in a fixed order (cell, chromosome, TSS)."""
    units: list[Unit] = []
    for name, cell in cells.items():
        genes = trainable_genes(cell.reference, cell.targets, genes_by_cell[name])
        regions, singles = plan_regions(cell.reference, genes, region_bp)
        units += [Unit(name, tuple(int(x) for x in r), "region") for r in regions]
        units += [Unit(name, (int(g),), "gene") for g in singles]
    return units
