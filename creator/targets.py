"""Targets stage: log1p(TPM) per gene of genes.parquet, matched by Ensembl id, then by symbol."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from creator.config import load_config
from creator.errors import InputError
from creator.io import read_expression, write_parquet

log = logging.getLogger(__name__)


def make_targets(*, genes_path, expression_path, out, min_matched_fraction: float = 0.5) -> dict:
    """Write ``out`` (parquet): gene_id, symbol, tpm, log1p_tpm, matched_by, one row per gene.

    Duplicated keys in the expression table (a symbol on several rows) are summed. Genes that
    match neither way keep NaN and are counted in the log; when fewer than
    ``min_matched_fraction`` match, the table is probably for another annotation: error.
    """
    genes = pd.read_parquet(genes_path, columns=["gene_id", "symbol", "ensembl_id"])
    expr = read_expression(expression_path)
    tpm = np.full(len(genes), np.nan)
    how = np.array(["none"] * len(genes), dtype=object)
    n_dup = 0
    if expr["gene_id"].notna().any():
        by_id = expr.dropna(subset=["gene_id"])
        n_dup += int(by_id["gene_id"].duplicated().sum())
        table = by_id.groupby("gene_id", sort=False)["tpm"].sum()
        ens = genes["ensembl_id"]
        shared = ens.duplicated(keep=False) & ens.notna()  # one id on several loci: ambiguous, use symbol
        hit = ens.where(~shared).map(table)
        m = hit.notna().to_numpy()
        tpm[m], how[m] = hit[m], "gene_id"
    if expr["symbol"].notna().any():
        by_sym = expr.dropna(subset=["symbol"])
        n_dup += int(by_sym["symbol"].duplicated().sum())
        table = by_sym.groupby("symbol", sort=False)["tpm"].sum()
        hit = genes["symbol"].map(table)
        m = np.isnan(tpm) & hit.notna().to_numpy()
        tpm[m], how[m] = hit[m], "symbol"
    n_match = int((~np.isnan(tpm)).sum())
    frac = n_match / max(len(genes), 1)
    summary = dict(n_genes=len(genes), matched=n_match, matched_by_gene_id=int((how == "gene_id").sum()),
                   matched_by_symbol=int((how == "symbol").sum()), unmatched=len(genes) - n_match,
                   duplicated_keys_summed=n_dup)
    log.info("targets from %s: %s", expression_path, summary)
    if summary["unmatched"]:
        log.info("unmatched genes (first 20): %s", ", ".join(genes.loc[np.isnan(tpm), "symbol"].head(20)))
    if frac < min_matched_fraction:
        keys = _key_examples(expr, genes)
        if n_match == 0:
            fix = (f"check the gene identifiers ({keys}): the table must name the genes of the genes file "
                   "by Ensembl gene id (with or without version) or by the same symbol, of the same "
                   "annotation and species")
        else:
            fix = (f"use a table of the same annotation ({keys}), or, if these are all the genes it has, "
                   f"lower targets.min_matched_fraction below {frac:.2f}")
        raise InputError(f"only {n_match} of {len(genes)} genes ({frac:.0%}) match the expression table "
                         "by Ensembl id or symbol", path=expression_path, fix=fix)
    out_df = genes.assign(tpm=tpm, log1p_tpm=np.log1p(tpm), matched_by=how)
    write_parquet(out_df, out)
    return summary


def _key_examples(expr: pd.DataFrame, genes: pd.DataFrame) -> str:
    """'the table has gene_id ENSG...1.5, ...; the genes file has ...': what each side calls genes."""
    def first(values, n=3):
        v = [str(x) for x in pd.Series(values).dropna().head(n)]
        return ", ".join(v) if v else "none"

    table = (f"gene_id {first(expr['gene_id'])}" if expr["gene_id"].notna().any()
             else f"symbol {first(expr['symbol'])}")
    ours = f"gene_id {first(genes['ensembl_id'])} / symbol {first(genes['symbol'])}"
    return f"the table has {table}; the genes file has {ours}"


def add_cli(sub) -> None:
    p = sub.add_parser("targets", help="log1p(TPM) per gene from an RNA-seq table")
    p.add_argument("--config", required=True)
    p.add_argument("--genes", required=True, help="reference genes.parquet")
    p.add_argument("--expression", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    cfg = load_config(args.config)["targets"]
    make_targets(genes_path=args.genes, expression_path=args.expression, out=args.out,
                 min_matched_fraction=cfg["min_matched_fraction"])
    return 0
