"""Demo data preparation: region-level read counts (bedGraph) -> bigWig, so the demo reads
bigWigs through the same code path as a real run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from creator.errors import InputError
from creator.io import atomic_path, read_chrom_sizes


def bedgraph_to_bigwig(bedgraph, chrom_sizes, out, *, per_kb: bool = True) -> int:
    """Write a bigWig with a constant value over each bedGraph region.

    With ``per_kb`` the value is count / region length * 1000 (reads per kb), so that regions of
    different lengths are comparable per base. Overlapping regions are an error; the bedGraph must
    be sorted. Returns the number of regions written.
    """
    import pyBigWig

    sizes = read_chrom_sizes(chrom_sizes)
    rows = []
    with open(bedgraph) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track")):
                continue
            f = line.split()
            if len(f) != 4:
                raise InputError(f"bedGraph line has {len(f)} fields, needs 4", path=bedgraph, line=lineno,
                                 fix="use chrom start end value")
            rows.append((f[0], int(f[1]), int(f[2]), float(f[3]), lineno))
    chroms_seen: list[str] = []
    prev_end = {}
    for c, s, e, _, lineno in rows:
        if c not in sizes:
            raise InputError(f"chromosome {c} not in chrom.sizes", path=bedgraph, line=lineno,
                             fix="use the chrom.sizes of the same assembly")
        if chroms_seen and c != chroms_seen[-1] and c in chroms_seen or s < prev_end.get(c, 0):
            raise InputError(f"bedGraph is unsorted or overlapping at {c}:{s}", path=bedgraph, line=lineno,
                             fix=f"sort -k1,1 -k2,2n {Path(bedgraph).name} and merge overlapping regions")
        if not chroms_seen or chroms_seen[-1] != c:
            chroms_seen.append(c)
        prev_end[c] = e
    with atomic_path(out) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        bw.addHeader([(c, sizes[c]) for c in sizes])
        for c in chroms_seen:
            sel = [r for r in rows if r[0] == c]
            starts = [r[1] for r in sel]
            ends = [r[2] for r in sel]
            vals = [r[3] * (1000.0 / (r[2] - r[1]) if per_kb else 1.0) for r in sel]
            bw.addEntries([c] * len(sel), starts, ends=ends, values=np.asarray(vals, dtype=float).tolist())
        bw.close()
    return len(rows)


def add_cli(sub) -> None:
    p = sub.add_parser("bedgraph-to-bigwig", help="region counts (bedGraph) -> bigWig (demo data)")
    p.add_argument("--bedgraph", required=True)
    p.add_argument("--chrom-sizes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--raw", action="store_true", help="write counts as they are, not per kb")
    p.set_defaults(func=lambda a: bedgraph_to_bigwig(a.bedgraph, a.chrom_sizes, a.out, per_kb=not a.raw) and 0)
