#!/usr/bin/env python
"""Rebuild the demo inputs from the copied real data (run once; the outputs are committed).

    python scripts/prepare_demo.py [--shared ../shared/realdata]

Copies (with ``--shared``) the chr22 and chr16 source files into ``resources/demo/k562_chr22`` and
``resources/demo/k562_chr16`` (and the chr16 CRISPRi pairs into ``resources/demo/crispr``), then
writes the two-chromosome demo inputs into ``resources/demo/k562``: the cCREs and genes of chr16
and chr22 in one BED each, and one bigWig per track (DNase, H3K27ac) from the region-level read
counts (reads per kb, constant over each region). See ``resources/demo/k562/PROVENANCE.md``.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from creator.demo import bedgraph_to_bigwig

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
CHR22 = {"DNase": "dnase_ENCFF860XAE.region_counts.chr22.bedgraph",
         "H3K27ac": "h3k27ac_ENCFF790GFL.region_counts.chr22.bedgraph",
         "ccres": "candidate_regions.chr22.bed", "genes": "refseq_genes.chr22.bed"}
CHR16 = {"DNase": "dnase.region_counts.chr16.bedgraph", "H3K27ac": "h3k27ac.region_counts.chr16.bedgraph",
         "ccres": "candidate_regions.chr16.bed", "genes": "refseq_genes.chr16.bed"}
SOURCES = ((DEMO / "k562_chr16", CHR16), (DEMO / "k562_chr22", CHR22))  # in chromosome order


def concat(parts, dest: Path, *, header: bool = False) -> int:
    """Concatenate text files (keeping the first file's ``#`` header line when ``header``)."""
    n = 0
    with open(dest, "w") as out:
        for k, part in enumerate(parts):
            for line in open(part):
                if line.startswith("#"):
                    if header and k == 0:
                        out.write(line)
                    continue
                out.write(line)
                n += 1
    return n


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, help="copy the source files from this realdata folder first")
    args = ap.parse_args()
    if args.shared:
        for name in [*CHR22.values(), "hg38.chrom.sizes", "GRCh38_unified_blacklist.bed",
                     "K562_rnaseq_ENCFF934YBO.tpm.tsv", "LICENSE.ABC-Enhancer-Gene-Prediction"]:
            shutil.copy(args.shared / "k562_chr22_hg38" / name, DEMO / "k562_chr22" / name)
        (DEMO / "k562_chr16").mkdir(exist_ok=True)
        for name in [*CHR16.values(), "abc_predictions.chr16.threshold0.02.tsv.gz",
                     "LICENSE.ABC-Enhancer-Gene-Prediction"]:
            shutil.copy(args.shared / "k562_chr16_hg38" / name, DEMO / "k562_chr16" / name)
        shutil.copy(args.shared / "k562_chr16_hg38" / "EPCrisprBenchmark_training_K562.chr16.GRCh38.tsv.gz",
                    DEMO / "crispr" / "EPCrisprBenchmark_training_K562.chr16.GRCh38.tsv.gz")
    out = DEMO / "k562"
    out.mkdir(exist_ok=True)
    n = concat([d / f["ccres"] for d, f in SOURCES], out / "candidate_regions.chr16_chr22.bed")
    print(f"cCREs: {n} -> candidate_regions.chr16_chr22.bed")
    n = concat([d / f["genes"] for d, f in SOURCES], out / "refseq_genes.chr16_chr22.bed", header=True)
    print(f"genes: {n} -> refseq_genes.chr16_chr22.bed")
    for track in ("DNase", "H3K27ac"):
        with tempfile.TemporaryDirectory() as tmp:
            bedgraph = Path(tmp) / f"{track}.bedgraph"
            concat([d / f[track] for d, f in SOURCES], bedgraph)
            n = bedgraph_to_bigwig(bedgraph, DEMO / "k562_chr22" / "hg38.chrom.sizes", out / f"K562.{track}.bigWig")
        print(f"{track}: {n} regions -> K562.{track}.bigWig")
