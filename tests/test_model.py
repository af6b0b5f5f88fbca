"""Model tests: shapes, masks, the cached fast path against the slow reference, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from creator.errors import InputError
from creator.inference import encode_all, pad_windows, predict_cached, windows_from_ranges
from creator.model import CreatorModel, ModelConfig
from creator.model.bias import relative_position_bucket

TINY = ModelConfig.preset("tiny")


def make_model(seed: int = 0, config: ModelConfig = TINY, device: str = "cpu") -> CreatorModel:
    torch.manual_seed(seed)
    return CreatorModel(config).to(device).eval()


def make_data(n_ccre: int, config: ModelConfig = TINY, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.n_tokens, (n_ccre, config.element_bp), generator=g)
    signal = torch.randn(n_ccre, config.element_bp, config.n_tracks, generator=g).abs()
    centers = torch.sort(torch.randint(0, 3_000_000, (n_ccre,), generator=g)).values
    return tokens, signal, centers


def padded_inputs(tokens, signal, windows, offsets):
    """[B, E, ...] inputs of the slow reference, with zeros at padding."""
    index, offset, mask = pad_windows(windows, offsets)
    tok = tokens[index] * mask[..., None]
    sig = signal[index] * mask[..., None, None]
    return tok, sig, offset, mask


# ------------------------------------------------------------------ config

def test_config_roundtrip_and_presets():
    for name in ("published", "demo", "tiny"):
        c = ModelConfig.preset(name)
        assert ModelConfig.from_dict(c.to_dict()) == c
    assert ModelConfig.preset("published") == ModelConfig()
    demo = ModelConfig.preset("demo")
    assert (demo.d_model, demo.n_heads, demo.d_ff, demo.element_layers, demo.gene_layers) == (64, 2, 128, 1, 2)
    assert ModelConfig.preset("tiny", d_model=32).d_model == 32
    d = TINY.to_dict()
    assert isinstance(d["gene_scales_bp"], list)
    with pytest.raises(InputError, match="bogus"):
        ModelConfig.from_dict({**d, "bogus": 1})
    with pytest.raises(InputError, match="preset"):
        ModelConfig.preset("huge")
    with pytest.raises(InputError, match="multiple of n_heads"):
        ModelConfig(d_model=30, n_heads=4)
    with pytest.raises(InputError, match="element_bp"):
        ModelConfig(element_bp=503)
    assert TINY.n_conv_tokens(TINY.element_bp) == TINY.element_bp // 5 + 1


def test_init_is_deterministic():
    a, b, c = make_model(3), make_model(3), make_model(4)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_bucket_function():
    rel = torch.arange(-2000, 2001)
    b = relative_position_bucket(rel, 64, 256)
    assert b.min() >= 0 and b.max() <= 63
    # exact buckets near zero, sign halves, saturation far away
    assert torch.equal(b[2000:2016], torch.arange(16))
    assert torch.equal(relative_position_bucket(torch.tensor([-1, -15]), 64, 256), torch.tensor([33, 47]))
    assert relative_position_bucket(torch.tensor([256, 10**7]), 64, 256).tolist() == [31, 31]
    assert relative_position_bucket(torch.tensor([-10**7]), 64, 256).item() == 63
    pos = b[2000:]
    assert torch.all(pos[1:] >= pos[:-1])  # monotone in distance
    # a log bucket: 16 + floor(log(n / 16) / log(16) * 16)
    n = 100
    assert relative_position_bucket(torch.tensor([n]), 64, 256).item() == 16 + int(math.log(n / 16) / math.log(16) * 16)


def test_multiscale_bias_segments_equal_direct():
    model = make_model(config=ModelConfig.preset("published"))
    rb = model.gene.rel_bias
    torch.manual_seed(0)
    with torch.no_grad():
        for t in rb.scales:
            t.table.normal_()
        offs = torch.cat([torch.randint(-1_200_000, 1_200_000, (2, 50)),
                          torch.randint(-10**9, 10**9, (2, 50)),  # far beyond saturation
                          torch.randint(-3000, 3000, (2, 50))], 1)
        # every breakpoint and its neighbours too
        bp = rb.breakpoints
        edge = torch.cat([bp - 1, bp, bp + 1])[None]
        for o in (offs, edge):
            assert torch.equal(rb(o), rb.direct(o))
        allowed = torch.rand(2, 150) > 0.3
        masked = rb(offs, allowed)
        assert torch.isinf(masked[~allowed[:, None, None, :].expand_as(masked)]).all()
        assert torch.equal(masked[allowed[:, None, None, :].expand_as(masked)],
                           rb.direct(offs)[allowed[:, None, None, :].expand_as(masked)])
    assert "gene.rel_bias.breakpoints" not in model.state_dict()


# ------------------------------------------------------------------ shapes, masks, attention

def test_shapes_attention_and_masks():
    model = make_model()
    c = model.config
    tokens, signal, _ = make_data(7)
    emb = model.encode_elements(tokens, signal)
    assert emb.shape == (7, c.d_model) and torch.isfinite(emb).all()
    assert model.gene_token().shape == (c.d_model,)
    assert model.encode_elements(tokens[:0], signal[:0]).shape == (0, c.d_model)

    e_emb = torch.stack([emb[:4], torch.cat([emb[4:7], torch.zeros(1, c.d_model)]), torch.zeros(4, c.d_model)])
    offset = torch.tensor([[-5000, -10, 300, 90000], [-200, 0, 4000, 0], [0, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    pred, attn = model.forward_genes(e_emb, offset, mask, return_attention=True)
    assert pred.shape == (3,) and torch.isfinite(pred).all() and (pred >= 0).all()
    assert len(attn) == c.gene_layers
    for a in attn:
        assert a.shape == (3, c.n_heads, 5, 5) and torch.isfinite(a).all()
        real = torch.cat([mask, torch.zeros(3, 1, dtype=torch.bool)], 1)  # element columns
        # genes with elements: rows sum to 1 over real elements; padding and gene columns exactly 0
        for g in (0, 1):
            torch.testing.assert_close(a[g][..., real[g]].sum(-1), torch.ones(c.n_heads, 5))
            assert (a[g][..., ~real[g]] == 0).all()
        # the empty gene attends to its own token only
        assert (a[2][..., :4] == 0).all() and (a[2][..., 4] == 1).all()
    pred2, none = model.forward_genes(e_emb, offset, mask)
    assert none is None
    torch.testing.assert_close(pred, pred2, atol=1e-6, rtol=1e-6)


def test_sdpa_and_explicit_paths_agree():
    model = make_model()
    torch.manual_seed(5)
    emb = torch.randn(3, 6, model.config.d_model)
    offset = torch.randint(-1_000_000, 1_000_000, (3, 6))
    mask = torch.tensor([[1] * 6, [1, 1, 0, 0, 0, 0], [0] * 6], dtype=torch.bool)
    a, _ = model.forward_genes(emb, offset, mask)
    b, _ = model.forward_genes(emb, offset, mask, return_attention=True)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # stage 1 too: compare the SDPA encoder against an explicit softmax over the same bias
    enc = model.element
    tokens, signal, _ = make_data(4)
    x1 = enc(tokens, signal)
    layer = enc.encoder.layers[0]
    orig = layer.forward
    layer.forward = lambda x, bias, return_attention=False, last_only=False: orig(
        x, bias, return_attention=True, last_only=last_only)
    try:
        x2 = enc(tokens, signal)
    finally:
        layer.forward = orig
    torch.testing.assert_close(x1, x2, atol=1e-5, rtol=1e-5)


def test_last_only_equals_the_last_row_of_the_full_stack():
    """Both encoders read only their last position (the gene token, the summary token): computing
    the last layer for that query alone gives the full stack's numbers, with and without padding."""
    model = make_model()
    torch.manual_seed(11)
    enc = model.gene.encoder
    x = torch.randn(3, 7, model.config.d_model)
    offset = torch.randint(-500_000, 500_000, (3, 6))
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0], [0] * 6], dtype=torch.bool)
    bias = model.gene.attention_bias(offset, mask)
    full, _ = enc(x, bias)
    last, _ = enc(x, bias, last_only=True)
    assert last.shape == (3, 1, model.config.d_model)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-6, rtol=1e-5)
    _, probs = enc(x, bias, return_attention=True, last_only=True)
    _, probs_full = enc(x, bias, return_attention=True)
    assert probs[-1].shape == (3, model.config.n_heads, 1, 7)
    torch.testing.assert_close(probs[-1], probs_full[-1][:, :, -1:], atol=1e-6, rtol=1e-5)
    # gradients agree too (training uses the last-only path)
    w = model.gene.rel_bias.scales[0].table
    g_full = torch.autograd.grad(enc(x, model.gene.attention_bias(offset, mask))[0][:, -1].sum(), w)[0]
    g_last = torch.autograd.grad(enc(x, model.gene.attention_bias(offset, mask), last_only=True)[0].sum(), w)[0]
    torch.testing.assert_close(g_last, g_full, atol=1e-6, rtol=1e-5)
    assert g_full.abs().sum() > 0


def test_fused_input_stage_equals_literal():
    model = make_model(config=ModelConfig.preset("tiny", element_bp=60))
    g = torch.Generator().manual_seed(9)
    tokens = torch.randint(0, 5, (6, 60), generator=g)
    for r in (1, 2, 5, 10, 15, 60):  # per base, bins smaller than / equal to / larger than the kernel
        signal = torch.randn(6, 60 // r, 16, generator=g)
        torch.testing.assert_close(model.element(tokens, signal, fused=True),
                                   model.element(tokens, signal, fused=False), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="token codes"):
        model.encode_elements(tokens + 2, torch.zeros(6, 60, 16))
    odd = make_model(config=ModelConfig.preset("tiny", conv_kernel=6, n_summary_tokens=6, element_bp=55,
                                                placeholder_bp=75))
    with pytest.raises(ValueError, match="fused"):
        odd.element(torch.zeros(2, 55, dtype=torch.long), torch.zeros(2, 55, 16), fused=True)
    assert odd.encode_elements(torch.zeros(2, 55, dtype=torch.long), torch.zeros(2, 55, 16)).shape == (2, 16)


def test_binned_signal_equals_repeated_per_base():
    model = make_model()
    tokens, _, _ = make_data(5)
    binned = torch.randn(5, TINY.element_bp // 10, TINY.n_tracks)
    per_base = binned.repeat_interleave(10, dim=1)
    torch.testing.assert_close(model.encode_elements(tokens, binned), model.encode_elements(tokens, per_base),
                               atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        model.encode_elements(tokens, torch.randn(5, 7, TINY.n_tracks))


# ------------------------------------------------------------------ the fast path against the reference

def _windows(centers, spans):
    """Overlapping contiguous windows (as in windows.npz) with TSS inside."""
    lo = np.array([a for a, _ in spans])
    hi = np.array([b for _, b in spans])
    c = centers.numpy()
    tss = np.array([c[a] + 1234 if b > a else 500_000 for a, b in spans])
    return windows_from_ranges(lo, hi, c, tss)


def test_cached_inference_equals_reference():
    model = make_model()
    tokens, signal, centers = make_data(30)
    spans = [(0, 12), (5, 30), (10, 13), (14, 14), (20, 29), (0, 1), (2, 27)]
    windows, offsets = _windows(centers, spans)
    fast = predict_cached(model, tokens, signal, windows, offsets, batch_genes=3, element_batch=7)
    with torch.no_grad():
        slow = model(*padded_inputs(tokens, signal, windows, offsets)).numpy()
        one_by_one = np.array([model(*padded_inputs(tokens, signal, windows[g:g + 1], offsets[g:g + 1])).item()
                               for g in range(len(windows))])
    assert fast.shape == (len(spans),) and np.isfinite(fast).all()
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)
    np.testing.assert_allclose(fast, one_by_one, atol=1e-5, rtol=0)
    # numpy / float16 binned inputs (the on-disk layout) give the same numbers as per-base tensors
    binned = signal[:, ::10].half()
    a = predict_cached(model, tokens.numpy().astype(np.uint8), binned.numpy(), windows, offsets, batch_genes=4)
    b = predict_cached(model, tokens, binned.float().repeat_interleave(10, 1), windows, offsets, batch_genes=4)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    # rounding window lengths up (fewer shapes on CUDA) changes nothing
    np.testing.assert_allclose(predict_cached(model, tokens, signal, windows, offsets, pad_multiple=16), fast,
                               atol=1e-5, rtol=0)
    # precomputed embeddings are reused as they are
    with torch.inference_mode():
        emb = encode_all(model, tokens, signal, element_batch=11)
    np.testing.assert_allclose(predict_cached(model, None, None, windows, offsets, embeddings=emb), fast,
                               atol=1e-5, rtol=0)


def test_padding_invariance():
    model = make_model()
    torch.manual_seed(2)
    emb = torch.randn(2, 5, TINY.d_model)
    offset = torch.randint(-500_000, 500_000, (2, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    base, _ = model.forward_genes(emb, offset, mask)
    # 4 more padding slots with garbage embeddings (even NaN) and offsets
    junk = torch.randn(2, 4, TINY.d_model)
    junk[0, 0] = float("nan")
    emb2 = torch.cat([emb, junk], 1)
    off2 = torch.cat([offset, torch.randint(-10**6, 10**6, (2, 4))], 1)
    mask2 = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], 1)
    padded, attn = model.forward_genes(emb2, off2, mask2, return_attention=True)
    torch.testing.assert_close(base, padded, atol=1e-6, rtol=1e-6)
    assert all(torch.isfinite(a).all() for a in attn)
    # and gene 1 alone (no padding at all) agrees too
    alone, _ = model.forward_genes(emb[1:, :2], offset[1:, :2], mask[1:, :2])
    torch.testing.assert_close(alone, base[1:], atol=1e-6, rtol=1e-6)


def test_permutation_invariance():
    model = make_model()
    torch.manual_seed(3)
    emb = torch.randn(1, 9, TINY.d_model)
    offset = torch.randint(-1_000_000, 1_000_000, (1, 9))
    mask = torch.ones(1, 9, dtype=torch.bool)
    mask[0, 4] = False
    base, attn = model.forward_genes(emb, offset, mask, return_attention=True)
    perm = torch.randperm(9)
    permuted, attn_p = model.forward_genes(emb[:, perm], offset[:, perm], mask[:, perm], return_attention=True)
    torch.testing.assert_close(base, permuted, atol=1e-6, rtol=1e-6)
    # the gene row's attention follows its elements
    torch.testing.assert_close(attn[-1][0, :, -1, :-1][:, perm], attn_p[-1][0, :, -1, :-1], atol=1e-6, rtol=1e-5)


def test_gradients_reach_stage1_through_forward_genes():
    torch.manual_seed(0)
    model = CreatorModel(TINY).train()
    tokens, signal, centers = make_data(10)
    windows, offsets = _windows(centers, [(0, 6), (3, 10), (4, 4)])
    index, offset, mask = pad_windows(windows, offsets)
    emb = model.encode_elements(tokens, signal)
    pred, _ = model.forward_genes(emb[index], offset, mask)
    loss = ((pred - torch.tensor([1.0, 2.0, 0.5])) ** 2).mean()
    loss.backward()
    named = dict(model.named_parameters())
    for name in ("element.token_embed.weight", "element.signal_proj.weight", "element.conv.weight",
                 "element.rel_bias.table", "element.encoder.layers.0.attn.q.weight",
                 "gene.rel_bias.scales.0.table", "gene.encoder.layers.1.ff.lin2.weight", "head.weight"):
        g = named[name].grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name
    # dropout is active in train mode, inactive in eval mode
    with torch.no_grad():
        a = model.forward_genes(emb[index], offset, mask)[0]
        b = model.forward_genes(emb[index], offset, mask)[0]
        assert not torch.equal(a, b)
        model.eval()
        e = model.encode_elements(tokens, signal)
        torch.testing.assert_close(model.forward_genes(e[index], offset, mask)[0],
                                   model.forward_genes(e[index], offset, mask)[0], atol=0, rtol=0)


def test_demo_and_published_presets_run():
    for name in ("demo", "published"):
        c = ModelConfig.preset(name, element_bp=50)
        model = make_model(config=c)
        tokens, signal, centers = make_data(3, config=c)
        windows, offsets = _windows(centers, [(0, 3), (1, 2)])
        with torch.no_grad():
            p = model(*padded_inputs(tokens, signal, windows, offsets))
        assert p.shape == (2,) and torch.isfinite(p).all()


# ------------------------------------------------------------------ GPU

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cached_inference_equals_reference_cuda():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = make_model(device="cuda")
    tokens, signal, centers = make_data(30)
    windows, offsets = _windows(centers, [(0, 12), (5, 30), (10, 13), (14, 14), (20, 29), (0, 1)])
    fast = predict_cached(model, tokens, signal, windows, offsets, batch_genes=3, element_batch=7)
    with torch.no_grad():
        slow = model(*[t.cuda() for t in padded_inputs(tokens, signal, windows, offsets)]).cpu().numpy()
        e = model.encode_elements(tokens.cuda(), signal.cuda())
        index, offset, mask = pad_windows(windows, offsets, device="cuda")
        a, _ = model.forward_genes(e[index], offset, mask)
        b, attn = model.forward_genes(e[index], offset, mask, return_attention=True)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert all(torch.isfinite(x).all() for x in attn)
    cpu = predict_cached(make_model(), tokens, signal, windows, offsets, batch_genes=3, element_batch=7)
    np.testing.assert_allclose(fast, cpu, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ extensions: insulation, masked tracks

INSULATED = ModelConfig.preset("tiny", insulation=True)


def test_insulation_bias_is_the_insulation_between_positions():
    from creator.model.gene import InsulationBias

    torch.manual_seed(0)
    ins = InsulationBias(8, 2)
    with torch.no_grad():
        ins.proj.weight.normal_()
    emb = torch.randn(1, 6, 8)
    offset = torch.tensor([[900, -500, 40_000, -70_000, 3_000, 0]])  # unsorted on purpose
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    bias = ins(emb, offset, mask)[0]  # [H, 7, 7]
    u = ins.strength(emb, mask)[0]    # [6, H]
    assert (u[5] == 0).all() and (u[:5] > 0).all()
    pos = torch.cat([offset[0].float(), torch.zeros(1)])  # the gene token sits at 0 with u = 0
    uu = torch.cat([u, torch.zeros(1, 2)])
    for i in range(5):
        for j in list(range(5)) + [6]:
            lo, hi = sorted((pos[i].item(), pos[j].item()))
            between = uu[(pos > lo) & (pos < hi) & torch.cat([mask[0], torch.ones(1, dtype=torch.bool)])].sum(0)
            want = -(between + (uu[i] + uu[j]) / 2) if i != j else torch.zeros(2)
            torch.testing.assert_close(bias[:, i, j], want, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(bias[:, j, i], bias[:, i, j])


def test_insulation_blocks_attention_across_a_planted_insulator():
    model = make_model(config=INSULATED)
    emb = torch.randn(1, 7, INSULATED.d_model) * 0.1
    emb[0, 3] = 5.0  # the insulator
    offset = torch.tensor([[-30_000, -20_000, -10_000, 5_000, 10_000, 20_000, 30_000]])
    mask = torch.ones(1, 7, dtype=torch.bool)
    _, before = model.forward_genes(emb, offset, mask, return_attention=True)
    with torch.no_grad():  # only element 3 insulates (strongly)
        model.gene.insulation.proj.weight.fill_(1.0)
        model.gene.insulation.proj.bias.fill_(-20.0)
    u = model.gene.insulation.strength(emb, mask)[0, :, 0]
    assert u[3] > 10 and u[torch.arange(7) != 3].max() < 1e-6
    _, after = model.forward_genes(emb, offset, mask, return_attention=True)
    gene_row_b, gene_row_a = before[0][0, :, -1], after[0][0, :, -1]
    # the gene (at 0) sees upstream elements as before, and almost nothing beyond the insulator
    assert gene_row_a[:, 4:7].sum() < 1e-3 < gene_row_b[:, 4:7].sum()
    # element-element attention: the two sides stop seeing each other
    assert after[0][0, :, 0, 4:7].sum() < 1e-3 and after[0][0, :, 6, 0:3].sum() < 1e-3


def test_insulated_model_is_padding_and_permutation_invariant():
    model = make_model(config=INSULATED)
    with torch.no_grad():
        model.gene.insulation.proj.weight.normal_(std=0.5)
    torch.manual_seed(4)
    emb = torch.randn(2, 6, INSULATED.d_model)
    offset = torch.randint(-200_000, 200_000, (2, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    base, _ = model.forward_genes(emb, offset, mask)
    junk = torch.full((2, 3, INSULATED.d_model), float("nan"))
    padded, _ = model.forward_genes(torch.cat([emb, junk], 1), torch.cat([offset, offset[:, :3]], 1),
                                    torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], 1))
    torch.testing.assert_close(base, padded, atol=1e-6, rtol=1e-6)
    perm = torch.randperm(6)
    permuted, _ = model.forward_genes(emb[:, perm], offset[:, perm], mask[:, perm])
    torch.testing.assert_close(base, permuted, atol=1e-6, rtol=1e-6)
    # and it matters: the same weights without the insulation term predict something else
    plain = make_model(config=TINY)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if "insulation" not in k})
    other, _ = plain.forward_genes(emb, offset, mask)
    assert (other - base).abs().max() > 1e-4


def test_masked_tracks_are_ignored():
    config = ModelConfig.preset("tiny", masked_tracks=["H3K36me3", "H3K79me2"])
    assert config.masked_tracks == ("H3K36me3", "H3K79me2")
    assert ModelConfig.from_dict(config.to_dict()) == config
    from creator.formats import TRACK_INDEX

    model = make_model(config=config)
    tokens, signal, _ = make_data(5, config)
    base = model.encode_elements(tokens, signal)
    changed = signal.clone()
    changed[..., TRACK_INDEX["H3K36me3"]] += 7.0
    torch.testing.assert_close(model.encode_elements(tokens, changed), base)
    changed[..., TRACK_INDEX["DNase"]] += 7.0
    assert (model.encode_elements(tokens, changed) - base).abs().max() > 1e-3
    # the state dict is the unmasked model's (weights move between the two)
    assert set(model.state_dict()) == set(make_model(config=TINY).state_dict())
    with pytest.raises(InputError, match="H3K36ME3"):
        ModelConfig.preset("tiny", masked_tracks=["H3K36ME3"])
    with pytest.raises(InputError, match="twice"):
        ModelConfig.preset("tiny", masked_tracks=["DNase", "DNase"])
    with pytest.raises(InputError, match="insulation"):
        ModelConfig.preset("tiny", insulation="yes")


def test_use_sequence_false_reads_every_base_as_n():
    config = ModelConfig.preset("tiny", use_sequence=False)
    model = make_model(config=config)
    tokens, signal, _ = make_data(4, config)
    base = model.encode_elements(tokens, signal)
    torch.testing.assert_close(model.encode_elements(torch.zeros_like(tokens), signal), base)
    torch.testing.assert_close(model.encode_elements(torch.randint(1, 5, tokens.shape), signal), base)
    with_seq = make_model(config=TINY)
    assert (with_seq.encode_elements(tokens, signal) - with_seq.encode_elements(torch.zeros_like(tokens), signal)
            ).abs().max() > 1e-3


@pytest.mark.parametrize("layers,insulation", [(1, False), (2, False), (2, True), (3, True)])
def test_forward_region_equals_forward_genes(layers, insulation):
    """Training's region path (first-layer scores shared by the region's genes) is the same
    function as forward_genes on the gathered windows: predictions and every gradient."""
    config = ModelConfig.preset("tiny", gene_layers=layers, insulation=insulation, dropout=0.0)
    g = torch.Generator().manual_seed(3)
    n = 40
    center = torch.sort(torch.randint(0, 400_000, (n,), generator=g)).values
    center[7] = center[6]  # a tie: equal centres keep their genome order
    emb = torch.randn(n, config.d_model, generator=g)
    lo = torch.tensor([0, 5, 12, 30, 39])
    hi = torch.tensor([18, 25, 40, 40, 40])
    # TSSs inside, at an element's centre, and beyond the window's ends
    tss = torch.tensor([int(center[3]) + 17, int(center[10]), int(center[25]) - 3, int(center[39]) + 5_000, 1_000_000])
    results = []
    for region in (True, False):
        torch.manual_seed(0)
        model = CreatorModel(config).train()  # dropout 0: train mode is deterministic
        if insulation:  # a non-trivial insulation (its projection starts at zero)
            with torch.no_grad():
                model.gene.insulation.proj.weight.normal_(0, 0.5)
        x = emb.clone().requires_grad_()
        if region:
            pred = model.forward_region(x, center, lo, hi, tss)
        else:
            windows = [np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist())]
            offsets = [(center[a:b] - t).numpy() for a, b, t in zip(lo.tolist(), hi.tolist(), tss.tolist())]
            index, offset, mask = pad_windows(windows, offsets)
            pred, _ = model.forward_genes(x[index], offset, mask)
        (pred * torch.arange(1, 6)).sum().backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        results.append((pred.detach(), x.grad.clone(), grads))
    (p1, gx1, g1), (p2, gx2, g2) = results
    torch.testing.assert_close(p1, p2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gx1, gx2, atol=1e-5, rtol=1e-4)
    assert g1.keys() == g2.keys()
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], atol=1e-5, rtol=1e-4, msg=k)
    assert gx1.abs().sum() > 0 and any(k.startswith("gene.rel_bias") for k in g1)
    if insulation:
        assert g1["gene.insulation.proj.weight"].abs().sum() > 0
