"""creator.ranking: scikit-learn point metrics, the vectorised weighted metrics behind the bootstrap
(checked against scikit-learn with sample_weight), and the bootstrap's properties."""

import numpy as np
import pytest
from sklearn import metrics as skm

from creator import ranking


def _data(n, prevalence, seed, signal=1.5):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    y[:2] = [True, False]
    s = np.round(rng.normal(size=n) + signal * y, 1)  # rounded: ties
    return y, s


@pytest.mark.parametrize("n,seed", [(12, 0), (172, 1), (2000, 2)])
def test_weighted_metrics_equal_scikit_learn_with_sample_weight(n, seed):
    y, s = _data(n, 0.1, seed)
    s[3] = -np.inf  # a pair without prediction
    w = ranking.resample_weights(n, 6, seed)
    got = ranking.weighted_metrics(y, s, w)
    yf, sf = ranking._finite(y, s)
    for b in range(len(w)):
        if not (yf & (w[b] > 0)).any():
            assert np.isnan(got["auprc"][b])
            continue
        assert got["auprc"][b] == pytest.approx(skm.average_precision_score(yf, sf, sample_weight=w[b]), abs=1e-9)
        assert got["auroc"][b] == pytest.approx(skm.roc_auc_score(yf, sf, sample_weight=w[b]), abs=1e-9)
    # unit weights give the point estimates
    one = ranking.weighted_metrics(y, s, np.ones((1, n)))
    pm = ranking.point_metrics(y, s)
    for m in ranking.METRICS:
        assert one[m][0] == pytest.approx(pm[m], abs=1e-12)


def test_minus_inf_ranks_last_and_ties_count_together():
    # the -inf pair (a positive) ties with nothing and ranks below the finite negative
    assert ranking.average_precision([1, 0, 1], [1, 0, -np.inf]) == pytest.approx(0.5 + 1 / 3)
    assert ranking.auroc([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        ranking.average_precision([1, 0], [np.nan, 1])


def test_bootstrap_is_seeded_paired_and_contains_the_point_estimate():
    y, s = _data(172, 0.05, 3)
    t = s + np.random.default_rng(9).normal(scale=2, size=len(s))
    a = ranking.bootstrap(y, {"s": s, "t": t}, n_boot=300, seed=5)
    b = ranking.bootstrap(y, {"s": s, "t": t}, n_boot=300, seed=5)
    c = ranking.bootstrap(y, {"s": s, "t": t}, n_boot=300, seed=6)
    np.testing.assert_array_equal(a["s"]["auprc"], b["s"]["auprc"])
    assert not np.array_equal(a["s"]["auprc"], c["s"]["auprc"])
    for k, score in (("s", s), ("t", t)):
        for m in ranking.METRICS:
            iv = ranking.Interval.of(a[k][m])
            assert iv.low <= ranking.point_metrics(y, score)[m] <= iv.high, (k, m)
    # paired: the same resample for both scores (chunking does not change the draws)
    d = ranking.bootstrap(y, {"s": s, "t": t}, n_boot=300, seed=5, chunk_values=1000)
    np.testing.assert_allclose(d["t"]["auprc"], a["t"]["auprc"])


def test_interval_narrows_with_more_pairs():
    widths = []
    for n in (100, 1600):
        y, s = _data(n, 0.1, 4)
        v = ranking.bootstrap(y, {"s": s}, n_boot=400, seed=0)["s"]["auprc"]
        iv = ranking.Interval.of(v)
        widths.append(iv.high - iv.low)
    assert widths[1] < 0.5 * widths[0]  # ~1/sqrt(16) = 0.25 expected
