"""End to end on simulated data with planted truth (config/synthetic.yaml): the workflow must
recover what was planted. Floors are conservative; the figures of a run are in the closing notes."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import SYNTHETIC_MODEL as MODEL
from creator.io import read_table

pytestmark = pytest.mark.slow


def summary(out, what="links"):
    """The held-out cellD's link or boundary evaluation (the rows eval/summary.tsv gathers)."""
    return pd.read_csv(out / "eval" / MODEL / what / "cellD" / "summary.tsv", sep="\t")


def value(s, cell, method, metric, distance_bin="all"):
    row = s[(s.cell_type == cell) & (s.method == method) & (s.metric == metric) & (s.distance_bin == distance_bin)]
    assert len(row) == 1, (cell, method, metric, distance_bin)
    return float(row["value"].iloc[0])


def test_zero_shot_expression_beats_baselines(synthetic_run):
    m = json.loads((synthetic_run / "model" / MODEL / "metrics.json").read_text())
    held_out = m["cells"]["cellD"]
    assert held_out["role"] == "test"
    res = held_out["splits"]["all"]
    assert res["n"] == 300
    # measured (seeds 0 / 1 / 2): 0.73 / 0.75 / 0.69 against 0.43 (promoter DNase), 0.33
    # (distance-weighted DNase), 0.36 (power law)
    assert res["spearman"] > 0.5
    for baseline in ("promoter_dnase", "dnase_exp", "dnase_powerlaw"):
        assert res["spearman"] > res["baselines"][baseline]["spearman"] + 0.1, baseline


def test_planted_links_recovered_above_baselines(synthetic_run):
    # Score = the rank mean of ABC-like, attention and -isp_delta (creator.linkscore.rank_mean).
    # Measured (benchmarks/science.py, training seeds 0 / 1 / 2): AUPRC 0.129 / 0.177 / 0.134 against
    # ABC-like 0.124 and distance 0.066 (prevalence 0.016); AUROC 0.861 / 0.888 / 0.877 against 0.856.
    # With train.insulation_l1 0.1 (the config now), seeds 0 / 1 / 2: AUPRC 0.175 / 0.171 / 0.180,
    # AUROC 0.888 / 0.883 / 0.883. The floors are what held on every run measured, not this seed's margin.
    s = summary(synthetic_run)
    ours = value(s, "cellD", f"{MODEL}/Score", "planted_auprc")
    distance = value(s, "cellD", f"{MODEL}/baseline_distance", "planted_auprc")
    abc = value(s, "cellD", f"{MODEL}/baseline_abc", "planted_auprc")
    prevalence = value(s, "cellD", "pairs", "planted_prevalence")
    assert ours > distance + 0.05 and ours >= abc
    assert ours > 5 * prevalence
    # AUROC against both baselines: distance ranks the planted links about as well as ABC-like does
    # (0.860 and 0.856), so beating ABC-like alone says little. Seeds 0 / 1 / 2: 0.861 / 0.888 / 0.877,
    # so the floor is "at or above both", the most every seed measured supports (seed 0: +0.001).
    auroc = value(s, "cellD", f"{MODEL}/Score", "planted_auroc")
    for baseline in ("baseline_abc", "baseline_distance"):
        assert auroc >= value(s, "cellD", f"{MODEL}/{baseline}", "planted_auroc"), baseline
    # the paired interval of the difference is reported next to it
    assert np.isfinite(value(s, "cellD", f"{MODEL}/Score", "planted_auprc_minus_baseline_abc_ci95_low"))


def test_planted_boundaries_found(synthetic_run):
    """Boundaries called from the learned insulation barrier (tads.boundaries_from: auto) recover
    the planted domain boundaries of the held-out cell type well above shuffled placements.
    With the L1 prior on the insulation (train.insulation_l1 0.1), seeds 0-4: recall 1.00 on every
    one, 5.6- to 8.7-fold over shuffled (seed 1: 8.2); without it seeds 0 / 2 gave 0.10 / 0.29
    (README, seed table). The floors are what every seed measured clears.

    Beside them, the input-only baseline (as many calls at the strongest peaks of the binned CTCF
    signal, creator.boundary_baselines): recall 0.95-1.00 at the same counts, 5.6- to 8.3-fold.
    The simulator plants two strongly bound CTCF sites (activity 0.85-1 in every cell type) at
    each boundary and lone, variably bound ones elsewhere, so CTCF strength alone nearly marks the
    boundaries; in real genomes most CTCF sites are not domain boundaries. Ours matches it and
    does not clearly beat it here."""
    s = summary(synthetic_run, "tads")
    assert value(s, "cellD", MODEL, "planted_boundary_recall") >= 0.8
    # enrichment = our precision over that of as many shuffled boundaries
    assert value(s, "cellD", MODEL, "planted_boundary_enrichment") > 3.0
    assert value(s, "cellD", MODEL, "planted_boundary_pvalue") < 0.01
    # the learned barrier is higher at the planted boundaries than elsewhere: mean over the occupied
    # bins within one bin of a planted boundary over the mean of the other occupied bins. Seeds
    # 0-4: 26 / 24 / 6.3 / 25 / 26 (without the L1 prior, seeds 0-2: 0.58 / 4.7 / 1.31).
    truth = pd.read_csv(synthetic_run.parents[1] / "resources" / "synthetic" / "truth" / "boundaries.bed",
                        sep="\t", header=None, comment="#")
    bar = pd.read_csv(synthetic_run / "tads" / MODEL / "cellD" / "barrier.bedgraph", sep="\t", header=None,
                      names=["chrom", "start", "end", "value"], comment="#")
    mid = (bar["start"] + bar["end"]) // 2
    near = np.zeros(len(bar), bool)
    for chrom, g in truth.groupby(0):
        pos = ((g[1] + g[2]) // 2).to_numpy()
        m = (bar["chrom"] == chrom).to_numpy()
        near[m] = (np.abs(mid[m].to_numpy()[:, None] - pos[None, :]) <= 10_000).any(axis=1)
    occupied = bar["value"].to_numpy() > 0
    assert near.sum() >= len(truth)
    ratio = bar["value"][near & occupied].mean() / bar["value"][~near & occupied].mean()
    assert ratio > 3.0, ratio
    # the input-only baseline is scored beside ours, with as many calls
    base = f"{MODEL}/baseline_ctcf_peaks"
    assert value(s, "cellD", base, "planted_n_boundaries") == value(s, "cellD", MODEL, "n_boundaries")
    assert value(s, "cellD", base, "planted_boundary_recall") >= 0.9   # 0.95-1.00 at our counts (seeds 0-4)
    # ours at least as good as that baseline, within one boundary of the 21
    assert value(s, "cellD", MODEL, "planted_boundary_recall") >= value(s, "cellD", base,
                                                                        "planted_boundary_recall") - 1 / 21


def test_link_table_invariants(synthetic_run):
    genes = pd.read_parquet(synthetic_run / "reference" / "genes.parquet").set_index("gene_id")
    links = read_table(synthetic_run / "links" / MODEL / "cellD" / "links.tsv.gz")
    assert list(links.columns[:10]) == ["chr", "start", "end", "name", "class", "TargetGene",
                                        "TargetGeneEnsemblID", "TargetGeneTSS", "CellType", "Score"]
    lo = genes.loc[links["gene_id"], "win_lo"].to_numpy()
    hi = genes.loc[links["gene_id"], "win_hi"].to_numpy()
    idx = links["ccre_index"].to_numpy()
    assert ((idx >= lo) & (idx < hi)).all()  # never outside the gene's window
    assert len(links) == int((genes["win_hi"] - genes["win_lo"]).sum())  # every pair in every window
    for col in ("Score", "attention", "isp_delta"):
        assert np.isfinite(links[col]).all(), col
    chrom_codes = pd.Categorical(links["chr"], categories=sorted(links["chr"].unique(), key=lambda c: int(c[4:])))
    order = np.lexsort((links["TargetGeneTSS"], links["start"], chrom_codes.codes))
    assert (order == np.arange(len(links))).all()  # sorted: chr, start, TSS
    # the BEDPE holds exactly the links above the links.bedpe_threshold quantile of Score, with their scores
    # (the TSV's Score is rounded to 6 digits, so links tied with the quantile there may be either
    # side of it: seed 2 put 2 of 22,314 there)
    bedpe = read_table(synthetic_run / "links" / MODEL / "cellD" / "links.bedpe.gz")
    q = np.quantile(links["Score"], 0.95)
    assert 0 < int((links["Score"] > q).sum()) <= len(bedpe) <= int((links["Score"] >= q).sum())
    np.testing.assert_allclose(np.sort(bedpe["score"].to_numpy(float)),
                               np.sort(links["Score"].to_numpy(float))[-len(bedpe):], rtol=1e-5)


def test_every_output_and_the_report(synthetic_run):
    for cell in ("cellA", "cellD", "cellE"):
        for rel in (f"predict/{MODEL}/{cell}/expression.tsv", f"links/{MODEL}/{cell}/links.tsv.gz",
                    f"links/{MODEL}/{cell}/links.tsv.gz.tbi",
                    f"tads/{MODEL}/{cell}/attention.mcool", f"tads/{MODEL}/{cell}/boundaries.bed",
                    f"tads/{MODEL}/{cell}/loops.bedpe", f"tads/{MODEL}/{cell}/insulation.bedgraph",
                    f"tads/{MODEL}/{cell}/insulation.bw", f"tads/{MODEL}/{cell}/barrier.bedgraph",
                    f"tads/{MODEL}/{cell}/barrier.bw"):
            assert (synthetic_run / rel).stat().st_size > 0, rel
    # the attention map as HiGlass reads it: every zoom level, the config's assembly
    import cooler

    mcool = synthetic_run / "tads" / MODEL / "cellD" / "attention.mcool"
    levels = sorted(int(g.rsplit("/", 1)[1]) for g in cooler.fileops.list_coolers(str(mcool)))
    assert levels == [10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]
    assert {cooler.Cooler(f"{mcool}::resolutions/{r}").info["genome-assembly"] for r in levels} == {"synthetic"}
    assert (synthetic_run / "report.zip").stat().st_size > 10_000
    for what in ("links", "tads"):
        assert list(summary(synthetic_run, what).columns) == ["cell_type", "method", "metric", "distance_bin",
                                                             "value", "n"]
