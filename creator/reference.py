"""Reference stage: cCREs (filtered, blacklisted, sorted, recentred), genes with TSS, per-gene
cCRE windows ``[lo, hi)`` and sequence tokens. File layouts: :mod:`creator.formats`."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from creator.config import load_config
from creator.errors import InputError, display_path
from creator.formats import NUCLEOTIDE_TOKENS, reference_outputs
from creator.io import (atomic_path, check_chrom, chrom_sort_key, read_bed, read_chrom_sizes,
                        read_genes_bed, read_genes_gtf, rename_chrom_command, suggest_chrom, write_parquet)

log = logging.getLogger(__name__)

_TOKEN_LUT = np.zeros(256, dtype=np.uint8)
for _base, _tok in NUCLEOTIDE_TOKENS.items():
    _TOKEN_LUT[ord(_base)] = _tok
    _TOKEN_LUT[ord(_base.lower())] = _tok


def tokenize(seq: str | bytes) -> np.ndarray:
    """DNA string -> uint8 tokens (A1 C2 G3 T4, anything else 0)."""
    if isinstance(seq, str):
        seq = seq.encode("ascii", "replace")
    return _TOKEN_LUT[np.frombuffer(seq, dtype=np.uint8)]


def _chrom_rank(chroms: pd.Series) -> np.ndarray:
    uniq = sorted(set(chroms), key=chrom_sort_key)
    rank = {c: i for i, c in enumerate(uniq)}
    return chroms.map(rank).to_numpy(np.int64)


def sort_by_chrom(df: pd.DataFrame, pos: str) -> pd.DataFrame:
    """Sort rows by (natural chromosome order, ``pos``), stable."""
    order = np.lexsort((df[pos].to_numpy(), _chrom_rank(df["chrom"])))
    return df.iloc[order].reset_index(drop=True)


def remove_blacklisted(ccres: pd.DataFrame, blacklist: str | Path) -> pd.DataFrame:
    """Drop cCREs that overlap a blacklist region (``bedtools intersect -v`` through pybedtools)."""
    import pybedtools

    bl = read_bed(blacklist, what="blacklist BED")
    tmp = ccres[["chrom", "start", "end"]].copy()
    tmp["idx"] = np.arange(len(tmp))
    kept = pybedtools.BedTool.from_dataframe(tmp).intersect(
        pybedtools.BedTool.from_dataframe(bl[["chrom", "start", "end"]]), v=True)
    idx = np.array([int(iv.fields[3]) for iv in kept], dtype=np.int64)
    pybedtools.cleanup()
    log.info("blacklist %s removed %d of %d cCREs", blacklist, len(ccres) - len(idx), len(ccres))
    return ccres.iloc[np.sort(idx)].reset_index(drop=True)


def recentre(ccres: pd.DataFrame, element_bp: int, chrom_sizes: dict[str, int]) -> pd.DataFrame:
    """Fixed-length ``element_bp`` intervals centred on each element, shifted inside the chromosome."""
    centre = (ccres["start"].to_numpy() + ccres["end"].to_numpy()) // 2
    start = centre - element_bp // 2
    size = ccres["chrom"].map(chrom_sizes).to_numpy(np.int64)
    start = np.clip(start, 0, np.maximum(size - element_bp, 0))
    out = ccres.rename(columns={"start": "orig_start", "end": "orig_end"}).copy()
    out["start"] = start.astype(np.int64)
    out["end"] = np.minimum(start + element_bp, size).astype(np.int64)
    out["center"] = out["start"] + element_bp // 2
    return out


def reference_id(ccres: pd.DataFrame, element_bp: int) -> str:
    """A short hash of the cCRE coordinates: features files carry it so a mismatch is caught."""
    h = hashlib.sha1(str(element_bp).encode())
    h.update("\n".join(ccres["chrom"].astype(str)).encode())
    h.update(ccres["start"].to_numpy(np.int64).tobytes())
    return h.hexdigest()[:16]


def gene_windows(ccres: pd.DataFrame, genes: pd.DataFrame, window_bp: int) -> tuple[np.ndarray, np.ndarray]:
    """Per gene, the row range ``[lo, hi)`` of cCREs whose centre lies within ``window_bp`` of the TSS.

    ``ccres`` must be sorted by (chrom, start) with fixed length, so centres are sorted per chromosome.
    """
    lo = np.zeros(len(genes), dtype=np.int64)
    hi = np.zeros(len(genes), dtype=np.int64)
    centre = ccres["center"].to_numpy()
    bounds = {c: (int(i.min()), int(i.max()) + 1) for c, i in ccres.groupby("chrom", sort=False).indices.items()}
    for chrom, gidx in genes.groupby("chrom", sort=False).indices.items():
        if chrom not in bounds:
            lo[gidx] = hi[gidx] = 0
            continue
        a, b = bounds[chrom]
        tss = genes["tss"].to_numpy()[gidx]
        lo[gidx] = a + np.searchsorted(centre[a:b], tss - window_bp, side="left")
        hi[gidx] = a + np.searchsorted(centre[a:b], tss + window_bp, side="right")
    return lo, hi


def load_ccres(path, *, chrom_sizes, chromosomes, sort_input: bool) -> pd.DataFrame:
    df = read_bed(path, chrom_sizes=chrom_sizes, require_sorted=not sort_input, what="cCRE BED")
    if chromosomes is not None:
        df = df[df["chrom"].isin(chromosomes)]
        if df.empty:
            raise InputError(f"no cCRE on the chromosomes {', '.join(chromosomes)}", path=path,
                             fix="check reference.chromosomes against the BED's chromosome names")
    return sort_by_chrom(df, "start")


def load_genes(path, fmt: str, *, chrom_sizes, chromosomes, gene_types) -> pd.DataFrame:
    genes = read_genes_gtf(path) if fmt == "gtf" else read_genes_bed(path)
    for row in genes.itertuples():
        if row.chrom not in chrom_sizes and (chromosomes is None or row.chrom in chromosomes):
            check_chrom(row.chrom, chrom_sizes, path=path, line=row.line, what="chrom.sizes")
    wanted = list(chromosomes) if chromosomes is not None else list(chrom_sizes)
    on_chrom = genes["chrom"].isin(wanted)
    renamed = _renamed_chromosomes(genes.loc[~on_chrom, "chrom"], wanted)
    keep = on_chrom.copy()
    if gene_types is not None:
        keep &= genes["gene_type"].isin(gene_types)
    if renamed:
        n_named = sum(renamed.values())
        first_old, first_new = next(iter(renamed))
        what = ", ".join(f"{n} on '{old}' (the config names it '{new}')" for (old, new), n in renamed.items())
        fix = (f"rename the chromosomes of the genes file ({rename_chrom_command(path, first_old, first_new)}; "
               "then point reference.genes at the renamed file)")
        if not keep.any():
            raise InputError(f"no gene left on reference.chromosomes ({', '.join(wanted[:5])}): "
                             f"the genes file names its chromosomes differently: {what}", path=path, fix=fix)
        log.warning("%s: %d of %d gene rows are dropped because their chromosome is named differently: "
                    "%s. Fix: %s", display_path(path), n_named, len(genes), what, fix)
    genes = genes[keep].reset_index(drop=True)
    if genes.empty:
        raise InputError("no gene left after filtering by chromosome and gene type", path=path,
                         fix="check reference.chromosomes and reference.gene_types")
    dup = genes["gene_id"].duplicated(keep=False)
    if dup.any():
        first = genes[dup].sort_values("line")
        gid = first["gene_id"].iloc[0]
        lines = first.loc[first["gene_id"] == gid, "line"].tolist()
        raise InputError(f"gene id {gid} is duplicated (lines {', '.join(map(str, lines))}); "
                         f"{int(dup.sum())} rows have duplicated ids", path=path, line=lines[1],
                         fix="give each gene one row (collapse transcripts to genes, or use unique names)")
    genes["tss"] = np.where(genes["strand"] == "+", genes["start"], genes["end"] - 1).astype(np.int64)
    return sort_by_chrom(genes, "tss")


def _renamed_chromosomes(chroms: pd.Series, wanted) -> dict[tuple[str, str], int]:
    """{(name in the file, name in the config): rows} for rows whose chromosome is a wanted one
    under the other naming convention (22 vs chr22)."""
    out: dict[tuple[str, str], int] = {}
    for chrom, n in chroms.value_counts(sort=False).items():
        alt = suggest_chrom(chrom, wanted)
        if alt is not None:
            out[(chrom, alt)] = int(n)
    return dict(sorted(out.items(), key=lambda kv: chrom_sort_key(kv[0][1])))


def is_plain_gzip(path: str | Path) -> bool:
    """gzip but not BGZF (pyfaidx reads plain and BGZF files, not plain gzip)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:2] != b"\x1f\x8b":
        return False
    has_extra = len(head) > 3 and head[3] & 4
    return not (has_extra and head[12:14] == b"BC")


def read_sequences(fasta: str | Path, ccres: pd.DataFrame, element_bp: int) -> np.ndarray:
    """uint8 tokens ``[n_ccre, element_bp]`` from a FASTA via pyfaidx (plain, BGZF or plain gzip:
    the last, as ENCODE serves its genome, is decompressed once to a temporary file)."""
    if is_plain_gzip(fasta):
        import gzip
        import shutil
        import tempfile

        log.info("%s is plain gzip: decompressing it once for random access", fasta)
        with tempfile.TemporaryDirectory(prefix="creator-fasta-") as tmp:
            plain = Path(tmp) / "genome.fa"
            with gzip.open(fasta, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 24)
            return _read_sequences(plain, ccres, element_bp, shown=fasta)
    return _read_sequences(fasta, ccres, element_bp, shown=fasta)


def _read_sequences(fasta, ccres: pd.DataFrame, element_bp: int, *, shown) -> np.ndarray:
    import pyfaidx

    try:
        fa = pyfaidx.Fasta(str(fasta), as_raw=True, sequence_always_upper=True, rebuild=False)
    except Exception as exc:  # pyfaidx raises several types for bad files
        raise InputError(f"cannot read FASTA: {exc}", path=shown,
                         fix="give a plain, gzip or bgzip-compressed FASTA") from exc
    out = np.zeros((len(ccres), element_bp), dtype=np.uint8)
    for chrom, idx in ccres.groupby("chrom", sort=False).indices.items():
        if chrom not in fa.keys():
            check_chrom(chrom, set(fa.keys()), path=shown, line=None, what="FASTA")
        rec = fa[chrom]
        for i in idx:
            s, e = int(ccres["start"].iat[i]), int(ccres["end"].iat[i])
            tok = tokenize(rec[s:e])
            out[i, : len(tok)] = tok
    return out


def build_reference(*, ccres_path, genes_path, genes_format, chrom_sizes_path, out_dir, element_bp,
                    window_bp, blacklist_path=None, fasta_path=None, chromosomes=None, gene_types=None,
                    sort_input=True) -> dict:
    """Write ccres.parquet, genes.parquet, windows.npz and sequence.npy under ``out_dir``."""
    out_dir = Path(out_dir)
    sizes = read_chrom_sizes(chrom_sizes_path)
    if chromosomes is not None:
        for c in chromosomes:
            if c not in sizes:
                alt = suggest_chrom(c, sizes)
                fix = (f"the chrom.sizes names it '{alt}': use the file's names in reference.chromosomes "
                       f"(e.g. [{alt}])" if alt else "remove it from reference.chromosomes, or use the "
                       "chrom.sizes of the assembly the other files use")
                raise InputError(f"reference.chromosomes has '{c}', which is not in the chrom.sizes",
                                 path=chrom_sizes_path, fix=fix)
    ccres = load_ccres(ccres_path, chrom_sizes=sizes, chromosomes=chromosomes, sort_input=sort_input)
    n_in = len(ccres)
    if blacklist_path:
        ccres = remove_blacklisted(ccres, blacklist_path)
    ccres = recentre(ccres, element_bp, sizes)
    ccres = ccres[["chrom", "start", "end", "orig_start", "orig_end", "name", "class", "center"]]
    genes = load_genes(genes_path, genes_format, chrom_sizes=sizes, chromosomes=chromosomes,
                       gene_types=gene_types)
    lo, hi = gene_windows(ccres, genes, window_bp)
    genes["win_lo"], genes["win_hi"] = lo, hi
    n_empty = int((hi == lo).sum())
    if n_empty:
        log.warning("%d of %d genes have no cCRE within %d bp of the TSS: kept with an empty window "
                    "(e.g. %s)", n_empty, len(genes), window_bp,
                    ", ".join(genes.loc[hi == lo, "gene_id"].head(5)))
    rid = reference_id(ccres, element_bp)
    chroms = np.array(sorted(set(ccres["chrom"]) | set(genes["chrom"]), key=chrom_sort_key))
    code = {c: i for i, c in enumerate(chroms)}
    if fasta_path:
        seq = read_sequences(fasta_path, ccres, element_bp)
    else:
        log.info("no FASTA configured: sequence tokens are all 0 (the model sees signal only)")
        seq = np.zeros((len(ccres), element_bp), dtype=np.uint8)

    files = reference_outputs(out_dir)
    write_parquet(ccres, files["ccres"])
    write_parquet(genes.drop(columns="line"), files["genes"])
    with atomic_path(files["windows"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, lo=lo, hi=hi, tss=genes["tss"].to_numpy(np.int64),
                     ccre_center=ccres["center"].to_numpy(np.int64),
                     gene_chrom=genes["chrom"].map(code).to_numpy(np.int32),
                     ccre_chrom=ccres["chrom"].map(code).to_numpy(np.int32), chroms=chroms,
                     window_bp=np.int64(window_bp), element_bp=np.int64(element_bp),
                     reference_id=np.array(rid))
    with atomic_path(files["sequence"]) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, seq)
    sizes_per_window = hi - lo
    summary = dict(n_ccres_in=n_in, n_ccres=len(ccres), n_genes=len(genes), n_empty_windows=n_empty,
                   median_ccres_per_window=float(np.median(sizes_per_window)), reference_id=rid)
    log.info("reference: %s", summary)
    return summary


def add_cli(sub) -> None:
    p = sub.add_parser("reference", help="cCREs, genes, windows and sequence tokens")
    p.add_argument("--config", required=True, help="workflow config (reference.* keys are read)")
    p.add_argument("--ccres", required=True)
    p.add_argument("--genes", required=True)
    p.add_argument("--chrom-sizes", required=True)
    p.add_argument("--blacklist")
    p.add_argument("--fasta")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    cfg = load_config(args.config)["reference"]
    build_reference(ccres_path=args.ccres, genes_path=args.genes, genes_format=cfg["genes_format"],
                    chrom_sizes_path=args.chrom_sizes, out_dir=args.out, element_bp=cfg["element_bp"],
                    window_bp=cfg["window_bp"], blacklist_path=args.blacklist, fasta_path=args.fasta,
                    chromosomes=cfg["chromosomes"], gene_types=cfg["gene_types"], sort_input=cfg["sort_input"])
    return 0
