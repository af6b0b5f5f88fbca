"""creator.tads: binned attention map (cooler), insulation, boundaries and loops on attention stores
with planted structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from creator import data
from creator.cli import main
from creator.errors import InputError
from creator.inference import (AttentionWriter, BandAccumulator, binned_block, log_distance_bin,
                               read_element_attention)
from creator.tads import _ChromStats, call_boundaries, pixel_distance_bin, tads
from fixtures_arrays import write_reference

RES = 5_000
EDGES = (100_000, 170_000, 250_000, 330_000)      # planted block edges on chr1 (multiples of RES)
PLANT = (120_000, 215_000)                          # a planted cross-block element pair on chr1


def write_store(path, ref: data.Reference, attention_fn, n_heads: int = 2, element_resolution=None) -> None:
    """An attention.zarr written by predict's own writer; ``attention_fn(gene, rows)`` -> [E, E]."""
    writer = AttentionWriter(path, ref, n_layers=1, n_heads=n_heads, cell="K", chunk_rows=64,
                             element_resolution=element_resolution)
    for g in range(ref.n_gene):
        rows = np.arange(ref.lo[g], ref.hi[g])
        e = len(rows)
        t = np.zeros((1, n_heads, e + 1, e + 1), np.float32)
        if e:
            a = attention_fn(g, rows)
            # heads differ, their mean is `a`
            t[0, :, :e, :e] = a
            t[0, 0, :e, :e] = 0.5 * a + 0.5 / e
            t[0, 1, :e, :e] = 1.5 * a - 0.5 / e
            t[0, :, -1, :e] = 1.0 / e
        writer(np.array([g]), np.zeros(1, np.float32), [torch.from_numpy(t)])
    writer.close()


def block_attention(ref: data.Reference, eps: float = 0.01, plant_weight: float = 300.0):
    centre = ref.ccre_center
    block = np.searchsorted(np.array(EDGES), centre, side="right")
    chrom = ref.ccre_chrom
    c1 = chrom == 0
    pi = [int(np.flatnonzero(c1)[np.argmin(np.abs(centre[c1] - p))]) for p in PLANT]

    def fn(g, rows):
        b = block[rows]
        w = np.where(b[:, None] == b[None, :], 1.0, eps)
        np.fill_diagonal(w, 1.0)
        for x, y in ((pi[0], pi[1]), (pi[1], pi[0])):
            if x in rows and y in rows:
                w[x - rows[0], y - rows[0]] = plant_weight
        return w / w.sum(1, keepdims=True)

    return fn, pi


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    root = tmp_path_factory.mktemp("tads")
    rng = np.random.default_rng(1)
    write_reference(root / "reference", chrom_bp={"chr1": 400_000, "chr2": 120_000}, element_bp=50,
                    window_bp=60_000, ccre_spacing=1_000, gene_spacing=10_000, rng=rng,
                    empty_prefix_bp=40_000)
    ref = data.open_reference(root / "reference")
    fn, planted = block_attention(ref)
    write_store(root / "predict" / "attention.zarr", ref, fn)
    sizes = root / "chrom.sizes"
    sizes.write_text("chr1\t400000\nchr2\t120000\nchr3\t50000\n")
    out = root / "out"
    summary = tads(reference=root / "reference", predict_dir=root / "predict", chrom_sizes=sizes, cell="K",
                   resolution=RES, window_bins=3, min_prominence=0.3, out_mcool=out / "a.mcool",
                   out_insulation=out / "ins.bedgraph", out_insulation_bw=out / "ins.bw",
                   out_boundaries=out / "b.bed", out_loops=out / "loops.bedpe", loop_oe=3.0,
                   loop_min_distance=20_000, assembly="hg38")
    return dict(root=root, ref=ref, out=out, summary=summary, planted=planted)


def read_bed(path, names):
    return pd.read_csv(path, sep="\t", header=None, names=names, comment="#")


def base_uri(mcool) -> str:
    """The base-resolution cooler of a tads .mcool."""
    return f"{mcool}::resolutions/{RES}"


def test_cool_equals_dense_computation(blocks):
    import cooler

    ref, out = blocks["ref"], blocks["out"]
    clr = cooler.Cooler(base_uri(out / "a.mcool"))
    assert clr.binsize == RES and clr.chromnames == ["chr1", "chr2"]  # chr3 has no cCREs
    n_bins = len(clr.bins())
    sums = np.zeros((n_bins, n_bins))
    counts = np.zeros((n_bins, n_bins))
    offset = {"chr1": 0, "chr2": 400_000 // RES}
    for g in range(ref.n_gene):
        e = ref.window_sizes[g]
        if e == 0:
            continue
        a = read_element_attention(blocks["root"] / "predict" / "attention.zarr", g).astype(np.float64)
        rows = np.arange(ref.lo[g], ref.hi[g])
        chrom = ref.chroms[ref.ccre_chrom[rows[0]]]
        b = ref.ccre_center[rows] // RES + offset[chrom]
        for i in range(e):
            for j in range(i + 1, e):
                p, q = sorted((b[i], b[j]))
                sums[p, q] += (a[i, j] + a[j, i]) / 2
                counts[p, q] += 1
    dense = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    dense = np.triu(dense) + np.triu(dense, 1).T
    got = clr.matrix(balance=False)[:]
    np.testing.assert_allclose(got, dense, rtol=1e-9, atol=1e-12)
    n = clr.matrix(balance=False, field="n")[:]
    np.testing.assert_array_equal(np.triu(n), np.triu(counts))
    px = clr.pixels()[:]
    assert (px["bin1_id"] <= px["bin2_id"]).all() and (px["n"] > 0).all()
    key = px["bin1_id"].to_numpy() * n_bins + px["bin2_id"].to_numpy()
    assert np.all(np.diff(key) > 0)  # sorted, one pixel per bin pair


def test_boundaries_at_block_edges(blocks):
    b = read_bed(blocks["out"] / "b.bed", ["chrom", "start", "end", "name", "score", "strand"])
    chr1 = b[b["chrom"] == "chr1"]
    assert len(chr1) >= len(EDGES)
    for edge in EDGES:
        # the edge lies within one bin of a called boundary bin
        dist = np.minimum(np.abs(chr1["start"] - edge), np.abs(chr1["end"] - edge))
        assert dist.min() <= RES, (edge, chr1)
    # the strongest calls are the planted edges
    top = chr1.nlargest(len(EDGES), "score")
    for s, e in zip(top["start"], top["end"]):
        assert min(min(abs(s - x), abs(e - x)) for x in EDGES) <= RES
    assert (b["score"] >= 0.3).all()
    assert list(b.sort_values(["chrom", "start"]).index) == list(b.index)


def test_loops_include_planted_pair(blocks):
    ref = blocks["ref"]
    loops = read_bed(blocks["out"] / "loops.bedpe",
                     ["chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1",
                      "strand2", "observed", "expected", "n"])
    assert len(loops) > 0
    p1, p2 = (int(ref.ccre_center[i]) // RES * RES for i in blocks["planted"])
    hit = loops[(loops["chrom1"] == "chr1") & (loops["start1"] == p1) & (loops["start2"] == p2)]
    assert len(hit) == 1
    assert hit["score"].iloc[0] == loops["score"].max()
    assert ((loops["start2"] - loops["start1"]) >= 20_000).all() and (loops["score"] >= 3).all()
    np.testing.assert_allclose(loops["score"], loops["observed"] / loops["expected"], rtol=1e-4)
    assert not loops.duplicated(["chrom1", "start1", "chrom2", "start2"]).any()
    first = open(blocks["out"] / "loops.bedpe").readline()
    assert first.startswith("#chrom1\tstart1\tend1\tchrom2")


def test_insulation_only_covered_bins(blocks):
    path = blocks["out"] / "ins.bedgraph"
    assert "nan" not in path.read_text().lower()          # bedGraphToBigWig and browsers reject NaN lines
    ins = read_bed(path, ["chrom", "start", "end", "value"])
    assert list(ins["chrom"].unique()) == ["chr1", "chr2"]
    assert np.isfinite(ins["value"]).all()
    assert (ins["end"] - ins["start"] == RES).all() and (ins["start"] % RES == 0).all()
    chr2 = ins[ins["chrom"] == "chr2"]
    # chr2 has no cCRE in its first 40 kb: no data there, so no line
    assert len(chr2) > 0 and (chr2["start"] >= 40_000).all()
    chr1 = ins[ins["chrom"] == "chr1"]
    assert len(chr1) > 0.8 * 400_000 // RES
    assert abs(chr1["value"].mean()) < 1.0
    assert blocks["summary"]["covered_bins"] == len(ins)


def test_insulation_bigwig_opens_in_pybigwig(blocks):
    import pyBigWig

    from creator.io import read_chrom_sizes

    sizes = read_chrom_sizes(blocks["root"] / "chrom.sizes")
    ins = read_bed(blocks["out"] / "ins.bedgraph", ["chrom", "start", "end", "value"])
    bw = pyBigWig.open(str(blocks["out"] / "ins.bw"))
    try:
        assert bw.isBigWig()
        # the cooler's chromosomes (chr3 has no cCRE), with the reference's lengths
        assert bw.chroms() == {c: sizes[c] for c in ("chr1", "chr2")}
        for chrom, part in ins.groupby("chrom"):
            iv = np.array(bw.intervals(chrom), dtype=np.float64)
            # one entry per covered bin, no NaN, the bedGraph's values (written to 6 digits there)
            np.testing.assert_array_equal(iv[:, 0], part["start"])
            np.testing.assert_array_equal(iv[:, 1], part["end"])
            assert np.isfinite(iv[:, 2]).all()
            np.testing.assert_allclose(iv[:, 2], part["value"], rtol=1e-5, atol=1e-6)
        # no entry over chr2's first 40 kb: a reader sees no data there
        assert np.isnan(bw.values("chr2", 0, 40_000, numpy=True)).all()
    finally:
        bw.close()


def test_mcool_opens_in_cooler_at_every_resolution(blocks):
    import cooler

    path = str(blocks["out"] / "a.mcool")
    # 5 kb x 1, 2, 5, 10, 20, 50, 100, 200 (the 1-2-5 steps of cooler zoomify), up to 1 Mb
    want = [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000]
    assert blocks["summary"]["resolutions"] == want
    assert sorted(int(g.rsplit("/", 1)[1]) for g in cooler.fileops.list_coolers(path)) == want
    base = cooler.Cooler(base_uri(path))
    bp = base.pixels()[:]
    bins = base.bins()[:]
    chrom_of = bins["chrom"].astype(str).to_numpy()
    local = (bins["start"] // RES).to_numpy()
    for res in want:
        clr = cooler.Cooler(f"{path}::resolutions/{res}")
        assert clr.binsize == res and clr.info["genome-assembly"] == "hg38"
        assert dict(clr.chromsizes) == {"chr1": 400_000, "chr2": 120_000}
        assert clr.info["metadata"]["resolution"] == res and clr.info["metadata"]["cell_type"] == "K"
        # count = mean over the contributions of the coarse bin pair: the n-weighted mean of the
        # base pixels it covers (not the sum of their means), n = their total
        f = res // RES
        offsets = {c: int(clr.offset(c)) for c in clr.chromnames}
        coarse = np.array([offsets[c] for c in chrom_of]) + local // f
        exp = pd.DataFrame({"b1": coarse[bp["bin1_id"]], "b2": coarse[bp["bin2_id"]],
                            "s": bp["count"] * bp["n"], "n": bp["n"]}).groupby(["b1", "b2"]).sum()
        got = clr.pixels()[:].set_index(["bin1_id", "bin2_id"])
        assert list(got.index) == list(exp.index)
        np.testing.assert_array_equal(got["n"], exp["n"])
        np.testing.assert_allclose(got["count"], exp["s"] / exp["n"], rtol=1e-12)
    assert cooler.Cooler(f"{path}::resolutions/1000000").matrix(balance=False)[:].shape == (2, 2)


def test_insulation_matches_brute_force():
    rng = np.random.default_rng(0)
    n, w = 30, 4
    r = rng.integers(0, n, 300)
    c = np.minimum(r + rng.integers(0, 9, 300), n - 1)
    key = np.unique(r * n + c)
    r, c = key // n, key % n
    v = rng.uniform(0.1, 1.0, len(r))
    m = np.full((n, n), np.nan)
    m[r, c] = v
    st = _ChromStats(n, w, 1)
    st.add(r, c, v)
    mean = np.full(n, np.nan)
    for k in range(n):
        vals, size = [], 0
        for rr in range(max(0, k - w + 1), k + 1):
            for cc in range(k, min(n, k + w)):
                if cc - rr >= 1:
                    size += 1
                    if np.isfinite(m[rr, cc]):
                        vals.append(m[rr, cc])
        if vals and len(vals) >= 0.5 * size:
            mean[k] = np.mean(vals)
    got = st.insulation(0.5)
    ok = np.isfinite(mean)
    np.testing.assert_array_equal(np.isfinite(got), ok)
    big = np.nanmean(mean)
    eps = 1e-3 * big
    np.testing.assert_allclose(got[ok], np.log2((mean[ok] + eps) / (big + eps)), rtol=1e-9)


def test_call_boundaries_respects_nan_runs():
    x = np.array([0.5, 0.0, -1.0, 0.0, 0.5, np.nan, 0.0, -0.05, 0.0, np.nan, -3.0, 0.0, 1.0])
    bins, prom = call_boundaries(x, 0.1)
    assert bins.tolist() == [2]            # the shallow dip is below threshold; -3 sits at a run edge
    np.testing.assert_allclose(prom, [1.5])
    bins, _ = call_boundaries(x, 0.01)
    assert bins.tolist() == [2, 7]
    assert call_boundaries(np.full(5, np.nan), 0.1)[0].size == 0


def test_band_accumulator_and_blocks():
    rng = np.random.default_rng(2)
    n_bins, band = 40, 6
    acc = BandAccumulator(n_bins, band)
    dense = np.zeros((n_bins, n_bins))
    out = []
    for b0 in sorted(rng.integers(0, n_bins - band, 25)):
        m = int(rng.integers(1, band + 1))
        s = np.triu(rng.uniform(0, 1, (m, m)))
        cnt = np.triu(rng.integers(0, 3, (m, m)))
        s[cnt == 0] = 0
        dense[b0:b0 + m, b0:b0 + m] += s
        out += acc.add(int(b0), s, cnt)
    out.append(acc.finish())
    got = np.zeros_like(dense)
    rows = np.concatenate([o[0] for o in out])
    cols = np.concatenate([o[1] for o in out])
    got[rows, cols] = np.concatenate([o[2] for o in out])
    assert len(np.unique(rows * n_bins + cols)) == len(rows)
    np.testing.assert_allclose(got, dense)
    # gaps between windows longer than the buffer (1.x and several times its 2 * band rows)
    acc = BandAccumulator(200, band)
    dense = np.zeros((200, 200))
    out = []
    for b0 in (0, 2, 2 * band + 5, 2 * band + 7, 80, 150):
        s = np.triu(rng.uniform(0, 1, (band, band)))
        dense[b0:b0 + band, b0:b0 + band] += s
        out += acc.add(b0, s, np.triu(np.ones((band, band), np.int64)))
    out.append(acc.finish())
    got = np.zeros_like(dense)
    got[np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])] = np.concatenate([o[2] for o in out])
    np.testing.assert_allclose(got, dense)
    # a window's block: unordered distinct pairs, symmetrised
    a = rng.uniform(0, 1, (4, 4))
    b0, sums, counts = binned_block(a, np.array([3, 3, 5, 5]))
    assert b0 == 3 and sums.shape == (3, 3)
    s = (a + a.T) / 2
    np.testing.assert_allclose(sums[0, 0], s[0, 1])
    np.testing.assert_allclose(sums[0, 2], s[:2, 2:].sum())
    assert counts[0, 0] == 1 and counts[0, 2] == 4 and counts[2, 0] == 0 and counts[1].sum() == 0


def test_distance_bins():
    assert log_distance_bin([0, 1000, -1000, 3000], unit=1000).tolist() == [0, 4, 4, 8]
    assert pixel_distance_bin([0, 1, 2, 4]).tolist() == [-1, 0, 4, 8]


def test_cli_and_missing_element_attention(blocks, tmp_path, capsys, monkeypatch):
    from creator import cli

    monkeypatch.setitem(cli.COMMANDS, "tads", "creator.tads")
    root = blocks["root"]
    args = ["tads", "--reference", str(root / "reference"), "--predict-dir", str(root / "predict"),
            "--cell", "K", "--chrom-sizes", str(root / "chrom.sizes"), "--resolution", "10000",
            "--out-mcool", str(tmp_path / "a.mcool"), "--out-insulation", str(tmp_path / "i.bedgraph"),
            "--out-boundaries", str(tmp_path / "b.bed"), "--out-loops", str(tmp_path / "l.bedpe"),
            "--window-bins", "2", "--assembly", "hg38", "--out-insulation-bw", str(tmp_path / "i.bw")]
    assert main(args) == 0
    assert all((tmp_path / f).exists() for f in ("a.mcool", "i.bedgraph", "i.bw", "b.bed", "l.bedpe"))
    import cooler

    assert cooler.Cooler(f"{tmp_path / 'a.mcool'}::resolutions/1000000").info["genome-assembly"] == "hg38"
    # wrong cell type
    bad = [x if x != "K" else "Other" for x in args]
    assert main(bad) == 2 and "cell type 'K'" in capsys.readouterr().err
    # a store without element attention
    ref = blocks["ref"]
    writer = AttentionWriter(tmp_path / "p" / "attention.zarr", ref, n_layers=1, n_heads=1, cell="K",
                             element_attention=False)
    for g in range(ref.n_gene):
        e = int(ref.window_sizes[g])
        writer(np.array([g]), np.zeros(1), [torch.full((1, 1, e + 1, e + 1), 1.0 / max(e, 1))])
    writer.close()
    args[4] = str(tmp_path / "p")
    assert main(args) == 2 and "no element_attention" in capsys.readouterr().err
    # chrom sizes without the reference's chromosome
    (tmp_path / "sizes").write_text("chr1\t400000\n")
    args[4], args[8] = str(root / "predict"), str(tmp_path / "sizes")
    assert main(args) == 2 and "'chr2'" in capsys.readouterr().err


def test_summits_keep_one_per_cluster():
    from creator.tads import summits

    r = np.array([0, 0, 1, 5, 5, 9])
    c = np.array([4, 5, 5, 9, 10, 20])
    v = np.array([1.0, 3.0, 2.0, 2.0, 2.0, 0.5])
    assert summits(r, c, v, 1).tolist() == [False, True, False, True, False, True]
    assert summits(r, c, v, 0).all()


# ---------------------------------------------------------------------------------------------
# the learned insulation barrier

BARRIERS = (60_000, 150_000, 290_000)   # planted insulating elements on chr1 (bp)


def write_barrier_model(root, ref: data.Reference, *, insulation: bool = True):
    """A tiny checkpoint whose insulation is ``softplus(10 x0 - 10)`` in every head, and stage-1
    embeddings with ``x0 = 2`` at the element nearest each of :data:`BARRIERS` (u ~ 10) and 0
    elsewhere (u ~ 4.5e-5); returns (checkpoint path, planted rows)."""
    from dataclasses import replace

    from creator.model import CreatorModel, ModelConfig
    from creator.model.checkpoint import save_checkpoint

    cfg = replace(ModelConfig.preset("tiny"), insulation=insulation)
    torch.manual_seed(0)
    model = CreatorModel(cfg)
    c1 = np.flatnonzero(ref.ccre_chrom == 0)
    rows = [int(c1[np.argmin(np.abs(ref.ccre_center[c1] - b))]) for b in BARRIERS]
    emb = np.zeros((ref.n_ccre, cfg.d_model), np.float32)
    emb[rows, 0] = 2.0
    if insulation:
        with torch.no_grad():
            model.gene.insulation.proj.weight.zero_()
            model.gene.insulation.proj.weight[:, 0] = 10.0
            model.gene.insulation.proj.bias.fill_(-10.0)
    ckpt = root / ("model_ins.pt" if insulation else "model_plain.pt")
    save_checkpoint(ckpt, model)
    np.save(root / "predict" / "element_embeddings.npy", emb)
    return ckpt, rows


def test_element_insulation_reads_the_model(blocks):
    from creator.tads import element_insulation

    root, ref = blocks["root"], blocks["ref"]
    ckpt, rows = write_barrier_model(root, ref)
    u = element_insulation(ckpt, root / "predict", ref, batch=7)   # several batches
    assert u.shape == (ref.n_ccre,)
    np.testing.assert_allclose(u[rows], np.log1p(np.exp(10.0)), rtol=1e-5)
    others = np.setdiff1d(np.arange(ref.n_ccre), rows)
    np.testing.assert_allclose(u[others], np.log1p(np.exp(-10.0)), rtol=1e-4)
    plain, _ = write_barrier_model(root, ref, insulation=False)
    assert element_insulation(plain, root / "predict", ref) is None
    # embeddings of another shape
    np.save(root / "predict" / "element_embeddings.npy", np.zeros((ref.n_ccre + 1, 8), np.float32))
    with pytest.raises(InputError, match="element embeddings have shape"):
        element_insulation(ckpt, root / "predict", ref)


def test_barrier_tracks_and_calls():
    from creator.tads import _Chrom, barrier_tracks, call_barrier_boundaries

    chroms = [_Chrom("a", 100, 10, 0, 0), _Chrom("b", 50, 5, 10, 1)]
    centre = np.array([5, 15, 17, 55, 95, 5, 45])
    code = np.array([0, 0, 0, 0, 0, 1, 1])
    u = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 2.0, 2.0])
    tr = barrier_tracks(u, centre, code, chroms, 10)
    # occupied bins: a0 a1 a5 a9 b0 b4 -> raw 1, 5, 4, 0, 2, 2: mean 14 / 6
    scale = 14 / 6
    np.testing.assert_allclose(tr["a"], np.array([1, 5, 0, 0, 0, 4, 0, 0, 0, 0]) / scale)
    np.testing.assert_allclose(tr["b"], np.array([2, 0, 0, 0, 2]) / scale)
    # dimensionless: scaling every u leaves the track unchanged
    tr3 = barrier_tracks(3.5 * u, centre, code, chroms, 10)
    np.testing.assert_allclose(tr3["a"], tr["a"])
    assert all(not v.any() for v in barrier_tracks(0 * u, centre, code, chroms, 10).values())
    # peaks: prominence and minimum distance (the higher of two close peaks wins)
    x = np.array([0, 3, 0, 2.5, 0, 0, 0, 0, 1.0, 0.5, 0, 0.2, 0])
    bins, prom = call_barrier_boundaries(x, 0.9, 1)
    assert bins.tolist() == [1, 3, 8] and np.allclose(prom, [3, 2.5, 1.0])
    bins, _ = call_barrier_boundaries(x, 0.9, 3)
    assert bins.tolist() == [1, 8]
    assert call_barrier_boundaries(x[:2], 0.1, 1)[0].size == 0


def test_boundaries_from_barrier(blocks, tmp_path):
    root, ref = blocks["root"], blocks["ref"]
    ckpt, rows = write_barrier_model(root, ref)
    kw = dict(reference=root / "reference", predict_dir=root / "predict", chrom_sizes=root / "chrom.sizes",
              cell="K", resolution=RES, window_bins=3, min_prominence=0.3, out_mcool=tmp_path / "a.mcool",
              out_insulation=tmp_path / "i.bedgraph", out_boundaries=tmp_path / "b.bed",
              out_loops=tmp_path / "l.bedpe", loop_oe=3.0, loop_min_distance=20_000)
    s = tads(**kw, checkpoint=ckpt, out_barrier=tmp_path / "barrier.bedgraph", out_barrier_bw=tmp_path / "barrier.bw")
    assert s["boundaries_from"] == "barrier"
    b = read_bed(tmp_path / "b.bed", ["chrom", "start", "end", "name", "score", "strand"])
    # exactly the planted barriers: the attention's block edges are not called
    assert b["chrom"].tolist() == ["chr1"] * 3
    assert (b["start"].to_numpy() == ref.ccre_center[rows] // RES * RES).all()
    bg = read_bed(tmp_path / "barrier.bedgraph", ["chrom", "start", "end", "value"])
    assert len(bg) == 400_000 // RES + 120_000 // RES
    top = bg.nlargest(3, "value")
    assert sorted(top["start"]) == sorted(ref.ccre_center[rows] // RES * RES)
    occupied = bg["value"] > 0
    assert bg.loc[occupied, "value"].mean() == pytest.approx(1.0)
    # the bigWig: the same bins and values, the reference's chromosome lengths, no NaN
    import pyBigWig

    with pyBigWig.open(str(tmp_path / "barrier.bw")) as bw:
        assert bw.chroms() == {"chr1": 400_000, "chr2": 120_000}
        iv = pd.DataFrame([(c, *x) for c in ("chr1", "chr2") for x in bw.intervals(c)],
                          columns=["chrom", "start", "end", "value"])
    assert np.isfinite(iv["value"]).all()
    pd.testing.assert_frame_equal(iv[["chrom", "start", "end"]], bg[["chrom", "start", "end"]])
    np.testing.assert_allclose(iv["value"], bg["value"], rtol=1e-5, atol=1e-7)
    # attention on request: the same boundaries as without a checkpoint
    s = tads(**kw, checkpoint=ckpt, boundaries_from="attention")
    assert s["boundaries_from"] == "attention"
    assert (tmp_path / "b.bed").read_text() == (blocks["out"] / "b.bed").read_text()
    # a model without learned insulation: auto falls back to attention, barrier is refused
    plain, _ = write_barrier_model(root, ref, insulation=False)
    s = tads(**kw, checkpoint=plain, out_barrier=tmp_path / "barrier.bedgraph", out_barrier_bw=tmp_path / "barrier.bw")
    assert s["boundaries_from"] == "attention"
    assert (tmp_path / "b.bed").read_text() == (blocks["out"] / "b.bed").read_text()
    assert (read_bed(tmp_path / "barrier.bedgraph", ["chrom", "start", "end", "value"])["value"] == 0).all()
    with pyBigWig.open(str(tmp_path / "barrier.bw")) as bw:
        assert bw.stats("chr1", type="max")[0] == 0.0 and bw.stats("chr1", type="min")[0] == 0.0
    with pytest.raises(InputError, match="no learned insulation"):
        tads(**kw, checkpoint=plain, boundaries_from="barrier")
    with pytest.raises(InputError, match="--checkpoint is missing"):
        tads(**kw, out_barrier=tmp_path / "x.bedgraph")
    with pytest.raises(InputError, match="--checkpoint is missing"):
        tads(**kw, out_barrier_bw=tmp_path / "x.bw")
    with pytest.raises(InputError, match="--boundaries-from"):
        tads(**kw, boundaries_from="hic")


# ---------------------------------------------------------------------------------------------
# element attention binned during predict


def test_binned_store_gives_the_same_outputs(blocks, tmp_path):
    import cooler
    import zarr

    root, ref = blocks["root"], blocks["ref"]
    fn, _ = block_attention(ref)
    write_store(tmp_path / "binned" / "attention.zarr", ref, fn, element_resolution=RES)
    grp = zarr.open_group(str(tmp_path / "binned" / "attention.zarr"), mode="r")
    assert "element_attention" not in grp and int(grp["element_pixels"].attrs["resolution"]) == RES
    assert sorted(grp["element_pixels"].group_keys()) == ["0", "1"]
    out = tmp_path / "out"
    kw = dict(reference=root / "reference", chrom_sizes=root / "chrom.sizes", cell="K", resolution=RES,
              window_bins=3, min_prominence=0.3, loop_oe=3.0, loop_min_distance=20_000)
    summary = tads(predict_dir=tmp_path / "binned", out_mcool=out / "a.mcool", out_insulation=out / "ins.bedgraph",
                   out_boundaries=out / "b.bed", out_loops=out / "loops.bedpe", **kw)
    assert summary == blocks["summary"]
    full, binned = cooler.Cooler(base_uri(blocks["out"] / "a.mcool")), cooler.Cooler(base_uri(out / "a.mcool"))
    pf, pb = full.pixels()[:], binned.pixels()[:]
    np.testing.assert_array_equal(pf[["bin1_id", "bin2_id", "n"]].to_numpy(), pb[["bin1_id", "bin2_id", "n"]].to_numpy())
    np.testing.assert_allclose(pb["count"], pf["count"], rtol=1e-12)
    for name in ("b.bed", "loops.bedpe"):
        assert (out / name).read_text() == (blocks["out"] / name).read_text(), name
    a = read_bed(out / "ins.bedgraph", ["chrom", "start", "end", "v"])
    b = read_bed(blocks["out"] / "ins.bedgraph", ["chrom", "start", "end", "v"])
    np.testing.assert_allclose(a["v"], b["v"], rtol=1e-9, equal_nan=True)
    # another resolution is refused with the fix
    with pytest.raises(InputError, match="binned at 5000 bp.*--resolution 5000"):
        tads(predict_dir=tmp_path / "binned", out_mcool=out / "x.mcool", out_insulation=out / "x.bedgraph",
             out_boundaries=out / "x.bed", out_loops=out / "x.bedpe", **{**kw, "resolution": 10_000})


def test_binner_refuses_out_of_order_windows(blocks, tmp_path):
    import zarr

    from creator.inference import ElementAttentionBinner

    ref = blocks["ref"]
    grp = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    b = ElementAttentionBinner(grp, ref, RES)
    c1 = [g for g in range(ref.n_gene) if ref.window_sizes[g] > 0 and ref.gene_chrom[g] == 0]
    c2 = [g for g in range(ref.n_gene) if ref.window_sizes[g] > 0 and ref.gene_chrom[g] == 1]
    e = lambda g: np.full((ref.window_sizes[g],) * 2, 1.0 / ref.window_sizes[g])  # noqa: E731
    b.add(c1[-1], e(c1[-1]))
    with pytest.raises(ValueError, match="non-decreasing"):
        b.add(c1[0], e(c1[0]))
    b.add(c2[0], e(c2[0]))
    with pytest.raises(RuntimeError, match="arrived twice"):
        b.add(c1[-1], e(c1[-1]))


def test_float16_rounding_through_torch_equals_numpy():
    """The binner rounds attention to float16 through torch (fast); the values must be numpy's."""
    from creator.inference import float16_rounded

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random(10_000, dtype=np.float32),            # attention-like [0, 1)
                        rng.normal(0, 1e3, 1000).astype(np.float32),     # large values
                        rng.random(1000).astype(np.float32) * 1e-6,      # float16 subnormals
                        (np.arange(1, 2049, dtype=np.float32) + 0.5) / 2048,  # exact ties
                        np.float32([0.0, -0.0, 70000.0])])                # 0 and overflow to inf
    with np.errstate(over="ignore"):  # 70000 overflows to inf in both
        expect = np.asarray(x, dtype=np.float16).astype(np.float32)
    got = float16_rounded(x)
    np.testing.assert_array_equal(got.reshape(-1), expect)


def test_evaluate_and_locus_readers_take_the_mcool_uri(blocks, tmp_path):
    """The evaluate_tads and locus_view rules pass attention.mcool::resolutions/N: the same matrix as
    reading the base resolution with cooler."""
    import cooler

    from creator.evaluate import open_contacts

    uri = base_uri(blocks["out"] / "a.mcool")
    src = open_contacts(uri, balance=False, what="attention")
    assert src.resolution == RES and src.assembly == "hg38"
    c = src.fetch("chr1")
    np.testing.assert_allclose(c.dense(0, c.n_bins), cooler.Cooler(uri).matrix(balance=False).fetch("chr1"),
                               rtol=1e-12)
    with pytest.raises(InputError, match="multi-resolution cooler: choose one of"):
        open_contacts(blocks["out"] / "a.mcool", balance=False)
    assert main(["evaluate-hic", "--boundaries", str(blocks["out"] / "b.bed"), "--attention", uri, "--cell", "K",
                 "--out", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "summary.tsv").exists() and (tmp_path / "eval" / "insulation.png").exists()
