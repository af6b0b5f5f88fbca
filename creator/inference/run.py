"""Stage 1 once per cCRE, stage 2 over batches of genes: the one way every stage runs the model.

The numbers equal :meth:`creator.model.CreatorModel.forward` (which re-encodes each gene's window,
as the published code does) to float rounding: stage 1 does not depend on the gene, so each cCRE's
embedding is computed once and gathered into every window that holds it.

Two stage-2 paths give the same predictions (tested to 1e-5):

* padded batches of genes (:func:`predict_cached`, and :func:`predict_genes` when attention is
  asked for): any windows, attention maps available;
* regions (:func:`predict_windows`, and :func:`predict_genes` without attention): genes whose
  windows are contiguous cCRE ranges are grouped into regions of at most ``region_bp``; within a
  region the first gene layer's keys, values and scores and every layer's element-pair distance
  bias are computed once (:meth:`creator.model.CreatorModel.forward_region`) instead of once per
  gene. Genes whose window alone spans more than ``region_bp``, and empty windows, take the padded
  path.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from creator import data
from creator.data import plan_window_regions

from .device import autocast

__all__ = ["encode_range", "encode_all", "windows_from_ranges", "pad_windows", "gene_batches",
           "predict_windows", "predict_cached", "predict_genes", "REGION_BP"]

#: default span (bp, first to last element centre) of an inference region: three 1 Mb-radius windows
REGION_BP = 3_000_000
#: the region path pays off from about this many elements per window; smaller windows (e.g. the
#: synthetic data's ~75) run faster as padded batches, whose per-gene Python loop is shorter
REGION_MIN_WINDOW = 256


# ---------------------------------------------------------------------------------------------
# stage 1


def _as_tensor(x: Any, device: torch.device) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(device)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x))).to(device)


def encode_all(model, tokens_all: Any, signal_all: Any, *, element_batch: int = 256,
               device: torch.device | str | None = None) -> Tensor:
    """Stage 1 over every cCRE once, in batches of ``element_batch``: ``[N, d]`` on ``device``.

    ``tokens_all`` ``[N, element_bp]`` and ``signal_all`` ``[N, element_bp // r, n_tracks]`` may be
    tensors, numpy arrays or anything sliceable that numpy can convert (e.g. a zarr array): only
    one batch is materialised at a time. Call under ``torch.inference_mode()`` (and autocast) as
    wanted; the model's train/eval mode is left as it is."""
    device = torch.device(device) if device is not None else model.device
    if element_batch < 1:
        raise ValueError(f"element_batch must be >= 1, got {element_batch}")
    n = len(tokens_all)
    if len(signal_all) != n:
        raise ValueError(f"{n} token rows but {len(signal_all)} signal rows")
    out = []
    for a in range(0, n, element_batch):
        tok = _as_tensor(tokens_all[a:a + element_batch], device).long()
        sig = _as_tensor(signal_all[a:a + element_batch], device)
        out.append(model.encode_elements(tok, sig))
    if not out:
        return torch.zeros(0, model.config.d_model, device=device)
    return torch.cat(out)


def encode_range(model, cell, lo: int, hi: int, *, device: torch.device, element_batch: int = 256,
                 bf16: bool = False, out=None) -> Tensor | None:
    """Stage 1 for cCREs ``[lo, hi)`` of a :class:`creator.data.CellInputs` in batches: float32
    ``[hi - lo, d]`` on ``device``, or, when ``out`` (an array-like of ``[hi - lo, d]``) is given,
    written into it batch by batch."""
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


# ---------------------------------------------------------------------------------------------
# windows and batches


def windows_from_ranges(lo: Sequence[int], hi: Sequence[int], ccre_center: Sequence[int],
                        tss: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Contiguous windows ``[lo, hi)`` (``windows.npz``) -> per-gene index and offset arrays."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    center, tss = np.asarray(ccre_center, dtype=np.int64), np.asarray(tss, dtype=np.int64)
    windows = [np.arange(a, b, dtype=np.int64) for a, b in zip(lo, hi)]
    offsets = [center[a:b] - t for a, b, t in zip(lo, hi, tss)]
    return windows, offsets


def pad_windows(windows: Sequence[Any], offsets: Sequence[Any], genes: Sequence[int] | None = None, *,
                device: torch.device | str | None = None, pad_multiple: int = 1
                ) -> tuple[Tensor, Tensor, Tensor]:
    """Pad the windows of ``genes`` (default: all) to one length, rounded up to a multiple of
    ``pad_multiple`` (fewer distinct shapes: kernels that plan per shape, e.g. cuDNN attention,
    then re-plan less often; padding does not change the predictions).

    Returns ``index`` ``[B, E]`` (cCRE rows into the embedding table; 0 at padding), ``offset``
    ``[B, E]`` (bp; 0 at padding) and ``mask`` ``[B, E]`` (True = real)."""
    genes = range(len(windows)) if genes is None else genes
    ws = [np.asarray(windows[g], dtype=np.int64).reshape(-1) for g in genes]
    os_ = [np.asarray(offsets[g], dtype=np.int64).reshape(-1) for g in genes]
    for g, w, o in zip(genes, ws, os_):
        if w.shape != o.shape:
            raise ValueError(f"gene {g}: {w.size} window indices but {o.size} offsets")
    e = max((w.size for w in ws), default=0)
    e = -(-e // pad_multiple) * pad_multiple
    index = np.zeros((len(ws), e), dtype=np.int64)
    offset = np.zeros((len(ws), e), dtype=np.int64)
    mask = np.zeros((len(ws), e), dtype=bool)
    for i, (w, o) in enumerate(zip(ws, os_)):
        index[i, :w.size], offset[i, :w.size], mask[i, :w.size] = w, o, True
    return (torch.from_numpy(index).to(device), torch.from_numpy(offset).to(device),
            torch.from_numpy(mask).to(device))


def gene_batches(windows: Sequence[Any], batch_genes: int) -> Iterator[np.ndarray]:
    """Gene index batches, longest windows first, so that genes of similar size share a batch."""
    if batch_genes < 1:
        raise ValueError(f"batch_genes must be >= 1, got {batch_genes}")
    sizes = np.array([np.size(w) for w in windows], dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")
    for a in range(0, len(order), batch_genes):
        yield order[a:a + batch_genes]


# ---------------------------------------------------------------------------------------------
# stage 2


def predict_cached(model, tokens_all: Any, signal_all: Any, windows: Sequence[Any],
                   offsets: Sequence[Any], *, batch_genes: int = 8, element_batch: int = 256,
                   device: torch.device | str | None = None, embeddings: Tensor | None = None,
                   pad_multiple: int | None = None) -> np.ndarray:
    """Encode each cCRE once, then stage 2 on padded batches of genes (any windows).

    ``windows[g]``: cCRE row indices of gene ``g``'s window; ``offsets[g]``: their centre - TSS in
    bp (see :func:`windows_from_ranges`). ``embeddings`` (``[N, d]``, from :func:`encode_all`)
    skips stage 1. Returns predicted log1p expression, float32 ``[n_genes]`` in gene order. Runs
    under ``torch.inference_mode``; put the model in eval mode first for deterministic output.
    ``pad_multiple`` (default 64 on CUDA, 1 elsewhere) rounds each batch's window length up."""
    device = torch.device(device) if device is not None else model.device
    if pad_multiple is None:
        pad_multiple = 64 if device.type == "cuda" else 1
    if len(windows) != len(offsets):
        raise ValueError(f"{len(windows)} windows but {len(offsets)} offset arrays")
    with torch.inference_mode():
        emb = embeddings if embeddings is not None else encode_all(
            model, tokens_all, signal_all, element_batch=element_batch, device=device)
        emb = emb.to(device)
        preds = np.zeros(len(windows), dtype=np.float32)
        for genes in gene_batches(windows, batch_genes):
            index, offset, mask = pad_windows(windows, offsets, genes, device=device,
                                              pad_multiple=pad_multiple)
            pred, _ = model.forward_genes(emb[index], offset, mask)
            preds[genes] = pred.float().cpu().numpy()
    return preds


def predict_windows(model, emb: Tensor, center, lo, hi, tss, *, chrom=None, genes=None,
                    region_bp: int = REGION_BP, batch_genes: int = 8, pad_multiple: int | None = None
                    ) -> np.ndarray:
    """Stage 2 through regions for genes with contiguous windows: ``emb`` ``[N, d]`` (element
    embeddings on the model's device, rows in genome order per chromosome), ``center`` ``[N]`` bp;
    gene ``g``'s window is rows ``[lo[g], hi[g])``, its TSS ``tss[g]``, its chromosome ``chrom[g]``
    (default: one). Returns float32 ``[len(genes)]`` (default all genes, in that order): the numbers
    of :func:`predict_cached` on the same windows. Runs under ``torch.inference_mode``."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    center, tss = np.asarray(center, dtype=np.int64), np.asarray(tss, dtype=np.int64)
    genes = np.arange(len(lo)) if genes is None else np.asarray(genes, dtype=np.int64)
    device = emb.device
    out = np.full(len(genes), np.nan, np.float32)
    pos = np.full(len(lo), -1, np.int64)
    pos[genes] = np.arange(len(genes))
    nonempty = genes[hi[genes] > lo[genes]]
    regions, singles = plan_window_regions(lo, hi, center, tss, region_bp, chrom=chrom, genes=nonempty)
    padded = np.concatenate([genes[hi[genes] <= lo[genes]], singles]).astype(np.int64)
    with torch.inference_mode():
        center_t = torch.from_numpy(center).to(device)
        for region in regions:
            a, b = int(lo[region].min()), int(hi[region].max())
            pred = model.forward_region(emb[a:b], center_t[a:b], torch.from_numpy(lo[region] - a).to(device),
                                        torch.from_numpy(hi[region] - a).to(device),
                                        torch.from_numpy(tss[region]).to(device))
            out[pos[region]] = pred.float().cpu().numpy()
        if len(padded):
            windows = [np.arange(lo[g], hi[g]) for g in padded]
            offsets = [center[lo[g]:hi[g]] - tss[g] for g in padded]
            out[pos[padded]] = predict_cached(model, None, None, windows, offsets, batch_genes=batch_genes,
                                              embeddings=emb, device=device, pad_multiple=pad_multiple)
    return out


def _chrom_groups(reference, genes: np.ndarray) -> list[np.ndarray]:
    """``genes`` split by chromosome, each in index (TSS) order."""
    genes = np.sort(np.asarray(genes, dtype=np.int64))
    chrom = reference.gene_chrom[genes]
    cuts = np.flatnonzero(np.diff(chrom)) + 1
    return [g for g in np.split(genes, cuts) if len(g)]


def predict_genes(model, cell, genes=None, *, device: torch.device | None = None,
                  element_batch: int = 256, batch_genes: int = 16, bf16: bool = False,
                  embeddings=None, on_batch=None, region_bp: int | None = REGION_BP) -> np.ndarray:
    """Predicted log1p expression (float32 ``[len(genes)]``, in the order of ``genes``; default: all
    genes of the reference) of a :class:`creator.data.CellInputs`. Per chromosome, the cCREs of the
    genes' windows are encoded once, then stage 2 runs through regions of ``region_bp``
    (:func:`predict_windows`, when the median window holds at least :data:`REGION_MIN_WINDOW`
    elements; ``None``: padded batches only) or, when ``on_batch`` is given, on
    batches of ``batch_genes`` consecutive genes, calling ``on_batch(genes, pred, attention)`` per
    batch with the attention probabilities (list of ``[B, H, T, T]``, gene token last).
    ``embeddings`` (``[n_ccre, d]`` array-like, e.g. the memmap of element_embeddings.npy) skips
    stage 1. The model's train/eval mode is left alone (use eval)."""
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
        wide = len(nonempty) and np.median(ref.hi[nonempty] - ref.lo[nonempty]) >= REGION_MIN_WINDOW
        if on_batch is None and region_bp is not None and wide:
            with autocast(device, bf16):
                pred = predict_windows(model, emb, ref.ccre_center[lo:hi], ref.lo[group] - lo,
                                       np.maximum(ref.hi[group] - lo, ref.lo[group] - lo), ref.tss[group],
                                       region_bp=region_bp, batch_genes=batch_genes)
            for g, p in zip(group, pred):
                out[pos[int(g)]] = p
            del emb
            continue
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
