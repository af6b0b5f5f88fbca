"""The evaluate commands (evaluate-expression, evaluate-links, evaluate-hic, evaluate-summary, locus-
view). (Part of :mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import argparse
import json
import logging


from creator import ranking
from creator.config import add_config_argument, section_defaults, stage_settings
from creator.errors import InputError

from .common import combine_summaries
from .expression import evaluate_expression
from .truth import parse_peer, read_benchmark, read_truth_links
from .links import evaluate_links
from .boundaries import evaluate_hic
from .locus import add_locus_cli

log = logging.getLogger("creator.evaluate")

#: what each command's --help says (the metrics in full: the docstring of creator.evaluate)
DESCRIPTIONS = {
    "evaluate-expression": (
        "Pearson and Spearman of predicted against observed log1p TPM per cell type, over all genes and\n"
        "per split (train/val/test from the expression table's split column, or --splits). With --metrics,\n"
        "the trainer's input-only baselines on the same genes beside ours. Writes summary.tsv,\n"
        "expression.json and expression_scatter.png under --out."),
    "evaluate-links": (
        "Element-gene pairs of a CRISPRi benchmark (EPCrisprBenchmark format) or of the planted truth,\n"
        "joined to the link table by gene and overlapping cCRE, ranked by each link score (attention,\n"
        "isp_delta, Score), two baselines (distance, ABC-like) and any --peer predictions: AUPRC, AUROC\n"
        "and precision at 70% recall with bootstrap intervals, overall and per distance bin. Settings:\n"
        "the evaluate section of --config (n_bootstrap, seed); flags win. Writes summary.tsv, links.json,\n"
        "pairs.tsv.gz and pr_curves.png under --out."),
    "evaluate-hic": (
        "Our boundaries against Hi-C insulation boundaries (--hic) and/or planted boundaries\n"
        "(--truth-boundaries): recall, precision, overlap and enrichment over shuffled placements; with\n"
        "--attention the observed/expected correlation of attention and contacts; with --reference and\n"
        "--features as many boundaries called from the CTCF (else DNase) signal, scored the same way.\n"
        "Settings: evaluate.n_shuffles, hic_window_bp, hic_min_prominence, boundary_tolerance_bp and\n"
        "oe_max_distance_bp, and tads.barrier_distance_bins, of --config; flags win. Writes\n"
        "summary.tsv, hic.json, hic_insulation.tsv, hic_boundaries.bed and insulation.png under --out."),
    "evaluate-summary": (
        "Concatenates the partial summary.tsv files of the evaluations into one table (columns\n"
        "cell_type, method, metric, distance_bin, value, n; the columns are checked), sorted."),
}


def add_cli(sub) -> None:
    add_locus_cli(sub)
    _D, _T = section_defaults("evaluate"), section_defaults("tads")  # the config schema's defaults
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evaluate-expression", help="Pearson/Spearman of predicted vs observed expression",
                       description=DESCRIPTIONS["evaluate-expression"], formatter_class=fmt)
    p.add_argument("--expression", nargs="+", required=True, help="expression.tsv per cell type")
    p.add_argument("--cell", nargs="+", required=True, help="cell type of each --expression, same order")
    p.add_argument("--model", default="creator", help="model name (summary 'method')")
    p.add_argument("--splits", help="gene splits: TSV (gene_id, split) or the trainer's metrics.json")
    p.add_argument("--metrics", help="the trainer's metrics.json: its input-only baselines go beside ours")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_expression)

    p = sub.add_parser("evaluate-links", help="AUPRC/AUROC of link scores against CRISPRi or planted truth",
                       description=DESCRIPTIONS["evaluate-links"], formatter_class=fmt)
    p.add_argument("--links", required=True, help="links.tsv.gz of one (model, cell)")
    p.add_argument("--cell", required=True, help="cell type (summary 'cell_type')")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--benchmark", help="CRISPRi benchmark, EPCrisprBenchmark format")
    g.add_argument("--truth-links", help="planted truth links.tsv (synthetic data)")
    p.add_argument("--benchmark-cell", help="CellType of the benchmark to use (default: --cell)")
    p.add_argument("--keep-own-promoter", action="store_true",
                   help="with --truth-links, keep the pairs of genes with their own promoter cCRE")
    p.add_argument("--model", help="model name (prefixes 'method')")
    p.add_argument("--name", help="metric prefix (default crispr / planted)")
    p.add_argument("--max-distance", type=float, help="leave out pairs farther than this (bp) from the TSS")
    p.add_argument("--drop-not-scored", action="store_true",
                   help="leave out pairs without an overlapping cCRE instead of ranking them last")
    p.add_argument("--peer", action="append", default=[], metavar="NAME=PATH:COLUMN",
                   help="another method's predictions to score on the same pairs (repeatable)")
    add_config_argument(p, "evaluate")
    p.add_argument("--n-boot", type=int, help="evaluate.n_bootstrap: bootstrap resamples for the intervals "
                                              f"(0: none; default {_D['n_bootstrap']})")
    p.add_argument("--seed", type=int, help=f"evaluate.seed: seed of the bootstrap (default {_D['seed']})")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_links)

    p = sub.add_parser("evaluate-hic", help="boundaries vs Hi-C insulation / planted truth; attention vs Hi-C",
                       description=DESCRIPTIONS["evaluate-hic"], formatter_class=fmt)
    p.add_argument("--boundaries", required=True, help="our boundaries.bed")
    p.add_argument("--cell", required=True, help="cell type (summary 'cell_type')")
    p.add_argument("--model", help="model name (summary 'method'; default 'attention')")
    p.add_argument("--hic", help=".cool, .mcool::resolutions/N, or Juicer text dump 'bin1 bin2 count'")
    p.add_argument("--hic-chrom", help="chromosome of a Juicer text dump")
    p.add_argument("--hic-resolution", type=int, help="resolution (bp) of a Juicer text dump")
    p.add_argument("--no-hic-balance", action="store_true", help="raw Hi-C counts even when balanced weights exist")
    p.add_argument("--attention", help="attention of the tads stage: attention.mcool::resolutions/N, or a .cool "
                                       "(raw count pixels used)")
    p.add_argument("--barrier", help="barrier bedGraph of the tads stage (drawn in the plot)")
    p.add_argument("--truth-boundaries", help="planted truth boundaries.bed (synthetic data)")
    p.add_argument("--reference", help="reference directory: with --features, the CTCF/DNase-peak baseline")
    p.add_argument("--features", help="the cell's features signal.zarr (input-only boundary baseline)")
    p.add_argument("--baseline-distance-bins", type=int,
                   help="tads.barrier_distance_bins: baseline calls at least this many bins apart, as the tads "
                        f"stage's barrier boundaries (default {_T['barrier_distance_bins']})")
    p.add_argument("--chrom-sizes", help="chrom.sizes (assembly check, shuffle space)")
    p.add_argument("--window-bp", type=int,
                   help=f"evaluate.hic_window_bp: Hi-C insulation window (default {_D['hic_window_bp']})")
    p.add_argument("--prominence", type=float, help="evaluate.hic_min_prominence: min Hi-C boundary prominence, "
                                                    f"log2 (default {_D['hic_min_prominence']})")
    p.add_argument("--tolerance-bp", type=int,
                   help="evaluate.boundary_tolerance_bp: match distance (default: one Hi-C bin)")
    add_config_argument(p, "evaluate and tads")
    p.add_argument("--n-shuffles", type=int,
                   help=f"evaluate.n_shuffles: shuffles for the enrichment (default {_D['n_shuffles']})")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the shuffles (default 0; evaluate.seed is the link bootstrap's)")
    p.add_argument("--max-distance", type=int, help="evaluate.oe_max_distance_bp: O/E correlation up to this "
                                                    f"distance (bp; default {_D['oe_max_distance_bp']})")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli_hic)

    p = sub.add_parser("evaluate-summary", help="concatenate partial summary.tsv files",
                       description=DESCRIPTIONS["evaluate-summary"], formatter_class=fmt)
    p.add_argument("--inputs", nargs="+", required=True, help="summary.tsv files")
    p.add_argument("--out", required=True, help="combined summary.tsv")
    p.set_defaults(func=_cli_summary)


def _cli_expression(args) -> int:
    if len(args.expression) != len(args.cell):
        raise InputError(f"{len(args.expression)} --expression file(s) but {len(args.cell)} --cell name(s)",
                         fix="give one cell type per expression table, in the same order")
    evaluate_expression(dict(zip(args.cell, args.expression)), args.out, model=args.model, splits=args.splits,
                        metrics=args.metrics)
    return 0


def _cli_links(args) -> int:
    cfg = stage_settings(args.config, "evaluate", {"n_bootstrap": args.n_boot, "seed": args.seed})
    if args.benchmark:
        truth = read_benchmark(args.benchmark, cell_type=args.benchmark_cell or args.cell, name=args.name or "crispr")
    else:
        truth = read_truth_links(args.truth_links, exclude_own_promoter=not args.keep_own_promoter,
                                 name=args.name or "planted")
    evaluate_links(args.links, truth, args.out, cell_type=args.cell, model=args.model,
                   max_distance=args.max_distance, drop_not_scored=args.drop_not_scored,
                   peers=[parse_peer(p) for p in args.peer], n_boot=cfg["n_bootstrap"], seed=cfg["seed"])
    return 0


def _cli_hic(args) -> int:
    ev = stage_settings(args.config, "evaluate", {"n_shuffles": args.n_shuffles, "hic_window_bp": args.window_bp,
                                                  "hic_min_prominence": args.prominence,
                                                  "boundary_tolerance_bp": args.tolerance_bp,
                                                  "oe_max_distance_bp": args.max_distance})
    n_shuffles = ev["n_shuffles"]
    distance_bins = stage_settings(args.config, "tads",
                                   {"barrier_distance_bins": args.baseline_distance_bins})["barrier_distance_bins"]
    if n_shuffles < 1:
        raise InputError("--n-shuffles must be >= 1", fix="give a positive number")
    evaluate_hic(args.boundaries, args.out, cell_type=args.cell, model=args.model, hic=args.hic,
                 hic_chrom=args.hic_chrom, hic_resolution=args.hic_resolution,
                 hic_balance=False if args.no_hic_balance else None, attention=args.attention, barrier=args.barrier,
                 truth_boundaries=args.truth_boundaries, chrom_sizes=args.chrom_sizes, window_bp=ev["hic_window_bp"],
                 prominence=ev["hic_min_prominence"], tolerance_bp=ev["boundary_tolerance_bp"], n_shuffles=n_shuffles,
                 seed=args.seed, max_distance_bp=ev["oe_max_distance_bp"], reference=args.reference,
                 features=args.features, baseline_distance_bins=distance_bins)
    return 0


def _cli_summary(args) -> int:
    combine_summaries(args.inputs, args.out)
    return 0
