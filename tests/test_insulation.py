"""creator.insulation: the diamond insulation reproduces cooltools' on a small matrix; the
attention-map variant (absent pixels = no data) differs only where pixels are absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from creator.insulation import DiamondInsulation, call_boundaries

HERE = Path(__file__).resolve().parent / "data" / "insulation"


def _golden_matrix():
    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.matrix()


def test_matches_cooltools_insulation():
    """cooltools 0.7.1 ``insulation`` (window 5 bins, ignore_diags 1; tests/data/insulation/make_golden.py)
    on a 120-bin matrix with 10% of pixels absent: the same pixel counts, and the same log2 score up
    to cooltools' normalisation by the median diamond mean."""
    n, i, j, val = _golden_matrix()
    golden = pd.read_csv(HERE / "cooltools_w5.tsv", sep="\t")
    ins = DiamondInsulation(n, 5, 1)
    # fed in two halves, in a shuffled order: the sums do not depend on it
    order = np.random.default_rng(1).permutation(len(i))
    for part in np.array_split(order, 2):
        ins.add(i[part], j[part], val[part])
    covered = np.ones(n, bool)
    np.testing.assert_array_equal(ins._pairs(covered), golden["n_valid_pixels"].to_numpy())
    mean = ins.mean(0.0, covered)
    ours = np.log2(mean / np.median(mean))
    np.testing.assert_allclose(ours, golden["log2_insulation_score"].to_numpy(), atol=1e-9)
    # our score (relative to the mean) is the same up to a constant, so the same boundaries
    score = ins.scores(0.0, covered)
    shift = score - golden["log2_insulation_score"].to_numpy()
    assert np.ptp(shift) < 1e-3  # eps = 1e-3 of the mean bends it only slightly
    assert np.array_equal(call_boundaries(score, 0.05)[0], call_boundaries(golden["log2_insulation_score"], 0.05)[0])
    # attention-map semantics: absent pixels are no data, so fewer pixels count where some are absent
    sparse = ins.mean(0.0)
    full = np.isclose(ins._pairs(covered), np.round(np.cumsum(ins._n)[:n]))
    np.testing.assert_allclose(sparse[full], mean[full])
    assert (~full).sum() > 50 and not np.allclose(sparse[~full], mean[~full])


def test_min_coverage_and_empty_diamonds():
    ins = DiamondInsulation(10, 3, 1)
    ins.add(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 3.0]))
    m = ins.mean(0.5)
    assert np.isnan(m[5:]).all()  # no pixel in those diamonds
    assert np.isfinite(ins.mean(0.0)[:3]).all()
