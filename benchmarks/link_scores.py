"""Link-score candidates side by side, with 95% bootstrap intervals (the README's table).

Reads a links stage output (``links.tsv.gz``: attention, isp_delta, dnase, h3k27ac, distance) and
scores every candidate of :mod:`creator.linkscore` plus the distance baseline and any peer file
against a CRISPRi benchmark (EPCrisprBenchmark format) or the synthetic planted truth, on the same
pairs and the same bootstrap resamples (paired differences against the ABC-like score).

    python benchmarks/link_scores.py --links results/links/creator_demo/K562/links.tsv.gz \\
        --benchmark resources/demo/crispr/EPCrisprBenchmark_training_K562.chr16.GRCh38.tsv.gz --cell K562 \\
        --peer ABC=resources/demo/k562_chr16/abc_predictions.chr16.threshold0.02.tsv.gz:ABC.Score
    python benchmarks/link_scores.py --links results/synthetic/links/creator_synthetic/cellD/links.tsv.gz \\
        --truth-links resources/synthetic/truth/links.tsv --cell cellD

Prints one line per score: AUPRC [95% interval], AUROC, precision at 70% recall, and AUPRC minus the
ABC-like score's [95% interval] with the fraction of resamples where it is not above; ``--tsv``
writes the same table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from creator import evaluate as ev  # noqa: E402
from creator import linkscore  # noqa: E402


def table(links_path, truth: ev.Benchmark, *, cell: str, peers=(), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    genes = set(truth.pairs["gene_symbol"]) | {g for g in truth.pairs["gene_ensembl"] if g}
    links = ev.read_links(links_path, genes=genes)
    cols = dict(distance=links["distance"].to_numpy(float), gene=links["gene_id"].to_numpy(dtype=object))
    if "dnase" in links and "h3k27ac" in links:
        cols["activity"] = linkscore.activity(links["dnase"], links["h3k27ac"])
    for c in ("attention", "isp_delta"):
        if c in links:
            cols[c] = links[c].to_numpy(float)
    names = []
    for name, fn in linkscore.candidates(cols).items():
        links[name] = fn()
        names.append(name)
    links["distance_baseline"] = -np.abs(links["distance"].to_numpy(float))
    names.append("distance_baseline")
    pairs = ev.join_pairs(truth, links, names)
    pairs, left = ev.restrict_to_run(pairs, links.attrs["chroms"])
    names += ev.add_peer_scores(pairs, truth, peers, genes=genes, cell_type=cell, taken=names)
    _, res, _ = ev.score_pairs(pairs, names, name=truth.name, cell_type=cell, n_boot=n_boot, seed=seed,
                               baselines=("abc_like",))
    m = res[ev.ALL]
    rows = []
    for name in names:
        e = m["methods"][name]
        d = e.get("auprc_minus", {}).get("abc_like", {})
        rows.append(dict(score=name, auprc=e["auprc"], auprc_lo=e.get("auprc_ci95", [np.nan])[0],
                         auprc_hi=e.get("auprc_ci95", [np.nan, np.nan])[1], auroc=e["auroc"],
                         p_at_70=e["precision_at_70pct_recall"], minus_abc=d.get("value", np.nan),
                         minus_abc_lo=d.get("ci95", [np.nan])[0], minus_abc_hi=d.get("ci95", [np.nan, np.nan])[1],
                         p_not_above_abc=d.get("p_le_0", np.nan)))
    out = pd.DataFrame(rows)
    out.attrs.update(n_pairs=m["n_pairs"], n_positive=m["n_positive"], left_out=left)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--links", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--benchmark")
    g.add_argument("--truth-links")
    ap.add_argument("--cell", required=True)
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=PATH:COLUMN")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tsv")
    a = ap.parse_args(argv)
    truth = (ev.read_benchmark(a.benchmark, cell_type=a.cell) if a.benchmark else ev.read_truth_links(a.truth_links))
    t = table(a.links, truth, cell=a.cell, peers=[ev.parse_peer(p) for p in a.peer], n_boot=a.n_boot, seed=a.seed)
    print(f"{a.links}: {t.attrs['n_pairs']} pairs, {t.attrs['n_positive']} positive; left out {t.attrs['left_out']}")
    print(f"{'score':34s} {'AUPRC [95% CI]':>22s} {'AUROC':>6s} {'P@70':>5s}  {'minus ABC-like [95% CI]':>26s} {'p<=0':>5s}")
    for r in t.itertuples():
        print(f"{r.score:34s} {r.auprc:6.3f} [{r.auprc_lo:.3f}-{r.auprc_hi:.3f}] {r.auroc:6.3f} {r.p_at_70:5.3f}  "
              f"{r.minus_abc:+7.3f} [{r.minus_abc_lo:+.3f} {r.minus_abc_hi:+.3f}] {r.p_not_above_abc:5.3f}")
    if a.tsv:
        t.to_csv(a.tsv, sep="\t", index=False, float_format="%.4f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
