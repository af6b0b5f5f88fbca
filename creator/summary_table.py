"""Markdown tables of a run's figures, rendered from its ``eval/summary.tsv`` (no figure typed by hand).

``creator summary-table --summary results/eval/summary.tsv [--out FILE]`` prints (or writes):

* Expression: Spearman (Pearson in brackets) per split, ours and the input-only baselines the
  trainer scored on the same genes (``<model>/baseline_*``, from ``evaluate-expression --metrics``).
* Links, per cell type and truth (``crispr``/``planted``): AUPRC [95% interval], AUROC and AUPRC
  minus the ABC-like baseline [interval] for every scored method, best first, with the number of
  pairs, positives and the prevalence.
* Boundaries, per cell type: ours and the input-only baseline against each reference (``planted``,
  ``hic``): calls, recall, precision and enrichment over shuffled placements; the count of ours
  alone when there is no reference.

The README's demo table is this command's output on ``results/eval/summary.tsv`` of ``make demo``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

SPLITS = ("test", "val", "train", "all")


def _v(s: pd.DataFrame, method: str, metric: str, cell: str, distance_bin: str = "all"):
    row = s[(s.cell_type == cell) & (s.method == method) & (s.metric == metric) & (s.distance_bin == distance_bin)]
    if len(row) != 1:
        return None
    x = row["value"].iloc[0]
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _f(x, digits=3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _signed(x, digits=3) -> str:
    return "" if x is None else f"{x:+.{digits}f}"


def _ci(s, method, metric, cell, digits=3, signed=False) -> str:
    lo, hi = _v(s, method, f"{metric}_ci95_low", cell), _v(s, method, f"{metric}_ci95_high", cell)
    f = _signed if signed else _f
    return f" [{f(lo, digits)}, {f(hi, digits)}]" if lo is not None and hi is not None else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def expression_table(s: pd.DataFrame) -> list[str]:
    out = []
    e = s[s.metric.str.match(r"^spearman_(all|train|val|test)$")]
    for cell in sorted(e.cell_type.unique()):
        c = e[e.cell_type == cell]
        splits = [x for x in SPLITS if f"spearman_{x}" in set(c.metric)]
        methods = sorted(c.method.unique(), key=lambda m: ("/baseline_" in m, m))
        rows = []
        for m in methods:
            cells = []
            for x in splits:
                sp, pe = _v(s, m, f"spearman_{x}", cell), _v(s, m, f"pearson_{x}", cell)
                n = c[(c.method == m) & (c.metric == f"spearman_{x}")]["n"]
                cells.append(f"{_f(sp)} ({_f(pe)}), n {int(n.iloc[0])}" if sp is not None and len(n) else "")
            label = m.split("/", 1)[1] if "/baseline_" in m else f"**{m}**"
            rows.append([label] + cells)
        out += [f"Expression, {cell}: Spearman (Pearson), genes per split", ""]
        out += _table(["method"] + splits, rows) + [""]
    return out


def links_table(s: pd.DataFrame) -> list[str]:
    out = []
    for prefix in sorted({m.rsplit("_", 1)[0] for m in s.metric if m.endswith("_auprc")}):
        a = s[(s.metric == f"{prefix}_auprc") & (s.distance_bin == "all")]
        for cell in sorted(a.cell_type.unique()):
            c = a[a.cell_type == cell].sort_values("value", ascending=False)
            n_pos = _v(s, "pairs", f"{prefix}_n_positive", cell)
            prev = _v(s, "pairs", f"{prefix}_prevalence", cell)
            rows = []
            for m in c.method:
                minus = _v(s, m, f"{prefix}_auprc_minus_baseline_abc", cell)
                rows.append([m.split("/", 1)[1] if "/" in m and not m.startswith("peer/") else m,
                             _f(_v(s, m, f"{prefix}_auprc", cell)) + _ci(s, m, f"{prefix}_auprc", cell),
                             _f(_v(s, m, f"{prefix}_auroc", cell)),
                             _signed(minus) + _ci(s, m, f"{prefix}_auprc_minus_baseline_abc", cell, signed=True)])
            n = int(c["n"].iloc[0]) if len(c) else 0
            out += [f"Links, {cell} against {prefix} truth: {n:,} pairs, "
                    f"{int(n_pos) if n_pos is not None else '?'} positive (prevalence {_f(prev)})", ""]
            out += _table(["score", "AUPRC [95% interval]", "AUROC", "minus ABC-like [interval]"], rows) + [""]
    return out


def boundaries_table(s: pd.DataFrame) -> list[str]:
    out = []
    nb = s[s.metric == "n_boundaries"]
    for cell in sorted(nb.cell_type.unique()):
        ours = nb[nb.cell_type == cell]["method"].iloc[0]
        n_ours = _v(s, ours, "n_boundaries", cell)
        refs = [p for p in ("planted", "hic") if _v(s, ours, f"{p}_boundary_recall", cell) is not None]
        if not refs:
            out += [f"Boundaries, {cell}: {int(n_ours or 0)} called (no Hi-C or planted boundaries to score "
                    "them against)", ""]
            continue
        rows = []
        for p in refs:
            methods = [ours] + sorted(set(s[(s.cell_type == cell) & s.method.str.startswith(f"{ours}/baseline_")
                                            & (s.metric == f"{p}_boundary_recall")].method))
            for m in methods:
                n = n_ours if m == ours else _v(s, m, f"{p}_n_boundaries", cell)
                rows.append([p, f"**{m}**" if m == ours else m.split("/", 1)[1], _f(n, 0),
                             _f(_v(s, m, f"{p}_boundary_recall", cell), 2),
                             _f(_v(s, m, f"{p}_boundary_precision", cell), 2),
                             _f(_v(s, m, f"{p}_boundary_enrichment", cell), 2) + "x"])
        out += [f"Boundaries, {cell}", ""]
        out += _table(["against", "method", "calls", "recall", "precision", "fold over shuffled"], rows) + [""]
    return out


def render(summary) -> str:
    """The Markdown of a summary (path or frame)."""
    from creator.evaluate import read_summary

    s = read_summary(summary) if not isinstance(summary, pd.DataFrame) else summary
    s = s.astype({"cell_type": str, "method": str, "metric": str, "distance_bin": str})
    lines = expression_table(s) + links_table(s) + boundaries_table(s)
    return "\n".join(lines).rstrip() + "\n"


def add_cli(sub) -> None:
    p = sub.add_parser("summary-table", help="Markdown tables of eval/summary.tsv (the README's demo table)",
                       description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--summary", required=True, help="eval/summary.tsv of a run")
    p.add_argument("--out", help="write here (default: print)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    text = render(args.summary)
    if args.out:
        from creator.io import atomic_path

        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(text)
    else:
        print(text, end="")
    return 0
