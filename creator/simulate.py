"""Synthetic input data with planted ground truth, deterministic from a seed.

``simulate(outdir, seed=7, ...)`` writes a small genome with everything the workflow reads (FASTA,
chrom.sizes, SCREEN-like cCREs, blacklist, GENCODE-like GTF, 16 bigWig tracks and an ENCODE RSEM
expression table per cell type) plus ``truth/`` with what was planted, so that tests can check that
the science works: planted element-gene links are recovered, expression of a held-out cell type is
predicted, and TAD boundaries are found.

The generative model
--------------------
*Genome.* ``n_chromosomes`` chromosomes ``chrS1``, ``chrS2``, ... of ``chrom_bp`` bases each: random
sequence (GC 0.41) with 10 kb of N at both ends, one internal N gap (20-50 kb, inside a domain) and a
few short N runs.

*Domains.* Each chromosome is cut into TAD-like domains of 150-600 kb. Every internal boundary
carries two CA-CTCF cCREs 600 bp either side of it: a reverse-motif site closing the domain on its
left and a forward-motif site opening the domain on its right (the CTCF core motif is planted in the
sequence in that orientation). Boundary sites are bound in every cell type (activity 0.85-1) and
the convergent pair at the two borders of a domain forms a planted loop. Domains insulate: planted
element-gene links never cross a boundary.

*Genes.* ``genes_per_mb`` genes per Mb, both strands, TSSs at least 5 kb apart and 5 kb from
boundaries; 2-8 exons (one when short); ~10% lncRNA. A promoter cCRE (PLS) is centred on every TSS. Genes are
housekeeping (~30%: promoter active in every cell type), cell-type-specific (~60%: promoter active in
each cell type with probability 0.55) or silent (~8%, at least one: promoter inactive everywhere and
no enhancer links, so they are expressed nowhere).

*cCREs.* ``ccres_per_mb`` cCREs per Mb in all (promoters and boundary sites included), 150-350 bp,
non-overlapping. The others are dELS (pELS within 2 kb of a TSS), CA, CA-CTCF, CA-H3K4me3, CA-TF and
TF. Each has an activity in [0, 1] per cell type: ~20% constitutive (0.5-1 everywhere), ~65%
cell-type-specific (each cell type active with a per-element probability 0.2-0.6, active levels
Beta(4, 2), inactive Beta(1, 12)) and ~15% inactive everywhere. Inactive elements carry polycomb
(H3K27me3) or heterochromatin (H3K9me3) marks when they are of that kind.

*Links.* Every enhancer-like cCRE has an intrinsic strength ``s ~ LogNormal(0, 1)`` (clipped to
[0.1, 10]) that also scales its enhancer marks (by ``sqrt(s)``), so strong enhancers are visible.
Candidates of a non-silent gene are the enhancer-like cCREs of its own domain within 200 kb of the
TSS (not promoters, boundary sites, blacklisted or never-active elements). With
``score = s * exp(-d / 250 kb)`` the planted links are the (at most 4) best candidates with
``score >= 2.5``, or the best one when none reaches it; ``effect = 0.35 * min(score, 6)``, so it
decays with distance, and every other pair has effect 0. Links depend on strength more than on
distance: the distance-only baseline is well short of them (AUROC about 0.7 within 250 kb).

*Expression.* For gene g in cell type c, ``drive = promoter_activity + sum_links effect * activity``
and the true ``log1p(TPM) = 8.5 * (1 - exp(-drive / 2.2))`` (0 for silent genes): the range is
about 0-8 as in real data. The RSEM table reports ``TPM = expm1(true + N(0, 0.2))`` (clipped at 0).
TPMs are not rescaled to sum to 1e6: the synthetic genes stand for a small part of a transcriptome.

*Tracks.* Each bigWig is a low background (a per-track level times per-kb log-normal noise) plus,
at every cCRE, a noisy (log-normal, sigma 0.25) amplitude that is a linear function of the
element's state: ``enh`` (activity times ``sqrt(s)`` of an enhancer-like element), ``prom``
(activity of a PLS or CA-H3K4me3 element), ``ctcf`` (binding of a CA-CTCF site),
``open = max(enh, prom, ctcf)`` and the repressed fractions ``(1 - open)`` of polycomb and
heterochromatin elements (:data:`TRACK_MODEL`). DNase, H3K27ac, EP300 and H3K4me1 are high at
active enhancers; H3K4me3, H3K9ac and POLR2A at active promoters; CTCF at boundary and CA-CTCF
sites; H3K27me3 / H3K9me3 at inactive elements; H3K36me3, H3K79me2 and H4K20me1 also cover the
bodies of expressed genes in proportion to expression.
Shapes are per base (in 5 bp steps): a peak at the element centre for DNase, CTCF, EP300 and
POLR2A; two nucleosome lobes flanking the centre for histone marks; a broad bump for repressive
marks. So a per-base (or 10 bp) extraction over the element sees the shape.

*Cell types and roles.* With the default five cell types: cellA-cellC train, cellD test (held out,
zero-shot, scored), cellE predict (no RNA-seq written). The second cell type lacks the tracks in
:data:`MISSING_TRACKS` (no bigWig, no sample-sheet row) to exercise "missing track = zeros".

*Blacklist.* Per chromosome one region inside a (free, unlinked) cCRE, which the reference stage must
remove, one region far from any cCRE and one overlapping the internal N gap.

Files: ``genome.fa`` (+ ``.fai``), ``chrom.sizes``, ``ccres.bed``, ``blacklist.bed``, ``genes.gtf``,
``{cell}/{TRACK}.bigWig``, ``{cell}/rnaseq.tsv``, ``samples.tsv`` (urls = ``outdir`` as given) and
``truth/`` (``links.tsv``, ``domains.bed``, ``boundaries.bed``, ``loops.bedpe``, ``activity.tsv``,
``expression.tsv``, ``blacklisted.tsv``, ``cell_types.tsv``, ``params.json``, ``README.md``).
Coordinates are 0-based half-open (BED) except in the GTF (1-based inclusive); a TSS is 0-based:
``start`` on + strand, ``end - 1`` on - strand.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from creator.errors import InputError
from creator.formats import RNASEQ, TRACKS

log = logging.getLogger(__name__)

DEFAULTS = dict(seed=7, n_chromosomes=2, chrom_bp=3_000_000,
                cell_types=("cellA", "cellB", "cellC", "cellD", "cellE"),
                ccres_per_mb=150.0, genes_per_mb=20.0)

#: Tracks the second cell type lacks (not written, not in the sample sheet).
MISSING_TRACKS = ("EP300", "H3K79me2")

ENHANCER_CLASSES = ("dELS", "pELS", "CA", "CA-TF", "TF")
PROMOTER_CLASSES = ("PLS", "CA-H3K4me3")
#: Classes of the cCREs that are neither promoters nor boundary sites, with their frequencies.
OTHER_CLASSES = {"dELS": 0.62, "CA": 0.10, "CA-CTCF": 0.10, "CA-H3K4me3": 0.06, "CA-TF": 0.06, "TF": 0.06}

#: Element amplitude of each track = background-free peak height as a linear function of the
#: element state (enh, prom, ctcf, open, polycomb, heterochromatin), plus the shape of the peak and
#: the gene-body coverage (per unit of expression y/8) where the mark covers transcribed bodies.
TRACK_MODEL: dict[str, dict] = {
    "CTCF":            dict(w=(0, 0, 40, 1.5, 0, 0), shape="narrow", bg=0.3),
    "DNase":           dict(w=(0, 0, 0, 20, 0, 0), shape="narrow", bg=0.2),
    "EP300":           dict(w=(12, 2, 0, 0, 0, 0), shape="narrow", bg=0.2),
    "H2AFZ":           dict(w=(3, 6, 1, 0, 0, 0), shape="histone", bg=0.4),
    "H3K27ac":         dict(w=(16, 18, 0, 0, 0, 0), shape="histone", bg=0.3),
    "H3K27me3":        dict(w=(0, 0, 0, 0, 6, 0), shape="broad", bg=0.5),
    "H3K36me3":        dict(w=(0, 0, 0, 0, 0, 0), shape="histone", bg=0.3, body="ramp_up", body_amp=3.0),
    "H3K4me1":         dict(w=(14, 3, 0, 0, 0, 0), shape="histone", bg=0.3),
    "H3K4me2":         dict(w=(8, 12, 0, 0, 0, 0), shape="histone", bg=0.3),
    "H3K4me3":         dict(w=(2, 28, 0, 0, 0, 0), shape="histone", bg=0.2),
    "H3K79me2":        dict(w=(0, 2, 0, 0, 0, 0), shape="histone", bg=0.3, body="decay", body_amp=4.0),
    "H3K9ac":          dict(w=(3, 16, 0, 0, 0, 0), shape="histone", bg=0.2),
    "H3K9me3":         dict(w=(0, 0, 0, 0, 0, 5), shape="broad", bg=0.5),
    "H4K20me1":        dict(w=(0, 1, 0, 0, 0, 0), shape="histone", bg=0.4, body="flat", body_amp=1.5),
    "POLR2A":          dict(w=(3, 18, 0, 0, 0, 0), shape="narrow", bg=0.2),
    "POLR2AphosphoS5": dict(w=(1, 14, 0, 0, 0, 0), shape="narrow", bg=0.2),
}
assert tuple(TRACK_MODEL) == TRACKS

CTCF_MOTIF = b"CCGCGAGGGGGCAG"      # core CTCF consensus (forward orientation)
TATA_BOX = b"TATAAAAG"
LINE = 60                           # FASTA line length
EDGE = 10_000                       # N at both chromosome ends
STEP = 5                            # per-base shapes change in steps of this many bases
MAX_LINK_BP = 200_000
LINK_DECAY_BP = 250_000
LINK_MIN_SCORE = 2.5
LINK_EFFECT = 0.35
EXPR_SCALE = 2.2
MAX_LINKS = 4
TRUTH_WINDOW_BP = 500_000


def roles_for(cell_types: tuple[str, ...] | list[str]) -> dict[str, str]:
    """train/test/predict per cell type: last predict (>= 5 types), the one before test."""
    n = len(cell_types)
    roles = {c: "train" for c in cell_types}
    if n >= 5:
        roles[cell_types[-1]] = "predict"
        roles[cell_types[-2]] = "test"
    elif n >= 2:
        roles[cell_types[-1]] = "test"
    return roles


def missing_tracks_for(cell_types) -> dict[str, tuple[str, ...]]:
    """The second cell type lacks :data:`MISSING_TRACKS` (when there are at least three)."""
    return {c: (MISSING_TRACKS if (i == 1 and len(cell_types) >= 3) else ())
            for i, c in enumerate(cell_types)}


def sample_rows(outdir: str | Path, cell_types) -> list[tuple[str, str, str, str]]:
    """(cell_type, role, assay, url) for every file :func:`simulate` writes for these cell types."""
    roles = roles_for(cell_types)
    missing = missing_tracks_for(cell_types)
    base = Path(outdir).as_posix()
    rows = []
    for c in cell_types:
        for t in TRACKS:
            if t not in missing[c]:
                rows.append((c, roles[c], t, f"{base}/{c}/{t}.bigWig"))
        if roles[c] != "predict":
            rows.append((c, roles[c], RNASEQ, f"{base}/{c}/rnaseq.tsv"))
    return rows


# ---------------------------------------------------------------------------------------------
# layout


@dataclass
class Chrom:
    name: str
    length: int
    gaps: list[tuple[int, int]] = field(default_factory=list)        # N runs that exclude placement
    small_n: list[tuple[int, int]] = field(default_factory=list)     # short N runs
    bounds: list[int] = field(default_factory=list)                  # domain cuts incl. 0 and length


class _Occupancy:
    """Free/used bins of 50 bp along a chromosome, for non-overlapping placement."""

    BIN = 50

    def __init__(self, length: int):
        self.used = np.zeros(length // self.BIN + 2, dtype=bool)

    def free(self, start: int, end: int) -> bool:
        return not self.used[max(start, 0) // self.BIN: end // self.BIN + 1].any()

    def take(self, start: int, end: int) -> None:
        self.used[max(start, 0) // self.BIN: end // self.BIN + 1] = True


def _domain_cuts(rng: np.random.Generator, length: int) -> list[int]:
    cuts = [0]
    while True:
        d = int(rng.integers(150, 601)) * 1000
        if cuts[-1] + d >= length:
            break
        cuts.append(cuts[-1] + d)
    if len(cuts) > 1 and length - cuts[-1] < 150_000:
        if length - cuts[-2] <= 600_000:
            cuts.pop()
        else:
            cuts[-1] = (cuts[-2] + length) // 2 // 1000 * 1000
    cuts.append(length)
    return cuts


def _layout(rng: np.random.Generator, p: dict):
    """Chromosomes, domains, cCREs and genes (no activities yet)."""
    L = p["chrom_bp"]
    chroms: list[Chrom] = []
    cc = dict(chrom=[], start=[], end=[], cls=[], boundary=[], motif=[], gene=[])
    genes = dict(chrom=[], start=[], end=[], strand=[], tss=[], exons=[])
    margin = EDGE + min(5_000, L // 20)
    for ci in range(p["n_chromosomes"]):
        ch = Chrom(f"chrS{ci + 1}", L, gaps=[(0, EDGE), (L - EDGE, L)])
        ch.bounds = _domain_cuts(rng, L)
        occ = _Occupancy(L)
        occ.take(0, margin)
        occ.take(L - margin, L)
        # internal N gap inside the largest domain, away from its borders
        sizes = np.diff(ch.bounds)
        k = int(np.argmax(sizes))
        if sizes[k] >= 200_000:
            glen = int(rng.integers(20, 51)) * 1000
            mid = (ch.bounds[k] + ch.bounds[k + 1]) // 2 + int(rng.integers(-20, 21)) * 1000
            gs = max(mid - glen // 2, ch.bounds[k] + 50_000)
            ch.gaps.insert(1, (gs, gs + glen))
            occ.take(gs - 5_000, gs + glen + 5_000)
        # boundary CTCF pairs: reverse motif closing the left domain, forward opening the right one
        for b in ch.bounds[1:-1]:
            for centre, motif in ((b - 600, "-"), (b + 600, "+")):
                ln = int(rng.integers(150, 351))
                s = centre - ln // 2
                cc["chrom"].append(ci); cc["start"].append(s); cc["end"].append(s + ln)
                cc["cls"].append("CA-CTCF"); cc["boundary"].append(True); cc["motif"].append(motif)
                cc["gene"].append(-1)
            occ.take(b - 5_000, b + 5_000)
        # genes: promoter cCRE centred on each TSS
        n_genes = max(1, int(round(p["genes_per_mb"] * L / 1e6)))
        tss_mask = _Occupancy(L)
        placed, tries = 0, 0
        while placed < n_genes and tries < 200 * n_genes:
            tries += 1
            tss = int(rng.integers(margin, L - margin))
            ln = int(rng.integers(150, 351))
            s = tss - ln // 2
            if not (occ.free(s - 300, s + ln + 300) and tss_mask.free(tss - 5_000, tss + 5_000)):
                continue
            strand = "+" if rng.random() < 0.5 else "-"
            glen = int(np.clip(np.exp(rng.normal(np.log(20_000), 0.8)), 2_000, 150_000))
            lo_lim = max([g[1] for g in ch.gaps if g[1] <= tss] + [EDGE])
            hi_lim = min([g[0] for g in ch.gaps if g[0] > tss] + [L - EDGE])
            if strand == "+":
                gstart, gend = tss, min(tss + glen, hi_lim)
            else:
                gstart, gend = max(tss + 1 - glen, lo_lim), tss + 1
            if gend - gstart < 1_000:
                continue
            occ.take(s, s + ln)
            tss_mask.take(tss - 5_000, tss + 5_000)
            gi = len(genes["tss"])
            genes["chrom"].append(ci); genes["start"].append(gstart); genes["end"].append(gend)
            genes["strand"].append(strand); genes["tss"].append(tss)
            genes["exons"].append(_exons(rng, gstart, gend))
            cc["chrom"].append(ci); cc["start"].append(s); cc["end"].append(s + ln)
            cc["cls"].append("PLS"); cc["boundary"].append(False); cc["motif"].append(".")
            cc["gene"].append(gi)
            placed += 1
        chrom_tss = np.array(sorted(t for t, c in zip(genes["tss"], genes["chrom"]) if c == ci))
        # other cCREs: some pELS near TSSs, the rest anywhere free
        n_total = int(round(p["ccres_per_mb"] * L / 1e6))
        n_now = sum(1 for c in cc["chrom"] if c == ci)
        n_pels = min(max(n_total - n_now, 0), int(round(0.4 * len(chrom_tss))))
        todo = [("near", n_pels), ("any", max(n_total - n_now - n_pels, 0))]
        for where, n_want in todo:
            got, tries = 0, 0
            while got < n_want and tries < 200 * n_want + 100:
                tries += 1
                ln = int(rng.integers(150, 351))
                if where == "near":
                    t = int(chrom_tss[rng.integers(len(chrom_tss))])
                    centre = t + int(rng.choice([-1, 1])) * int(rng.integers(500, 2_000))
                else:
                    centre = int(rng.integers(margin, L - margin))
                s = centre - ln // 2
                if not occ.free(s - 150, s + ln + 150):
                    continue
                near = len(chrom_tss) and np.abs(chrom_tss - centre).min() <= 2_000
                if where == "near":
                    cls = "pELS"
                else:
                    cls = str(rng.choice(list(OTHER_CLASSES), p=list(OTHER_CLASSES.values())))
                    if cls == "dELS" and near:
                        cls = "pELS"
                occ.take(s, s + ln)
                cc["chrom"].append(ci); cc["start"].append(s); cc["end"].append(s + ln)
                cc["cls"].append(cls); cc["boundary"].append(False)
                cc["motif"].append(("+" if rng.random() < 0.5 else "-") if cls == "CA-CTCF" else ".")
                cc["gene"].append(-1)
                got += 1
        # a few short N runs away from cCREs
        for _ in range(4):
            for _try in range(50):
                s = int(rng.integers(margin, L - margin))
                ln = int(rng.integers(1, 51))
                if occ.free(s - 500, s + ln + 500):
                    ch.small_n.append((s, s + ln))
                    break
        chroms.append(ch)
    return chroms, {k: np.array(v) if k != "exons" else v for k, v in cc.items()}, genes


def _exons(rng: np.random.Generator, gstart: int, gend: int) -> list[tuple[int, int]]:
    n = int(min(rng.integers(2, 9), max(1, (gend - gstart) // 1_500)))
    if n == 1:
        return [(gstart, gend)]
    edges = np.linspace(gstart, gend, n + 1).astype(int)
    out = []
    for i in range(n):
        a, b = int(edges[i]), int(edges[i + 1])
        ln = int(min(rng.integers(80, 401), (b - a) // 2))
        if i == 0:
            out.append((a, a + ln))
        elif i == n - 1:
            out.append((b - ln, b))
        else:
            off = int(rng.integers(0, b - a - ln + 1))
            out.append((a + off, a + off + ln))
    return out


# ---------------------------------------------------------------------------------------------
# the planted biology


def _plant(rng: np.random.Generator, chroms: list[Chrom], cc: dict, genes: dict, n_cells: int):
    n_cc = len(cc["start"])
    n_g = len(genes["tss"])
    centre = (cc["start"] + cc["end"]) // 2
    cls = cc["cls"]
    # domain of every element and gene
    dom_cc = np.array([int(np.searchsorted(chroms[c].bounds, x, side="right")) - 1
                       for c, x in zip(cc["chrom"], centre)])
    tss = np.array(genes["tss"])
    gchrom = np.array(genes["chrom"])
    dom_g = np.array([int(np.searchsorted(chroms[c].bounds, x, side="right")) - 1
                      for c, x in zip(gchrom, tss)])

    # gene programmes
    u = rng.random(n_g)
    gkind = np.where(u < 0.30, "housekeeping", np.where(u < 0.92, "specific", "silent")).astype(object)
    if not (gkind == "silent").any():
        gkind[int(rng.integers(n_g))] = "silent"
    gtype = np.where(rng.random(n_g) < 0.10, "lncRNA", "protein_coding").astype(object)

    # element programmes and activities
    act = np.zeros((n_cc, n_cells))
    ekind = np.empty(n_cc, dtype=object)
    prom_gene = cc["gene"]
    for i in range(n_cc):
        if cc["boundary"][i]:
            ekind[i] = "boundary"
            act[i] = rng.uniform(0.85, 1.0, n_cells)
        elif prom_gene[i] >= 0:
            k = gkind[prom_gene[i]]
            ekind[i] = "promoter_" + k
            if k == "housekeeping":
                act[i] = np.clip(rng.uniform(0.6, 1.0) + rng.normal(0, 0.05, n_cells), 0, 1)
            elif k == "silent":
                act[i] = 0.0
            else:
                on = rng.random(n_cells) < 0.55
                if not on.any():
                    on[int(rng.integers(n_cells))] = True
                act[i] = np.where(on, rng.uniform(0.4, 1.0, n_cells), rng.uniform(0.0, 0.08, n_cells))
        else:
            v = rng.random()
            if v < 0.20:
                ekind[i] = "constitutive"
                act[i] = np.clip(rng.uniform(0.5, 1.0) + rng.normal(0, 0.07, n_cells), 0, 1)
            elif v < 0.85:
                ekind[i] = "specific"
                q = rng.uniform(0.2, 0.6)
                on = rng.random(n_cells) < q
                act[i] = np.where(on, rng.beta(4, 2, n_cells), rng.beta(1, 12, n_cells))
            else:
                ekind[i] = "inactive"
                act[i] = rng.beta(1, 15, n_cells)
    strength = np.clip(rng.lognormal(0.0, 1.0, n_cc), 0.1, 10.0)
    strength[~np.isin(cls, ENHANCER_CLASSES)] = 1.0
    repress = np.where(rng.random(n_cc) < 0.45, "polycomb",
                       np.where(rng.random(n_cc) < 0.4, "heterochromatin", "none")).astype(object)
    repress[cc["boundary"]] = "none"

    # blacklist: per chromosome one region inside a free element, one far from every element,
    # one over the internal N gap edge
    free = (~cc["boundary"]) & (prom_gene < 0) & np.isin(cls, ("dELS", "CA", "TF"))
    blacklisted = np.zeros(n_cc, dtype=bool)
    bl_regions = []
    for ci, ch in enumerate(chroms):
        idx = np.flatnonzero(free & (cc["chrom"] == ci))
        if len(idx):
            i = int(rng.choice(idx))
            blacklisted[i] = True
            a = int(cc["start"][i]) + 30
            bl_regions.append((ci, a, a + int(rng.integers(60, cc["end"][i] - a - 29))))
        mine = np.sort(centre[cc["chrom"] == ci])
        for _ in range(100):
            x = int(rng.integers(EDGE + 2_000, ch.length - EDGE - 2_000))
            if not len(mine) or np.abs(mine - x).min() > 3_000:
                bl_regions.append((ci, x, x + int(rng.integers(100, 1_001))))
                break
        if len(ch.gaps) > 2:
            gs, _ = ch.gaps[1]
            bl_regions.append((ci, gs - 1_000, gs + 2_000))
    bl_regions.sort()

    # enhancer links within the gene's domain
    links = []   # (element, gene, effect)
    cand_ok = (np.isin(cls, ENHANCER_CLASSES) & ~blacklisted & (prom_gene < 0) & ~cc["boundary"]
               & (ekind != "inactive"))
    for g in range(n_g):
        if gkind[g] == "silent":
            continue
        d = np.abs(centre - tss[g])
        cand = np.flatnonzero(cand_ok & (cc["chrom"] == gchrom[g]) & (dom_cc == dom_g[g])
                              & (d <= MAX_LINK_BP) & (d >= 1_000))
        if not len(cand):
            continue
        score = strength[cand] * np.exp(-d[cand] / LINK_DECAY_BP)
        best = np.argsort(-score, kind="stable")[:MAX_LINKS]
        keep = best[score[best] >= LINK_MIN_SCORE]
        if not len(keep):
            keep = best[:1]
        for j in sorted(keep.tolist()):
            links.append((int(cand[j]), g, float(LINK_EFFECT * min(score[j], 6.0))))

    # expression
    prom_of = np.full(n_g, -1)
    prom_of[prom_gene[prom_gene >= 0]] = np.flatnonzero(prom_gene >= 0)
    drive = act[prom_of].copy()
    for e, g, eff in links:
        drive[g] += eff * act[e]
    y = 8.5 * (1.0 - np.exp(-drive / EXPR_SCALE))
    y[gkind == "silent"] = 0.0
    return dict(act=act, ekind=ekind, strength=strength, repress=repress, dom_cc=dom_cc, dom_g=dom_g,
                gkind=gkind, gtype=gtype, links=links, y=y, blacklisted=blacklisted,
                bl_regions=bl_regions, prom_of=prom_of, centre=centre)


# ---------------------------------------------------------------------------------------------
# writers


def _genome_fasta(rng: np.random.Generator, chroms: list[Chrom], cc: dict, genes: dict, path: Path) -> None:
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    comp = bytes.maketrans(b"ACGT", b"TGCA")
    names, lengths, offsets = [], [], []
    offset = 0
    with open(path, "wb") as fh:
        for ci, ch in enumerate(chroms):
            u = rng.random(ch.length)
            seq = alphabet[np.searchsorted(np.cumsum([0.295, 0.205, 0.205]), u, side="right")]
            # planted motifs: CTCF core at CA-CTCF sites, a TATA box 30 bp upstream of each TSS
            for i in np.flatnonzero((cc["chrom"] == ci) & (cc["motif"] != ".")):
                m = CTCF_MOTIF if cc["motif"][i] == "+" else CTCF_MOTIF[::-1].translate(comp)
                c0 = (cc["start"][i] + cc["end"][i]) // 2 - len(m) // 2
                seq[c0:c0 + len(m)] = np.frombuffer(m, dtype=np.uint8)
            for g, t in enumerate(genes["tss"]):
                if genes["chrom"][g] != ci:
                    continue
                if genes["strand"][g] == "+":
                    seq[t - 30:t - 30 + len(TATA_BOX)] = np.frombuffer(TATA_BOX, dtype=np.uint8)
                else:
                    rc = TATA_BOX[::-1].translate(comp)
                    seq[t + 23:t + 23 + len(rc)] = np.frombuffer(rc, dtype=np.uint8)
            for a, b in ch.gaps + ch.small_n:
                seq[a:b] = ord("N")
            header = f">{ch.name}\n".encode()
            fh.write(header)
            offset += len(header)
            names.append(ch.name); lengths.append(ch.length); offsets.append(offset)
            nfull = ch.length // LINE
            body = np.empty((nfull, LINE + 1), dtype=np.uint8)
            body[:, :LINE] = seq[:nfull * LINE].reshape(nfull, LINE)
            body[:, LINE] = ord("\n")
            data = body.tobytes()
            if ch.length % LINE:
                data += seq[nfull * LINE:].tobytes() + b"\n"
            fh.write(data)
            offset += len(data)
    with open(str(path) + ".fai", "w") as fh:
        for n, ln, off in zip(names, lengths, offsets):
            fh.write(f"{n}\t{ln}\t{off}\t{LINE}\t{LINE + 1}\n")


def _write_gtf(path: Path, chroms, genes, truth, gene_ids, symbols) -> None:
    order = sorted(range(len(genes["tss"])), key=lambda g: (genes["chrom"][g], genes["start"][g]))
    with open(path, "w") as fh:
        fh.write("##description: synthetic GENCODE-like annotation (creator simulate)\n")
        fh.write("##provider: creator\n##format: gtf\n")
        for g in order:
            ch = chroms[genes["chrom"][g]].name
            s, e, st = genes["start"][g], genes["end"][g], genes["strand"][g]
            gt = truth["gtype"][g]
            gid, name = gene_ids[g], symbols[g]
            tid = gid.replace("ENSGSIM", "ENSTSIM")
            ga = f'gene_id "{gid}"; gene_type "{gt}"; gene_name "{name}"; level 2;'
            ta = (f'gene_id "{gid}"; transcript_id "{tid}"; gene_type "{gt}"; gene_name "{name}"; '
                  f'transcript_type "{gt}"; transcript_name "{name}-201"; level 2;')
            fh.write(f"{ch}\tSIM\tgene\t{s + 1}\t{e}\t.\t{st}\t.\t{ga}\n")
            fh.write(f"{ch}\tSIM\ttranscript\t{s + 1}\t{e}\t.\t{st}\t.\t{ta}\n")
            exons = genes["exons"][g] if st == "+" else genes["exons"][g][::-1]
            for k, (a, b) in enumerate(exons, start=1):
                eid = f"{gid.split('.')[0].replace('ENSGSIM', 'ENSESIM')}{k:02d}.1"
                fh.write(f"{ch}\tSIM\texon\t{a + 1}\t{b}\t.\t{st}\t.\t{ta} exon_number {k}; "
                         f'exon_id "{eid}";\n')


def _kernels(cc: dict, sel: np.ndarray, L: int):
    """Per-base index and weight arrays (shape x element) for the three peak shapes."""
    centre = ((cc["start"][sel] + cc["end"][sel]) // 2).astype(np.int64)
    half = ((cc["end"][sel] - cc["start"][sel]) / 2.0)
    out = {}
    for shape, w in (("narrow", 300), ("histone", 520), ("broad", 1_500)):
        off = np.arange(-w, w, dtype=np.int64)
        pos = centre[:, None] + off[None, :]
        q = STEP if shape != "broad" else 50
        dq = (pos // q * q + q // 2 - centre[:, None]).astype(np.float64)   # genome-grid steps
        if shape == "narrow":
            k = np.exp(-0.5 * (dq / (half[:, None] / 2.0)) ** 2)
        elif shape == "histone":
            lobe = half[:, None] + 40.0
            k = np.exp(-0.5 * ((np.abs(dq) - lobe) / 75.0) ** 2)
        else:
            k = np.exp(-0.5 * (dq / 500.0) ** 2)
        out[shape] = (np.clip(pos, 0, L - 1).ravel(), k.ravel().reshape(len(centre), -1))
    return out


def _element_states(cc: dict, truth: dict) -> np.ndarray:
    """State matrix [n_cc, n_cells, 6]: enh, prom, ctcf, open, polycomb, heterochromatin."""
    act = truth["act"]
    cls = cc["cls"]
    enh = act * (np.isin(cls, ENHANCER_CLASSES) * np.sqrt(truth["strength"]))[:, None]
    prom = act * np.isin(cls, PROMOTER_CLASSES)[:, None]
    ctcf = np.where((cls == "CA-CTCF")[:, None], act, 0.05 * act)
    opn = np.maximum(np.maximum(enh, prom), ctcf)
    pc = (1 - opn) * (truth["repress"] == "polycomb")[:, None]
    het = (1 - opn) * (truth["repress"] == "heterochromatin")[:, None]
    return np.stack([enh, prom, ctcf, opn, pc, het], axis=-1)


def _body_profile(kind: str, genes: dict, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-constant (100 bp steps) body coverage of gene g: starts, ends, values."""
    s, e = genes["start"][g], genes["end"][g]
    edges = np.r_[np.arange(s, e, 100), e]
    a, b = edges[:-1], edges[1:]
    frac = ((a + b) / 2 - s) / max(e - s, 1)
    if genes["strand"][g] == "-":
        frac = 1 - frac
    if kind == "ramp_up":
        v = 0.3 + 0.7 * frac
    elif kind == "decay":
        v = np.exp(-frac / 0.3)
    else:
        v = np.ones_like(frac)
    return a, b, v


def _write_bigwigs(rng_root: np.random.SeedSequence, outdir: Path, chroms, cc, genes, truth,
                   cell_types, missing) -> dict[str, Path]:
    import pyBigWig

    states = _element_states(cc, truth)
    written: dict[str, Path] = {}
    per_chrom = []
    for ci, ch in enumerate(chroms):
        sel = np.flatnonzero(cc["chrom"] == ci)
        per_chrom.append((sel, _kernels(cc, sel, ch.length),
                          [g for g in range(len(genes["tss"])) if genes["chrom"][g] == ci]))
    cell_seeds = rng_root.spawn(len(cell_types))
    for c, cell in enumerate(cell_types):
        rng = np.random.default_rng(cell_seeds[c])
        (outdir / cell).mkdir(parents=True, exist_ok=True)
        for t, track in enumerate(TRACKS):
            model = TRACK_MODEL[track]
            noise_amp = rng.lognormal(0.0, 0.25, len(cc["start"]))
            level = model["bg"] * rng.uniform(0.7, 1.3)
            body_noise = rng.lognormal(0.0, 0.2, len(genes["tss"]))
            bg_bins = [rng.lognormal(0.0, 0.3, ch.length // 1000 + 1) for ch in chroms]
            if track in missing[cell]:
                continue   # consumed the same random numbers, so other files do not depend on it
            path = outdir / cell / f"{track}.bigWig"
            bw = pyBigWig.open(str(path), "w")
            bw.addHeader([(ch.name, ch.length) for ch in chroms], maxZooms=10)
            w = np.asarray(model["w"], dtype=np.float64)
            amp = (states[:, c, :] @ w) * noise_amp
            for ci, ch in enumerate(chroms):
                sel, kern, gidx = per_chrom[ci]
                L = ch.length
                arr = np.repeat(level * bg_bins[ci], 1000)[:L]
                idx, k = kern[model["shape"]]
                a = amp[sel]
                if np.any(a > 0):
                    arr = arr + np.bincount(idx, weights=(a[:, None] * k).ravel(), minlength=L)
                if "body" in model:
                    diff = np.zeros(L + 1)
                    for g in gidx:
                        yv = truth["y"][g, c] / 8.0
                        if yv <= 0:
                            continue
                        s, e, v = _body_profile(model["body"], genes, g)
                        v = model["body_amp"] * yv * body_noise[g] * v
                        np.add.at(diff, s, v)
                        np.add.at(diff, e, -v)
                    arr = arr + np.cumsum(diff)[:L]
                v = np.round(arr, 2).astype(np.float32)
                for a0, b0 in ch.gaps:
                    v[a0:b0] = -1.0
                change = np.empty(L, dtype=bool)
                change[0] = True
                change[1:] = v[1:] != v[:-1]
                starts = np.flatnonzero(change)
                ends = np.r_[starts[1:], L]
                vals = v[starts]
                keep = vals >= 0
                starts, ends, vals = starts[keep], ends[keep], vals[keep].astype(np.float64)
                bw.addEntries([ch.name] * len(starts), starts.astype(np.int64), ends=ends.astype(np.int64),
                              values=vals)
            bw.close()
            written[f"{cell}/{track}"] = path
    return written


def _write_rnaseq(rng_root: np.random.SeedSequence, outdir: Path, genes, truth, cell_types, roles,
                  gene_ids) -> tuple[dict[str, Path], np.ndarray]:
    tx_len = np.array([sum(b - a for a, b in ex) for ex in genes["exons"]])
    eff_len = np.maximum(tx_len - 200 + 1, 1).astype(float)
    order = np.argsort(np.array(gene_ids), kind="stable")
    spikes = [("gSpikein_ERCC-00002", 1061), ("gSpikein_ERCC-00004", 523), ("gSpikein_ERCC-00009", 984)]
    written = {}
    observed = np.zeros_like(truth["y"])
    seeds = rng_root.spawn(len(cell_types))
    for c, cell in enumerate(cell_types):
        rng = np.random.default_rng(seeds[c])
        yobs = np.clip(truth["y"][:, c] + rng.normal(0, 0.2, len(gene_ids)), 0, None)
        yobs[truth["y"][:, c] <= 0] = 0.0
        observed[:, c] = yobs
        spike_tpm = rng.uniform(0.5, 20, len(spikes))
        if roles[cell] == "predict":
            continue
        tpm = np.expm1(yobs)
        depth = 20.0   # reads per (TPM x effective kb) -- a plausible library
        path = outdir / cell / "rnaseq.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fh:
            fh.write("gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM\n")
            for g in order:
                tid = gene_ids[g].replace("ENSGSIM", "ENSTSIM")
                count = tpm[g] * eff_len[g] / 1000 * depth
                fh.write(f"{gene_ids[g]}\t{tid}\t{tx_len[g]:.2f}\t{eff_len[g]:.2f}\t{count:.2f}\t"
                         f"{tpm[g]:.2f}\t{tpm[g] * 0.8:.2f}\n")
            for (sid, ln), st in zip(spikes, spike_tpm):
                el = ln - 199.0
                fh.write(f"{sid}\t{sid.replace('gSpikein', 'tSpikein')}\t{ln:.2f}\t{el:.2f}\t"
                         f"{st * el / 1000 * depth:.2f}\t{st:.2f}\t{st * 0.8:.2f}\n")
        written[f"{cell}/{RNASEQ}"] = path
    return written, observed


def _write_truth(tdir: Path, p: dict, chroms, cc, genes, truth, names, gene_ids, symbols,
                 cell_types, roles, missing) -> dict[str, Path]:
    tdir.mkdir(parents=True, exist_ok=True)
    out = {}
    centre = truth["centre"]
    cls = cc["cls"]
    # domains and boundaries
    with open(tdir / "domains.bed", "w") as fh:
        for ci, ch in enumerate(chroms):
            for k in range(len(ch.bounds) - 1):
                fh.write(f"{ch.name}\t{ch.bounds[k]}\t{ch.bounds[k + 1]}\t{ch.name}_D{k + 1}\n")
    with open(tdir / "boundaries.bed", "w") as fh:
        for ci, ch in enumerate(chroms):
            for k, b in enumerate(ch.bounds[1:-1], start=1):
                pair = np.flatnonzero((cc["chrom"] == ci) & cc["boundary"] & (np.abs(centre - b) <= 700))
                fh.write(f"{ch.name}\t{cc['start'][pair].min()}\t{cc['end'][pair].max()}\t"
                         f"{ch.name}_B{k}\t{b}\t{names[pair[0]]},{names[pair[1]]}\n")
    out["domains"], out["boundaries"] = tdir / "domains.bed", tdir / "boundaries.bed"
    # loops: convergent CTCF pairs at the borders of each domain, strongest enhancer-promoter links
    loops = []
    for ci, ch in enumerate(chroms):
        for k in range(1, len(ch.bounds) - 2):
            left = np.flatnonzero((cc["chrom"] == ci) & cc["boundary"] & (centre == ch.bounds[k] + 600))
            right = np.flatnonzero((cc["chrom"] == ci) & cc["boundary"] & (centre == ch.bounds[k + 1] - 600))
            if len(left) and len(right):
                a, b = int(left[0]), int(right[0])
                score = float(np.minimum(truth["act"][a], truth["act"][b]).mean())
                loops.append((ci, a, b, score, "+", "-", "CTCF"))
    effects = np.array([eff for _, _, eff in truth["links"]])
    if len(effects):
        cut = np.quantile(effects, 0.8)
        for e, g, eff in truth["links"]:
            if eff >= cut:
                pidx = int(truth["prom_of"][g])
                a, b = sorted((e, pidx), key=lambda i: centre[i])
                score = float(eff * truth["act"][e].mean())
                loops.append((int(cc["chrom"][e]), a, b, score, ".", ".", "EP"))
    loops.sort(key=lambda r: (r[0], cc["start"][r[1]], cc["start"][r[2]]))
    with open(tdir / "loops.bedpe", "w") as fh:
        fh.write("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname\tscore\tstrand1\tstrand2\ttype\n")
        for ci, a, b, score, s1, s2, kind in loops:
            n = chroms[ci].name
            fh.write(f"{n}\t{cc['start'][a]}\t{cc['end'][a]}\t{n}\t{cc['start'][b]}\t{cc['end'][b]}\t"
                     f"{names[a]}|{names[b]}\t{score:.4f}\t{s1}\t{s2}\t{kind}\n")
    out["loops"] = tdir / "loops.bedpe"
    # activity
    with open(tdir / "activity.tsv", "w") as fh:
        fh.write("ccre_name\tchrom\tstart\tend\tclass\tkind\trepressed\tblacklisted\t"
                 + "\t".join(cell_types) + "\n")
        for i in np.lexsort((cc["start"], cc["chrom"])):
            vals = "\t".join(f"{x:.4f}" for x in truth["act"][i])
            fh.write(f"{names[i]}\t{chroms[cc['chrom'][i]].name}\t{cc['start'][i]}\t{cc['end'][i]}\t"
                     f"{cls[i]}\t{truth['ekind'][i]}\t{truth['repress'][i]}\t"
                     f"{bool(truth['blacklisted'][i])}\t{vals}\n")
    out["activity"] = tdir / "activity.tsv"
    with open(tdir / "blacklisted.tsv", "w") as fh:
        fh.write("ccre_name\tchrom\tstart\tend\n")
        for i in np.flatnonzero(truth["blacklisted"]):
            fh.write(f"{names[i]}\t{chroms[cc['chrom'][i]].name}\t{cc['start'][i]}\t{cc['end'][i]}\n")
    out["blacklisted"] = tdir / "blacklisted.tsv"
    # expression
    tss = np.array(genes["tss"])
    gorder = sorted(range(len(tss)), key=lambda g: (genes["chrom"][g], tss[g]))
    with open(tdir / "expression.tsv", "w") as fh:
        fh.write("gene_id\tsymbol\tchrom\ttss\tstrand\tgene_type\tkind\t" + "\t".join(cell_types) + "\n")
        for g in gorder:
            vals = "\t".join(f"{x:.4f}" for x in truth["y"][g])
            fh.write(f"{gene_ids[g].split('.')[0]}\t{symbols[g]}\t{chroms[genes['chrom'][g]].name}\t"
                     f"{tss[g]}\t"
                     f"{genes['strand'][g]}\t{truth['gtype'][g]}\t{truth['gkind'][g]}\t{vals}\n")
    out["expression"] = tdir / "expression.tsv"
    # links: every (element, gene) pair within 500 kb
    eff = {(e, g): x for e, g, x in truth["links"]}
    ok = ~truth["blacklisted"]
    with open(tdir / "links.tsv", "w") as fh:
        fh.write("ccre_name\tchrom\tstart\tend\tcenter\tclass\tgene_id\tsymbol\ttss\tdistance\teffect\t"
                 "is_link\tsame_domain\town_promoter\n")
        for g in gorder:
            d = np.abs(centre - tss[g])
            idx = np.flatnonzero(ok & (cc["chrom"] == genes["chrom"][g]) & (d <= TRUTH_WINDOW_BP))
            idx = idx[np.argsort(cc["start"][idx], kind="stable")]
            gid = gene_ids[g].split(".")[0]
            for i in idx:
                x = eff.get((int(i), g), 0.0)
                fh.write(f"{names[i]}\t{chroms[cc['chrom'][i]].name}\t{cc['start'][i]}\t{cc['end'][i]}\t"
                         f"{centre[i]}\t{cls[i]}\t{gid}\t{symbols[g]}\t{tss[g]}\t{d[i]}\t{x:.4f}\t{x > 0}\t"
                         f"{truth['dom_cc'][i] == truth['dom_g'][g]}\t{cc['gene'][i] == g}\n")
    out["links"] = tdir / "links.tsv"
    with open(tdir / "cell_types.tsv", "w") as fh:
        fh.write("cell_type\trole\tmissing_tracks\n")
        for cell in cell_types:
            fh.write(f"{cell}\t{roles[cell]}\t{','.join(missing[cell]) or '.'}\n")
    out["cell_types"] = tdir / "cell_types.tsv"
    with open(tdir / "params.json", "w") as fh:
        json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}, fh, indent=1,
                  sort_keys=True)
        fh.write("\n")
    out["params"] = tdir / "params.json"
    n_links = len(truth["links"])
    with open(tdir / "README.md", "w") as fh:
        fh.write(_README.format(
            seed=p["seed"], n_chrom=len(chroms), chrom_bp=p["chrom_bp"], n_ccre=len(names),
            n_genes=len(gene_ids), n_links=n_links, n_domains=sum(len(c.bounds) - 1 for c in chroms),
            n_loops=len(loops), roles=", ".join(f"{c} ({roles[c]})" for c in cell_types),
            missing="; ".join(f"{c}: {', '.join(m)}" for c, m in missing.items() if m) or "none",
            n_silent=int((truth["gkind"] == "silent").sum()), n_bl=int(truth["blacklisted"].sum()),
            doc=__doc__.split("The generative model\n--------------------\n", 1)[1].split("\nFiles:", 1)[0]))
    out["readme"] = tdir / "README.md"
    return out


_README = """# Planted truth of the synthetic data set

Made by `creator simulate` (creator/simulate.py) with seed {seed}: {n_chrom} chromosome(s) of
{chrom_bp} bp, {n_ccre} cCREs, {n_genes} genes ({n_silent} silent), {n_domains} domains,
{n_links} planted element-gene links, {n_loops} planted loops, {n_bl} blacklisted cCRE(s).
Cell types: {roles}. Missing tracks: {missing}.

## Files

- `links.tsv`: one row per (cCRE, gene) pair with the cCRE centre within 500 kb of the TSS
  (blacklisted cCREs left out). `effect` > 0 and `is_link` True for planted links; `distance` is
  |centre - TSS|; `same_domain` and `own_promoter` (the gene's own PLS cCRE) as booleans.
  `gene_id` has no version (as in the workflow's genes.parquet).
- `domains.bed`: the TAD-like domains. `boundaries.bed`: the span of the CTCF pair at each internal
  boundary (name, boundary position, the two cCRE names).
- `loops.bedpe`: planted loops; `type` CTCF (convergent pair at the two borders of a domain, score
  = mean binding) or EP (top-20% enhancer-promoter links, score = effect x mean activity).
- `activity.tsv`: activity in [0, 1] per cCRE (rows) and cell type (columns), with class, kind
  (boundary, promoter_*, constitutive, specific, inactive), repressed state and blacklisted flag.
- `expression.tsv`: the true log1p(TPM) per gene and cell type (before measurement noise).
- `blacklisted.tsv`: cCREs that overlap blacklist.bed and must be removed.
- `cell_types.tsv`, `params.json`: roles, missing tracks, simulation parameters.

## The generative model

{doc}"""


# ---------------------------------------------------------------------------------------------


def simulate(outdir: str | Path, *, seed: int = 7, n_chromosomes: int = 2, chrom_bp: int = 3_000_000,
             cell_types=("cellA", "cellB", "cellC", "cellD", "cellE"), ccres_per_mb: float = 150.0,
             genes_per_mb: float = 20.0) -> dict[str, Path]:
    """Write the synthetic data set under ``outdir``; return name -> path of every file written.

    Keys: ``genome``, ``genome_fai``, ``chrom_sizes``, ``ccres``, ``blacklist``, ``genes``,
    ``samples``, ``{cell}/{TRACK}`` and ``{cell}/rnaseq`` (as in the sample sheet), ``truth`` (the
    folder) and ``truth/{name}`` for its files. Deterministic in ``seed`` and the parameters.
    """
    cell_types = tuple(cell_types)
    if len(cell_types) < 2 or len(set(cell_types)) != len(cell_types):
        raise InputError(f"cell types {', '.join(cell_types)}: need at least two distinct names",
                         fix="give two or more distinct cell type names")
    bad = [c for c in cell_types if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", c)]
    if bad:
        raise InputError(f"cell type name {bad[0]!r} is not usable in file paths",
                         fix="use letters, digits, '_', '.' and '-' (starting with a letter or digit)")
    if n_chromosomes < 1 or chrom_bp < 100_000 or ccres_per_mb <= 0 or genes_per_mb <= 0:
        raise InputError("simulate needs n_chromosomes >= 1, chrom_bp >= 100000 and positive densities",
                         fix="check the simulate parameters")
    p = dict(seed=int(seed), n_chromosomes=int(n_chromosomes), chrom_bp=int(chrom_bp), cell_types=cell_types,
             ccres_per_mb=float(ccres_per_mb), genes_per_mb=float(genes_per_mb))
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence(p["seed"])
    s_layout, s_plant, s_seq, s_tracks, s_rna = root.spawn(5)

    chroms, cc, genes = _layout(np.random.default_rng(s_layout), p)
    order = np.lexsort((cc["start"], cc["chrom"]))
    cc = {k: v[order] for k, v in cc.items()}
    n_cells = len(cell_types)
    truth = _plant(np.random.default_rng(s_plant), chroms, cc, genes, n_cells)
    names = [f"EH38D{1_000_000 + i}" for i in range(len(cc["start"]))]
    acc = [f"EH38E{2_000_000 + i}" for i in range(len(cc["start"]))]
    gorder = sorted(range(len(genes["tss"])), key=lambda g: (genes["chrom"][g], genes["start"][g]))
    gene_ids, symbols = [""] * len(gorder), [""] * len(gorder)
    for k, g in enumerate(gorder, start=1):
        gene_ids[g] = f"ENSGSIM{k:08d}.1"
        symbols[g] = f"SIMG{k}"
    roles = roles_for(cell_types)
    missing = missing_tracks_for(cell_types)

    files: dict[str, Path] = {}
    files["genome"] = outdir / "genome.fa"
    _genome_fasta(np.random.default_rng(s_seq), chroms, cc, genes, files["genome"])
    files["genome_fai"] = outdir / "genome.fa.fai"
    files["chrom_sizes"] = outdir / "chrom.sizes"
    with open(files["chrom_sizes"], "w") as fh:
        for ch in chroms:
            fh.write(f"{ch.name}\t{ch.length}\n")
    files["ccres"] = outdir / "ccres.bed"
    with open(files["ccres"], "w") as fh:
        for i in range(len(names)):
            fh.write(f"{chroms[cc['chrom'][i]].name}\t{cc['start'][i]}\t{cc['end'][i]}\t{names[i]}\t"
                     f"{acc[i]}\t"
                     f"{cc['cls'][i]}\n")
    files["blacklist"] = outdir / "blacklist.bed"
    with open(files["blacklist"], "w") as fh:
        for ci, a, b in truth["bl_regions"]:
            fh.write(f"{chroms[ci].name}\t{a}\t{b}\n")
    files["genes"] = outdir / "genes.gtf"
    _write_gtf(files["genes"], chroms, genes, truth, gene_ids, symbols)
    files.update(_write_bigwigs(s_tracks, outdir, chroms, cc, genes, truth, cell_types, missing))
    rna, _observed = _write_rnaseq(s_rna, outdir, genes, truth, cell_types, roles, gene_ids)
    files.update(rna)
    files["samples"] = outdir / "samples.tsv"
    with open(files["samples"], "w") as fh:
        fh.write("cell_type\trole\tassay\turl\tmd5\n")
        for row in sample_rows(outdir, cell_types):
            fh.write("\t".join(row) + "\t\n")
    files["truth"] = outdir / "truth"
    for k, v in _write_truth(outdir / "truth", p, chroms, cc, genes, truth, names, gene_ids, symbols,
                             cell_types, roles, missing).items():
        files[f"truth/{k}"] = v
    log.info("simulated %d chromosome(s), %d cCREs, %d genes, %d links, %d cell types under %s",
             len(chroms), len(names), len(gene_ids), len(truth["links"]), n_cells, outdir)
    return files


# ---------------------------------------------------------------------------------------------
# command line


def add_cli(sub) -> None:
    p = sub.add_parser("simulate", help="synthetic input data with planted truth (config/synthetic.yaml)")
    p.add_argument("--config", help="read the 'simulate:' block of this config (flags override it)")
    p.add_argument("--outdir", help="output folder (default: simulate.outdir of --config)")
    p.add_argument("--seed", type=int)
    p.add_argument("--n-chromosomes", type=int)
    p.add_argument("--chrom-bp", type=int)
    p.add_argument("--cell-types", help="comma-separated cell type names")
    p.add_argument("--ccres-per-mb", type=float)
    p.add_argument("--genes-per-mb", type=float)
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    params: dict = {}
    if args.config:
        from creator.config import load_config
        block = load_config(args.config).get("simulate")
        if not block:
            raise InputError("no 'simulate:' block", path=args.config,
                             fix="add simulate: {outdir: ..., seed: ...} or pass --outdir and --seed")
        params.update(block)
    for key in ("outdir", "seed", "n_chromosomes", "chrom_bp", "ccres_per_mb", "genes_per_mb"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.cell_types is not None:
        params["cell_types"] = [c.strip() for c in args.cell_types.split(",") if c.strip()]
    if "outdir" not in params:
        raise InputError("no output folder", fix="pass --outdir DIR or --config with simulate.outdir")
    outdir = params.pop("outdir")
    files = simulate(outdir, **params)
    print(f"wrote {len(files)} files under {outdir}")
    return 0
