"""Boundaries against Hi-C insulation and planted truth, beside an input-only baseline. (Part of
:mod:`creator.evaluate`; the metrics and files are described there.)"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from creator.errors import InputError
from creator.formats import evaluate_outputs
from creator.insulation import DiamondInsulation
from creator.io import chrom_sort_key, suggest_chrom, write_json, write_tsv

from .common import _row, write_summary
from .expression import correlations
from .contacts import Contacts, JuicerTextSource, _common_resolution, check_assembly, oe_pixels, open_contacts

log = logging.getLogger("creator.evaluate")


def insulation(contacts: Contacts, window_bins: int, *, min_valid_fraction: float = 0.5,
               absent_is_missing: bool = False) -> pd.DataFrame:
    """Diamond insulation of every bin (:class:`creator.insulation.DiamondInsulation`, the tads
    stage's and cooltools' definition; position = the bin's centre). Hi-C: an absent pixel between
    covered bins (:meth:`Contacts.covered`) is a zero, as cooltools counts it; an attention map
    (``absent_is_missing``): no data. NaN where less than ``min_valid_fraction`` of the diamond counts."""
    w = int(window_bins)
    if w < 1:
        raise InputError(f"insulation window of {w} bins", fix="use --window-bp of at least the resolution")
    n = contacts.n_bins
    i, j, v = contacts.bin1, contacts.bin2, contacts.value
    ok = np.isfinite(v) & (i < j)
    diamonds = DiamondInsulation(n, w, 1)
    diamonds.add(i[ok], j[ok], v[ok])
    covered = None if absent_is_missing else contacts.covered()
    return pd.DataFrame({"chrom": contacts.chrom,
                         "position": np.arange(n) * contacts.resolution + contacts.resolution // 2,
                         "insulation": diamonds.scores(min_valid_fraction, covered),
                         "mean_contact": diamonds.mean(min_valid_fraction, covered)})


def call_boundaries(ins: pd.DataFrame, *, prominence: float = 0.2) -> pd.DataFrame:
    """Local minima of the insulation score with at least ``prominence`` (log2 units), per chromosome.
    NaN stretches separate the minima (they count as the lowest points around them)."""
    from scipy.signal import find_peaks

    out = []
    for chrom, g in ins.groupby("chrom", sort=False):
        x = g["insulation"].to_numpy(float)
        fin = np.isfinite(x)
        if fin.sum() < 3:
            continue
        y = -x
        y[~fin] = np.nanmin(y[fin])
        peaks, props = find_peaks(y, prominence=prominence)
        peaks_ok = fin[peaks]
        for p, prom in zip(peaks[peaks_ok], props["prominences"][peaks_ok]):
            out.append(dict(chrom=chrom, position=int(g["position"].iloc[p]), insulation=float(x[p]),
                            prominence=float(prom)))
    return pd.DataFrame(out, columns=["chrom", "position", "insulation", "prominence"])


def read_bedgraph(path, *, what: str = "bedGraph") -> pd.DataFrame:
    """A bedGraph (``chrom start end value``; ``#``/``track`` lines skipped) -> those four columns;
    a malformed line raises :class:`InputError` naming it."""
    from creator.io import read_bed

    bed = read_bed(path, what=what)   # checks the intervals; column 4 is its "name"
    values = np.empty(len(bed), np.float64)
    for k, (v, lineno) in enumerate(zip(bed["name"], bed["line"])):
        try:
            values[k] = float(v)
        except ValueError:
            raise InputError(f"{what} line has no numeric value in column 4", path=path, line=int(lineno),
                             fix="write chrom, start, end and value separated by tabs") from None
    return pd.DataFrame({"chrom": bed["chrom"].astype(str), "start": bed["start"], "end": bed["end"],
                         "value": values})


def read_boundaries(path, *, what: str = "boundaries BED") -> pd.DataFrame:
    """A boundaries BED -> ``chrom, position`` (the midpoint of each interval), ``name``."""
    from creator.io import read_bed

    bed = read_bed(path, what=what)
    return pd.DataFrame({"chrom": bed["chrom"].astype(str), "position": (bed["start"] + bed["end"]) // 2,
                         "name": bed["name"].astype(str)})


def _near(query: np.ndarray, ref: np.ndarray, tol: float) -> np.ndarray:
    """For each sorted-or-not ``query`` position: is a ``ref`` position within ``tol``?"""
    if not len(ref) or not len(query):
        return np.zeros(np.shape(query), bool)
    r = np.sort(ref)
    k = np.searchsorted(r, query)
    left = np.abs(query - r[np.clip(k - 1, 0, len(r) - 1)])
    right = np.abs(r[np.clip(k, 0, len(r) - 1)] - query)
    return np.minimum(left, right) <= tol


def boundary_overlap(ours: pd.DataFrame, ref: pd.DataFrame, tolerance: float) -> dict:
    """Recall (ref boundaries with one of ours within ``tolerance``), precision (ours with a ref
    boundary within it) and the count of ours matched (``overlap``)."""
    n_ours_matched = 0
    n_ref_matched = 0
    for chrom in set(ours["chrom"]) | set(ref["chrom"]):
        a = ours.loc[ours["chrom"] == chrom, "position"].to_numpy(float)
        b = ref.loc[ref["chrom"] == chrom, "position"].to_numpy(float)
        n_ours_matched += int(_near(a, b, tolerance).sum())
        n_ref_matched += int(_near(b, a, tolerance).sum())
    n_ours, n_ref = len(ours), len(ref)
    return dict(n_ours=n_ours, n_ref=n_ref, overlap=n_ours_matched,
                precision=n_ours_matched / n_ours if n_ours else float("nan"),
                recall=n_ref_matched / n_ref if n_ref else float("nan"), tolerance=tolerance)


def shuffle_enrichment(ours: pd.DataFrame, ref: pd.DataFrame, regions: Mapping[str, np.ndarray], tolerance: float,
                       *, n_shuffles: int = 1000, seed: int = 0) -> dict:
    """Place our boundaries at random ``n_shuffles`` times (the same count per chromosome, uniformly
    within ``regions[chrom]``: an ``[k, 2]`` array of allowed ``[start, end)`` intervals) and count
    how many fall within ``tolerance`` of a ``ref`` boundary. Returns the observed count, the
    shuffled mean and sd, ``enrichment`` (observed / mean) and the empirical ``p_value``
    ``(1 + #{shuffled >= observed}) / (1 + n_shuffles)``."""
    rng = np.random.default_rng(seed)
    observed = boundary_overlap(ours, ref, tolerance)["overlap"]
    counts = np.zeros(n_shuffles, np.int64)
    for chrom, g in ours.groupby("chrom"):
        k = len(g)
        iv = np.asarray(regions.get(chrom, np.empty((0, 2))), dtype=float).reshape(-1, 2)
        lengths = iv[:, 1] - iv[:, 0]
        if not k or lengths.sum() <= 0:
            continue
        cum = np.r_[0, np.cumsum(lengths)]
        u = rng.uniform(0, cum[-1], size=(n_shuffles, k))
        idx = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(iv) - 1)
        pos = iv[idx, 0] + (u - cum[idx])
        r = ref.loc[ref["chrom"] == chrom, "position"].to_numpy(float)
        counts += _near(pos.ravel(), r, tolerance).reshape(n_shuffles, k).sum(axis=1)
    mean = float(counts.mean()) if n_shuffles else float("nan")
    return dict(observed=int(observed), shuffled_mean=mean,
                shuffled_sd=float(counts.std()) if n_shuffles else float("nan"),
                enrichment=observed / mean if mean > 0 else float("nan"),
                p_value=(1 + int((counts >= observed).sum())) / (1 + n_shuffles), n_shuffles=int(n_shuffles),
                seed=int(seed))


def _runs(mask: np.ndarray, resolution: int) -> np.ndarray:
    """``[k, 2]`` bp intervals of the True runs of a per-bin mask."""
    if not mask.any():
        return np.empty((0, 2))
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return np.column_stack([starts, ends]).astype(float) * resolution


def _restrict(bounds: pd.DataFrame, regions: Mapping[str, np.ndarray]) -> pd.DataFrame:
    keep = np.zeros(len(bounds), bool)
    pos = bounds["position"].to_numpy(float)
    chroms = bounds["chrom"].to_numpy(dtype=object)
    for chrom, iv in regions.items():
        iv = np.asarray(iv).reshape(-1, 2)
        m = chroms == chrom
        inside = np.zeros(m.sum(), bool)
        for a, b in iv:
            inside |= (pos[m] >= a) & (pos[m] < b)
        keep[np.flatnonzero(m)[inside]] = True
    return bounds[keep].reset_index(drop=True)


def _note(against: str, ov: dict, sh: dict) -> str:
    """``planted: recall 0.95, precision 0.18, 4.1x`` for the plot's legend."""
    return (f"{against}: recall {_fmt(ov['recall'])}, precision {_fmt(ov['precision'])}, "
            f"{_fmt(sh['enrichment'])}x shuffled")


def _fmt(x) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _bed_resolution(path) -> int:
    """The median interval width of a boundaries BED (our boundaries are genome bins)."""
    from creator.io import read_bed

    bed = read_bed(path, what="boundaries BED")
    return int(np.median(bed["end"] - bed["start"])) if len(bed) else 10_000


def _boundary_rows(prefix: str, cell_type: str, method: str, ours, ref, regions, tol, *, n_shuffles: int,
                   seed: int) -> tuple[dict, dict, list[dict]]:
    """Overlap of our boundaries with ``ref`` and its enrichment over shuffles, as summary rows
    ``{prefix}_boundary_{recall,precision,overlap,shuffled_mean,enrichment,pvalue}``."""
    ov = boundary_overlap(ours, ref, tol)
    sh = shuffle_enrichment(ours, ref, regions, tol, n_shuffles=n_shuffles, seed=seed)
    rows = [_row(cell_type, method, f"{prefix}_boundary_recall", ov["recall"], ov["n_ref"]),
            _row(cell_type, method, f"{prefix}_boundary_precision", ov["precision"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_overlap", ov["overlap"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_shuffled_mean", sh["shuffled_mean"], sh["n_shuffles"]),
            _row(cell_type, method, f"{prefix}_boundary_enrichment", sh["enrichment"], ov["n_ours"]),
            _row(cell_type, method, f"{prefix}_boundary_pvalue", sh["p_value"], sh["n_shuffles"])]
    return ov, sh, rows


def evaluate_hic(boundaries, out, *, cell_type: str, model: str | None = None, hic=None,
                 hic_chrom: str | None = None, hic_resolution: int | None = None, hic_balance: bool | None = None,
                 attention=None, truth_boundaries=None, chrom_sizes=None, window_bp: int = 100_000, barrier=None,
                 prominence: float = 0.2, tolerance_bp: int | None = None, n_shuffles: int = 1000, seed: int = 0,
                 max_distance_bp: int = 2_000_000, max_pixels: int = 2_000_000, plot: bool = True,
                 reference=None, features=None, baseline_distance_bins: int = 3) -> dict:
    """Boundaries (our BED) against Hi-C insulation boundaries and/or planted truth boundaries, and
    the O/E correlation of attention with Hi-C (see the module docstring); with ``reference`` and
    ``features`` (the cell's signal.zarr) the same figures for as many boundaries called from the
    CTCF (else DNase) signal alone (:mod:`creator.boundary_baselines`); writes summary.tsv,
    hic.json, hic_insulation.tsv, hic_boundaries.bed and insulation.png under ``out``."""
    from creator import boundary_baselines
    from creator.io import read_chrom_sizes

    out = Path(out)
    files = evaluate_outputs(out, "tads")
    if hic is None and truth_boundaries is None and attention is None:
        raise InputError("nothing to compare the boundaries with or to show",
                         fix="give --hic and/or --truth-boundaries (or --attention for the insulation track alone)")
    ours = read_boundaries(boundaries, what="boundaries BED")
    method = model or "attention"
    rows: list[dict] = [_row(cell_type, method, "n_boundaries", len(ours), len(ours))]
    info: dict[str, Any] = dict(cell_type=cell_type, model=model, boundaries=str(boundaries), n_boundaries=len(ours))
    sizes: dict[str, int | None] = read_chrom_sizes(chrom_sizes) if chrom_sizes else {}
    att_src = None
    if attention is not None:
        att_src = open_contacts(attention, balance=False, what="attention")
        for c, n in att_src.chroms.items():
            sizes.setdefault(c, n)
    chroms = sorted(set(ours["chrom"]) | (set(att_src.chroms) if att_src else set()), key=chrom_sort_key)
    tracks: dict[str, pd.DataFrame] = {}
    marks: dict[str, pd.DataFrame] = {"ours": ours}
    notes: dict[str, list[str]] = {}
    base_track, base_binned, base_res, base_method = None, None, None, None
    if (reference is None) != (features is None):
        raise InputError("the input-only boundary baseline needs both --reference and --features",
                         fix="give both (the reference directory and the cell's signal.zarr) or neither")
    if features is not None:
        base_res = att_src.resolution if att_src is not None else _bed_resolution(boundaries)
        base_track, base_binned = boundary_baselines.baseline_track(reference, features, base_res, cell=cell_type)
        if base_track is not None:
            base_method = boundary_baselines.method_name(method, base_track)
            info["baseline"] = dict(track=base_track, method=base_method, resolution=base_res,
                                    min_distance_bins=int(baseline_distance_bins), features=str(features))

    def baseline_rows(prefix, ours_set, ref, regions, tol, restrict):
        """The baseline's calls (as many per chromosome as ``ours_set``) and its figures against ``ref``."""
        calls = boundary_baselines.calls_like(base_binned, ours_set, base_res, min_distance_bins=baseline_distance_bins,
                                              regions=regions if restrict else None)
        bov, bsh, brows = _boundary_rows(prefix, cell_type, base_method, calls, ref, regions, tol,
                                         n_shuffles=n_shuffles, seed=seed)
        info["baseline"][prefix] = dict(overlap=bov, shuffles=bsh)
        return calls, bov, bsh, [_row(cell_type, base_method, f"{prefix}_n_boundaries", len(calls), len(calls))] + brows

    if hic is not None:
        hsrc = open_contacts(hic, chrom=hic_chrom, resolution=hic_resolution, balance=hic_balance,
                             length=sizes.get(hic_chrom) if hic_chrom else None)
        needed = [c for c in chroms if c in set(ours["chrom"])] or chroms
        if isinstance(hsrc, JuicerTextSource):
            if hic_chrom not in needed:
                alt = suggest_chrom(hic_chrom, needed)
                raise InputError(f"--hic-chrom {hic_chrom} is not among our chromosomes ({', '.join(needed)})",
                                 path=hsrc.path, fix=f"use --hic-chrom {alt}" if alt else
                                 "give the Hi-C dump of an evaluated chromosome")
            present = [hic_chrom]
        else:
            present = check_assembly(sizes, hsrc, needed, ours_name="the reference/attention",
                                     our_assembly=getattr(att_src, "assembly", None))
        res = hsrc.resolution
        w = max(1, int(round(window_bp / res)))
        tol = tolerance_bp if tolerance_bp is not None else res
        ins_all, hb_all, regions = [], [], {}
        xs, ys, per_chrom = [], [], {}
        for chrom in present:
            hc = hsrc.fetch(chrom, max(2 * w, int(max_distance_bp // res)))
            ins = insulation(hc, w)
            ins_all.append(ins)
            hb_all.append(call_boundaries(ins, prominence=prominence))
            cov = hc.covered()
            if att_src is not None and chrom in att_src.chroms:
                ac = att_src.fetch(chrom, int(max(max_distance_bp, 2 * window_bp) // att_src.resolution))
                a2, h2 = _common_resolution(ac, hc)
                acov = ac.covered()
                # covered by both, at the Hi-C resolution
                acov_h = np.zeros(hc.n_bins, bool)
                if ac.resolution <= res:
                    idx = np.flatnonzero(acov) * ac.resolution // res
                    acov_h[idx[idx < hc.n_bins]] = True
                else:
                    f = ac.resolution // res
                    for k in np.flatnonzero(acov):
                        acov_h[k * f:(k + 1) * f] = True
                cov = cov & acov_h
                x, y = oe_pixels(a2, h2, max_distance_bp, a_absent_is_missing=True)
                per_chrom[chrom] = correlations(x, y)
                xs.append(x)
                ys.append(y)
                att_ins = insulation(ac, max(1, int(round(window_bp / ac.resolution))), absent_is_missing=True)
                tracks.setdefault("attention", []).append(att_ins)
            regions[chrom] = _runs(cov, res)
        ins_df = pd.concat(ins_all, ignore_index=True)
        hb = pd.concat(hb_all, ignore_index=True) if hb_all else call_boundaries(ins_df)
        tracks["Hi-C"] = ins_df
        marks["Hi-C"] = hb
        ours_in = _restrict(ours[ours["chrom"].isin(present)], regions)
        hb_in = _restrict(hb, regions)
        ov, sh, brows = _boundary_rows("hic", cell_type, method, ours_in, hb_in, regions, tol,
                                       n_shuffles=n_shuffles, seed=seed)
        rows += brows + [_row(cell_type, "hic", "hic_n_boundaries", len(hb_in), len(hb_in))]
        notes.setdefault("ours", []).append(_note("Hi-C", ov, sh))
        if base_method is not None:
            calls, bov, bsh, brows = baseline_rows("hic", ours_in, hb_in, regions, tol, True)
            rows += brows
            marks.setdefault(f"{base_track} peaks", calls)
            notes.setdefault(f"{base_track} peaks", []).append(_note("Hi-C", bov, bsh))
        hinfo = dict(path=str(hic), resolution=res, balanced=getattr(hsrc, "balance", False), chromosomes=present,
                     window_bp=w * res, prominence=prominence, tolerance_bp=tol, overlap=ov, shuffles=sh,
                     covered_bp={c: float((iv[:, 1] - iv[:, 0]).sum()) for c, iv in regions.items()})
        if xs:
            x, y = np.concatenate(xs), np.concatenate(ys)
            if len(x) > max_pixels:
                pick = np.random.default_rng(seed).choice(len(x), max_pixels, replace=False)
                x, y = x[pick], y[pick]
            cor = correlations(x, y)
            rows += [_row(cell_type, method, "hic_oe_pearson", cor["pearson"], cor["n"]),
                     _row(cell_type, method, "hic_oe_spearman", cor["spearman"], cor["n"])]
            hinfo["oe_correlation"] = dict(all=cor, per_chromosome=per_chrom, max_distance_bp=max_distance_bp,
                                           attention_resolution=att_src.resolution)
        info["hic"] = hinfo
        write_tsv(ins_df, files["insulation"], float_format="%.5g", na_rep="NA")
        bed = pd.DataFrame({"chrom": hb["chrom"], "start": np.maximum(hb["position"] - res // 2, 0),
                            "end": hb["position"] + res // 2,
                            "name": [f"hic_boundary_{k + 1}" for k in range(len(hb))],
                            "score": hb["prominence"].round(4)})
        write_tsv(bed, files["boundaries"], header=False)

    if truth_boundaries is not None:
        truth = read_boundaries(truth_boundaries, what="truth boundaries BED")
        tol = tolerance_bp if tolerance_bp is not None else (
            hsrc.resolution if hic is not None else att_src.resolution if att_src is not None else 10_000)
        regions = {}
        for chrom in sorted(set(ours["chrom"]) | set(truth["chrom"]), key=chrom_sort_key):
            if sizes.get(chrom):
                regions[chrom] = np.array([[0.0, float(sizes[chrom])]])
            else:
                p = np.r_[ours.loc[ours["chrom"] == chrom, "position"], truth.loc[truth["chrom"] == chrom, "position"]]
                regions[chrom] = np.array([[float(p.min()), float(p.max()) + 1]])
        if not set(ours["chrom"]) & set(truth["chrom"]):
            c = next(iter(ours["chrom"]), None)
            alt = suggest_chrom(c, set(truth["chrom"])) if c else None
            raise InputError(f"our boundaries ({', '.join(sorted(set(ours['chrom'])))}) and the truth "
                             f"({', '.join(sorted(set(truth['chrom'])))}) share no chromosome", path=truth_boundaries,
                             fix=f"rename '{c}' to '{alt}'" if alt else "compare boundaries of the same genome")
        ov, sh, brows = _boundary_rows("planted", cell_type, method, ours, truth, regions, tol,
                                       n_shuffles=n_shuffles, seed=seed)
        rows += brows
        notes.setdefault("ours", []).append(_note("planted", ov, sh))
        if base_method is not None:
            calls, bov, bsh, brows = baseline_rows("planted", ours, truth, regions, tol, False)
            rows += brows
            marks[f"{base_track} peaks"] = calls
            notes.setdefault(f"{base_track} peaks", []).append(_note("planted", bov, bsh))
        info["planted"] = dict(path=str(truth_boundaries), tolerance_bp=tol, overlap=ov, shuffles=sh)
        marks["truth"] = truth
    if att_src is not None and "attention" not in tracks:
        for chrom in chroms:
            if chrom in att_src.chroms:
                ac = att_src.fetch(chrom, int(2 * window_bp // att_src.resolution) + 1)
                tracks.setdefault("attention", []).append(
                    insulation(ac, max(1, int(round(window_bp / ac.resolution))), absent_is_missing=True))
    if isinstance(tracks.get("attention"), list):
        tracks["attention"] = pd.concat(tracks["attention"], ignore_index=True)
    if base_method is not None and f"{base_track} peaks" not in marks:
        marks[f"{base_track} peaks"] = boundary_baselines.calls_like(base_binned, ours, base_res,
                                                                     min_distance_bins=baseline_distance_bins)
    write_summary(rows, files["summary"])
    write_json(info, files["json"])
    if plot:
        from creator import plots

        bar = None
        if barrier is not None:
            bg = read_bedgraph(barrier, what="barrier bedGraph")
            if (bg["value"] != 0).any():
                bar = pd.DataFrame({"chrom": bg["chrom"], "position": (bg["start"] + bg["end"]) // 2,
                                    "barrier": bg["value"]})
        plots.insulation_tracks(tracks, marks, files["plot"], title=f"{cell_type} {model or ''}".strip(),
                                barrier=bar, notes={k: "; ".join(v) for k, v in notes.items()})
    return info
