"""Input-only boundary baselines: domain boundaries called from one input track, no model.

Our boundaries come from what the model learned (the insulation barrier, else the attention
insulation). To show that the model adds something, the evaluation calls as many boundaries per
chromosome from the same features the model reads and scores them the same way:

* track: ``CTCF`` (architectural protein: convergent CTCF sites flank most TAD boundaries), or
  ``DNase`` when the cell type has no CTCF track (absent from the features' ``present_tracks`` or
  all zero, e.g. the K562 demo with DNase and H3K27ac only);
* per cCRE: the mean of the track over the element (the features' transformed values, e.g.
  log1p);
* per genome bin of ``resolution`` bp: the sum over the cCREs centred in it (the barrier track of
  the tads stage is built the same way from the learned per-element insulation);
* calls: local maxima of that binned track (``scipy.signal.find_peaks`` with ``distance =
  min_distance_bins``, the tads stage's ``barrier_distance_bins``), the highest ``k`` per
  chromosome where ``k`` is the number of our boundaries on it (optionally only peaks inside
  ``regions``, the bins the reference map covers); a call sits at its bin's midpoint, as ours do
  (BED midpoints).

:func:`baseline_boundaries` does all of it from the reference and a cell's features.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: the tracks tried, in order: the first present and not all zero is used
BASELINE_TRACKS = ("CTCF", "DNase")


def method_name(model: str, track: str) -> str:
    """The summary ``method`` of a baseline: ``<model>/baseline_<track>_peaks`` (lower case)."""
    return f"{model}/baseline_{track.lower()}_peaks"


def element_signal(reference, features, *, cell: str | None = None) -> tuple[str | None, np.ndarray | None]:
    """``(track, per-cCRE mean signal)`` of the first of :data:`BASELINE_TRACKS` that the cell's
    features hold and that is not all zero; ``(None, None)`` when none is."""
    from creator import data

    ref = data.open_reference(reference) if not isinstance(reference, data.Reference) else reference
    cell_inputs = data.open_cell(ref, features, cell=cell)
    present = cell_inputs.attrs.get("present_tracks")
    for track in BASELINE_TRACKS:
        if present is not None and track not in present:
            continue
        values = cell_inputs.track(track).astype(np.float64)
        if np.any(values != 0):
            return track, values
        log.info("%s: the %s track is all zero; trying the next baseline track", cell_inputs.cell, track)
    return None, None


def binned_track(reference, values: np.ndarray, resolution: int) -> dict[str, np.ndarray]:
    """Per chromosome of the reference (name -> float64 [n_bins]): the sum of ``values`` over the
    cCREs centred in each ``resolution``-bp bin; the last bin holds the last cCRE."""
    out = {}
    centre = np.asarray(reference.ccre_center, dtype=np.int64)
    code = np.asarray(reference.ccre_chrom)
    for k, chrom in enumerate(reference.chroms):
        sel = code == k
        if not sel.any():
            continue
        b = centre[sel] // int(resolution)
        out[chrom] = np.bincount(b, weights=values[sel], minlength=int(b.max()) + 1).astype(np.float64)
    return out


def _inside(pos: np.ndarray, iv: np.ndarray) -> np.ndarray:
    iv = np.asarray(iv, dtype=float).reshape(-1, 2)
    keep = np.zeros(len(pos), bool)
    for a, b in iv:
        keep |= (pos >= a) & (pos < b)
    return keep


def peak_calls(track: Mapping[str, np.ndarray], counts: Mapping[str, int], resolution: int, *,
               min_distance_bins: int = 3, regions: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The ``counts[chrom]`` highest local maxima of ``track[chrom]`` (at least ``min_distance_bins``
    apart; with ``regions``, only those inside ``regions[chrom]``, ``[k, 2]`` bp intervals) as
    ``chrom, position`` (bin midpoint), ``signal``, sorted by chromosome and position. Fewer when the
    track has fewer peaks."""
    from scipy.signal import find_peaks

    parts = []
    for chrom, k in counts.items():
        x = track.get(chrom)
        if x is None or int(k) <= 0 or len(x) == 0:
            continue
        # pad with a zero each side so a peak in the first or last bin counts
        peaks, props = find_peaks(np.r_[0.0, x, 0.0], height=np.nextafter(0.0, 1.0),
                                  distance=max(int(min_distance_bins), 1))
        peaks = peaks - 1
        height = props["peak_heights"]
        pos = peaks.astype(np.int64) * int(resolution) + int(resolution) // 2
        if regions is not None:
            ok = _inside(pos.astype(float), regions.get(chrom, np.empty((0, 2))))
            pos, height = pos[ok], height[ok]
        top = np.argsort(-height, kind="stable")[:int(k)]
        parts.append(pd.DataFrame({"chrom": chrom, "position": pos[top], "signal": height[top]}))
    if not parts:
        return pd.DataFrame({"chrom": pd.Series(dtype=str), "position": pd.Series(dtype=np.int64),
                             "signal": pd.Series(dtype=float)})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["chrom", "position"], kind="stable").reset_index(drop=True)


def baseline_track(reference, features, resolution: int, *, cell: str | None = None
                   ) -> tuple[str | None, dict[str, np.ndarray] | None]:
    """``(track, binned)``: the binned CTCF (else DNase) signal of ``features`` over ``reference``
    (:func:`element_signal`, :func:`binned_track`); ``(None, None)`` when the cell has neither."""
    from creator import data

    ref = data.open_reference(reference) if not isinstance(reference, data.Reference) else reference
    track, values = element_signal(ref, Path(features), cell=cell)
    if track is None:
        log.warning("%s: neither %s in the features: no input-only boundary baseline", features,
                    " nor ".join(BASELINE_TRACKS))
        return None, None
    return track, binned_track(ref, values, resolution)


def calls_like(binned: Mapping[str, np.ndarray], ours: pd.DataFrame, resolution: int, *,
               min_distance_bins: int = 3, regions: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """As many peak calls of ``binned`` per chromosome as ``ours`` (``chrom, position``) holds there
    (:func:`peak_calls`)."""
    counts = ours.groupby("chrom", sort=False).size().to_dict()
    return peak_calls(binned, counts, resolution, min_distance_bins=min_distance_bins, regions=regions)


def baseline_boundaries(reference, features, ours: pd.DataFrame, resolution: int, *, cell: str | None = None,
                        min_distance_bins: int = 3, regions: Mapping[str, np.ndarray] | None = None
                        ) -> tuple[str | None, pd.DataFrame | None]:
    """``(track, calls)``: as many boundaries per chromosome as ``ours``, called from the peaks of
    the binned CTCF (else DNase) signal of ``features``; ``(None, None)`` when the cell has neither."""
    track, binned = baseline_track(reference, features, resolution, cell=cell)
    if track is None:
        return None, None
    return track, calls_like(binned, ours, resolution, min_distance_bins=min_distance_bins, regions=regions)
