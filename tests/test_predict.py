"""creator.predict: encode-once predictions equal the slow reference, attention layout, CLI errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import zarr

from creator import data
from creator.cli import main
from creator.model import CreatorModel, ModelConfig, save_checkpoint
from creator.inference import read_element_attention, read_gene_attention
from creator.predict import predict
from fixtures_arrays import write_arrays


@pytest.fixture(autouse=True, scope="module")
def _one_thread(torch_one_thread):
    """Tiny models run fastest on one thread (and do not suffer from a busy machine)."""


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    return write_arrays(tmp_path_factory.mktemp("arrays"), cells={"A": "train", "U": "predict"})


@pytest.fixture(scope="module")
def ckpt(arrays, tmp_path_factory):
    torch.manual_seed(3)
    model = CreatorModel(ModelConfig.preset("tiny", dropout=0.1))
    # non-trivial weights in the head so that predictions vary across genes
    path = tmp_path_factory.mktemp("model") / "checkpoint.pt"
    save_checkpoint(path, model)
    return path, model.eval()


def test_predict_equals_reencoding_reference(arrays, ckpt, tmp_path):
    path, model = ckpt
    table = predict(checkpoint=path, reference=arrays.reference, features=arrays.features("A"), cell="A",
                    out=tmp_path, targets=arrays.targets("A"), device="cpu", batch_genes=5,
                    element_batch=17)
    ref = data.open_reference(arrays.reference)
    cell = data.open_cell(ref, arrays.features("A"), arrays.targets("A"))
    genes = np.arange(ref.n_gene)
    with torch.no_grad():
        expect = np.concatenate([
            model(**{k: v for k, v in data.gene_inputs(cell, genes[a:a + 8]).items() if k != "target"}).numpy()
            for a in range(0, len(genes), 8)])
    np.testing.assert_allclose(table["predicted_log1p"].to_numpy(), expect, atol=1e-5)
    assert (ref.window_sizes == 0).any()  # empty windows are predicted too
    assert np.isfinite(table["predicted_log1p"]).all() and table["predicted_log1p"].std() > 0
    on_disk = pd.read_csv(tmp_path / "expression.tsv", sep="\t")
    assert list(on_disk.columns) == ["gene_id", "symbol", "chrom", "tss", "n_elements", "predicted_log1p",
                                     "observed_log1p"]
    np.testing.assert_allclose(on_disk["observed_log1p"], cell.targets, atol=1e-5)
    emb = np.load(tmp_path / "element_embeddings.npy")
    assert emb.shape == (ref.n_ccre, 16) and emb.dtype == np.float32
    with torch.no_grad():
        t, s = cell.read(0, 10)
        direct = model.encode_elements(torch.from_numpy(t).long(), data.per_base(torch.from_numpy(s), 10))
    np.testing.assert_allclose(emb[:10], direct.numpy(), atol=1e-5)


def test_unseen_cell_without_targets_and_attention(arrays, ckpt, tmp_path):
    path, model = ckpt
    table = predict(checkpoint=path, reference=arrays.reference, features=arrays.features("U"), cell="U",
                    out=tmp_path, device="cpu", batch_genes=4, attention=True)
    assert "observed_log1p" not in table.columns and len(table) == len(pd.read_parquet(
        arrays.reference / "genes.parquet"))
    ref = data.open_reference(arrays.reference)
    cell = data.open_cell(ref, arrays.features("U"))
    root = zarr.open_group(str(tmp_path / "attention.zarr"), mode="r")
    assert root.attrs["n_layers"] == 2 and root.attrs["n_heads"] == 2
    assert root["gene_attention"].shape == (int(ref.window_sizes.sum()), 2, 2)
    g = int(np.argmax(ref.window_sizes))
    ga = read_gene_attention(tmp_path / "attention.zarr", g).astype(np.float32)
    np.testing.assert_allclose(ga.sum(0), 1.0, atol=5e-3)
    ea = read_element_attention(tmp_path / "attention.zarr", g).astype(np.float32)
    assert ea.shape == (ref.window_sizes[g],) * 2
    np.testing.assert_allclose(ea.sum(1), 1.0, atol=5e-3)
    # against a direct stage-2 pass on this gene alone
    batch = data.make_batch(cell, [g])
    with torch.no_grad():
        emb = model.encode_elements(batch.tokens.long(), batch.signal.float())
        _, attn = model.forward_genes(emb[batch.index], batch.offset, batch.mask, return_attention=True)
    want = torch.stack([a[0, :, -1, :-1] for a in attn]).permute(2, 0, 1).numpy()
    np.testing.assert_allclose(ga, want, atol=2e-3)
    np.testing.assert_allclose(ea, attn[-1][0, :, :-1, :-1].mean(0).numpy(), atol=2e-3)
    # empty-window genes own no rows
    off = root["gene_offsets"][...]
    assert np.array_equal(np.diff(off), ref.window_sizes)


def test_predict_cli_and_errors(arrays, ckpt, tmp_path, capsys):
    path, _ = ckpt
    rc = main(["predict", "--checkpoint", str(path), "--reference", str(arrays.reference), "--features",
               str(arrays.features("A")), "--cell", "A", "--out", str(tmp_path / "o"), "--device", "cpu",
               "--batch-genes", "7"])
    assert rc == 0 and (tmp_path / "o" / "expression.tsv").exists()
    # missing features of a cell type
    rc = main(["predict", "--checkpoint", str(path), "--reference", str(arrays.reference), "--features",
               str(tmp_path / "nope" / "signal.zarr"), "--cell", "Z", "--out", str(tmp_path / "z"),
               "--device", "cpu"])
    assert rc == 2 and "no features file for cell type Z" in capsys.readouterr().err
    # missing checkpoint
    rc = main(["predict", "--checkpoint", str(tmp_path / "none.pt"), "--reference", str(arrays.reference),
               "--features", str(arrays.features("A")), "--cell", "A", "--out", str(tmp_path / "z")])
    assert rc == 2 and "checkpoint not found" in capsys.readouterr().err
    # a model built for another element size
    other = tmp_path / "other.pt"
    save_checkpoint(other, CreatorModel(ModelConfig.preset("tiny", element_bp=100)))
    rc = main(["predict", "--checkpoint", str(other), "--reference", str(arrays.reference), "--features",
               str(arrays.features("A")), "--cell", "A", "--out", str(tmp_path / "z"), "--device", "cpu"])
    assert rc == 2 and "element_bp 100" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_predict_cuda_matches_cpu(arrays, ckpt, tmp_path):
    path, _ = ckpt
    kw = dict(checkpoint=path, reference=arrays.reference, features=arrays.features("A"), cell="A",
              batch_genes=6)
    cpu = predict(out=tmp_path / "cpu", device="cpu", **kw)["predicted_log1p"].to_numpy()
    gpu = predict(out=tmp_path / "gpu", device="cuda", attention=True, **kw)["predicted_log1p"].to_numpy()
    bf16 = predict(out=tmp_path / "bf16", device="cuda", bf16=True, **kw)["predicted_log1p"].to_numpy()
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    np.testing.assert_allclose(bf16, cpu, atol=0.1)
    np.testing.assert_allclose(np.load(tmp_path / "gpu" / "element_embeddings.npy"),
                               np.load(tmp_path / "cpu" / "element_embeddings.npy"), atol=1e-4)
