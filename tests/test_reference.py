import numpy as np
import pandas as pd
import pytest

from creator.errors import InputError
from creator.formats import NUCLEOTIDE_TOKENS
from creator.reference import build_reference, tokenize

from conftest import write


def test_reference_tables(tiny_reference):
    ref = tiny_reference["ref"]
    ccres = pd.read_parquet(ref / "ccres.parquet")
    # sorted by (chrom, start), blacklisted element chr1:9000-9100 removed, all 200 bp, inside chromosomes
    assert list(zip(ccres["chrom"], ccres["orig_start"])) == [
        ("chr1", 500), ("chr1", 3000), ("chr1", 15000), ("chr1", 19900), ("chr2", 1000), ("chr2", 6000)]
    assert ((ccres["end"] - ccres["start"]) == 200).all()
    assert ccres["start"].tolist() == [500, 3100, 15150, 19800, 1050, 5950]  # centred; last chr1 one shifted in
    genes = pd.read_parquet(ref / "genes.parquet")
    assert genes["gene_id"].tolist() == ["GA", "GB", "GC"]
    assert genes["ensembl_id"].tolist() == ["ENSG01", "ENSG02", "ENSG03"]
    assert genes["tss"].tolist() == [3100, 9049, 11000]


def test_windows_match_brute_force(tiny_reference):
    ref = tiny_reference["ref"]
    ccres = pd.read_parquet(ref / "ccres.parquet")
    genes = pd.read_parquet(ref / "genes.parquet")
    w = np.load(ref / "windows.npz")
    for g in genes.itertuples():
        inside = np.flatnonzero((ccres["chrom"] == g.chrom).to_numpy()
                                & (np.abs(ccres["center"].to_numpy() - g.tss) <= 6000))
        lo, hi = (inside.min(), inside.max() + 1) if len(inside) else (g.win_lo, g.win_lo)
        assert (g.win_lo, g.win_hi) == (lo, hi)
        assert len(inside) == hi - lo  # contiguous
    assert w["lo"].tolist() == genes["win_lo"].tolist()
    assert int(w["element_bp"]) == 200 and len(str(w["reference_id"])) == 16


def test_gene_with_empty_window_is_kept(tiny_genome, caplog):
    out = tiny_genome["dir"] / "ref_small"
    build_reference(ccres_path=tiny_genome["bed"], genes_path=tiny_genome["genes"], genes_format="bed",
                    chrom_sizes_path=tiny_genome["sizes_path"], out_dir=out, element_bp=200, window_bp=1500)
    genes = pd.read_parquet(out / "genes.parquet")
    gc = genes.set_index("gene_id").loc["GC"]  # TSS 11000 on chr2, nearest element centre 6050
    assert gc["win_lo"] == gc["win_hi"]
    assert "no cCRE within 1500 bp" in caplog.text


def test_sequence_tokens(tiny_reference):
    ref = tiny_reference["ref"]
    seq = np.load(ref / "sequence.npy")
    ccres = pd.read_parquet(ref / "ccres.parquet")
    assert seq.shape == (len(ccres), 200) and seq.dtype == np.uint8
    for i, row in enumerate(ccres.itertuples()):
        expect = [NUCLEOTIDE_TOKENS.get(b, 0) for b in tiny_reference["seqs"][row.chrom][row.start:row.end]]
        assert seq[i].tolist() == expect
    assert tokenize("ACGTNacgtx").tolist() == [1, 2, 3, 4, 0, 1, 2, 3, 4, 0]


def test_duplicated_gene_ids(tiny_genome):
    genes = write(tiny_genome["dir"] / "dup.bed", "chr1\t100\t200\tGA\t0\t+\nchr1\t300\t400\tGB\t0\t+\n"
                                                  "chr2\t100\t200\tGA\t0\t-\n")
    with pytest.raises(InputError, match=r"dup.bed:3: gene id GA is duplicated \(lines 1, 3\)"):
        build_reference(ccres_path=tiny_genome["bed"], genes_path=genes, genes_format="bed",
                        chrom_sizes_path=tiny_genome["sizes_path"], out_dir=tiny_genome["dir"] / "r",
                        element_bp=200, window_bp=1000)


def test_unsorted_input_policy(tiny_genome):
    kw = dict(ccres_path=tiny_genome["bed"], genes_path=tiny_genome["genes"], genes_format="bed",
              chrom_sizes_path=tiny_genome["sizes_path"], out_dir=tiny_genome["dir"] / "r", element_bp=200,
              window_bp=1000)
    with pytest.raises(InputError, match=r"ccres.bed:6: cCRE BED is not sorted: chr2:6000 comes after chr1:15000"):
        build_reference(sort_input=False, **kw)


def test_fasta_chromosome_names_must_match(tiny_genome):
    fa = write(tiny_genome["dir"] / "other.fa", ">1\n" + "A" * 20000 + "\n>2\n" + "C" * 12000 + "\n")
    with pytest.raises(InputError, match="chromosome 'chr1' is not in the FASTA.*names it '1'"):
        build_reference(ccres_path=tiny_genome["bed"], genes_path=tiny_genome["genes"], genes_format="bed",
                        chrom_sizes_path=tiny_genome["sizes_path"], out_dir=tiny_genome["dir"] / "r",
                        element_bp=200, window_bp=1000, fasta_path=fa)


def test_demo_reference_golden(demo_reference):
    ccres = pd.read_parquet(demo_reference / "ccres.parquet")
    genes = pd.read_parquet(demo_reference / "genes.parquet")
    w = np.load(demo_reference / "windows.npz")
    # Golden numbers, from the input files alone (cd resources/demo/k562_chr22):
    # 17,731 = 17,732 candidates (wc -l candidate_regions.chr22.bed) minus the one in the blacklist
    #   (bedtools intersect -u -a candidate_regions.chr22.bed -b GRCh38_unified_blacklist.bed | wc -l)
    # 517 = grep -vc '^#' refseq_genes.chr22.bed
    # 953 = the median over the 517 genes of the number of kept candidates whose midpoint
    #   ((start + end) // 2) lies within 1 Mb of the TSS (start on +, end - 1 on -): numpy searchsorted
    #   over the sorted midpoints of `bedtools intersect -v ...` (../shared/DESIGN.md, section 3:
    #   "about 900 cCREs per gene" on chr22)
    assert len(ccres) == 17731
    assert len(genes) == 517
    sizes = w["hi"] - w["lo"]
    assert int(np.median(sizes)) == 953
    assert (np.diff(ccres["start"].to_numpy()) >= 0).all()
    # each cCRE falls in about 26 gene windows
    per_ccre = np.zeros(len(ccres), int)
    for lo, hi in zip(w["lo"], w["hi"]):
        per_ccre[lo:hi] += 1
    assert 20 <= per_ccre.mean() <= 35


def test_gzip_fasta_is_read(tiny_genome):
    import gzip

    gz = tiny_genome["dir"] / "genome.fa.gz"
    gz.write_bytes(gzip.compress(tiny_genome["fasta"].read_bytes()))
    kw = dict(ccres_path=tiny_genome["bed"], genes_path=tiny_genome["genes"], genes_format="bed",
              chrom_sizes_path=tiny_genome["sizes_path"], element_bp=200, window_bp=6000)
    build_reference(out_dir=tiny_genome["dir"] / "a", fasta_path=tiny_genome["fasta"], **kw)
    build_reference(out_dir=tiny_genome["dir"] / "b", fasta_path=gz, **kw)
    a, b = (np.load(tiny_genome["dir"] / d / "sequence.npy") for d in ("a", "b"))
    assert a.any() and np.array_equal(a, b)
