#!/usr/bin/env python
"""Rebuild the demo bigWigs from the region-level counts (run once; the outputs are committed).

    python scripts/prepare_demo.py [--shared ../shared/realdata/k562_chr22_hg38]
"""

import argparse
import shutil
from pathlib import Path

from creator.demo import bedgraph_to_bigwig

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "k562_chr22"
TRACKS = {"DNase": "dnase_ENCFF860XAE.region_counts.chr22.bedgraph",
          "H3K27ac": "h3k27ac_ENCFF790GFL.region_counts.chr22.bedgraph"}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, help="copy the source files from here first")
    args = ap.parse_args()
    if args.shared:
        for name in list(TRACKS.values()) + ["candidate_regions.chr22.bed", "refseq_genes.chr22.bed",
                                             "hg38.chrom.sizes", "GRCh38_unified_blacklist.bed",
                                             "K562_rnaseq_ENCFF934YBO.tpm.tsv"]:
            shutil.copy(args.shared / name, DEMO / name)
    for track, bedgraph in TRACKS.items():
        n = bedgraph_to_bigwig(DEMO / bedgraph, DEMO / "hg38.chrom.sizes", DEMO / f"K562.{track}.bigWig")
        print(f"{track}: {n} regions -> K562.{track}.bigWig")
