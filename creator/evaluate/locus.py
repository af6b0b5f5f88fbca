"""The locus view from a run's files: reads the link table, bigWigs, the attention map, boundaries and
a CRISPRi benchmark, and draws :func:`creator.plots.locus_view` (plots take data, not paths)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from creator import plots
from creator.errors import InputError
from creator.io import name_path_pairs

from .boundaries import read_boundaries
from .contacts import open_contacts
from .truth import read_benchmark, read_links


def locus_view_from_files(out, *, links, gene: str, score: str = "Score", cool=None, bigwigs=None,
                          boundaries=None, region: tuple[str, int, int] | None = None, top_n: int = 10,
                          n_bins: int = 800, crispr=None, cell: str | None = None) -> Path:
    """:func:`locus_view` of one gene (symbol or gene id) read from its link table rows, optional
    bigWigs (``{name: path}``, mean signal in ``n_bins`` bins), the attention cooler (``cool``: the tads
    stage's ``attention.mcool::resolutions/N``; raw count
    pixels), a boundaries BED and a CRISPRi benchmark (``crispr``, EPCrisprBenchmark format, rows of
    ``cell``): the gene's tested elements are marked. ``region`` defaults to the span of the
    gene's window or, when the gene has validated enhancers, to the TSS +- max(100 kb, twice the
    farthest one's distance), so that they and their arcs can be seen."""
    rows = read_links(links, genes=[gene])
    if not len(rows):
        raise InputError(f"gene {gene} is not in the link table", path=links, fix="give a symbol or gene_id it has")
    chrom = str(rows["chrom"].iloc[0])
    tss = float(rows["tss"].iloc[0]) if np.isfinite(rows["tss"].iloc[0]) else float(
        ((rows["start"] + rows["end"]) / 2 - rows["distance"]).iloc[0])
    tested = None
    if crispr is not None:
        pairs = read_benchmark(crispr, cell_type=cell).pairs
        ids = {str(gene), *rows["symbol"].astype(str), *rows["gene_id"].astype(str)}
        mine = pairs[(pairs["chrom"] == chrom) & (pairs["gene_symbol"].isin(ids) | pairs["gene_ensembl"].isin(ids))]
        tested = mine[["start", "end", "positive"]].reset_index(drop=True)
    if region is None:
        region = (chrom, int(rows["start"].min()), int(rows["end"].max()))
        if tested is not None and tested["positive"].any():
            far = float(np.abs((tested["start"] + tested["end"])[tested["positive"]] / 2 - tss).max())
            half = int(max(100_000, 2 * far))
            region = (chrom, max(region[1], int(tss) - half), min(region[2], int(tss) + half))
    chrom, start, end = region
    tracks = {}
    for name, path in (bigwigs or {}).items():
        import pyBigWig

        bw = pyBigWig.open(str(path))
        try:
            vals = np.array(bw.stats(chrom, int(start), int(end), type="mean", nBins=n_bins), dtype=float)
        finally:
            bw.close()
        edges = np.linspace(start, end, n_bins + 1)
        tracks[name] = ((edges[:-1] + edges[1:]) / 2, vals)
    sc = rows[score].to_numpy(float) if score in rows else rows["Score"].to_numpy(float)
    elements = pd.DataFrame({"start": rows["start"], "end": rows["end"], "score": sc})
    matrix = mstart = res = None
    if cool is not None:
        src = open_contacts(cool, balance=False, what="attention")
        c = src.fetch(chrom)
        res = c.resolution
        lo, hi = int(start // res), int(-(-end // res))
        matrix = c.dense(lo, min(hi, c.n_bins))
        mstart = lo * res
    bnd = None
    if boundaries is not None:
        b = read_boundaries(boundaries)
        bnd = b.loc[b["chrom"] == chrom, "position"].to_numpy()
    symbol = str(rows["symbol"].iloc[0])
    return plots.locus_view(out, chrom=chrom, start=start, end=end, tracks=tracks, elements=elements,
                      links=elements, gene=dict(symbol=symbol, tss=tss), matrix=matrix, matrix_start=mstart,
                      resolution=res, boundaries=bnd, top_n=top_n, score_label=score,
                      title=f"{symbol}: {chrom}:{start:,}-{end:,}", tested=tested)


def add_locus_cli(sub) -> None:
    p = sub.add_parser("locus-view", help="locus view of one gene: tracks, elements, link arcs, attention matrix",
                       description="One figure around a gene: the signal tracks (--bigwig), the cCREs, arcs of its "
                                   "--top-n strongest links by --score, the tads stage's boundaries and its attention "
                                   "matrix (--cool), and the CRISPRi-tested elements (--crispr).")
    p.add_argument("--links", required=True, help="links.tsv.gz of one (model, cell)")
    p.add_argument("--gene", required=True, help="gene symbol or id")
    p.add_argument("--score", default="Score", help="link column for the arcs (default Score)")
    p.add_argument("--cool", help="attention of the tads stage: attention.mcool::resolutions/N (or a .cool)")
    p.add_argument("--boundaries", help="boundaries.bed of the tads stage")
    p.add_argument("--bigwig", action="append", default=[], metavar="NAME=PATH", help="signal track (repeatable)")
    p.add_argument("--top-n", type=int, default=10, help="arcs for the N strongest links")
    p.add_argument("--crispr", help="CRISPRi benchmark (EPCrisprBenchmark format): mark the gene's tested elements")
    p.add_argument("--cell", help="the benchmark's cell type to use (its CellType column)")
    p.add_argument("--out", required=True, help="PNG path")
    p.set_defaults(func=_locus_cli)


def _locus_cli(args) -> int:
    bigwigs = name_path_pairs(args.bigwig, "--bigwig")
    locus_view_from_files(args.out, links=args.links, gene=args.gene, score=args.score, cool=args.cool,
                          bigwigs=bigwigs, boundaries=args.boundaries, top_n=args.top_n, crispr=args.crispr,
                          cell=args.cell)
    return 0
