"""Readers for the workflow's inputs (BED, GTF, chrom sizes, expression tables) with errors that name
file, line and fix, and atomic writers for its outputs."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from creator.errors import InputError

_CHROM_RE = re.compile(r"^(chr)?(\d+|X|Y|M|MT)$", re.IGNORECASE)


def chrom_sort_key(chrom: str) -> tuple:
    """Natural chromosome order: 1..22, X, Y, M, then the rest alphabetically (with or without 'chr')."""
    m = _CHROM_RE.match(chrom)
    if m:
        name = m.group(2).upper()
        if name.isdigit():
            return (0, int(name), "")
        return (0, 1000 + {"X": 0, "Y": 1, "M": 2, "MT": 2}[name], "")
    # numbers embedded in other names (chrS1, chrS10) still sort naturally
    parts = re.split(r"(\d+)", chrom)
    return (1, 0, tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p))


def open_text(path: str | Path):
    """Open a plain or gzip-compressed text file."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _data_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            yield lineno, line.rstrip("\n\r").split("\t")


def read_chrom_sizes(path: str | Path) -> dict[str, int]:
    """``chrom<TAB>length`` per line -> ordered dict."""
    path = Path(path)
    sizes: dict[str, int] = {}
    for lineno, f in _data_lines(path):
        if len(f) < 2 or not f[1].isdigit():
            raise InputError(f"expected 'chrom<TAB>length', got {f!r}", path=path, line=lineno,
                             fix="use a UCSC chrom.sizes file (e.g. from `cut -f1,2 genome.fa.fai`)")
        sizes[f[0]] = int(f[1])
    if not sizes:
        raise InputError("no chromosomes", path=path, fix="give a non-empty chrom.sizes file")
    return sizes


def suggest_chrom(chrom: str, known) -> str | None:
    """The other naming convention of ``chrom`` ('chr1' <-> '1', 'chrM' <-> 'MT') if it is in ``known``."""
    candidates = []
    if chrom.startswith("chr"):
        bare = chrom[3:]
        candidates += [bare, "MT" if bare == "M" else bare]
    else:
        candidates += ["chr" + chrom, "chrM" if chrom == "MT" else "chr" + chrom]
    for c in candidates:
        if c in known:
            return c
    return None


def rename_chrom_command(path: str | Path, old: str, new: str) -> str:
    """A shell command (GNU sed; zcat for gzip) that writes a copy of a BED/GTF/TSV file next to it
    with chromosome ``old`` named ``new`` in column 1. When the two differ by the 'chr' prefix,
    the command adds it to every numbered, X, Y and M chromosome without it (or removes it from
    every line), so one command fixes every chromosome of the file. Other lines are kept."""
    from urllib.parse import urlparse

    from creator.errors import downloaded_from

    source = downloaded_from(path)  # the file the user configured, rather than the downloaded copy
    path = Path(urlparse(source).path) if source else Path(path)
    gz = path.suffix in (".gz", ".bgz")
    stem = path.name[: -len(path.suffix)] if gz else path.name
    base, dot, ext = stem.rpartition(".")
    renamed = f"{base}.renamed.{ext}" if dot else f"{stem}.renamed"
    if new == "chr" + old:  # lines already named with 'chr' are left alone
        sed = "sed -E 's/^([0-9]+|X|Y|M)\\t/chr\\1\\t/'"
    elif old == "chr" + new:
        sed = "sed 's/^chr//'"
    else:
        sed = f"sed 's/^{old}\\t/{new}\\t/'"
    return f"zcat {path.name} | {sed} > {renamed}" if gz else f"{sed} {path.name} > {renamed}"


def check_chrom(chrom: str, known, *, path, line, what: str) -> None:
    """Stop when ``chrom`` (read from ``path``) is not in ``known`` (the chromosomes of ``what``);
    when only the naming differs (chr1 vs 1) the fix renames the file's lines."""
    if chrom in known:
        return
    alt = suggest_chrom(chrom, known)
    if alt and what == "FASTA":
        fix = (f"the FASTA names it '{alt}': rename its sequence (e.g. sed 's/^>{alt}$/>{chrom}/' on the "
               "FASTA) or use a FASTA with the same chromosome names as the cCREs")
    elif alt:
        fix = (f"the {what} names it '{alt}': rename the chromosomes of this file "
               f"({rename_chrom_command(path, chrom, alt)}, then point the config at the renamed file), "
               f"or use a {what} with the same names")
    else:
        fix = f"remove the line or use a {what} that has '{chrom}'"
    raise InputError(f"chromosome '{chrom}' is not in the {what}", path=path, line=line, fix=fix)


def read_bed(path: str | Path, *, chrom_sizes: dict[str, int] | None = None, require_sorted: bool = False,
             what: str = "BED") -> pd.DataFrame:
    """Read a BED file (BED3 or more; ENCODE cCRE BED with accessions and class in columns 4-6).

    Returns columns ``chrom, start, end, name, class, line`` (``line``: 1-based line number in the
    file). Malformed lines, ``start >= end``, negative starts, coordinates past the chromosome end
    and (with ``require_sorted``) unsorted lines raise :class:`InputError` naming the line.
    """
    path = Path(path)
    chroms, starts, ends, names, classes, lines = [], [], [], [], [], []
    prev: tuple[str, int] | None = None
    seen_chroms: set[str] = set()
    for lineno, f in _data_lines(path):
        if len(f) < 3:
            spaced = len(f) == 1 and len(f[0].split()) >= 3
            raise InputError(f"{what} line has {len(f)} field(s), needs at least 3 (chrom start end)",
                             path=path, line=lineno,
                             fix="separate the fields with tabs, not spaces" if spaced else
                             "every line needs at least 3 tab-separated columns: chromosome, start, end")
        chrom, s, e = f[0], f[1], f[2]
        try:
            start, end = int(s), int(e)
        except ValueError:
            raise InputError(f"start/end {s!r}/{e!r} are not integers", path=path, line=lineno,
                             fix="columns 2 and 3 must be 0-based integer coordinates") from None
        if start < 0 or end <= start:
            raise InputError(f"bad interval {chrom}:{start}-{end} (need 0 <= start < end)", path=path,
                             line=lineno, fix="fix or remove the line")
        if chrom_sizes is not None:
            check_chrom(chrom, chrom_sizes, path=path, line=lineno, what="chrom.sizes")
            if end > chrom_sizes[chrom]:
                raise InputError(f"interval {chrom}:{start}-{end} runs past the chromosome end "
                                 f"({chrom_sizes[chrom]})", path=path, line=lineno,
                                 fix="check that the BED and chrom.sizes are of the same assembly")
        if require_sorted and prev is not None:
            if chrom != prev[0] and chrom in seen_chroms or chrom == prev[0] and start < prev[1]:
                raise InputError(f"{what} is not sorted: {chrom}:{start} comes after {prev[0]}:{prev[1]}",
                                 path=path, line=lineno,
                                 fix=f"sort it (sort -k1,1 -k2,2n {path.name}) or set reference.sort_input: true")
        seen_chroms.add(chrom)
        prev = (chrom, start)
        name = f[3] if len(f) > 3 and f[3] not in ("", ".") else f"{chrom}:{start}-{end}"
        klass = "."
        if len(f) >= 6 and f[5] not in ("+", "-", "."):
            klass = f[5]  # ENCODE SCREEN cCRE BED: chrom start end EH38D EH38E class
        chroms.append(chrom); starts.append(start); ends.append(end)
        names.append(name); classes.append(klass); lines.append(lineno)
    if not chroms:
        raise InputError(f"{what} has no intervals", path=path, fix="give a non-empty BED file")
    return pd.DataFrame({
        "chrom": pd.Series(chroms, dtype=object), "start": np.asarray(starts, np.int64),
        "end": np.asarray(ends, np.int64), "name": pd.Series(names, dtype=object),
        "class": pd.Series(classes, dtype=object), "line": np.asarray(lines, np.int64),
    })


_ATTR_RE = re.compile(r'(\S+)\s+"([^"]*)"')


def read_genes_gtf(path: str | Path) -> pd.DataFrame:
    """Genes from a GTF (GENCODE/Ensembl): ``gene`` lines, or transcripts merged when there are none.

    Returns ``gene_id, symbol, chrom, start, end, strand, gene_type, line, ensembl_id`` (0-based
    half-open; gene ids without version).
    """
    path = Path(path)
    genes: dict[str, dict] = {}
    have_gene_lines = False
    for lineno, f in _data_lines(path):
        if len(f) < 9:
            raise InputError(f"GTF line has {len(f)} fields, needs 9", path=path, line=lineno,
                             fix="use a tab-separated GTF (GENCODE/Ensembl)")
        feature = f[2]
        if feature not in ("gene", "transcript"):
            continue
        if feature == "gene":
            have_gene_lines = True
        elif have_gene_lines:
            continue
        attrs = dict(_ATTR_RE.findall(f[8]))
        if "gene_id" not in attrs:
            raise InputError("GTF line has no gene_id attribute", path=path, line=lineno,
                             fix='every line needs gene_id "..."')
        try:
            start, end = int(f[3]) - 1, int(f[4])
        except ValueError:
            raise InputError("GTF start/end are not integers", path=path, line=lineno, fix="fix the line") from None
        if f[6] not in ("+", "-"):
            raise InputError(f"strand {f[6]!r} is not + or -", path=path, line=lineno, fix="genes need a strand")
        gid = attrs["gene_id"]
        rec = genes.get(gid)
        if feature == "gene" and rec is not None and rec["feature"] == "gene":
            raise InputError(f"gene_id {gid} is duplicated (first on line {rec['line']})", path=path,
                             line=lineno, fix="keep one gene line per gene_id")
        if rec is None or (feature == "gene" and rec["feature"] != "gene"):
            genes[gid] = dict(gene_id=gid, symbol=attrs.get("gene_name", gid), chrom=f[0], start=start,
                              end=end, strand=f[6],
                              gene_type=attrs.get("gene_type", attrs.get("gene_biotype", ".")),
                              line=lineno, feature=feature)
        else:  # merge transcripts of one gene
            rec["start"] = min(rec["start"], start)
            rec["end"] = max(rec["end"], end)
    if not genes:
        raise InputError("GTF has no gene or transcript lines", path=path, fix="give a gene annotation GTF")
    df = pd.DataFrame(list(genes.values())).drop(columns="feature")
    df["gene_id"] = df["gene_id"].map(strip_version)
    df["ensembl_id"] = df["gene_id"].where(df["gene_id"].str.startswith("ENS"), None)
    return df


def read_genes_bed(path: str | Path) -> pd.DataFrame:
    """Genes from BED6+ (``chrom start end name score strand [Ensembl_ID] [gene_type]``).

    The name (column 4) is the gene id and must be unique; the Ensembl id, when given, is kept as
    ``ensembl_id`` (several RefSeq loci can share one). TSS at ``start`` on + and ``end - 1`` on -.
    A header line starting with '#' is skipped."""
    path = Path(path)
    rows = []
    for lineno, f in _data_lines(path):
        if len(f) < 6:
            raise InputError(f"gene BED line has {len(f)} fields, needs 6 (chrom start end name score strand)",
                             path=path, line=lineno, fix="use BED6 with the gene name in column 4 and strand in 6")
        try:
            start, end = int(f[1]), int(f[2])
        except ValueError:
            raise InputError("start/end are not integers", path=path, line=lineno, fix="fix the line") from None
        if end <= start or start < 0:
            raise InputError(f"bad interval {f[0]}:{start}-{end}", path=path, line=lineno, fix="fix the line")
        if f[5] not in ("+", "-"):
            raise InputError(f"strand {f[5]!r} is not + or -", path=path, line=lineno, fix="genes need a strand")
        ens = f[6] if len(f) > 6 and f[6].startswith("ENS") else None
        gtype = f[7] if len(f) > 7 else (f[6] if len(f) > 6 and not f[6].startswith("ENS") else ".")
        rows.append(dict(gene_id=f[3], symbol=f[3], ensembl_id=strip_version(ens) if ens else None,
                         chrom=f[0], start=start, end=end, strand=f[5], gene_type=gtype, line=lineno))
    if not rows:
        raise InputError("gene BED has no genes", path=path, fix="give a non-empty gene BED")
    return pd.DataFrame(rows)


def strip_version(gene_id: str) -> str:
    """ENSG00000123.4 -> ENSG00000123 (PAR_Y suffixes kept)."""
    if gene_id.startswith("ENS") and "." in gene_id:
        head, _, tail = gene_id.partition(".")
        return head + tail[tail.find("_"):] if "_" in tail else head
    return gene_id


def read_expression(path: str | Path) -> pd.DataFrame:
    """An expression table -> DataFrame ``gene_id, symbol, tpm`` (either key may be all missing).

    Accepts the ENCODE RSEM gene quantification (header with ``gene_id`` and ``TPM``; versions
    are stripped), a table with a header naming ``gene_id`` and/or a symbol column
    (``symbol``/``gene_name``/``gene``/``name``) and ``TPM``, or two columns without header
    (``symbol<TAB>TPM`` as in the ABC example data, or ``ENSG...<TAB>TPM``).
    """
    path = Path(path)
    fix = "give an ENCODE gene quantification TSV or a 'symbol<TAB>TPM' table"
    with open_text(path) as fh:
        first_line = next((ln for ln in fh if ln.strip()), "")
    if not first_line:
        raise InputError("the expression table is empty", path=path, fix=fix)
    first = first_line.rstrip("\n").split("\t")
    has_header = len(first) >= 2 and not _is_number(first[-1] if len(first) == 2 else first[1])
    gene_id = symbol = None
    if has_header:
        df = pd.read_csv(path, sep="\t", dtype=str)
        cols = {c.lower(): c for c in df.columns}
        tpm_col = cols.get("tpm")
        if tpm_col is None:
            raise InputError(f"no TPM column (columns: {', '.join(df.columns)})", path=path, line=1,
                             fix="give an ENCODE gene quantification TSV or a 'symbol<TAB>TPM' table")
        if "gene_id" in cols:
            gene_id = df[cols["gene_id"]].astype(str)
        sym = next((cols[c] for c in ("symbol", "gene_name", "gene", "name") if c in cols), None)
        if sym is not None:
            symbol = df[sym].astype(str)
        if gene_id is None and symbol is None:
            raise InputError("no gene_id or symbol column", path=path, line=1,
                             fix="name the gene column gene_id (Ensembl) or symbol")
        if df.empty:
            raise InputError("the expression table has a header but no rows", path=path, line=1, fix=fix)
        tpm = df[tpm_col]
        offset = 2
    else:
        df = pd.read_csv(path, sep="\t", header=None, dtype=str)
        if df.shape[1] != 2:
            raise InputError(f"{df.shape[1]} columns without a header", path=path, line=1,
                             fix="use 'symbol<TAB>TPM' or add a header naming gene_id/symbol and TPM")
        key = df[0].astype(str)
        if key.str.startswith("ENS").mean() > 0.5:
            gene_id = key
        else:
            symbol = key
        tpm = df[1]
        offset = 1
    values = pd.to_numeric(tpm, errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"TPM {tpm.iloc[i]!r} is not a non-negative number", path=path, line=i + offset,
                         fix="TPM values must be numbers >= 0")
    n = len(values)
    return pd.DataFrame({
        "gene_id": gene_id.map(strip_version) if gene_id is not None else pd.Series([None] * n, dtype=object),
        "symbol": symbol if symbol is not None else pd.Series([None] * n, dtype=object),
        "tpm": values.astype(float).to_numpy(),
    })


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# atomic outputs


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove ``.{name}.<random>.tmp`` files and directories next to ``dest``: what a killed job
    left (a job that is killed runs no cleanup). Called when the output is written again; the
    workflow never runs two jobs for one output at once. Returns what was removed."""
    dest = Path(dest)
    pattern = re.compile(r"^\." + re.escape(dest.name) + r"\.[A-Za-z0-9_]+\.tmp$")
    removed = []
    if not dest.parent.is_dir():
        return removed
    for p in dest.parent.iterdir():
        if pattern.match(p.name):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        import logging

        logging.getLogger(__name__).info("removed %s (left by an interrupted run)",
                                         ", ".join(str(p) for p in removed))
    return removed


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest`` (write a file or a directory there); on success
    rename it onto ``dest`` (replacing it).

    On error the temporary path is removed and ``dest`` is untouched, so a killed or failed job
    never leaves a half-written output under the final name; what a killed job left
    (``.{name}.<random>.tmp``) is removed when the output is written again.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    target = tmp / dest.name
    try:
        yield target
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(target, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(df: pd.DataFrame, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp, index=False)


def write_tsv(df: pd.DataFrame, dest: str | Path, **kwargs) -> None:
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kwargs)


def name_path_pairs(items: list[str], flag: str, example: str = "DNase=dnase.bigWig") -> dict[str, str]:
    """``["DNase=a.bigWig", ...]`` from a repeatable ``--flag NAME=PATH`` option -> ``{name: path}``
    (a name given twice is an error: which path was meant is unclear)."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{flag} {item!r} is not NAME=PATH", fix=f"e.g. {flag} {example}")
        if name in out and out[name] != path:
            raise InputError(f"{flag} names {name} twice ({out[name]} and {path})", fix=f"give {name} once")
        out[name] = path
    return out


def json_safe(obj):
    """``obj`` with numpy scalars and arrays, tuples and paths made JSON types; NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(obj, dest: str | Path, *, indent: int = 1) -> None:
    """:func:`json_safe` of ``obj`` as JSON (keys in insertion order), written atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(json_safe(obj), indent=indent, sort_keys=False) + "\n")


# ---------------------------------------------------------------------------------------------
# tables with a '#' header, bigWig tracks


def table_header(path: str | Path) -> list[str]:
    """The column names of a tab-separated table (plain, gzip or BGZF) from its first line, a leading
    ``#`` removed: indexed tables (``tabix``, BEDPE) mark their header line with it so that it is
    skipped as a comment. ``[]`` for an empty file."""
    with open_text(path) as fh:
        first = fh.readline().rstrip("\n\r")
    if not first:
        return []
    names = first.split("\t")
    names[0] = names[0].removeprefix("#")
    return names


def read_table(path: str | Path, **kwargs):
    """``pandas.read_csv`` of a tab-separated table whose first line is its header, with or without a
    leading ``#`` (:func:`table_header`); ``kwargs`` go to pandas (``usecols``, ``dtype``,
    ``chunksize``, ...). The one reader of the workflow's link tables (``links.tsv.gz``)."""
    names = table_header(path)
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return pd.read_csv(path, sep="\t", header=None, skiprows=1, names=names,
                       compression="gzip" if gz else None, **kwargs)


def write_bigwig(dest: str | Path, chrom_sizes: list[tuple[str, int]], track: pd.DataFrame) -> int:
    """A bigWig of ``track`` (columns ``chrom start end value``, sorted in ``chrom_sizes`` order, then by
    start, not overlapping) with the header ``chrom_sizes`` (name, length). Rows whose value is not
    finite are left out (a bigWig has no NaN: no data is no entry). Written atomically; returns the
    number of entries."""
    import pyBigWig

    order = {c: i for i, (c, _) in enumerate(chrom_sizes)}
    t = track[np.isfinite(track["value"].to_numpy(dtype=np.float64))]
    with atomic_path(dest) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(str(c), int(n)) for c, n in chrom_sizes], maxZooms=10)
            for chrom, part in t.groupby("chrom", sort=False, observed=True):
                if chrom not in order:
                    raise ValueError(f"bigWig track has chromosome {chrom!r}, not in its header")
                if len(part) == 0:
                    continue
                bw.addEntries([str(chrom)] * len(part), part["start"].to_numpy(np.int64).tolist(),
                              ends=part["end"].to_numpy(np.int64).tolist(),
                              values=part["value"].to_numpy(np.float64).tolist())
        finally:
            bw.close()
    return len(t)


def tabix_index(path: str | Path, *, seq_col: int = 0, start_col: int = 1, end_col: int = 2,
                zerobased: bool = True) -> Path:
    """Write the tabix index ``path.tbi`` of a BGZF table sorted by chromosome (contiguous) and start,
    whose header lines start with ``#`` (columns 0-based; ``zerobased``: BED-like half-open
    intervals). Written atomically after the table, so it is the newer file (htslib warns
    otherwise). Returns the index path."""
    import pysam

    dest = Path(f"{path}.tbi")
    with atomic_path(dest) as tmp:
        pysam.tabix_index(str(path), seq_col=seq_col, start_col=start_col, end_col=end_col, zerobased=zerobased,
                          meta_char="#", index=str(tmp), force=True, keep_original=True)
    return dest
