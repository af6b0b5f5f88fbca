"""The workflow as a user runs it: lint, dry-run, and the demo chain on the real K562 chr22 data."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import REPO, copy_workflow

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run(args, cwd, check=True):
    p = subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def test_lint_is_clean():
    p = run(["--lint"], REPO, check=False)
    out = p.stdout + p.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]
    assert "Lints for" not in out


def test_dry_run_plans_the_chain():
    p = run(["-n", "--forceall"], REPO)
    out = p.stdout + p.stderr
    for rule in ("download", "effective_config", "reference", "features", "targets"):
        assert rule in out


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config" / "config.yaml").read_text().replace("transform: log1p", "transform: sqrt"))
    p = run(["-n", "--configfile", str(bad)], REPO, check=False)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "features.transform" in out and "use one of none, log1p, arcsinh" in out


@pytest.mark.slow
def test_demo_runs_the_foundation_stages(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    targets = ["results/features/K562/signal.zarr", "results/targets/K562.parquet"]
    run(["--cores", "2"] + targets, wd)
    arr = zarr.open_array(str(wd / "results/features/K562/signal.zarr"), mode="r")
    assert arr.shape == (17731, 50, 16)
    assert arr.attrs["present_tracks"] == ["DNase", "H3K27ac"]
    t = pd.read_parquet(wd / "results/targets/K562.parquet")
    assert int(np.isfinite(t["tpm"]).sum()) == 462
    for log in ("reference.log", "features/K562.log", "targets/K562.log"):
        assert (wd / "results/logs" / log).exists()
    # a second run has nothing to do (finished work is kept)
    p = run(["--cores", "2", "-n"] + targets, wd)
    assert "Nothing to be done" in p.stdout + p.stderr
