"""creator.data: opening inputs (and their errors), batches, region planning, region == per-gene."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import zarr

from creator import data
from creator.errors import InputError
from fixtures_arrays import write_arrays, write_signal


@pytest.fixture(autouse=True, scope="module")
def _one_thread(torch_one_thread):
    """Tiny models run fastest on one thread (and do not suffer from a busy machine)."""


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    return write_arrays(tmp_path_factory.mktemp("arrays"))


@pytest.fixture(scope="module")
def ref(arrays):
    return data.open_reference(arrays.reference)


@pytest.fixture(scope="module")
def cell(arrays, ref):
    return data.open_cell(ref, arrays.features("A"), arrays.targets("A"))


def test_open_reference(ref, arrays):
    genes = pd.read_parquet(arrays.reference / "genes.parquet")
    assert ref.n_gene == len(genes) and ref.element_bp == 50 and ref.window_bp == 20_000
    assert ref.chroms == ("chr1", "chr2")
    np.testing.assert_array_equal(ref.lo, genes["win_lo"])
    assert (ref.window_sizes == 0).sum() >= 1  # the fixture has empty windows


def test_open_reference_missing_file(tmp_path, arrays):
    shutil.copytree(arrays.reference, tmp_path / "ref")
    (tmp_path / "ref" / "windows.npz").unlink()
    with pytest.raises(InputError, match="windows.npz not found.*Fix: rerun the reference stage"):
        data.open_reference(tmp_path / "ref")


def test_read_is_window_slice(cell, ref, arrays):
    arr = zarr.open_array(str(arrays.features("A")), mode="r")
    g = int(np.argmax(ref.window_sizes))
    tokens, signal = cell.read(ref.lo[g], ref.hi[g])
    assert tokens.dtype == np.uint8 and signal.dtype == np.float16
    np.testing.assert_array_equal(signal, arr[ref.lo[g]:ref.hi[g]])
    np.testing.assert_array_equal(tokens, np.load(arrays.reference / "sequence.npy")[ref.lo[g]:ref.hi[g]])
    # the zarr path (no in-memory cache) reads the same
    nocache = data.open_cell(ref, arrays.features("A"), cache_bytes=0)
    assert nocache._cache is None
    np.testing.assert_array_equal(nocache.read(ref.lo[g], ref.hi[g])[1], signal)
    assert cell.targets.dtype == np.float32 and np.isnan(cell.targets).sum() > 0


def test_per_base():
    x = torch.arange(2 * 3 * 16, dtype=torch.float16).reshape(2, 3, 16)
    y = data.per_base(x, 10)
    assert y.shape == (2, 30, 16) and y.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), np.repeat(x.float().numpy(), 10, axis=1))


def test_missing_features(ref, tmp_path):
    with pytest.raises(InputError, match="no features file for cell type X") as exc:
        data.open_cell(ref, tmp_path / "X" / "signal.zarr")
    assert "run the features stage for X" in str(exc.value) and "--features X=PATH for train" in str(exc.value)


def _copy_signal(arrays, tmp_path, **attrs):
    src = zarr.open_array(str(arrays.features("A")), mode="r")
    a = dict(src.attrs)
    a.update(attrs)
    sig = src[...]
    if "n_tracks" in attrs:
        sig = sig[:, :, : attrs.pop("n_tracks")]
        a.pop("n_tracks")
    path = tmp_path / "features" / "A" / "signal.zarr"
    write_signal(path, sig, reference_id=a["reference_id"], resolution_bp=a["resolution_bp"],
                 element_bp=a["element_bp"], cell="A", tracks=a["tracks"])
    return path


def test_features_from_other_reference(ref, arrays, tmp_path):
    path = _copy_signal(arrays, tmp_path, reference_id="0123456789abcdef")
    with pytest.raises(InputError) as exc:
        data.open_cell(ref, path)
    msg = str(exc.value)
    assert "computed against another reference" in msg and "0123456789abcdef" in msg
    assert str(path) in msg and "windows.npz" in msg and "Fix: rerun the features stage for A" in msg


def test_features_tracks_and_resolution_mismatch(ref, arrays, tmp_path):
    path = _copy_signal(arrays, tmp_path, n_tracks=15, tracks=["DNase"] * 15)
    with pytest.raises(InputError, match="15 tracks"):
        data.open_cell(ref, path)
    shutil.rmtree(path)
    path = _copy_signal(arrays, tmp_path, resolution_bp=5)
    with pytest.raises(InputError, match="resolution_bp 5 x 5 bins does not cover"):
        data.open_cell(ref, path)


def test_targets_mismatch(ref, arrays, tmp_path):
    df = pd.read_parquet(arrays.targets("A")).iloc[:-1]
    df.to_parquet(tmp_path / "A.parquet")
    with pytest.raises(InputError, match="do not list the reference's"):
        data.open_cell(ref, arrays.features("A"), tmp_path / "A.parquet")
    with pytest.raises(InputError, match="no targets file"):
        data.open_cell(ref, arrays.features("A"), tmp_path / "missing.parquet")


def test_make_batch_layout(cell, ref):
    genes = data.trainable_genes(ref, cell.targets)[:4]
    b = data.make_batch(cell, genes)
    assert b.lo == ref.lo[genes].min() and b.hi == ref.hi[genes].max()
    assert b.tokens.shape == (b.hi - b.lo, 50) and b.signal.shape == (b.hi - b.lo, 5, 16)
    for i, g in enumerate(genes):
        n = ref.hi[g] - ref.lo[g]
        assert b.mask[i].sum() == n
        np.testing.assert_array_equal(b.index[i, :n].numpy() + b.lo, np.arange(ref.lo[g], ref.hi[g]))
        np.testing.assert_array_equal(b.offset[i, :n].numpy(), ref.ccre_center[ref.lo[g]:ref.hi[g]] - ref.tss[g])
        assert b.target[i] == cell.targets[g]


def test_plan_regions(ref, cell):
    genes = data.trainable_genes(ref, cell.targets)
    region_bp = 60_000
    regions, singles = data.plan_regions(ref, genes, region_bp)
    flat = np.concatenate(regions + [singles])
    assert sorted(flat.tolist()) == sorted(genes.tolist())  # each gene exactly once
    assert len(singles) == 0  # every window (40 kb) fits a 60 kb region
    assert len(regions) > 2
    for r in regions:
        assert len(set(ref.gene_chrom[r])) == 1
        lo, hi = ref.lo[r].min(), ref.hi[r].max()
        assert ref.ccre_center[hi - 1] - ref.ccre_center[lo] <= region_bp
    # regions overlap (they share elements of neighbouring windows)
    same_chrom = [(a, b) for a, b in zip(regions, regions[1:]) if ref.gene_chrom[a[0]] == ref.gene_chrom[b[0]]]
    assert any(ref.hi[a].max() > ref.lo[b].min() for a, b in same_chrom)
    # windows wider than the region fall back to per-gene batches
    regions, singles = data.plan_regions(ref, genes, 20_000)
    assert len(singles) > 0
    assert sorted(np.concatenate(regions + [singles]).tolist()) == sorted(genes.tolist())


def _tiny_model(seed=0, dropout=0.0):
    from creator.model import CreatorModel, ModelConfig

    torch.manual_seed(seed)
    return CreatorModel(ModelConfig.preset("tiny", dropout=dropout)).eval()


def _grads(model):
    return {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("chunks", [(None, None), (7, 3)])
def test_region_batch_equals_per_gene_batches(cell, ref, chunks):
    model = _tiny_model()
    genes = data.trainable_genes(ref, cell.targets)
    regions, _ = data.plan_regions(ref, genes, 60_000)
    region = max(regions, key=len)
    assert len(region) >= 5

    # region batch: every element encoded once, genes gathered from the shared embeddings
    model.zero_grad()
    batch = data.make_batch(cell, region)
    assert batch.n_elements < sum(ref.hi[region] - ref.lo[region])  # elements are shared
    pred = data.batch_predictions(model, batch, element_chunk=chunks[0], gene_chunk=chunks[1])
    loss = data.mse_sum(pred, batch.target) / len(region)
    loss.backward()
    g_region = _grads(model)

    # per-gene batches: each gene's window encoded on its own
    model.zero_grad()
    total = 0.0
    preds = []
    for g in region:
        b = data.make_batch(cell, [g])
        p = data.batch_predictions(model, b)
        lg = data.mse_sum(p, b.target) / len(region)
        lg.backward()
        total += float(lg.detach())
        preds.append(float(p.detach()))
    g_gene = _grads(model)

    assert abs(float(loss.detach()) - total) < 1e-5
    np.testing.assert_allclose(pred.detach().numpy(), preds, atol=1e-5)
    assert g_region.keys() == g_gene.keys() and len(g_region) > 10
    for k in g_region:
        torch.testing.assert_close(g_region[k], g_gene[k], atol=1e-5, rtol=1e-4, msg=k)

    # and the slow reference (model.forward, per-base signal, padded [B, E, L]) agrees
    with torch.no_grad():
        inp = data.gene_inputs(cell, region)
        ref_pred = model(inp["tokens"], inp["signal"], inp["elem_offset"], inp["elem_mask"])
    np.testing.assert_allclose(ref_pred.numpy(), preds, atol=1e-5)


def test_chunked_gradients_with_dropout_replay(cell, ref):
    """Activation checkpointing replays dropout exactly: in train mode with dropout, two chunked
    runs from the same seed give bit-identical predictions and gradients."""
    model = _tiny_model(dropout=0.2).train()
    genes = data.trainable_genes(ref, cell.targets)
    region = max(data.plan_regions(ref, genes, 60_000)[0], key=len)
    batch = data.make_batch(cell, region)
    out = []
    for _ in range(2):
        model.zero_grad()
        torch.manual_seed(123)
        pred = data.batch_predictions(model, batch, element_chunk=6, gene_chunk=2)
        data.mse_sum(pred, batch.target).backward()
        out.append((pred.detach(), _grads(model)))
    torch.testing.assert_close(out[0][0], out[1][0], atol=0, rtol=0)
    for k, v in out[0][1].items():
        assert torch.isfinite(v).all()
        torch.testing.assert_close(v, out[1][1][k], atol=0, rtol=0)
