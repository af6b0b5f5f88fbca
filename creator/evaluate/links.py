"""Link scores against CRISPRi or planted truth: joins, baselines, AUPRC/AUROC with intervals. (Part of
:mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from creator import linkscore, ranking
from creator.errors import InputError
from creator.formats import evaluate_outputs
from creator.io import chrom_sort_key, read_table, write_json, write_tsv

from .common import (ABC_GAMMA, ABC_PSEUDO_BP, ALL, BASELINES, DISTANCE_BINS, LINK_SCORES, SCORE_SIGN, _row,
                     average_precision, distance_bins, precision_recall_curve, write_summary)
from .truth import Benchmark, Peer, read_links, read_peer

log = logging.getLogger("creator.evaluate")


def add_baselines(links: pd.DataFrame, *, gamma: float = ABC_GAMMA, pseudo_bp: float = ABC_PSEUDO_BP) -> list[str]:
    """Add ``baseline_distance`` (``-|distance|``) and, with ``dnase`` and ``h3k27ac``,
    ``baseline_abc`` (:func:`creator.linkscore.abc_like`: ``sqrt(dnase * h3k27ac) * (|d| +
    pseudo_bp) ** -gamma`` over its per-gene sum) to ``links`` in place; returns the columns added."""
    links["baseline_distance"] = -np.abs(links["distance"].to_numpy(float))
    added = ["baseline_distance"]
    if "dnase" in links and "h3k27ac" in links:
        act = linkscore.activity(links["dnase"], links["h3k27ac"])
        links["baseline_abc"] = linkscore.abc_like(act, links["distance"], links["gene_id"].to_numpy(),
                                                   gamma=gamma, pseudo_bp=pseudo_bp)
        added.append("baseline_abc")
    else:
        log.warning("link table has no dnase/h3k27ac columns: no ABC-like baseline")
    return added


def score_methods(links: pd.DataFrame) -> list[str]:
    """The link-table score columns present with at least one finite value, then the baselines."""
    out = []
    for c in (*LINK_SCORES, *BASELINES):
        if c in links and np.isfinite(links[c].to_numpy(float)).any():
            out.append(c)
        elif c in links:
            log.warning("score column %s is all NaN: not evaluated", c)
    return out


def join_pairs(bench: Benchmark, links: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """One row per benchmark pair with the maximum of each method (oriented by :data:`SCORE_SIGN`)
    over the cCREs of the gene's window that overlap the element; ``scored`` False (and every score
    -inf) when there is none.

    Adds ``reason`` ('' scored, 'gene not in links', 'no overlapping cCRE'), ``n_ccres``,
    ``ccres`` (names), ``distance`` (filled from the nearest overlapping row when the benchmark has
    none) and ``distance_bin``."""
    pairs = bench.pairs.copy()
    by_ens: dict[str, set] = {}
    by_sym: dict[str, set] = {}
    gid = links["gene_id"].to_numpy(dtype=object)
    for g, e, s in zip(gid, links["ensembl"].to_numpy(dtype=object), links["symbol"].to_numpy(dtype=object)):
        if e is not None and e == e:
            by_ens.setdefault(e, set()).add(g)
        by_sym.setdefault(s, set()).add(g)
    # per gene: arrays sorted by (chrom, start)
    links = links.sort_values(["gene_id", "chrom", "start"], kind="stable").reset_index(drop=True)
    scores = np.column_stack([np.nan_to_num(SCORE_SIGN.get(m, 1.0) * links[m].to_numpy(float), nan=-np.inf)
                              for m in methods]) if methods else np.empty((len(links), 0))
    starts = links["start"].to_numpy(np.int64)
    ends = links["end"].to_numpy(np.int64)
    chroms = links["chrom"].to_numpy(dtype=object)
    dist = np.abs(links["distance"].to_numpy(float))
    names = links["name"].to_numpy(dtype=object)
    gkeys = links["gene_id"].to_numpy(dtype=object)
    bounds = {}
    if len(links):
        cut = np.r_[0, np.flatnonzero(gkeys[1:] != gkeys[:-1]) + 1, len(links)]
        bounds = {gkeys[a]: (a, b) for a, b in zip(cut[:-1], cut[1:])}
    max_len = int((ends - starts).max()) if len(links) else 0

    n = len(pairs)
    out_scores = np.full((n, len(methods)), -np.inf)
    scored = np.zeros(n, bool)
    reason = np.full(n, "", dtype=object)
    n_ccres = np.zeros(n, np.int64)
    ccre_names = np.full(n, "", dtype=object)
    near = np.full(n, np.nan)
    p_chrom = pairs["chrom"].to_numpy(dtype=object)
    p_start = pairs["start"].to_numpy(np.int64)
    p_end = pairs["end"].to_numpy(np.int64)
    p_ens = pairs["gene_ensembl"].to_numpy(dtype=object)
    p_sym = pairs["gene_symbol"].to_numpy(dtype=object)
    for k in range(n):
        genes = None
        e = p_ens[k]
        if e is not None and e == e and e in by_ens:
            genes = by_ens[e]
        elif p_sym[k] in by_sym:
            genes = by_sym[p_sym[k]]
        if not genes:
            reason[k] = "gene not in links"
            continue
        hits = []
        for g in genes:
            a, b = bounds[g]
            # rows of gene g on this chromosome, sorted by start: candidates start in (s - max_len, e)
            seg_ch = chroms[a:b]
            on = np.flatnonzero(seg_ch == p_chrom[k])
            if not len(on):
                continue
            lo_i, hi_i = a + on[0], a + on[-1] + 1
            st = starts[lo_i:hi_i]
            i0 = lo_i + np.searchsorted(st, p_start[k] - max_len, side="right")
            i1 = lo_i + np.searchsorted(st, p_end[k], side="left")
            cand = np.arange(i0, i1)
            cand = cand[ends[cand] > p_start[k]]
            if len(cand):
                hits.append(cand)
        if not hits:
            reason[k] = "no overlapping cCRE"
            continue
        rows = np.concatenate(hits)
        scored[k] = True
        n_ccres[k] = len(rows)
        ccre_names[k] = ",".join(dict.fromkeys(str(x) for x in names[rows]))
        if len(methods):
            out_scores[k] = scores[rows].max(axis=0)
        near[k] = np.nanmin(dist[rows]) if np.isfinite(dist[rows]).any() else np.nan
    for j, m in enumerate(methods):
        pairs[m] = out_scores[:, j]
    pairs["scored"] = scored
    pairs["reason"] = reason
    pairs["n_ccres"] = n_ccres
    pairs["ccres"] = ccre_names
    d = pairs["distance"].to_numpy(float)
    pairs["distance"] = np.where(np.isfinite(d), d, near)
    pairs["distance_bin"] = distance_bins(pairs["distance"].to_numpy(float))
    return pairs


def _links_coverage(links) -> tuple[set, set]:
    """Chromosomes and gene symbols of a link table (path: streamed in chunks; or a frame)."""
    if isinstance(links, pd.DataFrame):
        return set(links["chrom"].astype(str)), set(links["symbol"].astype(str))
    chroms, genes = set(), set()
    with read_table(links, usecols=["chr", "TargetGene"], dtype=str, chunksize=1_000_000) as reader:
        for chunk in reader:
            chroms |= set(chunk["chr"])
            genes |= set(chunk["TargetGene"])
    return chroms, genes


def _coverage_message(bench: Benchmark, links) -> str:
    def few(values, k=8):
        values = sorted(set(map(str, values)), key=chrom_sort_key)
        return ", ".join(values[:k]) + (f", ... ({len(values)} in all)" if len(values) > k else "")

    lc, lg = _links_coverage(links)
    bg = set(bench.pairs["gene_symbol"].astype(str))
    return (f"the links cover chromosome(s) {few(lc) or 'none'} and {len(lg)} gene(s) "
            f"({few(lg, 5) or 'none'}); the benchmark has chromosome(s) {few(bench.pairs['chrom'])} and "
            f"{len(bg)} gene(s) ({few(bg, 5)}); {len(lg & bg)} gene(s) in common")


def _ci_rows(cell_type, method, metric, values, n, label, *, level: float = 0.95) -> list[dict]:
    ci = ranking.Interval.of(values, level)
    pct = int(round(level * 100))
    return [_row(cell_type, method, f"{metric}_ci{pct}_low", ci.low, n, label),
            _row(cell_type, method, f"{metric}_ci{pct}_high", ci.high, n, label)]


def score_pairs(pairs: pd.DataFrame, methods: list[str], *, name: str, cell_type: str,
                method_prefix: str | None = None, recall: float = 0.7, n_boot: int = 1000, seed: int = 0,
                baselines: Iterable[str] = BASELINES, labels: Mapping[str, str] | None = None
                ) -> tuple[list[dict], dict, dict]:
    """Summary rows, a JSON-ready dict and PR curves (``{bin: {method: (recall, precision, auprc,
    ci_low, ci_high)}}``) for joined ``pairs`` (:func:`join_pairs`), overall and per distance bin.

    With ``n_boot`` > 0, every metric gets a 95% percentile bootstrap interval (pairs resampled
    with replacement, seeded, the same resamples for every method: :func:`creator.ranking.bootstrap`)
    and every method that is not a baseline gets the paired interval of its AUPRC minus each
    baseline's (``<name>_auprc_minus_<baseline>`` with ``_ci95_low``/``_ci95_high`` and
    ``_p_le_0``, the fraction of resamples where it does not beat the baseline). ``labels`` maps a
    method column to its summary name (default ``<method_prefix>/<method>``)."""
    rows, res, curves = [], {}, {}
    pct = int(round(recall * 100))
    labels_of = dict(labels or {})
    y_all = pairs["positive"].to_numpy(bool)
    bins = pairs["distance_bin"].to_numpy(dtype=object)
    n_ns = int((~pairs["scored"]).sum())
    rows.append(_row(cell_type, "pairs", f"{name}_n_not_scored", n_ns, len(pairs)))
    base = [b for b in baselines if b in methods]
    for k_bin, label in enumerate((ALL, *[b[0] for b in DISTANCE_BINS])):
        m = np.ones(len(pairs), bool) if label == ALL else bins == label
        y = y_all[m]
        n, npos = int(m.sum()), int(y.sum())
        entry = dict(n_pairs=n, n_positive=npos, n_not_scored=int((~pairs["scored"].to_numpy()[m]).sum()),
                     prevalence=npos / n if n else float("nan"), methods={})
        rows += [_row(cell_type, "pairs", f"{name}_n_positive", npos, n, label),
                 _row(cell_type, "pairs", f"{name}_prevalence", entry["prevalence"], n, label)]
        curves[label] = dict(n=n, n_positive=npos, prevalence=entry["prevalence"], methods={})
        scores = {meth: pairs[meth].to_numpy(float)[m] for meth in methods}
        boot = (ranking.bootstrap(y, scores, n_boot=n_boot, seed=seed + k_bin, recall=recall)
                if n_boot and npos else {})
        for meth in methods:
            full = labels_of.get(meth) or (f"{method_prefix}/{meth}" if method_prefix else meth)
            pm = ranking.point_metrics(y, scores[meth], recall)
            values = {f"{name}_auprc": pm["auprc"], f"{name}_auroc": pm["auroc"],
                      f"{name}_precision_at_{pct}pct_recall": pm["precision_at_recall"]}
            e = dict(auprc=pm["auprc"], auroc=pm["auroc"], **{f"precision_at_{pct}pct_recall": pm["precision_at_recall"]},
                     **{f"threshold_at_{pct}pct_recall": pm["threshold_at_recall"]})
            ci = (float("nan"), float("nan"))
            for (metric, v), key in zip(values.items(), ranking.METRICS):
                rows.append(_row(cell_type, full, metric, v, n, label))
                if boot:
                    rows += _ci_rows(cell_type, full, metric, boot[meth][key], n, label)
                    iv = ranking.Interval.of(boot[meth][key])
                    e[f"{key}_ci95"] = [iv.low, iv.high]
                    if key == "auprc":
                        ci = (iv.low, iv.high)
            if boot and meth not in base:
                e["auprc_minus"] = {}
                for b in base:
                    diff = boot[meth]["auprc"] - boot[b]["auprc"]
                    metric = f"{name}_auprc_minus_{b}"
                    point = pm["auprc"] - average_precision(y, scores[b])
                    ok = np.isfinite(diff)
                    p_le = float((diff[ok] <= 0).mean()) if ok.any() else float("nan")
                    rows.append(_row(cell_type, full, metric, point, n, label))
                    rows += _ci_rows(cell_type, full, metric, diff, n, label)
                    rows.append(_row(cell_type, full, f"{metric}_p_le_0", p_le, n, label))
                    iv = ranking.Interval.of(diff)
                    e["auprc_minus"][b] = dict(value=point, ci95=[iv.low, iv.high], p_le_0=p_le)
            entry["methods"][meth] = e
            if npos:
                prec, rec, _ = precision_recall_curve(y, scores[meth])
                curves[label]["methods"][labels_of.get(meth, meth)] = (rec, prec, pm["auprc"], *ci)
        res[label] = entry
    return rows, res, curves


def add_peer_scores(pairs: pd.DataFrame, truth: Benchmark, peers: Iterable[Peer], *, genes: Iterable[str],
                    cell_type: str | None, taken: Iterable[str] = ()) -> list[str]:
    """Add each peer's score (:func:`read_peer`, the maximum over its rows of the pair's gene that
    overlap the element; ``-inf`` = not predicted, ranked last) to joined ``pairs`` in place, as a
    column named after the peer; returns those columns."""
    cols = []
    for peer in peers:
        if peer.name in pairs.columns or peer.name in set(taken):
            raise InputError(f"peer name {peer.name!r} clashes with a column of the evaluation",
                             fix="give the peer another name")
        ptable = read_peer(peer, genes=genes, cell_type=cell_type)
        joined = join_pairs(Benchmark(pairs[list(truth.pairs.columns)], truth.source, truth.name, len(pairs)),
                            ptable, [peer.name])
        pairs[peer.name] = joined[peer.name].to_numpy(float)
        log.info("peer %s (%s, column %s): %d of %d pairs predicted (the rest ranked last)", peer.name, peer.path,
                 peer.column, int(np.isfinite(pairs[peer.name]).sum()), len(pairs))
        cols.append(peer.name)
    return cols


def links_table(entry: dict, labels: Mapping[str, str]) -> pd.DataFrame:
    """The report's table of one distance bin of :func:`score_pairs`' result: one row per method,
    best AUPRC first, with its interval and its paired difference to each baseline."""
    rows = []
    for meth, e in entry["methods"].items():
        r = dict(method=labels.get(meth, meth), auprc=e["auprc"], auprc_ci95_low=e.get("auprc_ci95", [np.nan])[0],
                 auprc_ci95_high=e.get("auprc_ci95", [np.nan, np.nan])[1], auroc=e["auroc"],
                 auroc_ci95_low=e.get("auroc_ci95", [np.nan])[0], auroc_ci95_high=e.get("auroc_ci95", [np.nan, np.nan])[1],
                 precision_at_70pct_recall=e.get("precision_at_70pct_recall", np.nan))
        for b, d in e.get("auprc_minus", {}).items():
            r[f"auprc_minus_{b}"] = d["value"]
            r[f"auprc_minus_{b}_ci95_low"], r[f"auprc_minus_{b}_ci95_high"] = d["ci95"]
        rows.append(r)
    df = pd.DataFrame(rows)
    df.insert(1, "n_pairs", entry["n_pairs"])
    df.insert(2, "n_positive", entry["n_positive"])
    return df.sort_values("auprc", ascending=False, kind="stable").reset_index(drop=True)


def restrict_to_run(pairs: pd.DataFrame, chroms: Iterable[str]) -> tuple[pd.DataFrame, dict]:
    """Joined pairs (:func:`join_pairs`) restricted to what the run predicted: pairs on a chromosome
    the link table does not cover, or of a gene it does not have, are left out (they say nothing
    about the run). A pair of a predicted gene with no overlapping cCRE stays (ranked last), as in
    the ENCODE-rE2G benchmark. Returns the kept pairs and ``{reason: count}`` of those left out."""
    chroms = set(map(str, chroms))
    off_chrom = ~pairs["chrom"].astype(str).isin(chroms).to_numpy()
    no_gene = (pairs["reason"].to_numpy(dtype=object) == "gene not in links") & ~off_chrom
    left = {"chromosome not in the run": int(off_chrom.sum()), "gene not in the run": int(no_gene.sum())}
    return pairs[~(off_chrom | no_gene)].reset_index(drop=True), left


def evaluate_links(links, truth: Benchmark, out, *, cell_type: str, model: str | None = None,
                   max_distance: float | None = None, drop_not_scored: bool = False, plot: bool = True,
                   peers: Iterable[Peer] = (), n_boot: int = 1000, seed: int = 0) -> dict:
    """Score a link table (path or :func:`read_links` frame) against ``truth`` (:func:`read_benchmark`
    or :func:`read_truth_links`) and the ``peers``' predictions on the same pairs; write
    summary.tsv, links.json, pairs.tsv.gz, pr_curves.png."""
    out = Path(out)
    files = evaluate_outputs(out, "links")
    genes = set(truth.pairs["gene_symbol"]) | {g for g in truth.pairs["gene_ensembl"] if g}
    src = str(links) if not isinstance(links, pd.DataFrame) else "<DataFrame>"
    table = read_links(links, genes=genes) if not isinstance(links, pd.DataFrame) else links.copy()
    run_chroms = table.attrs.get("chroms") or sorted(set(table["chrom"].astype(str)), key=chrom_sort_key)
    add_baselines(table)
    methods = score_methods(table)
    pairs = join_pairs(truth, table, methods)
    n_bench = len(pairs)
    pairs, left_out = restrict_to_run(pairs, run_chroms)
    n_left = sum(left_out.values())
    log.info("%s: %d of %d benchmark pairs are on the run's chromosomes (%s) and genes; left out: %s",
             cell_type, len(pairs), n_bench, ", ".join(run_chroms), left_out)
    if left_out["gene not in the run"]:
        miss = sorted(set(truth.pairs["gene_symbol"]) - set(table["symbol"]))
        log.info("benchmark genes not in the link table (left out): %s%s", ", ".join(miss[:20]),
                 f", ... ({len(miss)} in all)" if len(miss) > 20 else "")
    n_before = len(pairs)
    if max_distance is not None:
        d = pairs["distance"].to_numpy(float)
        pairs = pairs[~(d > max_distance)].reset_index(drop=True)
    if not pairs["scored"].any():
        raise InputError(f"no benchmark pair overlaps a cCRE of its gene's window: {_coverage_message(truth, links)}",
                         path=truth.source,
                         fix="check that the benchmark and the link table are of the same assembly, "
                             "chromosome naming and cell type, and that the links cover the benchmark's genes")
    peers = list(peers)
    peer_cols = add_peer_scores(pairs, truth, peers, genes=genes, cell_type=truth.cell_type or cell_type,
                                taken=methods)
    n_ns = int((~pairs["scored"]).sum())
    reasons = {str(k): int(v) for k, v in pairs.loc[~pairs["scored"], "reason"].value_counts().items()}
    log.info("%s: %d pairs (%d positive), %d not scored (%s)", cell_type, len(pairs), int(pairs["positive"].sum()),
             n_ns, reasons)
    scored_pairs = pairs[pairs["scored"]].reset_index(drop=True) if drop_not_scored else pairs
    labels = {p: f"peer/{p}" for p in peer_cols}
    rows, res, curves = score_pairs(scored_pairs, methods + peer_cols, name=truth.name, cell_type=cell_type,
                                    method_prefix=model, n_boot=n_boot, seed=seed, labels=labels)
    if drop_not_scored:  # report how many were dropped
        rows[0] = _row(cell_type, "pairs", f"{truth.name}_n_not_scored", n_ns, len(pairs))
    rows += [_row(cell_type, "pairs", f"{truth.name}_n_benchmark", n_bench, n_bench),
             _row(cell_type, "pairs", f"{truth.name}_n_left_out_chromosome", left_out["chromosome not in the run"],
                  n_bench),
             _row(cell_type, "pairs", f"{truth.name}_n_left_out_gene", left_out["gene not in the run"], n_bench)]
    write_summary(rows, files["summary"])
    cols = ["pair", "chrom", "start", "end", "gene_symbol", "gene_ensembl", "positive", "distance", "distance_bin",
            "scored", "reason", "n_ccres", "ccres", *methods, *peer_cols]
    write_tsv(pairs[cols], files["pairs"], float_format="%.6g", na_rep="NA", compression="gzip")
    info = dict(cell_type=cell_type, model=model, benchmark=truth.source, name=truth.name, links=src,
                benchmark_rows=truth.n_rows, benchmark_invalid=truth.n_invalid,
                benchmark_invalid_reasons=truth.invalid_reasons, benchmark_pairs=n_bench,
                run_chromosomes=run_chroms, left_out=left_out, left_out_total=n_left, pairs=len(pairs),
                pairs_beyond_max_distance=n_before - len(pairs), max_distance=max_distance,
                positives=int(pairs["positive"].sum()), not_scored=n_ns, not_scored_reasons=reasons,
                not_scored_positives=int((pairs["positive"] & ~pairs["scored"]).sum()),
                not_scored_handling="dropped" if drop_not_scored else "ranked last (score -inf)",
                methods=methods, peers=[dict(name=p.name, file=p.path, column=p.column) for p in peers],
                score_orientation={m: ("-" + m) if SCORE_SIGN.get(m, 1.0) < 0 else m for m in methods},
                bootstrap=dict(n=n_boot, seed=seed, level=0.95, resampled="pairs", paired=True),
                abc=dict(activity="sqrt(dnase * h3k27ac)",
                         contact=f"(|distance| + {ABC_PSEUDO_BP}) ** -{ABC_GAMMA}",
                         normalised="per gene window"),
                distance_bins={b[0]: [b[1], b[2]] for b in DISTANCE_BINS}, metrics=res)
    write_json(info, files["json"])
    write_tsv(links_table(res[ALL], labels={**{m: (f"{model}/{m}" if model else m) for m in methods}, **labels}),
              files["table"], float_format="%.3f", na_rep="NA")
    if plot:
        from creator import plots

        n_pos = int(pairs["positive"].sum())
        plots.pr_curves(curves, files["pr"],
                        title=" ".join(x for x in (cell_type, model, "vs", truth.name,
                                                   f"({Path(truth.source).name}: {len(pairs)} pairs, {n_pos} positive;"
                                                   f" {n_left} off the run left out)") if x))
    return info
