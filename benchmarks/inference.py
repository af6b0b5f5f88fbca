"""Inference speed: cached element encodings + batched genes (ours) vs the published method.

The published CREaTor code runs one gene per forward pass and re-encodes every cCRE of the gene's
window each time. Ours encodes each cCRE once per cell type and runs the gene-level encoder over
regions of neighbouring genes that gather those embeddings and share the first gene layer's keys,
values and scores and every layer's element-pair distance bias
(``creator.inference.predict_windows``; ``--region-bp 0``: padded gene batches,
``creator.inference.predict_cached``); both compute the same numbers as the published method
(checked here on the sampled genes; the script exits 1 when they differ by more than 1e-4).

The layout is synthetic but chromosome-like: by default ~17,700 cCREs and ~500 genes with +/-1 Mb
windows holding ~900 cCREs each, as on real chr22. ``--scale`` shrinks the chromosome (cCREs and
genes together, same density, so each window still holds ~900 cCREs and each cCRE still falls in
~26 windows). The published method is timed on ``--sample`` random genes and extrapolated to all
genes in proportion to their window sizes (its cost is ~linear in the number of cCREs encoded).

Prints genes/s for both, peak RSS (and peak CUDA memory on CUDA); the last line is
``speedup: <ours genes/s divided by the published method's>``.

    python benchmarks/inference.py                     # CPU, published sizes, scale 0.25
    python benchmarks/inference.py --scale 1 --device cuda --bf16
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from creator.inference import encode_all, predict_cached, predict_windows, windows_from_ranges  # noqa: E402
from creator.inference.run import REGION_BP  # noqa: E402
from creator.model import CreatorModel, ModelConfig  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def synthetic_layout(n_ccre: int, n_genes: int, window_elements: int, window_bp: int, rng: np.random.Generator):
    """cCRE centres and gene TSSs spread uniformly over a chromosome sized so that a full window
    holds ``window_elements`` cCREs on average; windows = cCREs within ``window_bp`` of the TSS."""
    spacing = 2 * window_bp / window_elements
    chrom_len = int(n_ccre * spacing)
    centers = np.sort(rng.integers(0, chrom_len, n_ccre)).astype(np.int64)
    tss = np.sort(rng.integers(0, chrom_len, n_genes)).astype(np.int64)
    lo = np.searchsorted(centers, tss - window_bp, side="left")
    hi = np.searchsorted(centers, tss + window_bp, side="right")
    return centers, tss, lo, hi, chrom_len


def setup_device(ap: argparse.ArgumentParser, args: argparse.Namespace) -> torch.device:
    """``--device`` (CUDA checked) and ``--threads`` of a benchmark's command line."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def synthetic_inputs(rng: np.random.Generator, n_ccre: int, config: ModelConfig, resolution: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Random sequence tokens ``uint8 [N, element_bp]`` (ACGT) and log1p-gamma signal ``float16
    [N, element_bp / resolution, n_tracks]``, as stored on disk."""
    L = config.element_bp
    tokens = rng.integers(1, 5, (n_ccre, L), dtype=np.uint8)
    signal = np.log1p(rng.gamma(0.5, 2.0, (n_ccre, L // resolution, config.n_tracks))).astype(np.float16)
    return tokens, signal


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="published", help="model preset (published, demo, tiny)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--scale", type=float, default=0.25,
                    help="fraction of a chr22-like chromosome (1 = 17,700 cCREs, 500 genes); default 0.25 "
                         "keeps a 2-core CPU run within ~5 minutes")
    ap.add_argument("--n-ccre", type=int, default=None, help="override the number of cCREs")
    ap.add_argument("--n-genes", type=int, default=None, help="override the number of genes")
    ap.add_argument("--window-elements", type=int, default=900, help="mean cCREs per full window")
    ap.add_argument("--window-bp", type=int, default=1_000_000, help="window half-width around the TSS")
    ap.add_argument("--resolution", type=int, default=10, help="signal bin size in bp (as stored on disk)")
    ap.add_argument("--sample", type=int, default=2, help="genes timed with the published method")
    ap.add_argument("--batch-genes", type=int, default=None, help="genes per stage-2 batch (cpu 8, cuda 32)")
    ap.add_argument("--element-batch", type=int, default=None, help="cCREs per stage-1 batch (cpu 256, cuda 2048)")
    ap.add_argument("--region-bp", type=int, default=REGION_BP,
                    help="stage 2 through regions of this span (creator.inference.predict_windows: the "
                         "first gene layer and the distance bias shared by a region's genes); 0 = padded "
                         "gene batches (predict_cached)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (meant for CUDA)")
    ap.add_argument("--no-cudnn-attention", action="store_true",
                    help="keep SDPA off the cuDNN backend (it builds a plan per new shape, which the "
                         "published method's one-gene passes of varying size pay again and again)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    device = setup_device(ap, args)
    cuda = device.type == "cuda"
    batch_genes = args.batch_genes or (32 if cuda else 8)
    element_batch = args.element_batch or (2048 if cuda else 256)
    n_ccre = args.n_ccre or max(1, round(17_700 * args.scale))
    n_genes = args.n_genes or max(1, round(500 * args.scale))

    config = ModelConfig.preset(args.preset)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    model = CreatorModel(config).to(device).eval()

    centers, tss, lo, hi, chrom_len = synthetic_layout(n_ccre, n_genes, args.window_elements, args.window_bp, rng)
    sizes = hi - lo
    windows, offsets = windows_from_ranges(lo, hi, centers, tss)
    L = config.element_bp
    if L % args.resolution:
        ap.error(f"--resolution {args.resolution} must divide element_bp {L}")
    tokens_all, signal_all = synthetic_inputs(rng, n_ccre, config, args.resolution)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else nullcontext()
    if args.no_cudnn_attention:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]).__enter__()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    print(f"device: {device}" + (f" ({torch.cuda.get_device_name(device)})" if cuda else
                                 f" ({torch.get_num_threads()} threads)")
          + f"; torch {torch.__version__}; preset {args.preset} (d {config.d_model}, heads {config.n_heads}, "
          f"ff {config.d_ff}, layers {config.element_layers}+{config.gene_layers}, element_bp {L})"
          + ("; bf16 autocast" if args.bf16 else "; float32")
          + ("; SDPA without cuDNN" if args.no_cudnn_attention else ""))
    print(f"layout: {n_ccre} cCREs over {chrom_len / 1e6:.1f} Mb, {n_genes} genes, window +/-{args.window_bp:,} bp: "
          f"{sizes.mean():.0f} cCREs per window (median {np.median(sizes):.0f}, max {sizes.max()}), "
          f"each cCRE in {sizes.sum() / n_ccre:.1f} windows; {sizes.sum():,} (gene, cCRE) pairs")

    # warm-up (allocator, kernels) on a few cCREs
    with torch.inference_mode(), autocast:
        k = min(32, n_ccre)
        w_small = [np.arange(k), np.arange(k // 2)]
        o_small = [centers[:k] - centers[k // 2], centers[:k // 2] - centers[0]]
        predict_cached(model, tokens_all[:k], signal_all[:k], w_small, o_small, batch_genes=2, element_batch=k)
    sync()

    # ---- (a) ours: every cCRE once, then batched genes
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode(), autocast:
        t0 = time.perf_counter()
        emb = encode_all(model, tokens_all, signal_all, element_batch=element_batch, device=device)
        sync()
        t1 = time.perf_counter()
        if args.region_bp:
            ours = predict_windows(model, emb, centers, lo, hi, tss, region_bp=args.region_bp,
                                   batch_genes=batch_genes)
        else:
            ours = predict_cached(model, None, None, windows, offsets, batch_genes=batch_genes, embeddings=emb,
                                  device=device)
        sync()
        t2 = time.perf_counter()
    ours_s = t2 - t0
    ours_gps = n_genes / ours_s
    rss_ours = peak_rss_mb()
    cuda_ours = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    print(f"ours: stage 1 {t1 - t0:.1f} s ({n_ccre / (t1 - t0):.0f} cCREs/s, element batch {element_batch}), "
          f"stage 2 {t2 - t1:.1f} s (" + (f"regions of {args.region_bp:,} bp" if args.region_bp
                                            else f"gene batch {batch_genes}") + f"); {ours_s:.1f} s for {n_genes} genes = "
          f"{ours_gps:.3f} genes/s; peak RSS {rss_ours:.0f} MiB"
          + (f"; peak CUDA memory {cuda_ours:.0f} MiB" if cuda else ""))

    # ---- (b) the published method: one gene per pass, re-encoding its whole window
    candidates = np.flatnonzero(sizes > 0)
    sample = np.sort(rng.choice(candidates, size=min(args.sample, len(candidates)), replace=False))
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    slow = np.zeros(len(sample), dtype=np.float32)
    slow_s = 0.0
    rep = args.resolution
    with torch.inference_mode(), autocast:
        for i, g in enumerate(sample):
            t0 = time.perf_counter()
            a, b = lo[g], hi[g]
            tok = torch.from_numpy(tokens_all[a:b]).to(device).long()[None]
            # the published code takes per-base signal
            sig = torch.from_numpy(signal_all[a:b]).to(device).float().repeat_interleave(rep, dim=1)[None]
            off = torch.from_numpy(offsets[g]).to(device)[None]
            mask = torch.ones_like(off, dtype=torch.bool)
            slow[i] = model(tok, sig, off, mask).float().item()
            sync()
            slow_s += time.perf_counter() - t0
    per_ccre = slow_s / sizes[sample].sum()
    slow_all_s = per_ccre * sizes.sum()
    slow_gps = n_genes / slow_all_s
    rss_all = peak_rss_mb()
    cuda_slow = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    diff = float(np.abs(slow - ours[sample]).max())
    print(f"published method: {len(sample)} sampled genes ({', '.join(str(int(s)) for s in sizes[sample])} cCREs) "
          f"in {slow_s:.1f} s = {len(sample) / slow_s:.4f} genes/s on the sample; extrapolated by window size "
          f"to all {n_genes} genes: {slow_all_s:.0f} s = {slow_gps:.4f} genes/s; peak RSS (whole run) "
          f"{rss_all:.0f} MiB" + (f"; peak CUDA memory {cuda_slow:.0f} MiB" if cuda else ""))
    print(f"max |ours - published method| on the sampled genes: {diff:.2e}")
    tolerance = 5e-2 if args.bf16 else 1e-4  # float32: the same function up to summation order
    if not diff <= tolerance:
        raise SystemExit(f"ours and the published method disagree by {diff:.3e} (> {tolerance:g})")
    speedup = ours_gps / slow_gps
    print(f"speedup: {speedup:.1f}")
    return speedup


if __name__ == "__main__":
    main()
