"""Training speed: region batches (ours) vs the plain per-gene training loop, in one process.

Ours is what ``creator train`` runs (:class:`creator.train._UnitForward`): genes whose windows lie
within ``region_bp`` form one step; every cCRE of the region is encoded once (stage 1, activation
checkpointing in chunks), stage 2 runs on the genes (windows of at least ``REGION_PATH_MIN_WINDOW``
cCREs through ``CreatorModel.forward_region``: first-layer scores shared by the region's genes),
one AdamW step per region. The plain loop is the published method's: one gene per step, its whole
window re-encoded through stage 1 every time (``CreatorModel.forward``). Both compute the same loss
for the same parameters (checked here on the sampled genes).

The layout is synthetic but chromosome-like (as in ``benchmarks/inference.py``): by default ~4,400
cCREs and ~125 genes with +/-1 Mb windows of ~900 cCREs, the demo model (the preset ``make demo``
trains). The per-gene loop is timed on ``--sample`` genes and extrapolated to the whole epoch in
proportion to window size (its cost is ~linear in the cCREs encoded).

Prints genes/s per epoch for both; the last line is ``speedup: <ours / per-gene loop>``.

    python benchmarks/train.py                      # CPU, demo preset, scale 0.25
    python benchmarks/train.py --device cuda --scale 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from creator import data  # noqa: E402
from creator.model import CreatorModel, ModelConfig  # noqa: E402
from creator.train import REGION_PATH_MIN_WINDOW, TrainConfig, _UnitForward  # noqa: E402
from inference import setup_device, synthetic_inputs, synthetic_layout  # noqa: E402


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo", help="model preset (demo, published, tiny)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--scale", type=float, default=0.25, help="fraction of a chr22-like chromosome (1 = 17,700 cCREs, 500 genes)")
    ap.add_argument("--window-elements", type=int, default=900, help="mean cCREs per full window")
    ap.add_argument("--window-bp", type=int, default=1_000_000)
    ap.add_argument("--resolution", type=int, default=10, help="signal bin size in bp")
    ap.add_argument("--sample", type=int, default=3, help="genes timed with the per-gene loop")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of ours (the first includes warm-up)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    device = setup_device(ap, args)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cfg = TrainConfig(preset=args.preset)
    config = ModelConfig.preset(args.preset, dropout=0.0)  # no dropout: both loops compute the same loss
    rng = np.random.default_rng(args.seed)
    n_ccre, n_genes = max(1, round(17_700 * args.scale)), max(1, round(500 * args.scale))
    centers, tss, lo, hi, chrom_len = synthetic_layout(n_ccre, n_genes, args.window_elements, args.window_bp, rng)
    sizes = hi - lo
    tokens_all, signal_all = (torch.from_numpy(x) for x in synthetic_inputs(rng, n_ccre, config, args.resolution))
    target = torch.from_numpy(rng.normal(2.0, 1.0, n_genes).astype(np.float32))
    # the layout as far as creator.data's region planning and window layout read it
    layout = SimpleNamespace(lo=lo, hi=hi, tss=tss, ccre_center=centers, n_ccre=n_ccre,
                             gene_chrom=np.zeros(n_genes, dtype=np.int64))
    groups, singles = data.plan_regions(layout, np.flatnonzero(sizes > 0), cfg.region_bp)
    regions = groups + [np.array([g]) for g in singles]
    print(f"device: {device} ({torch.get_num_threads()} threads); torch {torch.__version__}; preset {args.preset} "
          f"(d {config.d_model}, layers {config.element_layers}+{config.gene_layers}); {n_ccre} cCREs, {n_genes} genes, "
          f"{sizes.mean():.0f} cCREs per window; {len(regions)} regions of <= {cfg.region_bp / 1e6:.0f} Mb "
          f"(element chunk {cfg.element_chunk}, gene chunk {cfg.gene_chunk})")

    def batch(genes: np.ndarray):
        a, b = int(lo[genes].min()), int(hi[genes].max())
        index, mask, offset = data.window_layout(layout, genes, a)
        center = torch.from_numpy(centers[a:b]).to(device) if index.shape[1] >= REGION_PATH_MIN_WINDOW else None
        return (tokens_all[a:b].to(device), signal_all[a:b].to(device), torch.from_numpy(index).to(device),
                torch.from_numpy(offset).to(device), torch.from_numpy(mask).to(device), center)

    def fresh():
        torch.manual_seed(args.seed)
        model = CreatorModel(config).to(device).train()
        return model, torch.optim.AdamW(model.parameters(), lr=1e-4)

    # ---- ours: region batches
    model, opt = fresh()
    step = _UnitForward(model, cfg.element_chunk, cfg.gene_chunk)
    for epoch in range(args.epochs):
        sync()
        t0 = time.perf_counter()
        for genes in regions:
            pred, _ = step(*batch(genes))
            loss = data.mse_sum(pred, target[genes].to(device)) / len(genes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        dt = time.perf_counter() - t0
        ours_gps = int((sizes > 0).sum()) / dt
        print(f"ours: epoch {epoch}: {dt:.1f} s = {ours_gps:.2f} genes/s")

    # ---- the plain per-gene loop (same initial model)
    model, opt = fresh()
    sample = np.sort(rng.choice(np.flatnonzero(sizes > 0), size=min(args.sample, int((sizes > 0).sum())), replace=False))
    slow_s, losses = 0.0, []
    for g in sample:
        sync()
        t0 = time.perf_counter()
        a, b = lo[g], hi[g]
        tok = tokens_all[a:b].to(device).long()[None]
        sig = signal_all[a:b].to(device).float().repeat_interleave(args.resolution, dim=1)[None]  # per base, as published
        off = torch.from_numpy(centers[a:b] - tss[g]).to(device)[None]
        pred = model(tok, sig, off, torch.ones_like(off, dtype=torch.bool))
        loss = ((pred.float() - target[g].to(device)) ** 2).sum()
        losses.append(float(loss.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        slow_s += time.perf_counter() - t0
    slow_epoch_s = slow_s / sizes[sample].sum() * sizes.sum()
    slow_gps = int((sizes > 0).sum()) / slow_epoch_s
    print(f"per-gene loop: {len(sample)} sampled genes in {slow_s:.1f} s; extrapolated epoch {slow_epoch_s:.0f} s = "
          f"{slow_gps:.3f} genes/s")
    # the same function: the first sampled gene's loss from the untouched model, through ours
    model, _ = fresh()
    with torch.no_grad():
        check, _ = _UnitForward(model, cfg.element_chunk, cfg.gene_chunk)(*batch(sample[:1]))
    diff = abs(float(((check.float() - target[sample[0]].to(device)) ** 2).sum()) - losses[0])
    print(f"|loss ours - loss per-gene loop| on gene {sample[0]} before any step: {diff:.2e}")
    if diff > 1e-3 * max(1.0, losses[0]):
        raise SystemExit(f"ours and the per-gene loop disagree: {diff:.3e}")
    speedup = ours_gps / slow_gps
    print(f"speedup: {speedup:.1f}")
    return speedup


if __name__ == "__main__":
    main()
