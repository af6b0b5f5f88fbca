"""Evaluate stage: expression, CRISPRi element-gene links, Hi-C boundaries and contacts, planted truth.

Every evaluation writes, into its ``--out`` directory, a tidy ``summary.tsv`` (columns
:data:`SUMMARY_COLUMNS`: ``cell_type, method, metric, distance_bin, value, n``; ``distance_bin`` is
``all`` when not binned), a JSON with the details and its figures (PNG, :mod:`creator.plots`).
``creator evaluate-summary`` concatenates partial summaries into one. All files are written
atomically.

Command line
------------
``creator evaluate-expression --expression TSV [TSV ...] --cell CELL [CELL ...] --out DIR
[--model NAME] [--splits TSV_OR_METRICS_JSON]``
    Pearson and Spearman (scipy.stats) of ``predicted_log1p`` against ``observed_log1p`` per cell
    type, over all genes and per split. The split of a gene comes from a ``split`` column of the
    expression table, else from ``--splits``: a TSV with ``gene_id`` and ``split`` columns, or the
    trainer's ``metrics.json`` when its split plan holds out whole chromosomes (``val_chroms`` /
    ``test_chroms``; the other genes are ``train``). Genes without an observation (NaN) are left
    out. Files: ``summary.tsv``, ``expression.json``, ``expression_scatter.png``.
    Metrics: ``pearson_<split>``, ``spearman_<split>`` for split in ``all``, ``train``, ``val``,
    ``test`` (those present); ``method`` is the model name; ``n`` the number of genes. With
    ``--metrics`` (the trainer's metrics.json) the same figures of the input-only baselines the
    trainer scored on the same genes (promoter DNase, distance-weighted DNase, power law) under
    ``method`` = ``<model>/baseline_<name>``.

``creator evaluate-links --links LINKS_TSV_GZ --cell CELL --out DIR
(--benchmark CRISPR_TSV [--benchmark-cell NAME] | --truth-links TRUTH_LINKS_TSV [--keep-own-promoter])
[--model NAME] [--max-distance BP] [--drop-not-scored] [--name NAME]``
    Element-gene pairs of a CRISPRi benchmark (EPCrisprBenchmark format, :func:`read_benchmark`:
    positives ``Regulated == TRUE``, only ``ValidConnection == TRUE`` rows kept) or of the planted
    truth of the synthetic data (:func:`read_truth_links`, the same table shape) are joined to the
    link table (:func:`join_pairs`): the gene by Ensembl id when both sides have one, else by
    symbol; the element by overlap with the cCREs of that gene's window (a benchmark element
    overlapping several cCREs takes the maximum of each score). A pair whose gene is not in the link
    table, or whose element overlaps no cCRE of the gene's window, is *not scored*: it is ranked
    below every scored pair (score -inf, all tied) and counted in ``<name>_n_not_scored``
    (``--drop-not-scored`` leaves such pairs out instead). Scored: the link table's ``attention``,
    ``isp_delta`` and ``Score`` columns (those present and not all
    NaN; higher = stronger link, NaN = -inf; ``isp_delta``, perturbed minus original prediction, is
    ranked by ``-isp_delta``, the predicted loss of expression, see :data:`SCORE_SIGN`; with the
    links stage's ``Score``, a rank mean that includes ``-isp_delta``, they differ) and two baselines from the
    same rows
    (:func:`add_baselines`): ``baseline_distance`` (``-|distance|``) and ``baseline_abc``
    (activity ``sqrt(dnase * h3k27ac)`` times contact ``(|distance| + 5 kb) ** -0.87``, divided by
    its sum over the gene's window, i.e. the ABC score with a power-law contact). Distance bins
    (:data:`DISTANCE_BINS`) use ``|element centre - TSS|``: the benchmark's ``distanceToTSS``, else
    its TSS columns (``startTSS``), else the truth's ``distance``, else the nearest overlapping link
    row's ``distance``. Metrics (``<name>`` is ``crispr`` for a benchmark and ``planted`` for the
    truth, or ``--name``): ``<name>_auprc`` (average precision, step-wise:
    ``sum_k (R_k - R_k-1) P_k`` over distinct score thresholds, ties grouped), ``<name>_auroc``
    (trapezoidal ROC area = Mann-Whitney with ties counted one half),
    ``<name>_precision_at_70pct_recall`` (precision at the highest threshold whose recall reaches
    0.7), with ``method`` = ``<model>/<score>`` (or ``<score>`` without ``--model``); and with
    ``method`` = ``pairs``: ``<name>_n_positive`` and ``<name>_prevalence`` per bin and
    ``<name>_n_not_scored`` (bin ``all``). ``n`` is the number of pairs in the bin. Files:
    ``summary.tsv``, ``links.json``, ``pairs.tsv.gz`` (every pair with its scores),
    ``pr_curves.png``.

``creator evaluate-hic --boundaries BED --cell CELL --out DIR [--model NAME]
[--hic PATH] [--hic-chrom CHROM] [--hic-resolution BP] [--no-hic-balance] [--attention COOL]
[--barrier BEDGRAPH] [--truth-boundaries BED] [--chrom-sizes FILE] [--window-bp BP] [--prominence P]
[--tolerance-bp BP] [--n-shuffles N] [--seed S] [--max-distance BP] [--reference DIR --features ZARR
[--baseline-distance-bins 3]]``
    Hi-C: ``--hic`` is a ``.cool``, an ``.mcool::resolutions/N`` URI, or a Juicer-style sparse text
    dump (``bin1 bin2 count`` per line, whitespace separated, bin1/bin2 = bin START coordinates in
    bp of one chromosome, upper triangle; give ``--hic-chrom`` and ``--hic-resolution``).
    Coolers are read balanced (``weight`` column) when they have one, unless ``--no-hic-balance``.
    ``--barrier`` (the tads stage's learned-insulation barrier bedGraph) is drawn in the plot only.
    The attention matrix (``--attention``, the tads stage's ``attention.mcool::resolutions/N``; a
    ``.cool`` works too) is always read as its raw
    ``count`` pixels taken as float values (balanced or not). For every chromosome of our
    boundaries the Hi-C insulation score (:func:`insulation`: mean contact in the ``w x w`` diamond
    across each bin edge, ``w = window_bp / resolution``, log2 over the chromosome mean) is
    computed and its boundaries called (:func:`call_boundaries`: local minima of prominence at
    least ``--prominence``). Our boundaries (BED midpoints) are compared with them within one Hi-C
    bin (``--tolerance-bp``, default the Hi-C resolution) over the region the Hi-C (and the
    attention, when given) covers: ``hic_boundary_recall`` (Hi-C boundaries with one of ours
    nearby), ``hic_boundary_precision`` (ours with a Hi-C boundary nearby), ``hic_boundary_overlap``
    (the count of ours matched), ``hic_boundary_shuffled_mean`` (that count averaged over
    ``--n-shuffles`` random placements of the same number of boundaries per chromosome within the
    covered bins), ``hic_boundary_enrichment`` (observed / shuffled mean) and
    ``hic_boundary_pvalue`` (``(1 + #{shuffled >= observed}) / (1 + N)``); ``hic_n_boundaries``
    (Hi-C boundaries called). With ``--attention``: ``hic_oe_pearson`` and ``hic_oe_spearman``,
    correlations of the observed/expected (per-diagonal mean over bins both matrices cover)
    attention and contacts over the pixels ``0 < |i - j| <= max_distance / resolution`` between
    bins both matrices cover and present in the attention map (an absent attention pixel is no
    data; an absent Hi-C pixel is a zero); the finer matrix is summed to the coarser resolution;
    at most 2 M pixels, a fixed random subset beyond. With ``--truth-boundaries`` (planted truth): the same boundary
    figures against it, named ``planted_boundary_*`` (tolerance default: the Hi-C or attention
    resolution, else 10 kb; shuffles within the chromosome sizes of ``--chrom-sizes``, the
    attention or the Hi-C file, else the span of the boundaries). Input-only baseline (with
    ``--reference`` and ``--features``, the cell's ``signal.zarr``; :mod:`creator.boundary_baselines`):
    as many boundaries per chromosome as ours, called at the highest peaks of the CTCF signal
    summed per attention bin (DNase when the cell has no CTCF track), scored against the same
    references with the same figures under ``method`` = ``<model>/baseline_ctcf_peaks`` (or
    ``baseline_dnase_peaks``), plus ``<prefix>_n_boundaries``; against Hi-C only peaks inside the
    covered region are called. They are drawn beside ours in the plot. Files: ``summary.tsv``,
    ``hic.json``, ``hic_insulation.tsv``, ``hic_boundaries.bed``, ``insulation.png``.

``creator evaluate-summary --inputs TSV [TSV ...] --out SUMMARY_TSV``
    Concatenates partial summaries (checking their columns), sorted.

The same functions run from Python: :func:`evaluate_expression`, :func:`evaluate_links`,
:func:`evaluate_hic`, :func:`combine_summaries`, with the metric helpers :func:`average_precision`,
:func:`auroc`, :func:`precision_at_recall`, :func:`precision_recall_curve`, :func:`distance_bins`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from creator import linkscore, ranking
from creator.config import section_defaults
from creator.errors import InputError
from creator.io import (atomic_path, chrom_sort_key, json_safe, open_text, read_table, strip_version, suggest_chrom,
                        table_header, write_json, write_tsv)

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("cell_type", "method", "metric", "distance_bin", "value", "n")

#: (label, lower bound inclusive, upper bound exclusive; the last bin includes its upper bound), bp.
DISTANCE_BINS: tuple[tuple[str, int, int], ...] = (
    ("0-10kb", 0, 10_000), ("10-100kb", 10_000, 100_000), ("100kb-2.5Mb", 100_000, 2_500_000))
ALL = "all"

#: Score columns of the link table, in the order they are reported.
LINK_SCORES = ("attention", "isp_delta", "Score")
#: Orientation of a score column (ranked by ``sign * value``, higher = stronger link): ``isp_delta``
#: is perturbed - original prediction (creator.links), so an element the gene needs has a negative
#: delta; it is ranked by ``-isp_delta``, the predicted loss of expression on silencing it.
SCORE_SIGN = {"isp_delta": -1.0}
BASELINES = ("baseline_distance", "baseline_abc")
ABC_PSEUDO_BP = linkscore.ABC_PSEUDO_BP
ABC_GAMMA = linkscore.ABC_GAMMA

BENCHMARK_REQUIRED = ("chrom", "chromStart", "chromEnd", "measuredGeneSymbol", "Regulated")
TRUTH_REQUIRED = ("chrom", "start", "end", "gene_id", "symbol", "is_link")
LINKS_REQUIRED = ("chr", "start", "end", "TargetGene", "Score")


# ---------------------------------------------------------------------------------------------
# ranking metrics (scikit-learn, creator.ranking)

average_precision = ranking.average_precision
auroc = ranking.auroc
precision_at_recall = ranking.precision_at_recall
precision_recall_curve = ranking.precision_recall_curve


def distance_bins(distance) -> np.ndarray:
    """Label of :data:`DISTANCE_BINS` for each ``|distance|`` (None outside every bin or NaN)."""
    d = np.abs(np.asarray(distance, dtype=float))
    out = np.full(d.shape, None, dtype=object)
    for k, (label, lo, hi) in enumerate(DISTANCE_BINS):
        last = k == len(DISTANCE_BINS) - 1
        inside = (d >= lo) & ((d <= hi) if last else (d < hi))
        out[inside] = label
    return out


# ---------------------------------------------------------------------------------------------
# small helpers


def _bool_column(values: pd.Series, *, path, column: str, line_offset: int = 2) -> np.ndarray:
    """TRUE/FALSE, True/False, T/F, 1/0, yes/no -> bool; anything else is an error naming the line."""
    if values.dtype == bool:
        return values.to_numpy()
    s = values.astype(str).str.strip().str.upper()
    true = s.isin(["TRUE", "T", "1", "YES", "1.0"])
    false = s.isin(["FALSE", "F", "0", "NO", "0.0"])
    bad = ~(true | false)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"column {column}: {values.iloc[i]!r} is not TRUE/FALSE", path=path,
                         line=i + line_offset, fix=f"{column} must be TRUE or FALSE")
    return true.to_numpy()


def _float_column(df: pd.DataFrame, col: str, *, path) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() & df[col].notna() & ~df[col].astype(str).str.upper().isin(["NA", "NAN", "", "."])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"column {col}: {df[col].iloc[i]!r} is not a number", path=path, line=i + 2,
                         fix=f"{col} must be numeric (NA for missing)")
    return v.to_numpy(dtype=float)


def _read_table(path, *, what: str, dtype=None, usecols=None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} does not exist", path=path, fix="check the path")
    try:
        with open_text(path) as fh:
            return pd.read_csv(fh, sep="\t", dtype=dtype, usecols=usecols, comment=None,
                               na_values=["NA", "NaN", "nan", ""], keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{what} is empty", path=path, fix=f"give a non-empty {what}") from None


def _require_columns(df: pd.DataFrame, required: Iterable[str], *, path, what: str, fix: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks required column(s) {', '.join(missing)} "
                         f"(it has: {', '.join(map(str, df.columns))})", path=path, line=1, fix=fix)


def _row(cell, method, metric, value, n, distance_bin=ALL) -> dict:
    v = float(value) if value is not None else float("nan")
    return dict(cell_type=cell, method=method, metric=metric, distance_bin=distance_bin, value=v,
                n=int(n))


def summary_frame(rows: Iterable[dict]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    df["n"] = df["n"].astype("int64")
    df["value"] = df["value"].astype(float)
    return df


def write_summary(rows, dest) -> pd.DataFrame:
    """Write a tidy summary (rows: dicts or a DataFrame with :data:`SUMMARY_COLUMNS`) atomically."""
    df = rows if isinstance(rows, pd.DataFrame) else summary_frame(rows)
    df = df[list(SUMMARY_COLUMNS)]
    write_tsv(df, dest, float_format="%.6g", na_rep="NA")
    return df


def read_summary(path) -> pd.DataFrame:
    df = _read_table(path, what="summary table", dtype={"cell_type": str, "method": str, "metric": str,
                                                        "distance_bin": str})
    _require_columns(df, SUMMARY_COLUMNS, path=path, what="summary table",
                     fix="give summary.tsv files written by creator evaluate-*")
    return df[list(SUMMARY_COLUMNS)]


def combine_summaries(paths: Iterable, dest=None) -> pd.DataFrame:
    """Concatenate partial summaries (sorted by cell type, method, metric, bin); write when ``dest``."""
    frames = [read_summary(p) for p in paths]
    if not frames:
        raise InputError("no summary to combine", fix="give at least one summary.tsv")
    df = pd.concat(frames, ignore_index=True)
    bin_order = {ALL: 0, **{b[0]: i + 1 for i, b in enumerate(DISTANCE_BINS)}}
    df = df.assign(_b=df["distance_bin"].map(lambda b: bin_order.get(b, 99)))
    df = df.sort_values(["cell_type", "method", "metric", "_b"], kind="stable").drop(columns="_b")
    df = df.reset_index(drop=True)
    if dest is not None:
        write_summary(df, dest)
    return df


# ---------------------------------------------------------------------------------------------
# (a) expression


def read_splits(path) -> dict:
    """Gene splits from a TSV (``gene_id``, ``split``) or the trainer's ``metrics.json``.

    Returns ``{"genes": {gene_id: split}}`` or ``{"chroms": {chrom: split}, "default": "train"}``."""
    path = Path(path)
    if not path.exists():
        raise InputError("split file does not exist", path=path, fix="check the path")
    if path.suffix == ".json":
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", path=path, fix="give the trainer's metrics.json") from None
        plan = meta.get("splits", {}) if isinstance(meta, dict) else {}
        if plan.get("mode") != "chromosomes":
            raise InputError(f"the split plan is {plan.get('mode')!r}: per-gene splits cannot be "
                             "rebuilt from metrics.json", path=path,
                             fix="add a 'split' column to expression.tsv or give a gene_id/split TSV")
        chroms = {c: "val" for c in plan.get("val_chroms", [])}
        chroms.update({c: "test" for c in plan.get("test_chroms", [])})
        return {"chroms": chroms, "default": "train"}
    df = _read_table(path, what="split table", dtype=str)
    _require_columns(df, ("gene_id", "split"), path=path, what="split table",
                     fix="give a TSV with gene_id and split columns")
    return {"genes": dict(zip(df["gene_id"].map(strip_version), df["split"]))}


def _gene_splits(table: pd.DataFrame, splits) -> np.ndarray | None:
    if "split" in table.columns:
        return table["split"].astype(str).to_numpy()
    if splits is None:
        return None
    if isinstance(splits, (str, Path)):
        splits = read_splits(splits)
    if isinstance(splits, pd.DataFrame):
        splits = {"genes": dict(zip(splits["gene_id"].map(strip_version), splits["split"]))}
    if "chroms" in splits:
        default = splits.get("default", "train")
        return table["chrom"].astype(str).map(lambda c: splits["chroms"].get(c, default)).to_numpy()
    if "genes" in splits:
        mapping = splits["genes"]
    else:
        mapping = splits
    return table["gene_id"].astype(str).map(lambda g: mapping.get(strip_version(g), "none")).to_numpy()


def read_expression_predictions(path) -> pd.DataFrame:
    df = _read_table(path, what="expression predictions", dtype={"gene_id": str, "symbol": str, "chrom": str})
    _require_columns(df, ("gene_id", "predicted_log1p"), path=path, what="expression predictions",
                     fix="give the predict stage's expression.tsv")
    df["predicted_log1p"] = _float_column(df, "predicted_log1p", path=path)
    if "observed_log1p" in df.columns:
        df["observed_log1p"] = _float_column(df, "observed_log1p", path=path)
    else:
        df["observed_log1p"] = np.nan
    return df


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


def expression_metrics(table: pd.DataFrame, splits=None) -> dict:
    """``{split: correlations}`` for ``all`` and each split present (see :func:`read_splits`)."""
    pred = table["predicted_log1p"].to_numpy(float)
    obs = table["observed_log1p"].to_numpy(float)
    res = {ALL: correlations(pred, obs)}
    labels = _gene_splits(table, splits)
    if labels is not None:
        order = {"train": 0, "val": 1, "test": 2}
        for s in sorted(set(labels), key=lambda x: (order.get(x, 9), x)):
            if s in ("buffer", "none", "nan", ""):
                continue
            m = labels == s
            res[s] = correlations(pred[m], obs[m])
    return res


def expression_baseline_rows(metrics, model: str, cells: Iterable[str]) -> list[dict]:
    """The input-only expression baselines the trainer scored (``metrics.json``: per cell type and
    split, ``baselines.<name>.{pearson,spearman,n}``: promoter DNase, distance-weighted DNase, power
    law; :func:`creator.train.baseline_scores`) as summary rows, ``method`` = ``<model>/baseline_<name>``."""
    path = Path(metrics)
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the trainer's metrics: {exc}", path=path,
                         fix="give the metrics.json that creator train wrote next to the checkpoint") from None
    rows = []
    for cell in cells:
        for split, r in (m.get("cells", {}).get(cell, {}).get("splits") or {}).items():
            for name, b in (r.get("baselines") or {}).items():
                for stat in ("pearson", "spearman"):
                    rows.append(_row(cell, f"{model}/baseline_{name}", f"{stat}_{split}", b.get(stat), b.get("n")))
    return rows


def evaluate_expression(expressions: Mapping[str, Any], out, *, model: str = "creator", splits=None,
                        plot: bool = True, metrics=None) -> dict:
    """Score ``{cell_type: expression.tsv path or DataFrame}``; write summary.tsv, expression.json,
    expression_scatter.png under ``out``. Cells without any observation are skipped (logged). With
    ``metrics`` (the trainer's metrics.json) the input-only baselines it scored on the same genes
    and splits are added beside ours (:func:`expression_baseline_rows`)."""
    out = Path(out)
    rows, result, tables = [], {}, {}
    for cell, src in expressions.items():
        table = src.copy() if isinstance(src, pd.DataFrame) else read_expression_predictions(src)
        if "observed_log1p" not in table or not np.isfinite(table["observed_log1p"].to_numpy(float)).any():
            log.warning("%s: no observed expression, not scored", cell)
            continue
        labels = _gene_splits(table, splits)
        if labels is not None:
            table["split"] = labels
        res = expression_metrics(table)
        result[cell] = res
        tables[cell] = table
        for split, r in res.items():
            rows.append(_row(cell, model, f"pearson_{split}", r["pearson"], r["n"]))
            rows.append(_row(cell, model, f"spearman_{split}", r["spearman"], r["n"]))
        log.info("%s: pearson %.3f spearman %.3f over %d genes", cell, res[ALL]["pearson"],
                 res[ALL]["spearman"], res[ALL]["n"])
    if not result:
        raise InputError("no cell type has observed expression (observed_log1p)",
                         fix="run predict with --targets for the cell types to score")
    if metrics is not None:
        rows += expression_baseline_rows(metrics, model, result)
    write_summary(rows, out / "summary.tsv")
    write_json({"model": model, "cells": result}, out / "expression.json")
    if plot:
        from creator import plots

        plots.expression_scatter(tables, out / "expression_scatter.png", title=model)
    return result


# ---------------------------------------------------------------------------------------------
# (b) links: benchmark and truth tables


@dataclass
class Benchmark:
    """Element-gene pairs with a label, in one shape for CRISPRi benchmarks and planted truth.

    ``pairs`` columns: ``pair`` (name), ``chrom``, ``start``, ``end``, ``gene_symbol``,
    ``gene_ensembl`` (None when unknown), ``positive`` (bool), ``distance`` (``|centre - TSS|``,
    NaN when unknown), ``line`` (line in the source file)."""

    pairs: pd.DataFrame
    source: str
    name: str
    n_rows: int
    n_invalid: int = 0
    invalid_reasons: dict = field(default_factory=dict)
    cell_type: str | None = None


def read_benchmark(path, *, cell_type: str | None = None, name: str = "crispr") -> Benchmark:
    """A CRISPRi benchmark in EPCrisprBenchmark format (ENCODE-rE2G / CRISPR_comparison).

    Required columns :data:`BENCHMARK_REQUIRED`; optional ``ValidConnection`` (rows other than
    ``TRUE`` are dropped and counted by reason), ``measuredGeneEnsemblId``, ``distanceToTSS`` or
    ``startTSS`` (for the distance bins), ``CellType`` (filtered to ``cell_type`` when it is one of
    the values; a file of one other cell type is used with a warning), ``name``."""
    path = Path(path)
    df = _read_table(path, what="CRISPR benchmark", dtype={"chrom": str, "measuredGeneSymbol": str,
                                                            "measuredGeneEnsemblId": str, "name": str,
                                                            "ValidConnection": str, "CellType": str,
                                                            "chrTSS": str})
    _require_columns(df, BENCHMARK_REQUIRED, path=path, what="CRISPR benchmark",
                     fix="use the EPCrisprBenchmark format (columns chrom, chromStart, chromEnd, "
                         "measuredGeneSymbol, Regulated, ValidConnection, ...; see COLUMNS.txt)")
    df["_line"] = np.arange(len(df)) + 2
    n_rows = len(df)
    if cell_type is not None and "CellType" in df.columns:
        cells = sorted(df["CellType"].dropna().astype(str).unique())
        if cell_type in cells:
            df = df[df["CellType"].astype(str) == cell_type]
        elif len(cells) == 1:
            log.warning("%s: benchmark cell type %s used for %s", path, cells[0], cell_type)
        else:
            raise InputError(f"cell type {cell_type!r} is not in the benchmark (CellType: {', '.join(cells)})",
                             path=path, fix="choose the benchmark's cell type with --benchmark-cell")
    starts = pd.to_numeric(df["chromStart"], errors="coerce")
    ends = pd.to_numeric(df["chromEnd"], errors="coerce")
    bad = starts.isna() | ends.isna() | (ends <= starts)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"bad element {df['chrom'].iloc[i]}:{df['chromStart'].iloc[i]}-{df['chromEnd'].iloc[i]}",
                         path=path, line=int(df["_line"].iloc[i]), fix="chromStart < chromEnd, integers")
    positive = _bool_column(df["Regulated"].reset_index(drop=True), path=path, column="Regulated")
    reasons: dict = {}
    if "ValidConnection" in df.columns:
        vc = df["ValidConnection"].fillna("NA").astype(str).str.strip()
        valid = vc.str.upper().isin(["TRUE", "T", "1"]).to_numpy()
        reasons = {str(k): int(v) for k, v in vc[~valid].value_counts().items()}
    else:
        valid = np.ones(len(df), bool)
    centre = (starts.to_numpy(float) + ends.to_numpy(float)) / 2
    if "distanceToTSS" in df.columns:
        distance = np.abs(_float_column(df, "distanceToTSS", path=path))
    elif "startTSS" in df.columns:
        distance = np.abs(centre - _float_column(df, "startTSS", path=path))
    else:
        distance = np.full(len(df), np.nan)
    if "measuredGeneEnsemblId" in df.columns:
        ens = df["measuredGeneEnsemblId"].map(
            lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None)
    else:
        ens = pd.Series([None] * len(df), index=df.index, dtype=object)
    pairs = pd.DataFrame({
        "pair": (df["name"].astype(str) if "name" in df.columns
                 else df["measuredGeneSymbol"].astype(str) + "|" + df["chrom"].astype(str) + ":"
                 + starts.astype("int64").astype(str) + "-" + ends.astype("int64").astype(str)).to_numpy(),
        "chrom": df["chrom"].astype(str).to_numpy(),
        "start": starts.to_numpy().astype(np.int64), "end": ends.to_numpy().astype(np.int64),
        "gene_symbol": df["measuredGeneSymbol"].astype(str).to_numpy(),
        "gene_ensembl": ens.to_numpy(dtype=object),
        "positive": positive, "distance": distance, "line": df["_line"].to_numpy(),
    })
    pairs = pairs[valid].reset_index(drop=True)
    if not len(pairs):
        raise InputError("no benchmark pair is left after the ValidConnection == TRUE filter"
                         + (f" and the CellType filter ({cell_type})" if cell_type else ""), path=path,
                         fix="check the benchmark file and --benchmark-cell")
    return Benchmark(pairs=pairs, source=str(path), name=name, n_rows=n_rows,
                     n_invalid=int((~valid).sum()), invalid_reasons=reasons, cell_type=cell_type)


def read_truth_links(path, *, exclude_own_promoter: bool = True, name: str = "planted") -> Benchmark:
    """The planted truth of the synthetic data (``truth/links.tsv`` of :mod:`creator.simulate`) as a
    :class:`Benchmark`: positives ``is_link``, genes by ``gene_id`` (Ensembl-like) and ``symbol``,
    distance from its ``distance`` column (else ``|center - tss|``). Pairs of a gene with its own
    promoter cCRE (``own_promoter``) are left out by default, as CRISPRi benchmarks leave out
    promoter elements (``ValidConnection`` 'PromoterElement')."""
    path = Path(path)
    df = _read_table(path, what="planted truth links", dtype={"chrom": str, "gene_id": str, "symbol": str,
                                                               "ccre_name": str})
    _require_columns(df, TRUTH_REQUIRED, path=path, what="planted truth links",
                     fix="give truth/links.tsv written by creator simulate")
    positive = _bool_column(df["is_link"], path=path, column="is_link")
    if "distance" in df.columns:
        distance = np.abs(_float_column(df, "distance", path=path))
    elif "tss" in df.columns:
        centre = (df["start"].to_numpy(float) + df["end"].to_numpy(float)) / 2
        distance = np.abs(centre - _float_column(df, "tss", path=path))
    else:
        distance = np.full(len(df), np.nan)
    valid = np.ones(len(df), bool)
    reasons = {}
    if exclude_own_promoter and "own_promoter" in df.columns:
        own = _bool_column(df["own_promoter"], path=path, column="own_promoter")
        valid &= ~own
        if own.any():
            reasons["PromoterElement"] = int(own.sum())
    gid = df["gene_id"].astype(str).map(strip_version)
    pairs = pd.DataFrame({
        "pair": (df["ccre_name"].astype(str) if "ccre_name" in df.columns
                 else pd.Series(np.arange(len(df))).astype(str)) + "|" + df["symbol"].astype(str),
        "chrom": df["chrom"].astype(str).to_numpy(),
        "start": df["start"].to_numpy(np.int64), "end": df["end"].to_numpy(np.int64),
        "gene_symbol": df["symbol"].astype(str).to_numpy(),
        "gene_ensembl": gid.where(gid.str.startswith("ENS"), None).to_numpy(dtype=object),
        "positive": positive, "distance": distance, "line": np.arange(len(df)) + 2,
    })
    pairs = pairs[valid].reset_index(drop=True)
    return Benchmark(pairs=pairs, source=str(path), name=name, n_rows=len(df), n_invalid=int((~valid).sum()),
                     invalid_reasons=reasons)


def read_links(path, *, genes: Iterable[str] | None = None, chunksize: int = 1_000_000) -> pd.DataFrame:
    """A link table (``links.tsv.gz``; its header line may start with ``#``) with the columns the
    evaluation needs.

    Returns ``chrom, start, end, name, gene_id, symbol, ensembl, tss, distance`` plus the score
    columns present (:data:`LINK_SCORES`) and ``dnase``/``h3k27ac`` when present. With ``genes``
    (symbols or Ensembl/gene ids), only the rows of those genes are kept (read in chunks, so a
    genome-wide table is never held whole)."""
    path = Path(path)
    if not path.exists():
        raise InputError("link table does not exist", path=path, fix="run the links stage first")
    header = table_header(path)
    if not header:
        raise InputError("link table is empty", path=path, fix="run the links stage again")
    missing = [c for c in LINKS_REQUIRED if c not in header]
    if missing:
        raise InputError(f"link table lacks required column(s) {', '.join(missing)} (it has: {', '.join(header)})",
                         path=path, line=1, fix="give the links stage's links.tsv.gz")
    wanted = ["chr", "start", "end", "name", "TargetGene", "TargetGeneEnsemblID", "TargetGeneTSS", "gene_id",
              "distance", "dnase", "h3k27ac", *LINK_SCORES]
    use = [c for c in dict.fromkeys(wanted) if c in header]
    keep = None if genes is None else {str(g) for g in genes} | {strip_version(str(g)) for g in genes}
    dtypes = {"chr": str, "name": str, "TargetGene": str, "TargetGeneEnsemblID": str, "gene_id": str}
    frames = []
    chroms: set = set()
    with read_table(path, usecols=use, dtype=dtypes, chunksize=chunksize,
                    na_values=["NA", "NaN", "nan", ""], keep_default_na=False) as reader:
        for chunk in reader:
            chroms |= set(chunk["chr"].astype(str).unique())
            if keep is not None:
                m = chunk["TargetGene"].astype(str).isin(keep)
                for c in ("gene_id", "TargetGeneEnsemblID"):
                    if c in chunk.columns:
                        m |= chunk[c].astype(str).map(strip_version).isin(keep)
                chunk = chunk[m]
            frames.append(chunk)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=use)
    out = pd.DataFrame({
        "chrom": df["chr"].astype(str), "start": pd.to_numeric(df["start"]).astype(np.int64),
        "end": pd.to_numeric(df["end"]).astype(np.int64),
        "name": df["name"].astype(str) if "name" in df else pd.Series([""] * len(df), dtype=str),
        "symbol": df["TargetGene"].astype(str),
    })
    ens = df["TargetGeneEnsemblID"] if "TargetGeneEnsemblID" in df else pd.Series([None] * len(df), dtype=object)
    out["ensembl"] = ens.map(lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None)
    if "gene_id" in df:
        out["gene_id"] = df["gene_id"].astype(str).map(strip_version)
    else:
        out["gene_id"] = out["ensembl"].where(out["ensembl"].notna(), out["symbol"])
    out["tss"] = pd.to_numeric(df["TargetGeneTSS"], errors="coerce") if "TargetGeneTSS" in df else np.nan
    if "distance" in df:
        out["distance"] = pd.to_numeric(df["distance"], errors="coerce").astype(float)
    elif "TargetGeneTSS" in df:
        out["distance"] = (out["start"] + out["end"]) / 2 - out["tss"]
    else:
        raise InputError("link table has neither 'distance' nor 'TargetGeneTSS'", path=path, line=1,
                         fix="give the links stage's links.tsv.gz")
    for c in (*LINK_SCORES, "dnase", "h3k27ac"):
        if c in df:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    out.attrs["chroms"] = sorted(chroms, key=chrom_sort_key)
    return out


def add_baselines(links: pd.DataFrame, *, gamma: float = ABC_GAMMA, pseudo_bp: float = ABC_PSEUDO_BP) -> list[str]:
    """Add ``baseline_distance`` (``-|distance|``) and, with ``dnase`` and ``h3k27ac``,
    ``baseline_abc`` (:func:`creator.linkscore.abc_like`: ``sqrt(dnase * h3k27ac) * (|d| +
    pseudo_bp) ** -gamma`` over its per-gene sum) to ``links`` in place; returns the columns added."""
    links["baseline_distance"] = -np.abs(links["distance"].to_numpy(float))
    added = ["baseline_distance"]
    if "dnase" in links and "h3k27ac" in links:
        act = linkscore.activity(links["dnase"], links["h3k27ac"])
        links["baseline_abc"] = linkscore.abc_like(act, links["distance"], links["gene_id"].to_numpy(),
                                                   gamma=gamma, pseudo_bp=pseudo_bp)
        added.append("baseline_abc")
    else:
        log.warning("link table has no dnase/h3k27ac columns: no ABC-like baseline")
    return added


def score_methods(links: pd.DataFrame) -> list[str]:
    """The link-table score columns present with at least one finite value, then the baselines."""
    out = []
    for c in (*LINK_SCORES, *BASELINES):
        if c in links and np.isfinite(links[c].to_numpy(float)).any():
            out.append(c)
        elif c in links:
            log.warning("score column %s is all NaN: not evaluated", c)
    return out


def join_pairs(bench: Benchmark, links: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """One row per benchmark pair with the maximum of each method (oriented by :data:`SCORE_SIGN`)
    over the cCREs of the gene's window that overlap the element; ``scored`` False (and every score
    -inf) when there is none.

    Adds ``reason`` ('' scored, 'gene not in links', 'no overlapping cCRE'), ``n_ccres``,
    ``ccres`` (names), ``distance`` (filled from the nearest overlapping row when the benchmark has
    none) and ``distance_bin``."""
    pairs = bench.pairs.copy()
    by_ens: dict[str, set] = {}
    by_sym: dict[str, set] = {}
    gid = links["gene_id"].to_numpy(dtype=object)
    for g, e, s in zip(gid, links["ensembl"].to_numpy(dtype=object), links["symbol"].to_numpy(dtype=object)):
        if e is not None and e == e:
            by_ens.setdefault(e, set()).add(g)
        by_sym.setdefault(s, set()).add(g)
    # per gene: arrays sorted by (chrom, start)
    links = links.sort_values(["gene_id", "chrom", "start"], kind="stable").reset_index(drop=True)
    scores = np.column_stack([np.nan_to_num(SCORE_SIGN.get(m, 1.0) * links[m].to_numpy(float), nan=-np.inf)
                              for m in methods]) if methods else np.empty((len(links), 0))
    starts = links["start"].to_numpy(np.int64)
    ends = links["end"].to_numpy(np.int64)
    chroms = links["chrom"].to_numpy(dtype=object)
    dist = np.abs(links["distance"].to_numpy(float))
    names = links["name"].to_numpy(dtype=object)
    gkeys = links["gene_id"].to_numpy(dtype=object)
    bounds = {}
    if len(links):
        cut = np.r_[0, np.flatnonzero(gkeys[1:] != gkeys[:-1]) + 1, len(links)]
        bounds = {gkeys[a]: (a, b) for a, b in zip(cut[:-1], cut[1:])}
    max_len = int((ends - starts).max()) if len(links) else 0

    n = len(pairs)
    out_scores = np.full((n, len(methods)), -np.inf)
    scored = np.zeros(n, bool)
    reason = np.full(n, "", dtype=object)
    n_ccres = np.zeros(n, np.int64)
    ccre_names = np.full(n, "", dtype=object)
    near = np.full(n, np.nan)
    p_chrom = pairs["chrom"].to_numpy(dtype=object)
    p_start = pairs["start"].to_numpy(np.int64)
    p_end = pairs["end"].to_numpy(np.int64)
    p_ens = pairs["gene_ensembl"].to_numpy(dtype=object)
    p_sym = pairs["gene_symbol"].to_numpy(dtype=object)
    for k in range(n):
        genes = None
        e = p_ens[k]
        if e is not None and e == e and e in by_ens:
            genes = by_ens[e]
        elif p_sym[k] in by_sym:
            genes = by_sym[p_sym[k]]
        if not genes:
            reason[k] = "gene not in links"
            continue
        hits = []
        for g in genes:
            a, b = bounds[g]
            # rows of gene g on this chromosome, sorted by start: candidates start in (s - max_len, e)
            seg_ch = chroms[a:b]
            on = np.flatnonzero(seg_ch == p_chrom[k])
            if not len(on):
                continue
            lo_i, hi_i = a + on[0], a + on[-1] + 1
            st = starts[lo_i:hi_i]
            i0 = lo_i + np.searchsorted(st, p_start[k] - max_len, side="right")
            i1 = lo_i + np.searchsorted(st, p_end[k], side="left")
            cand = np.arange(i0, i1)
            cand = cand[ends[cand] > p_start[k]]
            if len(cand):
                hits.append(cand)
        if not hits:
            reason[k] = "no overlapping cCRE"
            continue
        rows = np.concatenate(hits)
        scored[k] = True
        n_ccres[k] = len(rows)
        ccre_names[k] = ",".join(dict.fromkeys(str(x) for x in names[rows]))
        if len(methods):
            out_scores[k] = scores[rows].max(axis=0)
        near[k] = np.nanmin(dist[rows]) if np.isfinite(dist[rows]).any() else np.nan
    for j, m in enumerate(methods):
        pairs[m] = out_scores[:, j]
    pairs["scored"] = scored
    pairs["reason"] = reason
    pairs["n_ccres"] = n_ccres
    pairs["ccres"] = ccre_names
    d = pairs["distance"].to_numpy(float)
    pairs["distance"] = np.where(np.isfinite(d), d, near)
    pairs["distance_bin"] = distance_bins(pairs["distance"].to_numpy(float))
    return pairs


def _links_coverage(links) -> tuple[set, set]:
    """Chromosomes and gene symbols of a link table (path: streamed in chunks; or a frame)."""
    if isinstance(links, pd.DataFrame):
        return set(links["chrom"].astype(str)), set(links["symbol"].astype(str))
    chroms, genes = set(), set()
    with read_table(links, usecols=["chr", "TargetGene"], dtype=str, chunksize=1_000_000) as reader:
        for chunk in reader:
            chroms |= set(chunk["chr"])
            genes |= set(chunk["TargetGene"])
    return chroms, genes


def _coverage_message(bench: Benchmark, links) -> str:
    def few(values, k=8):
        values = sorted(set(map(str, values)), key=chrom_sort_key)
        return ", ".join(values[:k]) + (f", ... ({len(values)} in all)" if len(values) > k else "")

    lc, lg = _links_coverage(links)
    bg = set(bench.pairs["gene_symbol"].astype(str))
    return (f"the links cover chromosome(s) {few(lc) or 'none'} and {len(lg)} gene(s) "
            f"({few(lg, 5) or 'none'}); the benchmark has chromosome(s) {few(bench.pairs['chrom'])} and "
            f"{len(bg)} gene(s) ({few(bg, 5)}); {len(lg & bg)} gene(s) in common")


def _ci_rows(cell_type, method, metric, values, n, label, *, level: float = 0.95) -> list[dict]:
    ci = ranking.Interval.of(values, level)
    pct = int(round(level * 100))
    return [_row(cell_type, method, f"{metric}_ci{pct}_low", ci.low, n, label),
            _row(cell_type, method, f"{metric}_ci{pct}_high", ci.high, n, label)]


def score_pairs(pairs: pd.DataFrame, methods: list[str], *, name: str, cell_type: str,
                method_prefix: str | None = None, recall: float = 0.7, n_boot: int = 1000, seed: int = 0,
                baselines: Iterable[str] = BASELINES, labels: Mapping[str, str] | None = None
                ) -> tuple[list[dict], dict, dict]:
    """Summary rows, a JSON-ready dict and PR curves (``{bin: {method: (recall, precision, auprc,
    ci_low, ci_high)}}``) for joined ``pairs`` (:func:`join_pairs`), overall and per distance bin.

    With ``n_boot`` > 0, every metric gets a 95% percentile bootstrap interval (pairs resampled
    with replacement, seeded, the same resamples for every method: :func:`creator.ranking.bootstrap`)
    and every method that is not a baseline gets the paired interval of its AUPRC minus each
    baseline's (``<name>_auprc_minus_<baseline>`` with ``_ci95_low``/``_ci95_high`` and
    ``_p_le_0``, the fraction of resamples where it does not beat the baseline). ``labels`` maps a
    method column to its summary name (default ``<method_prefix>/<method>``)."""
    rows, res, curves = [], {}, {}
    pct = int(round(recall * 100))
    labels_of = dict(labels or {})
    y_all = pairs["positive"].to_numpy(bool)
    bins = pairs["distance_bin"].to_numpy(dtype=object)
    n_ns = int((~pairs["scored"]).sum())
    rows.append(_row(cell_type, "pairs", f"{name}_n_not_scored", n_ns, len(pairs)))
    base = [b for b in baselines if b in methods]
    for k_bin, label in enumerate((ALL, *[b[0] for b in DISTANCE_BINS])):
        m = np.ones(len(pairs), bool) if label == ALL else bins == label
        y = y_all[m]
        n, npos = int(m.sum()), int(y.sum())
        entry = dict(n_pairs=n, n_positive=npos, n_not_scored=int((~pairs["scored"].to_numpy()[m]).sum()),
                     prevalence=npos / n if n else float("nan"), methods={})
        rows += [_row(cell_type, "pairs", f"{name}_n_positive", npos, n, label),
                 _row(cell_type, "pairs", f"{name}_prevalence", entry["prevalence"], n, label)]
        curves[label] = dict(n=n, n_positive=npos, prevalence=entry["prevalence"], methods={})
        scores = {meth: pairs[meth].to_numpy(float)[m] for meth in methods}
        boot = (ranking.bootstrap(y, scores, n_boot=n_boot, seed=seed + k_bin, recall=recall)
                if n_boot and npos else {})
        for meth in methods:
            full = labels_of.get(meth) or (f"{method_prefix}/{meth}" if method_prefix else meth)
            pm = ranking.point_metrics(y, scores[meth], recall)
            values = {f"{name}_auprc": pm["auprc"], f"{name}_auroc": pm["auroc"],
                      f"{name}_precision_at_{pct}pct_recall": pm["precision_at_recall"]}
            e = dict(auprc=pm["auprc"], auroc=pm["auroc"], **{f"precision_at_{pct}pct_recall": pm["precision_at_recall"]},
                     **{f"threshold_at_{pct}pct_recall": pm["threshold_at_recall"]})
            ci = (float("nan"), float("nan"))
            for (metric, v), key in zip(values.items(), ranking.METRICS):
                rows.append(_row(cell_type, full, metric, v, n, label))
                if boot:
                    rows += _ci_rows(cell_type, full, metric, boot[meth][key], n, label)
                    iv = ranking.Interval.of(boot[meth][key])
                    e[f"{key}_ci95"] = [iv.low, iv.high]
                    if key == "auprc":
                        ci = (iv.low, iv.high)
            if boot and meth not in base:
                e["auprc_minus"] = {}
                for b in base:
                    diff = boot[meth]["auprc"] - boot[b]["auprc"]
                    metric = f"{name}_auprc_minus_{b}"
                    point = pm["auprc"] - average_precision(y, scores[b])
                    ok = np.isfinite(diff)
                    p_le = float((diff[ok] <= 0).mean()) if ok.any() else float("nan")
                    rows.append(_row(cell_type, full, metric, point, n, label))
                    rows += _ci_rows(cell_type, full, metric, diff, n, label)
                    rows.append(_row(cell_type, full, f"{metric}_p_le_0", p_le, n, label))
                    iv = ranking.Interval.of(diff)
                    e["auprc_minus"][b] = dict(value=point, ci95=[iv.low, iv.high], p_le_0=p_le)
            entry["methods"][meth] = e
            if npos:
                prec, rec, _ = precision_recall_curve(y, scores[meth])
                curves[label]["methods"][labels_of.get(meth, meth)] = (rec, prec, pm["auprc"], *ci)
        res[label] = entry
    return rows, res, curves


@dataclass
class Peer:
    """Another method's predictions to score on the same pairs (``evaluate.peers``): ``name``,
    the file and the column holding its score (higher = stronger link)."""

    name: str
    path: str
    column: str


PEER_COLUMNS = {"chrom": ("chr", "chrom"), "start": ("start", "chromStart"), "end": ("end", "chromEnd"),
                "symbol": ("TargetGene", "measuredGeneSymbol"),
                "ensembl": ("TargetGeneEnsemblID", "TargetGeneEnsembl_ID", "measuredGeneEnsemblId")}


def parse_peer(spec: str) -> Peer:
    """``NAME=PATH:COLUMN`` (the command line's ``--peer``) -> :class:`Peer`."""
    name, sep, rest = spec.partition("=")
    path, sep2, column = rest.rpartition(":")
    if not (sep and sep2 and name and path and column):
        raise InputError(f"--peer {spec!r} is not NAME=PATH:COLUMN",
                         fix="e.g. --peer ABC=abc_predictions.tsv.gz:ABC.Score")
    return Peer(name, path, column)


def read_peer(peer: Peer, *, genes: Iterable[str] | None = None, cell_type: str | None = None) -> pd.DataFrame:
    """A peer's prediction table (ENCODE-rE2G prediction format: ``chr start end TargetGene`` and the
    score column; ``chrom chromStart chromEnd measuredGeneSymbol`` also accepted) as a link-table
    frame for :func:`join_pairs` with the score in a column named after the peer. Rows of other
    cell types are dropped when a ``CellType`` column holds ``cell_type``; only ``genes`` are kept."""
    path = Path(peer.path)
    if not path.exists():
        raise InputError(f"prediction file of peer {peer.name!r} does not exist", path=path,
                         fix="check evaluate.peers (name, url, score_column)")
    header = table_header(path)   # ENCODE-rE2G files may mark it with '#'
    cols = {}
    for key, options in PEER_COLUMNS.items():
        hit = [c for c in options if c in header]
        if not hit and key != "ensembl":
            raise InputError(f"peer {peer.name!r}: no column {' or '.join(options)} (it has: {', '.join(header[:12])}"
                             f"{', ...' if len(header) > 12 else ''})", path=path, line=1,
                             fix="give a prediction table in the ENCODE-rE2G format (chr start end TargetGene ...)")
        if hit:
            cols[key] = hit[0]
    if peer.column not in header:
        raise InputError(f"peer {peer.name!r}: no score column {peer.column!r}", path=path, line=1,
                         fix=f"set score_column to one of: {', '.join(header)}")
    use = list(cols.values()) + [peer.column] + (["CellType"] if "CellType" in header else [])
    df = read_table(path, usecols=use, dtype={c: str for c in use if c != peer.column},
                    na_values=["NA", "NaN", "nan", ""], keep_default_na=False)
    if cell_type is not None and "CellType" in df.columns:
        cells = set(df["CellType"].astype(str))
        if cell_type in cells:
            df = df[df["CellType"].astype(str) == cell_type]
        else:
            log.info("%s: peer %s has CellType %s, not %s: all rows used", path, peer.name,
                     ", ".join(sorted(cells)[:3]), cell_type)
    if genes is not None:
        keep = {str(g) for g in genes}
        m = df[cols["symbol"]].astype(str).isin(keep)
        if "ensembl" in cols:
            m |= df[cols["ensembl"]].astype(str).map(strip_version).isin(keep)
        df = df[m]
    out = pd.DataFrame({"chrom": df[cols["chrom"]].astype(str).to_numpy(),
                        "start": pd.to_numeric(df[cols["start"]]).to_numpy(np.int64),
                        "end": pd.to_numeric(df[cols["end"]]).to_numpy(np.int64),
                        "name": "", "symbol": df[cols["symbol"]].astype(str).to_numpy()})
    ens = df[cols["ensembl"]] if "ensembl" in cols else pd.Series([None] * len(df), dtype=object)
    out["ensembl"] = ens.map(lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None
                             ).to_numpy(dtype=object)
    out["gene_id"] = out["ensembl"].where(out["ensembl"].notna(), out["symbol"])
    out["distance"] = np.nan
    out[peer.name] = pd.to_numeric(df[peer.column], errors="coerce").to_numpy(float)
    return out


def add_peer_scores(pairs: pd.DataFrame, truth: Benchmark, peers: Iterable[Peer], *, genes: Iterable[str],
                    cell_type: str | None, taken: Iterable[str] = ()) -> list[str]:
    """Add each peer's score (:func:`read_peer`, the maximum over its rows of the pair's gene that
    overlap the element; ``-inf`` = not predicted, ranked last) to joined ``pairs`` in place, as a
    column named after the peer; returns those columns."""
    cols = []
    for peer in peers:
        if peer.name in pairs.columns or peer.name in set(taken):
            raise InputError(f"peer name {peer.name!r} clashes with a column of the evaluation",
                             fix="give the peer another name")
        ptable = read_peer(peer, genes=genes, cell_type=cell_type)
        joined = join_pairs(Benchmark(pairs[list(truth.pairs.columns)], truth.source, truth.name, len(pairs)),
                            ptable, [peer.name])
        pairs[peer.name] = joined[peer.name].to_numpy(float)
        log.info("peer %s (%s, column %s): %d of %d pairs predicted (the rest ranked last)", peer.name, peer.path,
                 peer.column, int(np.isfinite(pairs[peer.name]).sum()), len(pairs))
        cols.append(peer.name)
    return cols


def links_table(entry: dict, labels: Mapping[str, str]) -> pd.DataFrame:
    """The report's table of one distance bin of :func:`score_pairs`' result: one row per method,
    best AUPRC first, with its interval and its paired difference to each baseline."""
    rows = []
    for meth, e in entry["methods"].items():
        r = dict(method=labels.get(meth, meth), auprc=e["auprc"], auprc_ci95_low=e.get("auprc_ci95", [np.nan])[0],
                 auprc_ci95_high=e.get("auprc_ci95", [np.nan, np.nan])[1], auroc=e["auroc"],
                 auroc_ci95_low=e.get("auroc_ci95", [np.nan])[0], auroc_ci95_high=e.get("auroc_ci95", [np.nan, np.nan])[1],
                 precision_at_70pct_recall=e.get("precision_at_70pct_recall", np.nan))
        for b, d in e.get("auprc_minus", {}).items():
            r[f"auprc_minus_{b}"] = d["value"]
            r[f"auprc_minus_{b}_ci95_low"], r[f"auprc_minus_{b}_ci95_high"] = d["ci95"]
        rows.append(r)
    df = pd.DataFrame(rows)
    df.insert(1, "n_pairs", entry["n_pairs"])
    df.insert(2, "n_positive", entry["n_positive"])
    return df.sort_values("auprc", ascending=False, kind="stable").reset_index(drop=True)


def restrict_to_run(pairs: pd.DataFrame, chroms: Iterable[str]) -> tuple[pd.DataFrame, dict]:
    """Joined pairs (:func:`join_pairs`) restricted to what the run predicted: pairs on a chromosome
    the link table does not cover, or of a gene it does not have, are left out (they say nothing
    about the run). A pair of a predicted gene with no overlapping cCRE stays (ranked last), as in
    the ENCODE-rE2G benchmark. Returns the kept pairs and ``{reason: count}`` of those left out."""
    chroms = set(map(str, chroms))
    off_chrom = ~pairs["chrom"].astype(str).isin(chroms).to_numpy()
    no_gene = (pairs["reason"].to_numpy(dtype=object) == "gene not in links") & ~off_chrom
    left = {"chromosome not in the run": int(off_chrom.sum()), "gene not in the run": int(no_gene.sum())}
    return pairs[~(off_chrom | no_gene)].reset_index(drop=True), left


def evaluate_links(links, truth: Benchmark, out, *, cell_type: str, model: str | None = None,
                   max_distance: float | None = None, drop_not_scored: bool = False, plot: bool = True,
                   peers: Iterable[Peer] = (), n_boot: int = 1000, seed: int = 0) -> dict:
    """Score a link table (path or :func:`read_links` frame) against ``truth`` (:func:`read_benchmark`
    or :func:`read_truth_links`) and the ``peers``' predictions on the same pairs; write
    summary.tsv, links.json, pairs.tsv.gz, pr_curves.png."""
    out = Path(out)
    genes = set(truth.pairs["gene_symbol"]) | {g for g in truth.pairs["gene_ensembl"] if g}
    src = str(links) if not isinstance(links, pd.DataFrame) else "<DataFrame>"
    table = read_links(links, genes=genes) if not isinstance(links, pd.DataFrame) else links.copy()
    run_chroms = table.attrs.get("chroms") or sorted(set(table["chrom"].astype(str)), key=chrom_sort_key)
    add_baselines(table)
    methods = score_methods(table)
    pairs = join_pairs(truth, table, methods)
    n_bench = len(pairs)
    pairs, left_out = restrict_to_run(pairs, run_chroms)
    n_left = sum(left_out.values())
    log.info("%s: %d of %d benchmark pairs are on the run's chromosomes (%s) and genes; left out: %s",
             cell_type, len(pairs), n_bench, ", ".join(run_chroms), left_out)
    if left_out["gene not in the run"]:
        miss = sorted(set(truth.pairs["gene_symbol"]) - set(table["symbol"]))
        log.info("benchmark genes not in the link table (left out): %s%s", ", ".join(miss[:20]),
                 f", ... ({len(miss)} in all)" if len(miss) > 20 else "")
    n_before = len(pairs)
    if max_distance is not None:
        d = pairs["distance"].to_numpy(float)
        pairs = pairs[~(d > max_distance)].reset_index(drop=True)
    if not pairs["scored"].any():
        raise InputError(f"no benchmark pair overlaps a cCRE of its gene's window: {_coverage_message(truth, links)}",
                         path=truth.source,
                         fix="check that the benchmark and the link table are of the same assembly, "
                             "chromosome naming and cell type, and that the links cover the benchmark's genes")
    peers = list(peers)
    peer_cols = add_peer_scores(pairs, truth, peers, genes=genes, cell_type=truth.cell_type or cell_type,
                                taken=methods)
    n_ns = int((~pairs["scored"]).sum())
    reasons = {str(k): int(v) for k, v in pairs.loc[~pairs["scored"], "reason"].value_counts().items()}
    log.info("%s: %d pairs (%d positive), %d not scored (%s)", cell_type, len(pairs), int(pairs["positive"].sum()),
             n_ns, reasons)
    scored_pairs = pairs[pairs["scored"]].reset_index(drop=True) if drop_not_scored else pairs
    labels = {p: f"peer/{p}" for p in peer_cols}
    rows, res, curves = score_pairs(scored_pairs, methods + peer_cols, name=truth.name, cell_type=cell_type,
                                    method_prefix=model, n_boot=n_boot, seed=seed, labels=labels)
    if drop_not_scored:  # report how many were dropped
        rows[0] = _row(cell_type, "pairs", f"{truth.name}_n_not_scored", n_ns, len(pairs))
    rows += [_row(cell_type, "pairs", f"{truth.name}_n_benchmark", n_bench, n_bench),
             _row(cell_type, "pairs", f"{truth.name}_n_left_out_chromosome", left_out["chromosome not in the run"],
                  n_bench),
             _row(cell_type, "pairs", f"{truth.name}_n_left_out_gene", left_out["gene not in the run"], n_bench)]
    write_summary(rows, out / "summary.tsv")
    cols = ["pair", "chrom", "start", "end", "gene_symbol", "gene_ensembl", "positive", "distance", "distance_bin",
            "scored", "reason", "n_ccres", "ccres", *methods, *peer_cols]
    write_tsv(pairs[cols], out / "pairs.tsv.gz", float_format="%.6g", na_rep="NA", compression="gzip")
    info = dict(cell_type=cell_type, model=model, benchmark=truth.source, name=truth.name, links=src,
                benchmark_rows=truth.n_rows, benchmark_invalid=truth.n_invalid,
                benchmark_invalid_reasons=truth.invalid_reasons, benchmark_pairs=n_bench,
                run_chromosomes=run_chroms, left_out=left_out, left_out_total=n_left, pairs=len(pairs),
                pairs_beyond_max_distance=n_before - len(pairs), max_distance=max_distance,
                positives=int(pairs["positive"].sum()), not_scored=n_ns, not_scored_reasons=reasons,
                not_scored_positives=int((pairs["positive"] & ~pairs["scored"]).sum()),
                not_scored_handling="dropped" if drop_not_scored else "ranked last (score -inf)",
                methods=methods, peers=[dict(name=p.name, file=p.path, column=p.column) for p in peers],
                score_orientation={m: ("-" + m) if SCORE_SIGN.get(m, 1.0) < 0 else m for m in methods},
                bootstrap=dict(n=n_boot, seed=seed, level=0.95, resampled="pairs", paired=True),
                abc=dict(activity="sqrt(dnase * h3k27ac)",
                         contact=f"(|distance| + {ABC_PSEUDO_BP}) ** -{ABC_GAMMA}",
                         normalised="per gene window"),
                distance_bins={b[0]: [b[1], b[2]] for b in DISTANCE_BINS}, metrics=res)
    write_json(info, out / "links.json")
    write_tsv(links_table(res[ALL], labels={**{m: (f"{model}/{m}" if model else m) for m in methods}, **labels}),
              out / "links_table.tsv", float_format="%.3f", na_rep="NA")
    if plot:
        from creator import plots

        n_pos = int(pairs["positive"].sum())
        plots.pr_curves(curves, out / "pr_curves.png",
                        title=" ".join(x for x in (cell_type, model, "vs", truth.name,
                                                   f"({Path(truth.source).name}: {len(pairs)} pairs, {n_pos} positive;"
                                                   f" {n_left} off the run left out)") if x))
    return info


# ---------------------------------------------------------------------------------------------
# (c) Hi-C: contact readers


@dataclass
class Contacts:
    """Upper-triangle pixels of one chromosome: bin indices ``bin1 <= bin2`` from the chromosome
    start, float ``value``; ``n_bins`` bins of ``resolution`` bp."""

    chrom: str
    resolution: int
    n_bins: int
    bin1: np.ndarray
    bin2: np.ndarray
    value: np.ndarray
    source: str = ""

    def covered(self) -> np.ndarray:
        """Bins with at least one finite non-zero pixel."""
        ok = np.isfinite(self.value) & (self.value != 0)
        cov = np.zeros(self.n_bins, bool)
        cov[self.bin1[ok]] = True
        cov[self.bin2[ok]] = True
        return cov

    def coarsen(self, factor: int) -> "Contacts":
        """Sum pixels into bins ``factor`` times larger."""
        if factor == 1:
            return self
        n = -(-self.n_bins // factor)
        i, j = self.bin1 // factor, self.bin2 // factor
        ok = np.isfinite(self.value)
        key = i[ok] * n + j[ok]
        uniq, inv = np.unique(key, return_inverse=True)
        v = np.zeros(len(uniq))
        np.add.at(v, inv, self.value[ok])
        return Contacts(self.chrom, self.resolution * factor, n, uniq // n, uniq % n, v, self.source)

    def dense(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Symmetric dense matrix of bins ``[lo, hi)`` (for plots of a region)."""
        hi = self.n_bins if hi is None else hi
        m = (self.bin1 >= lo) & (self.bin2 < hi) & np.isfinite(self.value)
        mat = np.zeros((hi - lo, hi - lo))
        np.add.at(mat, (self.bin1[m] - lo, self.bin2[m] - lo), self.value[m])
        off = self.bin1[m] != self.bin2[m]
        np.add.at(mat, (self.bin2[m][off] - lo, self.bin1[m][off] - lo), self.value[m][off])
        return mat


class ContactSource:
    """A Hi-C (or attention) map: ``chroms`` (name -> length or None), ``resolution``,
    ``fetch(chrom) -> Contacts``."""

    chroms: dict
    resolution: int
    path: str
    assembly: str | None = None

    def fetch(self, chrom: str, max_bins: int | None = None) -> Contacts:  # pragma: no cover - interface
        """The pixels of ``chrom`` (with ``max_bins``: only those with ``bin2 - bin1 <= max_bins``)."""
        raise NotImplementedError


class CoolerSource(ContactSource):
    def __init__(self, uri: str, *, balance: bool | None = None, what: str = "Hi-C"):
        import cooler

        path = uri.split("::")[0]
        self.path = uri
        if not Path(path).exists():
            raise InputError(f"{what} file does not exist", path=path, fix="check the path")
        if "::" not in uri:
            try:
                groups = cooler.fileops.list_coolers(path)
            except Exception as exc:  # not HDF5
                raise InputError(f"not a cooler file ({exc})", path=path,
                                 fix="give a .cool, an .mcool::resolutions/N URI or a Juicer text dump "
                                     "with --hic-chrom and --hic-resolution") from None
            if len(groups) > 1 or (groups and groups[0] != "/"):
                raise InputError(f"multi-resolution cooler: choose one of {', '.join(groups)}", path=path,
                                 fix=f"append the resolution, e.g. {path}::{groups[0].lstrip('/')}")
        try:
            self.c = cooler.Cooler(uri)
        except Exception as exc:
            raise InputError(f"cannot open cooler ({exc})", path=uri,
                             fix="give a .cool or an existing .mcool::resolutions/N") from None
        if self.c.binsize is None:
            raise InputError("cooler has variable-size bins", path=uri, fix="give a fixed-resolution cooler")
        self.resolution = int(self.c.binsize)
        self.chroms = {str(k): int(v) for k, v in self.c.chromsizes.items()}
        self.assembly = self.c.info.get("genome-assembly")
        has_weight = "weight" in self.c.bins().columns
        if balance and not has_weight:
            log.warning("%s has no balancing weights: raw counts used", uri)
        self.balance = bool(has_weight if balance is None else balance and has_weight)

    def fetch(self, chrom: str, max_bins: int | None = None, *, block_bins: int = 2000) -> Contacts:
        """Read in row blocks of ``block_bins`` bins against the band ``max_bins`` beyond them, so a
        deep genome-wide map is never loaded whole."""
        off = int(self.c.offset(chrom))
        n = int(self.c.extent(chrom)[1]) - off
        mat = self.c.matrix(balance=self.balance, as_pixels=True, join=False)
        res = self.resolution
        parts = []
        for a in range(0, n, block_bins) if max_bins is not None else [0]:
            b = min(a + block_bins, n) if max_bins is not None else n
            hi = min(b + max_bins, n) if max_bins is not None else n
            px = mat.fetch((chrom, a * res, min(b * res, self.chroms[chrom])),
                           (chrom, a * res, min(hi * res, self.chroms[chrom])))
            i = px["bin1_id"].to_numpy(np.int64) - off
            j = px["bin2_id"].to_numpy(np.int64) - off
            v = (px["balanced"] if self.balance else px["count"]).to_numpy(float)
            keep = (i <= j) & (i >= a) & (i < b)       # each upper-triangle pixel once
            if max_bins is not None:
                keep &= j - i <= max_bins
            parts.append((i[keep], j[keep], v[keep]))
        i, j, v = (np.concatenate([p[k] for p in parts]) for k in range(3))
        return Contacts(chrom, self.resolution, n, i, j, v, self.path)


class JuicerTextSource(ContactSource):
    """``bin1 bin2 count`` per line (whitespace separated; bin1/bin2 = bin start coordinates in bp)
    for one chromosome ``chrom`` at ``resolution``; lines starting with '#' and a non-numeric first
    line (header) are skipped."""

    def __init__(self, path, *, chrom: str | None, resolution: int | None, length: int | None = None):
        self.path = str(path)
        if chrom is None or resolution is None:
            raise InputError("a Juicer text dump needs its chromosome and resolution", path=path,
                             fix="give --hic-chrom CHROM and --hic-resolution BP (e.g. 10000)")
        if not Path(path).exists():
            raise InputError("Hi-C file does not exist", path=path, fix="check the path")
        self.resolution = int(resolution)
        self.chrom = chrom
        self._data = None
        self.chroms = {chrom: length}

    def _load(self):
        if self._data is not None:
            return self._data
        with open_text(self.path) as fh:
            first = fh.readline()
        skip = 0
        if first and not re.match(r"^\s*[-+0-9.eE]+\s+[-+0-9.eE]+\s+[-+0-9.eEnNaA]+\s*$", first):
            skip = 1
        with open_text(self.path) as fh:
            df = pd.read_csv(fh, sep=r"\s+", header=None, comment="#", skiprows=skip, dtype=str,
                             engine="c")
        if df.shape[1] != 3:
            raise InputError(f"{df.shape[1]} columns, expected 3 (bin1 bin2 count)", path=self.path, line=1 + skip,
                             fix="give a Juicer 'dump observed NONE <file> <chr> <chr> BP <res>' text file")
        a = pd.to_numeric(df[0], errors="coerce")
        b = pd.to_numeric(df[1], errors="coerce")
        v = pd.to_numeric(df[2], errors="coerce")
        bad = a.isna() | b.isna() | df[2].isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"line {df.iloc[i].tolist()} is not 'bin1 bin2 count'", path=self.path,
                             line=i + 1 + skip, fix="numbers only, whitespace separated")
        a, b = a.to_numpy(np.int64), b.to_numpy(np.int64)
        off = (a % self.resolution != 0) | (b % self.resolution != 0) | (a < 0) | (b < 0)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(f"bin start {a[i]}/{b[i]} is not a non-negative multiple of --hic-resolution "
                             f"{self.resolution}", path=self.path, line=i + 1 + skip,
                             fix="give the resolution the dump was made at (bin1/bin2 are bin START coordinates in bp)")
        i, j = a // self.resolution, b // self.resolution
        self._data = (np.minimum(i, j), np.maximum(i, j), v.to_numpy(float))
        return self._data

    def fetch(self, chrom: str, max_bins: int | None = None) -> Contacts:
        if chrom != self.chrom:
            raise InputError(f"the Juicer dump holds {self.chrom}, not {chrom}", path=self.path,
                             fix="give the dump of the chromosome evaluated")
        i, j, v = self._load()
        length = self.chroms.get(chrom)
        top = int(j.max()) + 1 if len(j) else 0
        if length is not None and top * self.resolution > length + self.resolution:
            raise InputError(f"contacts reach {top * self.resolution:,} bp but {chrom} is {length:,} bp long: "
                             "the Hi-C dump is of another assembly (or chromosome)", path=self.path,
                             fix="use a Hi-C dump of the same assembly as the reference")
        n = max(top, -(-length // self.resolution) if length else 0)
        if max_bins is not None:
            keep = j - i <= max_bins
            i, j, v = i[keep], j[keep], v[keep]
        return Contacts(chrom, self.resolution, n, i, j, v, self.path)


def open_contacts(path, *, chrom: str | None = None, resolution: int | None = None, balance: bool | None = None,
                  length: int | None = None, what: str = "Hi-C") -> ContactSource:
    """A :class:`ContactSource` for a ``.cool``, ``.mcool::resolutions/N`` or a Juicer text dump
    (which needs ``chrom`` and ``resolution``). ``balance``: None = balanced when the cooler has
    weights; False = raw counts."""
    path = str(path)
    base = path.split("::")[0]
    is_hdf5 = False
    if Path(base).exists():
        with open(base, "rb") as fh:
            is_hdf5 = fh.read(8) == b"\x89HDF\r\n\x1a\n"
    if is_hdf5 or "::" in path or base.endswith((".cool", ".mcool")):
        return CoolerSource(path, balance=balance, what=what)
    return JuicerTextSource(path, chrom=chrom, resolution=resolution, length=length)


#: UCSC name -> GRC name of the same assembly (``genome-assembly`` attributes use either)
ASSEMBLY_SYNONYMS = {"hg38": "grch38", "hg19": "grch37", "mm10": "grcm38", "mm39": "grcm39"}


def assembly_name(name) -> str:
    """A comparable assembly name: lower case, the UCSC names mapped to the GRC ones."""
    a = str(name).strip().lower()
    return ASSEMBLY_SYNONYMS.get(a, a)


def check_assembly(ours: Mapping[str, int | None], theirs: ContactSource, needed: Iterable[str], *,
                   ours_name: str, our_assembly: str | None = None) -> list[str]:
    """The chromosomes of ``needed`` that ``theirs`` has; errors for another chromosome naming or
    assembly (a common chromosome of another length, or different ``genome-assembly`` metadata; UCSC
    and GRC names of one assembly agree: hg38 = GRCh38, hg19 = GRCh37, mm10 = GRCm38, mm39 = GRCm39)."""
    needed = list(dict.fromkeys(needed))
    known = lambda a: a is not None and str(a).lower() not in ("", "unknown", "none")  # noqa: E731
    if known(our_assembly) and known(theirs.assembly) and (
            assembly_name(our_assembly) != assembly_name(theirs.assembly)):
        raise InputError(f"the Hi-C map is of assembly {theirs.assembly!r} but {ours_name} is {our_assembly!r}",
                         path=theirs.path, fix="use a Hi-C map of the same assembly")
    present = [c for c in needed if c in theirs.chroms]
    if not present:
        alts = {c: suggest_chrom(c, theirs.chroms) for c in needed}
        alts = {c: a for c, a in alts.items() if a}
        if alts:
            c, a = next(iter(alts.items()))
            raise InputError(f"the Hi-C map names chromosomes differently ('{a}' for our '{c}')", path=theirs.path,
                             fix="rename the chromosomes of one side (e.g. cooler's --chrom-names or sed) so "
                                 "they agree")
        have = sorted(theirs.chroms, key=chrom_sort_key)
        raise InputError(f"the Hi-C map has none of the chromosomes {', '.join(needed)} "
                         f"(it has {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})", path=theirs.path,
                         fix="give a Hi-C map of the evaluated chromosomes (for a Juicer dump: --hic-chrom)")
    for c in present:
        a, b = ours.get(c), theirs.chroms.get(c)
        if a and b and abs(int(a) - int(b)) > max(theirs.resolution, 1) and not (
                isinstance(theirs, JuicerTextSource)):
            raise InputError(f"{c} is {int(b):,} bp in the Hi-C map but {int(a):,} bp in {ours_name}: "
                             "another assembly", path=theirs.path,
                             fix="use a Hi-C map of the same assembly as the reference (e.g. GRCh38 with GRCh38)")
    return present


# ---------------------------------------------------------------------------------------------
# insulation and boundaries


def insulation(contacts: Contacts, window_bins: int, *, min_valid_fraction: float = 0.5) -> pd.DataFrame:
    """Insulation at every internal bin edge ``e`` (position ``e * resolution``): the mean contact
    over the diamond ``[e - w, e) x [e, e + w)`` (pixels between bins both covered), and
    ``log2((mean + c) / (chromosome mean + c))`` with ``c`` = 1e-3 x the chromosome mean. NaN
    where fewer than ``min_valid_fraction`` of the bins on either side are covered."""
    w = int(window_bins)
    if w < 1:
        raise InputError(f"insulation window of {w} bins", fix="use --window-bp of at least the resolution")
    n = contacts.n_bins
    cov = contacts.covered()
    i, j, v = contacts.bin1, contacts.bin2, contacts.value
    ok = np.isfinite(v) & (i < j) & (j - i < 2 * w) & cov[i] & cov[j]
    i, j, v = i[ok], j[ok], v[ok]
    lo = np.maximum(i + 1, j - w + 1)
    hi = np.minimum(j, i + w)           # inclusive
    diff = np.bincount(lo, weights=v, minlength=n + 2) - np.bincount(hi + 1, weights=v, minlength=n + 2)
    total = np.cumsum(diff)[:n + 1]
    cc = np.r_[0, np.cumsum(cov)]
    e = np.arange(1, n)
    left = cc[e] - cc[np.maximum(e - w, 0)]
    right = cc[np.minimum(e + w, n)] - cc[e]
    need = max(1.0, min_valid_fraction * w)
    valid = (left >= need) & (right >= need)
    mean = np.full(len(e), np.nan)
    mean[valid] = total[e][valid] / (left[valid] * right[valid])
    chrom_mean = np.nanmean(mean) if np.isfinite(mean).any() else np.nan
    c = 1e-3 * chrom_mean if chrom_mean and np.isfinite(chrom_mean) and chrom_mean > 0 else 1e-12
    score = np.log2((mean + c) / (chrom_mean + c)) if np.isfinite(chrom_mean) else mean
    return pd.DataFrame({"chrom": contacts.chrom, "position": e * contacts.resolution, "insulation": score,
                         "mean_contact": mean, "n_left": left, "n_right": right})


def call_boundaries(ins: pd.DataFrame, *, prominence: float = 0.2) -> pd.DataFrame:
    """Local minima of the insulation score with at least ``prominence`` (log2 units), per chromosome.
    NaN stretches separate the minima (they count as the lowest points around them)."""
    from scipy.signal import find_peaks

    out = []
    for chrom, g in ins.groupby("chrom", sort=False):
        x = g["insulation"].to_numpy(float)
        fin = np.isfinite(x)
        if fin.sum() < 3:
            continue
        y = -x
        y[~fin] = np.nanmin(y[fin])
        peaks, props = find_peaks(y, prominence=prominence)
        peaks_ok = fin[peaks]
        for p, prom in zip(peaks[peaks_ok], props["prominences"][peaks_ok]):
            out.append(dict(chrom=chrom, position=int(g["position"].iloc[p]), insulation=float(x[p]),
                            prominence=float(prom)))
    return pd.DataFrame(out, columns=["chrom", "position", "insulation", "prominence"])


def read_bedgraph(path, *, what: str = "bedGraph") -> pd.DataFrame:
    """A bedGraph (``chrom start end value``; ``#``/``track`` lines skipped) -> those four columns;
    a malformed line raises :class:`InputError` naming it."""
    from creator.io import read_bed

    bed = read_bed(path, what=what)   # checks the intervals; column 4 is its "name"
    values = np.empty(len(bed), np.float64)
    for k, (v, lineno) in enumerate(zip(bed["name"], bed["line"])):
        try:
            values[k] = float(v)
        except ValueError:
            raise InputError(f"{what} line has no numeric value in column 4", path=path, line=int(lineno),
                             fix="write chrom, start, end and value separated by tabs") from None
    return pd.DataFrame({"chrom": bed["chrom"].astype(str), "start": bed["start"], "end": bed["end"],
                         "value": values})


def read_boundaries(path, *, what: str = "boundaries BED") -> pd.DataFrame:
    """A boundaries BED -> ``chrom, position`` (the midpoint of each interval), ``name``."""
    from creator.io import read_bed

    bed = read_bed(path, what=what)
    return pd.DataFrame({"chrom": bed["chrom"].astype(str), "position": (bed["start"] + bed["end"]) // 2,
                         "name": bed["name"].astype(str)})


def _near(query: np.ndarray, ref: np.ndarray, tol: float) -> np.ndarray:
    """For each sorted-or-not ``query`` position: is a ``ref`` position within ``tol``?"""
    if not len(ref) or not len(query):
        return np.zeros(np.shape(query), bool)
    r = np.sort(ref)
    k = np.searchsorted(r, query)
    left = np.abs(query - r[np.clip(k - 1, 0, len(r) - 1)])
    right = np.abs(r[np.clip(k, 0, len(r) - 1)] - query)
    return np.minimum(left, right) <= tol


def boundary_overlap(ours: pd.DataFrame, ref: pd.DataFrame, tolerance: float) -> dict:
    """Recall (ref boundaries with one of ours within ``tolerance``), precision (ours with a ref
    boundary within it) and the count of ours matched (``overlap``)."""
    n_ours_matched = 0
    n_ref_matched = 0
    for chrom in set(ours["chrom"]) | set(ref["chrom"]):
        a = ours.loc[ours["chrom"] == chrom, "position"].to_numpy(float)
        b = ref.loc[ref["chrom"] == chrom, "position"].to_numpy(float)
        n_ours_matched += int(_near(a, b, tolerance).sum())
        n_ref_matched += int(_near(b, a, tolerance).sum())
    n_ours, n_ref = len(ours), len(ref)
    return dict(n_ours=n_ours, n_ref=n_ref, overlap=n_ours_matched,
                precision=n_ours_matched / n_ours if n_ours else float("nan"),
                recall=n_ref_matched / n_ref if n_ref else float("nan"), tolerance=tolerance)


def shuffle_enrichment(ours: pd.DataFrame, ref: pd.DataFrame, regions: Mapping[str, np.ndarray], tolerance: float,
                       *, n_shuffles: int = 1000, seed: int = 0) -> dict:
    """Place our boundaries at random ``n_shuffles`` times (the same count per chromosome, uniformly
    within ``regions[chrom]``: an ``[k, 2]`` array of allowed ``[start, end)`` intervals) and count
    how many fall within ``tolerance`` of a ``ref`` boundary. Returns the observed count, the
    shuffled mean and sd, ``enrichment`` (observed / mean) and the empirical ``p_value``
    ``(1 + #{shuffled >= observed}) / (1 + n_shuffles)``."""
    rng = np.random.default_rng(seed)
    observed = boundary_overlap(ours, ref, tolerance)["overlap"]
    counts = np.zeros(n_shuffles, np.int64)
    for chrom, g in ours.groupby("chrom"):
        k = len(g)
        iv = np.asarray(regions.get(chrom, np.empty((0, 2))), dtype=float).reshape(-1, 2)
        lengths = iv[:, 1] - iv[:, 0]
        if not k or lengths.sum() <= 0:
            continue
        cum = np.r_[0, np.cumsum(lengths)]
        u = rng.uniform(0, cum[-1], size=(n_shuffles, k))
        idx = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(iv) - 1)
        pos = iv[idx, 0] + (u - cum[idx])
        r = ref.loc[ref["chrom"] == chrom, "position"].to_numpy(float)
        counts += _near(pos.ravel(), r, tolerance).reshape(n_shuffles, k).sum(axis=1)
    mean = float(counts.mean()) if n_shuffles else float("nan")
    return dict(observed=int(observed), shuffled_mean=mean,
                shuffled_sd=float(counts.std()) if n_shuffles else float("nan"),
                enrichment=observed / mean if mean > 0 else float("nan"),
                p_value=(1 + int((counts >= observed).sum())) / (1 + n_shuffles), n_shuffles=int(n_shuffles),
                seed=int(seed))


def _runs(mask: np.ndarray, resolution: int) -> np.ndarray:
    """``[k, 2]`` bp intervals of the True runs of a per-bin mask."""
    if not mask.any():
        return np.empty((0, 2))
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return np.column_stack([starts, ends]).astype(float) * resolution


def _restrict(bounds: pd.DataFrame, regions: Mapping[str, np.ndarray]) -> pd.DataFrame:
    keep = np.zeros(len(bounds), bool)
    pos = bounds["position"].to_numpy(float)
    chroms = bounds["chrom"].to_numpy(dtype=object)
    for chrom, iv in regions.items():
        iv = np.asarray(iv).reshape(-1, 2)
        m = chroms == chrom
        inside = np.zeros(m.sum(), bool)
        for a, b in iv:
            inside |= (pos[m] >= a) & (pos[m] < b)
        keep[np.flatnonzero(m)[inside]] = True
    return bounds[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# distance-normalised correlation


def oe_pixels(a: Contacts, b: Contacts, max_distance_bp: float, *, a_absent_is_missing: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """Observed/expected of two maps of one chromosome at one resolution, over the pixels
    ``0 < j - i <= max_distance / resolution`` whose two bins both maps cover; expected = the mean
    of that diagonal over those pixels (zeros included). With ``a_absent_is_missing`` only the
    pixels present in ``a`` are used (the attention cooler stores no pixel where no gene window
    holds both bins: no data, not zero); absent Hi-C pixels are zeros."""
    if a.resolution != b.resolution:
        raise ValueError("maps of different resolutions: coarsen first")
    n = max(a.n_bins, b.n_bins)
    D = max(1, int(max_distance_bp // a.resolution))
    cov = np.zeros(n, bool)
    cov[:a.n_bins] = a.covered()
    cb = np.zeros(n, bool)
    cb[:b.n_bins] = b.covered()
    cov &= cb

    def band(c: Contacts) -> np.ndarray:
        d = c.bin2 - c.bin1
        m = (d <= D) & np.isfinite(c.value) & (c.bin1 < n)
        flat = np.bincount(d[m] * n + c.bin1[m], weights=c.value[m], minlength=(D + 1) * n)
        return flat.reshape(D + 1, n).astype(np.float32)

    ba, bb = band(a), band(b)
    present = None
    if a_absent_is_missing:
        ones = Contacts(a.chrom, a.resolution, a.n_bins, a.bin1, a.bin2,
                        np.isfinite(a.value).astype(float), a.source)
        present = band(ones) > 0
    xs, ys = [], []
    for d in range(1, D + 1):
        if d >= n:
            break
        i = np.arange(n - d)
        keep = cov[i] & cov[i + d]
        if present is not None:
            keep &= present[d, i]
        if keep.sum() < 2:
            continue
        va = ba[d, i[keep]].astype(float)
        vb = bb[d, i[keep]].astype(float)
        ea, eb = va.mean(), vb.mean()
        if ea <= 0 or eb <= 0:
            continue
        xs.append(va / ea)
        ys.append(vb / eb)
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)


def _common_resolution(a: Contacts, b: Contacts) -> tuple[Contacts, Contacts]:
    if a.resolution == b.resolution:
        return a, b
    hi, lo = max(a.resolution, b.resolution), min(a.resolution, b.resolution)
    if hi % lo:
        raise InputError(f"the attention ({a.resolution} bp) and Hi-C ({b.resolution} bp) resolutions are not "
                         "multiples of each other", path=b.source,
                         fix="give a Hi-C resolution that is a multiple or divisor of the attention resolution")
    if a.resolution < hi:
        a = a.coarsen(hi // a.resolution)
    if b.resolution < hi:
        b = b.coarsen(hi // b.resolution)
    return a, b


# ---------------------------------------------------------------------------------------------
# (c)/(d) the Hi-C and boundary evaluation


def _note(against: str, ov: dict, sh: dict) -> str:
    """``planted: recall 0.95, precision 0.18, 4.1x`` for the plot's legend."""
    return (f"{against}: recall {_fmt(ov['recall'])}, precision {_fmt(ov['precision'])}, "
            f"{_fmt(sh['enrichment'])}x shuffled")


def _fmt(x) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _bed_resolution(path) -> int:
    """The median interval width of a boundaries BED (our boundaries are genome bins)."""
    from creator.io import read_bed

    bed = read_bed(path, what="boundaries BED")
    return int(np.median(bed["end"] - bed["start"])) if len(bed) else 10_000


def _boundary_rows(prefix: str, cell_type: str, method: str, ours, ref, regions, tol, *, n_shuffles: int,
                   seed: int) -> tuple[dict, dict, list[dict]]:
    """Overlap of our boundaries with ``ref`` and its enrichment over shuffles, as summary rows
    ``{prefix}_boundary_{recall,precision,overlap,shuffled_mean,enrichment,pvalue}``."""
    ov = boundary_overlap(ours, ref, tol)
    sh = shuffle_enrichment(ours, ref, regions, tol, n_shuffles=n_shuffles, seed=seed)
    rows = [_row(cell_type, method, f"{prefix}_boundary_recall", ov["recall"], ov["n_ref"]),
            _row(cell_type, method, f"{prefix}_boundary_precision", ov["precision"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_overlap", ov["overlap"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_shuffled_mean", sh["shuffled_mean"], sh["n_shuffles"]),
            _row(cell_type, method, f"{prefix}_boundary_enrichment", sh["enrichment"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_pvalue", sh["p_value"], sh["n_shuffles"])]
    return ov, sh, rows


def evaluate_hic(boundaries, out, *, cell_type: str, model: str | None = None, hic=None,
                 hic_chrom: str | None = None, hic_resolution: int | None = None, hic_balance: bool | None = None,
                 attention=None, truth_boundaries=None, chrom_sizes=None, window_bp: int = 100_000, barrier=None,
                 prominence: float = 0.2, tolerance_bp: int | None = None, n_shuffles: int = 1000, seed: int = 0,
                 max_distance_bp: int = 2_000_000, max_pixels: int = 2_000_000, plot: bool = True,
                 reference=None, features=None, baseline_distance_bins: int = 3) -> dict:
    """Boundaries (our BED) against Hi-C insulation boundaries and/or planted truth boundaries, and
    the O/E correlation of attention with Hi-C (see the module docstring); with ``reference`` and
    ``features`` (the cell's signal.zarr) the same figures for as many boundaries called from the
    CTCF (else DNase) signal alone (:mod:`creator.boundary_baselines`); writes summary.tsv,
    hic.json, hic_insulation.tsv, hic_boundaries.bed and insulation.png under ``out``."""
    from creator import boundary_baselines
    from creator.io import read_chrom_sizes

    out = Path(out)
    if hic is None and truth_boundaries is None and attention is None:
        raise InputError("nothing to compare the boundaries with or to show",
                         fix="give --hic and/or --truth-boundaries (or --attention for the insulation track alone)")
    ours = read_boundaries(boundaries, what="boundaries BED")
    method = model or "attention"
    rows: list[dict] = [_row(cell_type, method, "n_boundaries", len(ours), len(ours))]
    info: dict[str, Any] = dict(cell_type=cell_type, model=model, boundaries=str(boundaries), n_boundaries=len(ours))
    sizes: dict[str, int | None] = read_chrom_sizes(chrom_sizes) if chrom_sizes else {}
    att_src = None
    if attention is not None:
        att_src = open_contacts(attention, balance=False, what="attention")
        for c, n in att_src.chroms.items():
            sizes.setdefault(c, n)
    chroms = sorted(set(ours["chrom"]) | (set(att_src.chroms) if att_src else set()), key=chrom_sort_key)
    tracks: dict[str, pd.DataFrame] = {}
    marks: dict[str, pd.DataFrame] = {"ours": ours}
    notes: dict[str, list[str]] = {}
    base_track, base_binned, base_res, base_method = None, None, None, None
    if (reference is None) != (features is None):
        raise InputError("the input-only boundary baseline needs both --reference and --features",
                         fix="give both (the reference directory and the cell's signal.zarr) or neither")
    if features is not None:
        base_res = att_src.resolution if att_src is not None else _bed_resolution(boundaries)
        base_track, base_binned = boundary_baselines.baseline_track(reference, features, base_res, cell=cell_type)
        if base_track is not None:
            base_method = boundary_baselines.method_name(method, base_track)
            info["baseline"] = dict(track=base_track, method=base_method, resolution=base_res,
                                    min_distance_bins=int(baseline_distance_bins), features=str(features))

    def baseline_rows(prefix, ours_set, ref, regions, tol, restrict):
        """The baseline's calls (as many per chromosome as ``ours_set``) and its figures against ``ref``."""
        calls = boundary_baselines.calls_like(base_binned, ours_set, base_res, min_distance_bins=baseline_distance_bins,
                                              regions=regions if restrict else None)
        bov, bsh, brows = _boundary_rows(prefix, cell_type, base_method, calls, ref, regions, tol,
                                         n_shuffles=n_shuffles, seed=seed)
        info["baseline"][prefix] = dict(overlap=bov, shuffles=bsh)
        return calls, bov, bsh, [_row(cell_type, base_method, f"{prefix}_n_boundaries", len(calls), len(calls))] + brows

    if hic is not None:
        hsrc = open_contacts(hic, chrom=hic_chrom, resolution=hic_resolution, balance=hic_balance,
                             length=sizes.get(hic_chrom) if hic_chrom else None)
        needed = [c for c in chroms if c in set(ours["chrom"])] or chroms
        if isinstance(hsrc, JuicerTextSource):
            if hic_chrom not in needed:
                alt = suggest_chrom(hic_chrom, needed)
                raise InputError(f"--hic-chrom {hic_chrom} is not among our chromosomes ({', '.join(needed)})",
                                 path=hsrc.path, fix=f"use --hic-chrom {alt}" if alt else
                                 "give the Hi-C dump of an evaluated chromosome")
            present = [hic_chrom]
        else:
            present = check_assembly(sizes, hsrc, needed, ours_name="the reference/attention",
                                     our_assembly=getattr(att_src, "assembly", None))
        res = hsrc.resolution
        w = max(1, int(round(window_bp / res)))
        tol = tolerance_bp if tolerance_bp is not None else res
        ins_all, hb_all, regions = [], [], {}
        xs, ys, per_chrom = [], [], {}
        for chrom in present:
            hc = hsrc.fetch(chrom, max(2 * w, int(max_distance_bp // res)))
            ins = insulation(hc, w)
            ins_all.append(ins)
            hb_all.append(call_boundaries(ins, prominence=prominence))
            cov = hc.covered()
            if att_src is not None and chrom in att_src.chroms:
                ac = att_src.fetch(chrom, int(max(max_distance_bp, 2 * window_bp) // att_src.resolution))
                a2, h2 = _common_resolution(ac, hc)
                acov = ac.covered()
                # covered by both, at the Hi-C resolution
                acov_h = np.zeros(hc.n_bins, bool)
                if ac.resolution <= res:
                    idx = np.flatnonzero(acov) * ac.resolution // res
                    acov_h[idx[idx < hc.n_bins]] = True
                else:
                    f = ac.resolution // res
                    for k in np.flatnonzero(acov):
                        acov_h[k * f:(k + 1) * f] = True
                cov = cov & acov_h
                x, y = oe_pixels(a2, h2, max_distance_bp, a_absent_is_missing=True)
                per_chrom[chrom] = correlations(x, y)
                xs.append(x)
                ys.append(y)
                att_ins = insulation(ac, max(1, int(round(window_bp / ac.resolution))))
                tracks.setdefault("attention", []).append(att_ins)
            regions[chrom] = _runs(cov, res)
        ins_df = pd.concat(ins_all, ignore_index=True)
        hb = pd.concat(hb_all, ignore_index=True) if hb_all else call_boundaries(ins_df)
        tracks["Hi-C"] = ins_df
        marks["Hi-C"] = hb
        ours_in = _restrict(ours[ours["chrom"].isin(present)], regions)
        hb_in = _restrict(hb, regions)
        ov, sh, brows = _boundary_rows("hic", cell_type, method, ours_in, hb_in, regions, tol,
                                       n_shuffles=n_shuffles, seed=seed)
        rows += brows + [_row(cell_type, "hic", "hic_n_boundaries", len(hb_in), len(hb_in))]
        notes.setdefault("ours", []).append(_note("Hi-C", ov, sh))
        if base_method is not None:
            calls, bov, bsh, brows = baseline_rows("hic", ours_in, hb_in, regions, tol, True)
            rows += brows
            marks.setdefault(f"{base_track} peaks", calls)
            notes.setdefault(f"{base_track} peaks", []).append(_note("Hi-C", bov, bsh))
        hinfo = dict(path=str(hic), resolution=res, balanced=getattr(hsrc, "balance", False), chromosomes=present,
                     window_bp=w * res, prominence=prominence, tolerance_bp=tol, overlap=ov, shuffles=sh,
                     covered_bp={c: float((iv[:, 1] - iv[:, 0]).sum()) for c, iv in regions.items()})
        if xs:
            x, y = np.concatenate(xs), np.concatenate(ys)
            if len(x) > max_pixels:
                pick = np.random.default_rng(seed).choice(len(x), max_pixels, replace=False)
                x, y = x[pick], y[pick]
            cor = correlations(x, y)
            rows += [_row(cell_type, method, "hic_oe_pearson", cor["pearson"], cor["n"]),
                     _row(cell_type, method, "hic_oe_spearman", cor["spearman"], cor["n"])]
            hinfo["oe_correlation"] = dict(all=cor, per_chromosome=per_chrom, max_distance_bp=max_distance_bp,
                                           attention_resolution=att_src.resolution)
        info["hic"] = hinfo
        write_tsv(ins_df, out / "hic_insulation.tsv", float_format="%.5g", na_rep="NA")
        bed = pd.DataFrame({"chrom": hb["chrom"], "start": np.maximum(hb["position"] - res // 2, 0),
                            "end": hb["position"] + res // 2,
                            "name": [f"hic_boundary_{k + 1}" for k in range(len(hb))],
                            "score": hb["prominence"].round(4)})
        write_tsv(bed, out / "hic_boundaries.bed", header=False)

    if truth_boundaries is not None:
        truth = read_boundaries(truth_boundaries, what="truth boundaries BED")
        tol = tolerance_bp if tolerance_bp is not None else (
            hsrc.resolution if hic is not None else att_src.resolution if att_src is not None else 10_000)
        regions = {}
        for chrom in sorted(set(ours["chrom"]) | set(truth["chrom"]), key=chrom_sort_key):
            if sizes.get(chrom):
                regions[chrom] = np.array([[0.0, float(sizes[chrom])]])
            else:
                p = np.r_[ours.loc[ours["chrom"] == chrom, "position"], truth.loc[truth["chrom"] == chrom, "position"]]
                regions[chrom] = np.array([[float(p.min()), float(p.max()) + 1]])
        if not set(ours["chrom"]) & set(truth["chrom"]):
            c = next(iter(ours["chrom"]), None)
            alt = suggest_chrom(c, set(truth["chrom"])) if c else None
            raise InputError(f"our boundaries ({', '.join(sorted(set(ours['chrom'])))}) and the truth "
                             f"({', '.join(sorted(set(truth['chrom'])))}) share no chromosome", path=truth_boundaries,
                             fix=f"rename '{c}' to '{alt}'" if alt else "compare boundaries of the same genome")
        ov, sh, brows = _boundary_rows("planted", cell_type, method, ours, truth, regions, tol,
                                       n_shuffles=n_shuffles, seed=seed)
        rows += brows
        notes.setdefault("ours", []).append(_note("planted", ov, sh))
        if base_method is not None:
            calls, bov, bsh, brows = baseline_rows("planted", ours, truth, regions, tol, False)
            rows += brows
            marks[f"{base_track} peaks"] = calls
            notes.setdefault(f"{base_track} peaks", []).append(_note("planted", bov, bsh))
        info["planted"] = dict(path=str(truth_boundaries), tolerance_bp=tol, overlap=ov, shuffles=sh)
        marks["truth"] = truth
    if att_src is not None and "attention" not in tracks:
        for chrom in chroms:
            if chrom in att_src.chroms:
                ac = att_src.fetch(chrom, int(2 * window_bp // att_src.resolution) + 1)
                tracks.setdefault("attention", []).append(
                    insulation(ac, max(1, int(round(window_bp / ac.resolution)))))
    if isinstance(tracks.get("attention"), list):
        tracks["attention"] = pd.concat(tracks["attention"], ignore_index=True)
    if base_method is not None and f"{base_track} peaks" not in marks:
        marks[f"{base_track} peaks"] = boundary_baselines.calls_like(base_binned, ours, base_res,
                                                                     min_distance_bins=baseline_distance_bins)
    write_summary(rows, out / "summary.tsv")
    write_json(info, out / "hic.json")
    if plot:
        from creator import plots

        bar = None
        if barrier is not None:
            bg = read_bedgraph(barrier, what="barrier bedGraph")
            if (bg["value"] != 0).any():
                bar = pd.DataFrame({"chrom": bg["chrom"], "position": (bg["start"] + bg["end"]) // 2,
                                    "barrier": bg["value"]})
        plots.insulation_tracks(tracks, marks, out / "insulation.png", title=f"{cell_type} {model or ''}".strip(),
                                barrier=bar, notes={k: "; ".join(v) for k, v in notes.items()})
    return info


# ---------------------------------------------------------------------------------------------
# command line


def add_cli(sub) -> None:
    _D = section_defaults("evaluate")  # the config schema's defaults
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evaluate-expression", help="Pearson/Spearman of predicted vs observed expression",
                       description=__doc__.split("\n\n")[0], formatter_class=fmt)
    p.add_argument("--expression", nargs="+", required=True, help="expression.tsv per cell type")
    p.add_argument("--cell", nargs="+", required=True, help="cell type of each --expression, same order")
    p.add_argument("--model", default="creator", help="model name (summary 'method')")
    p.add_argument("--splits", help="gene splits: TSV (gene_id, split) or the trainer's metrics.json")
    p.add_argument("--metrics", help="the trainer's metrics.json: its input-only baselines go beside ours")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_expression)

    p = sub.add_parser("evaluate-links", help="AUPRC/AUROC of link scores against CRISPRi or planted truth",
                       description=__doc__.split("\n\n")[0], formatter_class=fmt)
    p.add_argument("--links", required=True, help="links.tsv.gz of one (model, cell)")
    p.add_argument("--cell", required=True, help="cell type (summary 'cell_type')")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--benchmark", help="CRISPRi benchmark, EPCrisprBenchmark format")
    g.add_argument("--truth-links", help="planted truth links.tsv (synthetic data)")
    p.add_argument("--benchmark-cell", help="CellType of the benchmark to use (default: --cell)")
    p.add_argument("--keep-own-promoter", action="store_true",
                   help="with --truth-links, keep the pairs of genes with their own promoter cCRE")
    p.add_argument("--model", help="model name (prefixes 'method')")
    p.add_argument("--name", help="metric prefix (default crispr / planted)")
    p.add_argument("--max-distance", type=float, help="leave out pairs farther than this (bp) from the TSS")
    p.add_argument("--drop-not-scored", action="store_true",
                   help="leave out pairs without an overlapping cCRE instead of ranking them last")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=PATH:COLUMN",
                   help="another method's predictions to score on the same pairs (repeatable)")
    p.add_argument("--n-boot", type=int, default=_D["n_bootstrap"], help="bootstrap resamples for the intervals (0: none)")
    p.add_argument("--seed", type=int, default=_D["seed"], help="seed of the bootstrap")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_links)

    p = sub.add_parser("evaluate-hic", help="boundaries vs Hi-C insulation / planted truth; attention vs Hi-C",
                       description=__doc__.split("\n\n")[0], formatter_class=fmt)
    p.add_argument("--boundaries", required=True, help="our boundaries.bed")
    p.add_argument("--cell", required=True, help="cell type (summary 'cell_type')")
    p.add_argument("--model", help="model name (summary 'method'; default 'attention')")
    p.add_argument("--hic", help=".cool, .mcool::resolutions/N, or Juicer text dump 'bin1 bin2 count'")
    p.add_argument("--hic-chrom", help="chromosome of a Juicer text dump")
    p.add_argument("--hic-resolution", type=int, help="resolution (bp) of a Juicer text dump")
    p.add_argument("--no-hic-balance", action="store_true", help="raw Hi-C counts even when balanced weights exist")
    p.add_argument("--attention", help="attention of the tads stage: attention.mcool::resolutions/N, or a .cool "
                                       "(raw count pixels used)")
    p.add_argument("--barrier", help="barrier bedGraph of the tads stage (drawn in the plot)")
    p.add_argument("--truth-boundaries", help="planted truth boundaries.bed (synthetic data)")
    p.add_argument("--reference", help="reference directory: with --features, the CTCF/DNase-peak baseline")
    p.add_argument("--features", help="the cell's features signal.zarr (input-only boundary baseline)")
    p.add_argument("--baseline-distance-bins", type=int, default=3,
                   help="baseline calls at least this many bins apart (the tads stage's barrier_distance_bins)")
    p.add_argument("--chrom-sizes", help="chrom.sizes (assembly check, shuffle space)")
    p.add_argument("--window-bp", type=int, default=100_000, help="insulation window (default 100000)")
    p.add_argument("--prominence", type=float, default=0.2, help="min boundary prominence, log2 (default 0.2)")
    p.add_argument("--tolerance-bp", type=int, help="match distance (default: one Hi-C bin)")
    p.add_argument("--n-shuffles", type=int, default=_D["n_shuffles"], help="shuffles for the enrichment (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-distance", type=int, default=2_000_000, help="O/E correlation up to this distance (bp)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_hic)

    p = sub.add_parser("evaluate-summary", help="concatenate partial summary.tsv files",
                       description=__doc__.split("\n\n")[0], formatter_class=fmt)
    p.add_argument("--inputs", nargs="+", required=True, help="summary.tsv files")
    p.add_argument("--out", required=True, help="combined summary.tsv")
    p.set_defaults(func=_cli_summary)


def _cli_expression(args) -> int:
    if len(args.expression) != len(args.cell):
        raise InputError(f"{len(args.expression)} --expression file(s) but {len(args.cell)} --cell name(s)",
                         fix="give one cell type per expression table, in the same order")
    evaluate_expression(dict(zip(args.cell, args.expression)), args.out, model=args.model, splits=args.splits,
                        metrics=args.metrics)
    return 0


def _cli_links(args) -> int:
    if args.benchmark:
        truth = read_benchmark(args.benchmark, cell_type=args.benchmark_cell or args.cell, name=args.name or "crispr")
    else:
        truth = read_truth_links(args.truth_links, exclude_own_promoter=not args.keep_own_promoter,
                                 name=args.name or "planted")
    evaluate_links(args.links, truth, args.out, cell_type=args.cell, model=args.model,
                   max_distance=args.max_distance, drop_not_scored=args.drop_not_scored,
                   peers=[parse_peer(p) for p in args.peer], n_boot=args.n_boot, seed=args.seed)
    return 0


def _cli_hic(args) -> int:
    if args.n_shuffles < 1:
        raise InputError("--n-shuffles must be >= 1", fix="give a positive number")
    evaluate_hic(args.boundaries, args.out, cell_type=args.cell, model=args.model, hic=args.hic,
                 hic_chrom=args.hic_chrom, hic_resolution=args.hic_resolution,
                 hic_balance=False if args.no_hic_balance else None, attention=args.attention, barrier=args.barrier,
                 truth_boundaries=args.truth_boundaries, chrom_sizes=args.chrom_sizes, window_bp=args.window_bp,
                 prominence=args.prominence, tolerance_bp=args.tolerance_bp, n_shuffles=args.n_shuffles,
                 seed=args.seed, max_distance_bp=args.max_distance, reference=args.reference,
                 features=args.features, baseline_distance_bins=args.baseline_distance_bins)
    return 0


def _cli_summary(args) -> int:
    combine_summaries(args.inputs, args.out)
    return 0
