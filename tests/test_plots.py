"""creator.plots: every figure renders to a readable PNG."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from creator import evaluate as ev
from creator import plots
from creator.errors import InputError
from conftest import write_bigwig
from test_evaluate import EDGES, RES, _expression_table, block_matrix, make_links_and_benchmark, write_cool


def assert_png(path, min_w=400, min_h=250):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h
    # not blank: several distinct colours
    assert len(np.unique(img.reshape(-1, img.shape[-1])[::50], axis=0)) > 10
    return img


def test_expression_scatter(tmp_path):
    a = _expression_table(0)
    a["split"] = np.where(a["chrom"] == "chr1", "train", np.where(a["chrom"] == "chr2", "val", "test"))
    b = _expression_table(1)
    out = plots.expression_scatter({"cellA": a, "cellD (held out)": b}, tmp_path / "scatter.png", title="model m")
    assert_png(out, min_w=700)


def test_pr_curves(tmp_path):
    lpath, bpath, _, _ = make_links_and_benchmark(tmp_path)
    bench = ev.read_benchmark(bpath, cell_type="K562")
    ev.evaluate_links(lpath, bench, tmp_path / "out", cell_type="K562", model="m")
    assert_png(tmp_path / "out" / "pr_curves.png", min_w=1200)
    # a bin without positives still renders
    curves = {"all": dict(n=3, n_positive=0, prevalence=0.0, methods={})}
    assert_png(plots.pr_curves(curves, tmp_path / "empty.png"), min_w=300, min_h=200)


def test_insulation_tracks(tmp_path):
    sizes = {"chrS1": 2_000_000}
    hic = write_cool(tmp_path / "hic.cool", sizes, {"chrS1": block_matrix(seed=3)})
    ai, aj, av = block_matrix(seed=4, counts=False)
    att = write_cool(tmp_path / "att.cool", sizes, {"chrS1": (ai, aj, av / av.max())}, float_counts=True)
    ours = tmp_path / "b.bed"
    ours.write_text("".join(f"chrS1\t{p * RES - 5000}\t{p * RES + 5000}\tB\n" for p in EDGES[1:-1]))
    ev.evaluate_hic(ours, tmp_path / "out", cell_type="cellD", model="m", hic=hic, attention=att,
                    truth_boundaries=ours, prominence=0.5, n_shuffles=20)
    assert_png(tmp_path / "out" / "insulation.png", min_w=1000)
    # with the learned barrier on a second axis
    barrier = tmp_path / "barrier.bedgraph"
    x = np.r_[0:2_000_000:RES]
    v = np.where(np.isin(x // RES, EDGES[1:-1]), 4.0, 0.5)
    barrier.write_text("".join(f"chrS1\t{a}\t{a + RES}\t{b}\n" for a, b in zip(x, v)))
    ev.evaluate_hic(ours, tmp_path / "out2", cell_type="cellD", model="m", attention=att, barrier=barrier,
                    truth_boundaries=ours, prominence=0.5, n_shuffles=20)
    assert_png(tmp_path / "out2" / "insulation.png", min_w=1000)
    assert (tmp_path / "out2" / "insulation.png").read_bytes() != (tmp_path / "out" / "insulation.png").read_bytes()


def test_read_bedgraph_errors(tmp_path):
    p = tmp_path / "x.bedgraph"
    p.write_text("# comment\nchr1\t0\t10\t1.5\nchr1\t10\t20\tNaN\n")
    df = ev.read_bedgraph(p)
    assert df["value"].iloc[0] == 1.5 and np.isnan(df["value"].iloc[1]) and df["end"].tolist() == [10, 20]
    p.write_text("chr1\t0\t10\t1.5\nchr1\t10\t20\n")
    with pytest.raises(InputError, match=r"x\.bedgraph:2: barrier bedGraph line has no numeric value in column 4"):
        ev.read_bedgraph(p, what="barrier bedGraph")


def test_locus_view_from_arrays(tmp_path):
    rng = np.random.default_rng(0)
    start, end = 1_000_000, 1_400_000
    x = np.linspace(start, end, 400)
    tracks = {"DNase": (x, rng.gamma(1, 1, 400)), "H3K27ac": (x, rng.gamma(2, 1, 400))}
    centres = np.sort(rng.integers(start, end, 40))
    elements = pd.DataFrame(dict(start=centres - 250, end=centres + 250, score=rng.random(40)))
    i, j, v = block_matrix(n=40, edges=[0, 12, 25, 40], counts=False)
    mat = ev.Contacts("chr1", 10_000, 40, i, j, v).dense()
    out = plots.locus_view(tmp_path / "locus.png", chrom="chr1", start=start, end=end, tracks=tracks,
                           elements=elements, links=elements, gene=dict(symbol="GENE1", tss=1_150_000, strand="-"),
                           matrix=mat, matrix_start=start, resolution=10_000,
                           boundaries=[start + 120_000, start + 250_000], top_n=8, score_label="attention",
                           title="GENE1 test locus")
    assert_png(out, min_w=900, min_h=600)
    with pytest.raises(ValueError, match="nothing to draw"):
        plots.locus_view(tmp_path / "x.png", chrom="chr1", start=0, end=10)


def test_locus_view_from_files(tmp_path):
    lpath, _, ldf, _ = make_links_and_benchmark(tmp_path, n_genes=2, per_gene=150)
    n = 2_000_000
    rng = np.random.default_rng(1)
    sig = np.full(n, np.nan)
    for s, e in ldf[["start", "end"]].to_numpy():
        sig[s:e] = rng.gamma(2, 2)
    bw = write_bigwig(tmp_path / "DNase.bigWig", {"chr1": n}, {"chr1": sig})
    i, j, v = block_matrix(n=200, counts=False)
    cool = write_cool(tmp_path / "att.cool", {"chr1": n}, {"chr1": (i, j, v / v.max())}, float_counts=True)
    bed = tmp_path / "b.bed"
    bed.write_text("chr1\t895000\t905000\tB1\nchr1\t1295000\t1305000\tB2\n")
    out = ev.locus_view_from_files(tmp_path / "locus_files.png", links=lpath, gene="G0", score="attention",
                                      cool=cool, bigwigs={"DNase": bw}, boundaries=bed, top_n=6)
    assert_png(out, min_w=900, min_h=500)


def test_locus_view_marks_crispri_tested_elements(tmp_path, monkeypatch):
    """With a CRISPRi benchmark the gene's tested elements are drawn (validated ones filled) and the
    view zooms to TSS +- max(100 kb, twice the farthest validated enhancer)."""
    lpath, bpath, _, bdf = make_links_and_benchmark(tmp_path, n_genes=2, per_gene=150)
    seen = {}
    real = plots.locus_view

    def spy(out, **kw):
        seen.update(kw)
        return real(out, **kw)

    monkeypatch.setattr(plots, "locus_view", spy)
    out = ev.locus_view_from_files(tmp_path / "locus_crispr.png", links=lpath, gene="G0", crispr=bpath, cell="K562")
    assert_png(out, min_w=900, min_h=300)
    mine = bdf[(bdf["measuredGeneSymbol"] == "G0") & (bdf["ValidConnection"] == "TRUE")]
    tested = seen["tested"]
    assert len(tested) == len(mine) and int(tested["positive"].sum()) == int(mine["Regulated"].sum()) > 0
    tss = 1_000_000
    pos = mine[mine["Regulated"].astype(bool)]
    far = float(np.abs((pos["chromStart"] + pos["chromEnd"]) / 2 - tss).max())
    half = max(100_000, 2 * far)
    window = (tss - 150_000 + 1000 - 250, tss + 149 * 2_000 - 150_000 + 1000 + 250)  # the link table's span
    assert seen["start"] == max(window[0], int(tss - half)) and seen["end"] == min(window[1], int(tss + half))
