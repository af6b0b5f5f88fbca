"""creator.simulate: determinism, readable standard files, planted properties, sample sheet."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from scipy.stats import rankdata, spearmanr

from creator import simulate as sim
from creator.cli import main
from creator.config import REPO, load_config, read_samples
from creator.errors import InputError
from creator.formats import TRACKS

SMALL = dict(n_chromosomes=1, chrom_bp=400_000, cell_types=("a1", "b2", "c3"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The default data set, written where config/synthetic.yaml expects it (relative to a root)."""
    root = tmp_path_factory.mktemp("synthetic")
    files = sim.simulate(root / "resources" / "synthetic")
    return root, files


def _md5s(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and p.name != "samples.tsv"}


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    r = rankdata(score)
    n1 = int(y.sum())
    n0 = len(y) - n1
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _element_means(bigwig: Path, bed: pd.DataFrame) -> np.ndarray:
    bw = pyBigWig.open(str(bigwig))
    centre = (bed["start"] + bed["end"]) // 2
    out = np.array([bw.stats(c, int(x) - 250, int(x) + 250, type="mean")[0]
                    for c, x in zip(bed["chrom"], centre)])
    bw.close()
    return out


def _ccres(files) -> pd.DataFrame:
    return pd.read_csv(files["ccres"], sep="\t", header=None,
                       names=["chrom", "start", "end", "name", "accession", "class"])


def _gtf(files) -> pd.DataFrame:
    rows = []
    with open(files["genes"]) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            assert len(f) == 9
            attrs = dict(re.findall(r'(\S+) "([^"]*)";', f[8]))
            rows.append(dict(chrom=f[0], feature=f[2], start=int(f[3]), end=int(f[4]), strand=f[6], **attrs))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------


def test_deterministic_in_seed(tmp_path):
    a = sim.simulate(tmp_path / "a", seed=11, **SMALL)
    b = sim.simulate(tmp_path / "b", seed=11, **SMALL)
    c = sim.simulate(tmp_path / "c", seed=12, **SMALL)
    ma, mb, mc = _md5s(tmp_path / "a"), _md5s(tmp_path / "b"), _md5s(tmp_path / "c")
    assert ma == mb
    assert set(a) == set(b) == set(c)
    assert ma["ccres.bed"] != mc["ccres.bed"]
    assert ma["a1/H3K27ac.bigWig"] != mc["a1/H3K27ac.bigWig"]
    assert ma["truth/links.tsv"] != mc["truth/links.tsv"]
    # the sample sheet differs only by the folder
    assert a["samples"].read_text().replace(str(tmp_path / "a"), "X") == \
        b["samples"].read_text().replace(str(tmp_path / "b"), "X")


def test_reference_files_are_standard(synth):
    import pyfaidx

    _, files = synth
    sizes = dict(line.split("\t") for line in files["chrom_sizes"].read_text().splitlines())
    sizes = {k: int(v) for k, v in sizes.items()}
    assert list(sizes) == ["chrS1", "chrS2"] and set(sizes.values()) == {3_000_000}
    fa = pyfaidx.Fasta(str(files["genome"]))   # uses our .fai
    assert {k: len(fa[k]) for k in fa.keys()} == sizes
    seq = str(fa["chrS1"][:]).upper()
    acgt = sum(seq.count(b) for b in "ACGT")
    assert seq.startswith("N" * 1000) and seq.count("N") > 20_000
    assert 0.38 < (seq.count("G") + seq.count("C")) / acgt < 0.44
    # the .fai is what samtools would write
    for line in files["genome_fai"].read_text().splitlines():
        name, length, offset, lb, lw = line.split("\t")
        with open(files["genome"], "rb") as fh:
            fh.seek(int(offset))
            assert fh.read(int(lb)) == str(fa[name][: int(lb)]).encode()

    cc = _ccres(files)
    assert cc["name"].str.match(r"^EH38D\d{7}$").all() and cc["accession"].str.match(r"^EH38E\d{7}$").all()
    assert cc["name"].is_unique
    assert cc["chrom"].isin(sizes).all()
    key = list(zip(cc["chrom"].map(list(sizes).index), cc["start"]))
    assert key == sorted(key)
    assert ((cc["end"] - cc["start"]).between(150, 350)).all()
    for _, g in cc.groupby("chrom"):
        assert (g["start"].to_numpy()[1:] >= g["end"].to_numpy()[:-1]).all()   # no overlaps
    assert {"PLS", "pELS", "dELS", "CA-CTCF", "CA-H3K4me3"} <= set(cc["class"])

    gtf = _gtf(files)
    genes = gtf[gtf.feature == "gene"]
    assert len(genes) == 120 and genes["gene_id"].str.match(r"^ENSGSIM\d{8}\.\d+$").all()
    assert genes["gene_name"].str.match(r"^SIMG\d+$").all()
    assert set(genes["strand"]) == {"+", "-"}
    assert set(genes["gene_type"]) == {"protein_coding", "lncRNA"}
    assert (gtf.feature == "transcript").sum() == len(genes)
    ex = gtf[gtf.feature == "exon"].merge(genes[["gene_id", "start", "end"]], on="gene_id",
                                          suffixes=("", "_g"))
    assert ((ex.start >= ex.start_g) & (ex.end <= ex.end_g)).all()
    assert set(ex.gene_id) == set(genes.gene_id)


def test_promoters_at_tss_and_ctcf_at_boundaries(synth):
    _, files = synth
    cc = _ccres(files)
    centre = (cc.start + cc.end) // 2
    expr = pd.read_csv(files["truth/expression"], sep="\t")
    pls = cc[cc["class"] == "PLS"]
    assert len(pls) == len(expr)
    for _, g in expr.iterrows():
        hit = pls[(pls.chrom == g.chrom) & (pls.start <= g.tss) & (pls.end > g.tss)]
        assert len(hit) == 1, g.symbol
    b = pd.read_csv(files["truth/boundaries"], sep="\t", header=None,
                    names=["chrom", "start", "end", "name", "pos", "ccres"])
    assert len(b) >= 10
    for _, r in b.iterrows():
        near = cc[(cc.chrom == r.chrom) & ((centre - r.pos).abs() <= 1_000)]
        assert (near["class"] == "CA-CTCF").sum() == 2
    dom = pd.read_csv(files["truth/domains"], sep="\t", header=None, names=["chrom", "start", "end", "name"])
    inner = dom[(dom.start > 0) & (dom.end < 3_000_000)]
    assert (inner.end - inner.start).between(150_000, 600_000).all()


def test_boundary_ctcf_stronger_in_every_cell(synth):
    _, files = synth
    act = pd.read_csv(files["truth/activity"], sep="\t")
    boundary = (act["kind"] == "boundary").to_numpy()
    for cell in sim.DEFAULTS["cell_types"]:
        ctcf = _element_means(files[f"{cell}/CTCF"], act)
        assert ctcf[boundary].mean() > 3 * ctcf.mean()
        assert ctcf[boundary].min() > np.median(ctcf)


def test_bigwigs_readable_with_shape(synth):
    _, files = synth
    cc = _ccres(files)
    for cell in sim.DEFAULTS["cell_types"]:
        for track in TRACKS:
            key = f"{cell}/{track}"
            if track in sim.missing_tracks_for(sim.DEFAULTS["cell_types"])[cell]:
                assert key not in files and not (files["genome"].parent / cell / f"{track}.bigWig").exists()
                continue
            bw = pyBigWig.open(str(files[key]))
            assert bw.isBigWig()
            assert bw.chroms() == {"chrS1": 3_000_000, "chrS2": 3_000_000}
            bw.close()
    assert not (files["genome"].parent / "cellB" / "EP300.bigWig").exists()
    # per-base shape: DNase peaks at the element centre, H3K27ac dips there (nucleosome-free region)
    bw_d = pyBigWig.open(str(files["cellA/DNase"]))
    bw_k = pyBigWig.open(str(files["cellA/H3K27ac"]))
    prof_d, prof_k = np.zeros(500), np.zeros(500)
    for c, s, e in zip(cc.chrom, cc.start, cc.end):
        m = (s + e) // 2
        prof_d += np.nan_to_num(np.array(bw_d.values(c, m - 250, m + 250)))
        prof_k += np.nan_to_num(np.array(bw_k.values(c, m - 250, m + 250)))
    assert prof_d[240:260].mean() > 2 * prof_d[:50].mean()
    assert prof_k[240:260].mean() < 0.8 * prof_k.max()
    assert len(np.unique(np.round(prof_d, 6))) > 50


def test_expression_tables(synth):
    _, files = synth
    expr = pd.read_csv(files["truth/expression"], sep="\t").set_index("gene_id")
    roles = sim.roles_for(sim.DEFAULTS["cell_types"])
    for cell, role in roles.items():
        key = f"{cell}/rnaseq"
        if role == "predict":
            assert key not in files
            continue
        tab = pd.read_csv(files[key], sep="\t")
        assert list(tab.columns) == ["gene_id", "transcript_id(s)", "length", "effective_length",
                                     "expected_count", "TPM", "FPKM"]
        genes = tab[tab.gene_id.str.startswith("ENSG")].copy()
        genes.index = genes.gene_id.str.split(".").str[0]
        assert len(genes) == len(expr) and (genes.TPM >= 0).all()
        truth = expr.loc[genes.index, cell]
        assert spearmanr(truth, np.log1p(genes.TPM))[0] > 0.9
        assert 6 < truth.max() < 9 and truth.min() == 0
    silent = expr[expr["kind"] == "silent"]
    assert len(silent) >= 1 and (silent[list(roles)] == 0).all().all()
    # the held-out cell type is not a copy of a training one
    test = [c for c, r in roles.items() if r == "test"]
    train = [c for c, r in roles.items() if r == "train"]
    assert len(test) == 1 and 3 <= len(train) <= 4
    for c in train:
        assert spearmanr(expr[test[0]], expr[c])[0] < 0.95


def test_planted_links(synth):
    _, files = synth
    links = pd.read_csv(files["truth/links"], sep="\t")
    assert links["is_link"].dtype == bool
    assert ((links.effect > 0) == links.is_link).all()
    assert (links.distance <= 500_000).all()
    planted = links[links.is_link]
    assert len(planted) > 100
    assert planted.same_domain.all() and not planted.own_promoter.any()
    assert (planted.distance <= 200_000).all()
    dom = pd.read_csv(files["truth/domains"], sep="\t", header=None, names=["chrom", "start", "end", "name"])
    for _, r in planted.iterrows():
        d = dom[(dom.chrom == r.chrom) & (dom.start <= r.center) & (dom.end > r.center)
                & (dom.start <= r.tss) & (dom.end > r.tss)]
        assert len(d) == 1
    # effect decays with distance; the distance-only baseline is far from the truth
    assert spearmanr(planted.distance, planted.effect)[0] < 0
    cand = links[(links.distance <= 250_000) & ~links.own_promoter]
    y = cand.is_link.to_numpy()
    assert _auroc(y, -cand.distance.to_numpy().astype(float)) < 0.85
    expr = pd.read_csv(files["truth/expression"], sep="\t")
    expressed = expr[expr["kind"] != "silent"]
    assert planted.gene_id.nunique() >= 0.8 * len(expressed)
    loops = pd.read_csv(files["truth/loops"], sep="\t")
    assert {"CTCF", "EP"} == set(loops["type"])
    assert (loops.start1 < loops.start2).all()


def test_signal_predicts_held_out_expression(synth):
    """The planted function applied to the held-out cell type's tracks predicts its expression."""
    _, files = synth
    cell = next(c for c, r in sim.roles_for(sim.DEFAULTS["cell_types"]).items() if r == "test")
    act = pd.read_csv(files["truth/activity"], sep="\t")
    k27 = dict(zip(act.ccre_name, _element_means(files[f"{cell}/H3K27ac"], act)))
    k4 = dict(zip(act.ccre_name, _element_means(files[f"{cell}/H3K4me3"], act)))
    links = pd.read_csv(files["truth/links"], sep="\t")
    score = links[links.own_promoter].set_index("gene_id").ccre_name.map(k4) / 28
    planted = links[links.is_link]
    enh = (planted.effect * planted.ccre_name.map(k27) / 16).groupby(planted.gene_id).sum()
    score = score.add(enh, fill_value=0)
    tab = pd.read_csv(files[f"{cell}/rnaseq"], sep="\t")
    tab = tab[tab.gene_id.str.startswith("ENSG")]
    tpm = pd.Series(tab.TPM.to_numpy(), index=tab.gene_id.str.split(".").str[0])
    assert spearmanr(score.loc[tpm.index], tpm)[0] > 0.7
    # the truth activity is visible in the marks
    assert spearmanr(act[cell], act.ccre_name.map(k27))[0] > 0.5


def test_blacklist(synth):
    _, files = synth
    cc = _ccres(files)
    bl = pd.read_csv(files["blacklist"], sep="\t", header=None, names=["chrom", "start", "end"])
    gone = set(pd.read_csv(files["truth/blacklisted"], sep="\t").ccre_name)
    assert len(gone) >= 1
    for _, c in cc.iterrows():
        m = (c.start + c.end) // 2
        same = bl[bl.chrom == c.chrom]
        hit_orig = ((same.start < c.end) & (same.end > c.start)).any()
        hit_500 = ((same.start < m + 250) & (same.end > m - 250)).any()
        assert hit_orig == hit_500 == (c["name"] in gone), c["name"]
    links = pd.read_csv(files["truth/links"], sep="\t")
    assert not links.ccre_name.isin(gone).any()


def test_sample_sheet_matches_outputs(tmp_path):
    cfg = load_config(REPO / "config" / "synthetic.yaml")
    block = dict(cfg["simulate"])
    assert block.pop("outdir") == "resources/synthetic" and block.pop("seed") == 7
    # the sheet's rows depend on the cell types only: simulate them small (the config simulates
    # 2 x 5 Mb with 30 genes per Mb)
    cells = tuple(block["cell_types"])
    root = tmp_path
    files = sim.simulate(root / "resources" / "synthetic", cell_types=cells, n_chromosomes=1, chrom_bp=400_000)
    assert cfg["reference"]["genes_format"] == "gtf" and cfg["reference"]["chromosomes"] is None
    for key in ("ccres", "genes", "chrom_sizes", "blacklist", "fasta"):
        assert (root / cfg["reference"][key]["url"]).exists(), key
    samples = read_samples(REPO / cfg["samples"])
    sheet = {(root / s.url).resolve() for s in samples}
    assert all(p.exists() for p in sheet)
    out = root / "resources" / "synthetic"
    written = {p.resolve() for p in out.rglob("*") if p.suffix == ".bigWig" or p.name == "rnaseq.tsv"}
    assert sheet == written
    roles = {s.cell_type: s.role for s in samples}
    assert roles == sim.roles_for(cells)
    assert roles["cellD"] == "test" and roles["cellE"] == "predict"
    # the sheet simulate writes itself is the same as the committed one
    own = read_samples(files["samples"])
    assert [(s.cell_type, s.role, s.assay) for s in own] == [(s.cell_type, s.role, s.assay) for s in samples]


def test_cli(tmp_path):
    out = tmp_path / "cli"
    assert main(["simulate", "--outdir", str(out), "--seed", "3", "--n-chromosomes", "1",
                 "--chrom-bp", "300000", "--cell-types", "x1,y2", "--ccres-per-mb", "100",
                 "--genes-per-mb", "15"]) == 0
    assert (out / "x1" / "DNase.bigWig").exists() and (out / "y2" / "rnaseq.tsv").exists()
    rows = read_samples(out / "samples.tsv")
    assert {s.role for s in rows} == {"train", "test"}
    assert main(["simulate", "--config", str(REPO / "config" / "synthetic.yaml"),
                 "--outdir", str(tmp_path / "c"), "--chrom-bp", "200000", "--n-chromosomes", "1",
                 "--cell-types", "p,q,r"]) == 0
    assert (tmp_path / "c" / "r" / "CTCF.bigWig").exists()
    assert main(["simulate", "--outdir", str(tmp_path / "bad"), "--cell-types", "only"]) == 2
    with pytest.raises(InputError):
        sim.simulate(tmp_path / "bad2", cell_types=("a", "a"))
