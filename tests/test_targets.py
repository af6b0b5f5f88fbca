import numpy as np
import pandas as pd
import pytest

from creator.errors import InputError
from creator.targets import make_targets

from conftest import DEMO, write


@pytest.fixture
def genes(tmp_path):
    df = pd.DataFrame({"gene_id": ["GA", "GB", "GC", "GD"], "symbol": ["GA", "GB", "GC", "GD"],
                       "ensembl_id": ["ENSG1", "ENSG2", "ENSG2", None]})
    path = tmp_path / "genes.parquet"
    df.to_parquet(path)
    return path


def test_match_by_id_then_symbol(genes, tmp_path):
    expr = write(tmp_path / "e.tsv", "gene_id\tgene_name\tTPM\nENSG1.2\tXX\t3.0\nENSG2.1\tGB\t7.0\n"
                                      "ENSG9.1\tGC\t1.0\nENSG8.1\tGC\t2.0\n")
    out = tmp_path / "t.parquet"
    s = make_targets(genes_path=genes, expression_path=expr, out=out, min_matched_fraction=0.5)
    t = pd.read_parquet(out)
    # GA by Ensembl id; ENSG2 is shared by GB and GC (ambiguous) so both fall back to the symbol
    # (GB -> 7; GC is on two rows, summed -> 3); GD is unmatched
    assert t["matched_by"].tolist() == ["gene_id", "symbol", "symbol", "none"]
    np.testing.assert_allclose(t["tpm"].iloc[:3], [3.0, 7.0, 3.0])
    assert np.isnan(t["tpm"].iloc[3])
    np.testing.assert_allclose(t["log1p_tpm"].iloc[:3], np.log1p([3.0, 7.0, 3.0]))
    assert s["unmatched"] == 1 and s["matched_by_gene_id"] == 1


def test_too_few_matches_is_an_error(genes, tmp_path):
    expr = write(tmp_path / "e.tsv", "OTHER1\t1\nGA\t2\n")
    with pytest.raises(InputError, match=r"e.tsv: only 1 of 4 genes \(25%\)"):
        make_targets(genes_path=genes, expression_path=expr, out=tmp_path / "t.parquet", min_matched_fraction=0.5)
    assert not (tmp_path / "t.parquet").exists()


def test_demo_targets_golden(demo_reference, tmp_path):
    out = tmp_path / "k562.parquet"
    s = make_targets(genes_path=demo_reference / "genes.parquet",
                     expression_path=DEMO / "K562_rnaseq_ENCFF934YBO.tpm.tsv", out=out)
    # 462 = the genes of refseq_genes.chr22.bed whose symbol (column 4) is in the TPM table (the BED's
    # Ensembl ids add none): cd resources/demo/k562_chr22; awk 'NR==FNR{s[$1]=1;next} !/^#/ && ($4 in s)'
    #   K562_rnaseq_ENCFF934YBO.tpm.tsv refseq_genes.chr22.bed | wc -l   (517: grep -vc '^#' on the BED)
    assert s["matched"] == 462 and s["n_genes"] == 517
    t = pd.read_parquet(out)
    assert t.set_index("symbol").loc["MAPK1", "tpm"] > 10  # a highly expressed K562 gene
