"""The workflow as a user runs it: lint, dry-run, and the demo chain on the real K562 chr16 + chr22 data."""

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import REPO, copy_workflow, run


def test_lint_is_clean():
    p = run(["--lint"], REPO, check=False)
    out = p.stdout + p.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]
    assert "Lints for" not in out


def test_dry_run_plans_the_chain(tmp_path):
    wd = copy_workflow(tmp_path / "wf")  # a run in progress in the checkout must not matter
    p = run(["-n", "--forceall"], wd)
    out = p.stdout + p.stderr
    for rule in ("download", "reference", "features", "targets", "train", "predict", "links", "tads",
                 "evaluate_expression", "evaluate_tads", "evaluate_summary", "locus_view"):
        assert rule in out


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config" / "config.yaml").read_text() + "features: {transform: sqrt}\n")
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
    # 41,829 + 17,732 candidate elements of chr16 and chr22 less 3 in the blacklist
    # (resources/demo/k562/PROVENANCE.md)
    assert arr.shape == (59558, 50, 16)
    assert arr.attrs["present_tracks"] == ["DNase", "H3K27ac"]
    t = pd.read_parquet(wd / "results/targets/K562.parquet")
    # 930 + 517 genes, of which the RNA-seq table names 1,296 (462 of chr22's, as the shared README says)
    assert len(t) == 1447 and int(np.isfinite(t["tpm"]).sum()) == 1296
    for log in ("reference.log", "features/K562.log", "targets/K562.log"):
        assert (wd / "results/logs" / log).exists()
    # a second run has nothing to do (finished work is kept)
    p = run(["--cores", "2", "-n"] + targets, wd)
    assert "Nothing to be done" in p.stdout + p.stderr


def test_command_line_configfile_replaces_the_default(tmp_path):
    """Keys left out of a user's --configfile must not be inherited from the demo config."""
    p = run(["-n", "--forceall", "--configfile", "config/synthetic.yaml", "--printshellcmds"], REPO)
    out = p.stdout + p.stderr
    assert "4176bde662cc0e5f191ef0684878d8ee" not in out  # the demo cCRE md5
    assert "resources/synthetic/data/reference/ccres.bed" in out


def test_rules_pass_settings_as_config_and_the_files_they_declare():
    """Every stage command gets its settings through --config (evaluate-expression and -summary have
    none); train gets each cell type's declared files; the reference, model and predict files the
    rules declare are the names creator.formats gives, and so are the evaluations' declared files."""
    from creator.formats import EVALUATE_OUTPUTS, PREDICT_OUTPUTS, REFERENCE_FILES, TRAIN_OUTPUTS

    p = run(["-n", "--forceall", "--printshellcmds", "--configfile", "config/synthetic.yaml"], REPO)
    out = p.stdout + p.stderr
    commands = [line for line in out.splitlines() if " -m creator --log " in line]
    stage = {c: c.split(" -m creator --log ", 1)[1].split()[1] for c in commands}
    assert {s for c, s in stage.items() if "--config" not in c.split()} == {"evaluate-expression", "evaluate-summary"}
    assert {"download", "reference", "features", "targets", "train", "predict", "links", "tads", "evaluate-links",
            "evaluate-hic"} <= set(stage.values())
    assert not any(flag in out for flag in ("--features-dir", "--targets-dir", "--n-boot", "--n-shuffles", "--retries"))
    (train,) = [c for c, s in stage.items() if s == "train"]
    from creator.config import cell_types, read_samples

    cells = cell_types(read_samples(REPO / "config/samples.synthetic.tsv"), ("train", "test"))
    assert len(cells) > 2
    for cell in cells:
        assert f" {cell}=results/synthetic/features/{cell}/signal.zarr " in train
        assert f" {cell}=results/synthetic/targets/{cell}.parquet " in train
    assert train.count("=results/synthetic/features/") == len(cells)
    for name in REFERENCE_FILES:
        assert f"results/synthetic/reference/{name}" in out
    for key in ("checkpoint", "metrics", "splits"):
        assert f"results/synthetic/model/creator_synthetic/{TRAIN_OUTPUTS[key]}" in out
    for name in PREDICT_OUTPUTS.values():
        assert f"results/synthetic/predict/creator_synthetic/cellD/{name}" in out
    declared = {"expression": ("expression", ("summary", "scatter")), "links": ("links/cellD", ("summary", "table", "pr")),
                "tads": ("tads/cellD", ("summary", "plot"))}
    for kind, (where, keys) in declared.items():
        for key in keys:
            assert f"results/synthetic/eval/creator_synthetic/{where}/{EVALUATE_OUTPUTS[kind][key]}" in out


@pytest.mark.slow
def test_synthetic_chain_to_features(synthetic_run):
    """The synthetic chain's features and targets (from the session's synthetic run)."""
    wd = synthetic_run.parents[1]
    ccres = pd.read_parquet(wd / "results/synthetic/reference/ccres.parquet")
    boundary = ccres["class"].str.contains("CTCF").to_numpy()
    from creator.formats import TRACK_INDEX

    for cell in ("cellA", "cellD"):
        x = zarr.open_array(str(wd / f"results/synthetic/features/{cell}/signal.zarr"), mode="r")[:]
        ctcf = x[:, :, TRACK_INDEX["CTCF"]].astype(float).mean(axis=1)
        assert ctcf[boundary].mean() > 2 * ctcf[~boundary].mean()  # planted CTCF at domain boundaries
    cellb = zarr.open_array(str(wd / "results/synthetic/features/cellB/signal.zarr"), mode="r")
    assert "EP300" not in cellb.attrs["present_tracks"]
    assert not cellb[:, :, TRACK_INDEX["EP300"]].any()  # a missing track is zeros
    t = pd.read_parquet(wd / "results/synthetic/targets/cellD.parquet")
    assert (t["matched_by"] == "gene_id").mean() > 0.95
