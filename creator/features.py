"""Features stage: per cell type, the per-base signal of CREaTor's 16 tracks over every cCRE,
averaged to ``resolution_bp`` bins, transformed, stored as a chunked float16 zarr array
``[n_ccre, element_bp // resolution_bp, 16]`` (layout: :mod:`creator.formats`).

Extraction streams over blocks of ``block_ccres`` sorted cCREs. Within a block, cCREs that lie
close together are merged into spans and each span is read from the bigWig with one call
(``values(..., numpy=True)``), then every cCRE's bases are gathered from it with one fancy index:
a few large reads instead of one small read per cCRE and track. Memory holds one block.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from creator.config import load_config
from creator.errors import InputError, display_path
from creator.formats import TRACK_INDEX, TRACKS, N_TRACKS, reference_outputs
from creator.io import atomic_path, chrom_sort_key, suggest_chrom

log = logging.getLogger(__name__)

#: cCREs closer than this are read from the bigWig in one span.
SPAN_GAP_BP = 20_000
#: Longest span read at once (bases).
MAX_SPAN_BP = 2_000_000

TRANSFORMS = {
    "none": lambda x: x,
    "log1p": lambda x: np.log1p(np.maximum(x, 0.0)),
    "arcsinh": np.arcsinh,
}


class BigWigTrack:
    """One bigWig with the chromosome-name policy applied."""

    def __init__(self, path: str | Path, *, map_chrom_names: bool, missing_chrom: str):
        import pyBigWig

        self.path = str(path)
        if not Path(self.path).exists():
            raise InputError("no such file", path=path, fix="check the bigWig's path in the sample sheet")
        try:
            self.bw = pyBigWig.open(self.path)
        except RuntimeError:
            self.bw = None
        if self.bw is None or not self.bw.isBigWig():
            raise InputError("not a readable bigWig (a truncated or corrupt file, or another format)",
                             path=path, fix="fetch it again (check its md5), or convert a bedGraph "
                                            "with bedGraphToBigWig")
        self.chroms = self.bw.chroms()
        self.map_chrom_names = map_chrom_names
        self.missing_chrom = missing_chrom
        self.zero_chroms: set[str] = set()  # cCRE chromosomes the bigWig lacks (their cCREs get zeros)

    def resolve(self, chrom: str) -> str | None:
        """The bigWig's name for ``chrom``; None when it lacks it (zeros, warned) or an error."""
        if chrom in self.chroms:
            return chrom
        alt = suggest_chrom(chrom, self.chroms)
        if alt is not None:
            if self.map_chrom_names:
                return alt
            raise InputError(f"the bigWig has no chromosome '{chrom}' but has '{alt}'", path=self.path,
                             fix="set features.map_chrom_names: true to map the names, or rewrite the bigWig")
        if self.missing_chrom == "error":
            raise InputError(f"the bigWig has no chromosome '{chrom}'", path=self.path,
                             fix="give a bigWig that covers every cCRE chromosome, or set features.missing_chrom: warn")
        self.zero_chroms.add(chrom)  # warned once per track when the extraction ends
        return None

    def close(self):
        self.bw.close()


def _spans(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Group sorted intervals into spans: list of (first, last_exclusive, span_start, span_end)."""
    out = []
    i = 0
    n = len(starts)
    while i < n:
        j = i + 1
        s0, e0 = starts[i], ends[i]
        while j < n and starts[j] - e0 <= SPAN_GAP_BP and max(e0, ends[j]) - s0 <= MAX_SPAN_BP:
            e0 = max(e0, ends[j])
            j += 1
        out.append((i, j, int(s0), int(e0)))
        i = j
    return out


def read_block(track: BigWigTrack, chrom: str, starts: np.ndarray, element_bp: int) -> np.ndarray:
    """Per-base values ``[n, element_bp]`` (float32, NaN -> 0) for same-chromosome sorted intervals."""
    out = np.zeros((len(starts), element_bp), dtype=np.float32)
    name = track.resolve(chrom)
    if name is None:
        return out
    size = track.chroms[name]
    offs = np.arange(element_bp)
    for a, b, s, e in _spans(starts, starts + element_bp):
        e_clip = min(e, size)
        if s >= e_clip:
            continue
        # one read per span; bases past the bigWig's chromosome end (and one guard base) stay 0
        vals = np.zeros(e - s + 1, dtype=np.float32)
        got = vals[:e_clip - s]
        got[:] = track.bw.values(name, s, e_clip, numpy=True)
        got[np.isnan(got)] = 0.0
        idx = (starts[a:b] - s)[:, None] + offs[None, :]
        out[a:b] = vals[np.minimum(idx, len(vals) - 1)]
    return out


def extract_features(*, reference_dir, tracks: dict[str, str | Path], out, resolution_bp: int = 10,
                     transform: str = "log1p", block_ccres: int = 1024, map_chrom_names: bool = False,
                     missing_chrom: str = "warn", cell_type: str = "") -> dict:
    """Write ``out`` (a zarr store): float16 ``[n_ccre, element_bp // resolution_bp, 16]``.

    ``tracks`` maps track names of :data:`creator.formats.TRACKS` to bigWig paths; absent tracks
    are zeros. Values are the mean of the per-base signal in each bin, then ``transform``.
    A bigWig that lacks a cCRE chromosome gives zeros there (``missing_chrom: warn``: one warning
    per track) and is not listed in the ``present_tracks`` attribute: ``zero_chromosomes`` names
    the chromosomes of such tracks (a track lacking all of them is a missing track).
    """
    import zarr

    reference_dir = Path(reference_dir)
    unknown = set(tracks) - set(TRACKS)
    if unknown:
        raise InputError(f"unknown track(s) {', '.join(sorted(unknown))}", fix="use names from " + ", ".join(TRACKS))
    ref_files = reference_outputs(reference_dir)
    ccres = pd.read_parquet(ref_files["ccres"], columns=["chrom", "start", "end"])
    with np.load(ref_files["windows"]) as w:
        element_bp = int(w["element_bp"])
        rid = str(w["reference_id"])
    if element_bp % resolution_bp:
        raise InputError(f"resolution_bp {resolution_bp} does not divide element_bp {element_bp}",
                         fix="pick a divisor of element_bp")
    n_bins = element_bp // resolution_bp
    n = len(ccres)
    opened = {t: BigWigTrack(p, map_chrom_names=map_chrom_names, missing_chrom=missing_chrom)
              for t, p in tracks.items()}
    fn = TRANSFORMS[transform]
    chrom = ccres["chrom"].to_numpy()
    start = ccres["start"].to_numpy(np.int64)
    # a cCRE clipped at a chromosome end is shorter than element_bp: its missing bases stay 0
    stats = {t: [0.0, 0] for t in opened}
    with atomic_path(out) as tmp:
        arr = zarr.create_array(store=str(tmp), shape=(n, n_bins, N_TRACKS), dtype="float16",
                                chunks=(min(block_ccres, max(n, 1)), n_bins, N_TRACKS), fill_value=0.0,
                                attributes=dict(tracks=list(TRACKS), transform=transform,
                                                resolution_bp=resolution_bp, element_bp=element_bp,
                                                reference_id=rid, cell_type=cell_type,
                                                present_tracks=[],  # set below
                                                bigwigs={t: str(p) for t, p in tracks.items()},
                                                statistic="mean"))
        for b0 in range(0, n, block_ccres):
            b1 = min(n, b0 + block_ccres)
            block = np.zeros((b1 - b0, n_bins, N_TRACKS), dtype=np.float32)
            chroms_here = chrom[b0:b1]
            cuts = np.flatnonzero(chroms_here[1:] != chroms_here[:-1]) + 1
            for s, e in zip(np.r_[0, cuts], np.r_[cuts, b1 - b0]):
                for t, bw in opened.items():
                    per_base = read_block(bw, chroms_here[s], start[b0 + s:b0 + e], element_bp)
                    binned = per_base.reshape(e - s, n_bins, resolution_bp).mean(axis=2)
                    stats[t][0] += float(binned.sum()); stats[t][1] += binned.size
                    block[s:e, :, TRACK_INDEX[t]] = fn(binned)
            arr[b0:b1] = block.astype(np.float16)
        zeros = {t: sorted(bw.zero_chroms, key=chrom_sort_key) for t, bw in opened.items() if bw.zero_chroms}
        all_chroms = set(chrom)
        present = [t for t in TRACKS if t in opened and t not in zeros]
        absent = [t for t in TRACKS if t not in opened or set(zeros.get(t, ())) >= all_chroms]
        arr.update_attributes(dict(present_tracks=present, zero_chromosomes=zeros))
    for t, chroms in zeros.items():
        n_zero = int(np.isin(chrom, chroms).sum())
        log.warning("%s: %s bigWig %s has no chromosome %s: %d of %d cCREs get zeros for this track. "
                    "Fix: if that is not expected, give a bigWig covering %s (features.missing_chrom: error "
                    "stops instead)", cell_type or "features", t, display_path(opened[t].path),
                    ", ".join(f"'{c}'" for c in chroms), n_zero, n, ", ".join(chroms))
    for bw in opened.values():
        bw.close()
    summary = dict(cell_type=cell_type, n_ccres=n, n_bins=n_bins, present=present, missing=absent,
                   zero_chromosomes=zeros, mean_raw_signal={t: s / max(c, 1) for t, (s, c) in stats.items()})
    log.info("features %s: %s", cell_type, summary)
    if summary["missing"]:
        log.warning("features %s: no bigWig for %d of %d tracks (%s): their features are zeros", cell_type,
                    len(summary["missing"]), N_TRACKS, ", ".join(summary["missing"]))
    return summary


def open_features(path) -> "zarr.Array":
    import zarr

    path = Path(path)
    if not path.exists():
        raise InputError("features file not found", path=path, fix="run the features rule for this cell type")
    return zarr.open_array(str(path), mode="r")


def add_cli(sub) -> None:
    p = sub.add_parser("features", help="per-cell-type signal tensor from bigWigs")
    p.add_argument("--config", required=True)
    p.add_argument("--reference", required=True, help="reference output directory")
    p.add_argument("--cell", required=True)
    p.add_argument("--track", action="append", default=[], metavar="NAME=BIGWIG",
                   help="a track and its bigWig (repeatable); absent tracks are zeros")
    p.add_argument("--out", required=True, help="output zarr path")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    cfg = load_config(args.config)["features"]
    from creator.io import name_path_pairs

    tracks = name_path_pairs(args.track, "--track")
    extract_features(reference_dir=args.reference, tracks=tracks, out=args.out,
                     resolution_bp=cfg["resolution_bp"], transform=cfg["transform"],
                     block_ccres=cfg["block_ccres"], map_chrom_names=cfg["map_chrom_names"],
                     missing_chrom=cfg["missing_chrom"], cell_type=args.cell)
    return 0
