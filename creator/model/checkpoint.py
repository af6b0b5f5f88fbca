"""Checkpoints: ours, and the published CREaTor checkpoint.

Our checkpoint is a ``torch.save``'d dict::

    {"format": "creator-model", "format_version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {name: tensor}, ...anything the trainer adds}

:func:`load_checkpoint` refuses a checkpoint whose config differs from the model's and names the
differing keys.

Published checkpoint
--------------------
``checkpoints/chk.pth`` of https://github.com/DLS5-Omics/CREaTor holds ``{"state_dict": ...}``
(keys possibly prefixed ``module.`` from DataParallel). The parameter names below were read from
that repository's ``model/model.py``, ``model/attention.py`` and ``model/positional_encoding.py``
(class ``Model``: ``embed_genome = Sequential(Embedding(6, 256), Dropout)``, ``embed_chipseq =
Sequential(Linear(16, 256), Dropout)``, ``projection = WConv`` wrapping ``conv = Conv1d(256, 256, 5,
stride 5)``, ``rp_bias_1 = RelativePositionBias`` (``relative_attention_bias = Embedding(64, 4)``),
``encoder1``/``encoder2 = TransformerEncoder`` (``layers[i]``: ``norm1``, ``attn.fc_query/fc_key/
fc_value/fc_out`` without bias, ``norm2``, ``ffn.ff = Sequential(Linear, ReLU, Dropout, Linear,
Dropout)``), ``rp_bias_2 = SRBias`` (``rp_bias[s]``, one ``RelativePositionBias`` per scale),
``layer_norm_after``, ``fc = Sequential(Linear(256, 1))``). Mapping (original -> ours); every shape
is identical, so no tensor is transposed or reshaped::

    embed_genome.0.weight                          [6, d]      element.token_embed.weight
    embed_chipseq.0.weight / .bias                 [d, 16]/[d] element.signal_proj.weight / .bias
    projection.conv.weight / .bias                 [d, d, 5]   element.conv.weight / .bias
    rp_bias_1.relative_attention_bias.weight       [64, H]     element.rel_bias.table
    encoder1.layers.{i}.norm1.weight / .bias                   element.encoder.layers.{i}.norm_attn.*
    encoder1.layers.{i}.attn.fc_query.weight       [d, d]      element.encoder.layers.{i}.attn.q.weight
    encoder1.layers.{i}.attn.fc_key.weight                     element.encoder.layers.{i}.attn.k.weight
    encoder1.layers.{i}.attn.fc_value.weight                   element.encoder.layers.{i}.attn.v.weight
    encoder1.layers.{i}.attn.fc_out.weight                     element.encoder.layers.{i}.attn.out.weight
    encoder1.layers.{i}.norm2.weight / .bias                   element.encoder.layers.{i}.norm_ff.*
    encoder1.layers.{i}.ffn.ff.0.weight / .bias    [ff, d]     element.encoder.layers.{i}.ff.lin1.*
    encoder1.layers.{i}.ffn.ff.3.weight / .bias    [d, ff]     element.encoder.layers.{i}.ff.lin2.*
    rp_bias_2.rp_bias.{s}.relative_attention_bias.weight [64, H] gene.rel_bias.scales.{s}.table
    encoder2.layers.{i}.*                                      gene.encoder.layers.{i}.* (as encoder1)
    layer_norm_after.weight / .bias                [d]         head_norm.weight / .bias
    fc.0.weight / .bias                            [1, d]/[1]  head.weight / .bias

The published forward pass and ours compute the same function (same token codes with 5 as the
summary code, same T5 bucketing of ``query - key`` distances, same bias sharing across layers,
same gene-token-last layout and key mask, same head); the published code just runs one gene at a
time. Its "attention" output is pre-softmax scores; ours are probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io import atomic_path
from .config import ModelConfig
from .model import CreatorModel

__all__ = ["CheckpointError", "save_checkpoint", "read_checkpoint", "load_checkpoint",
           "check_config", "published_key_map", "import_published", "load_published",
           "FORMAT", "FORMAT_VERSION"]

FORMAT = "creator-model"
FORMAT_VERSION = 1
_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile wrappers


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded into the model; the message names every offending key."""


# ====================================================================== our checkpoints

def save_checkpoint(path: str | Path, model: CreatorModel, **extra: Any) -> None:
    """Atomically write ``model`` (config + CPU state dict) and ``extra`` entries to ``path``."""
    path = Path(path)
    reserved = {"format", "format_version", "config", "state_dict"} & set(extra)
    if reserved:
        raise ValueError(f"extra keys {sorted(reserved)} are reserved")
    m = _unwrap(model)
    ckpt = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": m.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in m.state_dict().items()}, **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def read_checkpoint(path: str | Path, *, map_location: Any = "cpu", trusted: bool = False) -> dict:
    """``torch.load`` a checkpoint (``weights_only`` unless ``trusted``) and check its shape."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=not trusted)
    except FileNotFoundError:
        raise CheckpointError("checkpoint not found", path=path, fix="train the model first or correct the path")
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise CheckpointError(f"cannot read checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                              path=path, fix="pass trusted=True only if you trust the file's origin"
                              if not trusted else "re-create the checkpoint") from exc
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise CheckpointError("not a checkpoint: expected a dict with a 'state_dict' entry", path=path)
    return dict(ckpt)


def check_config(model_config: ModelConfig, ckpt_config: Mapping[str, Any] | ModelConfig, *,
                 path: str | Path | None = None) -> None:
    """Raise :class:`CheckpointError` naming every key where the checkpoint's config differs."""
    if not isinstance(ckpt_config, ModelConfig):
        try:
            ckpt_config = ModelConfig.from_dict(dict(ckpt_config))
        except InputError as exc:
            raise CheckpointError(f"checkpoint config is invalid: {exc}", path=path) from exc
    diff = model_config.diff(ckpt_config)
    if diff:
        items = "; ".join(f"{k}: model {a!r} vs checkpoint {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"checkpoint config differs from the model's in {len(diff)} key(s) "
                              f"({', '.join(diff)}): {items}", path=path,
                              fix="build the model from the checkpoint's config (load_checkpoint(path))")


def load_checkpoint(source: str | Path | Mapping[str, Any], model: CreatorModel | None = None, *,
                    map_location: Any = "cpu", trusted: bool = False) -> tuple[CreatorModel, dict]:
    """Load our checkpoint (a path or an already loaded dict).

    With ``model=None`` a model is built from the checkpoint's config; otherwise the configs must
    match (:class:`CheckpointError` names the differing keys). Returns ``(model, checkpoint)``;
    the model keeps its train/eval mode (a new one is in train mode, as ``nn.Module`` defaults)."""
    path = None if isinstance(source, Mapping) else source
    ckpt = dict(source) if isinstance(source, Mapping) else read_checkpoint(
        source, map_location=map_location, trusted=trusted)
    if "config" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError("not a creator checkpoint: needs 'config' and 'state_dict'", path=path,
                              fix="for the published CREaTor checkpoint use import_published/load_published")
    if model is None:
        try:
            model = CreatorModel(ModelConfig.from_dict(dict(ckpt["config"])))
        except InputError as exc:
            raise CheckpointError(f"checkpoint config is invalid: {exc}", path=path) from exc
    else:
        check_config(_unwrap(model).config, ckpt["config"], path=path)
    target = _unwrap(model)
    sd = _strip_prefixes(ckpt["state_dict"])
    own = target.state_dict()
    _check_keys(own, sd, {k: k for k in own}, path=path, what="checkpoint")
    target.load_state_dict(sd, strict=True)
    return model, ckpt


# ====================================================================== published checkpoint

_LAYER_MAP = {
    "norm1.weight": "norm_attn.weight", "norm1.bias": "norm_attn.bias",
    "attn.fc_query.weight": "attn.q.weight", "attn.fc_key.weight": "attn.k.weight",
    "attn.fc_value.weight": "attn.v.weight", "attn.fc_out.weight": "attn.out.weight",
    "norm2.weight": "norm_ff.weight", "norm2.bias": "norm_ff.bias",
    "ffn.ff.0.weight": "ff.lin1.weight", "ffn.ff.0.bias": "ff.lin1.bias",
    "ffn.ff.3.weight": "ff.lin2.weight", "ffn.ff.3.bias": "ff.lin2.bias",
}


def published_key_map(config: ModelConfig | None = None) -> dict[str, str]:
    """The mapping table (published name -> our name) for a model of ``config``'s depth."""
    c = config or ModelConfig.preset("published")
    m = {
        "embed_genome.0.weight": "element.token_embed.weight",
        "embed_chipseq.0.weight": "element.signal_proj.weight",
        "embed_chipseq.0.bias": "element.signal_proj.bias",
        "projection.conv.weight": "element.conv.weight",
        "projection.conv.bias": "element.conv.bias",
        "rp_bias_1.relative_attention_bias.weight": "element.rel_bias.table",
    }
    for i in range(c.element_layers):
        for a, b in _LAYER_MAP.items():
            m[f"encoder1.layers.{i}.{a}"] = f"element.encoder.layers.{i}.{b}"
    for s in range(len(c.gene_scales_bp)):
        m[f"rp_bias_2.rp_bias.{s}.relative_attention_bias.weight"] = f"gene.rel_bias.scales.{s}.table"
    for i in range(c.gene_layers):
        for a, b in _LAYER_MAP.items():
            m[f"encoder2.layers.{i}.{a}"] = f"gene.encoder.layers.{i}.{b}"
    m.update({"layer_norm_after.weight": "head_norm.weight", "layer_norm_after.bias": "head_norm.bias",
              "fc.0.weight": "head.weight", "fc.0.bias": "head.bias"})
    return m


def import_published(state_dict: Mapping[str, Any], config: ModelConfig | None = None) -> CreatorModel:
    """Build a :class:`CreatorModel` (eval mode) from the published checkpoint's state dict.

    ``state_dict`` may be the whole ``chk.pth`` dict (its ``state_dict`` entry is used) and its
    keys may carry a ``module.`` prefix. ``config`` defaults to ``ModelConfig.preset('published')``;
    only its sizes matter (element_bp may be anything, stage 1 has no length-dependent weights).
    Missing keys, unexpected keys and shape mismatches are all reported in one
    :class:`CheckpointError`."""
    sd = state_dict
    if "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]
    sd = _strip_prefixes(sd)
    config = config or ModelConfig.preset("published")
    model = CreatorModel(config)
    own = model.state_dict()
    mapping = published_key_map(config)
    unmapped = sorted(set(own) - set(mapping.values()))
    if unmapped:  # a programming error: the table must cover the whole model
        raise AssertionError(f"mapping table misses our parameters {unmapped}")
    _check_keys(own, sd, {v: k for k, v in mapping.items()}, path=None, what="published checkpoint")
    new = {ours: torch.as_tensor(sd[orig]).detach().to(own[ours].dtype).clone() for orig, ours in mapping.items()}
    model.load_state_dict(new, strict=True)
    return model.eval()


def load_published(path: str | Path, config: ModelConfig | None = None, *, trusted: bool = False) -> CreatorModel:
    """``torch.load`` the published ``chk.pth`` and :func:`import_published` it."""
    ckpt = read_checkpoint(path, trusted=trusted)
    try:
        return import_published(ckpt, config)
    except CheckpointError as exc:
        raise CheckpointError(exc.problem, path=path, fix=exc.fix) from exc


# ====================================================================== helpers

def _unwrap(model: torch.nn.Module) -> CreatorModel:
    while not isinstance(model, CreatorModel) and hasattr(model, "module"):
        model = model.module  # DDP / DataParallel
    if hasattr(model, "_orig_mod"):
        model = model._orig_mod
    if not isinstance(model, CreatorModel):
        raise TypeError(f"expected a CreatorModel, got {type(model).__name__}")
    return model


def _strip_prefixes(sd: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in _PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def _check_keys(own: Mapping[str, torch.Tensor], sd: Mapping[str, Any], source_name: Mapping[str, str], *,
                path: str | Path | None, what: str) -> None:
    """``source_name``: our key -> the key expected in ``sd``. Raise naming all problems."""
    expected = {src: ours for ours, src in source_name.items()}
    missing = sorted(src for src in expected if src not in sd)
    unexpected = sorted(k for k in sd if k not in expected)
    shapes = []
    for src, ours in expected.items():
        if src in sd:
            got = tuple(getattr(sd[src], "shape", ()))
            want = tuple(own[ours].shape)
            if got != want:
                shapes.append(f"{src}: {what} {list(got)} vs model {list(want)}"
                              + (f" ({ours})" if ours != src else ""))
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): {'; '.join(shapes)}")
    if problems:
        raise CheckpointError(f"{what} does not fit the model: " + "; ".join(problems), path=path,
                              fix="check that the checkpoint and the model config describe the same sizes")
