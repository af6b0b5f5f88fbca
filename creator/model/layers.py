"""Pre-norm transformer layers with an additive attention bias.

Each layer: ``x + Dropout(Wo · Attn(LN(x)))`` then ``x + FF(LN(x))`` with
``FF = Dropout(Linear(ReLU-Dropout(Linear(x))))``; query/key/value/output projections have no bias
(as published). Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`
with the float bias as ``attn_mask``; with ``return_attention=True`` an explicit
``softmax(q k^T / sqrt(d_h) + bias)`` path is used instead and the softmax probabilities (before
attention dropout) are returned. Masked keys carry ``-inf`` in the bias, so their probability is
exactly zero; callers guarantee that every query row has at least one finite key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiHeadSelfAttention", "FeedForward", "EncoderLayer", "Encoder"]


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.out_dropout = nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:  # [B, T, d] -> [B, H, T, dh]
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, bias: Tensor, *, return_attention: bool = False,
                query: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``x`` ``[B, T, d]``, ``bias`` broadcastable to ``[B, H, T_q, T]``. ``query`` ``[B, T_q, d]``
        (default ``x``): the positions whose outputs are wanted (keys and values are all of ``x``);
        returns ``[B, T_q, d]``."""
        src = x if query is None else query
        q, k, v = self._split(self.q(src)), self._split(self.k(x)), self._split(self.v(x))
        p_drop = self.dropout if self.training else 0.0
        if bias.dtype != q.dtype:
            bias = bias.to(q.dtype)
        probs = None
        if return_attention:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
            probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            y = torch.matmul(F.dropout(probs, p_drop, self.training), v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p_drop)
        b, h, t, dh = y.shape
        y = y.transpose(1, 2).reshape(b, t, h * dh)
        return self.out_dropout(self.out(y)), probs


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.lin1 = nn.Linear(d_model, d_ff)
        self.lin2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.lin2(self.dropout(F.relu(self.lin1(x)))))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm_attn = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff, dropout)

    def forward(self, x: Tensor, bias: Tensor, *, return_attention: bool = False, last_only: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """``x`` ``[B, T, d]`` -> ``[B, T, d]``, or with ``last_only`` the last position's output
        ``[B, 1, d]`` alone (the same numbers: only its attention row and feed-forward are computed)."""
        h = self.norm_attn(x)
        if last_only:
            a, probs = self.attn(h, bias[..., -1:, :], return_attention=return_attention, query=h[:, -1:])
            x = x[:, -1:] + a
        else:
            a, probs = self.attn(h, bias, return_attention=return_attention)
            x = x + a
        x = x + self.ff(self.norm_ff(x))
        return x, probs


class Encoder(nn.Module):
    """A stack of :class:`EncoderLayer` sharing one attention bias (no final norm, as published)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))

    def forward(self, x: Tensor, bias: Tensor, *, return_attention: bool = False, last_only: bool = False
                ) -> tuple[Tensor, list[Tensor] | None]:
        """``x`` ``[B, T, d]`` -> final states ``[B, T, d]`` (with ``last_only``: ``[B, 1, d]``, the
        last position's, for callers that read nothing else: the last layer then computes one
        attention row and one feed-forward per sequence instead of ``T``; same numbers) and, if
        asked, the per-layer attention probabilities (with ``last_only`` the last layer's is
        ``[B, H, 1, T]``)."""
        attn: list[Tensor] | None = [] if return_attention else None
        dev = x.device.type
        if torch.is_autocast_enabled(dev) and bias.dtype != torch.get_autocast_dtype(dev):
            bias = bias.to(torch.get_autocast_dtype(dev))  # once, not once per layer
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            x, p = layer(x, bias, return_attention=return_attention, last_only=last_only and i == n - 1)
            if attn is not None:
                attn.append(p)
        return x, attn
