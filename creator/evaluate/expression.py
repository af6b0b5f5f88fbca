"""Expression: Pearson and Spearman of predictions against RNA-seq, overall and per split. (Part of
:mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from creator.errors import InputError
from creator.formats import evaluate_outputs
from creator.io import strip_version, write_json

from creator.ranking import correlations

from .common import ALL, _float_column, _read_table, _require_columns, _row, write_summary

log = logging.getLogger("creator.evaluate")


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
    files = evaluate_outputs(out, "expression")
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
    write_summary(rows, files["summary"])
    write_json({"model": model, "cells": result}, files["json"])
    if plot:
        from creator import plots

        plots.expression_scatter(tables, files["scatter"], title=model)
    return result
