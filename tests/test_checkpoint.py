"""Checkpoint tests: our save/load with config checks, and the published-checkpoint import."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from creator.model import CreatorModel, ModelConfig
from creator.model.bias import relative_position_bucket
from creator.model.checkpoint import (CheckpointError, import_published, load_checkpoint,
                                      load_published, published_key_map, save_checkpoint)

TINY = ModelConfig.preset("tiny")


def published_state_dict(c: ModelConfig, seed: int = 0, prefix: str = "") -> dict[str, torch.Tensor]:
    """A random state dict with the names and shapes of the published ``Model`` (written from
    DLS5-Omics/CREaTor model/*.py class definitions, independently of our mapping table)."""
    d, h, ff = c.d_model, c.n_heads, c.d_ff
    shapes = {
        "embed_genome.0.weight": (6, d),
        "embed_chipseq.0.weight": (d, 16), "embed_chipseq.0.bias": (d,),
        "projection.conv.weight": (d, d, 5), "projection.conv.bias": (d,),
        "rp_bias_1.relative_attention_bias.weight": (c.element_buckets, h),
        "layer_norm_after.weight": (d,), "layer_norm_after.bias": (d,),
        "fc.0.weight": (1, d), "fc.0.bias": (1,),
    }
    for enc, n in (("encoder1", c.element_layers), ("encoder2", c.gene_layers)):
        for i in range(n):
            p = f"{enc}.layers.{i}."
            shapes.update({p + "norm1.weight": (d,), p + "norm1.bias": (d,),
                           p + "norm2.weight": (d,), p + "norm2.bias": (d,),
                           p + "ffn.ff.0.weight": (ff, d), p + "ffn.ff.0.bias": (ff,),
                           p + "ffn.ff.3.weight": (d, ff), p + "ffn.ff.3.bias": (d,)})
            for w in ("fc_query", "fc_key", "fc_value", "fc_out"):
                shapes[p + f"attn.{w}.weight"] = (d, d)
    for s in range(len(c.gene_scales_bp)):
        shapes[f"rp_bias_2.rp_bias.{s}.relative_attention_bias.weight"] = (c.gene_buckets, h)
    g = torch.Generator().manual_seed(seed)
    return {prefix + k: torch.randn(*v, generator=g) * 0.2 for k, v in shapes.items()}


# ------------------------------------------------------------------ import: values land where the table says

@pytest.mark.parametrize("prefix", ["", "module."])
def test_import_published_full_size(prefix):
    c = ModelConfig.preset("published")
    sd = published_state_dict(c, prefix=prefix)
    model = import_published({"state_dict": sd, "epoch": 3}, c)
    assert not model.training
    own = model.state_dict()
    table = published_key_map(c)
    assert len(table) == len(sd) == len(own)
    for orig, ours in table.items():
        assert torch.equal(own[ours], sd[prefix + orig]), orig
    # spot checks written out by hand
    P = lambda k: sd[prefix + k]  # noqa: E731
    assert torch.equal(model.element.token_embed.weight, P("embed_genome.0.weight"))
    assert torch.equal(model.element.conv.weight, P("projection.conv.weight"))
    assert torch.equal(model.element.encoder.layers[1].attn.k.weight, P("encoder1.layers.1.attn.fc_key.weight"))
    assert torch.equal(model.gene.encoder.layers[3].ff.lin2.bias, P("encoder2.layers.3.ffn.ff.3.bias"))
    assert torch.equal(model.gene.encoder.layers[2].norm_ff.weight, P("encoder2.layers.2.norm2.weight"))
    assert torch.equal(model.gene.rel_bias.scales[4].table, P("rp_bias_2.rp_bias.4.relative_attention_bias.weight"))
    assert torch.equal(model.element.rel_bias.table, P("rp_bias_1.relative_attention_bias.weight"))
    assert torch.equal(model.head_norm.bias, P("layer_norm_after.bias"))
    assert torch.equal(model.head.weight, P("fc.0.weight"))


def _published_reference(sd, c, e_tokens, e_signal, e_pos, g_pos):
    """The published forward pass for ONE gene, written out with raw tensors: 5 summary bases
    of code 5 / zero signal, one-hot @ embedding, conv, bias on (p_q - p_k) // 5 from positions
    arange[::5], gene token from a zero placeholder, stage 2 over [elements, gene] with
    -1e6 on the gene column, LN, fc, softplus."""
    d, h = c.d_model, c.n_heads

    def layer(x, bias, p):
        y = F.layer_norm(x, (d,), sd[p + "norm1.weight"], sd[p + "norm1.bias"])
        q, k, v = (y @ sd[p + f"attn.{w}.weight"].T for w in ("fc_query", "fc_key", "fc_value"))
        sh = lambda t: t.view(*t.shape[:-1], h, d // h).transpose(-3, -2)  # noqa: E731
        q, k, v = sh(q), sh(k), sh(v)
        a = torch.softmax(q / math.sqrt(d // h) @ k.transpose(-1, -2) + bias, -1) @ v
        a = a.transpose(-3, -2).reshape(*x.shape)
        x = x + a @ sd[p + "attn.fc_out.weight"].T
        y = F.layer_norm(x, (d,), sd[p + "norm2.weight"], sd[p + "norm2.bias"])
        y = F.relu(y @ sd[p + "ffn.ff.0.weight"].T + sd[p + "ffn.ff.0.bias"])
        return x + y @ sd[p + "ffn.ff.3.weight"].T + sd[p + "ffn.ff.3.bias"]

    def stage1(tok, sig):
        tok = F.pad(tok, (0, 5), value=5)
        sig = F.pad(sig, (0, 0, 0, 5), value=0.0)
        x = torch.eye(6)[tok] @ sd["embed_genome.0.weight"] + sig @ sd["embed_chipseq.0.weight"].T \
            + sd["embed_chipseq.0.bias"]
        x = F.conv1d(x.transpose(1, 2), sd["projection.conv.weight"], sd["projection.conv.bias"], stride=5)
        x = x.transpose(1, 2)
        pos = torch.arange(tok.shape[-1])[::5]
        rel = torch.div(pos[:, None] - pos[None, :], 5, rounding_mode="floor")
        tab = sd["rp_bias_1.relative_attention_bias.weight"]
        bias = tab[relative_position_bucket(rel, c.element_buckets, c.element_max_distance)].permute(2, 0, 1)
        for i in range(c.element_layers):
            x = layer(x, bias, f"encoder1.layers.{i}.")
        return x[:, -1]

    xe = stage1(e_tokens, e_signal)
    xg = stage1(torch.zeros(1, 700, dtype=torch.long), torch.zeros(1, 700, 16))
    pos = torch.cat([e_pos, g_pos])
    rel = pos[:, None] - pos[None, :]
    bias = 0
    for s, r in enumerate(c.gene_scales_bp):
        tab = sd[f"rp_bias_2.rp_bias.{s}.relative_attention_bias.weight"]
        bias = bias + tab[relative_position_bucket(torch.div(rel, r, rounding_mode="floor"),
                                                   c.gene_buckets, c.gene_max_distance)].permute(2, 0, 1)
    ne = xe.shape[0]
    msk = torch.cat([torch.zeros(ne + 1, ne), torch.ones(ne + 1, 1)], 1) * -1e6
    x = torch.cat([xe, xg])
    for i in range(c.gene_layers):
        x = layer(x, bias + msk, f"encoder2.layers.{i}.")
    x = F.layer_norm(x, (d,), sd["layer_norm_after.weight"], sd["layer_norm_after.bias"])[-1:]
    return F.softplus(x @ sd["fc.0.weight"].T + sd["fc.0.bias"])[0, 0]


def test_imported_model_computes_the_published_function():
    c = ModelConfig.preset("tiny", placeholder_bp=700, element_bp=100)
    sd = published_state_dict(c, seed=4)
    model = import_published(sd, c)
    g = torch.Generator().manual_seed(0)
    n = 6
    tokens = torch.randint(0, 5, (n, 100), generator=g)
    signal = torch.rand(n, 100, 16, generator=g)
    tss = 1_234_567
    e_pos = tss + torch.randint(-1_000_000, 1_000_000, (n,), generator=g)
    with torch.no_grad():
        ref = _published_reference(sd, c, tokens, signal, e_pos, torch.tensor([tss]))
        ours = model(tokens[None], signal[None], (e_pos - tss)[None], torch.ones(1, n, dtype=torch.bool))
    torch.testing.assert_close(ours[0], ref, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ import: errors

def test_import_errors_name_every_key():
    c = TINY
    good = published_state_dict(c)
    bad = dict(good)
    del bad["encoder2.layers.1.attn.fc_value.weight"]
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): encoder2\.layers\.1\.attn\.fc_value\.weight"):
        import_published(bad, c)
    bad = {**good, "encoder3.layers.0.norm1.weight": torch.zeros(3), "module.extra": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"unexpected keys \(2\): encoder3\.layers\.0\.norm1\.weight, extra"):
        import_published(bad, c)
    bad = {**good, "fc.0.weight": torch.zeros(2, c.d_model)}
    with pytest.raises(CheckpointError, match=r"shape mismatches \(1\): fc\.0\.weight: .*\[2, 16\] vs model \[1, 16\]"):
        import_published(bad, c)
    # all at once: one error naming each
    bad = dict(good)
    del bad["embed_genome.0.weight"]
    bad["bogus.weight"] = torch.zeros(1)
    bad["projection.conv.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as exc:
        import_published(bad, c)
    msg = str(exc.value)
    assert "embed_genome.0.weight" in msg and "bogus.weight" in msg and "projection.conv.bias" in msg
    # a deeper published model than the config: the extra layer is unexpected
    with pytest.raises(CheckpointError, match="encoder2.layers.2"):
        import_published(published_state_dict(ModelConfig.preset("tiny", gene_layers=3)), c)


def test_load_published_from_file(tmp_path):
    c = TINY
    sd = published_state_dict(c, prefix="module.")
    path = tmp_path / "chk.pth"
    torch.save({"state_dict": sd}, path)
    model = load_published(path, c)
    assert torch.equal(model.head.bias, sd["module.fc.0.bias"])
    torch.save({"state_dict": {k: v for k, v in sd.items() if "fc.0" not in k}}, path)
    with pytest.raises(CheckpointError, match=r"chk\.pth: .*missing keys \(2\): fc\.0\.bias, fc\.0\.weight"):
        load_published(path, c)


# ------------------------------------------------------------------ our checkpoints

def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = CreatorModel(TINY)
    path = tmp_path / "model" / "checkpoint.pt"
    save_checkpoint(path, model, epoch=7, metrics={"val_pearson": 0.5})
    loaded, ckpt = load_checkpoint(path)
    assert loaded.config == TINY and ckpt["epoch"] == 7 and ckpt["metrics"]["val_pearson"] == 0.5
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    torch.manual_seed(1)
    other = CreatorModel(TINY)
    load_checkpoint(path, other)
    assert torch.equal(other.head.weight, model.head.weight)
    # DDP-style prefixes are accepted
    ckpt2 = dict(ckpt, state_dict={"module." + k: v for k, v in ckpt["state_dict"].items()})
    again, _ = load_checkpoint(ckpt2)
    assert torch.equal(again.head.weight, model.head.weight)
    assert not list(tmp_path.glob("model/*.tmp"))


def test_config_mismatch_names_keys(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, CreatorModel(TINY))
    other = CreatorModel(ModelConfig.preset("tiny", d_model=32, gene_layers=3))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path, other)
    msg = str(exc.value)
    assert "d_model: model 32 vs checkpoint 16" in msg and "gene_layers: model 3 vs checkpoint 2" in msg
    assert "n_heads" not in msg and str(path) in msg


def test_bad_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = CreatorModel(TINY)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    sd = model.state_dict()
    broken = {k: v for k, v in sd.items() if k != "head.bias"}
    broken["head.weight"] = torch.zeros(3, 3)
    broken["junk"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint({"config": TINY.to_dict(), "state_dict": broken})
    msg = str(exc.value)
    assert "missing keys (1): head.bias" in msg and "unexpected keys (1): junk" in msg and "head.weight" in msg
    with pytest.raises(CheckpointError, match="import_published"):
        load_checkpoint({"state_dict": sd})
    with pytest.raises(CheckpointError, match="bogus"):
        load_checkpoint({"config": {**TINY.to_dict(), "bogus": 1}, "state_dict": sd})
