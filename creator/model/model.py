"""The CREaTor model and its fast inference path.

Two stages (see :mod:`creator.model.element` and :mod:`creator.model.gene`):

* ``encode_elements``: every cCRE (sequence tokens + 16 epigenomic tracks) -> one ``d``-vector;
* ``forward_genes``: for each gene, a transformer over its window's element embeddings plus a
  gene token (LAST position) with multi-scale distance biases; head ``Softplus(Linear(LN(h_gene)))``
  gives predicted log1p expression.

``forward`` is the slow reference that re-encodes every element of every gene, as the published
code does (one gene per pass there). Because stage 1 does not depend on the gene, an element's
embedding can be computed once per cell type and gathered into every window that contains it:
:func:`predict_cached` does that and gives the same numbers (tested to 1e-5 in float32).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .element import ElementEncoder
from .gene import GeneEncoder

__all__ = ["CreatorModel", "encode_all", "predict_cached", "pad_windows", "windows_from_ranges",
           "gene_batches"]


class CreatorModel(nn.Module):
    """Hierarchical attention model. Parameter names: ``element.*`` (stage 1), ``gene.*``
    (stage 2), ``head_norm.*``, ``head.*``; see :mod:`creator.model.checkpoint` for the mapping
    from the published names."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.element = ElementEncoder(config)
        self.gene = GeneEncoder(config)
        self.head_norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, 1)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # ---------------------------------------------------------------- stage 1
    def encode_elements(self, tokens: Tensor, signal: Tensor) -> Tensor:
        """``tokens`` ``[N, element_bp]`` (codes of :mod:`creator.formats`), ``signal``
        ``[N, element_bp, n_tracks]`` per base (or ``[N, element_bp // r, n_tracks]`` binned at ``r``
        bp, repeated internally) -> element embeddings ``[N, d]``."""
        if tokens.shape[0] == 0:
            return torch.zeros(0, self.config.d_model, dtype=self.head.weight.dtype, device=tokens.device)
        return self.element(tokens, signal)

    def gene_token(self) -> Tensor:
        """The element encoder over an empty ``placeholder_bp`` region: ``[d]``. Only position
        differences enter stage 1, so the token is the same for every gene (the published code
        shifts the placeholder's positions to the gene's location, which cancels out)."""
        c = self.config
        w = self.head.weight
        tokens = torch.zeros(1, c.placeholder_bp, dtype=torch.long, device=w.device)
        signal = torch.zeros(1, c.placeholder_bp, c.n_tracks, dtype=w.dtype, device=w.device)
        return self.element(tokens, signal)[0]

    # ---------------------------------------------------------------- stage 2
    def forward_genes(self, elem_emb: Tensor, elem_offset: Tensor, elem_mask: Tensor, *,
                      return_attention: bool = False) -> tuple[Tensor, list[Tensor] | None]:
        """Stage 2 for ``B`` genes. ``elem_emb`` ``[B, E, d]``, ``elem_offset`` ``[B, E]`` (element
        centre - TSS in bp, signed), ``elem_mask`` ``[B, E]`` (True = real element). Sequence order
        is ``[elements..., gene]`` (``T = E + 1``, gene token last). Returns predicted log1p
        expression ``[B]`` and, if ``return_attention``, one ``[B, H, T, T]`` tensor per layer of
        softmax probabilities (rows: queries; padding and gene columns are exactly 0, except that
        a gene without elements attends to its own token)."""
        # only the gene token's final state is read: without attention maps to return, the last
        # layer runs for that one query (same numbers, a fraction of the work)
        h, attn = self.gene(elem_emb, self.gene_token(), elem_offset, elem_mask,
                            return_attention=return_attention, gene_only=not return_attention)
        return self.predict_head(h[:, -1]), attn

    def forward_region(self, elem_emb: Tensor, center: Tensor, lo: Tensor, hi: Tensor, tss: Tensor) -> Tensor:
        """Stage 2 for ``B`` genes whose windows are the contiguous, non-empty rows ``[lo_b, hi_b)``
        of one region's element embeddings ``elem_emb`` ``[N, d]`` (centres ``center`` ``[N]`` bp,
        in genome order; TSSs ``tss`` ``[B]``): predicted log1p expression ``[B]``, the numbers of
        :meth:`forward_genes` on the gathered windows with less work (see
        :meth:`creator.model.gene.GeneEncoder.forward_region`). Used for training region batches."""
        return self.predict_head(self.gene.forward_region(elem_emb, self.gene_token(), center, lo, hi, tss))

    def predict_head(self, h_gene: Tensor) -> Tensor:
        """``[B, d]`` final gene-token states -> ``[B]`` predicted log1p expression."""
        return F.softplus(self.head(self.head_norm(h_gene))).squeeze(-1)

    # ---------------------------------------------------------------- reference
    def forward(self, tokens: Tensor, signal: Tensor, elem_offset: Tensor, elem_mask: Tensor) -> Tensor:
        """Slow reference: ``tokens`` ``[B, E, L]``, ``signal`` ``[B, E, L(/r), n_tracks]``; every
        real element of every gene is (re-)encoded, padding is not. Returns ``[B]``."""
        b, e = tokens.shape[:2]
        mask = elem_mask.bool().reshape(-1)
        real = self.encode_elements(tokens.reshape(b * e, tokens.shape[2])[mask],
                                    signal.reshape(b * e, *signal.shape[2:])[mask])
        emb = real.new_zeros(b * e, real.shape[-1])
        emb[mask] = real
        pred, _ = self.forward_genes(emb.view(b, e, real.shape[-1]), elem_offset, elem_mask)
        return pred


# ==================================================================== cached inference helpers

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


def _as_tensor(x: Any, device: torch.device) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(device)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x))).to(device)


def encode_all(model: CreatorModel, tokens_all: Any, signal_all: Any, *, element_batch: int = 256,
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


def predict_cached(model: CreatorModel, tokens_all: Any, signal_all: Any, windows: Sequence[Any],
                   offsets: Sequence[Any], *, batch_genes: int = 8, element_batch: int = 256,
                   device: torch.device | str | None = None, embeddings: Tensor | None = None,
                   pad_multiple: int | None = None) -> np.ndarray:
    """Fast inference: encode each cCRE once, then stage 2 on batches of genes.

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
