#!/usr/bin/env python
"""Benchmark: extraction throughput of ``creator features`` against deeptools on the same data.

Both tools read the same bigWigs over the same regions (the reference's recentred ``element_bp``
cCREs) and produce the same numbers: the mean of the per-base signal in each 10 bp bin (missing
data as zero), i.e. ``n_ccre x 50 bins x n_bigwig`` values. Throughput is values per second of
the whole process wall clock (interpreter start-up, imports and output writing included) for
both, each run in its own child process, best of ``--repeats``.

Data sets
    demo   the real demo bigWigs (resources/demo/k562, chr22 of them; one constant value per region)
    dense  (``--dense``, default) a synthetic bedGraph-like pair over chr22 that covers every
           base of the cCRE span with short intervals (mean 10 bp) of varying value, like an
           ENCODE fold-change bigWig; the speedup is reported on this pair

deeptools runs ``computeMatrix scale-regions -a 0 -b 0 --regionBodyLength 500 --binSize 10
--missingDataAsZero -p 1`` (50 bins per region per bigWig; also ``-p 2``) and ``multiBigwigSummary
BED-file -p 1`` (one value per region per bigWig). Our bin means (``transform='none'``) are
compared with computeMatrix's matrix: the run fails (exit 1) when any value differs by more than
float16 rounding. Peak RSS of ours is measured in a fresh child process on the cCREs and on a
4x larger synthetic reference (every cCRE tiled 4 times), to show it is bounded by a block.

The last line reads ``speedup: <ours values/s / computeMatrix -p 1 values/s>``.

    .venv/bin/python benchmarks/features.py [--repeats 3] [--quick] [--no-dense] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo" / "k562_chr22"
DEMO_BIGWIGS = ROOT / "resources" / "demo" / "k562"  # chr16 + chr22 bigWigs; the benchmark reads chr22
ELEMENT_BP = 500
RESOLUTION_BP = 10
N_BINS = ELEMENT_BP // RESOLUTION_BP
TRACKS = ("DNase", "H3K27ac")
QUICK_CCRES = 800
#: float16 has an 11-bit significand: rounding moves a value by at most 2**-11 of itself;
#: allow twice that (plus a tiny absolute slack for float32 summation and subnormals).
RTOL = 2.0 ** -10
ATOL = 1e-5

sys.path.insert(0, str(ROOT))


def bin_dir() -> Path:
    """Where the deeptools executables live: next to this interpreter (the project venv)."""
    for d in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (d / "computeMatrix").exists():
            return d
    found = shutil.which("computeMatrix")
    if found:
        return Path(found).parent
    sys.exit("computeMatrix not found: install deepTools (pip install deepTools==3.5.6)")


# ----------------------------------------------------------------------------- child processes

#: A tiny interpreter that runs the command and reports its wall clock and peak RSS. Measuring from
#: here would be wrong: a child's ru_maxrss starts at its parent's RSS at fork/exec time (Linux
#: copies the old image's high-water mark on exec), and this process holds pandas, zarr, ....
LAUNCHER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[2:], stdout=open(sys.argv[1] + '.out', 'wb'), stderr=open(sys.argv[1] + '.err', 'wb'))
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump(dict(rc=rc, wall=wall, rss_mb=ru.ru_maxrss / 1024.0), open(sys.argv[1], 'w'))
"""


def run_child(cmd: list[str], *, cwd=None) -> dict:
    """Run ``cmd`` through :data:`LAUNCHER`: wall clock, peak RSS (the largest process of the
    command and of the children it waited for, e.g. deeptools' pool workers) and stdout."""
    with tempfile.TemporaryDirectory(prefix="bench_run_") as d:
        rep = Path(d) / "report.json"
        subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(rep), *map(str, cmd)], cwd=cwd, check=True)
        r = json.loads(rep.read_text())
        stdout = Path(str(rep) + ".out").read_text(errors="replace")
        stderr = Path(str(rep) + ".err").read_text(errors="replace")
    if r["rc"] != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"command failed ({r['rc']}): {' '.join(map(str, cmd))}")
    return dict(wall=r["wall"], rss_mb=r["rss_mb"], stdout=stdout)


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child_main(spec: str) -> None:
    """Inside a fresh interpreter: run extract_features, print elapsed and peak RSS as JSON."""
    args = json.loads(spec)
    import pyBigWig  # noqa: F401  (imports counted in the baseline, not in the extraction)
    import zarr  # noqa: F401

    from creator.features import extract_features

    base = _proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    extract_features(reference_dir=args["reference"], tracks=args["tracks"], out=args["out"],
                     resolution_bp=RESOLUTION_BP, transform=args["transform"],
                     block_ccres=args["block_ccres"], cell_type="bench")
    elapsed = time.perf_counter() - t0
    # VmHWM is this image's own high-water mark (reset by exec, unlike ru_maxrss)
    print(json.dumps(dict(elapsed=elapsed, base_mb=base, hwm_mb=_proc_status_mb("VmHWM"))))


def run_ours(reference: Path, tracks: dict, out: Path, *, transform="log1p", block_ccres=1024) -> dict:
    if out.exists():
        shutil.rmtree(out)
    spec = json.dumps(dict(reference=str(reference), tracks={k: str(v) for k, v in tracks.items()},
                           out=str(out), transform=transform, block_ccres=block_ccres))
    r = run_child([sys.executable, str(Path(__file__).resolve()), "--_child", spec], cwd=ROOT)
    inner = json.loads(r["stdout"].strip().splitlines()[-1])
    return dict(wall=r["wall"], rss_mb=inner["hwm_mb"], base_mb=inner["base_mb"], elapsed=inner["elapsed"])


# ----------------------------------------------------------------------------- inputs

def build_demo_reference(out: Path) -> dict:
    from creator.reference import build_reference

    return build_reference(ccres_path=DEMO / "candidate_regions.chr22.bed",
                           genes_path=DEMO / "refseq_genes.chr22.bed", genes_format="bed",
                           chrom_sizes_path=DEMO / "hg38.chrom.sizes", out_dir=out,
                           element_bp=ELEMENT_BP, window_bp=1_000_000,
                           blacklist_path=DEMO / "GRCh38_unified_blacklist.bed",
                           chromosomes=["chr22"])


def derived_reference(src: Path, out: Path, ccres) -> None:
    """A reference directory holding ``ccres`` (what the features stage reads: ccres.parquet and
    windows.npz's element_bp / reference_id); the gene windows are not meaningful here."""
    from creator.reference import reference_id

    out.mkdir(parents=True, exist_ok=True)
    ccres = ccres.reset_index(drop=True)
    ccres.to_parquet(out / "ccres.parquet", index=False)
    with np.load(src / "windows.npz") as w:
        d = dict(w)
    d["reference_id"] = np.array(reference_id(ccres, ELEMENT_BP))
    d["ccre_center"] = ccres["center"].to_numpy(np.int64)
    np.savez(out / "windows.npz", **d)


def tiled(ccres, times: int, step_bp: int = 37):
    """Every cCRE ``times`` times, shifted by ``k * step_bp`` (still sorted, same chromosome)."""
    import pandas as pd

    parts = []
    for k in range(times):
        p = ccres.copy()
        for col in ("start", "end", "center"):
            p[col] = p[col] + k * step_bp
        parts.append(p)
    from creator.reference import sort_by_chrom

    return sort_by_chrom(pd.concat(parts, ignore_index=True), "start")


def write_regions_bed(ccres, path: Path) -> None:
    with open(path, "w") as fh:
        for i, (c, s, e) in enumerate(zip(ccres["chrom"], ccres["start"], ccres["end"])):
            fh.write(f"{c}\t{s}\t{e}\tc{i}\t0\t+\n")


def write_dense_bigwig(path: Path, chrom: str, chrom_size: int, lo: int, hi: int, centers: np.ndarray,
                       *, seed: int, mean_len: int = 10, peak_gain: float = 8.0,
                       gap_frac: float = 0.03) -> int:
    """A bedGraph-like bigWig: consecutive intervals of random length (1 .. 2*mean_len-1 bp) that
    tile ``[lo, hi)``, each with its own value (log-normal background, higher near cCRE centres);
    ``gap_frac`` of them are left out (no data, read as zero). Returns the number of intervals."""
    import pyBigWig

    rng = np.random.default_rng(seed)
    n_est = int((hi - lo) / mean_len * 1.1) + 16
    lengths = rng.integers(1, 2 * mean_len, size=n_est)
    starts = lo + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    keep = starts < hi
    starts, lengths = starts[keep], lengths[keep]
    ends = np.minimum(starts + lengths, hi)
    mids = (starts + ends) // 2
    j = np.clip(np.searchsorted(centers, mids), 1, len(centers) - 1)
    dist = np.minimum(np.abs(mids - centers[j - 1]), np.abs(mids - centers[j]))
    vals = rng.lognormal(mean=-0.5, sigma=0.8, size=len(starts)) * (1.0 + peak_gain * np.exp(-dist / 400.0))
    keep = rng.random(len(starts)) >= gap_frac
    starts, ends, vals = starts[keep], ends[keep], vals[keep]
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([(chrom, int(chrom_size))], maxZooms=10)
    step = 500_000
    for a in range(0, len(starts), step):
        b = min(a + step, len(starts))
        bw.addEntries([chrom] * (b - a), starts[a:b].astype(np.int64).tolist(),
                      ends=ends[a:b].astype(np.int64).tolist(), values=vals[a:b].astype(np.float64).tolist())
    bw.close()
    return len(starts)


# ----------------------------------------------------------------------------- deeptools

def run_compute_matrix(bins: Path, bed: Path, bigwigs: list[Path], out: Path, procs: int) -> dict:
    cmd = [str(bins / "computeMatrix"), "scale-regions", "-S", *map(str, bigwigs), "-R", str(bed),
           "-o", str(out), "--regionBodyLength", str(ELEMENT_BP), "--binSize", str(RESOLUTION_BP),
           "-a", "0", "-b", "0", "--missingDataAsZero", "--sortRegions", "keep", "-p", str(procs)]
    return run_child(cmd)


def read_compute_matrix(path: Path, n_bw: int):
    """computeMatrix output -> (region index from the BED name, values [n, N_BINS, n_bw])."""
    import pandas as pd

    with gzip.open(path, "rt") as fh:
        header = json.loads(fh.readline()[1:])
        df = pd.read_csv(fh, sep="\t", header=None)
    assert header["body"] == [ELEMENT_BP] * n_bw and header["bin size"] == [RESOLUTION_BP] * n_bw, header
    idx = df[3].str.slice(1).astype(np.int64).to_numpy()
    vals = df.iloc[:, 6:].to_numpy(np.float64)
    assert vals.shape[1] == N_BINS * n_bw, vals.shape
    return idx, vals.reshape(len(vals), n_bw, N_BINS).transpose(0, 2, 1)


def run_mbs(bins: Path, bed: Path, bigwigs: list[Path], workdir: Path, procs: int) -> dict:
    cmd = [str(bins / "multiBigwigSummary"), "BED-file", "-b", *map(str, bigwigs), "--BED", str(bed),
           "-o", str(workdir / "mbs.npz"), "--outRawCounts", str(workdir / "mbs.tab"), "-p", str(procs)]
    return run_child(cmd)


def read_mbs(path: Path, ccres):
    """multiBigwigSummary raw counts -> (region index, per-region means [n, n_bw])."""
    import pandas as pd

    df = pd.read_csv(path, sep="\t", comment=None)
    key = {(s, e): i for i, (s, e) in enumerate(zip(ccres["start"], ccres["end"]))}
    idx = np.array([key[(s, e)] for s, e in zip(df.iloc[:, 1], df.iloc[:, 2])], dtype=np.int64)
    return idx, np.nan_to_num(df.iloc[:, 3:].to_numpy(np.float64), nan=0.0)


# ----------------------------------------------------------------------------- one data set

def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall"])


def bench_dataset(name: str, reference: Path, bigwigs: dict, work: Path, args, bins: Path) -> dict:
    import pandas as pd
    import zarr

    from creator.formats import TRACK_INDEX

    work.mkdir(parents=True, exist_ok=True)
    ccres = pd.read_parquet(reference / "ccres.parquet")
    n = len(ccres)
    bed = work / "regions.bed"
    write_regions_bed(ccres, bed)
    bw_list = [bigwigs[t] for t in TRACKS]
    n_values = n * N_BINS * len(TRACKS)
    rows = []

    ours = best([run_ours(reference, bigwigs, work / f"ours{r}.zarr") for r in range(args.repeats)])
    rows.append(("creator features", ours["wall"], n_values, ours["rss_mb"],
                 f"extract_features() {ours['elapsed']:.2f}s; RSS after imports {ours['base_mb']:.0f} MB"))

    cm = best([run_compute_matrix(bins, bed, bw_list, work / "cm1.gz", 1) for _ in range(args.repeats)])
    rows.append(("computeMatrix -p 1", cm["wall"], n_values, cm["rss_mb"], ""))
    if args.p2:
        cm2 = best([run_compute_matrix(bins, bed, bw_list, work / "cm2.gz", 2) for _ in range(args.repeats)])
        rows.append(("computeMatrix -p 2", cm2["wall"], n_values, cm2["rss_mb"], "2 cores"))
    mbs = None
    if args.mbs:
        mbs = best([run_mbs(bins, bed, bw_list, work, 1) for _ in range(args.repeats)])
        rows.append(("multiBigwigSummary -p 1", mbs["wall"], n * len(TRACKS), mbs["rss_mb"], "1 value/region"))

    # ---- agreement: our untransformed float16 bin means vs computeMatrix's float64 ones
    ours_none = run_ours(reference, bigwigs, work / "ours_none.zarr", transform="none")
    arr = zarr.open_array(str(work / "ours_none.zarr"), mode="r")
    cols = [TRACK_INDEX[t] for t in TRACKS]
    mine = np.asarray(arr[:])[:, :, cols].astype(np.float64)          # [n, N_BINS, n_bw]
    idx, ref = read_compute_matrix(work / "cm1.gz", len(TRACKS))
    ok = len(idx) == n and np.array_equal(np.sort(idx), np.arange(n))
    mine_r = mine[idx]
    diff = np.abs(mine_r - ref)
    bad = diff > RTOL * np.abs(ref) + ATOL
    agree = bool(ok and not bad.any())
    rel = diff / np.maximum(np.abs(ref), 1e-12)
    mbs_diff = None
    if mbs is not None:
        midx, mvals = read_mbs(work / "mbs.tab", ccres)
        mbs_diff = float(np.abs(mine[midx].mean(axis=1) - mvals).max())

    print(f"\n== {name}: {n} cCREs x {N_BINS} bins x {len(TRACKS)} bigWigs = {n_values:,} values")
    print(f"{'tool':<26}{'wall s':>9}{'values':>12}{'values/s':>14}{'peak RSS MB':>13}  note")
    for tool, wall, nv, rss, note in rows:
        print(f"{tool:<26}{wall:>9.2f}{nv:>12,}{nv / wall:>14,.0f}{rss:>13.1f}  {note}")
    print(f"agreement vs computeMatrix: {'OK' if agree else 'FAILED'} "
          f"(regions {len(idx)}/{n}, max abs diff {diff.max():.3g}, max rel diff {rel.max():.3g}, "
          f"tolerance {RTOL:.3g}*|x|+{ATOL:g}, {int(bad.sum())} values outside)")
    if mbs_diff is not None:
        print(f"multiBigwigSummary region means vs ours averaged over the bins: max abs diff {mbs_diff:.3g} "
              "(info only: it uses bigWig zoom summaries and averages covered bases only)")
    return dict(n=n, n_values=n_values, ours=ours, cm=cm, agree=agree,
                ours_vps=n_values / ours["wall"], cm_vps=n_values / cm["wall"],
                ours_none_rss=ours_none["rss_mb"])


# ----------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1, help="take the best of N runs (default 1)")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_CCRES} cCREs only (for the tests)")
    ap.add_argument("--dense", action=argparse.BooleanOptionalAction, default=True,
                    help="also benchmark a synthetic dense per-base bigWig pair (default on)")
    ap.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                    help="benchmark the real demo bigWigs (default on)")
    ap.add_argument("--p2", action=argparse.BooleanOptionalAction, default=None,
                    help="also run computeMatrix -p 2 (default: on unless --quick)")
    ap.add_argument("--mbs", action=argparse.BooleanOptionalAction, default=True,
                    help="also run multiBigwigSummary BED-file (default on)")
    ap.add_argument("--tile", type=int, default=4, help="RSS check on a reference this many times larger")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        child_main(args._child)
        return 0
    if args.p2 is None:
        args.p2 = not args.quick
    if not (args.demo or args.dense):
        ap.error("nothing to run: both --no-demo and --no-dense")
    bins = bin_dir()

    import pandas as pd

    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
        ctx = None
    else:
        ctx = tempfile.TemporaryDirectory(prefix="bench_features_")
        work = Path(ctx.name)
    try:
        full_ref = work / "reference_full"
        summ = build_demo_reference(full_ref)
        ccres = pd.read_parquet(full_ref / "ccres.parquet")
        if args.quick:
            ccres = ccres.iloc[len(ccres) // 3: len(ccres) // 3 + QUICK_CCRES]
            ref = work / "reference"
            derived_reference(full_ref, ref, ccres)
        else:
            ref = full_ref
        ccres = ccres.reset_index(drop=True)
        print(f"reference: {summ['n_ccres']} cCREs on chr22 (element_bp {ELEMENT_BP}); benchmark uses {len(ccres)}"
              f"{' (--quick)' if args.quick else ''}; resolution {RESOLUTION_BP} bp -> {N_BINS} bins; "
              f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")

        results = {}
        if args.demo:
            demo_bw = {t: DEMO_BIGWIGS / f"K562.{t}.bigWig" for t in TRACKS}
            results["demo"] = bench_dataset("demo bigWigs (region-constant)", ref, demo_bw, work / "demo", args, bins)
        dense_bw = None
        if args.dense:
            sizes = dict(line.split()[:2] for line in open(DEMO / "hg38.chrom.sizes") if line.strip())
            lo = int(ccres["start"].min()) - 2_000
            hi = int(ccres["end"].max()) + 2_000
            centers = ccres["center"].to_numpy(np.int64)
            dense_bw = {}
            t0 = time.perf_counter()
            n_iv = []
            for k, t in enumerate(TRACKS):
                dense_bw[t] = work / f"dense.{t}.bigWig"
                n_iv.append(write_dense_bigwig(dense_bw[t], "chr22", int(sizes["chr22"]), max(lo, 0), hi,
                                               centers, seed=k + 1, peak_gain=8.0 if k == 0 else 3.0))
            mb = sum(p.stat().st_size for p in dense_bw.values()) / 2**20
            print(f"\ndense bigWigs: chr22:{lo:,}-{hi:,}, {n_iv[0]:,} + {n_iv[1]:,} intervals (mean 10 bp), "
                  f"{mb:.0f} MB, written in {time.perf_counter() - t0:.1f}s")
            results["dense"] = bench_dataset("dense bigWigs (bedGraph-like, 10 bp intervals)", ref, dense_bw,
                                             work / "dense", args, bins)

        # ---- peak RSS at 1x and at tile-x cCREs (fresh child processes, same bigWigs)
        rss_bw = dense_bw or {t: DEMO_BIGWIGS / f"K562.{t}.bigWig" for t in TRACKS}
        big = work / f"reference_x{args.tile}"
        derived_reference(full_ref, big, tiled(ccres, args.tile))
        r1 = run_ours(ref, rss_bw, work / "rss1.zarr")
        rk = run_ours(big, rss_bw, work / f"rss{args.tile}.zarr")
        print(f"\npeak RSS (ours, fresh process, {'dense' if dense_bw else 'demo'} bigWigs): "
              f"{len(ccres)} cCREs {r1['rss_mb']:.1f} MB; {args.tile}x = {len(ccres) * args.tile} cCREs "
              f"{rk['rss_mb']:.1f} MB (ratio {rk['rss_mb'] / r1['rss_mb']:.2f}; after imports "
              f"{r1['base_mb']:.0f} / {rk['base_mb']:.0f} MB; block_ccres 1024; "
              f"extract {r1['elapsed']:.2f}s vs {rk['elapsed']:.2f}s)")

        agree = all(r["agree"] for r in results.values())
        key = "dense" if "dense" in results else "demo"
        r = results[key]
        speedup = r["ours_vps"] / r["cm_vps"]
        print(f"\nsummary ({key}): ours {r['ours_vps']:,.0f} values/s, computeMatrix -p 1 {r['cm_vps']:,.0f} values/s; "
              f"value agreement: {'OK' if agree else 'FAILED'}")
        if not agree:
            print("ERROR: creator features and computeMatrix disagree beyond float16 rounding", file=sys.stderr)
        print(f"speedup: {speedup:.3f}")
        return 0 if agree else 1
    finally:
        if ctx is not None:
            ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
