"""creator.links: link table invariants, exact ISP against the slow reference model, first-order vs
exact, the BGZF table and its tabix index (opened with pysam), BEDPE."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pysam
import pytest
import torch

from creator import data
from creator.errors import InputError
from creator.formats import TRACK_INDEX
from creator.io import read_table
from creator.links import ISP_TRACK_SETS, LINK_COLUMNS, isp_tracks, links, perturbed_embeddings, window_effects
from creator.model import CreatorModel, ModelConfig, save_checkpoint
from creator.predict import predict
from fixtures_arrays import write_arrays


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    arrays = write_arrays(root / "arrays", cells={"A": "train"}, nan_every=0)
    torch.manual_seed(5)
    model = CreatorModel(ModelConfig.preset("tiny"))
    # a larger head weight so that element effects are clearly non-zero
    with torch.no_grad():
        model.head.weight.mul_(4.0)
    ckpt = root / "checkpoint.pt"
    save_checkpoint(ckpt, model)
    pdir = root / "predict"
    predict(checkpoint=ckpt, reference=arrays.reference, features=arrays.features("A"), cell="A", out=pdir,
            device="cpu", attention=True, batch_genes=8)
    out = root / "exact"
    summary = links(checkpoint=ckpt, reference=arrays.reference, features=arrays.features("A"),
                    predict_dir=pdir, cell="A", out_tsv=out / "links.tsv.gz", out_bedpe=out / "links.bedpe.gz",
                    isp_exact_max=10**9, device="cpu")
    table = read_table(out / "links.tsv.gz")
    return dict(arrays=arrays, model=model.eval(), ckpt=ckpt, pdir=pdir, out=out, table=table,
                summary=summary, ref=data.open_reference(arrays.reference))


def test_columns_rows_and_windows(setup):
    t, ref = setup["table"], setup["ref"]
    assert tuple(t.columns) == LINK_COLUMNS
    assert len(t) == int(ref.window_sizes.sum()) == setup["summary"]["pairs"]
    gidx = pd.Series(np.arange(ref.n_gene), index=ref.genes["gene_id"].astype(str))[t["gene_id"].astype(str)].to_numpy()
    ccre = t["ccre_index"].to_numpy()
    # no row references an element outside its gene's window; every pair once
    assert np.all((ccre >= ref.lo[gidx]) & (ccre < ref.hi[gidx]))
    assert not t.duplicated(["ccre_index", "gene_id"]).any()
    cc = pd.read_parquet(ref.path / "ccres.parquet")
    np.testing.assert_array_equal(t["start"], cc["orig_start"].to_numpy()[ccre])
    np.testing.assert_array_equal(t["name"], cc["name"].to_numpy()[ccre])
    np.testing.assert_array_equal(t["TargetGeneTSS"], ref.tss[gidx])
    np.testing.assert_array_equal(t["distance"], ref.ccre_center[ccre] - ref.tss[gidx])
    assert (t["CellType"] == "A").all() and (t["isp_method"] == "exact").all()
    assert (t["TargetGeneEnsemblID"].str.startswith("ENSG")).all()
    assert "attention_distance_adjusted" not in t.columns  # lost to distance alone on real CRISPRi (README)
    for col in ("Score", "attention", "isp_delta", "dnase", "h3k27ac"):
        assert np.isfinite(t[col]).all(), col
    # Score: the per-chromosome rank mean of ABC-like, attention and -isp_delta (creator.linkscore)
    from creator import linkscore

    for chrom, part in t.groupby("chr"):
        expect = linkscore.rank_mean(linkscore.activity(part["dnase"], part["h3k27ac"]), part["distance"],
                                     part["gene_id"], part["attention"], part["isp_delta"])
        np.testing.assert_allclose(part["Score"], expect, atol=2e-5)  # dnase/h3k27ac are written to 6 digits
    assert ((t["Score"] > 0) & (t["Score"] <= 1)).all()
    assert (t["dnase"] >= 0).all() and t["dnase"].std() > 0
    # sorted by chromosome, start, TSS (tabix-friendly)
    rank = t["chr"].map({c: i for i, c in enumerate(ref.chroms)}).to_numpy()
    key = np.lexsort((t["TargetGeneTSS"].to_numpy(), t["start"].to_numpy(), rank))
    assert np.array_equal(key, np.arange(len(t)))


def test_attention_columns(setup):
    from creator.inference import read_gene_attention

    t, ref = setup["table"], setup["ref"]
    g = int(np.argmax(ref.window_sizes))
    gid = str(ref.genes["gene_id"].iloc[g])
    rows = t[t["gene_id"] == gid].sort_values("ccre_index")
    ga = read_gene_attention(setup["pdir"] / "attention.zarr", g).astype(np.float32)
    np.testing.assert_allclose(rows["attention"], ga.mean(axis=(1, 2)), rtol=1e-5, atol=1e-7)
    # per gene the attention sums to 1 (float16 storage)
    sums = t.groupby("gene_id")["attention"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=5e-3)


CRISPRI = [TRACK_INDEX[t] for t in ISP_TRACK_SETS["crispri"]]


def test_isp_track_sets():
    assert isp_tracks("all") == tuple(TRACK_INDEX)
    crispri = isp_tracks("crispri")
    # silencing keeps the marks of transcription through the element and the repressive marks
    assert set(TRACK_INDEX) - set(crispri) == {"H3K36me3", "H3K79me2", "H4K20me1", "H3K27me3", "H3K9me3"}
    assert isp_tracks("H3K27ac,DNase") == ("DNase", "H3K27ac")  # track order
    with pytest.raises(InputError, match="H3K27AC"):
        isp_tracks("DNase,H3K27AC")


def test_isp_all_tracks_zeroes_every_track(setup):
    ref, model = setup["ref"], setup["model"]
    cell = data.open_cell(ref, setup["arrays"].features("A"))
    lo, hi = 3, 40
    got = perturbed_embeddings(model, cell, lo, hi, isp_tracks("all"), device="cpu", element_batch=7)
    tok, sig = cell.read(lo, hi)
    with torch.no_grad():
        want = model.encode_elements(torch.from_numpy(tok).long(), torch.zeros(hi - lo, *sig.shape[1:]))
        kept = model.encode_elements(torch.from_numpy(tok).long(), torch.from_numpy(sig.astype(np.float32)))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    assert not np.allclose(got.numpy(), kept.numpy(), atol=1e-3)  # the signal mattered


def test_exact_isp_equals_reencoding_model(setup):
    t, ref, model = setup["table"], setup["ref"], setup["model"]
    cell = data.open_cell(ref, setup["arrays"].features("A"))
    rng = np.random.default_rng(0)
    genes = rng.choice(np.flatnonzero(ref.window_sizes > 0), 4, replace=False)
    checked = 0
    for g in genes:
        inp = data.gene_inputs(cell, [g])
        with torch.no_grad():
            base = model(inp["tokens"], inp["signal"], inp["elem_offset"], inp["elem_mask"])
            for k in rng.choice(ref.window_sizes[g], min(3, ref.window_sizes[g]), replace=False):
                sig = inp["signal"].clone()
                sig[0, k, :, CRISPRI] = 0  # the default perturbation: CRISPRi-like tracks only
                pert = model(inp["tokens"], sig, inp["elem_offset"], inp["elem_mask"])
                row = t[(t["gene_id"] == ref.genes["gene_id"].iloc[g]) & (t["ccre_index"] == ref.lo[g] + k)]
                assert len(row) == 1
                np.testing.assert_allclose(row["isp_delta"].iloc[0], float(pert - base), atol=1e-5)
                checked += 1
    assert checked >= 8
    assert t["isp_delta"].abs().max() > 1e-3  # the check above is not vacuous


def test_first_order_agrees_with_exact_and_top_k(setup, tmp_path):
    ref, model, t = setup["ref"], setup["model"], setup["table"]
    cell = data.open_cell(ref, setup["arrays"].features("A"))
    genes = np.flatnonzero((ref.gene_chrom == 0) & (ref.window_sizes > 0))
    lo, hi = int(ref.lo[genes].min()), int(ref.hi[genes].max())
    emb = torch.from_numpy(np.load(setup["pdir"] / "element_embeddings.npy")[lo:hi])
    zero = perturbed_embeddings(model, cell, lo, hi, isp_tracks("crispri"), device="cpu")
    eff = window_effects(model, ref, genes, emb, zero, lo, exact="all", first_order=True, batch_genes=5)
    ex, fo = eff["exact"], eff["first_order"]
    assert np.isfinite(ex).all() and np.isfinite(fo).all()
    big = np.abs(ex) > 0.1 * np.abs(ex).max()
    agree = np.mean(np.sign(ex[big]) == np.sign(fo[big]))
    assert agree > 0.8, agree
    assert np.corrcoef(ex, fo)[0, 1] > 0.8

    # a budget: first order for all, exact for the top 2 per gene by |estimate|
    out = tmp_path / "fo"
    s = links(checkpoint=setup["ckpt"], reference=ref.path, features=setup["arrays"].features("A"),
              predict_dir=setup["pdir"], cell="A", out_tsv=out / "l.tsv.gz", out_bedpe=out / "l.bedpe.gz",
              isp_exact_max=2 * int((ref.window_sizes > 0).sum()), device="cpu", batch_genes=3)
    t2 = read_table(out / "l.tsv.gz")
    assert s["exact"] == int(np.minimum(ref.window_sizes, 2).sum())
    per_gene = t2[t2["isp_method"] == "exact"].groupby("gene_id").size()
    assert per_gene.max() == 2
    merged = t2.merge(t, on=["ccre_index", "gene_id"], suffixes=("", "_all"))
    ex_rows = merged[merged["isp_method"] == "exact"]
    np.testing.assert_allclose(ex_rows["isp_delta"], ex_rows["isp_delta_all"], atol=1e-5)
    # the exact pairs are the largest first-order estimates of their gene
    gene_of = np.repeat(genes, ref.window_sizes[genes])
    ccre = np.concatenate([np.arange(ref.lo[x], ref.hi[x]) for x in genes])
    est = pd.DataFrame({"gene_id": ref.genes["gene_id"].to_numpy()[gene_of].astype(str), "ccre_index": ccre,
                        "fo": fo})
    est["rank"] = est.assign(a=-est["fo"].abs()).groupby("gene_id")["a"].rank(method="first")
    m = est.merge(t2, on=["gene_id", "ccre_index"])
    assert len(m) == len(est)
    assert ((m["rank"] <= 2) == (m["isp_method"] == "exact")).all()
    fo_rows = m[m["isp_method"] == "first_order"]
    np.testing.assert_allclose(fo_rows["isp_delta"], fo_rows["fo"], rtol=1e-4, atol=1e-6)
    assert np.isfinite(t2["Score"]).all()


#: the empty last block every BGZF file ends with (SAM specification, section 4.1.2)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def test_bedpe_and_bgzf(setup):
    t, out = setup["table"], setup["out"]
    for name in ("links.tsv.gz", "links.bedpe.gz"):
        raw = (out / name).read_bytes()
        assert raw[:4] == b"\x1f\x8b\x08\x04" and raw[12:14] == b"BC" and raw.endswith(BGZF_EOF), name
    lines = gzip.open(out / "links.bedpe.gz", "rt").read().splitlines()
    assert lines[0].split("\t") == ["#chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score",
                                    "strand1", "strand2"]
    bed = read_table(out / "links.bedpe.gz")
    thr = np.quantile(t["Score"], 0.95)
    keep = t[(t["Score"] > thr) & (t["Score"] > 0)]
    assert len(bed) == len(keep) == setup["summary"]["bedpe_links"] and len(bed) > 0
    assert (bed["end2"] - bed["start2"] == 1).all()
    assert set(bed["strand2"]) <= {"+", "-"}
    assert bed["chrom1"].equals(bed["chrom2"])
    order = bed.sort_values(["chrom1", "start1", "end1", "start2"], kind="stable")
    assert order.index.tolist() == bed.index.tolist()


def test_link_table_is_tabix_indexed(setup):
    """What `tabix links.tsv.gz chr1:A-B` prints: exactly the rows whose element overlaps the region."""
    t, out = setup["table"], setup["out"]
    path = out / "links.tsv.gz"
    tbi = out / "links.tsv.gz.tbi"
    assert tbi.exists() and tbi.stat().st_mtime_ns >= path.stat().st_mtime_ns  # htslib warns on an older index
    lines = gzip.open(path, "rt").read().splitlines()
    assert lines[0] == "#" + "\t".join(LINK_COLUMNS)     # the header, skipped as a comment by tabix
    rows = lines[1:]
    assert len(rows) == len(t)
    rng = np.random.default_rng(0)
    n_hits = 0
    with pysam.TabixFile(str(path)) as tbx:
        assert list(tbx.header) == [lines[0]]
        assert sorted(tbx.contigs) == sorted(t["chr"].unique()) == ["chr1", "chr2"]
        for chrom, part in t.groupby("chr"):
            lo, hi = int(part["start"].min()), int(part["end"].max())
            regions = [(lo, hi), (lo, lo + 1), (hi - 1, hi), (0, max(lo - 1, 1))]
            regions += [(a, a + int(rng.integers(1, 30_000))) for a in rng.integers(0, hi, 20)]
            for a, b in regions:
                # pandas: elements (0-based half-open) overlapping [a, b)
                sel = np.flatnonzero((t["chr"] == chrom).to_numpy() & (t["start"] < b).to_numpy()
                                     & (t["end"] > a).to_numpy())
                want = [rows[i] for i in sel]
                assert list(tbx.fetch(chrom, int(a), int(b))) == want, (chrom, a, b)
                # the command-line form: 1-based inclusive region
                assert list(tbx.fetch(region=f"{chrom}:{a + 1}-{b}")) == want
                n_hits += len(want)
    assert n_hits > 100
    # what tabix returns parses as the table does
    lo = int(t.loc[t["chr"] == "chr2", "start"].min())
    with pysam.TabixFile(str(path)) as tbx:
        got = pd.DataFrame([r.split("\t") for r in tbx.fetch("chr2", lo, lo + 20_000)], columns=list(LINK_COLUMNS))
    want = t[(t["chr"] == "chr2") & (t["start"] < lo + 20_000) & (t["end"] > lo)]
    assert len(want) > 0
    assert got["name"].tolist() == want["name"].tolist() and got["gene_id"].tolist() == want["gene_id"].tolist()


def test_cli_and_mismatched_predict_dir(setup, tmp_path, capsys, monkeypatch):
    from creator import cli

    monkeypatch.setitem(cli.COMMANDS, "links", "creator.links")
    a = setup["arrays"]
    args = ["links", "--checkpoint", str(setup["ckpt"]), "--reference", str(a.reference), "--features",
            str(a.features("A")), "--predict-dir", str(setup["pdir"]), "--cell", "A", "--out-tsv",
            str(tmp_path / "l.tsv.gz"), "--out-bedpe", str(tmp_path / "l.bedpe.gz"), "--isp-exact-max", "0",
            "--device", "cpu", "--bedpe-threshold", "0.5"]
    assert cli.main(args) == 0
    t = read_table(tmp_path / "l.tsv.gz")
    assert (tmp_path / "l.tsv.gz.tbi").exists()
    assert (t["isp_method"] == "first_order").all() and np.isfinite(t["Score"]).all()
    # another checkpoint than the one that made the predict directory
    torch.manual_seed(11)
    other = tmp_path / "other.pt"
    save_checkpoint(other, CreatorModel(ModelConfig.preset("tiny")))
    bad = list(args)
    bad[2] = str(other)
    assert cli.main(bad) == 2 and "does not match this checkpoint" in capsys.readouterr().err
    # a predict directory without attention
    (tmp_path / "p").mkdir()
    bad = list(args)
    bad[8] = str(tmp_path / "p")
    assert cli.main(bad) == 2 and "not found in the predict directory" in capsys.readouterr().err
    # wrong cell type
    bad = list(args)
    bad[10] = "B"
    assert cli.main(bad) == 2 and "not 'B'" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(setup, tmp_path):
    a = setup["arrays"]
    for isp_max in (10**9, 0):
        kw = dict(checkpoint=setup["ckpt"], reference=a.reference, features=a.features("A"),
                  predict_dir=setup["pdir"], cell="A", isp_exact_max=isp_max)
        links(out_tsv=tmp_path / "g.tsv.gz", out_bedpe=tmp_path / "g.bedpe.gz", device="cuda", **kw)
        links(out_tsv=tmp_path / "c.tsv.gz", out_bedpe=tmp_path / "c.bedpe.gz", device="cpu", **kw)
        g = read_table(tmp_path / "g.tsv.gz")
        c = read_table(tmp_path / "c.tsv.gz")
        assert g[["ccre_index", "gene_id", "isp_method"]].equals(c[["ccre_index", "gene_id", "isp_method"]])
        np.testing.assert_allclose(g["isp_delta"], c["isp_delta"], atol=1e-4)
