"""What link scores are judged against: CRISPRi benchmarks, planted truth, link tables, peers'
predictions. (Part of :mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from creator.errors import InputError
from creator.io import chrom_sort_key, read_table, strip_version, table_header

from .common import (BENCHMARK_REQUIRED, LINKS_REQUIRED, LINK_SCORES, TRUTH_REQUIRED, _bool_column, _float_column,
                     _read_table, _require_columns)

log = logging.getLogger("creator.evaluate")


@dataclass
class Benchmark:
    """Element-gene pairs with a label, in one shape for CRISPRi benchmarks and planted truth.

    ``pairs`` columns: ``pair`` (name), ``chrom``, ``start``, ``end``, ``gene_symbol``,
    ``gene_ensembl`` (None when unknown), ``positive`` (bool), ``distance`` (``|centre - TSS|``,
    NaN when unknown), ``line`` (line in the source file)."""

    pairs: pd.DataFrame
    source: str
    name: str
    n_rows: int
    n_invalid: int = 0
    invalid_reasons: dict = field(default_factory=dict)
    cell_type: str | None = None


def read_benchmark(path, *, cell_type: str | None = None, name: str = "crispr") -> Benchmark:
    """A CRISPRi benchmark in EPCrisprBenchmark format (ENCODE-rE2G / CRISPR_comparison).

    Required columns :data:`BENCHMARK_REQUIRED`; optional ``ValidConnection`` (rows other than
    ``TRUE`` are dropped and counted by reason), ``measuredGeneEnsemblId``, ``distanceToTSS`` or
    ``startTSS`` (for the distance bins), ``CellType`` (filtered to ``cell_type`` when it is one of
    the values; a file of one other cell type is used with a warning), ``name``."""
    path = Path(path)
    df = _read_table(path, what="CRISPR benchmark", dtype={"chrom": str, "measuredGeneSymbol": str,
                                                            "measuredGeneEnsemblId": str, "name": str,
                                                            "ValidConnection": str, "CellType": str,
                                                            "chrTSS": str})
    _require_columns(df, BENCHMARK_REQUIRED, path=path, what="CRISPR benchmark",
                     fix="use the EPCrisprBenchmark format (columns chrom, chromStart, chromEnd, "
                         "measuredGeneSymbol, Regulated, ValidConnection, ...; see COLUMNS.txt)")
    df["_line"] = np.arange(len(df)) + 2
    n_rows = len(df)
    if cell_type is not None and "CellType" in df.columns:
        cells = sorted(df["CellType"].dropna().astype(str).unique())
        if cell_type in cells:
            df = df[df["CellType"].astype(str) == cell_type]
        elif len(cells) == 1:
            log.warning("%s: benchmark cell type %s used for %s", path, cells[0], cell_type)
        else:
            raise InputError(f"cell type {cell_type!r} is not in the benchmark (CellType: {', '.join(cells)})",
                             path=path, fix="choose the benchmark's cell type with --benchmark-cell")
    starts = pd.to_numeric(df["chromStart"], errors="coerce")
    ends = pd.to_numeric(df["chromEnd"], errors="coerce")
    bad = starts.isna() | ends.isna() | (ends <= starts)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"bad element {df['chrom'].iloc[i]}:{df['chromStart'].iloc[i]}-{df['chromEnd'].iloc[i]}",
                         path=path, line=int(df["_line"].iloc[i]), fix="chromStart < chromEnd, integers")
    positive = _bool_column(df["Regulated"].reset_index(drop=True), path=path, column="Regulated")
    reasons: dict = {}
    if "ValidConnection" in df.columns:
        vc = df["ValidConnection"].fillna("NA").astype(str).str.strip()
        valid = vc.str.upper().isin(["TRUE", "T", "1"]).to_numpy()
        reasons = {str(k): int(v) for k, v in vc[~valid].value_counts().items()}
    else:
        valid = np.ones(len(df), bool)
    centre = (starts.to_numpy(float) + ends.to_numpy(float)) / 2
    if "distanceToTSS" in df.columns:
        distance = np.abs(_float_column(df, "distanceToTSS", path=path))
    elif "startTSS" in df.columns:
        distance = np.abs(centre - _float_column(df, "startTSS", path=path))
    else:
        distance = np.full(len(df), np.nan)
    if "measuredGeneEnsemblId" in df.columns:
        ens = df["measuredGeneEnsemblId"].map(
            lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None)
    else:
        ens = pd.Series([None] * len(df), index=df.index, dtype=object)
    pairs = pd.DataFrame({
        "pair": (df["name"].astype(str) if "name" in df.columns
                 else df["measuredGeneSymbol"].astype(str) + "|" + df["chrom"].astype(str) + ":"
                 + starts.astype("int64").astype(str) + "-" + ends.astype("int64").astype(str)).to_numpy(),
        "chrom": df["chrom"].astype(str).to_numpy(),
        "start": starts.to_numpy().astype(np.int64), "end": ends.to_numpy().astype(np.int64),
        "gene_symbol": df["measuredGeneSymbol"].astype(str).to_numpy(),
        "gene_ensembl": ens.to_numpy(dtype=object),
        "positive": positive, "distance": distance, "line": df["_line"].to_numpy(),
    })
    pairs = pairs[valid].reset_index(drop=True)
    if not len(pairs):
        raise InputError("no benchmark pair is left after the ValidConnection == TRUE filter"
                         + (f" and the CellType filter ({cell_type})" if cell_type else ""), path=path,
                         fix="check the benchmark file and --benchmark-cell")
    return Benchmark(pairs=pairs, source=str(path), name=name, n_rows=n_rows,
                     n_invalid=int((~valid).sum()), invalid_reasons=reasons, cell_type=cell_type)


def read_truth_links(path, *, exclude_own_promoter: bool = True, name: str = "planted") -> Benchmark:
    """The planted truth of the synthetic data (``truth/links.tsv`` of :mod:`creator.simulate`) as a
    :class:`Benchmark`: positives ``is_link``, genes by ``gene_id`` (Ensembl-like) and ``symbol``,
    distance from its ``distance`` column (else ``|center - tss|``). Pairs of a gene with its own
    promoter cCRE (``own_promoter``) are left out by default, as CRISPRi benchmarks leave out
    promoter elements (``ValidConnection`` 'PromoterElement')."""
    path = Path(path)
    df = _read_table(path, what="planted truth links", dtype={"chrom": str, "gene_id": str, "symbol": str,
                                                               "ccre_name": str})
    _require_columns(df, TRUTH_REQUIRED, path=path, what="planted truth links",
                     fix="give truth/links.tsv written by creator simulate")
    positive = _bool_column(df["is_link"], path=path, column="is_link")
    if "distance" in df.columns:
        distance = np.abs(_float_column(df, "distance", path=path))
    elif "tss" in df.columns:
        centre = (df["start"].to_numpy(float) + df["end"].to_numpy(float)) / 2
        distance = np.abs(centre - _float_column(df, "tss", path=path))
    else:
        distance = np.full(len(df), np.nan)
    valid = np.ones(len(df), bool)
    reasons = {}
    if exclude_own_promoter and "own_promoter" in df.columns:
        own = _bool_column(df["own_promoter"], path=path, column="own_promoter")
        valid &= ~own
        if own.any():
            reasons["PromoterElement"] = int(own.sum())
    gid = df["gene_id"].astype(str).map(strip_version)
    pairs = pd.DataFrame({
        "pair": (df["ccre_name"].astype(str) if "ccre_name" in df.columns
                 else pd.Series(np.arange(len(df))).astype(str)) + "|" + df["symbol"].astype(str),
        "chrom": df["chrom"].astype(str).to_numpy(),
        "start": df["start"].to_numpy(np.int64), "end": df["end"].to_numpy(np.int64),
        "gene_symbol": df["symbol"].astype(str).to_numpy(),
        "gene_ensembl": gid.where(gid.str.startswith("ENS"), None).to_numpy(dtype=object),
        "positive": positive, "distance": distance, "line": np.arange(len(df)) + 2,
    })
    pairs = pairs[valid].reset_index(drop=True)
    return Benchmark(pairs=pairs, source=str(path), name=name, n_rows=len(df), n_invalid=int((~valid).sum()),
                     invalid_reasons=reasons)


def read_links(path, *, genes: Iterable[str] | None = None, chunksize: int = 1_000_000) -> pd.DataFrame:
    """A link table (``links.tsv.gz``; its header line may start with ``#``) with the columns the
    evaluation needs.

    Returns ``chrom, start, end, name, gene_id, symbol, ensembl, tss, distance`` plus the score
    columns present (:data:`LINK_SCORES`) and ``dnase``/``h3k27ac`` when present. With ``genes``
    (symbols or Ensembl/gene ids), only the rows of those genes are kept (read in chunks, so a
    genome-wide table is never held whole)."""
    path = Path(path)
    if not path.exists():
        raise InputError("link table does not exist", path=path, fix="run the links stage first")
    header = table_header(path)
    if not header:
        raise InputError("link table is empty", path=path, fix="run the links stage again")
    missing = [c for c in LINKS_REQUIRED if c not in header]
    if missing:
        raise InputError(f"link table lacks required column(s) {', '.join(missing)} (it has: {', '.join(header)})",
                         path=path, line=1, fix="give the links stage's links.tsv.gz")
    wanted = ["chr", "start", "end", "name", "TargetGene", "TargetGeneEnsemblID", "TargetGeneTSS", "gene_id",
              "distance", "dnase", "h3k27ac", *LINK_SCORES]
    use = [c for c in dict.fromkeys(wanted) if c in header]
    keep = None if genes is None else {str(g) for g in genes} | {strip_version(str(g)) for g in genes}
    dtypes = {"chr": str, "name": str, "TargetGene": str, "TargetGeneEnsemblID": str, "gene_id": str}
    frames = []
    chroms: set = set()
    with read_table(path, usecols=use, dtype=dtypes, chunksize=chunksize,
                    na_values=["NA", "NaN", "nan", ""], keep_default_na=False) as reader:
        for chunk in reader:
            chroms |= set(chunk["chr"].astype(str).unique())
            if keep is not None:
                m = chunk["TargetGene"].astype(str).isin(keep)
                for c in ("gene_id", "TargetGeneEnsemblID"):
                    if c in chunk.columns:
                        m |= chunk[c].astype(str).map(strip_version).isin(keep)
                chunk = chunk[m]
            frames.append(chunk)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=use)
    out = pd.DataFrame({
        "chrom": df["chr"].astype(str), "start": pd.to_numeric(df["start"]).astype(np.int64),
        "end": pd.to_numeric(df["end"]).astype(np.int64),
        "name": df["name"].astype(str) if "name" in df else pd.Series([""] * len(df), dtype=str),
        "symbol": df["TargetGene"].astype(str),
    })
    ens = df["TargetGeneEnsemblID"] if "TargetGeneEnsemblID" in df else pd.Series([None] * len(df), dtype=object)
    out["ensembl"] = ens.map(lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None)
    if "gene_id" in df:
        out["gene_id"] = df["gene_id"].astype(str).map(strip_version)
    else:
        out["gene_id"] = out["ensembl"].where(out["ensembl"].notna(), out["symbol"])
    out["tss"] = pd.to_numeric(df["TargetGeneTSS"], errors="coerce") if "TargetGeneTSS" in df else np.nan
    if "distance" in df:
        out["distance"] = pd.to_numeric(df["distance"], errors="coerce").astype(float)
    elif "TargetGeneTSS" in df:
        out["distance"] = (out["start"] + out["end"]) / 2 - out["tss"]
    else:
        raise InputError("link table has neither 'distance' nor 'TargetGeneTSS'", path=path, line=1,
                         fix="give the links stage's links.tsv.gz")
    for c in (*LINK_SCORES, "dnase", "h3k27ac"):
        if c in df:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    out.attrs["chroms"] = sorted(chroms, key=chrom_sort_key)
    return out


@dataclass
class Peer:
    """Another method's predictions to score on the same pairs (``evaluate.peers``): ``name``,
    the file and the column holding its score (higher = stronger link)."""

    name: str
    path: str
    column: str


PEER_COLUMNS = {"chrom": ("chr", "chrom"), "start": ("start", "chromStart"), "end": ("end", "chromEnd"),
                "symbol": ("TargetGene", "measuredGeneSymbol"),
                "ensembl": ("TargetGeneEnsemblID", "TargetGeneEnsembl_ID", "measuredGeneEnsemblId")}


def parse_peer(spec: str) -> Peer:
    """``NAME=PATH:COLUMN`` (the command line's ``--peer``) -> :class:`Peer`."""
    name, sep, rest = spec.partition("=")
    path, sep2, column = rest.rpartition(":")
    if not (sep and sep2 and name and path and column):
        raise InputError(f"--peer {spec!r} is not NAME=PATH:COLUMN",
                         fix="e.g. --peer ABC=abc_predictions.tsv.gz:ABC.Score")
    return Peer(name, path, column)


def read_peer(peer: Peer, *, genes: Iterable[str] | None = None, cell_type: str | None = None) -> pd.DataFrame:
    """A peer's prediction table (ENCODE-rE2G prediction format: ``chr start end TargetGene`` and the
    score column; ``chrom chromStart chromEnd measuredGeneSymbol`` also accepted) as a link-table
    frame for :func:`join_pairs` with the score in a column named after the peer. Rows of other
    cell types are dropped when a ``CellType`` column holds ``cell_type``; only ``genes`` are kept."""
    path = Path(peer.path)
    if not path.exists():
        raise InputError(f"prediction file of peer {peer.name!r} does not exist", path=path,
                         fix="check evaluate.peers (name, url, score_column)")
    header = table_header(path)   # ENCODE-rE2G files may mark it with '#'
    cols = {}
    for key, options in PEER_COLUMNS.items():
        hit = [c for c in options if c in header]
        if not hit and key != "ensembl":
            raise InputError(f"peer {peer.name!r}: no column {' or '.join(options)} (it has: {', '.join(header[:12])}"
                             f"{', ...' if len(header) > 12 else ''})", path=path, line=1,
                             fix="give a prediction table in the ENCODE-rE2G format (chr start end TargetGene ...)")
        if hit:
            cols[key] = hit[0]
    if peer.column not in header:
        raise InputError(f"peer {peer.name!r}: no score column {peer.column!r}", path=path, line=1,
                         fix=f"set score_column to one of: {', '.join(header)}")
    use = list(cols.values()) + [peer.column] + (["CellType"] if "CellType" in header else [])
    df = read_table(path, usecols=use, dtype={c: str for c in use if c != peer.column},
                    na_values=["NA", "NaN", "nan", ""], keep_default_na=False)
    if cell_type is not None and "CellType" in df.columns:
        cells = set(df["CellType"].astype(str))
        if cell_type in cells:
            df = df[df["CellType"].astype(str) == cell_type]
        else:
            log.info("%s: peer %s has CellType %s, not %s: all rows used", path, peer.name,
                     ", ".join(sorted(cells)[:3]), cell_type)
    if genes is not None:
        keep = {str(g) for g in genes}
        m = df[cols["symbol"]].astype(str).isin(keep)
        if "ensembl" in cols:
            m |= df[cols["ensembl"]].astype(str).map(strip_version).isin(keep)
        df = df[m]
    out = pd.DataFrame({"chrom": df[cols["chrom"]].astype(str).to_numpy(),
                        "start": pd.to_numeric(df[cols["start"]]).to_numpy(np.int64),
                        "end": pd.to_numeric(df[cols["end"]]).to_numpy(np.int64),
                        "name": "", "symbol": df[cols["symbol"]].astype(str).to_numpy()})
    ens = df[cols["ensembl"]] if "ensembl" in cols else pd.Series([None] * len(df), dtype=object)
    out["ensembl"] = ens.map(lambda x: strip_version(x) if isinstance(x, str) and x.startswith("ENS") else None
                             ).to_numpy(dtype=object)
    out["gene_id"] = out["ensembl"].where(out["ensembl"].notna(), out["symbol"])
    out["distance"] = np.nan
    out[peer.name] = pd.to_numeric(df[peer.column], errors="coerce").to_numpy(float)
    return out
