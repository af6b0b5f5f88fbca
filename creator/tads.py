"""TADs stage: the gene-level encoder's cCRE-cCRE attention as a genome-binned contact-like map,
its insulation profile, domain boundaries and loop-like pixels.

``creator tads --reference DIR --predict-dir DIR --cell CELL --chrom-sizes FILE
[--resolution 10000] --out-mcool attention.mcool [--assembly hg38] --out-insulation insulation.bedgraph
[--out-insulation-bw insulation.bw] --out-boundaries boundaries.bed --out-loops loops.bedpe [--window-bins 10]
[--min-prominence 0.1] [--min-coverage 0.5] [--loop-oe 2.0] [--loop-min-distance 20000] [--loop-min-count 1]
[--loop-radius 2] [--checkpoint checkpoint.pt --out-barrier barrier.bedgraph --out-barrier-bw barrier.bw]
[--boundaries-from auto|attention|barrier] [--barrier-prominence 1.5] [--barrier-distance-bins 3]``

Input: ``attention.zarr`` of the predict stage (``creator predict --attention``), whose
``element_attention`` holds, per gene window, the ``E x E`` element-element attention of the LAST
gene layer averaged over heads (softmax probabilities, rows = queries), or whose ``element_pixels``
holds the same already binned (``creator predict --element-resolution``, the workflow's default:
:class:`creator.inference.ElementAttentionBinner`; its resolution must equal ``--resolution``). Both give the same
outputs (the binner rounds to float16 first, as the full store does).

Matrix (``--out-mcool``)
    For every gene window and every unordered pair of DISTINCT elements ``i < j`` of it, the
    symmetrised attention ``(a_ij + a_ji) / 2`` is added to bin pair ``(bin(i), bin(j))`` (bin =
    element centre // resolution; upper triangle) and the pair's contribution count to ``n``. The
    stored pixel is the mean over all (element pair, window) contributions falling in the bin pair:
    column ``count`` (float) = sum / n, column ``n`` (int32) = the number of contributions. Self
    attention (``i == j``) is left out: it says nothing about two loci. Pixels with no contribution
    are absent (no data, not zero). The cooler holds the chromosomes of ``--chrom-sizes`` (in that
    file's order) that carry at least one cCRE of the reference.

    The file is a multi-resolution cooler (``.mcool``, the layout ``cooler zoomify`` writes and
    HiGlass and other multi-scale viewers load): ``resolutions/{r}`` for ``r`` = ``--resolution``
    times 1, 2, 5, 10, 20, 50, ... up to 1 Mb (:func:`zoom_resolutions`; 10 kb gives 10, 20, 50, 100,
    200, 500 kb and 1 Mb). At every resolution ``count`` is the mean over all the contributions of
    the bin pair (each coarser level is pooled from the base with weights ``n``, not a sum of means:
    :func:`coarsen_pixels`; ``cooler zoomify`` would sum ``count`` and, in cooler 0.11, drop ``n``)
    and ``n`` (int32 at the base resolution, int64 above) their number. ``genome-assembly`` is
    ``--assembly`` (the config's ``reference.assembly``; ``unknown`` without it). Read one resolution
    with ``cooler.Cooler("attention.mcool::resolutions/10000").matrix(balance=False)``.

Insulation (``--out-insulation``, bedGraph ``chrom start end value``, one line per covered bin;
``--out-insulation-bw``: the same values as a bigWig)
    Diamond of ``w = --window-bins`` bins centred on bin ``k``: the pixels ``(r, c)`` with
    ``k - w < r <= k <= c < k + w`` and ``c - r >= 1`` (the main diagonal is left out). The score
    is ``log2((m_k + eps) / (M + eps))`` where ``m_k`` is the mean of the diamond's covered pixels,
    ``M`` the mean of ``m_k`` over the chromosome's scored bins and ``eps = 1e-3 * M`` (keeps a
    diamond of zeros finite). A bin has no score (no line, no bigWig entry) when fewer than
    ``--min-coverage`` of its diamond's pixels (clipped at the chromosome ends) are covered: bins
    outside every gene window, or at the edge of the covered region. The bigWig's chromosomes are
    those of the cooler, with their ``--chrom-sizes`` lengths.

Boundaries (``--out-boundaries``, BED6 ``chrom start end name score .``)
    Local minima of insulation, found per run of consecutive finite bins with
    ``scipy.signal.find_peaks(-insulation, prominence=--min-prominence)``: a minimum is kept when
    its topographic prominence (how far it dips below the higher of the two lowest points that
    separate it from deeper minima on either side, in log2 units) is at least the threshold.
    ``score`` = the prominence (the boundary strength); a flat minimum spanning two bins is
    reported at its left bin. A boundary at bin ``k`` means the domain edge lies within one bin of
    ``k``.

Barrier (``--out-barrier``, bedGraph, one line per bin; ``--out-barrier-bw``: the same as a bigWig;
needs ``--checkpoint``)
    A model trained with ``ModelConfig.insulation`` adds to every attention logit of the gene-level
    encoder minus the summed insulation ``u_k`` (per head, nats) of the elements between query and
    key (:class:`creator.model.gene.InsulationBias`): attention across element ``k`` is multiplied by
    ``exp(-u_k)``. The barrier of a bin is the sum over the elements centred in it of ``u_k``
    averaged over heads (each element's ``u`` is read off its stage-1 embedding, the predict stage's
    ``element_embeddings.npy``), divided by the mean over the bins with elements of all chromosomes
    of the run: 1 = a typical bin; it is dimensionless, so thresholds carry over between models
    whose insulation differs in scale. 0 where no element lies. This is the content-free part of
    the attention that depends on what lies between two loci, i.e. where the model learned that
    attention stops; the attention matrix mixes it with the content terms (attention goes to active
    elements), which dominate its insulation score.

Boundaries from the barrier (``--boundaries-from barrier``; ``auto``, the default, picks it when the
    checkpoint has learned insulation, else the attention insulation above): peaks of the barrier
    track found with ``scipy.signal.find_peaks(barrier, prominence=--barrier-prominence,
    distance=--barrier-distance-bins)`` per chromosome (a peak needs that prominence in barrier units
    and at least that many bins to the next called peak; the higher one wins); ``score`` = the
    prominence. Measured on the synthetic data (21 planted domain boundaries, held-out cell type
    cellD, within one 10 kb bin, ``config/synthetic.yaml`` with ``train.insulation_l1: 0.1``): on
    training seeds 0-4 the barrier peaks recover every planted boundary (recall 1.00, precision
    0.23-0.35, 5.6-8.7-fold over shuffled boundaries), level with or one boundary ahead of as many
    calls at CTCF-signal peaks (README, seed table). With an earlier config (no insulation prior)
    the barrier gave recall 0.81 (3.35-fold) on one run where minima of the attention insulation
    gave 0.24 (1.5-fold, p = 0.23), and some seeds learned no usable insulation.

Loops (``--out-loops``, BEDPE ``chrom1 start1 end1 chrom2 start2 end2 name score strand1
strand2 observed expected n``)
    Bin pairs whose attention is well above the expectation at their distance: per chromosome,
    expected(d) = mean of the covered pixels whose diagonal offset ``d = bin2 - bin1`` falls in
    the same log-distance bin (``floor(4 log2 d)``, quarter octaves; see
    :func:`log_distance_bin`); a pixel is called when ``d * resolution >= --loop-min-distance``,
    ``n >= --loop-min-count``, observed / expected ``>= --loop-oe``, and its O/E is the largest
    within ``--loop-radius`` bins (a ``(2r+1) x (2r+1)`` neighbourhood; ties go to the first pixel in
    sorted order). The last condition keeps one summit per cluster of enriched pixels, as Hi-C loop
    callers do: without it the far corners of every domain (in-domain pixels lie well above the
    genome-wide expectation at large distances) would be reported as dozens of adjacent "loops".
    ``score`` = O/E; one line per bin pair. ``--loop-radius 0`` disables the summit filter.

Memory: genes are streamed in window order; each chromosome's pixels are accumulated in a band
buffer of ``2 * band x band`` (``band`` = the widest window in bins) whose finished rows go
straight into the cooler, so memory is ``O(band^2 + n_bins)`` whatever the chromosome length.
Loops are called in a second pass that reads the written cooler (base resolution) back in chunks.
All outputs are sorted and written atomically.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from creator import data
from creator.config import add_config_argument, section_defaults, stage_settings
from creator.errors import InputError
from creator.formats import predict_outputs
from creator.inference import (BandAccumulator, binned_block, iter_gene_attention, load_model,
                               open_element_attention, window_bin_span)
from creator.insulation import DiamondInsulation, call_boundaries
from creator.io import atomic_path, read_chrom_sizes, write_bigwig

log = logging.getLogger(__name__)

PIXEL_COLUMNS = ("bin1_id", "bin2_id", "count", "n")
LOOP_COLUMNS = ("chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1",
                "strand2", "observed", "expected", "n")
BOUNDARY_COLUMNS = ("chrom", "start", "end", "name", "score", "strand")


def pixel_distance_bin(offset_bins) -> np.ndarray:
    """Log-distance bin of a diagonal offset ``d >= 1`` (in bins): ``floor(4 log2 d)``; 0 is -1."""
    d = np.asarray(offset_bins, dtype=np.float64)
    out = np.full(d.shape, -1, dtype=np.int64)
    pos = d > 0
    out[pos] = np.floor(4 * np.log2(d[pos])).astype(np.int64)
    return out


def _chrom_pixels(parts: list[tuple[np.ndarray, ...]], st: _ChromStats, bin_offset: int) -> pd.DataFrame | None:
    """Accumulated ``(bin1, bin2, sum, n)`` parts of one chromosome as cooler pixels (genome-wide
    bin ids), after feeding their means to the chromosome's insulation / expected sums; None if empty."""
    if not parts:
        return None
    df = _pixel_frame(parts, 0)
    if len(df) == 0:
        return None
    st.add(df["bin1_id"].to_numpy(), df["bin2_id"].to_numpy(), df["count"].to_numpy())
    df["bin1_id"] += bin_offset
    df["bin2_id"] += bin_offset
    return df


# ---------------------------------------------------------------------------------------------
# insulation, boundaries, loops


@dataclass
class _ChromStats:
    """Per-chromosome running sums fed by the pixel stream: the diamond insulation
    (:class:`creator.insulation.DiamondInsulation`) and the distance-decay expected values."""

    n_bins: int
    window: int
    ignore_diags: int
    diamonds: DiamondInsulation = field(init=False)
    exp_sum: dict = field(default_factory=dict)
    exp_n: dict = field(default_factory=dict)

    def __post_init__(self):
        self.diamonds = DiamondInsulation(self.n_bins, self.window, self.ignore_diags)

    def add(self, r: np.ndarray, c: np.ndarray, value: np.ndarray) -> None:
        """Local bin ids ``r <= c`` and pixel means."""
        self.diamonds.add(r, c, value)
        d = c - r
        pos = d >= 1
        if pos.any():
            db = pixel_distance_bin(d[pos])
            sums = np.bincount(db, weights=value[pos])
            ns = np.bincount(db)
            for b in np.flatnonzero(ns):
                self.exp_sum[int(b)] = self.exp_sum.get(int(b), 0.0) + float(sums[b])
                self.exp_n[int(b)] = self.exp_n.get(int(b), 0) + int(ns[b])

    def insulation(self, min_coverage: float) -> np.ndarray:
        return self.diamonds.scores(min_coverage)

    def expected(self) -> dict[int, float]:
        return {b: self.exp_sum[b] / self.exp_n[b] for b in self.exp_n if self.exp_n[b] > 0}


# ---------------------------------------------------------------------------------------------
# the learned insulation barrier

BOUNDARY_SOURCES = ("auto", "attention", "barrier")


def element_insulation(checkpoint: str | Path, predict_dir: str | Path, reference: data.Reference,
                       *, batch: int = 65_536) -> np.ndarray | None:
    """Per-cCRE learned insulation ``u`` averaged over heads (nats, float64 ``[n_ccre]``) of the
    checkpoint's gene-level encoder, read off ``predict_dir/element_embeddings.npy``; ``None`` when the
    model has no insulation term (``ModelConfig.insulation`` off, e.g. the published model)."""
    import torch

    model, _ = load_model(checkpoint, torch.device("cpu"), reference=reference)
    ins = model.gene.insulation
    if ins is None:
        return None
    path = predict_outputs(predict_dir)["embeddings"]
    fix = "run the predict stage for this cell type with this checkpoint"
    if not path.exists():
        raise InputError("element embeddings not found", path=path, fix=fix)
    emb = np.load(path, mmap_mode="r")
    if emb.ndim != 2 or emb.shape != (reference.n_ccre, model.config.d_model):
        raise InputError(f"element embeddings have shape {emb.shape}, expected "
                         f"({reference.n_ccre}, {model.config.d_model}) for this reference and model",
                         path=path, fix=fix)
    out = np.empty(len(emb), np.float64)
    with torch.no_grad():
        for lo in range(0, len(emb), batch):
            x = torch.from_numpy(np.array(emb[lo:lo + batch], dtype=np.float32))[None]
            u = ins.strength(x, torch.ones(x.shape[:2], dtype=torch.bool))[0]
            out[lo:lo + batch] = u.mean(dim=-1).double().numpy()
    return out


def barrier_tracks(strength: np.ndarray, centre: np.ndarray, chrom_code: np.ndarray, chroms, resolution: int
                   ) -> dict[str, np.ndarray]:
    """Relative barrier per bin for each chromosome of ``chroms`` (``_Chrom``): the sum of
    ``strength`` over the elements centred in the bin, divided by the mean over all bins (of all
    ``chroms``) that hold an element. All zeros when no element has any insulation."""
    raw, total, n_occupied = {}, 0.0, 0
    for ch in chroms:
        sel = chrom_code == ch.code
        b = np.asarray(centre[sel]) // resolution
        raw[ch.name] = np.bincount(b, weights=strength[sel], minlength=ch.n_bins)[:ch.n_bins]
        occupied = np.bincount(b, minlength=ch.n_bins)[:ch.n_bins] > 0
        total += float(raw[ch.name][occupied].sum())
        n_occupied += int(occupied.sum())
    scale = total / n_occupied if n_occupied else 0.0
    if not scale > 0:
        return {k: np.zeros_like(v) for k, v in raw.items()}
    return {k: v / scale for k, v in raw.items()}


def call_barrier_boundaries(barrier: np.ndarray, min_prominence: float, min_distance: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a barrier track with prominence >= ``min_prominence`` and at least ``min_distance``
    bins apart (the higher peak wins): ``(bins, prominences)`` sorted by bin."""
    from scipy.signal import find_peaks

    x = np.asarray(barrier, dtype=np.float64)
    if len(x) < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    peaks, props = find_peaks(x, prominence=min_prominence, distance=max(int(min_distance), 1))
    return peaks.astype(np.int64), np.asarray(props["prominences"], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# the stage


@dataclass
class _Chrom:
    name: str
    size: int
    n_bins: int
    bin_offset: int
    code: int  # index into reference.chroms


def _chromosomes(reference: data.Reference, sizes: dict[str, int], resolution: int,
                 sizes_path: Path) -> list[_Chrom]:
    present = set(np.unique(reference.ccre_chrom).tolist())
    names = [reference.chroms[c] for c in sorted(present)]
    for name in names:
        if name not in sizes:
            raise InputError(f"chromosome '{name}' of the reference is not in the chrom sizes file",
                             path=sizes_path, fix="use the chrom.sizes of the reference's assembly")
    code = {c: i for i, c in enumerate(reference.chroms)}
    out, off = [], 0
    for name, size in sizes.items():
        if name not in names:
            continue
        ci = code[name]
        centres = reference.ccre_center[reference.ccre_chrom == ci]
        if len(centres) and int(centres.max()) >= size:
            raise InputError(f"cCREs on {name} lie past its end ({size})", path=sizes_path,
                             fix="use the chrom.sizes of the reference's assembly")
        n = -(-size // resolution)
        out.append(_Chrom(name, int(size), int(n), off, ci))
        off += n
    return out


def _bins_table(chroms: list[_Chrom], resolution: int) -> pd.DataFrame:
    """Fixed bins of ``resolution`` bp over ``chroms`` (the last bin of each clipped at its end)."""
    parts = []
    for c in chroms:
        start = np.arange(-(-c.size // resolution), dtype=np.int64) * resolution
        parts.append(pd.DataFrame({"chrom": c.name, "start": start,
                                   "end": np.minimum(start + resolution, c.size)}))
    bins = pd.concat(parts, ignore_index=True)
    bins["chrom"] = pd.Categorical(bins["chrom"], categories=[c.name for c in chroms], ordered=True)
    return bins


def _pixel_frame(parts: list[tuple[np.ndarray, ...]], offset: int) -> pd.DataFrame:
    r = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    c = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    s = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    n = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64)
    return pd.DataFrame({"bin1_id": (r + offset).astype(np.int64), "bin2_id": (c + offset).astype(np.int64),
                         "count": np.divide(s, n, out=np.zeros_like(s, dtype=np.float64), where=n > 0),
                         "n": n.astype(np.int32)})


#: the coarsest resolution of the attention .mcool (bp)
MCOOL_MAX_BP = 1_000_000
#: pixels per step when zoomifying and when turning sums into means
MCOOL_CHUNK = 2_000_000


def zoom_resolutions(base: int, max_bp: int = MCOOL_MAX_BP) -> list[int]:
    """``base`` times 1, 2, 5, 10, 20, 50, ... up to ``max_bp`` (the "nice" steps of ``cooler zoomify``;
    each is a multiple of a finer one); ``[base]`` when ``base >= max_bp``."""
    out, step = [int(base)], 1
    while True:
        for m in (2, 5, 10):
            r = int(base) * step * m
            if r > max_bp:
                return out
            out.append(r)
        step *= 10


def coarsen_pixels(base_uri: str, factor: int, chunk: int = MCOOL_CHUNK) -> Iterator[pd.DataFrame]:
    """The pixels of a tads cooler at ``base_uri`` (``count`` = mean, ``n`` = contributions; cis
    only) pooled over blocks of ``factor x factor`` bins of each chromosome (counted from its start, as
    ``cooler coarsen`` does): ``count`` = sum of ``count * n`` / sum of ``n`` (the mean over all the
    contributions of the coarse bin pair, not a sum of means), ``n`` = sum of ``n`` (int64). Read in
    runs of whole coarse rows of about ``chunk`` pixels; yielded sorted."""
    import cooler

    clr = cooler.Cooler(base_uri)
    chrom_offset = clr._load_dset("indexes/chrom_offset")
    bin1_offset = clr._load_dset("indexes/bin1_offset")
    coarse0 = 0
    for i in range(len(clr.chromnames)):
        c0, c1 = int(chrom_offset[i]), int(chrom_offset[i + 1])
        a = c0
        while a < c1:
            b = min(a + factor, c1)
            while b < c1 and bin1_offset[min(b + factor, c1)] - bin1_offset[a] <= chunk:
                b = min(b + factor, c1)
            px = clr.pixels()[int(bin1_offset[a]):int(bin1_offset[b])]
            a = b
            if len(px) == 0:
                continue
            b2 = px["bin2_id"].to_numpy()
            if int(b2.max()) >= c1:
                raise ValueError(f"{base_uri}: pixels between chromosomes (the tads cooler is cis only)")
            n = px["n"].to_numpy(np.int64)
            width = -(-(c1 - c0) // factor)   # coarse bins of the chromosome
            key = ((px["bin1_id"].to_numpy(np.int64) - c0) // factor) * width + (b2.astype(np.int64) - c0) // factor
            uniq, inv = np.unique(key, return_inverse=True)
            total = np.bincount(inv, weights=px["count"].to_numpy(np.float64) * n)
            nn = np.bincount(inv, weights=n).astype(np.int64)   # exact: sums of integers far below 2**53
            yield pd.DataFrame({"bin1_id": uniq // width + coarse0, "bin2_id": uniq % width + coarse0,
                                "count": total / nn, "n": nn})
        coarse0 += -(-(c1 - c0) // factor)


def zoom_mcool(path: str | Path, chroms: list[_Chrom], resolutions: list[int], *, assembly: str | None,
               metadata: dict) -> None:
    """Add to the .mcool at ``path``, whose ``resolutions/{resolutions[0]}`` is written, the coarser
    ``resolutions`` (:func:`coarsen_pixels` of the coarsest finer level that divides each) and the
    file attributes ``cooler zoomify`` writes; every level is marked as fixed bins of its resolution."""
    import cooler
    import h5py

    done = [resolutions[0]]
    for res in resolutions[1:]:
        # pooled from the coarsest level already written that divides it (the weighted mean of
        # weighted means is the mean over all contributions)
        src = max((r for r in done if res % r == 0), default=None)
        if src is None:
            raise ValueError(f"resolution {res} is not a multiple of the base resolution {resolutions[0]}")
        cooler.create_cooler(f"{path}::resolutions/{res}", _bins_table(chroms, res),
                             coarsen_pixels(f"{path}::resolutions/{src}", res // src), columns=["count", "n"],
                             dtypes={"count": np.float64, "n": np.int64}, ordered=True, symmetric_upper=True,
                             mode="a", metadata={**metadata, "resolution": res}, assembly=assembly)
        done.append(res)
    with h5py.File(str(path), "r+") as f:
        f.attrs.update({"format": "HDF5::MCOOL", "format-version": 2})
        for res in resolutions:
            # cooler infers the bin size from the bins before each chromosome's last one: none when
            # every chromosome fits in one bin (a small genome at 1 Mb); the bins are fixed all the same
            f[f"resolutions/{res}"].attrs.update({"bin-type": "fixed", "bin-size": int(res)})


def tads(*, reference: str | Path, predict_dir: str | Path, chrom_sizes: str | Path, out_mcool: str | Path,
         out_insulation: str | Path, out_boundaries: str | Path, out_loops: str | Path, cell: str | None = None,
         out_insulation_bw: str | Path | None = None, out_barrier_bw: str | Path | None = None,
         assembly: str | None = None,
         resolution: int = 10_000, window_bins: int = 10, min_prominence: float = 0.1,
         min_coverage: float = 0.5, loop_oe: float = 2.0, loop_min_distance: int = 20_000,
         loop_min_count: int = 1, loop_radius: int = 2, ignore_diags: int = 1,
         checkpoint: str | Path | None = None, out_barrier: str | Path | None = None,
         boundaries_from: str = "auto", barrier_prominence: float = 1.5, barrier_distance_bins: int = 3) -> dict:
    """Run the tads stage (module docstring); returns a summary dict."""
    import cooler

    if resolution < 1:
        raise InputError("--resolution must be >= 1 bp", fix="give a bin size such as 10000")
    if window_bins < 1:
        raise InputError("--window-bins must be >= 1", fix="give a positive number of bins")
    if not 0.0 <= min_coverage <= 1.0:
        raise InputError("--min-coverage must lie in [0, 1]", fix="e.g. 0.5")
    if boundaries_from not in BOUNDARY_SOURCES:
        raise InputError(f"--boundaries-from {boundaries_from!r} is not one of {', '.join(BOUNDARY_SOURCES)}",
                         fix="give auto, attention or barrier")
    if (out_barrier is not None or out_barrier_bw is not None or boundaries_from == "barrier") and checkpoint is None:
        raise InputError("the barrier track needs the model: --checkpoint is missing",
                         fix="give --checkpoint (the checkpoint the predict stage used)")
    if barrier_prominence < 0 or barrier_distance_bins < 1:
        raise InputError("--barrier-prominence must be >= 0 and --barrier-distance-bins >= 1",
                         fix="e.g. --barrier-prominence 1.5 --barrier-distance-bins 3")
    sizes_path = Path(chrom_sizes)
    ref = data.open_reference(reference)
    sizes = read_chrom_sizes(sizes_path)
    arr, offsets = open_element_attention(predict_dir, ref, cell)
    chroms = _chromosomes(ref, sizes, resolution, sizes_path)
    bins = _bins_table(chroms, resolution)
    strength = element_insulation(checkpoint, predict_dir, ref) if checkpoint is not None else None
    if strength is None and boundaries_from == "barrier":
        raise InputError("the model has no learned insulation, so there is no barrier track to call "
                         "boundaries from", path=checkpoint,
                         fix="use --boundaries-from attention (or auto), or a model trained with "
                             "train.model.insulation: true")
    use_barrier = strength is not None and boundaries_from in ("auto", "barrier")
    barrier = (barrier_tracks(strength, ref.ccre_center, ref.ccre_chrom, chroms, resolution)
               if strength is not None else None)
    win = ref.window_sizes
    stats: dict[str, _ChromStats] = {}

    if offsets is None and int(arr.attrs["resolution"]) != resolution:
        raise InputError(f"the attention store was binned at {int(arr.attrs['resolution'])} bp during predict, "
                         f"not at --resolution {resolution}", path=predict_outputs(predict_dir)["attention"],
                         fix=f"give --resolution {int(arr.attrs['resolution'])}, or rerun predict with "
                             f"--element-resolution {resolution} (or without it, for the full store)")

    def binned_pixels(ch: _Chrom) -> pd.DataFrame | None:
        if str(ch.code) not in arr:
            return None
        g = arr[str(ch.code)]
        r, c, sm, n = (np.asarray(g[k][...]) for k in ("bin1", "bin2", "sum", "n"))
        if len(c) and int(c.max()) >= ch.n_bins:
            raise InputError(f"the binned attention of {ch.name} runs past its end", path=Path(predict_dir),
                             fix="use the chrom.sizes of the reference's assembly")
        return _chrom_pixels([(r, c, sm, n)], stats[ch.name], ch.bin_offset)

    def pixels() -> Iterator[pd.DataFrame]:
        # side effect: fills `stats` (insulation and expected) chromosome by chromosome
        for ch in chroms:
            st = stats[ch.name] = _ChromStats(ch.n_bins, window_bins, ignore_diags)
            if offsets is None:
                df = binned_pixels(ch)
                if df is not None:
                    yield df
                continue
            genes = np.flatnonzero((ref.gene_chrom == ch.code) & (win > 0))
            if len(genes) == 0:
                continue
            first_bin, last_bin = window_bin_span(ref, genes, resolution)
            band = int((last_bin - first_bin).max()) + 1
            genes = genes[np.argsort(first_bin, kind="stable")]
            acc = BandAccumulator(ch.n_bins, band)

            def flush(parts):
                return _chrom_pixels(parts, st, ch.bin_offset)

            # read in index order (contiguous), feed in first-bin order
            order = {int(g): i for i, g in enumerate(genes)}
            pending: dict[int, tuple] = {}
            nxt = 0
            for g, attn in iter_gene_attention(arr, offsets, np.sort(genes), win):
                eb = ref.ccre_center[ref.lo[g]:ref.hi[g]] // resolution
                pending[order[g]] = binned_block(attn, eb)
                while nxt in pending:
                    df = flush(acc.add(*pending.pop(nxt)))
                    nxt += 1
                    if df is not None:
                        yield df
            df = flush([acc.finish()])
            if df is not None:
                yield df
        yield pd.DataFrame({"bin1_id": np.zeros(0, np.int64), "bin2_id": np.zeros(0, np.int64),
                            "count": np.zeros(0), "n": np.zeros(0, np.int32)})

    meta = dict(creator_stage="tads", cell_type=cell, resolution=resolution,
                value="count = mean symmetrised last-layer head-mean attention over (element pair, window) "
                      "contributions; n = number of contributions",
                reference_id=ref.reference_id)
    resolutions = zoom_resolutions(resolution)
    with atomic_path(out_mcool) as tmp_mcool:
        base_uri = f"{tmp_mcool}::resolutions/{resolution}"
        cooler.create_cooler(base_uri, bins, pixels(), columns=["count", "n"],
                             dtypes={"count": np.float64, "n": np.int32}, ordered=True,
                             symmetric_upper=True, metadata=meta, assembly=assembly)
        zoom_mcool(tmp_mcool, chroms, resolutions, assembly=assembly, metadata=meta)
        # loops: second pass over the written pixels, per chromosome, in chunks
        loops = call_loops(base_uri, chroms, stats, resolution=resolution, loop_oe=loop_oe,
                           loop_min_distance=loop_min_distance, loop_min_count=loop_min_count, radius=loop_radius)
    log.info("%s: attention map at %s bp -> %s", cell or "", ", ".join(map(str, resolutions)), out_mcool)

    # insulation and boundaries
    ins_parts, bnd_parts, bar_parts = [], [], []
    for ch in chroms:
        st = stats.get(ch.name) or _ChromStats(ch.n_bins, window_bins, ignore_diags)
        ins = st.insulation(min_coverage)
        start = np.arange(ch.n_bins, dtype=np.int64) * resolution
        end = np.minimum(start + resolution, ch.size)
        ins_parts.append(pd.DataFrame({"chrom": ch.name, "start": start, "end": end, "value": ins}))
        bar_parts.append(pd.DataFrame({"chrom": ch.name, "start": start, "end": end,
                                       "value": barrier[ch.name] if barrier is not None else 0.0}))
        if use_barrier:
            kb, prom = call_barrier_boundaries(barrier[ch.name], barrier_prominence, barrier_distance_bins)
        else:
            kb, prom = call_boundaries(ins, min_prominence)
        bnd_parts.append(pd.DataFrame({"chrom": ch.name, "start": start[kb], "end": end[kb],
                                       "name": "", "score": prom, "strand": "."}))
    ins_df = pd.concat(ins_parts, ignore_index=True)
    covered = np.isfinite(ins_df["value"].to_numpy())
    bnd_df = pd.concat(bnd_parts, ignore_index=True)
    bnd_df["name"] = [f"boundary_{i + 1}" for i in range(len(bnd_df))]
    sizes_of_run = [(ch.name, ch.size) for ch in chroms]
    with atomic_path(out_insulation) as tmp:
        ins_df[covered].to_csv(tmp, sep="\t", header=False, index=False, float_format="%.6g")
    if out_insulation_bw is not None:
        write_bigwig(out_insulation_bw, sizes_of_run, ins_df)
    with atomic_path(out_boundaries) as tmp:
        bnd_df.to_csv(tmp, sep="\t", header=False, index=False, float_format="%.6g")
    bar_df = pd.concat(bar_parts, ignore_index=True)
    if out_barrier is not None:
        with atomic_path(out_barrier) as tmp:
            with open(tmp, "w") as fh:
                if barrier is None:
                    fh.write("# the model has no learned insulation (train.model.insulation off): barrier 0\n")
                bar_df.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6g")
    if out_barrier_bw is not None:
        write_bigwig(out_barrier_bw, sizes_of_run, bar_df)

    with atomic_path(out_loops) as tmp:
        with open(tmp, "w") as fh:
            fh.write("#" + "\t".join(LOOP_COLUMNS) + "\n")
            loops.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6g")
    summary = dict(chromosomes=len(chroms), bins=len(bins),
                   covered_bins=int(covered.sum()), resolutions=resolutions,
                   boundaries=len(bnd_df), boundaries_from="barrier" if use_barrier else "attention",
                   loops=len(loops))
    log.info("%s: %s", cell or "tads", summary)
    return summary


def call_loops(cool_path: str | Path, chroms: list[_Chrom], stats: dict[str, _ChromStats], *,
               resolution: int, loop_oe: float, loop_min_distance: int, loop_min_count: int,
               radius: int = 2, chunk: int = 1 << 20) -> pd.DataFrame:
    """Pixels with observed / expected(log-distance bin) >= ``loop_oe`` (module docstring)."""
    import cooler

    clr = cooler.Cooler(str(cool_path))
    bin1_offset = clr._load_dset("indexes/bin1_offset")
    min_d = max(1, math.ceil(loop_min_distance / resolution))
    parts = []
    for ch in chroms:
        st = stats.get(ch.name)
        if st is None:
            continue
        exp = st.expected()
        if not exp:
            continue
        table = np.zeros(max(exp) + 1)
        for b, v in exp.items():
            table[b] = v
        lo, hi = int(bin1_offset[ch.bin_offset]), int(bin1_offset[ch.bin_offset + ch.n_bins])
        cand = []
        for a in range(lo, hi, chunk):
            px = clr.pixels()[a:min(a + chunk, hi)]
            r = px["bin1_id"].to_numpy() - ch.bin_offset
            c = px["bin2_id"].to_numpy() - ch.bin_offset
            d = c - r
            keep = (d >= min_d) & (px["n"].to_numpy() >= loop_min_count)
            if not keep.any():
                continue
            r, c, d = r[keep], c[keep], d[keep]
            obs = px["count"].to_numpy()[keep]
            n = px["n"].to_numpy()[keep]
            db = pixel_distance_bin(d)
            e = table[np.minimum(db, len(table) - 1)]
            oe = np.divide(obs, e, out=np.zeros_like(obs), where=e > 0)
            sel = oe >= loop_oe
            if not sel.any():
                continue
            cand.append((r[sel], c[sel], oe[sel], obs[sel], e[sel], n[sel]))
        if not cand:
            continue
        r, c, oe, obs, e, n = (np.concatenate(x) for x in zip(*cand))
        keep = summits(r, c, oe, radius)
        s1 = r[keep] * resolution
        s2 = c[keep] * resolution
        parts.append(pd.DataFrame({
            "chrom1": ch.name, "start1": s1, "end1": np.minimum(s1 + resolution, ch.size),
            "chrom2": ch.name, "start2": s2, "end2": np.minimum(s2 + resolution, ch.size),
            "name": "", "score": oe[keep], "strand1": ".", "strand2": ".",
            "observed": obs[keep], "expected": e[keep], "n": n[keep]}))
    if not parts:
        return pd.DataFrame({k: [] for k in LOOP_COLUMNS})
    out = pd.concat(parts, ignore_index=True)  # already sorted: chromosome order, bin1, bin2
    out["name"] = [f"loop_{i + 1}" for i in range(len(out))]
    return out[list(LOOP_COLUMNS)]


def summits(r: np.ndarray, c: np.ndarray, value: np.ndarray, radius: int) -> np.ndarray:
    """Mask of the pixels ``(r, c)`` (sorted by ``(r, c)``, unique) whose ``value`` is the largest
    among the given pixels within ``radius`` bins in both directions; a tie goes to the pixel that
    comes first in sorted order."""
    keep = np.ones(len(r), bool)
    if radius <= 0 or len(r) == 0:
        return keep
    width = int(c.max()) + radius + 2
    key = r.astype(np.int64) * width + c
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            if dr == 0 and dc == 0:
                continue
            nk = (r + dr).astype(np.int64) * width + (c + dc)
            pos = np.searchsorted(key, nk)
            pos_ok = pos < len(key)
            found = np.zeros(len(r), bool)
            found[pos_ok] = key[pos[pos_ok]] == nk[pos_ok]
            other = value[np.minimum(pos, len(key) - 1)]
            earlier = nk < key
            beaten = found & ((other > value) | ((other == value) & earlier))
            keep &= ~beaten
    return keep


#: tads settings of the config (key -> command-line flag dest)
_TADS_FLAGS = {"resolution_bp": "resolution", "window_bins": "window_bins", "min_prominence": "min_prominence",
               "loop_oe": "loop_oe", "loop_min_distance": "loop_min_distance", "boundaries_from": "boundaries_from",
               "barrier_prominence": "barrier_prominence", "barrier_distance_bins": "barrier_distance_bins"}


def add_cli(sub) -> None:
    _D = section_defaults("tads")  # the config schema's defaults
    p = sub.add_parser("tads", help="attention map (cooler), insulation, boundaries and loops",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p, "tads and reference")
    p.add_argument("--reference", required=True, help="reference directory (results/reference)")
    p.add_argument("--predict-dir", required=True, help="predict output directory with attention.zarr")
    p.add_argument("--cell", required=True, help="cell type name (checked against the attention store)")
    p.add_argument("--chrom-sizes", required=True, help="chrom.sizes of the reference's assembly")
    p.add_argument("--resolution", type=int, help=f"tads.resolution_bp: bin size in bp (default {_D['resolution_bp']})")
    p.add_argument("--out-mcool", required=True, help="output .mcool (resolutions from --resolution up to 1 Mb)")
    p.add_argument("--assembly", help="reference.assembly recorded in the .mcool (genome-assembly; e.g. hg38)")
    p.add_argument("--out-insulation", required=True, help="output insulation bedGraph (covered bins only)")
    p.add_argument("--out-insulation-bw", help="output insulation bigWig (covered bins only)")
    p.add_argument("--out-boundaries", required=True, help="output boundaries BED")
    p.add_argument("--out-loops", required=True, help="output loops BEDPE")
    p.add_argument("--window-bins", type=int,
                   help=f"tads.window_bins: insulation diamond size in bins (default {_D['window_bins']})")
    p.add_argument("--min-prominence", type=float,
                   help="tads.min_prominence: minimum boundary prominence in log2 insulation units "
                        f"(default {_D['min_prominence']})")
    p.add_argument("--min-coverage", type=float, default=0.5,
                   help="fraction of a diamond's pixels that must be covered, else NaN (default 0.5)")
    p.add_argument("--loop-oe", type=float, help=f"tads.loop_oe: minimum observed/expected for a loop (default {_D['loop_oe']})")
    p.add_argument("--loop-min-distance", type=int,
                   help=f"tads.loop_min_distance: minimum loop anchor distance in bp (default {_D['loop_min_distance']})")
    p.add_argument("--loop-min-count", type=int, default=1,
                   help="minimum (element pair, window) contributions of a loop pixel (default 1)")
    p.add_argument("--loop-radius", type=int, default=2,
                   help="a loop must be the O/E summit within this many bins (default 2; 0: off)")
    p.add_argument("--checkpoint", help="the model checkpoint (for the learned-insulation barrier track)")
    p.add_argument("--out-barrier", help="output barrier bedGraph (needs --checkpoint)")
    p.add_argument("--out-barrier-bw", help="output barrier bigWig (needs --checkpoint)")
    p.add_argument("--boundaries-from", choices=BOUNDARY_SOURCES,
                   help="tads.boundaries_from: call boundaries from the attention insulation or the learned "
                        f"barrier; auto: the barrier when the checkpoint has learned insulation (default {_D['boundaries_from']})")
    p.add_argument("--barrier-prominence", type=float,
                   help="tads.barrier_prominence: minimum barrier peak prominence, in units of the mean occupied "
                        f"bin (default {_D['barrier_prominence']})")
    p.add_argument("--barrier-distance-bins", type=int,
                   help=f"tads.barrier_distance_bins: minimum bins between two barrier boundaries (default {_D['barrier_distance_bins']})")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    cfg = stage_settings(args.config, "tads", {k: getattr(args, v) for k, v in _TADS_FLAGS.items()})
    assembly = args.assembly or (stage_settings(args.config, "reference")["assembly"] if args.config else None)
    tads(reference=args.reference, predict_dir=args.predict_dir, chrom_sizes=args.chrom_sizes,
         out_mcool=args.out_mcool, out_insulation=args.out_insulation, out_boundaries=args.out_boundaries,
         out_insulation_bw=args.out_insulation_bw, out_barrier_bw=args.out_barrier_bw, assembly=assembly,
         out_loops=args.out_loops, cell=args.cell, resolution=cfg["resolution_bp"], window_bins=cfg["window_bins"],
         min_prominence=cfg["min_prominence"], min_coverage=args.min_coverage, loop_oe=cfg["loop_oe"],
         loop_min_distance=cfg["loop_min_distance"], loop_min_count=args.loop_min_count,
         loop_radius=args.loop_radius, checkpoint=args.checkpoint, out_barrier=args.out_barrier,
         boundaries_from=cfg["boundaries_from"], barrier_prominence=cfg["barrier_prominence"],
         barrier_distance_bins=cfg["barrier_distance_bins"])
    return 0
