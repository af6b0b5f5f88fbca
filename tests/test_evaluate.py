"""creator.evaluate: ranking metrics, CRISPRi/truth joins, expression, Hi-C readers, insulation,
boundary enrichment, summaries and the command line."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from creator import evaluate as ev
from creator.cli import main
from creator.errors import InputError
from creator.evaluate.links import _links_coverage
from creator.io import json_safe
from conftest import REPO

FULCO = REPO / "resources" / "demo" / "crispr" / "EPCrisprBenchmark_Fulco2019_K562_GRCh38.tsv.gz"


# ---------------------------------------------------------------------------------------------
# ranking metrics on hand-computed examples


def test_average_precision_and_auroc_hand_computed():
    y = [1, 0, 1, 0]
    s = [0.9, 0.8, 0.7, 0.1]
    # thresholds: .9 P=1 R=.5; .8 P=.5 R=.5; .7 P=2/3 R=1; .1 P=.5 R=1
    assert ev.average_precision(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # positive/negative pairs ranked right: (.9,.8), (.9,.1), (.7,.1) of 4
    assert ev.auroc(y, s) == pytest.approx(0.75)
    prec, rec, thr = ev.precision_recall_curve(y, s)
    np.testing.assert_allclose(prec, [1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(rec, [0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [0.9, 0.8, 0.7, 0.1])
    assert ev.precision_at_recall(y, s, 0.7) == pytest.approx((2 / 3, 0.7))
    assert ev.precision_at_recall(y, s, 0.5) == pytest.approx((1.0, 0.9))


def test_ties_enter_together():
    # all tied: one threshold, precision = prevalence, AUROC one half
    assert ev.average_precision([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(0.5)
    assert ev.auroc([1, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(0.5)
    # y=[1,1,0], s=[2,1,1]: t=2 P=1 R=.5; t=1 P=2/3 R=1 -> AP = .5 + .5*2/3; AUROC = (1 + .5) / 2
    assert ev.average_precision([1, 1, 0], [2, 1, 1]) == pytest.approx(0.5 + 1 / 3)
    assert ev.auroc([1, 1, 0], [2, 1, 1]) == pytest.approx(0.75)
    # y=[1,0,1,0], s=[1,1,0,0]: t=1 P=.5 R=.5; t=0 P=.5 R=1
    assert ev.average_precision([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.5)
    assert ev.auroc([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.5)
    # not scored (-inf) pairs rank last, tied
    assert ev.average_precision([1, 0, 1], [1, 0, -np.inf]) == pytest.approx(0.5 + 1 / 3)
    assert ev.auroc([1, 0, 1, 0], [1, 0, -np.inf, -np.inf]) == pytest.approx((1 + 1 + 0 + 0.5) / 4)


def test_auroc_equals_mann_whitney_with_ties():
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.2
    s = rng.integers(0, 8, 300).astype(float)  # many ties
    pos, neg = s[y], s[~y]
    mw = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert ev.auroc(y, s) == pytest.approx(mw)
    # AP by definition: mean over positives of the precision at their (tied) threshold
    ap = np.mean([((s >= t) & y).sum() / (s >= t).sum() for t in pos])
    assert ev.average_precision(y, s) == pytest.approx(ap)


def test_metrics_degenerate_inputs():
    assert np.isnan(ev.average_precision([0, 0], [1, 2]))
    assert np.isnan(ev.auroc([1, 1], [1, 2]))
    assert np.isnan(ev.precision_at_recall([0, 0], [1, 2])[0])
    assert ev.average_precision([1], [0.3]) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        ev.auroc([1, 0], [np.nan, 1])


def test_distance_bins():
    d = [0, 9_999, 10_000, -99_999, 100_000, 2_500_000, 2_500_001, np.nan]
    assert list(ev.distance_bins(d)) == ["0-10kb", "0-10kb", "10-100kb", "10-100kb", "100kb-2.5Mb",
                                         "100kb-2.5Mb", None, None]


# ---------------------------------------------------------------------------------------------
# CRISPRi benchmark: the real Fulco file and a synthetic one with planted positives


def test_fulco_benchmark_parses():
    # Golden numbers from the file alone, with F=resources/demo/crispr/EPCrisprBenchmark_Fulco2019_K562_GRCh38.tsv.gz
    # and K='NR>1 && $14=="K562"' (columns: 7 startTSS, 9 measuredGeneSymbol, 13 ValidConnection, 16 Regulated):
    #   5091: zcat $F | awk -F'\t' "$K" | wc -l;  3852: add && $13=="TRUE";  101: add && $13=="TRUE" && $16=="TRUE"
    #   (137: zcat $F | awk -F'\t' 'NR>1 && $16=="TRUE"' | wc -l);  1239 invalid, 1228 of them PromoterElement:
    #   zcat $F | awk -F'\t' "$K"' && $13!="TRUE"{print $13}' | sort | uniq -c  (11 give another reason)
    #   54 genes: zcat $F | awk -F'\t' "$K"' && $13=="TRUE"{print $9}' | sort -u | wc -l
    #   81 without a TSS: ... && $13=="TRUE" && $7=="NA";  distance bins 75 / 614 / 3082: the others'
    #   |(chromStart + chromEnd) / 2 - startTSS| below 10 kb / below 100 kb / beyond
    b = ev.read_benchmark(FULCO, cell_type="K562")
    assert b.n_rows == 5091
    assert b.n_invalid == 1239
    assert b.invalid_reasons["PromoterElement"] == 1228
    p = b.pairs
    assert len(p) == 3852                  # ValidConnection == TRUE
    assert int(p["positive"].sum()) == 101  # Regulated == TRUE among them (137 in the whole file)
    assert p["gene_symbol"].nunique() == 54
    assert set(p["chrom"]) >= {"chr19", "chrX", "chr3", "chr12", "chr8", "chr11"}
    assert "chr22" not in set(p["chrom"])
    # distances from startTSS; 81 pairs have no TSS in the file
    assert int(p["distance"].isna().sum()) == 81
    counts = pd.Series(ev.distance_bins(p["distance"])).value_counts()
    assert counts.to_dict() == {"100kb-2.5Mb": 3082, "10-100kb": 614, "0-10kb": 75}


def test_benchmark_cell_type_filter(tmp_path):
    df = pd.read_csv(FULCO, sep="\t").head(20)
    df.loc[:9, "CellType"] = "GM12878"
    path = tmp_path / "two.tsv"
    df.to_csv(path, sep="\t", index=False)
    assert ev.read_benchmark(path, cell_type="GM12878").n_rows == 20
    assert set(ev.read_benchmark(path, cell_type="GM12878").pairs["line"]) <= set(range(2, 12))
    with pytest.raises(InputError, match="cell type 'HeLa' is not in the benchmark"):
        ev.read_benchmark(path, cell_type="HeLa")


def test_benchmark_missing_columns_are_named(tmp_path):
    df = pd.read_csv(FULCO, sep="\t", nrows=5).drop(columns=["Regulated", "measuredGeneSymbol"])
    path = tmp_path / "bad.tsv"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError) as err:
        ev.read_benchmark(path)
    msg = str(err.value)
    assert "measuredGeneSymbol" in msg and "Regulated" in msg and "bad.tsv" in msg


def test_benchmark_bad_boolean_names_line(tmp_path):
    df = pd.read_csv(FULCO, sep="\t", nrows=5)
    df["Regulated"] = df["Regulated"].astype(str)
    df.loc[3, "Regulated"] = "maybe"
    path = tmp_path / "b.tsv"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"b.tsv:5: column Regulated: 'maybe'"):
        ev.read_benchmark(path)


LINK_HEADER = ["chr", "start", "end", "name", "class", "TargetGene", "TargetGeneEnsemblID", "TargetGeneTSS",
               "CellType", "Score", "distance", "attention", "isp_delta",
               "dnase", "h3k27ac", "ccre_index", "gene_id"]


def make_links_and_benchmark(tmp_path, *, n_genes=12, per_gene=150, prevalence=0.1, seed=0):
    """A link table (genes G0..G{n-1} on chr1, 500 bp cCREs every 2 kb in each +-150 kb window) and
    a benchmark with planted positives: ``attention`` ranks them perfectly, ``isp_delta`` is random,
    ``Score`` is reversed. Plus pairs of an unknown gene and pairs overlapping no cCRE (negatives)."""
    rng = np.random.default_rng(seed)
    links, bench = [], []
    for g in range(n_genes):
        tss = 1_000_000 + g * 400_000
        centres = tss + (np.arange(per_gene) - per_gene // 2) * 2_000 + 1000
        truth = rng.random(per_gene) < prevalence
        truth[0] = True
        strength = np.where(truth, 1 + rng.random(per_gene), rng.random(per_gene))
        for k, c in enumerate(centres):
            s, e = int(c - 250), int(c + 250)
            links.append(dict(chr="chr1", start=s, end=e, name=f"E{g}_{k}", **{"class": "dELS"},
                              TargetGene=f"G{g}", TargetGeneEnsemblID=f"ENSG{g:011d}", TargetGeneTSS=tss,
                              CellType="K562", Score=-strength[k], distance=int(c - tss),
                              attention=strength[k],
                              isp_delta=rng.random(), dnase=rng.random() * 5, h3k27ac=rng.random() * 5,
                              ccre_index=g * per_gene + k, gene_id=f"ENSG{g:011d}"))
            # benchmark element: overlaps this cCRE (and, for every 5th, the next one too)
            be = e + 1800 if k % 5 == 0 and k + 1 < per_gene else e - 100
            bench.append(dict(chrom="chr1", chromStart=s + 100, chromEnd=be, name=f"G{g}|E{k}",
                              EffectSize=-0.3 if truth[k] else 0.0, chrTSS="chr1", startTSS=tss, endTSS=tss + 1,
                              measuredGeneSymbol=f"G{g}", Significant=bool(truth[k]), pValueAdjusted=0.01,
                              PowerAtEffectSize25=0.9, ValidConnection="TRUE", CellType="K562",
                              Reference="test", Regulated=bool(truth[k])))
            if k % 5 == 0 and k + 1 < per_gene:
                # the pair takes the max over both overlapped cCREs: keep the planted label consistent
                bench[-1]["Regulated"] = bool(truth[k] or truth[k + 1])
    extra = [dict(chrom="chr1", chromStart=500, chromEnd=900, measuredGeneSymbol="G0", Regulated=False,
                  ValidConnection="TRUE", startTSS=1_000_000, CellType="K562"),       # no overlapping cCRE
             dict(chrom="chr1", chromStart=1_000_100, chromEnd=1_000_600, measuredGeneSymbol="NOPE",
                  Regulated=False, ValidConnection="TRUE", startTSS=1_000_000, CellType="K562"),   # gene not in links
             dict(chrom="chr1", chromStart=1_000_100, chromEnd=1_000_600, measuredGeneSymbol="G0",
                  Regulated=True, ValidConnection="PromoterElement", startTSS=1_000_000, CellType="K562"),  # filtered
             dict(chrom="chr2", chromStart=5_000, chromEnd=5_500, measuredGeneSymbol="OTHER", Regulated=True,
                  ValidConnection="TRUE", startTSS=9_000, CellType="K562")]   # a chromosome the run did not predict
    bdf = pd.concat([pd.DataFrame(bench), pd.DataFrame(extra)], ignore_index=True)
    ldf = pd.DataFrame(links)[LINK_HEADER]
    # the max rule: a pair over two cCREs is positive when either is: fix attention ordering by
    # making the perfect scorer perfect on pairs, Score its exact reverse
    lpath = tmp_path / "links.tsv.gz"
    ldf.to_csv(lpath, sep="\t", index=False, compression="gzip")
    bpath = tmp_path / "bench.tsv"
    bdf.to_csv(bpath, sep="\t", index=False)
    return lpath, bpath, ldf, bdf


def test_crispr_join_perfect_random_reversed(tmp_path):
    lpath, bpath, ldf, bdf = make_links_and_benchmark(tmp_path)
    bench = ev.read_benchmark(bpath, cell_type="K562")
    assert bench.n_invalid == 1
    info = ev.evaluate_links(lpath, bench, tmp_path / "out", cell_type="K562", model="m", plot=False)
    # the pair of a gene the run has no links for and the pair on chr2 say nothing about the run:
    # left out and counted; the pair of a predicted gene without an overlapping cCRE ranks last
    assert info["left_out"] == {"chromosome not in the run": 1, "gene not in the run": 1}
    assert info["benchmark_pairs"] == info["pairs"] + 2 and info["run_chromosomes"] == ["chr1"]
    assert info["not_scored"] == 1
    assert info["not_scored_reasons"] == {"no overlapping cCRE": 1}
    pairs = pd.read_csv(tmp_path / "out" / "pairs.tsv.gz", sep="\t")
    # elements spanning two cCREs took the max of both
    two = pairs[pairs["n_ccres"] == 2]
    assert len(two) > 100
    row = two.iloc[0]
    g, k = row["pair"].split("|")
    a = ldf[(ldf["TargetGene"] == g) & ldf["name"].isin([f"E{g[1:]}_{k[1:]}", f"E{g[1:]}_{int(k[1:]) + 1}"])]
    assert row["attention"] == pytest.approx(a["attention"].max(), rel=1e-5)
    assert row["Score"] == pytest.approx(a["Score"].max(), rel=1e-5)
    m = info["metrics"]["all"]["methods"]
    prev = info["metrics"]["all"]["prevalence"]
    assert 0.08 < prev < 0.3
    assert m["attention"]["auprc"] == pytest.approx(1.0)
    assert m["attention"]["auroc"] == pytest.approx(1.0)
    assert m["attention"]["precision_at_70pct_recall"] == pytest.approx(1.0)
    assert abs(m["isp_delta"]["auprc"] - prev) < 0.05
    assert abs(m["isp_delta"]["auroc"] - 0.5) < 0.06
    assert m["Score"]["auprc"] < 0.6 * prev
    assert m["baseline_distance"]["auprc"] > 0 and "baseline_abc" in m
    summary = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert list(summary.columns) == list(ev.SUMMARY_COLUMNS)
    assert set(summary["distance_bin"]) == {"all", "0-10kb", "10-100kb", "100kb-2.5Mb"}
    assert {"m/attention", "m/baseline_abc", "m/baseline_distance", "pairs"} <= set(summary["method"])
    pr = summary[(summary["method"] == "pairs") & (summary["metric"] == "crispr_n_positive")]
    assert set(pr["distance_bin"]) == {"all", "0-10kb", "10-100kb", "100kb-2.5Mb"}
    assert pr.loc[pr["distance_bin"] == "all", "value"].item() == info["positives"]
    point = {"crispr_auprc", "crispr_auroc", "crispr_precision_at_70pct_recall"}
    paired = {f"crispr_auprc_minus_{b}{x}" for b in ("baseline_distance", "baseline_abc")
              for x in ("", "_ci95_low", "_ci95_high", "_p_le_0")}
    assert (point | {f"{m}_ci95_{x}" for m in point for x in ("low", "high")} | paired
            | {"crispr_prevalence", "crispr_n_positive", "crispr_n_not_scored", "crispr_n_benchmark",
               "crispr_n_left_out_chromosome", "crispr_n_left_out_gene"}) == set(summary["metric"])
    left = summary[summary["metric"].str.startswith("crispr_n_left_out")].set_index("metric")["value"]
    assert left.to_dict() == {"crispr_n_left_out_chromosome": 1, "crispr_n_left_out_gene": 1}
    # a perfect score: its interval is [1, 1]; the reversed Score is below every baseline, surely
    ci = summary[(summary["method"] == "m/attention") & (summary["distance_bin"] == "all")].set_index("metric")
    assert ci.loc["crispr_auprc_ci95_low", "value"] == pytest.approx(1.0)
    sc = summary[(summary["method"] == "m/Score") & (summary["distance_bin"] == "all")].set_index("metric")
    assert sc.loc["crispr_auprc_minus_baseline_distance_ci95_high", "value"] < 0
    assert sc.loc["crispr_auprc_minus_baseline_distance_p_le_0", "value"] == 1.0
    row = summary[(summary["method"] == "m/attention") & (summary["metric"] == "crispr_auprc")
                  & (summary["distance_bin"] == "all")]
    assert row["value"].item() == pytest.approx(1.0) and row["n"].item() == info["pairs"]
    js = json.loads((tmp_path / "out" / "links.json").read_text())
    assert js["benchmark_invalid_reasons"] == {"PromoterElement": 1}
    # dropping the not-scored pairs keeps the count in the summary
    info2 = ev.evaluate_links(lpath, bench, tmp_path / "out2", cell_type="K562", drop_not_scored=True, plot=False)
    assert info2["metrics"]["all"]["n_pairs"] == info["pairs"] - 1
    s2 = pd.read_csv(tmp_path / "out2" / "summary.tsv", sep="\t")
    assert s2.loc[s2["metric"] == "crispr_n_not_scored", "value"].item() == 1


def test_isp_delta_is_ranked_by_predicted_loss():
    """isp_delta = perturbed - original: the elements a gene needs have the most negative deltas."""
    links = pd.DataFrame(dict(chrom="chr1", start=[100, 1100, 2100, 3100], end=[600, 1600, 2600, 3600], name="e",
                              symbol="G", ensembl=None, gene_id="G", distance=[0.0, 1e3, 2e3, 3e3],
                              isp_delta=[-0.9, 0.1, -0.5, 0.0], Score=[0.9, -0.1, 0.5, 0.0]))
    pairs = pd.DataFrame(dict(pair="p", chrom="chr1", start=[200, 1200, 2200, 3200], end=[300, 1300, 2300, 3300],
                              gene_symbol="G", gene_ensembl=None, positive=[True, False, True, False],
                              distance=np.nan, line=0))
    joined = ev.join_pairs(ev.Benchmark(pairs, "x", "crispr", 4), links, ["isp_delta", "Score"])
    np.testing.assert_allclose(joined["isp_delta"], [0.9, -0.1, 0.5, 0.0])
    assert ev.average_precision(joined["positive"], joined["isp_delta"]) == 1.0
    np.testing.assert_allclose(joined["distance"], [0, 1000, 2000, 3000])


def test_abc_baseline_is_normalised_per_gene():
    links = pd.DataFrame(dict(gene_id=["a", "a", "b"], distance=[0.0, 5000.0, 100.0], dnase=[4.0, 1.0, 2.0],
                              h3k27ac=[1.0, 4.0, 8.0]))
    assert ev.add_baselines(links) == ["baseline_distance", "baseline_abc"]
    # gene a: activity 2 and 2, contact 5000^-.87 and 10000^-.87
    ca, cb = 5000 ** -0.87, 10000 ** -0.87
    np.testing.assert_allclose(links["baseline_abc"], [ca / (ca + cb), cb / (ca + cb), 1.0])
    np.testing.assert_allclose(links["baseline_distance"], [0, -5000, -100])


def test_no_overlap_error_says_what_each_side_covers(tmp_path):
    lpath, _, ldf, _ = make_links_and_benchmark(tmp_path, n_genes=2, per_gene=10)
    bench = ev.read_benchmark(FULCO, cell_type="K562")
    with pytest.raises(InputError) as err:
        ev.evaluate_links(lpath, bench, tmp_path / "o", cell_type="K562", plot=False)
    msg = str(err.value)
    assert "the links cover chromosome(s) chr1 and 2 gene(s)" in msg
    assert "chr1, chr3, chr6" in msg and "(11 in all)" in msg and "54 gene(s)" in msg
    assert "0 gene(s) in common" in msg


def test_read_links_keeps_only_benchmark_genes_in_chunks(tmp_path):
    lpath, _, ldf, _ = make_links_and_benchmark(tmp_path, n_genes=4, per_gene=30)
    rows = ev.read_links(lpath, genes=["G1", "ENSG00000000003"], chunksize=17)
    assert sorted(set(rows["symbol"])) == ["G1", "G3"] and len(rows) == 60
    assert rows["gene_id"].iloc[0] == "ENSG00000000001"
    np.testing.assert_allclose(rows["distance"], ldf[ldf["TargetGene"].isin(["G1", "G3"])]["distance"])


def test_link_table_with_a_hash_header_reads_the_same(tmp_path):
    """The links stage marks its header with '#' (for tabix): every reader strips it (read_links, the
    coverage message, a peer file in the ENCODE format, which allows the '#')."""
    lpath, _, ldf, _ = make_links_and_benchmark(tmp_path, n_genes=4, per_gene=30)
    hashed = tmp_path / "hashed.tsv.gz"
    with gzip.open(hashed, "wt") as fh:
        fh.write("#" + "\t".join(ldf.columns) + "\n")
        ldf.to_csv(fh, sep="\t", index=False, header=False)
    assert gzip.open(hashed, "rt").readline().startswith("#chr\tstart\t")
    for genes in (None, ["G1"]):
        pd.testing.assert_frame_equal(ev.read_links(hashed, genes=genes, chunksize=17), ev.read_links(lpath, genes=genes))
    assert _links_coverage(hashed) == _links_coverage(lpath) == ({"chr1"}, {"G0", "G1", "G2", "G3"})
    peer = ev.read_peer(ev.parse_peer(f"us={hashed}:Score"), genes=["G2"])
    assert len(peer) == 30 and (peer["symbol"] == "G2").all()
    np.testing.assert_allclose(peer["us"], ldf.loc[ldf["TargetGene"] == "G2", "Score"])


def test_links_missing_columns(tmp_path):
    p = tmp_path / "l.tsv"
    pd.DataFrame(dict(chr=["chr1"], start=[1], end=[5])).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match="TargetGene, Score"):
        ev.read_links(p)


def test_planted_truth_mode_scores_the_truth(tmp_path, simulated):
    """(d): the planted truth as a benchmark; a link table built from the truth itself is perfect."""
    TRUTH = simulated / "truth"
    truth = ev.read_truth_links(TRUTH / "links.tsv")
    raw = pd.read_csv(TRUTH / "links.tsv", sep="\t")
    assert truth.n_rows == len(raw) and truth.n_invalid == int(raw["own_promoter"].sum())
    # 291 planted links: python -m creator simulate --outdir /tmp/s --seed 7 (the fixture's defaults), then
    # awk -F'\t' 'NR>1 && $12=="True"' /tmp/s/truth/links.tsv | wc -l   (column 12: is_link)
    assert int(truth.pairs["positive"].sum()) == int(raw["is_link"].sum()) == 291
    within = raw[raw["distance"] <= 250_000]
    rng = np.random.default_rng(0)
    links = pd.DataFrame({
        "chr": within["chrom"], "start": within["start"], "end": within["end"], "name": within["ccre_name"],
        "class": within["class"], "TargetGene": within["symbol"], "TargetGeneEnsemblID": within["gene_id"],
        "TargetGeneTSS": within["tss"], "CellType": "cellD", "Score": rng.random(len(within)),
        "distance": within["center"] - within["tss"], "attention": within["effect"] + 0.01 * rng.random(len(within)),
        "gene_id": within["gene_id"]})
    lpath = tmp_path / "links.tsv.gz"
    links.to_csv(lpath, sep="\t", index=False)
    info = ev.evaluate_links(lpath, truth, tmp_path / "out", cell_type="cellD", plot=False)
    m = info["metrics"]["all"]["methods"]
    assert m["attention"]["auprc"] == pytest.approx(1.0)
    assert m["Score"]["auprc"] < 0.1
    # pairs beyond the window (250-500 kb) are not scored and all negative
    far = raw["distance"] > 250_000
    assert info["not_scored"] == int((far & ~raw["own_promoter"]).sum())
    assert info["not_scored_positives"] == 0
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert "planted_auprc" in set(s["metric"])


# ---------------------------------------------------------------------------------------------
# expression


def _expression_table(seed=0, n=200):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(0, 8, n)
    pred = obs + rng.normal(0, 1.0, n)
    chrom = np.where(np.arange(n) < 150, "chr1", np.where(np.arange(n) < 175, "chr2", "chr3"))
    df = pd.DataFrame(dict(gene_id=[f"ENSG{k:011d}.3" for k in range(n)], symbol=[f"G{k}" for k in range(n)],
                           chrom=chrom, tss=np.arange(n) * 1000, n_elements=10, predicted_log1p=pred,
                           observed_log1p=obs))
    df.loc[5, "observed_log1p"] = np.nan
    return df


def test_expression_metrics_per_split(tmp_path):
    from scipy import stats

    df = _expression_table()
    path = tmp_path / "expression.tsv"
    df.to_csv(path, sep="\t", index=False, na_rep="NA")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"splits": {"mode": "chromosomes", "val_chroms": ["chr2"], "test_chroms": ["chr3"]}}))
    res = ev.evaluate_expression({"cellD": path}, tmp_path / "out", model="m1", splits=metrics)
    ok = df["observed_log1p"].notna()
    r = stats.pearsonr(df.loc[ok, "predicted_log1p"], df.loc[ok, "observed_log1p"]).statistic
    assert res["cellD"]["all"]["pearson"] == pytest.approx(r)
    assert res["cellD"]["all"]["n"] == 199
    assert res["cellD"]["test"]["n"] == 25 and res["cellD"]["val"]["n"] == 25 and res["cellD"]["train"]["n"] == 149
    t = df[(df["chrom"] == "chr3")]
    rho = stats.spearmanr(t["predicted_log1p"], t["observed_log1p"]).statistic
    assert res["cellD"]["test"]["spearman"] == pytest.approx(rho)
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert list(s.columns) == list(ev.SUMMARY_COLUMNS)
    assert set(s["metric"]) == {f"{m}_{x}" for m in ("pearson", "spearman") for x in ("all", "train", "val", "test")}
    assert (s["method"] == "m1").all() and (s["distance_bin"] == "all").all()
    assert (tmp_path / "out" / "expression_scatter.png").stat().st_size > 10_000
    # a split column wins; a gene_id/split TSV works too (versions stripped)
    sp = tmp_path / "splits.tsv"
    pd.DataFrame(dict(gene_id=df["gene_id"].str.replace(r"\.\d+$", "", regex=True),
                      split=np.where(np.arange(200) % 2, "test", "train"))).to_csv(sp, sep="\t", index=False)
    res2 = ev.evaluate_expression({"cellD": df}, tmp_path / "out2", splits=sp, plot=False)
    assert res2["cellD"]["test"]["n"] == 99   # gene 5 has no observation
    # the trainer's input-only baselines (metrics.json) go beside ours, per split
    base = {"n": 25, "pearson": 0.31, "spearman": 0.29}
    metrics.write_text(json.dumps({"splits": {"mode": "chromosomes", "val_chroms": ["chr2"], "test_chroms": ["chr3"]},
                                   "cells": {"cellD": {"splits": {"test": {"baselines": {"promoter_dnase": base}}}},
                                             "other": {"splits": {"all": {"baselines": {"promoter_dnase": base}}}}}}))
    ev.evaluate_expression({"cellD": path}, tmp_path / "out3", model="m1", splits=metrics, metrics=metrics,
                           plot=False)
    s3 = pd.read_csv(tmp_path / "out3" / "summary.tsv", sep="\t")
    b = s3[s3.method == "m1/baseline_promoter_dnase"].set_index("metric")
    assert b["value"].to_dict() == {"pearson_test": 0.31, "spearman_test": 0.29} and (b["n"] == 25).all()
    assert set(s3.cell_type) == {"cellD"}   # only the cells scored here
    with pytest.raises(InputError, match="trainer's metrics"):
        ev.evaluate_expression({"cellD": path}, tmp_path / "o4", metrics=tmp_path / "none.json", plot=False)


def test_expression_errors(tmp_path):
    df = _expression_table()
    df["observed_log1p"] = np.nan
    with pytest.raises(InputError, match="observed"):
        ev.evaluate_expression({"cellE": df}, tmp_path, plot=False)
    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"splits": {"mode": "blocks"}}))
    with pytest.raises(InputError, match="'split' column"):
        ev.read_splits(m)
    p = tmp_path / "e.tsv"
    df.drop(columns="predicted_log1p").to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match="predicted_log1p"):
        ev.read_expression_predictions(p)


# ---------------------------------------------------------------------------------------------
# Hi-C: readers, insulation, boundaries, enrichment, O/E correlation

RES = 10_000
EDGES = [0, 40, 90, 130, 170, 200]   # planted block edges (bins)


def block_matrix(n=200, edges=EDGES, *, seed=0, scale=200.0, leak=0.05, counts=True):
    """Upper-triangle pixels of a block-diagonal matrix with distance decay (Poisson counts)."""
    rng = np.random.default_rng(seed)
    block = np.searchsorted(edges, np.arange(n), side="right")
    i, j = np.triu_indices(n)
    lam = scale * (j - i + 1.0) ** -0.8 * np.where(block[i] == block[j], 1.0, leak)
    v = rng.poisson(lam).astype(float) if counts else lam * rng.lognormal(0, 0.2, len(lam))
    keep = v > 0
    return i[keep], j[keep], v[keep]


def write_cool(path, chroms, pixels_by_chrom, *, res=RES, assembly=None, float_counts=False):
    import cooler

    bins = cooler.binnify(pd.Series(chroms), res)
    offsets = np.r_[0, np.cumsum([-(-n // res) for n in chroms.values()])]
    frames = []
    for k, chrom in enumerate(chroms):
        if chrom not in pixels_by_chrom:
            continue
        i, j, v = pixels_by_chrom[chrom]
        frames.append(pd.DataFrame(dict(bin1_id=i + offsets[k], bin2_id=j + offsets[k], count=v)))
    pixels = pd.concat(frames, ignore_index=True)
    if not float_counts:
        pixels["count"] = pixels["count"].astype(np.int64)
    cooler.create_cooler(str(path), bins, pixels, dtypes={"count": float} if float_counts else None,
                         assembly=assembly, ordered=True)
    return str(path)


def test_readers_cool_mcool_and_juicer_agree(tmp_path):
    i, j, v = block_matrix()
    chroms = {"chr22": 2_000_000, "chr21": 1_500_000}
    cool = write_cool(tmp_path / "hic.cool", chroms, {"chr22": (i, j, v)})
    src = ev.open_contacts(cool)
    assert src.resolution == RES and src.chroms == chroms and not src.balance
    c = src.fetch("chr22")
    assert c.n_bins == 200 and len(c.value) == len(v)
    # juicer text: bin START coordinates in bp; header line skipped
    txt = tmp_path / "chr22.txt"
    with open(txt, "w") as fh:
        fh.write("bin1\tbin2\tcount\n")
        for a, b, x in zip(j * RES, i * RES, v):   # lower triangle order on purpose: swapped back
            fh.write(f"{a} {b} {x:g}\n")
    jt = ev.open_contacts(txt, chrom="chr22", resolution=RES, length=2_000_000).fetch("chr22")
    order_c = np.lexsort((c.bin2, c.bin1))
    order_j = np.lexsort((jt.bin2, jt.bin1))
    np.testing.assert_array_equal(c.bin1[order_c], jt.bin1[order_j])
    np.testing.assert_array_equal(c.bin2[order_c], jt.bin2[order_j])
    np.testing.assert_allclose(c.value[order_c], jt.value[order_j])
    assert jt.n_bins == 200
    # a multi-resolution file needs ::resolutions/N
    mcool = write_cool(str(tmp_path / "hic.mcool") + "::resolutions/10000", chroms, {"chr22": (i, j, v)})
    with pytest.raises(InputError, match="resolutions/10000"):
        ev.open_contacts(tmp_path / "hic.mcool")
    assert ev.open_contacts(mcool).fetch("chr22").n_bins == 200
    # juicer errors: no chromosome/resolution, wrong resolution, past the chromosome end
    with pytest.raises(InputError, match="--hic-chrom"):
        ev.open_contacts(txt)
    with pytest.raises(InputError, match="multiple of --hic-resolution 7000"):
        ev.open_contacts(txt, chrom="chr22", resolution=7000).fetch("chr22")
    with pytest.raises(InputError, match="another assembly"):
        ev.open_contacts(txt, chrom="chr22", resolution=RES, length=1_000_000).fetch("chr22")


def test_float_attention_cool_and_coarsen(tmp_path):
    i, j, v = block_matrix(counts=False)
    cool = write_cool(tmp_path / "att.cool", {"chrS1": 2_000_000}, {"chrS1": (i, j, v / 1000)}, float_counts=True)
    c = ev.open_contacts(cool, balance=False).fetch("chrS1")
    assert c.value.dtype == float and c.value.min() < 1
    assert c.value.sum() == pytest.approx(v.sum() / 1000)
    c2 = c.coarsen(2)
    assert c2.resolution == 2 * RES and c2.n_bins == 100
    assert c2.value.sum() == pytest.approx(c.value.sum())
    dense = c.dense()
    assert np.allclose(dense, dense.T)


def test_insulation_finds_planted_block_edges():
    i, j, v = block_matrix()
    c = ev.Contacts("chr22", RES, 200, i, j, v)
    ins = ev.insulation(c, window_bins=10)
    assert len(ins) == 200 and ins["insulation"].notna().sum() >= 170  # one score per bin (its centre)
    b = ev.call_boundaries(ins, prominence=0.5)
    planted = np.array(EDGES[1:-1]) * RES
    found = b["position"].to_numpy()
    assert len(found) == len(planted)
    assert np.all(np.abs(found - planted) <= RES)
    # edges are the deepest minima
    assert (b["insulation"] < -1).all()


def test_boundary_overlap_and_shuffled_enrichment():
    ref = pd.DataFrame(dict(chrom="c1", position=[400_000, 900_000, 1_300_000, 1_700_000]))
    ours = pd.DataFrame(dict(chrom="c1", position=[405_000, 1_310_000, 1_690_000, 50_000]))
    ov = ev.boundary_overlap(ours, ref, 10_000)
    assert ov["overlap"] == 3 and ov["precision"] == 0.75 and ov["recall"] == 0.75
    regions = {"c1": np.array([[0.0, 2_000_000.0]])}
    sh = ev.shuffle_enrichment(ours, ref, regions, 10_000, n_shuffles=500, seed=1)
    # a random boundary lands within 10 kb of one of 4 in 2 Mb with p ~ 4 * 20 kb / 2 Mb = 0.04
    assert sh["shuffled_mean"] == pytest.approx(4 * 0.04, abs=0.08)
    assert sh["enrichment"] > 5 and sh["p_value"] < 0.01
    assert ev.shuffle_enrichment(ours, ref, regions, 10_000, n_shuffles=50, seed=1) == \
        ev.shuffle_enrichment(ours, ref, regions, 10_000, n_shuffles=50, seed=1)


def test_oe_correlation_of_matching_maps():
    i, j, v = block_matrix(seed=0)
    a = ev.Contacts("c", RES, 200, i, j, v)
    i2, j2, v2 = block_matrix(seed=1, counts=False)
    b = ev.Contacts("c", RES, 200, i2, j2, v2 / 7)
    x, y = ev.oe_pixels(a, b, 500_000)
    assert len(x) == sum(200 - d for d in range(1, 51))
    r = ev.correlations(x, y)
    assert r["pearson"] > 0.7 and r["spearman"] > 0.5
    # O/E has mean 1 on every diagonal
    assert np.mean(x) == pytest.approx(1.0)
    # absent pixels of the first map are no data when asked
    keep = (j - i) % 2 == 0
    sparse = ev.Contacts("c", RES, 200, i[keep], j[keep], v[keep])
    xs, _ = ev.oe_pixels(sparse, b, 500_000, a_absent_is_missing=True)
    assert 0 < len(xs) < len(x) and (xs > 0).all()
    i3, j3, v3 = block_matrix(seed=2, edges=[0, 20, 70, 150, 200])
    r2 = ev.correlations(*ev.oe_pixels(a, ev.Contacts("c", RES, 200, i3, j3, v3), 500_000))
    assert r2["pearson"] < r["pearson"]


def test_evaluate_hic_with_hic_attention_and_truth(tmp_path):
    sizes = {"chrS1": 2_000_000}
    hic = write_cool(tmp_path / "hic.cool", sizes, {"chrS1": block_matrix(seed=3)}, assembly="syn")
    ai, aj, av = block_matrix(seed=4, counts=False)
    att = write_cool(tmp_path / "att.cool", sizes, {"chrS1": (ai, aj, av / av.max())}, float_counts=True)
    planted = np.array(EDGES[1:-1]) * RES
    ours = tmp_path / "boundaries.bed"
    ours.write_text("".join(f"chrS1\t{p - 5000}\t{p + 5000}\tB{k}\t1\n" for k, p in enumerate(planted)))
    truth = tmp_path / "truth.bed"
    truth.write_text("".join(f"chrS1\t{p - 700}\t{p + 700}\tT{k}\t{p}\n" for k, p in enumerate(planted)))
    info = ev.evaluate_hic(ours, tmp_path / "out", cell_type="cellD", model="m", hic=hic, attention=att,
                           truth_boundaries=truth, prominence=0.5, n_shuffles=200, seed=0)
    h = info["hic"]
    assert h["overlap"]["recall"] == 1.0 and h["overlap"]["precision"] == 1.0
    assert h["shuffles"]["enrichment"] > 3 and h["shuffles"]["p_value"] < 0.05
    assert h["oe_correlation"]["all"]["pearson"] > 0.3   # Poisson noise up to 2 Mb (see test_oe_correlation...)
    p = info["planted"]
    assert p["overlap"]["recall"] == 1.0 and p["shuffles"]["enrichment"] > 3
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert list(s.columns) == list(ev.SUMMARY_COLUMNS)
    assert {"n_boundaries", "hic_boundary_recall", "hic_boundary_precision", "hic_boundary_overlap", "hic_boundary_shuffled_mean",
            "hic_boundary_enrichment", "hic_boundary_pvalue", "hic_n_boundaries", "hic_oe_pearson", "hic_oe_spearman",
            "planted_boundary_recall", "planted_boundary_precision", "planted_boundary_overlap",
            "planted_boundary_shuffled_mean", "planted_boundary_enrichment",
            "planted_boundary_pvalue"} == set(s["metric"])
    bed = pd.read_csv(tmp_path / "out" / "hic_boundaries.bed", sep="\t", header=None)
    assert len(bed) == 4
    assert (tmp_path / "out" / "insulation.png").exists() and (tmp_path / "out" / "hic_insulation.tsv").exists()
    # Juicer dump of the same map gives the same boundaries
    txt = tmp_path / "chrS1.txt"
    i, j, v = block_matrix(seed=3)
    pd.DataFrame(dict(a=i * RES, b=j * RES, c=v)).to_csv(txt, sep="\t", header=False, index=False)
    info2 = ev.evaluate_hic(ours, tmp_path / "out2", cell_type="cellD", hic=txt, hic_chrom="chrS1",
                            hic_resolution=RES, attention=att, prominence=0.5, n_shuffles=50, plot=False)
    assert info2["hic"]["overlap"] == h["overlap"]
    with pytest.raises(InputError, match="--hic-chrom"):
        ev.evaluate_hic(ours, tmp_path / "o3", cell_type="c", hic=txt, hic_chrom="S1", hic_resolution=RES, plot=False)


def test_hic_of_another_assembly_or_naming(tmp_path):
    bd = tmp_path / "b.bed"
    bd.write_text("chr22\t395000\t405000\tB\n")
    att = write_cool(tmp_path / "att.cool", {"chr22": 2_000_000}, {"chr22": block_matrix(seed=1)})
    other = write_cool(tmp_path / "hg19.cool", {"chr22": 2_100_000}, {"chr22": block_matrix(n=210, seed=1)})
    with pytest.raises(InputError) as err:
        ev.evaluate_hic(bd, tmp_path / "o", cell_type="c", hic=other, attention=att, plot=False)
    assert "another assembly" in str(err.value) and "2,100,000" in str(err.value)
    bare = write_cool(tmp_path / "bare.cool", {"22": 2_000_000}, {"22": block_matrix(seed=1)})
    with pytest.raises(InputError, match="names chromosomes differently \\('22' for our 'chr22'\\)"):
        ev.evaluate_hic(bd, tmp_path / "o", cell_type="c", hic=bare, attention=att, plot=False)
    a1 = write_cool(tmp_path / "a1.cool", {"chr22": 2_000_000}, {"chr22": block_matrix(seed=1)}, assembly="hg38")
    h1 = write_cool(tmp_path / "h1.cool", {"chr22": 2_000_000}, {"chr22": block_matrix(seed=1)}, assembly="hg19")
    with pytest.raises(InputError, match="assembly 'hg19'"):
        ev.evaluate_hic(bd, tmp_path / "o", cell_type="c", hic=h1, attention=a1, plot=False)
    # the UCSC and GRC names of one assembly agree (our .mcool says hg38, a 4DN map GRCh38)
    g1 = write_cool(tmp_path / "g1.cool", {"chr22": 2_000_000}, {"chr22": block_matrix(seed=1)}, assembly="GRCh38")
    ev.evaluate_hic(bd, tmp_path / "o", cell_type="c", hic=g1, attention=a1, plot=False, n_shuffles=10)
    assert ev.assembly_name("GRCh37") == ev.assembly_name("hg19") != ev.assembly_name("hg38")
    with pytest.raises(InputError, match="--truth-boundaries"):
        ev.evaluate_hic(bd, tmp_path / "o", cell_type="c", plot=False)


def test_planted_boundaries_on_the_synthetic_truth(tmp_path, simulated):
    """(d) with the real planted boundaries: ours = truth shifted by 3 kb is enriched over shuffles."""
    TRUTH = simulated / "truth"
    tb = pd.read_csv(TRUTH / "boundaries.bed", sep="\t", header=None)
    ours = tmp_path / "ours.bed"
    mids = (tb[1] + tb[2]) // 2 + 3000
    pd.DataFrame({0: tb[0], 1: mids - 500, 2: mids + 500, 3: "b"}).to_csv(ours, sep="\t", header=False, index=False)
    info = ev.evaluate_hic(ours, tmp_path / "out", cell_type="cellD", truth_boundaries=TRUTH / "boundaries.bed",
                           chrom_sizes=simulated / "chrom.sizes", tolerance_bp=10_000,
                           n_shuffles=300, plot=False)
    p = info["planted"]
    assert p["overlap"]["recall"] == 1.0 and p["overlap"]["n_ref"] == len(tb)
    assert p["shuffles"]["enrichment"] > 5 and p["shuffles"]["p_value"] < 0.01


# ---------------------------------------------------------------------------------------------
# summaries and the command line


def test_cli_links_hic_and_summary(tmp_path, capsys, monkeypatch):
    from creator import cli

    for name in ("evaluate-expression", "evaluate-links", "evaluate-hic", "evaluate-summary"):
        monkeypatch.setitem(cli.COMMANDS, name, "creator.evaluate")
    lpath, bpath, _, _ = make_links_and_benchmark(tmp_path, n_genes=3, per_gene=40)
    assert main(["evaluate-links", "--links", str(lpath), "--benchmark", str(bpath), "--cell", "K562",
                 "--model", "m", "--out", str(tmp_path / "links")]) == 0
    assert (tmp_path / "links" / "pr_curves.png").exists()
    ours = tmp_path / "b.bed"
    ours.write_text("chrS1\t395000\t405000\tB\n")
    truth = tmp_path / "t.bed"
    truth.write_text("chrS1\t399000\t401000\tT\nchrS1\t900000\t901000\tT\n")
    assert main(["evaluate-hic", "--boundaries", str(ours), "--truth-boundaries", str(truth), "--cell", "K562",
                 "--n-shuffles", "20", "--tolerance-bp", "5000", "--out", str(tmp_path / "hic")]) == 0
    df = _expression_table()
    df.to_csv(tmp_path / "e.tsv", sep="\t", index=False, na_rep="NA")
    assert main(["evaluate-expression", "--expression", str(tmp_path / "e.tsv"), "--cell", "K562",
                 "--out", str(tmp_path / "expr")]) == 0
    out = tmp_path / "summary.tsv"
    assert main(["evaluate-summary", "--inputs", str(tmp_path / "links" / "summary.tsv"),
                 str(tmp_path / "hic" / "summary.tsv"), str(tmp_path / "expr" / "summary.tsv"), "--out", str(out)]) == 0
    s = pd.read_csv(out, sep="\t")
    assert list(s.columns) == list(ev.SUMMARY_COLUMNS)
    assert {"crispr_auprc", "planted_boundary_recall", "pearson_all"} <= set(s["metric"])
    assert s.loc[s["metric"] == "planted_boundary_recall", "value"].item() == 0.5
    # errors reach the user as one line naming the file
    capsys.readouterr()
    bad = tmp_path / "bad.tsv"
    pd.DataFrame(dict(chrom=["chr1"], chromStart=[1], chromEnd=[5])).to_csv(bad, sep="\t", index=False)
    assert main(["evaluate-links", "--links", str(lpath), "--benchmark", str(bad), "--cell", "K562",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "measuredGeneSymbol, Regulated" in err and "bad.tsv" in err
    with pytest.raises(InputError, match="summary table lacks"):
        ev.combine_summaries([bad])


def test_cli_settings_come_from_the_config_section(tmp_path, capsys, monkeypatch):
    """evaluate-links and evaluate-hic read their settings from --config (the sections the rules pass:
    evaluate, and tads for the baseline's spacing), with the flags as overrides: the same numbers as
    the Python functions given those settings."""
    from creator import cli

    for name in ("evaluate-links", "evaluate-hic"):
        monkeypatch.setitem(cli.COMMANDS, name, "creator.evaluate")
    lpath, bpath, _, _ = make_links_and_benchmark(tmp_path, n_genes=4, per_gene=40)
    bench = ev.read_benchmark(bpath, cell_type="K562")

    def links_ci(out):  # every method's bootstrap intervals (the perfect attention's are [1, 1] whatever the seed)
        methods = json.loads((out / "links.json").read_text())["metrics"]["all"]["methods"]
        return {m: e["auprc_ci95"] for m, e in methods.items()}

    args = ["evaluate-links", "--links", str(lpath), "--benchmark", str(bpath), "--cell", "K562", "--model", "m"]
    cfg = json.dumps({"evaluate": {"n_bootstrap": 50, "seed": 3}})
    assert main([*args, "--config", cfg, "--out", str(tmp_path / "c")]) == 0
    assert main([*args, "--config", cfg, "--seed", "4", "--out", str(tmp_path / "f")]) == 0
    for out, seed in ((tmp_path / "c", 3), (tmp_path / "f", 4)):
        ev.evaluate_links(lpath, bench, tmp_path / f"py{seed}", cell_type="K562", model="m", plot=False,
                          n_boot=50, seed=seed)
        assert links_ci(out) == links_ci(tmp_path / f"py{seed}")
    assert links_ci(tmp_path / "c") != links_ci(tmp_path / "f")  # the flag won
    # a misspelled key is named with its path
    assert main([*args, "--config", '{"evaluate": {"n_boots": 5}}', "--out", str(tmp_path / "x")]) == 2
    assert "config key 'evaluate.n_boots'" in capsys.readouterr().err and not (tmp_path / "x").exists()

    ours, truth = tmp_path / "b.bed", tmp_path / "t.bed"  # 20 boundaries in 1 Mb, 10 of them on a true one
    ours.write_text("".join(f"chrS1\t{p}\t{p + 1000}\tB\n" for p in range(10_000, 1_000_000, 50_000)))
    truth.write_text("".join(f"chrS1\t{p}\t{p + 1000}\tT\n" for p in range(10_000, 1_000_000, 100_000)))
    (tmp_path / "sizes").write_text("chrS1\t1000000\n")
    args = ["evaluate-hic", "--boundaries", str(ours), "--truth-boundaries", str(truth), "--cell", "K562",
            "--tolerance-bp", "5000", "--chrom-sizes", str(tmp_path / "sizes")]
    assert main([*args, "--config", json.dumps({"evaluate": {"n_shuffles": 20}}), "--out", str(tmp_path / "h")]) == 0
    assert main([*args, "--n-shuffles", "30", "--out", str(tmp_path / "h2")]) == 0
    got = {}
    for out, n in ((tmp_path / "h", 20), (tmp_path / "h2", 30)):
        py = ev.evaluate_hic(ours, tmp_path / f"hpy{n}", cell_type="K562", truth_boundaries=truth, tolerance_bp=5000,
                             chrom_sizes=tmp_path / "sizes", n_shuffles=n, plot=False)
        got[n] = json.loads((out / "hic.json").read_text())["planted"]["shuffles"]
        assert got[n] == json_safe(py["planted"]["shuffles"]) and got[n]["observed"] == 10
    assert got[20]["n_shuffles"] == 20 and got[20]["shuffled_mean"] != got[30]["shuffled_mean"]
    # the match distance from the config (evaluate.boundary_tolerance_bp) instead of the flag: the same
    # numbers; without either it is one bin of the boundaries given, so the planted matches differ
    no_tol = [a for a in args if a not in ("--tolerance-bp", "5000")]
    cfg = json.dumps({"evaluate": {"n_shuffles": 20, "boundary_tolerance_bp": 5000}})
    assert main([*no_tol, "--config", cfg, "--out", str(tmp_path / "h3")]) == 0
    assert json.loads((tmp_path / "h3" / "hic.json").read_text())["planted"]["shuffles"] == got[20]
    assert main([*no_tol, "--config", '{"evaluate": {"n_shuffles": 20, "boundary_tolerance_bp": 0}}',
                 "--out", str(tmp_path / "h4")]) == 0
    assert json.loads((tmp_path / "h4" / "hic.json").read_text())["planted"]["shuffles"] != got[20]


def test_genome_wide_benchmark_gives_the_figures_of_its_slice(tmp_path):
    """Pairs on chromosomes the run did not predict (or of genes it has no links for) are left out
    and counted, so the genome-wide file scores like its slice on the run's chromosome."""
    lpath, bpath, ldf, bdf = make_links_and_benchmark(tmp_path)
    rng = np.random.default_rng(1)
    other = pd.DataFrame(dict(chrom=rng.choice(["chr3", "chr7", "chrX"], 500), chromStart=np.arange(500) * 10_000,
                              measuredGeneSymbol=[f"X{i % 40}" for i in range(500)], Regulated=rng.random(500) < 0.3,
                              ValidConnection="TRUE", startTSS=5_000, CellType="K562"))
    other["chromEnd"] = other["chromStart"] + 500
    genome = pd.concat([bdf, other], ignore_index=True)
    gpath = tmp_path / "genome.tsv"
    genome.to_csv(gpath, sep="\t", index=False)
    chr1 = bdf[bdf["chrom"] == "chr1"]
    spath = tmp_path / "slice.tsv"
    chr1.to_csv(spath, sep="\t", index=False)
    kw = dict(cell_type="K562", model="m", plot=False, n_boot=200)
    g = ev.evaluate_links(lpath, ev.read_benchmark(gpath, cell_type="K562"), tmp_path / "g", **kw)
    s = ev.evaluate_links(lpath, ev.read_benchmark(spath, cell_type="K562"), tmp_path / "s", **kw)
    assert g["left_out"] == {"chromosome not in the run": 501, "gene not in the run": 1}
    assert s["left_out"] == {"chromosome not in the run": 0, "gene not in the run": 1}
    assert g["pairs"] == s["pairs"] and g["metrics"] == s["metrics"]
    sg = pd.read_csv(tmp_path / "g" / "summary.tsv", sep="\t")
    ss = pd.read_csv(tmp_path / "s" / "summary.tsv", sep="\t")
    counts = sg["metric"].str.match(r"crispr_n_(benchmark|left_out)")
    pd.testing.assert_frame_equal(sg[~counts].reset_index(drop=True), ss[~ss["metric"].str.match(
        r"crispr_n_(benchmark|left_out)")].reset_index(drop=True))
    assert sg.set_index("metric").loc["crispr_n_left_out_chromosome", "value"] == 501


def test_peer_predictions_are_scored_on_the_same_pairs(tmp_path):
    lpath, bpath, ldf, bdf = make_links_and_benchmark(tmp_path)
    bench = ev.read_benchmark(bpath, cell_type="K562")
    # a peer in the ENCODE-rE2G prediction format that predicts genes G0-G5 only, with the
    # perfect attention column as its score, and its Ensembl ids in ABC's column spelling
    rows = ldf[ldf["TargetGene"].str.match(r"G[0-5]$")]
    peer = pd.DataFrame(dict(chr=rows["chr"], start=rows["start"], end=rows["end"], TargetGene=rows["TargetGene"],
                             TargetGeneEnsembl_ID=rows["TargetGeneEnsemblID"], CellType="K562_chr1",
                             **{"ABC.Score": rows["attention"]}))
    ppath = tmp_path / "peer.tsv.gz"
    peer.to_csv(ppath, sep="\t", index=False, compression="gzip")
    info = ev.evaluate_links(lpath, bench, tmp_path / "out", cell_type="K562", model="m", plot=True, n_boot=100,
                             peers=[ev.parse_peer(f"ABC={ppath}:ABC.Score")])
    m = info["metrics"]["all"]["methods"]["ABC"]
    pairs = pd.read_csv(tmp_path / "out" / "pairs.tsv.gz", sep="\t")
    half = pairs["gene_symbol"].str.match(r"G[0-5]$")
    # perfect on its half, the other half unpredicted (ranked last): positives of G6-G11 come last
    y = pairs["positive"].to_numpy()
    np.testing.assert_allclose(pairs.loc[half, "ABC"], pairs.loc[half, "attention"], rtol=1e-5)
    assert np.isneginf(pairs.loc[~half, "ABC"].fillna(-np.inf)).all()
    expected = ev.average_precision(y, np.where(half, pairs["attention"], -np.inf))
    assert m["auprc"] == pytest.approx(expected)
    assert 0.3 < m["auprc"] < 0.9 and m["auprc_ci95"][0] <= m["auprc"] <= m["auprc_ci95"][1]
    assert "auprc_minus" in m and set(m["auprc_minus"]) == {"baseline_distance", "baseline_abc"}
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert "peer/ABC" in set(s["method"])
    assert (tmp_path / "out" / "pr_curves.png").stat().st_size > 10_000
    with pytest.raises(InputError, match="no score column 'Score'.*ABC.Score"):
        ev.evaluate_links(lpath, bench, tmp_path / "o2", cell_type="K562", plot=False, n_boot=0,
                          peers=[ev.parse_peer(f"ABC={ppath}:Score")])
    with pytest.raises(InputError, match="NAME=PATH:COLUMN"):
        ev.parse_peer("just-a-path.tsv")
