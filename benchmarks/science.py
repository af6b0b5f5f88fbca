"""The science across training seeds: the synthetic workflow (config/synthetic.yaml) once per seed.

The test suite runs the synthetic chain once (one seed) and checks floors; this script is where
the seed-to-seed spread is measured and where the README's seed table comes from. For each seed it
runs the workflow up to the held-out cell type's link and boundary evaluations, as model
``creator_synthetic_s<seed>`` in one results folder (simulation, reference and features are built
once and shared), and prints, per seed, the planted-link AUPRC of ``Score`` against the distance and
ABC-like baselines and the planted-boundary recall and enrichment; the last line counts the seeds
on which Score beats both baselines.

    python benchmarks/science.py                        # seeds 0 1 2, the config's epochs
    python benchmarks/science.py --seeds 0 1 2 3 4 --epochs 30 --cores 2
    python benchmarks/science.py --workdir /tmp/sci     # keep the runs (default: a temporary copy)
    python benchmarks/science.py --train-threads 0      # training on the rule's threads (2), as before
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
CELL = "cellD"


def copy_workflow(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".venv", ".git", "results*", ".snakemake", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "synthetic", "data")
    shutil.copytree(REPO, dest, ignore=ignore, dirs_exist_ok=True)
    return dest


def value(s: pd.DataFrame, method: str, metric: str) -> float:
    row = s[(s.cell_type == CELL) & (s.method == method) & (s.metric == metric) & (s.distance_bin == "all")]
    return float(row["value"].iloc[0]) if len(row) == 1 else float("nan")


def run_seed(wd: Path, seed: int, epochs: int | None, cores: int, train_threads: int | None = 1) -> dict:
    model = f"creator_synthetic_s{seed}"
    train = {"seed": seed, **({"max_epochs": epochs} if epochs else {})}
    extra = wd / "config" / f"science_s{seed}.yaml"  # merged over config/synthetic.yaml
    extra.write_text(yaml.safe_dump({"model_name": model, "train": train}))
    out = wd / "results" / "synthetic" / "eval" / model
    targets = [f"results/synthetic/eval/{model}/links/{CELL}/summary.tsv",
               f"results/synthetic/eval/{model}/tads/{CELL}/summary.tsv"]
    threads = ["--set-threads", f"train={train_threads}"] if train_threads else []
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), *threads, "--configfile", "config/synthetic.yaml",
           str(extra.relative_to(wd)), "--", *targets]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=wd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"seed {seed}: snakemake failed\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    links = pd.read_csv(out / "links" / CELL / "summary.tsv", sep="\t")
    tads = pd.read_csv(out / "tads" / CELL / "summary.tsv", sep="\t")
    return dict(seed=seed, minutes=(time.perf_counter() - t0) / 60,
                score=value(links, f"{model}/Score", "planted_auprc"),
                abc=value(links, f"{model}/baseline_abc", "planted_auprc"),
                distance=value(links, f"{model}/baseline_distance", "planted_auprc"),
                recall=value(tads, model, "planted_boundary_recall"),
                enrichment=value(tads, model, "planted_boundary_enrichment"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="train.max_epochs (default: the config's)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--train-threads", type=int, default=1,
                    help="torch threads of the training job (default 1, as the test suite trains; 0: the rule's). "
                         "The thread count changes the rounding, hence the trained model")
    ap.add_argument("--workdir", type=Path, default=None, help="run here (kept); default: a temporary copy")
    args = ap.parse_args(argv)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="creator-science-")
        wd = copy_workflow(Path(tmp.name) / "wf")
    else:
        wd = copy_workflow(args.workdir)
    try:
        rows = []
        for seed in args.seeds:
            rows.append(run_seed(wd, seed, args.epochs, args.cores, args.train_threads))
            r = rows[-1]
            print(f"seed {seed}: Score AUPRC {r['score']:.3f}, ABC-like {r['abc']:.3f}, distance {r['distance']:.3f}; "
                  f"boundaries recall {r['recall']:.2f}, {r['enrichment']:.2f}-fold over shuffled "
                  f"({r['minutes']:.1f} min)", flush=True)
        table = pd.DataFrame(rows)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        wins = int(((table.score > table.abc) & (table.score > table.distance)).sum())
        print(f"Score beats both baselines on {wins} of {len(table)} seeds")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
