"""Contact matrices (Hi-C and attention maps): readers, assembly check, observed/expected pixels. (Part
of :mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from creator.errors import InputError
from creator.io import chrom_sort_key, open_text, suggest_chrom


log = logging.getLogger("creator.evaluate")


@dataclass
class Contacts:
    """Upper-triangle pixels of one chromosome: bin indices ``bin1 <= bin2`` from the chromosome
    start, float ``value``; ``n_bins`` bins of ``resolution`` bp."""

    chrom: str
    resolution: int
    n_bins: int
    bin1: np.ndarray
    bin2: np.ndarray
    value: np.ndarray
    source: str = ""

    def covered(self) -> np.ndarray:
        """Bins with at least one finite non-zero pixel."""
        ok = np.isfinite(self.value) & (self.value != 0)
        cov = np.zeros(self.n_bins, bool)
        cov[self.bin1[ok]] = True
        cov[self.bin2[ok]] = True
        return cov

    def coarsen(self, factor: int) -> "Contacts":
        """Sum pixels into bins ``factor`` times larger."""
        if factor == 1:
            return self
        n = -(-self.n_bins // factor)
        i, j = self.bin1 // factor, self.bin2 // factor
        ok = np.isfinite(self.value)
        key = i[ok] * n + j[ok]
        uniq, inv = np.unique(key, return_inverse=True)
        v = np.zeros(len(uniq))
        np.add.at(v, inv, self.value[ok])
        return Contacts(self.chrom, self.resolution * factor, n, uniq // n, uniq % n, v, self.source)

    def dense(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Symmetric dense matrix of bins ``[lo, hi)`` (for plots of a region)."""
        hi = self.n_bins if hi is None else hi
        m = (self.bin1 >= lo) & (self.bin2 < hi) & np.isfinite(self.value)
        mat = np.zeros((hi - lo, hi - lo))
        np.add.at(mat, (self.bin1[m] - lo, self.bin2[m] - lo), self.value[m])
        off = self.bin1[m] != self.bin2[m]
        np.add.at(mat, (self.bin2[m][off] - lo, self.bin1[m][off] - lo), self.value[m][off])
        return mat


class ContactSource:
    """A Hi-C (or attention) map: ``chroms`` (name -> length or None), ``resolution``,
    ``fetch(chrom) -> Contacts``."""

    chroms: dict
    resolution: int
    path: str
    assembly: str | None = None

    def fetch(self, chrom: str, max_bins: int | None = None) -> Contacts:  # pragma: no cover - interface
        """The pixels of ``chrom`` (with ``max_bins``: only those with ``bin2 - bin1 <= max_bins``)."""
        raise NotImplementedError


class CoolerSource(ContactSource):
    def __init__(self, uri: str, *, balance: bool | None = None, what: str = "Hi-C"):
        import cooler

        path = uri.split("::")[0]
        self.path = uri
        if not Path(path).exists():
            raise InputError(f"{what} file does not exist", path=path, fix="check the path")
        if "::" not in uri:
            try:
                groups = cooler.fileops.list_coolers(path)
            except Exception as exc:  # not HDF5
                raise InputError(f"not a cooler file ({exc})", path=path,
                                 fix="give a .cool, an .mcool::resolutions/N URI or a Juicer text dump "
                                     "with --hic-chrom and --hic-resolution") from None
            if len(groups) > 1 or (groups and groups[0] != "/"):
                raise InputError(f"multi-resolution cooler: choose one of {', '.join(groups)}", path=path,
                                 fix=f"append the resolution, e.g. {path}::{groups[0].lstrip('/')}")
        try:
            self.c = cooler.Cooler(uri)
        except Exception as exc:
            raise InputError(f"cannot open cooler ({exc})", path=uri,
                             fix="give a .cool or an existing .mcool::resolutions/N") from None
        if self.c.binsize is None:
            raise InputError("cooler has variable-size bins", path=uri, fix="give a fixed-resolution cooler")
        self.resolution = int(self.c.binsize)
        self.chroms = {str(k): int(v) for k, v in self.c.chromsizes.items()}
        self.assembly = self.c.info.get("genome-assembly")
        has_weight = "weight" in self.c.bins().columns
        if balance and not has_weight:
            log.warning("%s has no balancing weights: raw counts used", uri)
        self.balance = bool(has_weight if balance is None else balance and has_weight)

    def fetch(self, chrom: str, max_bins: int | None = None, *, block_bins: int = 2000) -> Contacts:
        """Read in row blocks of ``block_bins`` bins against the band ``max_bins`` beyond them, so a
        deep genome-wide map is never loaded whole."""
        off = int(self.c.offset(chrom))
        n = int(self.c.extent(chrom)[1]) - off
        mat = self.c.matrix(balance=self.balance, as_pixels=True, join=False)
        res = self.resolution
        parts = []
        for a in range(0, n, block_bins) if max_bins is not None else [0]:
            b = min(a + block_bins, n) if max_bins is not None else n
            hi = min(b + max_bins, n) if max_bins is not None else n
            px = mat.fetch((chrom, a * res, min(b * res, self.chroms[chrom])),
                           (chrom, a * res, min(hi * res, self.chroms[chrom])))
            i = px["bin1_id"].to_numpy(np.int64) - off
            j = px["bin2_id"].to_numpy(np.int64) - off
            v = (px["balanced"] if self.balance else px["count"]).to_numpy(float)
            keep = (i <= j) & (i >= a) & (i < b)       # each upper-triangle pixel once
            if max_bins is not None:
                keep &= j - i <= max_bins
            parts.append((i[keep], j[keep], v[keep]))
        i, j, v = (np.concatenate([p[k] for p in parts]) for k in range(3))
        return Contacts(chrom, self.resolution, n, i, j, v, self.path)


class JuicerTextSource(ContactSource):
    """``bin1 bin2 count`` per line (whitespace separated; bin1/bin2 = bin start coordinates in bp)
    for one chromosome ``chrom`` at ``resolution``; lines starting with '#' and a non-numeric first
    line (header) are skipped."""

    def __init__(self, path, *, chrom: str | None, resolution: int | None, length: int | None = None):
        self.path = str(path)
        if chrom is None or resolution is None:
            raise InputError("a Juicer text dump needs its chromosome and resolution", path=path,
                             fix="give --hic-chrom CHROM and --hic-resolution BP (e.g. 10000)")
        if not Path(path).exists():
            raise InputError("Hi-C file does not exist", path=path, fix="check the path")
        self.resolution = int(resolution)
        self.chrom = chrom
        self._data = None
        self.chroms = {chrom: length}

    def _load(self):
        if self._data is not None:
            return self._data
        with open_text(self.path) as fh:
            first = fh.readline()
        skip = 0
        if first and not re.match(r"^\s*[-+0-9.eE]+\s+[-+0-9.eE]+\s+[-+0-9.eEnNaA]+\s*$", first):
            skip = 1
        with open_text(self.path) as fh:
            df = pd.read_csv(fh, sep=r"\s+", header=None, comment="#", skiprows=skip, dtype=str,
                             engine="c")
        if df.shape[1] != 3:
            raise InputError(f"{df.shape[1]} columns, expected 3 (bin1 bin2 count)", path=self.path, line=1 + skip,
                             fix="give a Juicer 'dump observed NONE <file> <chr> <chr> BP <res>' text file")
        a = pd.to_numeric(df[0], errors="coerce")
        b = pd.to_numeric(df[1], errors="coerce")
        v = pd.to_numeric(df[2], errors="coerce")
        bad = a.isna() | b.isna() | df[2].isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"line {df.iloc[i].tolist()} is not 'bin1 bin2 count'", path=self.path,
                             line=i + 1 + skip, fix="numbers only, whitespace separated")
        a, b = a.to_numpy(np.int64), b.to_numpy(np.int64)
        off = (a % self.resolution != 0) | (b % self.resolution != 0) | (a < 0) | (b < 0)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(f"bin start {a[i]}/{b[i]} is not a non-negative multiple of --hic-resolution "
                             f"{self.resolution}", path=self.path, line=i + 1 + skip,
                             fix="give the resolution the dump was made at (bin1/bin2 are bin START coordinates in bp)")
        i, j = a // self.resolution, b // self.resolution
        self._data = (np.minimum(i, j), np.maximum(i, j), v.to_numpy(float))
        return self._data

    def fetch(self, chrom: str, max_bins: int | None = None) -> Contacts:
        if chrom != self.chrom:
            raise InputError(f"the Juicer dump holds {self.chrom}, not {chrom}", path=self.path,
                             fix="give the dump of the chromosome evaluated")
        i, j, v = self._load()
        length = self.chroms.get(chrom)
        top = int(j.max()) + 1 if len(j) else 0
        if length is not None and top * self.resolution > length + self.resolution:
            raise InputError(f"contacts reach {top * self.resolution:,} bp but {chrom} is {length:,} bp long: "
                             "the Hi-C dump is of another assembly (or chromosome)", path=self.path,
                             fix="use a Hi-C dump of the same assembly as the reference")
        n = max(top, -(-length // self.resolution) if length else 0)
        if max_bins is not None:
            keep = j - i <= max_bins
            i, j, v = i[keep], j[keep], v[keep]
        return Contacts(chrom, self.resolution, n, i, j, v, self.path)


def open_contacts(path, *, chrom: str | None = None, resolution: int | None = None, balance: bool | None = None,
                  length: int | None = None, what: str = "Hi-C") -> ContactSource:
    """A :class:`ContactSource` for a ``.cool``, ``.mcool::resolutions/N`` or a Juicer text dump
    (which needs ``chrom`` and ``resolution``). ``balance``: None = balanced when the cooler has
    weights; False = raw counts."""
    path = str(path)
    base = path.split("::")[0]
    is_hdf5 = False
    if Path(base).exists():
        with open(base, "rb") as fh:
            is_hdf5 = fh.read(8) == b"\x89HDF\r\n\x1a\n"
    if is_hdf5 or "::" in path or base.endswith((".cool", ".mcool")):
        return CoolerSource(path, balance=balance, what=what)
    return JuicerTextSource(path, chrom=chrom, resolution=resolution, length=length)


#: UCSC name -> GRC name of the same assembly (``genome-assembly`` attributes use either)
ASSEMBLY_SYNONYMS = {"hg38": "grch38", "hg19": "grch37", "mm10": "grcm38", "mm39": "grcm39"}


def assembly_name(name) -> str:
    """A comparable assembly name: lower case, the UCSC names mapped to the GRC ones."""
    a = str(name).strip().lower()
    return ASSEMBLY_SYNONYMS.get(a, a)


def check_assembly(ours: Mapping[str, int | None], theirs: ContactSource, needed: Iterable[str], *,
                   ours_name: str, our_assembly: str | None = None) -> list[str]:
    """The chromosomes of ``needed`` that ``theirs`` has; errors for another chromosome naming or
    assembly (a common chromosome of another length, or different ``genome-assembly`` metadata; UCSC
    and GRC names of one assembly agree: hg38 = GRCh38, hg19 = GRCh37, mm10 = GRCm38, mm39 = GRCm39)."""
    needed = list(dict.fromkeys(needed))
    known = lambda a: a is not None and str(a).lower() not in ("", "unknown", "none")  # noqa: E731
    if known(our_assembly) and known(theirs.assembly) and (
            assembly_name(our_assembly) != assembly_name(theirs.assembly)):
        raise InputError(f"the Hi-C map is of assembly {theirs.assembly!r} but {ours_name} is {our_assembly!r}",
                         path=theirs.path, fix="use a Hi-C map of the same assembly")
    present = [c for c in needed if c in theirs.chroms]
    if not present:
        alts = {c: suggest_chrom(c, theirs.chroms) for c in needed}
        alts = {c: a for c, a in alts.items() if a}
        if alts:
            c, a = next(iter(alts.items()))
            raise InputError(f"the Hi-C map names chromosomes differently ('{a}' for our '{c}')", path=theirs.path,
                             fix="rename the chromosomes of one side (e.g. cooler's --chrom-names or sed) so "
                                 "they agree")
        have = sorted(theirs.chroms, key=chrom_sort_key)
        raise InputError(f"the Hi-C map has none of the chromosomes {', '.join(needed)} "
                         f"(it has {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})", path=theirs.path,
                         fix="give a Hi-C map of the evaluated chromosomes (for a Juicer dump: --hic-chrom)")
    for c in present:
        a, b = ours.get(c), theirs.chroms.get(c)
        if a and b and abs(int(a) - int(b)) > max(theirs.resolution, 1) and not (
                isinstance(theirs, JuicerTextSource)):
            raise InputError(f"{c} is {int(b):,} bp in the Hi-C map but {int(a):,} bp in {ours_name}: "
                             "another assembly", path=theirs.path,
                             fix="use a Hi-C map of the same assembly as the reference (e.g. GRCh38 with GRCh38)")
    return present


def oe_pixels(a: Contacts, b: Contacts, max_distance_bp: float, *, a_absent_is_missing: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """Observed/expected of two maps of one chromosome at one resolution, over the pixels
    ``0 < j - i <= max_distance / resolution`` whose two bins both maps cover; expected = the mean
    of that diagonal over those pixels (zeros included). With ``a_absent_is_missing`` only the
    pixels present in ``a`` are used (the attention cooler stores no pixel where no gene window
    holds both bins: no data, not zero); absent Hi-C pixels are zeros."""
    if a.resolution != b.resolution:
        raise ValueError("maps of different resolutions: coarsen first")
    n = max(a.n_bins, b.n_bins)
    D = max(1, int(max_distance_bp // a.resolution))
    cov = np.zeros(n, bool)
    cov[:a.n_bins] = a.covered()
    cb = np.zeros(n, bool)
    cb[:b.n_bins] = b.covered()
    cov &= cb

    def band(c: Contacts) -> np.ndarray:
        d = c.bin2 - c.bin1
        m = (d <= D) & np.isfinite(c.value) & (c.bin1 < n)
        flat = np.bincount(d[m] * n + c.bin1[m], weights=c.value[m], minlength=(D + 1) * n)
        return flat.reshape(D + 1, n).astype(np.float32)

    ba, bb = band(a), band(b)
    present = None
    if a_absent_is_missing:
        ones = Contacts(a.chrom, a.resolution, a.n_bins, a.bin1, a.bin2,
                        np.isfinite(a.value).astype(float), a.source)
        present = band(ones) > 0
    xs, ys = [], []
    for d in range(1, D + 1):
        if d >= n:
            break
        i = np.arange(n - d)
        keep = cov[i] & cov[i + d]
        if present is not None:
            keep &= present[d, i]
        if keep.sum() < 2:
            continue
        va = ba[d, i[keep]].astype(float)
        vb = bb[d, i[keep]].astype(float)
        ea, eb = va.mean(), vb.mean()
        if ea <= 0 or eb <= 0:
            continue
        xs.append(va / ea)
        ys.append(vb / eb)
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)


def _common_resolution(a: Contacts, b: Contacts) -> tuple[Contacts, Contacts]:
    if a.resolution == b.resolution:
        return a, b
    hi, lo = max(a.resolution, b.resolution), min(a.resolution, b.resolution)
    if hi % lo:
        raise InputError(f"the attention ({a.resolution} bp) and Hi-C ({b.resolution} bp) resolutions are not "
                         "multiples of each other", path=b.source,
                         fix="give a Hi-C resolution that is a multiple or divisor of the attention resolution")
    if a.resolution < hi:
        a = a.coarsen(hi // a.resolution)
    if b.resolution < hi:
        b = b.coarsen(hi // b.resolution)
    return a, b
