import numpy as np
import pandas as pd
import pyBigWig
import pytest
import zarr

from creator.errors import InputError
from creator.features import extract_features
from creator.formats import TRACK_INDEX, TRACKS

from conftest import DEMO_BIGWIGS, write_bigwig


@pytest.fixture
def signal_bigwigs(tiny_reference):
    """Per-base ramps with NaN gaps on both chromosomes, plus a CTCF track lacking chr2."""
    rng = np.random.default_rng(1)
    sizes = tiny_reference["sizes"]
    d = tiny_reference["dir"]
    vals = {c: rng.gamma(2.0, 3.0, n) for c, n in sizes.items()}
    vals["chr1"][3150:3180] = np.nan  # no data: must read as 0
    dnase = write_bigwig(d / "dnase.bw", sizes, vals)
    ctcf = write_bigwig(d / "ctcf.bw", {"chr1": sizes["chr1"]}, {"chr1": np.full(sizes["chr1"], 2.0)})
    return dict(tiny_reference, dnase=dnase, ctcf=ctcf, vals=vals)


def test_values_match_the_bigwig(signal_bigwigs, caplog):
    s = signal_bigwigs
    out = s["dir"] / "f.zarr"
    caplog.set_level("WARNING", logger="creator.features")
    summary = extract_features(reference_dir=s["ref"], tracks={"DNase": s["dnase"], "CTCF": s["ctcf"]}, out=out,
                               resolution_bp=10, transform="none", block_ccres=4, cell_type="X")
    ccres = pd.read_parquet(s["ref"] / "ccres.parquet")
    # one warning for the track, however many blocks read chr2 (block_ccres=4: several)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    n_chr2 = int((ccres["chrom"] == "chr2").sum())
    chr2 = [w for w in warned if "chr2" in w]
    assert len(chr2) == 1 and f"no chromosome 'chr2': {n_chr2} of {len(ccres)} cCREs get zeros" in chr2[0]
    # the tracks without a bigWig are named in the log (a manifest may lack some)
    assert any(w.startswith("features X: no bigWig for 14 of 16 tracks (EP300, H2AFZ,")
               and w.endswith("their features are zeros") for w in warned)
    arr = zarr.open_array(str(out), mode="r")
    assert arr.shape == (len(ccres), 20, 16) and arr.dtype == np.float16
    assert arr.attrs["tracks"] == list(TRACKS) and arr.attrs["transform"] == "none"
    # CTCF lacks chr2: zeros there, so it is not a present track; the attribute says where
    assert arr.attrs["present_tracks"] == ["DNase"] and arr.attrs["zero_chromosomes"] == {"CTCF": ["chr2"]}
    assert summary["present"] == ["DNase"] and "CTCF" not in summary["missing"]
    bw = pyBigWig.open(str(s["dnase"]))
    x = arr[:]
    for i, row in enumerate(ccres.itertuples()):
        direct = np.nan_to_num(np.array(bw.values(row.chrom, int(row.start), int(row.end)), dtype=float))
        expect = direct.reshape(20, 10).mean(axis=1)
        np.testing.assert_allclose(x[i, :, TRACK_INDEX["DNase"]], expect, rtol=2e-3, atol=1e-3)
        assert np.allclose(x[i, :, TRACK_INDEX["CTCF"]], 2.0 if row.chrom == "chr1" else 0.0)
    others = [TRACK_INDEX[t] for t in TRACKS if t not in ("DNase", "CTCF")]
    assert not x[:, :, others].any()  # missing tracks are zeros
    # the bin holding the NaN gap chr1:3150-3180 averages only the bases with data (NaN -> 0)
    i = int(np.flatnonzero(ccres["start"] == 3100)[0])
    assert x[i, 5:8, TRACK_INDEX["DNase"]].min() == 0.0


def test_transform_and_block_size_do_not_matter(signal_bigwigs):
    s = signal_bigwigs
    outs = {}
    for t, block in (("none", 2), ("log1p", 1000), ("arcsinh", 3)):
        outs[t] = s["dir"] / f"{t}.zarr"
        extract_features(reference_dir=s["ref"], tracks={"DNase": s["dnase"]}, out=outs[t], resolution_bp=20,
                         transform=t, block_ccres=block)
    raw = zarr.open_array(str(outs["none"]))[:].astype(np.float64)
    np.testing.assert_allclose(zarr.open_array(str(outs["log1p"]))[:], np.log1p(raw), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(zarr.open_array(str(outs["arcsinh"]))[:], np.arcsinh(raw), rtol=2e-3, atol=2e-3)
    assert zarr.open_array(str(outs["log1p"])).attrs["transform"] == "log1p"


def test_missing_chromosome_can_be_an_error(signal_bigwigs):
    s = signal_bigwigs
    with pytest.raises(InputError, match=r"ctcf.bw: the bigWig has no chromosome 'chr2'.*missing_chrom"):
        extract_features(reference_dir=s["ref"], tracks={"CTCF": s["ctcf"]}, out=s["dir"] / "e.zarr",
                         missing_chrom="error")
    assert not (s["dir"] / "e.zarr").exists()  # nothing half-written at the output path


def test_chromosome_naming_mismatch(signal_bigwigs):
    s = signal_bigwigs
    renamed = {c.removeprefix("chr"): v for c, v in s["vals"].items()}
    bw = write_bigwig(s["dir"] / "ensembl.bw", {c.removeprefix("chr"): n for c, n in s["sizes"].items()}, renamed)
    with pytest.raises(InputError, match=r"no chromosome 'chr1' but has '1'.*map_chrom_names: true"):
        extract_features(reference_dir=s["ref"], tracks={"DNase": bw}, out=s["dir"] / "m.zarr")
    extract_features(reference_dir=s["ref"], tracks={"DNase": bw}, out=s["dir"] / "m.zarr", map_chrom_names=True,
                     transform="none")
    extract_features(reference_dir=s["ref"], tracks={"DNase": s["dnase"]}, out=s["dir"] / "u.zarr",
                     transform="none")
    assert np.array_equal(zarr.open_array(str(s["dir"] / "m.zarr"))[:], zarr.open_array(str(s["dir"] / "u.zarr"))[:])


def test_not_a_bigwig(signal_bigwigs, tmp_path):
    bad = tmp_path / "bad.bw"
    bad.write_bytes(b"not a bigwig at all")
    with pytest.raises(InputError, match="bad.bw: not a readable bigWig"):
        extract_features(reference_dir=signal_bigwigs["ref"], tracks={"DNase": bad}, out=tmp_path / "x.zarr")
    with pytest.raises(InputError, match="nothere.bw: no such file"):
        extract_features(reference_dir=signal_bigwigs["ref"], tracks={"DNase": tmp_path / "nothere.bw"},
                         out=tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()


def test_demo_features_match_bigwig(demo_reference, tmp_path):
    out = tmp_path / "k562.zarr"
    tracks = {"DNase": DEMO_BIGWIGS / "K562.DNase.bigWig", "H3K27ac": DEMO_BIGWIGS / "K562.H3K27ac.bigWig"}
    extract_features(reference_dir=demo_reference, tracks=tracks, out=out, resolution_bp=10, transform="log1p")
    arr = zarr.open_array(str(out), mode="r")
    ccres = pd.read_parquet(demo_reference / "ccres.parquet")
    rng = np.random.default_rng(3)
    for i in rng.choice(len(ccres), 25, replace=False):
        row = ccres.iloc[i]
        for t, path in tracks.items():
            bw = pyBigWig.open(str(path))
            direct = np.nan_to_num(np.array(bw.values(row.chrom, int(row.start), int(row.end)), dtype=float))
            np.testing.assert_allclose(arr[i, :, TRACK_INDEX[t]], np.log1p(direct.reshape(50, 10).mean(1)),
                                       rtol=2e-3, atol=2e-3)
    assert arr.attrs["reference_id"] == str(np.load(demo_reference / "windows.npz")["reference_id"])
