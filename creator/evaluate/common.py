"""Shared pieces of the evaluation: summary rows and files, table readers, distance bins. (Part of
:mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from creator import linkscore, ranking
from creator.errors import InputError
from creator.io import open_text, write_tsv


log = logging.getLogger("creator.evaluate")


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
