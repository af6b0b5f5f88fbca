"""Train stage: fit the CREaTor model on the training cell types, evaluate, write checkpoints.

``creator train --config CONFIG --reference DIR --features CELL=ZARR [CELL=ZARR ...]
--targets CELL=PARQUET [CELL=PARQUET ...] --out DIR [--train-config YAML] [--preset tiny|demo|published]
[--device auto|cpu|cuda] [--max-epochs N] [--seed S]``

Cell types come from the sample sheet of ``--config``: role ``train`` are trained on; role
``test`` are held out entirely (zero-shot: never trained on, scored on all genes). Each of them
needs its ``signal.zarr`` (``--features``) and targets parquet (``--targets``), the files the
workflow's rule declares; file names in ``--reference`` and ``--out`` are those of
:mod:`creator.formats`. Settings
(:class:`TrainConfig`) are taken, later ones winning, from the defaults, the config's ``train:``
block (once the schema has one), ``--train-config`` (a YAML mapping of :class:`TrainConfig`
fields) and the command-line flags.

Objective: MSE between predicted and observed log1p TPM; genes with a NaN target or an empty
window are not trained on. One optimizer step per training unit: a *region batch* (several genes
whose windows lie within ``region_bp``; every element encoded once, see :mod:`creator.data`) or a
per-gene batch (a window wider than ``region_bp``). AdamW, linear warm-up then cosine decay,
gradient clipping; on CUDA bf16 autocast and TF32. Seeds fixed for torch, numpy and random, and
deterministic algorithms requested, so a run is reproducible on the same machine. Augmentation
(``signal_noise`` > 0, off by default): each training step scales every element's every track by
its own log-normal factor (:func:`jitter_signal`), drawn from (seed, rank, step), so it is
reproducible and a resumed run draws the same factors.

Gene splits (the same for every training cell type; :func:`assign_splits`):

* several chromosomes: whole chromosomes are held out for validation and test (``val_chroms`` /
  ``test_chroms``, else chosen automatically by a fixed hash order of the names until each holds
  ``val_fraction`` / ``test_fraction`` of the genes);
* fewer than three chromosomes with genes (the chr22 demo): per chromosome, the last
  ``test_fraction`` of the genes in TSS order are test, the ``val_fraction`` before them are
  validation, and every remaining gene whose TSS lies within ``split_buffer_bp`` of a held-out TSS
  is a *buffer* gene, neither trained nor scored. The default buffer is ``2 * window_bp``: then no
  training window (TSS +- window_bp) shares a single cCRE with a held-out window, so the held-out
  genes' inputs are never seen in training and their targets cannot leak through neighbouring,
  co-regulated genes that share elements (bidirectional promoters, alternative TSSs). Held-out
  blocks sit at the end of the chromosome so that only one boundary costs a buffer.

Early stopping on the validation MSE (``patience`` epochs without an improvement of
``min_delta``; ``patience: 0`` trains all ``max_epochs``). ``keep``: which model becomes the
checkpoint, ``best`` (default: lowest validation MSE) or ``last`` (the final epoch). ``last`` is
for small validation sets whose MSE jumps from epoch to epoch: on the synthetic data (~30
validation genes) the best-validation epoch was often one of the first five, with planted-link
AUPRC 0.07-0.09, where the final epoch of the same runs gave 0.09-0.16. Files in ``--out``:

``best.pt``        the model to keep so far (the trainer's own file; with ``keep: last`` the latest epoch).
``checkpoint.pt``  a copy of best.pt written at the end: the kept model (:func:`creator.model.save_checkpoint` format, plus
                   ``reference_id``, ``epoch``, ``val_loss``, ``train_config``, cell lists).
``last.pt``        the full training state (model, optimizer, scheduler, every rank's RNG
                   states, epoch, step within the epoch, best metric, history), written atomically
                   at every epoch end and every ``checkpoint_every_steps`` steps. A rerun with the
                   same settings resumes from it and ends with exactly the numbers of an
                   uninterrupted run; a rerun with other settings stops with an error naming them.
``metrics.json``   Pearson and Spearman per split for each training cell type, and per split plus
                   ``all`` for each held-out cell type, with the baselines computed from the same
                   inputs (``promoter_dnase``: DNase of the cCRE nearest the TSS;
                   ``dnase_exp``: sum over the window of DNase * exp(-|d| / 10 kb);
                   ``dnase_powerlaw``: sum of DNase / (1 + |d| / 5 kb)); plus the split plan and
                   the training history. No wall-clock numbers, so reruns compare equal.

Multi-GPU: launched by ``torchrun`` (``WORLD_SIZE > 1``) the model runs under
DistributedDataParallel (nccl on CUDA, gloo on CPU); each rank takes every ``world_size``-th unit
of the epoch's shuffled order; rank 0 writes the files; ``metrics.json`` records the largest
parameter difference between ranks at the end (0 when they agree).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import math
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from creator import data
from creator.errors import InputError
from creator.config import section_defaults, validate_section
from creator.formats import train_outputs
from creator.inference import autocast, check_model_fits, predict_genes, resolve_device
from creator.inference.run import REGION_MIN_WINDOW
from creator.io import json_safe, name_path_pairs, write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: baseline distance scales (bp)
BASELINE_EXP_BP = 10_000
BASELINE_POWERLAW_BP = 5_000


# ---------------------------------------------------------------------------------------------
# settings


#: defaults of the config's train section (config/schema/config.schema.yaml, the one place they live)
_DEFAULTS = section_defaults("train")


@dataclass(kw_only=True)
class TrainConfig:
    """Training settings (the config's ``train`` section; defaults and checks: the config schema).
    ``model`` holds :class:`~creator.model.ModelConfig` overrides of ``preset``.

    ``region_path``: stage 2 of a region batch through CreatorModel.forward_region (the same
    function, first-layer scores shared by the region's genes: 2.4x faster on the demo's ~900-element
    windows) or the per-gene padded path (activation checkpointing in chunks of gene_chunk genes;
    faster for small windows). auto: the region path when the batch's widest window holds at least
    REGION_PATH_MIN_WINDOW elements."""

    preset: str = _DEFAULTS["preset"]
    model: dict = field(default_factory=lambda: dict(_DEFAULTS["model"]))
    seed: int = _DEFAULTS["seed"]
    max_epochs: int = _DEFAULTS["max_epochs"]
    patience: int = _DEFAULTS["patience"]
    min_delta: float = _DEFAULTS["min_delta"]
    lr: float = _DEFAULTS["lr"]
    weight_decay: float = _DEFAULTS["weight_decay"]
    warmup_fraction: float = _DEFAULTS["warmup_fraction"]
    min_lr_ratio: float = _DEFAULTS["min_lr_ratio"]
    grad_clip: float = _DEFAULTS["grad_clip"]
    region_bp: int = _DEFAULTS["region_bp"]
    element_chunk: int = _DEFAULTS["element_chunk"]
    gene_chunk: int = _DEFAULTS["gene_chunk"]
    eval_element_batch: int = _DEFAULTS["eval_element_batch"]
    eval_batch_genes: int = _DEFAULTS["eval_batch_genes"]
    val_chroms: list | None = _DEFAULTS["val_chroms"]
    test_chroms: list | None = _DEFAULTS["test_chroms"]
    val_fraction: float = _DEFAULTS["val_fraction"]
    test_fraction: float = _DEFAULTS["test_fraction"]
    split_buffer_bp: int | None = _DEFAULTS["split_buffer_bp"]
    checkpoint_every_steps: int = _DEFAULTS["checkpoint_every_steps"]
    bf16: bool = _DEFAULTS["bf16"]
    deterministic: bool = _DEFAULTS["deterministic"]
    signal_noise: float = _DEFAULTS["signal_noise"]
    #: with ``model.insulation``: this times the mean learned insulation per element (nats, over the
    #: batch's elements and heads) is added to the loss. Domain boundaries are few, so an L1 prior
    #: keeps the head from spending insulation everywhere (a second distance decay, or a read-out of
    #: activity) and leaves it where blocking attention pays: at the boundaries. 0 = off
    insulation_l1: float = _DEFAULTS["insulation_l1"]
    keep: str = _DEFAULTS["keep"]
    region_path: str = _DEFAULTS["region_path"]

    #: keys that may change between a run and its resumption
    RESUMABLE_CHANGES = ("checkpoint_every_steps",)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None, *, source: str = "train config", base: "TrainConfig | None" = None
                  ) -> "TrainConfig":
        """``base`` (default: the defaults) updated by ``d``; unknown keys (also under ``model``) and
        bad values raise :class:`InputError` naming the key path (checked against the schema)."""
        d = dict(d or {})
        validate_section("train", d, source=source)
        cur = (base or cls()).to_dict()
        cur.update(d)
        return cls(**cur)

    def model_config(self, element_bp: int):
        from creator.model import ModelConfig

        overrides = {"element_bp": element_bp, **self.model}
        return ModelConfig.preset(self.preset, **overrides)


def jitter_signal(signal: torch.Tensor, sigma: float, *, seed) -> torch.Tensor:
    """Training augmentation (``signal_noise``): every element's every track scaled by its own
    log-normal factor ``exp(sigma * z)``, ``z ~ N(0, 1)``, the same over the element's bins. The
    synthetic data showed why: without it a small model memorises each element's measurement noise
    (a fingerprint) and explains the training genes by it (validation MSE rising after epoch 8; by
    epoch 30 train 0.7, validation 5-7); a jittered amplitude is no fingerprint, but the level
    (active or not, strong or weak) survives. ``signal`` ``[N, n_bins, n_tracks]`` (any float dtype, any device); ``seed``: a
    tuple of ints (seed, rank, step) so that a resumed run draws the same factors. Zeros stay zero."""
    g = torch.Generator().manual_seed(int(np.random.SeedSequence(list(seed)).generate_state(1)[0]))
    z = torch.randn(signal.shape[0], 1, signal.shape[2], generator=g)
    factor = torch.exp(sigma * z).to(signal.device)
    return (signal.float() * factor).to(signal.dtype)


def load_train_config(path: str | Path | None, base: TrainConfig | None = None) -> TrainConfig:
    if path is None:
        return base or TrainConfig()
    import yaml

    path = Path(path)
    if not path.exists():
        raise InputError("train config not found", path=path, fix="give an existing YAML file")
    with open(path) as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise InputError("train config must be a YAML mapping", path=path, fix="write key: value lines")
    raw = raw.get("train", raw) if isinstance(raw.get("train"), dict) else raw
    return TrainConfig.from_dict(raw, source=str(path), base=base)


# ---------------------------------------------------------------------------------------------
# splits


@dataclass
class SplitPlan:
    labels: np.ndarray          # str [n_gene]: train / val / test / buffer
    mode: str                   # chromosomes | blocks
    val_chroms: list[str]
    test_chroms: list[str]
    buffer_bp: int

    def genes(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.labels == split)

    def summary(self) -> dict:
        return dict(mode=self.mode, val_chroms=self.val_chroms, test_chroms=self.test_chroms,
                    buffer_bp=self.buffer_bp,
                    n_genes={s: int((self.labels == s).sum()) for s in (*SPLITS, "buffer")})


def _hash_order(names) -> list[str]:
    return sorted(names, key=lambda c: hashlib.sha1(c.encode()).hexdigest())


def assign_splits(reference: data.Reference, cfg: TrainConfig, *, source: str = "train config") -> SplitPlan:
    """Gene split labels (see the module docstring)."""
    ref = reference
    chrom_names = ref.gene_chrom_names()
    counts = {c: int((chrom_names == c).sum()) for c in ref.chroms if (chrom_names == c).any()}
    labels = np.array(["train"] * ref.n_gene, dtype=object)
    for key in ("val_chroms", "test_chroms"):
        for c in getattr(cfg, key) or []:
            if c not in counts:
                raise InputError(f"train setting '{key}': {c} has no gene in the reference "
                                 f"(chromosomes with genes: {', '.join(counts)})", path=source,
                                 fix=f"choose '{key}' among {', '.join(counts)}")
    given_val, given_test = cfg.val_chroms, cfg.test_chroms
    if given_val is None and given_test is None and len(counts) < 3:
        return _block_splits(ref, cfg, labels)
    used = set(given_val or []) | set(given_test or [])
    if given_val and given_test and set(given_val) & set(given_test):
        raise InputError("train settings 'val_chroms' and 'test_chroms' share chromosomes", path=source,
                         fix="hold out different chromosomes for validation and test")
    chosen = {"val": list(given_val or []), "test": list(given_test or [])}
    n = sum(counts.values())
    for role, frac, given in (("test", cfg.test_fraction, given_test), ("val", cfg.val_fraction, given_val)):
        if given is not None:
            continue
        total = 0
        for c in _hash_order(c for c in counts if c not in used):
            if total >= frac * n or len(counts) - len(used) <= 1:
                break
            chosen[role].append(c)
            used.add(c)
            total += counts[c]
    if not set(counts) - used:
        raise InputError("no chromosome is left for training after holding out "
                         f"{', '.join(sorted(used))}", path=source,
                         fix="hold out fewer chromosomes (val_chroms / test_chroms)")
    for role in ("val", "test"):
        labels[np.isin(chrom_names, chosen[role])] = role
    return SplitPlan(labels=labels, mode="chromosomes", val_chroms=chosen["val"],
                     test_chroms=chosen["test"], buffer_bp=0)


def _block_splits(ref: data.Reference, cfg: TrainConfig, labels: np.ndarray) -> SplitPlan:
    buffer_bp = 2 * ref.window_bp if cfg.split_buffer_bp is None else cfg.split_buffer_bp
    for code in np.unique(ref.gene_chrom):
        idx = np.flatnonzero(ref.gene_chrom == code)
        idx = idx[np.argsort(ref.tss[idx], kind="stable")]
        n = len(idx)
        if n < 10:
            continue
        n_test = max(1, round(cfg.test_fraction * n)) if cfg.test_fraction > 0 else 0
        n_val = max(1, round(cfg.val_fraction * n)) if cfg.val_fraction > 0 else 0
        test = idx[n - n_test:]
        val = idx[n - n_test - n_val:n - n_test]
        labels[test] = "test"
        labels[val] = "val"
        held = np.concatenate([val, test])
        if len(held):
            first = ref.tss[held].min()
            rest = idx[: n - n_test - n_val]
            labels[rest[ref.tss[rest] > first - buffer_bp]] = "buffer"
    return SplitPlan(labels=labels, mode="blocks", val_chroms=[], test_chroms=[], buffer_bp=int(buffer_bp))


# ---------------------------------------------------------------------------------------------
# metrics


def _corr(pred: np.ndarray, obs: np.ndarray) -> dict:
    from scipy import stats

    ok = np.isfinite(pred) & np.isfinite(obs)
    pred, obs = pred[ok], obs[ok]
    out: dict[str, Any] = {"n": int(ok.sum()), "pearson": None, "spearman": None}
    if len(pred) >= 3 and np.ptp(pred) > 0 and np.ptp(obs) > 0:
        out["pearson"] = float(stats.pearsonr(pred, obs)[0])
        out["spearman"] = float(stats.spearmanr(pred, obs)[0])
    return out


def baseline_scores(cell: data.CellInputs) -> dict[str, np.ndarray]:
    """Per-gene baseline predictors from the same inputs (float64 [n_gene], 0 for an empty window)."""
    ref = cell.reference
    dnase = cell.track("DNase").astype(np.float64)
    out = {k: np.zeros(ref.n_gene) for k in ("promoter_dnase", "dnase_exp", "dnase_powerlaw")}
    for g in range(ref.n_gene):
        lo, hi = int(ref.lo[g]), int(ref.hi[g])
        if hi == lo:
            continue
        d = np.abs(ref.ccre_center[lo:hi] - ref.tss[g]).astype(np.float64)
        x = dnase[lo:hi]
        out["promoter_dnase"][g] = x[int(np.argmin(d))]
        out["dnase_exp"][g] = float(np.sum(x * np.exp(-d / BASELINE_EXP_BP)))
        out["dnase_powerlaw"][g] = float(np.sum(x / (1.0 + d / BASELINE_POWERLAW_BP)))
    return out


def score_genes(pred: np.ndarray, obs: np.ndarray, baselines: dict[str, np.ndarray], genes: np.ndarray) -> dict:
    res = _corr(pred[genes], obs[genes])
    ok = np.isfinite(obs[genes])
    res["mse"] = float(np.mean((pred[genes][ok] - obs[genes][ok]) ** 2)) if ok.any() else None
    res["baselines"] = {k: _corr(v[genes], obs[genes]) for k, v in baselines.items()}
    return res


# ---------------------------------------------------------------------------------------------
# training machinery


class _UnitForward(nn.Module):
    """One training unit through the model (the module DDP wraps)."""

    def __init__(self, model: nn.Module, element_chunk: int, gene_chunk: int, insulation_l1: float = 0.0):
        super().__init__()
        self.model = model
        self.element_chunk = element_chunk or None
        self.gene_chunk = gene_chunk or None
        self.insulation_l1 = insulation_l1 if getattr(model.gene, "insulation", None) is not None else 0.0

    def forward(self, tokens, signal, index, offset, mask, center=None):
        """Predictions ``[B]`` and the insulation penalty (0 unless ``insulation_l1``)."""
        emb = data.encode_elements(self.model, tokens, signal, 1, chunk=self.element_chunk)
        if center is not None:  # the region path: same numbers, first-layer scores shared by the genes
            pred = data.region_predictions(self.model, emb, center, index, offset, mask)
        else:
            pred = data.gene_predictions(self.model, emb, index, offset, mask, chunk=self.gene_chunk)
        if not self.insulation_l1:
            return pred, pred.new_zeros(())
        u = self.model.gene.insulation.strength(emb[None], torch.ones(emb.shape[:1], dtype=torch.bool,
                                                                       device=emb.device)[None])
        return pred, self.insulation_l1 * u.mean()


#: region_path auto: windows at least this wide go through the region path (measured on 2 CPU
#: cores: 2.4x faster at ~900 elements per window, 1.8x slower at ~75)
REGION_PATH_MIN_WINDOW = REGION_MIN_WINDOW  # the same threshold as inference


def use_region_path(setting: str, batch: data.Batch) -> bool:
    if setting == "auto":
        return batch.index.shape[1] >= REGION_PATH_MIN_WINDOW
    return setting == "always"


@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    import datetime

    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    here = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(hours=2))
        here = True
    return _Dist(world=world, rank=rank, local_rank=local, initialized_here=here), device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _lr_lambda(total_steps: int, warmup_fraction: float, min_ratio: float) -> Callable[[int], float]:
    warmup = max(1, round(warmup_fraction * total_steps)) if warmup_fraction > 0 else 0

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "rel_bias" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _mse(pred: np.ndarray, obs: np.ndarray) -> tuple[float, int]:
    ok = np.isfinite(obs)
    return float(np.sum((pred[ok] - obs[ok]) ** 2)), int(ok.sum())


# ---------------------------------------------------------------------------------------------
# train


def train(*, reference: str | Path, features: Mapping[str, str | Path], targets: Mapping[str, str | Path],
          out: str | Path, train_cells: list[str], test_cells: list[str] = (), config: TrainConfig | None = None,
          device: str = "auto", callback: Callable[[str, dict], None] | None = None,
          config_source: str = "train config", restart_on_mismatch: bool = False) -> dict:
    """Train, evaluate and write ``checkpoint.pt``, ``last.pt``, ``metrics.json`` and ``splits.tsv``
    under ``out`` (:func:`creator.formats.train_outputs`). ``features`` and ``targets`` map each train
    and test cell type to its ``signal.zarr`` and targets parquet.

    ``callback(event, info)`` is called after every optimizer step (``event='step'``, after any
    mid-epoch checkpoint) and at every epoch end (``'epoch'``); it may raise to simulate a kill.
    Returns the metrics dict (on every rank)."""
    from creator.model import CreatorModel, save_checkpoint
    from creator.model.checkpoint import read_checkpoint

    _check_cell_files([*train_cells, *test_cells], features, targets)
    cfg = config or TrainConfig()
    out = Path(out)
    dev = resolve_device(device)
    dist_info, dev = _init_distributed(dev)
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                 torch.backends.cudnn.benchmark)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = False
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(reference, features, targets, out, list(train_cells), list(test_cells), cfg,
                      dev, dist_info, callback, config_source, CreatorModel, save_checkpoint, read_checkpoint,
                      restart_on_mismatch)
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = prev_tf32
        if dist_info.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(reference, features, targets, out: Path, train_cells, test_cells, cfg: TrainConfig,
           dev: torch.device, di: _Dist, callback, source, CreatorModel, save_checkpoint, read_checkpoint,
           restart_on_mismatch: bool = False) -> dict:
    if not train_cells:
        raise InputError("no cell type with role 'train'", fix="mark at least one cell type as train in the sample sheet")
    overlap = set(train_cells) & set(test_cells)
    if overlap:
        raise InputError(f"cell types {sorted(overlap)} are both train and test",
                         fix="give each cell type one role in the sample sheet")
    files = train_outputs(out)
    ref = data.open_reference(reference)
    cells = {c: data.open_cell(ref, features[c], targets[c], cell=c) for c in [*train_cells, *test_cells]}
    splits = assign_splits(ref, cfg, source=source)
    if not len(splits.genes("val")):
        raise InputError("no validation gene", path=source,
                         fix="set val_fraction > 0 or val_chroms (early stopping needs validation genes)")
    train_sets = {c: splits.genes("train") for c in train_cells}
    units = data.plan_units({c: cells[c] for c in train_cells}, train_sets, cfg.region_bp)
    if not units:
        raise InputError("no trainable gene (train split, finite target, non-empty window)",
                         fix="check the targets files and the split settings")
    steps_per_epoch = len(units) // di.world
    if steps_per_epoch == 0:
        raise InputError(f"{len(units)} training units for {di.world} processes", fix="use fewer processes")
    total_steps = steps_per_epoch * cfg.max_epochs
    n_region = sum(u.kind == "region" for u in units)
    log.info("training units per epoch: %d (%d region batches, %d per-gene batches), %d steps per rank",
             len(units), n_region, len(units) - n_region, steps_per_epoch)

    # model, optimizer, schedule
    seed_everything(cfg.seed)
    mcfg = cfg.model_config(ref.element_bp)
    check_model_fits(mcfg, ref, source=source)
    model = CreatorModel(mcfg).to(dev)
    init_head_bias(model, [cells[c].targets[train_sets[c]] for c in train_cells])
    if di.main:
        _write_splits(ref, splits, files["splits"])
    seed_everything(cfg.seed * 1000 + 1 + di.rank)  # per-rank dropout streams
    step_module = _UnitForward(model, cfg.element_chunk, cfg.gene_chunk, cfg.insulation_l1)
    runner: nn.Module = step_module
    if di.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        runner = DDP(step_module, device_ids=[dev.index] if dev.type == "cuda" else None)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total_steps, cfg.warmup_fraction, cfg.min_lr_ratio))

    identity = dict(reference_id=ref.reference_id, train_cells=list(train_cells), test_cells=list(test_cells),
                    units=len(units), units_hash=hashlib.sha1(repr([(u.cell, u.genes) for u in units]).encode()).hexdigest()[:16],
                    world_size=di.world)
    state = dict(epoch=0, step=0, global_step=0, best_val=None, best_epoch=None, bad_epochs=0, stopped=False,
                 history=[], loss_sum=0.0, loss_n=0)
    # best.pt and last.pt are the trainer's own state; checkpoint.pt (the workflow's output) is a
    # copy of best.pt made at the end, so a rerun whose outputs were removed still finds the best model
    last_path, best_path = files["last"], files["best"]

    # resume
    ckpt = read_checkpoint(last_path, trusted=True) if last_path.exists() else None
    if ckpt is not None:
        try:
            _check_resume(ckpt, mcfg, cfg, identity, last_path)
        except InputError as exc:
            if not restart_on_mismatch:
                raise
            # the settings or inputs changed on purpose (the workflow reruns train when they do):
            # keep the old state beside, start afresh
            ckpt = None
            if di.main:
                os.replace(last_path, files["stale"])
            if di.world > 1:
                import torch.distributed as dist

                dist.barrier()
            log.warning("%s; starting afresh (the old state is kept as last.stale.pt)", exc.problem)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        state = dict(ckpt["train_state"])
        rngs = ckpt["rng"]
        _set_rng_state(rngs[di.rank] if di.rank < len(rngs) else rngs[0], dev)
        log.info("resuming from %s: epoch %d, step %d", last_path, state["epoch"], state["step"])

    def save_last() -> None:
        rng = _rng_state(dev)
        if di.world > 1:
            import torch.distributed as dist

            gathered = [None] * di.world
            dist.all_gather_object(gathered, rng)
            rng_all = gathered
        else:
            rng_all = [rng]
        if di.main:
            save_checkpoint(last_path, model, kind="creator-train-state", optimizer=opt.state_dict(),
                            scheduler=sched.state_dict(), rng=rng_all, train_state=dict(state),
                            train_config=cfg.to_dict(), identity=identity)

    def evaluate_val() -> float:
        model.eval()
        sse, n = 0.0, 0
        val = splits.genes("val")
        for c in train_cells:
            pred = predict_genes(model, cells[c], val, device=dev, element_batch=cfg.eval_element_batch,
                                 batch_genes=cfg.eval_batch_genes, bf16=cfg.bf16)
            s, k = _mse(pred, cells[c].targets[val])
            sse, n = sse + s, n + k
        model.train()
        return sse / max(n, 1)

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        while not state["stopped"] and state["epoch"] < cfg.max_epochs:
            epoch = state["epoch"]
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(units))
            mine = order[di.rank::di.world][:steps_per_epoch]
            model.train()
            load = lambda k: data.make_batch(cells[units[mine[k]].cell], units[mine[k]].genes)  # noqa: E731
            nxt = pool.submit(load, state["step"]) if state["step"] < steps_per_epoch else None
            for k in range(state["step"], steps_per_epoch):
                batch = nxt.result().to(dev, non_blocking=True)
                nxt = pool.submit(load, k + 1) if k + 1 < steps_per_epoch else None
                if cfg.signal_noise > 0:
                    batch.signal = jitter_signal(batch.signal, cfg.signal_noise,
                                                 seed=(cfg.seed, di.rank, state["global_step"]))
                with autocast(dev, cfg.bf16):
                    pred, penalty = runner(batch.tokens, batch.signal, batch.index, batch.offset, batch.mask,
                                           batch.center if use_region_path(cfg.region_path, batch) else None)
                sse = data.mse_sum(pred, batch.target)
                loss = sse / batch.n_genes + penalty
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                state["loss_sum"] += float(sse.detach())
                state["loss_n"] += batch.n_genes
                state["global_step"] += 1
                state["step"] = k + 1
                if cfg.checkpoint_every_steps and state["step"] % cfg.checkpoint_every_steps == 0 \
                        and state["step"] < steps_per_epoch:
                    save_last()
                if callback is not None:
                    callback("step", dict(epoch=epoch, step=state["step"], global_step=state["global_step"],
                                          loss=float(loss.detach())))
            # epoch end: validation, early stopping, checkpoints
            train_loss = state["loss_sum"] / max(state["loss_n"], 1)
            if di.world > 1:
                import torch.distributed as dist

                t = torch.tensor([state["loss_sum"], float(state["loss_n"])], dtype=torch.float64)
                dist.all_reduce(t)
                train_loss = float(t[0] / max(t[1], 1))
            val_loss = evaluate_val()
            improved = state["best_val"] is None or val_loss < state["best_val"] - cfg.min_delta
            if improved:
                state["best_val"], state["best_epoch"], state["bad_epochs"] = val_loss, epoch, 0
            else:
                state["bad_epochs"] += 1
            if improved or cfg.keep == "last":  # best.pt holds the model to keep
                if di.main:
                    save_checkpoint(best_path, model, reference_id=ref.reference_id, epoch=epoch,
                                    val_loss=val_loss, train_config=cfg.to_dict(),
                                    train_cells=list(train_cells), test_cells=list(test_cells))
            state["history"].append(dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss,
                                         lr=float(sched.get_last_lr()[0]), steps=state["global_step"]))
            log.info("epoch %d: train MSE %.4f, val MSE %.4f%s", epoch, train_loss, val_loss,
                     " (best)" if improved else "")
            state["stopped"] = state["bad_epochs"] >= cfg.patience > 0
            state.update(epoch=epoch + 1, step=0, loss_sum=0.0, loss_n=0)
            save_last()
            if callback is not None:
                callback("epoch", dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    # final evaluation with the best model
    if di.world > 1:
        import torch.distributed as dist

        dist.barrier()
    from creator.model import load_checkpoint

    load_checkpoint(best_path, model, map_location=dev)
    if di.main:
        import shutil

        from creator.io import atomic_path

        with atomic_path(files["checkpoint"]) as tmp:
            shutil.copyfile(best_path, tmp)
    metrics = dict(
        model=mcfg.to_dict(), train_config=cfg.to_dict(), splits=splits.summary(),
        training=dict(epochs_run=len(state["history"]), best_epoch=state["best_epoch"], keep=cfg.keep,
                      best_val_loss=state["best_val"], stopped_early=bool(state["stopped"]),
                      global_steps=state["global_step"], steps_per_epoch=steps_per_epoch,
                      units_per_epoch=len(units), region_units=n_region, gene_units=len(units) - n_region,
                      history=state["history"]),
        cells={})
    if di.world > 1:
        import torch.distributed as dist

        flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(di.world)] if dev.type != "cuda" else None
        if dev.type == "cuda":
            flat_d = flat.to(dev)
            gathered = [torch.zeros_like(flat_d) for _ in range(di.world)]
            dist.all_gather(gathered, flat_d)
            gathered = [g.cpu() for g in gathered]
        else:
            dist.all_gather(gathered, flat)
        diff = max(float((g - gathered[0]).abs().max()) for g in gathered)
        metrics["distributed"] = dict(world_size=di.world, backend=dist.get_backend(),
                                      param_max_abs_diff_across_ranks=diff)
    if di.main:
        model.eval()
        for c in [*train_cells, *test_cells]:
            inputs = cells[c]
            pred = predict_genes(model, inputs, None, device=dev, element_batch=cfg.eval_element_batch,
                                 batch_genes=cfg.eval_batch_genes, bf16=cfg.bf16)
            base = baseline_scores(inputs)
            role = "train" if c in train_cells else "test"
            res = {s: score_genes(pred, inputs.targets, base, splits.genes(s)) for s in SPLITS}
            if role == "test":
                res["all"] = score_genes(pred, inputs.targets, base, np.arange(ref.n_gene))
            metrics["cells"][c] = dict(role=role, dnase_present="DNase" in inputs.attrs.get("present_tracks", ["DNase"]),
                                       splits=res)
        write_json(metrics, files["metrics"], indent=2)
        log.info("metrics -> %s", files["metrics"])
    if di.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return json_safe(metrics)


def _check_cell_files(cells: list[str], features: Mapping, targets: Mapping) -> None:
    """Every train and test cell type has its features and targets file (before anything is read)."""
    for kind, given, flag, example in (("features", features, "--features", "features/{c}/signal.zarr"),
                                       ("targets", targets, "--targets", "targets/{c}.parquet")):
        missing = [c for c in cells if c not in given]
        if missing:
            c = missing[0]
            raise InputError(
                f"no {kind} file for cell type{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                "(role train/test in the sample sheet)",
                fix=f"give each as {flag} {c}={example.format(c=c)} (the workflow's train rule passes "
                    "every train/test cell type's file)")


def init_head_bias(model: nn.Module, targets: list[np.ndarray]) -> float:
    """Start the Softplus head at the mean training target (log1p TPM) instead of ~0.7.

    With a few dozen region steps per run (the CPU demo), AdamW moves the output bias by about
    the learning rate per step, so from the default initialisation most of the budget would go
    into learning the mean. Deterministic: the mean of the finite training targets.
    """
    vals = np.concatenate([np.asarray(t, dtype=np.float64) for t in targets]) if targets else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return float("nan")
    mean = max(float(vals.mean()), 1e-3)
    with torch.no_grad():
        model.head.bias.fill_(mean + math.log(-math.expm1(-mean)))  # softplus^-1(mean)
    return mean


def _write_splits(ref, splits: "SplitPlan", dest: Path) -> None:
    """``splits.tsv``: gene_id and split (train/val/test/buffer) of every gene, for the evaluation."""
    from creator.io import write_tsv

    write_tsv(pd.DataFrame({"gene_id": ref.genes["gene_id"].to_numpy(), "split": splits.labels}), dest)


def _check_resume(ckpt: dict, mcfg, cfg: TrainConfig, identity: dict, path: Path) -> None:
    problems = []
    if ckpt.get("kind") != "creator-train-state":
        raise InputError("not a training state file", path=path, fix=f"delete {path} to start afresh")
    saved_cfg = ckpt.get("config", {})
    for k, (a, b) in _dict_diff(saved_cfg, mcfg.to_dict()).items():
        problems.append(f"model.{k}: {a!r} then, {b!r} now")
    now = cfg.to_dict()
    for k, (a, b) in _dict_diff(ckpt.get("train_config", {}), now).items():
        if k not in TrainConfig.RESUMABLE_CHANGES:
            problems.append(f"{k}: {a!r} then, {b!r} now")
    for k, (a, b) in _dict_diff(ckpt.get("identity", {}), identity).items():
        if k == "world_size":
            log.warning("%s was written by %s processes, resuming with %s: the run continues but is not "
                        "bit-identical to an uninterrupted one", path, a, b)
            continue
        problems.append(f"{k}: {a!r} then, {b!r} now")
    if problems:
        raise InputError("the saved training state was written with other settings or inputs: "
                         + "; ".join(problems), path=path,
                         fix=f"rerun with the same settings and inputs to resume, or delete {path} "
                             "(or choose another --out) to start afresh")


def _dict_diff(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


# ---------------------------------------------------------------------------------------------
# command line


def add_cli(sub) -> None:
    p = sub.add_parser("train", help="train the model on the training cell types and evaluate it",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="workflow config (its 'samples' sheet gives the cell roles)")
    p.add_argument("--reference", required=True, help="reference directory (results/reference)")
    p.add_argument("--features", nargs="+", action="extend", required=True, metavar="CELL=ZARR",
                   help="each train/test cell type's signal.zarr (the features stage's output)")
    p.add_argument("--targets", nargs="+", action="extend", required=True, metavar="CELL=PARQUET",
                   help="each train/test cell type's targets parquet (the targets stage's output)")
    p.add_argument("--out", required=True, help="output directory (checkpoint.pt, last.pt, metrics.json, splits.tsv)")
    p.add_argument("--train-config", help="YAML mapping of training settings (see creator.train.TrainConfig)")
    p.add_argument("--preset", choices=["tiny", "demo", "published"], help="model size preset")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--restart-on-mismatch", action="store_true",
                   help="when last.pt was written with other settings or inputs, set it aside (last.stale.pt) "
                        "and start afresh instead of stopping (the workflow passes this: it reruns train "
                        "exactly when settings or inputs changed)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from creator.config import cell_types, load_config, read_samples

    config = load_config(args.config)
    samples = read_samples(config["samples"])
    cfg = TrainConfig.from_dict(config.get("train") or {}, source=str(args.config))
    cfg = load_train_config(args.train_config, base=cfg)
    flags = {k: v for k, v in (("preset", args.preset), ("max_epochs", args.max_epochs), ("seed", args.seed))
             if v is not None}
    cfg = TrainConfig.from_dict(flags, source="command line", base=cfg)
    features = name_path_pairs(args.features, "--features", example="K562=features/K562/signal.zarr")
    targets = name_path_pairs(args.targets, "--targets", example="K562=targets/K562.parquet")
    train(reference=args.reference, features=features, targets=targets, out=args.out,
          train_cells=cell_types(samples, ("train",)), test_cells=cell_types(samples, ("test",)), config=cfg,
          device=args.device, config_source=args.train_config or str(args.config),
          restart_on_mismatch=args.restart_on_mismatch)
    return 0
