"""Stage 2: the gene-level encoder.

For each gene the sequence is ``[element_1, ..., element_E, gene]`` (the gene token LAST, as in the
published code), ``T = E + 1``. Positions are genomic offsets from the TSS in bp (element centre -
TSS; the gene token sits at 0); only differences enter, through
:class:`~creator.model.bias.MultiScaleRelativeBias`, so there are no absolute positions and a
gene's prediction does not depend on the order of its elements.

Key-side mask: every query attends only to the gene's real elements (the gene column and padding
get ``-inf``). A gene with no real element would have no key at all; for such a gene the gene
column is unmasked (every row then attends to the gene token), which is also what the published
code computes for an empty window, and its prediction is a finite function of the gene token alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .bias import MultiScaleRelativeBias
from .config import ModelConfig
from .layers import Encoder

__all__ = ["GeneEncoder", "key_mask"]


def key_mask(elem_mask: Tensor) -> Tensor:
    """``[B, E]`` real-element mask -> ``[B, T]`` allowed keys (gene column last; allowed only when
    the gene has no real element)."""
    empty = ~elem_mask.any(dim=1, keepdim=True)
    return torch.cat([elem_mask, empty], dim=1)


class GeneEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.rel_bias = MultiScaleRelativeBias(c.gene_scales_bp, c.gene_buckets, c.gene_max_distance, c.n_heads)
        self.encoder = Encoder(c.gene_layers, c.d_model, c.n_heads, c.d_ff, c.dropout)
        if c.distance_prior:
            self.init_distance_prior(c.distance_prior)

    @torch.no_grad()
    def init_distance_prior(self, strength: float) -> None:
        """Distance-decay initialisation of the bias tables (see ``ModelConfig.distance_prior``)."""
        for table in self.rel_bias.scales:
            half = table.num_buckets // 2
            magnitude = (torch.arange(table.num_buckets) % half).to(table.table.dtype) / max(half - 1, 1)
            for h in range(table.n_heads):
                table.table[:, h] = -strength * (h + 1) / table.n_heads * magnitude

    def attention_bias(self, elem_offset: Tensor, elem_mask: Tensor) -> Tensor:
        """Float ``[B, H, T, T]``: multi-scale distance bias plus ``-inf`` on disallowed keys."""
        b = elem_offset.shape[0]
        offsets = torch.cat([elem_offset.long(),
                             torch.zeros(b, 1, dtype=torch.long, device=elem_offset.device)], dim=1)
        return self.rel_bias(offsets, key_mask(elem_mask.bool()))

    def forward(self, elem_emb: Tensor, gene_tok: Tensor, elem_offset: Tensor, elem_mask: Tensor, *,
                return_attention: bool = False) -> tuple[Tensor, list[Tensor] | None]:
        """Returns the final states ``[B, T, d]`` and, if asked, per-layer probabilities."""
        b, e, d = elem_emb.shape
        if elem_offset.shape != (b, e) or elem_mask.shape != (b, e):
            raise ValueError(f"elem_emb {tuple(elem_emb.shape)}, elem_offset {tuple(elem_offset.shape)} "
                             f"and elem_mask {tuple(elem_mask.shape)} disagree")
        mask = elem_mask.bool()
        # zero padding rows so that garbage (even NaN) in them cannot leak through 0 * x
        x = torch.where(mask[..., None], elem_emb, torch.zeros((), dtype=elem_emb.dtype, device=elem_emb.device))
        x = torch.cat([x, gene_tok.to(x.dtype).expand(b, 1, d)], dim=1)
        bias = self.attention_bias(elem_offset, mask)
        return self.encoder(x, bias, return_attention=return_attention)
