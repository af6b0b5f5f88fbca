import numpy as np
import pytest

from creator.errors import InputError
from creator.io import (chrom_sort_key, read_bed, read_chrom_sizes, read_expression, read_genes_gtf,
                        strip_version)

from conftest import write

SIZES = {"chr1": 10_000, "chr2": 5_000}


@pytest.mark.parametrize("text,line,pattern", [
    ("chr1\t10\t20\nchr1\t30\n", 2, "2 field"),
    ("chr1\t10\t20\nchr1\tx\t40\n", 2, "not integers"),
    ("chr1\t50\t40\n", 1, "bad interval"),
    ("chr1\t9990\t10010\n", 1, "past the chromosome end"),
    ("# header\nchr1\t10\t20\n1\t30\t40\n", 3, "chromosome '1' is not in the chrom.sizes"),
])
def test_malformed_bed_names_file_and_line(tmp_path, text, line, pattern):
    path = write(tmp_path / "x.bed", text)
    with pytest.raises(InputError, match=pattern) as e:
        read_bed(path, chrom_sizes=SIZES)
    assert f"x.bed:{line}:" in str(e.value)


def test_chr_naming_mismatch_offers_the_fix(tmp_path):
    path = write(tmp_path / "x.bed", "1\t10\t20\n")
    with pytest.raises(InputError) as e:
        read_bed(path, chrom_sizes=SIZES)
    assert "names it 'chr1'" in str(e.value) and "Fix:" in str(e.value)


def test_unsorted_bed(tmp_path):
    path = write(tmp_path / "x.bed", "chr1\t100\t200\nchr1\t50\t60\n")
    with pytest.raises(InputError, match=r"x.bed:2: .*not sorted.*sort -k1,1 -k2,2n") as e:
        read_bed(path, require_sorted=True)
    assert "reference.sort_input" in str(e.value)
    # chromosome blocks split apart are unsorted too
    path = write(tmp_path / "y.bed", "chr1\t1\t2\nchr2\t1\t2\nchr1\t5\t6\n")
    with pytest.raises(InputError, match="y.bed:3"):
        read_bed(path, require_sorted=True)
    df = read_bed(path)  # without the requirement it reads
    assert df["line"].tolist() == [1, 2, 3]


def test_encode_ccre_bed_columns(tmp_path):
    path = write(tmp_path / "c.bed", "chr1\t10\t20\tEH38D1\tEH38E1\tpELS,CTCF-bound\nchr1\t30\t40\n")
    df = read_bed(path)
    assert df["name"].tolist() == ["EH38D1", "chr1:30-40"]
    assert df["class"].tolist() == ["pELS,CTCF-bound", "."]


def test_chrom_order_is_natural():
    names = ["chrX", "chr10", "chr2", "chrM", "chr1", "chrS10", "chrS2", "chrY"]
    assert sorted(names, key=chrom_sort_key) == ["chr1", "chr2", "chr10", "chrX", "chrY", "chrM", "chrS2", "chrS10"]


def test_chrom_sizes_errors(tmp_path):
    with pytest.raises(InputError, match="c.sizes:2"):
        read_chrom_sizes(write(tmp_path / "c.sizes", "chr1\t100\nchr2\tabc\n"))


GTF = ('chr1\tHAVANA\tgene\t101\t200\t.\t+\t.\tgene_id "ENSG0001.3"; gene_type "protein_coding"; gene_name "AAA";\n'
       'chr1\tHAVANA\ttranscript\t101\t150\t.\t+\t.\tgene_id "ENSG0001.3"; transcript_id "T1"; gene_name "AAA";\n'
       'chr1\tHAVANA\tgene\t301\t400\t.\t-\t.\tgene_id "ENSG0002.1"; gene_type "lncRNA"; gene_name "BBB";\n')


def test_gtf_genes(tmp_path):
    df = read_genes_gtf(write(tmp_path / "g.gtf", GTF))
    assert df["gene_id"].tolist() == ["ENSG0001", "ENSG0002"]
    assert df["start"].tolist() == [100, 300] and df["end"].tolist() == [200, 400]
    assert df["strand"].tolist() == ["+", "-"]
    assert df["gene_type"].tolist() == ["protein_coding", "lncRNA"]
    dup = GTF + GTF.splitlines(keepends=True)[0]
    with pytest.raises(InputError, match=r"g2.gtf:4: gene_id ENSG0001.3 is duplicated \(first on line 1\)"):
        read_genes_gtf(write(tmp_path / "g2.gtf", dup))


def test_expression_formats(tmp_path):
    a = read_expression(write(tmp_path / "a.tsv", "GENE1\t1.5\nGENE2\t0\n"))
    assert a["symbol"].tolist() == ["GENE1", "GENE2"] and a["gene_id"].isna().all()
    b = read_expression(write(tmp_path / "b.tsv", "gene_id\ttranscript_id(s)\tlength\tTPM\n"
                                                   "ENSG0001.5\tT1\t100\t3.0\nENSG0002.1\tT2\t100\t0.5\n"))
    assert b["gene_id"].tolist() == ["ENSG0001", "ENSG0002"]
    assert np.allclose(b["tpm"], [3.0, 0.5])
    with pytest.raises(InputError, match=r"c.tsv:3: TPM 'abc'"):
        read_expression(write(tmp_path / "c.tsv", "symbol\tTPM\nA\t1\nB\tabc\n"))


def test_strip_version():
    assert strip_version("ENSG00000123.4") == "ENSG00000123"
    assert strip_version("ENSG00000123.4_PAR_Y") == "ENSG00000123_PAR_Y"
    assert strip_version("MYC") == "MYC"


def test_read_table_strips_a_hash_header(tmp_path):
    import gzip

    import pandas as pd

    from creator.io import read_table, table_header

    plain = write(tmp_path / "plain.tsv", "chr\tstart\tname\nchr1\t5\ta\nchr2\t7\tb\n")
    with gzip.open(tmp_path / "hashed.tsv.gz", "wt") as fh:
        fh.write("#chr\tstart\tname\nchr1\t5\ta\nchr2\t7\tb\n")
    hashed = tmp_path / "hashed.tsv.gz"
    assert table_header(plain) == table_header(hashed) == ["chr", "start", "name"]
    pd.testing.assert_frame_equal(read_table(plain), read_table(hashed))
    assert read_table(hashed, usecols=["chr", "start"])["start"].tolist() == [5, 7]
    with read_table(hashed, chunksize=1) as chunks:
        assert [len(c) for c in chunks] == [1, 1]
    assert table_header(write(tmp_path / "empty.tsv", "")) == []


def test_write_bigwig_leaves_out_nan(tmp_path):
    import pandas as pd
    import pyBigWig

    from creator.io import write_bigwig

    track = pd.DataFrame({"chrom": ["chrA"] * 3 + ["chrB"] * 2, "start": [0, 10, 20, 0, 10],
                          "end": [10, 20, 25, 10, 20], "value": [1.0, np.nan, 3.0, np.nan, -2.5]})
    assert write_bigwig(tmp_path / "t.bw", [("chrA", 25), ("chrB", 30), ("chrC", 7)], track) == 3
    with pyBigWig.open(str(tmp_path / "t.bw")) as bw:
        assert bw.chroms() == {"chrA": 25, "chrB": 30, "chrC": 7}
        assert bw.intervals("chrA") == ((0, 10, 1.0), (20, 25, 3.0))
        assert bw.intervals("chrB") == ((10, 20, -2.5),)
        assert np.isnan(bw.values("chrA", 10, 20, numpy=True)).all()     # no entry: no data
    with pytest.raises(ValueError, match="chromosome 'chrB', not in its header"):
        write_bigwig(tmp_path / "u.bw", [("chrA", 25)], track)
    assert not (tmp_path / "u.bw").exists()
