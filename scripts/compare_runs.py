#!/usr/bin/env python
"""Compare two runs' results (e.g. `make demo` before and after a refactoring) number by number.

    python scripts/compare_runs.py OLD_RESULTS NEW_RESULTS [--tol 1e-6]

Compares what a run produces, whatever the container format: predictions (expression.tsv), link
tables (links.tsv.gz, read with or without a '#' header), boundaries and loops, the attention map
(a single-resolution .cool or the base resolution of an .mcool), insulation (bedGraph, NaN lines
ignored), and eval/summary.tsv (the rows both runs have; rows only one has are listed). Prints one
line per file and exits 1 when a shared number differs by more than --tol (absolute).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from creator.io import read_table  # noqa: E402


def _frames_differ(a: pd.DataFrame, b: pd.DataFrame, tol: float) -> str | None:
    if list(a.columns) != list(b.columns):
        common = [c for c in a.columns if c in b.columns]
        a, b = a[common], b[common]
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    worst = 0.0
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            if not np.array_equal(np.isnan(xv), np.isnan(yv)):
                return f"column {c}: NaN in different rows"
            ok = ~np.isnan(xv)
            if ok.any():
                worst = max(worst, float(np.abs(xv[ok] - yv[ok]).max()))
        elif not (x.astype(str).to_numpy() == y.astype(str).to_numpy()).all():
            return f"column {c}: different values"
    return f"max |diff| {worst:.3g}" + (" > tol" if worst > tol else "") if worst > tol else None


def _attention(path: Path) -> pd.DataFrame:
    import cooler

    if path.suffix == ".mcool":
        res = min(int(u.rsplit("/", 1)[-1]) for u in cooler.fileops.list_coolers(str(path)))
        c = cooler.Cooler(f"{path}::resolutions/{res}")
    else:
        c = cooler.Cooler(str(path))
    return c.pixels()[:][["bin1_id", "bin2_id", "count"]]


def _bedgraph(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", header=None, comment="#", names=["chrom", "start", "end", "value"])
    return df[np.isfinite(df["value"])].reset_index(drop=True)


def compare(old: Path, new: Path, tol: float) -> int:
    bad = 0

    def report(name, msg):
        nonlocal bad
        status = "same" if msg is None else msg
        if msg is not None and ("tol" in msg or "rows" in msg or "different" in msg or "NaN" in msg):
            bad += 1
        print(f"{name}: {status}")

    for f in sorted(old.glob("predict/*/*/expression.tsv")):
        g = new / f.relative_to(old)
        report(str(f.relative_to(old)), _frames_differ(pd.read_csv(f, sep="\t"), pd.read_csv(g, sep="\t"), tol))
    for f in sorted(old.glob("links/*/*/links.tsv.gz")):
        g = new / f.relative_to(old)
        report(str(f.relative_to(old)), _frames_differ(read_table(f), read_table(g), tol))
    for f in sorted(old.glob("tads/*/*/boundaries.bed")) + sorted(old.glob("tads/*/*/loops.bedpe")):
        g = new / f.relative_to(old)
        a = pd.read_csv(f, sep="\t", header=None, comment="#")
        b = pd.read_csv(g, sep="\t", header=None, comment="#")
        report(str(f.relative_to(old)), _frames_differ(a, b, tol))
    for f in sorted(old.glob("tads/*/*/insulation.bedgraph")):
        g = new / f.relative_to(old)
        report(str(f.relative_to(old)), _frames_differ(_bedgraph(f), _bedgraph(g), tol))
    for f in sorted(old.glob("tads/*/*/attention.*cool")):
        cands = sorted(g for g in (new / f.parent.relative_to(old)).glob("attention.*cool"))
        if cands:
            report(str(f.relative_to(old)) + " vs " + cands[0].name,
                   _frames_differ(_attention(f), _attention(cands[0]), tol))
    f, g = old / "eval" / "summary.tsv", new / "eval" / "summary.tsv"
    if f.exists() and g.exists():
        a, b = pd.read_csv(f, sep="\t"), pd.read_csv(g, sep="\t")
        keys = [c for c in a.columns if c not in ("value", "lower", "upper", "n")]
        m = a.merge(b, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
        only_old, only_new = (m["_merge"] == "left_only").sum(), (m["_merge"] == "right_only").sum()
        both = m[m["_merge"] == "both"]
        d = np.abs(both["value_old"].astype(float) - both["value_new"].astype(float))
        worst = float(np.nanmax(d)) if len(d) else 0.0
        msg = None if worst <= tol else f"max |diff| {worst:.3g} > tol"
        print(f"eval/summary.tsv: {len(both)} shared rows, max |diff| {worst:.3g}; {only_old} rows only in old, "
              f"{only_new} only in new")
        if msg:
            bad += 1
            print(both.assign(diff=d)[d > tol].head(20).to_string())
    print("identical within tolerance" if not bad else f"{bad} file(s) differ")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    return compare(args.old, args.new, args.tol)


if __name__ == "__main__":
    sys.exit(main())
