"""Stage 1: the element encoder.

Per base: ``Embedding(token) + Dropout(Linear(n_tracks -> d)(signal))``; ``n_summary_tokens``
summary bases (token code ``n_tokens``, zero signal) are appended; ``Conv1d(d, d, kernel,
stride)`` turns bases into tokens (the last one a pure summary token); pre-norm transformer layers
with a bucketed relative position bias on token index differences; the final state of the last
token is the element embedding (no final LayerNorm, as published).

This is the published computation (``F.pad(..., value=5)`` on tokens, zero padding on the signal,
``WConv``, ``rp_bias_1``, ``encoder1``, ``x[:, -1]``). The published code feeds the nucleotide
one-hot through ``eye(6)[tokens] @ embed.weight`` rather than the embedding's ``padding_idx`` lookup,
so the pad row (code 0) is an ordinary learned row; we do the same (plain lookup, no padding_idx).

Speed: embedding, signal projection and convolution are all linear, so with kernel = stride they
fold into one lookup per convolution token (a table of the convolved embeddings of every 5-mer)
plus one small matmul on the signal bins (see ``_front_fused``). That is the same function up to
float rounding (~1e-6, tested) and is used whenever dropout is inactive (eval mode, or dropout 0);
training with dropout uses the literal per-base path, since the published dropout acts per base
before the convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bias import RelativePositionBias
from .config import ModelConfig
from .layers import Encoder

__all__ = ["ElementEncoder"]


class ElementEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.config = c
        self.token_embed = nn.Embedding(c.n_tokens + 1, c.d_model)
        self.signal_proj = nn.Linear(c.n_tracks, c.d_model)
        self.signal_dropout = nn.Dropout(c.dropout)
        self.conv = nn.Conv1d(c.d_model, c.d_model, kernel_size=c.conv_kernel, stride=c.conv_stride)
        self.rel_bias = RelativePositionBias(c.element_buckets, c.element_max_distance, c.n_heads)
        self.encoder = Encoder(c.element_layers, c.d_model, c.n_heads, c.d_ff, c.dropout)
        keep = None
        if c.masked_tracks:
            from ..formats import TRACK_INDEX

            if c.n_tracks != len(TRACK_INDEX):
                raise ValueError(f"masked_tracks needs the {len(TRACK_INDEX)} standard tracks, n_tracks is {c.n_tracks}")
            keep = torch.ones(c.n_tracks)
            keep[[TRACK_INDEX[t] for t in c.masked_tracks]] = 0.0
        # not persistent: the state dict keeps the published names; the config carries the mask
        self.track_keep: Tensor | None
        self.register_buffer("track_keep", keep, persistent=False)

    def _bias(self, n_tok: int, device: torch.device) -> Tensor:
        pos = torch.arange(n_tok, device=device)
        return self.rel_bias(pos[:, None] - pos[None, :]).permute(2, 0, 1).unsqueeze(0)  # [1, H, T, T]

    def forward(self, tokens: Tensor, signal: Tensor, *, fused: bool | None = None) -> Tensor:
        """``tokens`` ``[N, L]`` int, ``signal`` ``[N, L, n_tracks]`` per base, or ``[N, L // r,
        n_tracks]`` binned at ``r`` bp (each bin stands for ``r`` bases: identical to passing the
        repeated per-base signal). Returns ``[N, d]``.

        ``fused`` picks the input stage: ``False`` is the literal per-base computation (embedding +
        projection per base, then the convolution); ``True`` folds the linear maps together (same
        function, ~1e-6 rounding differences, much less work); ``None`` (default) uses the fused
        form when it applies (kernel == stride, no active dropout)."""
        c = self.config
        if tokens.dim() != 2 or signal.dim() != 3 or signal.shape[0] != tokens.shape[0]:
            raise ValueError(f"expected tokens [N, L] and signal [N, L', {c.n_tracks}], got "
                             f"{tuple(tokens.shape)} and {tuple(signal.shape)}")
        length, n_bins = tokens.shape[1], signal.shape[1]
        if signal.shape[2] != c.n_tracks or n_bins == 0 or length % n_bins:
            raise ValueError(f"signal {tuple(signal.shape)} does not fit tokens {tuple(tokens.shape)}: "
                             f"need [N, L / r, {c.n_tracks}] for an integer r")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= c.n_tokens + 1):
            raise ValueError(f"token codes must lie in [0, {c.n_tokens}]")
        if signal.dtype != self.signal_proj.weight.dtype:
            signal = signal.to(self.signal_proj.weight.dtype)
        if self.track_keep is not None:
            signal = signal * self.track_keep.to(signal.dtype)
        if not c.use_sequence:
            tokens = torch.zeros_like(tokens)
        can_fuse = self._can_fuse(length)
        if fused is None:
            fused = can_fuse and not (self.training and c.dropout > 0)
        elif fused and not can_fuse:
            raise ValueError("the fused input stage needs conv_kernel == conv_stride dividing the length "
                             "and the summary bases")
        x = self._front_fused(tokens, signal) if fused else self._front_direct(tokens, signal)
        bias = self._bias(x.shape[1], x.device)
        # the element embedding is the summary token's final state: the last layer runs for that one
        # query only (same numbers)
        x, _ = self.encoder(x, bias, last_only=True)
        return x[:, -1]

    # ------------------------------------------------------------------ input stage
    def _front_direct(self, tokens: Tensor, signal: Tensor) -> Tensor:
        """Per base: embedding + Dropout(projection); summary bases; convolution -> ``[N, T, d]``."""
        c = self.config
        n, length = tokens.shape
        sig = self.signal_proj(signal)
        if signal.shape[1] != length:
            sig = sig.repeat_interleave(length // signal.shape[1], dim=1)
        x = F.embedding(tokens.long(), self.token_embed.weight) + self.signal_dropout(sig)
        # summary bases: token code n_tokens, zero signal (its projection is the bias alone)
        summ_sig = self.signal_proj.bias.expand(n, c.n_summary_tokens, -1)
        summ = self.token_embed.weight[c.summary_token] + self.signal_dropout(summ_sig)
        x = torch.cat([x, summ.to(x.dtype)], dim=1)
        return self.conv(x.transpose(1, 2)).transpose(1, 2)

    def _can_fuse(self, length: int) -> bool:
        c = self.config
        k = c.conv_kernel
        return (k == c.conv_stride and length % k == 0 and c.n_summary_tokens % k == 0
                and (c.n_tokens + 1) ** k <= 1 << 16)

    def _front_fused(self, tokens: Tensor, signal: Tensor) -> Tensor:
        """The same map with the linear layers folded into the convolution (kernel = stride = K):
        a token is ``table[K-mer code] + G · signal + c``, where ``table`` holds the convolved
        embeddings of every K-mer ((n_tokens+1)^K rows), ``G`` the convolution composed with the
        signal projection and ``c`` the constant terms."""
        c = self.config
        n, length = tokens.shape
        k, v = c.conv_kernel, c.n_tokens + 1
        wc = self.conv.weight  # [d_out, d_in, K]
        # K-mer table: code = sum_j tok_j * v^j  ->  sum_j E[tok_j] @ Wc_j^T
        per_pos = torch.einsum("ti,oij->jto", self.token_embed.weight, wc)  # [K, v, d]
        table = per_pos[0]
        for j in range(1, k):
            table = (per_pos[j][:, None, :] + table[None, :, :]).reshape(-1, table.shape[-1])
        const = self.conv.bias + torch.einsum("oij,i->o", wc, self.signal_proj.bias)
        powers = v ** torch.arange(k, device=tokens.device)
        codes = (tokens.long().view(n, length // k, k) * powers).sum(-1)
        x = F.embedding(codes, table)
        # signal: every conv window lies inside one bin when the bin size is a multiple of K
        g = torch.einsum("oij,it->jot", wc, self.signal_proj.weight)  # [K, d, n_tracks]
        n_bins = signal.shape[1]
        r = length // n_bins
        if r % k == 0:
            sig = F.linear(signal, g.sum(0))
            if r != k:
                sig = sig.repeat_interleave(r // k, dim=1)
        else:
            if r != 1:
                signal = signal.repeat_interleave(r, dim=1)
            sig = F.linear(signal.reshape(n, length // k, k * c.n_tracks),
                           g.permute(1, 0, 2).reshape(g.shape[1], k * c.n_tracks))
        x = x + sig + const
        summary_code = int((c.summary_token * powers).sum())
        summ = (table[summary_code] + const).to(x.dtype).expand(n, c.n_summary_tokens // k, -1)
        return torch.cat([x, summ], dim=1)
