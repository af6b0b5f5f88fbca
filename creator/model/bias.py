"""T5-style bucketed relative position biases.

Both encoders use the bidirectional T5 bucketing of a signed integer distance
``rel = pos_query - pos_key``: half of the buckets for ``rel > 0`` / ``rel <= 0`` (keys after the
query, ``rel < 0``, use the upper half), within each half exact buckets for ``|rel| < nb/4`` and
log-spaced buckets up to ``max_distance``, beyond which everything shares the last bucket. The
arithmetic (float32 log, truncation) is the published code's, so bucket indices agree exactly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["relative_position_bucket", "RelativePositionBias", "MultiScaleRelativeBias"]


def relative_position_bucket(rel: Tensor, num_buckets: int, max_distance: int) -> Tensor:
    """Bucket index (int64, same shape as ``rel``) of each signed distance ``rel`` (query - key)."""
    rel = rel.long()
    half = num_buckets // 2
    max_exact = half // 2
    ret = (rel < 0).long() * half
    n = rel.abs()
    is_small = n < max_exact
    # clamp to 1 avoids log(0); those entries take the exact branch anyway
    scaled = torch.log(n.clamp(min=1) / max_exact) / math.log(max_distance / max_exact) * (half - max_exact)
    large = (max_exact + scaled.long()).clamp(max=half - 1)
    return ret + torch.where(is_small, n, large)


class RelativePositionBias(nn.Module):
    """A learned ``[num_buckets, n_heads]`` table looked up by bucketed distance."""

    def __init__(self, num_buckets: int, max_distance: int, n_heads: int):
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.n_heads = n_heads
        self.table = nn.Parameter(torch.empty(num_buckets, n_heads))
        nn.init.normal_(self.table, std=0.02)

    def buckets(self, rel: Tensor) -> Tensor:
        return relative_position_bucket(rel, self.num_buckets, self.max_distance)

    def forward(self, rel: Tensor) -> Tensor:
        """``rel`` (any shape, integer) -> bias of shape ``rel.shape + (n_heads,)``."""
        return self.table[self.buckets(rel)]

    def extra_repr(self) -> str:
        return f"num_buckets={self.num_buckets}, max_distance={self.max_distance}, n_heads={self.n_heads}"


class MultiScaleRelativeBias(nn.Module):
    """Sum over scales ``s`` of ``RelativePositionBias_s((off_q - off_k) // s)``: the gene-level bias.

    Computed exactly but cheaply: as a function of the distance ``rel`` the summed bias is piecewise
    constant, changing only where some scale's bucket changes (at ``q * s`` for the few ``q`` where
    the bucket of ``q`` differs from that of ``q - 1``; beyond ``max_distance`` buckets saturate).
    Those breakpoints are fixed by the config (non-persistent buffers), so each call sums the
    tables once per segment (a few hundred rows, differentiably) and does a single searchsorted +
    gather over the ``[B, T, T]`` distances instead of one bucketing and gather per scale.
    :meth:`direct` is the plain per-scale computation; both give identical numbers.
    """

    def __init__(self, scales_bp: tuple[int, ...], num_buckets: int, max_distance: int, n_heads: int):
        super().__init__()
        self.scales_bp = tuple(int(s) for s in scales_bp)
        self.scales = nn.ModuleList(
            RelativePositionBias(num_buckets, max_distance, n_heads) for _ in self.scales_bp)
        bp = self._breakpoints()
        self.register_buffer("breakpoints", bp, persistent=False)
        self.register_buffer("representatives", torch.cat([bp[:1] - 1, bp]), persistent=False)

    def _breakpoints(self) -> Tensor:
        points: set[int] = set()
        for s, m in zip(self.scales_bp, self.scales):
            md = m.max_distance
            q = torch.arange(-2 * md - 2, 2 * md + 3)
            b = m.buckets(q)
            # buckets saturate beyond max_distance on both sides
            far = q.abs() >= md
            assert (b[far & (q > 0)] == b[-1]).all() and (b[far & (q < 0)] == b[0]).all()
            change = q[1:][b[1:] != b[:-1]]
            points.update((change * s).tolist())
        return torch.tensor(sorted(points), dtype=torch.long)

    def segment_table(self) -> Tensor:
        """``[n_segments, H]``: the summed bias on each constant piece of the distance axis."""
        out = None
        for s, m in zip(self.scales_bp, self.scales):
            b = m(torch.div(self.representatives, s, rounding_mode="floor"))
            out = b if out is None else out + b
        return out

    def lookup(self, rel: Tensor, table: Tensor | None = None) -> Tensor:
        """Signed distances ``rel`` (bp, integer, any shape ``S``) -> bias ``[H, *S]`` (float32).
        ``table``: :meth:`segment_table` computed once by a caller that looks up many times."""
        seg = torch.searchsorted(self.breakpoints, rel.long().contiguous(), right=True)
        table = self.segment_table() if table is None else table
        return table.t().contiguous().index_select(1, seg.reshape(-1)).view(table.shape[1], *rel.shape)

    def forward(self, offsets: Tensor, key_allowed: Tensor | None = None) -> Tensor:
        """``offsets`` ``[B, T]`` (bp, integer) -> bias ``[B, H, T, T]`` (float32). With
        ``key_allowed`` ``[B, T]`` (bool), disallowed key columns get ``-inf``."""
        offsets = offsets.long()
        rel = offsets[:, :, None] - offsets[:, None, :]
        seg = torch.searchsorted(self.breakpoints, rel, right=True)
        table = self.segment_table()
        if key_allowed is not None:
            table = torch.cat([table, table.new_full((1, table.shape[1]), float("-inf"))])
            seg.masked_fill_(~key_allowed.bool()[:, None, :], table.shape[0] - 1)
        # one gather straight into head-major layout; returned as a [B, H, T, T] view
        b, t = offsets.shape
        flat = table.t().contiguous().index_select(1, seg.reshape(-1))
        return flat.view(table.shape[1], b, t, t).transpose(0, 1)

    def direct(self, offsets: Tensor) -> Tensor:
        """Reference computation, one bucketing and lookup per scale: ``[B, H, T, T]``."""
        offsets = offsets.long()
        rel = offsets[:, :, None] - offsets[:, None, :]
        out = None
        for s, m in zip(self.scales_bp, self.scales):
            b = m(torch.div(rel, s, rounding_mode="floor"))  # [B, T, T, H]
            out = b if out is None else out + b
        return out.permute(0, 3, 1, 2).contiguous()
