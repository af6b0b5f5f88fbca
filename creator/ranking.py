"""Ranking metrics of a score against binary labels, with seeded bootstrap intervals.

Point estimates and curves come from scikit-learn (``average_precision_score``, ``roc_auc_score``,
``precision_recall_curve``); the conventions are those of the ENCODE-rE2G / CRISPR_comparison
benchmark: higher score = stronger prediction, tied scores enter together, a pair without a
prediction is given ``-inf`` (ranked below every predicted pair, all such pairs tied).

Bootstrap (:func:`bootstrap`): pairs are resampled with replacement ``n_boot`` times from a seeded
generator; every score is evaluated on the same resamples, so differences between two scores are
paired. A resample is a vector of counts (how often each pair was drawn), and the metrics of all
resamples are computed at once as the *weighted* metrics with those counts as weights
(:func:`weighted_metrics`, vectorised over resamples: the same formulas as scikit-learn with
``sample_weight``, which the tests check). Intervals are percentile intervals; a resample without
a positive (or without a negative, for AUROC) gives no value and is left out of the percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

#: Recall at which precision is reported (the ENCODE-rE2G benchmark's 70%).
RECALL = 0.7
METRICS = ("auprc", "auroc", "precision_at_recall")


def _finite(y, s) -> tuple[np.ndarray, np.ndarray]:
    """Labels as bool and scores as float with ``-inf`` replaced by a value below every finite
    score (scikit-learn needs finite scores; ranks and ties are unchanged)."""
    y = np.asarray(y)
    s = np.asarray(s, dtype=float)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D of the same length")
    if np.isnan(s).any():
        raise ValueError("NaN scores: map them to -inf (not scored) first")
    if np.isposinf(s).any():
        raise ValueError("+inf scores: cap them first")
    neg = np.isneginf(s)
    if neg.any():
        fin = s[~neg]
        s = s.copy()
        s[neg] = (fin.min() - 1.0) if len(fin) else 0.0
    return y.astype(bool), s


def precision_recall_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` at every distinct score, thresholds descending (tied
    scores enter together). Empty arrays when there is no positive. scikit-learn's curve without
    its appended (recall 0, precision 1) point."""
    y, s = _finite(y, s)
    if not y.any():
        return np.empty(0), np.empty(0), np.empty(0)
    prec, rec, thr = skm.precision_recall_curve(y, s)
    return prec[:-1][::-1], rec[:-1][::-1], thr[::-1]


def average_precision(y, s) -> float:
    """Step-wise area under the PR curve, ``sum_k (R_k - R_k-1) P_k`` (scikit-learn's average
    precision); NaN without positives."""
    y, s = _finite(y, s)
    if not y.any():
        return float("nan")
    return float(skm.average_precision_score(y, s))


def auroc(y, s) -> float:
    """Area under the ROC curve (scikit-learn; ties count one half). NaN without both classes."""
    y, s = _finite(y, s)
    if y.all() or not y.any():
        return float("nan")
    return float(skm.roc_auc_score(y, s))


def precision_at_recall(y, s, recall: float = RECALL) -> tuple[float, float]:
    """``(precision, threshold)`` at the highest threshold whose recall is at least ``recall``."""
    prec, rec, thr = precision_recall_curve(y, s)
    if not len(prec):
        return float("nan"), float("nan")
    k = int(np.argmax(rec >= recall - 1e-12))
    return float(prec[k]), float(thr[k])


def point_metrics(y, s, recall: float = RECALL) -> dict:
    """``{"auprc", "auroc", "precision_at_recall", "threshold_at_recall"}`` of one score."""
    p, t = precision_at_recall(y, s, recall)
    return dict(auprc=average_precision(y, s), auroc=auroc(y, s), precision_at_recall=p, threshold_at_recall=t)


def weighted_metrics(y, s, weights, recall: float = RECALL) -> dict[str, np.ndarray]:
    """AUPRC, AUROC and precision at ``recall`` of one score under each row of ``weights``
    (``[n_resamples, n]`` non-negative counts): ``{metric: [n_resamples]}``, NaN where a metric is
    undefined (no positive weight; for AUROC also no negative weight)."""
    y, s = _finite(y, s)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if w.shape[1] != len(s):
        raise ValueError(f"weights {w.shape} do not match {len(s)} pairs")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s) - 1] if len(s) else np.empty(0, int)
    ws = w[:, order]
    tp = np.cumsum(ws * y_sorted, axis=1)[:, last]
    fp = np.cumsum(ws * ~y_sorted, axis=1)[:, last]
    n_pos = tp[:, -1:] if len(s) else np.zeros((len(w), 1))
    n_neg = fp[:, -1:] if len(s) else np.zeros((len(w), 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        rec = tp / n_pos
        d_rec = np.diff(np.concatenate([np.zeros((len(w), 1)), rec], axis=1), axis=1)
        ap = np.sum(d_rec * precision, axis=1)
        tpr = np.concatenate([np.zeros((len(w), 1)), rec], axis=1)
        fpr = np.concatenate([np.zeros((len(w), 1)), fp / n_neg], axis=1)
        roc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        reach = rec >= recall - 1e-12
        k = np.argmax(reach, axis=1)
        p_at = precision[np.arange(len(w)), k]
    has_pos = n_pos[:, 0] > 0
    has_both = has_pos & (n_neg[:, 0] > 0)
    return dict(auprc=np.where(has_pos, ap, np.nan), auroc=np.where(has_both, roc, np.nan),
                precision_at_recall=np.where(has_pos, p_at, np.nan))


@dataclass
class Interval:
    """A percentile interval of bootstrap values (``n`` of them defined)."""

    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: np.ndarray, level: float = 0.95) -> "Interval":
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if not len(v):
            return cls(float("nan"), float("nan"), 0)
        a = (1 - level) / 2 * 100
        lo, hi = np.percentile(v, [a, 100 - a])
        return cls(float(lo), float(hi), len(v))


def resample_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n]`` counts of a bootstrap of ``n`` pairs (multinomial, seeded)."""
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((n_boot, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float32)


def bootstrap(y, scores: dict[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0, recall: float = RECALL,
              chunk_values: int = 4_000_000) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap values of every metric of every score on the same resamples of the pairs:
    ``{score: {metric: [n_boot]}}`` (paired: index ``b`` is the same resample for every score)."""
    y = np.asarray(y, dtype=bool)
    w = resample_weights(len(y), n_boot, seed)
    step = max(1, chunk_values // max(len(y), 1))
    out: dict[str, dict[str, list]] = {k: {m: [] for m in METRICS} for k in scores}
    for b0 in range(0, n_boot, step):
        wb = w[b0:b0 + step]
        for k, s in scores.items():
            for m, v in weighted_metrics(y, s, wb, recall).items():
                out[k][m].append(v)
    return {k: {m: np.concatenate(v) if v else np.empty(0) for m, v in d.items()} for k, d in out.items()}


def correlations(pred, obs) -> dict:
    """Pearson and Spearman over the finite pairs (NaN with fewer than 3 or a constant side)."""
    from scipy import stats

    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    ok = np.isfinite(pred) & np.isfinite(obs)
    n = int(ok.sum())
    out = dict(n=n, pearson=float("nan"), spearman=float("nan"), pearson_p=float("nan"),
               spearman_p=float("nan"))
    if n >= 3 and np.ptp(pred[ok]) > 0 and np.ptp(obs[ok]) > 0:
        r = stats.pearsonr(pred[ok], obs[ok])
        rho = stats.spearmanr(pred[ok], obs[ok])
        out.update(pearson=float(r.statistic), pearson_p=float(r.pvalue),
                   spearman=float(rho.statistic), spearman_p=float(rho.pvalue))
    return out
