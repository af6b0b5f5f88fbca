"""creator summary-table: the README's tables rendered from a run's eval/summary.tsv."""

from __future__ import annotations

import pandas as pd

from creator import evaluate as ev
from creator.evaluate.common import _row
from creator.cli import main
from creator.summary_table import render


def _summary(tmp_path):
    r = _row
    rows = [r("cellD", "m", "spearman_all", 0.75, 300), r("cellD", "m", "pearson_all", 0.7, 300),
            r("cellD", "m/baseline_promoter_dnase", "spearman_all", 0.43, 300),
            r("cellD", "m/baseline_promoter_dnase", "pearson_all", 0.4, 300),
            r("cellD", "pairs", "planted_n_positive", 703, 42897), r("cellD", "pairs", "planted_prevalence", 0.0164, 42897),
            r("cellD", "m/Score", "planted_auprc", 0.177, 42897), r("cellD", "m/Score", "planted_auroc", 0.888, 42897),
            r("cellD", "m/Score", "planted_auprc_ci95_low", 0.16, 42897),
            r("cellD", "m/Score", "planted_auprc_ci95_high", 0.19, 42897),
            r("cellD", "m/Score", "planted_auprc_minus_baseline_abc", 0.053, 42897),
            r("cellD", "m/Score", "planted_auprc_minus_baseline_abc_ci95_low", 0.037, 42897),
            r("cellD", "m/Score", "planted_auprc_minus_baseline_abc_ci95_high", 0.069, 42897),
            r("cellD", "m/Score", "planted_auprc", 0.2, 5, distance_bin="0-10kb"),
            r("cellD", "m/baseline_abc", "planted_auprc", 0.124, 42897),
            r("cellD", "m/baseline_abc", "planted_auroc", 0.856, 42897),
            r("cellD", "m", "n_boundaries", 110, 110), r("cellD", "m", "planted_boundary_recall", 1.0, 21),
            r("cellD", "m", "planted_boundary_precision", 0.19, 110),
            r("cellD", "m", "planted_boundary_enrichment", 4.66, 110),
            r("cellD", "m/baseline_ctcf_peaks", "planted_n_boundaries", 110, 110),
            r("cellD", "m/baseline_ctcf_peaks", "planted_boundary_recall", 1.0, 21),
            r("cellD", "m/baseline_ctcf_peaks", "planted_boundary_precision", 0.2, 110),
            r("cellD", "m/baseline_ctcf_peaks", "planted_boundary_enrichment", 4.9, 110),
            r("cellE", "m", "n_boundaries", 90, 90)]
    path = tmp_path / "summary.tsv"
    ev.write_summary(rows, path)
    return path


def test_tables_from_the_summary(tmp_path, capsys):
    path = _summary(tmp_path)
    text = render(path)
    lines = text.splitlines()
    assert "| **m** | 0.750 (0.700), n 300 |" in lines
    assert "| baseline_promoter_dnase | 0.430 (0.400), n 300 |" in lines
    assert "Links, cellD against planted truth: 42,897 pairs, 703 positive (prevalence 0.016)" in lines
    # best first; the distance bins stay out of the 'all' table
    score = lines.index("| Score | 0.177 [0.160, 0.190] | 0.888 | +0.053 [+0.037, +0.069] |")
    assert score < lines.index("| baseline_abc | 0.124 | 0.856 |  |")
    assert "| planted | **m** | 110 | 1.00 | 0.19 | 4.66x |" in lines
    assert "| planted | baseline_ctcf_peaks | 110 | 1.00 | 0.20 | 4.90x |" in lines
    assert "Boundaries, cellE: 90 called (no Hi-C or planted boundaries to score them against)" in lines
    # the command line prints the same, or writes it
    assert main(["summary-table", "--summary", str(path)]) == 0
    assert capsys.readouterr().out == text
    assert main(["summary-table", "--summary", str(path), "--out", str(tmp_path / "t.md")]) == 0
    assert (tmp_path / "t.md").read_text() == text
    assert render(pd.read_csv(path, sep="\t")) == text
