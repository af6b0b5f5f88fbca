"""The CREaTor model (the network only; running it over a cell type: :mod:`creator.inference`).

Two stages (see :mod:`creator.model.element` and :mod:`creator.model.gene`):

* ``encode_elements``: every cCRE (sequence tokens + 16 epigenomic tracks) -> one ``d``-vector;
* ``forward_genes``: for each gene, a transformer over its window's element embeddings plus a
  gene token (LAST position) with multi-scale distance biases; head ``Softplus(Linear(LN(h_gene)))``
  gives predicted log1p expression.

``forward`` is the slow reference that re-encodes every element of every gene, as the published
code does (one gene per pass there). Because stage 1 does not depend on the gene, an element's
embedding can be computed once per cell type and gathered into every window that contains it:
:func:`creator.inference.predict_cached` does that and gives the same numbers (tested to 1e-5 in
float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .element import ElementEncoder
from .gene import GeneEncoder

__all__ = ["CreatorModel"]


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
