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

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bias import MultiScaleRelativeBias
from .config import ModelConfig
from .layers import Encoder

__all__ = ["GeneEncoder", "InsulationBias", "key_mask"]


def key_mask(elem_mask: Tensor) -> Tensor:
    """``[B, E]`` real-element mask -> ``[B, T]`` allowed keys (gene column last; allowed only when
    the gene has no real element)."""
    empty = ~elem_mask.any(dim=1, keepdim=True)
    return torch.cat([elem_mask, empty], dim=1)


class InsulationBias(nn.Module):
    """Learned insulation between positions (``ModelConfig.insulation``; not in the published model).

    Each real element ``k`` gets ``u_k = softplus(W x_k + b)`` ``[H]`` (``x_k`` its stage-1
    embedding; padding 0). Along the genome (positions sorted by offset, the gene token at offset 0
    with ``u = 0``) its insulation coordinate is ``p_i = sum_{k before i} u_k + u_i / 2``, and the
    bias between ``i`` and ``j`` is ``-|p_i - p_j|`` = minus the insulation of everything strictly
    between them, minus half of the two ends' own. So a high-``u`` element lowers attention across
    it for every pair it separates, in every layer, which is how a TAD boundary acts, and it costs
    one sort and one cumulative sum per window. ``W`` starts at 0 and ``b`` at ``softplus^-1(0.01)``:
    at the start a mild uniform decay with element count.
    """

    def __init__(self, d_model: int, n_heads: int, init: float = 0.01):
        super().__init__()
        self.proj = nn.Linear(d_model, n_heads)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.bias.fill_(math.log(math.expm1(init)))

    def strength(self, elem_emb: Tensor, elem_mask: Tensor) -> Tensor:
        """``[B, E, d]``, ``[B, E]`` -> per-element insulation ``[B, E, H]`` (0 at padding)."""
        u = F.softplus(self.proj(elem_emb.float()))
        return torch.where(elem_mask[..., None].bool(), u, torch.zeros((), dtype=u.dtype, device=u.device))

    def forward(self, elem_emb: Tensor, elem_offset: Tensor, elem_mask: Tensor) -> Tensor:
        """-> bias ``[B, H, T, T]`` (float32, ``T = E + 1``, gene token last at offset 0)."""
        b, e, _ = elem_emb.shape
        u = self.strength(elem_emb, elem_mask)
        u = torch.cat([u, u.new_zeros(b, 1, u.shape[-1])], dim=1)  # gene token
        off = torch.cat([elem_offset.long(), elem_offset.new_zeros(b, 1).long()], dim=1)
        # padding sorts last; the gene token after real elements at the same offset (u = 0: no effect)
        big = torch.iinfo(torch.long).max
        key = torch.where(torch.cat([elem_mask.bool(), elem_mask.new_ones(b, 1).bool()], dim=1), off,
                          torch.full_like(off, big))
        order = torch.argsort(key, dim=1, stable=True)
        us = torch.gather(u, 1, order[..., None].expand_as(u))
        ps = torch.cumsum(us, dim=1) - 0.5 * us
        p = torch.empty_like(ps).scatter_(1, order[..., None].expand_as(ps), ps)  # [B, T, H]
        p = p.permute(0, 2, 1)  # [B, H, T]
        return -(p[:, :, :, None] - p[:, :, None, :]).abs()


class GeneEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.rel_bias = MultiScaleRelativeBias(c.gene_scales_bp, c.gene_buckets, c.gene_max_distance, c.n_heads)
        self.encoder = Encoder(c.gene_layers, c.d_model, c.n_heads, c.d_ff, c.dropout)
        self.insulation = InsulationBias(c.d_model, c.n_heads) if c.insulation else None
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

    def forward_region(self, elem_emb: Tensor, gene_tok: Tensor, center: Tensor, lo: Tensor, hi: Tensor,
                       tss: Tensor) -> Tensor:
        """The gene token's final state ``[B, d]`` for ``B`` genes whose windows are contiguous rows
        ``[lo_b, hi_b)`` (non-empty) of one region's element embeddings ``elem_emb`` ``[N, d]``
        (element centres ``center`` ``[N]`` bp, non-decreasing; TSSs ``tss`` ``[B]``).

        The same function as :meth:`forward` on the gathered windows (tested to 1e-5, values and
        gradients), computed with less work: in the first layer every element's input is its
        stage-1 embedding whatever the gene, and the bias between two elements depends only on
        their distance (and the insulation between them), so the scores ``q_i k_j / sqrt(d_h) +
        bias_ij`` are computed once for the region (``[H, N, N]``) and each gene takes the softmax of
        its window's block; the gene key is masked for non-empty windows, so it is left out.
        Middle layers (``gene_layers > 2``) run per gene on the full window with their bias cut out
        of the region's (no per-gene distance bucketing); the last layer runs for the gene query
        alone."""
        n, d = elem_emb.shape
        if center.shape != (n,) or lo.shape != hi.shape or lo.shape != tss.shape:
            raise ValueError(f"elem_emb {tuple(elem_emb.shape)}, center {tuple(center.shape)}, lo "
                             f"{tuple(lo.shape)}, hi {tuple(hi.shape)} and tss {tuple(tss.shape)} disagree")
        los, his = lo.tolist(), hi.tolist()
        if any(not 0 <= a < b <= n for a, b in zip(los, his)):
            raise ValueError("forward_region needs non-empty windows inside the region")
        layers = self.encoder.layers
        first = layers[0]
        att = first.attn
        nh, dh = att.n_heads, att.head_dim
        scale = dh ** -0.5
        p_drop = att.dropout if self.training else 0.0
        center = center.long()
        tss = tss.long()
        x0 = elem_emb
        gene_tok = gene_tok.to(x0.dtype)
        h0 = first.norm_attn(x0)
        k = att.k(h0).view(n, nh, dh).transpose(0, 1)                            # [H, N, dh]
        v = att.v(h0).view(n, nh, dh).transpose(0, 1)
        qg = att.q(first.norm_attn(gene_tok)).view(nh, dh)                        # [H, dh]
        sg = torch.einsum("hnd,hd->hn", k, qg) * scale                          # [H, N] gene query
        cum = None
        if self.insulation is not None:
            if n > 1 and bool((center[1:] < center[:-1]).any()):
                raise ValueError("forward_region with insulation needs element centres in genome order")
            u = self.insulation.strength(x0[None], torch.ones(1, n, dtype=torch.bool, device=x0.device))[0]  # [N, H]
            cum = torch.cat([u.new_zeros(1, nh), torch.cumsum(u, 0)])         # exclusive sums [N + 1, H]
            p_el = cum[:-1] + 0.5 * u                                           # [N, H]
        seg_table = self.rel_bias.segment_table()  # once, not once per gene
        single = len(layers) == 1
        s = None
        if not single:
            q = att.q(h0).view(n, nh, dh).transpose(0, 1)
            bias = self.rel_bias.lookup(center[:, None] - center[None, :], seg_table)  # [H, N, N]
            if cum is not None:
                bias = bias - (p_el.t()[:, :, None] - p_el.t()[:, None, :]).abs()
            s = torch.matmul(q, k.transpose(-1, -2)) * scale + bias.to(q.dtype)  # [H, N, N]
        outs = []
        for b, (a, e) in enumerate(zip(los, his)):
            row = self.rel_bias.lookup(tss[b] - center[a:e], seg_table)          # [H, T] gene query
            if cum is not None:
                m = a + int(torch.searchsorted(center[a:e], tss[b], right=True))
                row = row - (cum[m][:, None] - p_el[a:e].t()).abs()
            pg = torch.softmax((sg[:, a:e] + row.to(sg.dtype)).float(), -1).to(v.dtype)
            og = torch.einsum("ht,htd->hd", F.dropout(pg, p_drop, self.training), v[:, a:e]).reshape(1, d)
            if single:
                xg = gene_tok[None] + att.out_dropout(att.out(og))
                outs.append(xg + first.ff(first.norm_ff(xg)))
                continue
            pe = torch.softmax(s[:, a:e, a:e].float(), -1).to(v.dtype)             # [H, T, T]
            oe = torch.matmul(F.dropout(pe, p_drop, self.training), v[:, a:e])     # [H, T, dh]
            y = torch.cat([oe.transpose(0, 1).reshape(e - a, d), og])              # [T + 1, d]
            x = torch.cat([x0[a:e], gene_tok[None]]) + att.out_dropout(att.out(y))
            x = x + first.ff(first.norm_ff(x))
            if len(layers) > 2:  # middle layers: the usual layer on this window, its bias cut
                # out of the region's (element pairs) plus the gene row; the gene key is masked
                t = e - a
                full = bias.new_empty(1, nh, t + 1, t + 1)
                full[0, :, :t, :t] = bias[:, a:e, a:e]
                full[0, :, :, t] = float("-inf")
                full[0, :, t, :t] = row
                for layer in layers[1:-1]:
                    x = layer(x[None], full)[0][0]
            last = layers[-1]
            hl = last.norm_attn(x)
            la = last.attn
            kl = la.k(hl[:-1]).view(e - a, nh, dh).transpose(0, 1)
            vl = la.v(hl[:-1]).view(e - a, nh, dh).transpose(0, 1)
            ql = la.q(hl[-1]).view(nh, dh)
            pl = torch.softmax((torch.einsum("htd,hd->ht", kl, ql) * scale + row.to(kl.dtype)).float(), -1).to(vl.dtype)
            ol = torch.einsum("ht,htd->hd", F.dropout(pl, p_drop, self.training), vl).reshape(1, d)
            xg = x[-1:] + la.out_dropout(la.out(ol))
            outs.append(xg + last.ff(last.norm_ff(xg)))
        return torch.cat(outs)

    def forward(self, elem_emb: Tensor, gene_tok: Tensor, elem_offset: Tensor, elem_mask: Tensor, *,
                return_attention: bool = False, gene_only: bool = False) -> tuple[Tensor, list[Tensor] | None]:
        """Returns the final states ``[B, T, d]`` (``gene_only``: the gene token's alone, ``[B, 1, d]``,
        computed without the other positions' last layer) and, if asked, per-layer probabilities."""
        b, e, d = elem_emb.shape
        if elem_offset.shape != (b, e) or elem_mask.shape != (b, e):
            raise ValueError(f"elem_emb {tuple(elem_emb.shape)}, elem_offset {tuple(elem_offset.shape)} "
                             f"and elem_mask {tuple(elem_mask.shape)} disagree")
        mask = elem_mask.bool()
        # zero padding rows so that garbage (even NaN) in them cannot leak through 0 * x
        x = torch.where(mask[..., None], elem_emb, torch.zeros((), dtype=elem_emb.dtype, device=elem_emb.device))
        x = torch.cat([x, gene_tok.to(x.dtype).expand(b, 1, d)], dim=1)
        bias = self.attention_bias(elem_offset, mask)
        if self.insulation is not None:
            bias = bias + self.insulation(x[:, :e], elem_offset, mask)
        return self.encoder(x, bias, return_attention=return_attention, last_only=gene_only)
