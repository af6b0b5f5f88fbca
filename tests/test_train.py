"""creator.train: splits, training + metrics, kill-and-resume equality, settings errors, DDP on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from creator import data
from creator.cli import main
from creator.errors import InputError
from creator.train import TrainConfig, assign_splits, jitter_signal, train
from fixtures_arrays import write_arrays

REPO = Path(__file__).resolve().parents[1]
TINY = dict(preset="tiny", max_epochs=3, patience=5, lr=3e-3, region_bp=60_000, element_chunk=16,
            gene_chunk=4, checkpoint_every_steps=4, eval_batch_genes=8, seed=7, model={"dropout": 0.1},
            signal_noise=0.3)  # the jitter is drawn per step: the kill-resume equality covers it


@pytest.fixture(autouse=True, scope="module")
def _one_thread(torch_one_thread):
    """Tiny models run fastest on one thread (and do not suffer from a busy machine)."""


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    return write_arrays(tmp_path_factory.mktemp("arrays"))


def _run(arrays, out, callback=None, device="cpu", restart_on_mismatch=False, **over):
    cfg = TrainConfig.from_dict({**TINY, **over})
    return train(reference=arrays.reference, features=arrays.feature_files(), targets=arrays.target_files(),
                 out=out, train_cells=["A", "B"], test_cells=["C"], config=cfg, device=device, callback=callback,
                 restart_on_mismatch=restart_on_mismatch)


def test_rerun_after_outputs_removed(arrays, tmp_path):
    """Snakemake deletes a job's outputs before rerunning it: a finished run must restore them."""
    out = tmp_path / "run"
    first = _run(arrays, out, max_epochs=2)
    ckpt = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").unlink()
    (out / "metrics.json").unlink()
    again = _run(arrays, out, max_epochs=2)
    assert again["cells"] == first["cells"]
    assert (out / "checkpoint.pt").read_bytes() == ckpt


def test_keep_last_checkpoints_the_final_epoch(arrays, tmp_path):
    m = _run(arrays, tmp_path / "last", keep="last", patience=0, max_epochs=3)
    t = m["training"]
    assert t["keep"] == "last" and t["epochs_run"] == 3
    ckpt = torch.load(tmp_path / "last" / "checkpoint.pt", weights_only=True)
    last = torch.load(tmp_path / "last" / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 2  # the final epoch, whichever had the lowest validation MSE
    assert all(torch.equal(ckpt["state_dict"][k], last["state_dict"][k]) for k in ckpt["state_dict"])
    with pytest.raises(InputError, match="keep"):
        TrainConfig.from_dict({"keep": "first"})


def test_changed_settings_restart_when_asked(arrays, tmp_path):
    """The workflow reruns train exactly when settings change: the old state is set aside, and
    the new run equals a fresh one."""
    out = tmp_path / "run"
    _run(arrays, out, max_epochs=1)
    with pytest.raises(InputError, match="max_epochs: 1 then, 2 now"):
        _run(arrays, out, max_epochs=2)
    again = _run(arrays, out, max_epochs=2, restart_on_mismatch=True)
    assert (out / "last.stale.pt").exists()
    fresh = _run(arrays, tmp_path / "fresh", max_epochs=2)
    assert again["cells"] == fresh["cells"]


def test_block_splits_do_not_leak(arrays):
    ref = data.open_reference(arrays.reference)
    plan = assign_splits(ref, TrainConfig())
    assert plan.mode == "blocks" and plan.buffer_bp == 2 * ref.window_bp
    counts = plan.summary()["n_genes"]
    assert counts["val"] >= 2 and counts["test"] >= 2 and counts["buffer"] >= 2 and counts["train"] > 30
    for code in range(len(ref.chroms)):
        on = ref.gene_chrom == code
        train, held = np.flatnonzero(on & (plan.labels == "train")), np.flatnonzero(on & np.isin(plan.labels, ["val", "test"]))
        # held-out genes are the last ones of the chromosome, test after val
        assert ref.tss[held].min() > ref.tss[train].max()
        assert ref.tss[on & (plan.labels == "test")].min() > ref.tss[on & (plan.labels == "val")].max()
        # no training window shares a cCRE with a held-out window
        assert ref.hi[train].max() <= ref.lo[held[ref.hi[held] > ref.lo[held]]].min()


def test_chromosome_splits(tmp_path):
    arrays = write_arrays(tmp_path, chrom_bp={f"chr{i}": 60_000 for i in range(1, 6)}, cells={"A": "train"})
    ref = data.open_reference(arrays.reference)
    plan = assign_splits(ref, TrainConfig(val_fraction=0.2, test_fraction=0.2))
    assert plan.mode == "chromosomes" and plan.buffer_bp == 0
    assert plan.val_chroms and plan.test_chroms and not set(plan.val_chroms) & set(plan.test_chroms)
    names = ref.gene_chrom_names()
    assert set(names[plan.labels == "val"]) == set(plan.val_chroms)
    assert assign_splits(ref, TrainConfig(val_fraction=0.2, test_fraction=0.2)).labels.tolist() == plan.labels.tolist()
    plan = assign_splits(ref, TrainConfig(val_chroms=["chr2"], test_chroms=["chr5"]))
    assert set(names[plan.labels == "test"]) == {"chr5"} and (plan.labels == "buffer").sum() == 0
    with pytest.raises(InputError, match="'val_chroms': chr9 has no gene"):
        assign_splits(ref, TrainConfig(val_chroms=["chr9"]))
    with pytest.raises(InputError, match="no chromosome is left"):
        assign_splits(ref, TrainConfig(val_chroms=["chr1", "chr2"], test_chroms=["chr3", "chr4", "chr5"]))


def test_train_config_errors(tmp_path):
    with pytest.raises(InputError, match="'train.learning_rate'"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(InputError, match="'train.max_epochs'"):
        TrainConfig.from_dict({"max_epochs": 0})
    # a misspelled model field is named with its whole path (the schema is generated from ModelConfig)
    with pytest.raises(InputError, match=r"'train\.model\.insulaton'.*allowed keys: .*insulation"):
        TrainConfig.from_dict({"model": {"insulaton": True}})
    with pytest.raises(InputError, match="'train.model.d_model'"):
        TrainConfig.from_dict({"model": {"d_model": "big"}})


class Kill(Exception):
    pass


def test_jitter_signal():
    sig = torch.rand(4000, 5, 16, dtype=torch.float16) + 0.5
    sig[0] = 0
    a = jitter_signal(sig, 0.4, seed=(1, 0, 17))
    assert a.dtype == sig.dtype and a.shape == sig.shape
    assert torch.equal(a, jitter_signal(sig, 0.4, seed=(1, 0, 17)))  # reproducible
    assert not torch.equal(a, jitter_signal(sig, 0.4, seed=(1, 0, 18)))  # a new draw per step
    assert (a[0] == 0).all()  # zeros stay zero
    ratio = torch.log(a[1:].float() / sig[1:].float())
    # one factor per element and track, the same over the element's bins, log-sd = sigma
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=2e-3)
    assert abs(float(ratio[:, 0].std()) - 0.4) < 0.02 and abs(float(ratio[:, 0].mean())) < 0.02
    with pytest.raises(InputError, match="signal_noise"):
        TrainConfig.from_dict({"signal_noise": -1})


def test_train_metrics_and_kill_resume(arrays, tmp_path):
    full = _run(arrays, tmp_path / "full")
    assert (tmp_path / "full" / "checkpoint.pt").exists() and (tmp_path / "full" / "last.pt").exists()
    metrics = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert metrics == full
    t = metrics["training"]
    assert t["epochs_run"] == 3 and t["region_units"] > 0 and t["steps_per_epoch"] > 8
    assert t["history"][-1]["train_loss"] < t["history"][0]["train_loss"]
    assert set(metrics["cells"]) == {"A", "B", "C"}
    assert metrics["cells"]["C"]["role"] == "test" and "all" in metrics["cells"]["C"]["splits"]
    for cell in ("A", "B"):
        assert set(metrics["cells"][cell]["splits"]) == {"train", "val", "test"}
        tr = metrics["cells"][cell]["splits"]["train"]
        assert tr["n"] > 30 and tr["spearman"] is not None
        assert set(tr["baselines"]) == {"promoter_dnase", "dnase_exp", "dnase_powerlaw"}
        assert tr["baselines"]["promoter_dnase"]["spearman"] > 0.3  # planted signal
    # kill in the middle of epoch 1, between two mid-epoch checkpoints, then rerun
    steps = t["steps_per_epoch"]
    kill_at = steps + 6  # epoch 1, step 6: checkpoints at steps 4 and 8

    def killer(event, info):
        if event == "step" and info["global_step"] == kill_at:
            raise Kill()

    with pytest.raises(Kill):
        _run(arrays, tmp_path / "killed", callback=killer)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    saved = torch.load(tmp_path / "killed" / "last.pt", weights_only=False)
    assert saved["train_state"]["epoch"] == 1 and saved["train_state"]["step"] == 4
    resumed = _run(arrays, tmp_path / "killed")
    assert resumed == full  # every number identical, history included
    # the best checkpoints are identical too
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    # a kill at an epoch boundary resumes too; a finished run re-run only recomputes metrics
    def killer2(event, info):
        if event == "epoch" and info["epoch"] == 0:
            raise Kill()

    with pytest.raises(Kill):
        _run(arrays, tmp_path / "killed2", callback=killer2)
    assert _run(arrays, tmp_path / "killed2") == full
    assert _run(arrays, tmp_path / "full") == full

    # other settings: a clear error naming them
    with pytest.raises(InputError, match=r"lr: 0.003 then, 0.001 now.*Fix: rerun with the same settings"):
        _run(arrays, tmp_path / "full", lr=1e-3)


def test_train_cli_early_stopping(arrays, tmp_path, capsys):
    yml = tmp_path / "train.yaml"
    yml.write_text("max_epochs: 6\npatience: 1\nmin_delta: 100.0\nregion_bp: 60000\nlr: 0.001\n"
                   "model: {dropout: 0.0}\n")
    out = tmp_path / "model"
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference),
               *arrays.train_file_args(),
               "--out", str(out), "--train-config", str(yml), "--preset", "tiny", "--device", "cpu",
               "--seed", "1"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"]["stopped_early"] and m["training"]["epochs_run"] == 2
    assert m["training"]["best_epoch"] == 0 and m["train_config"]["seed"] == 1
    # and predict runs on the checkpoint it wrote
    rc = main(["predict", "--checkpoint", str(out / "checkpoint.pt"), "--reference", str(arrays.reference),
               "--features", str(arrays.features("C")), "--cell", "C", "--out", str(tmp_path / "pred"),
               "--device", "cpu"])
    assert rc == 0
    yml.write_text("learning_rate: 0.1\n")
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference),
               *arrays.train_file_args(),
               "--out", str(tmp_path / "m2"), "--train-config", str(yml), "--device", "cpu"])
    assert rc == 2 and "config key 'train.learning_rate'" in capsys.readouterr().err
    # a train cell type of the sample sheet without a --features entry: named before anything is read
    files = arrays.train_file_args()
    files.remove(f"B={arrays.features('B')}")
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference), *files,
               "--out", str(tmp_path / "m3"), "--preset", "tiny", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "no features file for cell type B (role train/test in the sample sheet)" in err
    assert "give each as --features B=features/B/signal.zarr" in err and not (tmp_path / "m3").exists()
    # ... and one whose entry names a file that is not there
    files = arrays.train_file_args()
    files[files.index(f"B={arrays.features('B')}")] = f"B={tmp_path / 'nowhere.zarr'}"
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference), *files,
               "--out", str(tmp_path / "m4"), "--preset", "tiny", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "no features file for cell type B" in err and "nowhere.zarr" in err
    # a test cell type without targets, and an argument that is not CELL=PATH
    files = arrays.train_file_args()
    files.remove(f"C={arrays.targets('C')}")
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference), *files,
               "--out", str(tmp_path / "m5"), "--device", "cpu"])
    assert rc == 2 and "no targets file for cell type C" in capsys.readouterr().err
    rc = main(["train", "--config", str(arrays.config), "--reference", str(arrays.reference),
               *arrays.train_file_args(), "--features", str(arrays.features("A")),
               "--out", str(tmp_path / "m6"), "--device", "cpu"])
    assert rc == 2 and "is not NAME=PATH" in capsys.readouterr().err


def test_ddp_two_processes_gloo(arrays, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    yml = tmp_path / "train.yaml"
    yml.write_text("max_epochs: 2\nregion_bp: 60000\nlr: 0.003\nelement_chunk: 16\ngene_chunk: 3\n")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "creator", "train",
           "--config", str(arrays.config), "--reference", str(arrays.reference),
           *arrays.train_file_args(),
           "--out", str(out), "--train-config", str(yml), "--preset", "tiny", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["distributed"]["world_size"] == 2 and m["distributed"]["backend"] == "gloo"
    assert m["distributed"]["param_max_abs_diff_across_ranks"] == 0.0
    assert m["training"]["epochs_run"] == 2 and m["cells"]["C"]["splits"]["all"]["n"] > 50


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_cuda_bf16_kill_resume(arrays, tmp_path):
    full = _run(arrays, tmp_path / "full", device="cuda", bf16=True)
    assert full["training"]["history"][-1]["train_loss"] < full["training"]["history"][0]["train_loss"]
    assert full["cells"]["A"]["splits"]["train"]["spearman"] is not None
    kill_at = full["training"]["steps_per_epoch"] + 6

    def killer(event, info):
        if event == "step" and info["global_step"] == kill_at:
            raise Kill()

    with pytest.raises(Kill):
        _run(arrays, tmp_path / "killed", callback=killer, device="cuda", bf16=True)
    resumed = _run(arrays, tmp_path / "killed", device="cuda", bf16=True)
    # CUDA's memory-efficient attention backward is not bit-deterministic: same numbers to rounding
    a, b = _numbers(resumed), _numbers(full)
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] is None) == (b[k] is None), k
        if a[k] is not None:
            assert a[k] == pytest.approx(b[k], rel=2e-2, abs=2e-2), k


def _numbers(tree, prefix=""):
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_numbers(v, f"{prefix}/{k}"))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(_numbers(v, f"{prefix}/{i}"))
    elif tree is None or isinstance(tree, (int, float)) and not isinstance(tree, bool):
        out[prefix] = tree
    return out


def test_region_path_trains_like_the_padded_path(arrays, tmp_path):
    """Training through CreatorModel.forward_region gives the padded path's run (dropout and jitter
    off, so both draw nothing): the same losses epoch by epoch and the same predictions."""
    runs = {}
    for path in ("always", "never"):
        runs[path] = _run(arrays, tmp_path / path, region_path=path, model={"dropout": 0.0}, signal_noise=0.0,
                          max_epochs=2)
    h1, h2 = runs["always"]["training"]["history"], runs["never"]["training"]["history"]
    assert len(h1) == len(h2) == 2
    for a, b in zip(h1, h2):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    s1 = runs["always"]["cells"]["C"]["splits"]["all"]
    s2 = runs["never"]["cells"]["C"]["splits"]["all"]
    assert s1["mse"] == pytest.approx(s2["mse"], rel=1e-4)
    with pytest.raises(InputError, match="region_path"):
        TrainConfig.from_dict({"region_path": True})


def test_insulation_l1_keeps_the_learned_insulation_sparse(arrays, tmp_path):
    """train.insulation_l1 adds that times the mean per-element insulation to the loss: the same run
    with it ends with less insulation per element (the prior the synthetic config uses)."""
    from creator.model.checkpoint import load_checkpoint

    def mean_u(out, **over):
        _run(arrays, out, max_epochs=2, model={"dropout": 0.0, "insulation": True}, signal_noise=0.0, **over)
        model, _ = load_checkpoint(out / "checkpoint.pt")
        cell = data.open_cell(data.open_reference(arrays.reference), arrays.features("A"))
        tok, sig = cell.read(0, 200)
        with torch.no_grad():
            emb = model.encode_elements(torch.from_numpy(tok).long(), torch.from_numpy(sig).float())
            return float(model.gene.insulation.strength(emb[None], torch.ones(1, len(emb), dtype=torch.bool)).mean())

    free, sparse = mean_u(tmp_path / "free"), mean_u(tmp_path / "l1", insulation_l1=5.0)
    assert sparse < 0.5 * free, (sparse, free)
    with pytest.raises(InputError, match="insulation_l1"):
        TrainConfig.from_dict({"insulation_l1": -1})
