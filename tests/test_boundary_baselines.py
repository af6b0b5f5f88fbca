"""The input-only boundary baseline (creator.boundary_baselines) and its place in evaluate-hic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creator import boundary_baselines as bb
from creator import evaluate as ev
from creator.errors import InputError
from creator.formats import N_TRACKS, TRACK_INDEX, TRACKS
from fixtures_arrays import write_reference, write_signal

RES = 10_000
CHROMS = {"chrS1": 2_000_000, "chrS2": 1_000_000}
#: planted boundaries (bp): a strong CTCF element is put at the cCRE nearest each
PLANTED = {"chrS1": [300_000, 700_000, 1_200_000, 1_650_000], "chrS2": [250_000, 600_000]}


def _planted_set(tmp_path, *, ctcf=True, dnase=True, present=TRACKS):
    rng = np.random.default_rng(5)
    ref = write_reference(tmp_path / "reference", chrom_bp=CHROMS, element_bp=50, window_bp=20_000,
                          ccre_spacing=4_000, gene_spacing=50_000, rng=rng)
    ccres = ref["ccres"]
    n = len(ccres)
    sig = np.zeros((n, 5, N_TRACKS), np.float32)
    # background: weak CTCF and DNase everywhere; strong at the elements nearest a planted boundary
    sig[:, :, TRACK_INDEX["CTCF"]] = rng.uniform(0.0, 0.5, (n, 1)) if ctcf else 0.0
    sig[:, :, TRACK_INDEX["DNase"]] = rng.uniform(0.0, 0.5, (n, 1)) if dnase else 0.0
    strong = []
    for chrom, pos in PLANTED.items():
        idx = np.flatnonzero(ccres["chrom"].to_numpy() == chrom)
        c = ccres["center"].to_numpy()[idx]
        strong += [int(idx[np.argmin(np.abs(c - p))]) for p in pos]
    for t, on in (("CTCF", ctcf), ("DNase", dnase)):
        if on:
            sig[strong, :, TRACK_INDEX[t]] = 3.0
    write_signal(tmp_path / "features" / "cellX" / "signal.zarr", sig, reference_id=ref["reference_id"],
                 resolution_bp=10, element_bp=50, cell="cellX")
    if tuple(present) != TRACKS:  # rewrite present_tracks (a track the cell lacks: zeros)
        import zarr

        arr = zarr.open_array(str(tmp_path / "features" / "cellX" / "signal.zarr"), mode="r+")
        arr.attrs["present_tracks"] = list(present)
    centres = ccres["center"].to_numpy()[strong]
    return tmp_path / "reference", tmp_path / "features" / "cellX" / "signal.zarr", centres


def _bed(path, rows):
    path.write_text("".join(f"{c}\t{p - RES // 2}\t{p + RES // 2}\tb{k}\n" for k, (c, p) in enumerate(rows)))
    return path


def test_ctcf_peaks_land_on_the_planted_sites(tmp_path):
    ref, feats, centres = _planted_set(tmp_path)
    track, binned = bb.baseline_track(ref, feats, RES)
    assert track == "CTCF"
    assert set(binned) == set(CHROMS)
    # as many calls per chromosome as ours: 4 on chrS1, 2 on chrS2 -> exactly the planted bins
    ours = pd.DataFrame({"chrom": ["chrS1"] * 4 + ["chrS2"] * 2, "position": 0})
    calls = bb.calls_like(binned, ours, RES)
    assert calls.groupby("chrom").size().to_dict() == {"chrS1": 4, "chrS2": 2}
    assert sorted(calls["position"]) == sorted(c // RES * RES + RES // 2 for c in centres)
    # one call on chrS2: the strongest peak there; none asked on a chromosome -> none called
    one = bb.peak_calls(binned, {"chrS2": 1}, RES)
    assert len(one) == 1 and one["chrom"].iloc[0] == "chrS2"
    assert one["signal"].iloc[0] == binned["chrS2"].max()
    # more calls than peaks: no more than the peaks, each a local maximum at least 3 bins apart
    many = bb.peak_calls(binned, {"chrS2": 10_000}, RES, min_distance_bins=3)
    assert 2 < len(many) < len(binned["chrS2"])
    assert np.diff(np.sort(many["position"].to_numpy())).min() >= 3 * RES
    # regions: only peaks inside them
    inside = bb.peak_calls(binned, {"chrS1": 4}, RES, regions={"chrS1": np.array([[0.0, 1_000_000.0]])})
    assert (inside["position"] < 1_000_000).all() and len(inside) == 4
    assert {p // RES * RES + RES // 2 for p in centres[:2]} <= set(inside["position"])


def test_dnase_when_ctcf_is_absent_or_all_zero(tmp_path):
    ref, feats, _ = _planted_set(tmp_path / "a", ctcf=False)
    assert bb.baseline_track(ref, feats, RES)[0] == "DNase"
    ref, feats, _ = _planted_set(tmp_path / "b", present=[t for t in TRACKS if t != "CTCF"])
    assert bb.baseline_track(ref, feats, RES)[0] == "DNase"  # CTCF present in the array but not measured
    ref, feats, _ = _planted_set(tmp_path / "c", ctcf=False, dnase=False)
    assert bb.baseline_track(ref, feats, RES) == (None, None)


def test_evaluate_hic_reports_the_baseline_beside_ours(tmp_path):
    ref, feats, centres = _planted_set(tmp_path)
    planted = [(c, p) for c, ps in PLANTED.items() for p in ps]
    truth = _bed(tmp_path / "truth.bed", planted)
    sizes = tmp_path / "chrom.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in CHROMS.items()))
    # ours: two of the six planted boundaries and four misses (recall 1/3); 6 calls, same split
    ours = _bed(tmp_path / "ours.bed", [("chrS1", 300_000), ("chrS1", 1_000_000), ("chrS1", 1_500_000),
                                        ("chrS1", 1_900_000), ("chrS2", 600_000), ("chrS2", 900_000)])
    info = ev.evaluate_hic(ours, tmp_path / "out", cell_type="cellX", model="m", truth_boundaries=truth,
                           chrom_sizes=sizes, tolerance_bp=RES, n_shuffles=200, reference=ref, features=feats)
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    method = bb.method_name("m", "CTCF")
    assert method == "m/baseline_ctcf_peaks" and info["baseline"]["track"] == "CTCF"

    def value(meth, metric):
        row = s[(s.method == meth) & (s.metric == metric)]
        assert len(row) == 1, (meth, metric)
        return float(row["value"].iloc[0])

    assert value("m", "planted_boundary_recall") == pytest.approx(2 / 6)
    assert value(method, "planted_n_boundaries") == 6
    assert value(method, "planted_boundary_recall") == 1.0
    assert value(method, "planted_boundary_precision") == 1.0
    assert value(method, "planted_boundary_enrichment") > value("m", "planted_boundary_enrichment")
    assert (tmp_path / "out" / "insulation.png").stat().st_size > 10_000
    # the command line takes the same inputs; one without the other is an error naming both
    from creator.cli import main

    assert main(["evaluate-hic", "--boundaries", str(ours), "--truth-boundaries", str(truth), "--cell", "cellX",
                 "--chrom-sizes", str(sizes), "--n-shuffles", "20", "--reference", str(ref), "--features",
                 str(feats), "--out", str(tmp_path / "cli")]) == 0
    s2 = pd.read_csv(tmp_path / "cli" / "summary.tsv", sep="\t")
    assert (s2.method == "attention/baseline_ctcf_peaks").any()
    with pytest.raises(InputError, match="--reference and --features"):
        ev.evaluate_hic(ours, tmp_path / "o", cell_type="c", truth_boundaries=truth, features=feats, plot=False)


def test_hic_evaluation_scores_the_baseline_inside_the_covered_region(tmp_path):
    from test_evaluate import block_matrix, write_cool

    ref, feats, _ = _planted_set(tmp_path)
    edges = [0] + [p // RES for p in PLANTED["chrS1"]] + [200]   # Hi-C domains end at the planted sites
    hic = write_cool(tmp_path / "hic.cool", {"chrS1": CHROMS["chrS1"]}, {"chrS1": block_matrix(edges=edges, seed=3)})
    # ours: one of the four Hi-C boundaries
    ours = _bed(tmp_path / "ours.bed", [("chrS1", 300_000), ("chrS1", 500_000), ("chrS1", 1_000_000),
                                        ("chrS1", 1_800_000)])
    info = ev.evaluate_hic(ours, tmp_path / "out", cell_type="cellX", model="m", hic=hic, prominence=0.5,
                           n_shuffles=100, reference=ref, features=feats, plot=False)
    assert info["hic"]["overlap"]["n_ref"] == 4 and info["hic"]["overlap"]["recall"] == 0.25
    b = info["baseline"]["hic"]["overlap"]
    assert b["n_ours"] == 4 and b["recall"] == 1.0 and b["precision"] == 1.0
    s = pd.read_csv(tmp_path / "out" / "summary.tsv", sep="\t")
    assert set(s.loc[s.method == "m/baseline_ctcf_peaks", "metric"]) == {
        "hic_n_boundaries", "hic_boundary_recall", "hic_boundary_precision", "hic_boundary_overlap",
        "hic_boundary_shuffled_mean", "hic_boundary_enrichment", "hic_boundary_pvalue"}
