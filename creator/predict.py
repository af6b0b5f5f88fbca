"""Predict stage: expression (and attention) of every gene in one cell type from a trained model.

``creator predict --checkpoint CKPT --reference DIR --features FEATURES_ZARR --cell CELL --out DIR
[--targets TARGETS_PARQUET] [--device auto|cpu|cuda] [--batch-genes N] [--element-batch N]
[--attention [--no-element-attention | --element-resolution BP]] [--bf16]``

Stage 1 runs once per cCRE of the cell type (batches of ``--element-batch`` elements); stage 2 then
runs for batches of ``--batch-genes`` genes, each gathering its window's embeddings from the
shared table: the numbers equal :meth:`CreatorModel.forward` (which re-encodes every element for
every gene) to float rounding. Memory stays bounded: embeddings are written to a memory-mapped
file and stage 2 reads one chromosome's range at a time; attention is streamed per gene batch.

Outputs under ``--out``:

``expression.tsv``
    one row per gene of ``genes.parquet`` (same order): ``gene_id``, ``symbol``, ``chrom``, ``tss``,
    ``n_elements`` (window size), ``predicted_log1p``, and ``observed_log1p`` when ``--targets``
    is given.
``element_embeddings.npy``
    float32 ``[n_ccre, d_model]``: stage-1 embedding of every cCRE (row = ccres.parquet row).
``attention.zarr`` (with ``--attention``), a zarr v3 group:

    ``gene_attention``   float16 ``[n_rows, n_layers, n_heads]``: the gene token's attention (softmax
                         probabilities, query = gene token, key = element) to each element of its
                         window. Gene ``g`` owns rows ``gene_offsets[g]:gene_offsets[g+1]``; row
                         ``gene_offsets[g] + k`` is cCRE ``win_lo[g] + k``. Each (gene, layer, head)
                         sums to 1 over its rows (a gene with an empty window has no rows).
    ``gene_offsets``     int64 ``[n_gene + 1]``, ``cumsum([0] + (win_hi - win_lo))``.
    ``element_attention`` float16 ``[n_pairs]`` (unless ``--no-element-attention``): per gene, its
                         ``E x E`` element-element attention of the LAST gene layer averaged over
                         heads, row-major (``[i, j]``: query cCRE ``win_lo + i`` attends key cCRE
                         ``win_lo + j``; rows sum to 1). Gene ``g`` owns
                         ``element_offsets[g]:element_offsets[g+1]``.
    ``element_offsets``  int64 ``[n_gene + 1]``, ``cumsum([0] + (win_hi - win_lo) ** 2)``.
    ``element_pixels/``  instead of the two above with ``--element-resolution BP``: that attention
                         binned as the tads stage bins it (symmetrised, distinct element pairs, per
                         bin pair the sum and count over (pair, window) contributions), one subgroup
                         per chromosome code with ``bin1``, ``bin2``, ``sum``, ``n``
                         (:class:`creator.tads.ElementAttentionBinner`; attr ``resolution``). The tads
                         stage gives the same numbers from either; genome-wide at 1 Mb windows the
                         full store is about 25 GB per cell type, the binned one a few hundred MB.

    attrs: ``layout`` (this description in short), ``n_layers``, ``n_heads``, ``cell_type``,
    ``reference_id``, ``element_attention_layer`` (index of the layer averaged, -1 = last).
    :func:`read_gene_attention` and :func:`read_element_attention` read one gene back.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from creator import data
from creator.errors import InputError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# devices and precision


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> cuda when available (else cpu); ``cuda`` without CUDA is an error."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec or "auto"
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but CUDA is not available",
                         fix="use --device cpu (or auto), or run on a machine with a GPU")
    return dev


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when asked, else a no-op context."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def check_model_fits(model_config, reference: data.Reference, *, source: str | Path | None = None) -> None:
    if model_config.element_bp != reference.element_bp:
        raise InputError(
            f"the model was built for element_bp {model_config.element_bp} but the reference "
            f"{reference.path} has element_bp {reference.element_bp}", path=source,
            fix="use the reference the model was trained on, or train a model on this reference")
    if model_config.n_tracks != 16:
        raise InputError(f"the model takes {model_config.n_tracks} tracks, the features have 16",
                         path=source, fix="use a checkpoint trained on the 16 CREaTor tracks")


# ---------------------------------------------------------------------------------------------
# core inference


def encode_range(model, cell: data.CellInputs, lo: int, hi: int, *, device: torch.device,
                 element_batch: int = 256, bf16: bool = False, out=None) -> torch.Tensor | None:
    """Stage 1 for cCREs ``[lo, hi)`` in batches: float32 ``[hi - lo, d]`` on ``device``, or, when
    ``out`` (an array-like of ``[hi - lo, d]``) is given, written into it batch by batch."""
    chunks = []
    with torch.inference_mode(), autocast(device, bf16):
        for a in range(lo, hi, element_batch):
            b = min(a + element_batch, hi)
            tok, sig = cell.read(a, b)
            emb = model.encode_elements(torch.from_numpy(tok).to(device).long(),
                                        torch.from_numpy(sig).to(device).float()).float()
            if out is not None:
                out[a - lo:b - lo] = emb.cpu().numpy()
            else:
                chunks.append(emb)
    if out is not None:
        return None
    if not chunks:
        return torch.zeros(0, model.config.d_model, device=device)
    return torch.cat(chunks)


def _chrom_groups(reference: data.Reference, genes: np.ndarray) -> list[np.ndarray]:
    """``genes`` split by chromosome, each in index (TSS) order."""
    genes = np.sort(np.asarray(genes, dtype=np.int64))
    chrom = reference.gene_chrom[genes]
    cuts = np.flatnonzero(np.diff(chrom)) + 1
    return [g for g in np.split(genes, cuts) if len(g)]


def predict_genes(model, cell: data.CellInputs, genes=None, *, device: torch.device | None = None,
                  element_batch: int = 256, batch_genes: int = 16, bf16: bool = False,
                  embeddings=None, on_batch=None) -> np.ndarray:
    """Predicted log1p expression (float32 ``[len(genes)]``, in the order of ``genes``; default: all
    genes of the reference). Per chromosome, the cCREs of the genes' windows are encoded once, then
    stage 2 runs on batches of ``batch_genes`` consecutive genes. ``embeddings`` (``[n_ccre, d]``
    array-like, e.g. the memmap of element_embeddings.npy) skips stage 1. ``on_batch(genes, pred,
    attention)`` is called per batch with the attention probabilities (list of ``[B, H, T, T]``,
    gene token last) when given. The model's train/eval mode is left alone (use eval)."""
    ref = cell.reference
    device = device or next(model.parameters()).device
    genes = np.arange(ref.n_gene) if genes is None else np.asarray(genes, dtype=np.int64)
    out = np.full(len(genes), np.nan, np.float32)
    if len(genes) == 0:
        return out
    pos = {int(g): i for i, g in enumerate(genes)}
    for group in _chrom_groups(ref, genes):
        nonempty = group[ref.hi[group] > ref.lo[group]]
        lo = int(ref.lo[nonempty].min()) if len(nonempty) else 0
        hi = int(ref.hi[nonempty].max()) if len(nonempty) else 0
        if embeddings is not None:
            emb = torch.from_numpy(np.array(embeddings[lo:hi], dtype=np.float32)).to(device)
        else:
            emb = encode_range(model, cell, lo, hi, device=device, element_batch=element_batch, bf16=bf16)
        for a in range(0, len(group), batch_genes):
            chunk = group[a:a + batch_genes]
            index, mask, offset = data.window_layout(ref, chunk, lo)
            index_t = torch.from_numpy(index).to(device)
            with torch.inference_mode(), autocast(device, bf16):
                pred, attn = model.forward_genes(emb[index_t], torch.from_numpy(offset).to(device),
                                                 torch.from_numpy(mask).to(device),
                                                 return_attention=on_batch is not None)
            pred = pred.float().cpu().numpy()
            for g, p in zip(chunk, pred):
                out[pos[int(g)]] = p
            if on_batch is not None:
                on_batch(chunk, pred, attn)
        del emb
    return out


# ---------------------------------------------------------------------------------------------
# attention storage


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

    def __init__(self, path: Path, reference: data.Reference, *, n_layers: int, n_heads: int, cell: str,
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
            from creator.tads import ElementAttentionBinner

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


# ---------------------------------------------------------------------------------------------
# the stage


def _atomic_target(dest: Path) -> Path:
    from creator.io import remove_stale_temporaries

    remove_stale_temporaries(dest)  # what a killed run left
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    return Path(tmp)


def load_model(checkpoint: str | Path, device: torch.device):
    from creator.model import load_checkpoint

    path = Path(checkpoint)
    if not path.exists():
        raise InputError("checkpoint not found", path=path,
                         fix="train a model first (creator train ... --out DIR writes DIR/checkpoint.pt)")
    model, ckpt = load_checkpoint(path, map_location="cpu")
    return model.to(device).eval(), ckpt


def predict(*, checkpoint: str | Path, reference: str | Path, features: str | Path, cell: str,
            out: str | Path, targets: str | Path | None = None, device: str = "auto",
            batch_genes: int = 16, element_batch: int = 256, attention: bool = False,
            element_attention: bool = True, element_resolution: int | None = None,
            bf16: bool = False) -> pd.DataFrame:
    """Run the predict stage (see the module docstring); returns the expression table."""
    import shutil

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    ref = data.open_reference(reference)
    model, ckpt = load_model(checkpoint, dev)
    check_model_fits(model.config, ref, source=checkpoint)
    if ckpt.get("reference_id") not in (None, ref.reference_id):
        log.warning("the model was trained on reference %s; predicting on %s", ckpt.get("reference_id"),
                    ref.reference_id)
    inputs = data.open_cell(ref, features, targets, cell=cell)
    d = model.config.d_model

    # stage 1: every cCRE once, streamed into a memory-mapped .npy
    emb_path = out / "element_embeddings.npy"
    tmp = _atomic_target(emb_path)
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(ref.n_ccre, d))
        encode_range(model, inputs, 0, ref.n_ccre, device=dev, element_batch=element_batch, bf16=bf16, out=mm)
        mm.flush()
        del mm
        os.replace(tmp, emb_path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: encoded %d cCREs -> %s", cell, ref.n_ccre, emb_path)

    # stage 2: every gene, streaming attention when asked
    emb = np.load(emb_path, mmap_mode="r")
    writer = None
    att_path = out / "attention.zarr"
    att_tmp = out / ".attention.zarr.tmp"
    if attention:
        shutil.rmtree(att_tmp, ignore_errors=True)
        writer = AttentionWriter(att_tmp, ref, n_layers=model.config.gene_layers,
                                 n_heads=model.config.n_heads, cell=cell,
                                 element_attention=element_attention, element_resolution=element_resolution)
    pred = predict_genes(model, inputs, None, device=dev, batch_genes=batch_genes, bf16=bf16,
                         embeddings=emb, on_batch=writer)
    if writer is not None:
        writer.close()
        shutil.rmtree(att_path, ignore_errors=True)
        os.replace(att_tmp, att_path)

    g = ref.genes
    table = pd.DataFrame({"gene_id": g["gene_id"].astype(str), "symbol": g["symbol"].astype(str),
                          "chrom": g["chrom"].astype(str), "tss": ref.tss,
                          "n_elements": ref.window_sizes, "predicted_log1p": pred})
    if inputs.targets is not None:
        table["observed_log1p"] = inputs.targets
    tsv = out / "expression.tsv"
    tmp = _atomic_target(tsv)
    try:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g", na_rep="NA")
        os.replace(tmp, tsv)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: predicted %d genes -> %s", cell, len(table), tsv)
    return table


def add_cli(sub) -> None:
    p = sub.add_parser("predict", help="predict expression (and attention) for one cell type",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="model checkpoint (train's checkpoint.pt)")
    p.add_argument("--reference", required=True, help="reference directory (results/reference)")
    p.add_argument("--features", required=True, help="the cell type's signal.zarr")
    p.add_argument("--cell", required=True, help="cell type name")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--targets", help="the cell type's targets parquet (adds observed_log1p)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-genes", type=int, default=16, help="genes per stage-2 batch")
    p.add_argument("--element-batch", type=int, default=256, help="cCREs per stage-1 batch")
    p.add_argument("--attention", action="store_true", help="write attention.zarr")
    p.add_argument("--no-element-attention", action="store_true",
                   help="with --attention, skip the (large) element-element attention")
    p.add_argument("--element-resolution", type=int, default=None, metavar="BP",
                   help="with --attention, store the element-element attention binned at BP (the tads "
                        "stage's resolution) instead of every window's E x E matrix")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA (faster, ~1e-2 error)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    for name in ("batch_genes", "element_batch", "element_resolution"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1", fix="give a positive integer")
    predict(checkpoint=args.checkpoint, reference=args.reference, features=args.features, cell=args.cell,
            out=args.out, targets=args.targets, device=args.device, batch_genes=args.batch_genes,
            element_batch=args.element_batch, attention=args.attention,
            element_attention=not args.no_element_attention, element_resolution=args.element_resolution,
            bf16=args.bf16)
    return 0
