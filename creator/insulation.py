"""Diamond insulation and boundary calling: one definition for the attention maps (tads) and for
Hi-C (evaluate).

The diamond of bin ``k`` (window ``w`` bins) holds the pixels ``(r, c)`` with ``k - w < r <= k <= c
< k + w`` and ``c - r >= ignore_diags``: the same diamond as cooltools' ``insulation`` (its
``n_valid_pixels`` equals our pixel count on a complete diamond; ``tests/test_insulation.py`` holds
golden values computed with cooltools 0.7.1). The score is ``log2((m_k + eps) / (M + eps))`` with
``m_k`` the diamond's mean, ``M`` the mean of ``m_k`` over the chromosome's scored bins and ``eps``
= 1e-3 M; cooltools divides by the median instead, so the two differ by a constant per chromosome
and call the same minima. Pixels absent from the input either do not count (``covered=None``:
an attention map has no pixel where no window holds the pair, which is no data, not zero) or count
as zeros between covered bins (``covered`` given: a Hi-C matrix, as cooltools does). A bin with
less than ``min_coverage`` of its diamond counted (clipped at the chromosome ends) has no score.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DiamondInsulation", "call_boundaries"]


class DiamondInsulation:
    """Running diamond sums of one chromosome, fed pixel by pixel (any order, any number of calls)."""

    def __init__(self, n_bins: int, window: int, ignore_diags: int = 1):
        if window < 1:
            raise ValueError(f"insulation window of {window} bins")
        self.n_bins, self.window, self.ignore_diags = int(n_bins), int(window), int(ignore_diags)
        self._sum = np.zeros(self.n_bins + 1, np.float64)
        self._n = np.zeros(self.n_bins + 1, np.float64)

    def add(self, r: np.ndarray, c: np.ndarray, value: np.ndarray) -> None:
        """Pixels at local bins ``r <= c`` with finite values."""
        w = self.window
        r, c, value = np.asarray(r), np.asarray(c), np.asarray(value, dtype=np.float64)
        d = c - r
        sel = (d >= max(1, self.ignore_diags)) & (d <= 2 * w - 2)
        rs, cs, vs = r[sel], c[sel], value[sel]
        # pixel (r, c) lies in the diamonds of bins k in [max(r, c-w+1), min(c, r+w-1)]
        k_lo = np.maximum(rs, cs - w + 1)
        k_hi = np.minimum(cs, rs + w - 1) + 1
        np.add.at(self._sum, k_lo, vs)
        np.add.at(self._sum, k_hi, -vs)
        np.add.at(self._n, k_lo, 1.0)
        np.add.at(self._n, k_hi, -1.0)

    def _pairs(self, covered: np.ndarray | None) -> np.ndarray:
        """Pixels of each bin's diamond inside the chromosome (between covered bins if given)."""
        w, n = self.window, self.n_bins
        g = max(1, self.ignore_diags)
        k = np.arange(n)
        cov = np.ones(n, bool) if covered is None else np.asarray(covered, bool)
        out = np.zeros(n, np.float64)
        for dr in range(w):
            r = k - dr
            for dc in range(w):
                if dr + dc < g:
                    continue
                c = k + dc
                ok = (r >= 0) & (c < n)
                out[ok] += cov[r[ok]] & cov[c[ok]]
        return out

    def diamond_size(self) -> np.ndarray:
        """Pixels of each bin's diamond inside the chromosome (ignoring coverage)."""
        return self._pairs(None)

    def mean(self, min_coverage: float, covered: np.ndarray | None = None) -> np.ndarray:
        """The diamond means (NaN where too little of the diamond counts)."""
        s = np.cumsum(self._sum)[:self.n_bins]
        n = np.round(np.cumsum(self._n)[:self.n_bins]) if covered is None else self._pairs(covered)
        size = self.diamond_size()
        ok = (n > 0) & (size > 0) & (n >= min_coverage * size)
        out = np.full(self.n_bins, np.nan)
        out[ok] = s[ok] / n[ok]
        return out

    def scores(self, min_coverage: float, covered: np.ndarray | None = None) -> np.ndarray:
        """log2 insulation relative to the chromosome's mean diamond (module docstring); NaN = no score."""
        mean = self.mean(min_coverage, covered)
        ok = np.isfinite(mean)
        if not ok.any():
            return mean
        chrom_mean = float(np.mean(mean[ok]))
        eps = 1e-3 * chrom_mean if chrom_mean > 0 else 1e-12
        out = np.full(self.n_bins, np.nan)
        out[ok] = np.log2((np.maximum(mean[ok], 0.0) + eps) / (chrom_mean + eps))
        return out


def call_boundaries(insulation: np.ndarray, min_prominence: float) -> tuple[np.ndarray, np.ndarray]:
    """Bins of the local minima of ``insulation`` (NaN splits runs) with prominence >= threshold:
    ``(bins, prominences)`` sorted by bin."""
    from scipy.signal import find_peaks

    x = np.asarray(insulation, dtype=np.float64)
    finite = np.isfinite(x)
    bins, proms = [], []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < 3:
            continue
        peaks, props = find_peaks(-x[a:b], prominence=min_prominence)
        bins.append(peaks + a)
        proms.append(props["prominences"])
    if not bins:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(bins).astype(np.int64), np.concatenate(proms)
