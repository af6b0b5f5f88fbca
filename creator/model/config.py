"""All sizes of the CREaTor model in one frozen dataclass.

The defaults (``ModelConfig.preset("published")``) reproduce the published model
(DLS5-Omics/CREaTor, ``model/model.py``), so its checkpoint can be imported with
:func:`creator.model.checkpoint.import_published`.

Notes on the fields whose meaning is not obvious from the name:

``n_tokens``
    Sequence token codes 0..n_tokens-1 (0 pad/N, 1-4 ACGT; see :mod:`creator.formats`). The token
    embedding has ``n_tokens + 1`` rows: the extra code ``n_tokens`` marks the summary bases.
``n_summary_tokens``
    Number of summary *bases* appended to every element (code ``n_tokens``, zero signal) before the
    convolution, as the published code does (``F.pad(tokens, (0, 5), value=5)``). With kernel =
    stride = 5 they become one learned summary token after the convolution; it is the last token,
    and its final state is the element embedding.
``element_buckets`` / ``element_max_distance``
    T5-style bucketed relative position bias of the element encoder, on the distance between
    convolution tokens (in tokens). One table per encoder, shared by all its layers (as published).
``gene_scales_bp`` / ``gene_buckets`` / ``gene_max_distance``
    The gene-level encoder's bias is the sum over scales ``s`` of a bucketed relative position bias
    on ``(offset_q - offset_k) // s`` (floor division of the genomic distance in bp). One table per
    scale, shared by all gene layers. ``gene_max_distance`` defaults to 256 as in the published
    code: at the coarsest scale (40 kb) distances up to ~10 Mb fall in distinct log-spaced buckets,
    which covers the +/-1 Mb windows with room to spare.
``placeholder_bp``
    Length of the empty (all-zero) region encoded by the element encoder to give the gene token.
``distance_prior``
    Initialisation only (not architecture): each scale's gene-level bias table starts at
    ``-distance_prior * (h + 1) / n_heads * m / (buckets / 2 - 1)`` for head ``h`` and bucket
    magnitude ``m`` (0 at distance 0, growing with log distance), i.e. a distance-decay prior, so
    that at the start the gene token attends mostly to nearby elements. With the published
    ``N(0, 0.02)`` init (``distance_prior: 0``) attention starts uniform over ~900 elements, the
    gene token sees only their average, and training from scratch sits on the predict-the-mean
    plateau for a long time (measured on the chr22 demo: prediction std 0.0 after 40 steps at
    lr 1e-3; with the prior, correlation 0.5 after 5 steps). An imported checkpoint overwrites it.
``insulation``
    Not in the published model (off in the ``published`` preset, so its weights still import):
    the gene-level encoder adds a learned *insulation* bias, see
    :class:`creator.model.gene.InsulationBias`. Every element gets a non-negative insulation per
    head from its stage-1 embedding, and attention between two positions is lowered by the total
    insulation of the elements between them, so the model can learn that CTCF-bound boundary sites
    block regulation across them; the per-element insulation is itself a boundary track.
``masked_tracks``
    Track names (of :data:`creator.formats.TRACKS`) the element encoder sets to zero at its input,
    in training and inference alike (so predict, links and an in-silico perturbation see the same
    model). Meant for the transcription read-out marks (H3K36me3, H3K79me2, H4K20me1): they cover
    the bodies of expressed genes in proportion to expression, so a model that sees them predicts a
    gene's expression from its own body (measured on the synthetic data: zero-shot Spearman 0.90,
    and planted-link AUPRC 0.04 = no better than distance) instead of from its regulatory elements.
    Masking them is a choice for link prediction, not for expression prediction.
``use_sequence``
    ``False``: every base is read as N (code 0), so the element encoder sees the signal only. For
    data whose sequence carries no regulatory grammar (the synthetic genome is random apart from
    CTCF motifs) the 500 random bases of each cCRE are a unique fingerprint that a small model
    memorises; the chr22 demo has no FASTA at all, which is the same thing.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["ModelConfig", "PRESETS"]


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    d_model: int = 256
    n_heads: int = 4
    d_ff: int = 1024
    dropout: float = 0.1
    element_layers: int = 2
    gene_layers: int = 4
    conv_kernel: int = 5
    conv_stride: int = 5
    n_summary_tokens: int = 5
    element_buckets: int = 64
    element_max_distance: int = 256
    gene_scales_bp: tuple[int, ...] = (150, 600, 2400, 10000, 40000)
    gene_buckets: int = 64
    gene_max_distance: int = 256
    placeholder_bp: int = 700
    element_bp: int = 500
    n_tracks: int = 16
    n_tokens: int = 5
    distance_prior: float = 3.0
    insulation: bool = False
    masked_tracks: tuple[str, ...] = ()
    use_sequence: bool = True

    def __post_init__(self) -> None:
        # accept lists (JSON/YAML) for the scales and numpy scalars anywhere
        scales = self.gene_scales_bp
        if isinstance(scales, (list, tuple)) and all(isinstance(s, numbers.Integral) for s in scales):
            object.__setattr__(self, "gene_scales_bp", tuple(int(s) for s in scales))
        if isinstance(self.masked_tracks, list):
            object.__setattr__(self, "masked_tracks", tuple(self.masked_tracks))
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v) is not int:
                object.__setattr__(self, f.name, int(v))
            elif f.name in ("dropout", "distance_prior") and isinstance(v, numbers.Real) and not isinstance(v, bool):
                object.__setattr__(self, f.name, float(v))
        problems = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "dropout":
                if not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
                    problems.append(f"dropout must be in [0, 1), got {v!r}")
            elif f.name == "distance_prior":
                if not (isinstance(v, float) and 0.0 <= v < 100.0):
                    problems.append(f"distance_prior must be in [0, 100), got {v!r}")
            elif f.name == "masked_tracks":
                from ..formats import TRACKS

                if not isinstance(v, tuple) or any(t not in TRACKS for t in v):
                    problems.append(f"masked_tracks must be track names of {', '.join(TRACKS)}, got {v!r}")
                elif len(set(v)) < len(v):
                    problems.append(f"masked_tracks names a track twice: {v!r}")
            elif f.name in ("insulation", "use_sequence"):
                if not isinstance(v, bool):
                    problems.append(f"{f.name} must be true or false, got {v!r}")
            elif f.name == "gene_scales_bp":
                if not isinstance(v, tuple) or not v or any(s <= 0 for s in v):
                    problems.append(f"gene_scales_bp must be non-empty positive integers, got {v!r}")
            elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
                problems.append(f"{f.name} must be a non-negative integer, got {v!r}")
        if problems:
            raise InputError("; ".join(problems), fix="correct the model config")
        positive = ("d_model", "n_heads", "d_ff", "conv_kernel", "conv_stride", "n_summary_tokens",
                    "element_buckets", "element_max_distance", "gene_buckets", "gene_max_distance",
                    "placeholder_bp", "element_bp", "n_tracks", "n_tokens")
        for name in positive:
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % max(self.n_heads, 1):
            problems.append(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        for name in ("element_buckets", "gene_buckets"):
            if getattr(self, name) < 4 or getattr(self, name) % 2:
                problems.append(f"{name} must be even and >= 4, got {getattr(self, name)}")
        for name, nb in (("element_max_distance", self.element_buckets),
                         ("gene_max_distance", self.gene_buckets)):
            if getattr(self, name) <= nb // 4:
                problems.append(f"{name} ({getattr(self, name)}) must exceed a quarter of the buckets ({nb // 4})")
        # the last convolution window must consist of summary bases only, so that the last token
        # is a pure summary token for elements and for the placeholder alike
        if self.n_summary_tokens < self.conv_kernel:
            problems.append(f"n_summary_tokens ({self.n_summary_tokens}) must be >= conv_kernel ({self.conv_kernel})")
        for name in ("element_bp", "placeholder_bp"):
            length = getattr(self, name) + self.n_summary_tokens
            if length < self.conv_kernel or (length - self.conv_kernel) % self.conv_stride:
                problems.append(
                    f"{name} + n_summary_tokens ({length}) minus conv_kernel must be a multiple of "
                    f"conv_stride ({self.conv_stride})")
        if problems:
            raise InputError("; ".join(problems), fix="correct the model config")

    # ------------------------------------------------------------------ derived sizes
    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def summary_token(self) -> int:
        """Token code of the summary bases (one past the sequence codes)."""
        return self.n_tokens

    def n_conv_tokens(self, length_bp: int) -> int:
        """Number of transformer tokens for a region of ``length_bp`` bases (summary included)."""
        return (length_bp + self.n_summary_tokens - self.conv_kernel) // self.conv_stride + 1

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["gene_scales_bp"] = list(self.gene_scales_bp)
        d["masked_tracks"] = list(self.masked_tracks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if not isinstance(d, dict):
            raise InputError(f"model config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown model config key(s): {', '.join(unknown)}",
                             fix=f"use only {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        """``published`` (the defaults), ``demo`` (d 64, 2 heads, FF 128, 1 + 2 layers, dropout 0:
        trains in minutes on 2 CPU cores) or ``tiny`` (unit tests); keyword overrides replace
        single fields."""
        if name not in PRESETS:
            raise InputError(f"unknown model preset {name!r}", fix=f"use one of {', '.join(PRESETS)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown model config key(s): {', '.join(unknown)}",
                             fix=f"use only {', '.join(sorted(known))}")
        return cls(**{**PRESETS[name], **overrides})

    def diff(self, other: "ModelConfig") -> dict[str, tuple[Any, Any]]:
        """Fields that differ: ``{name: (self's value, other's value)}``."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name))
                for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)}


PRESETS: dict[str, dict[str, Any]] = {
    "published": {},
    # dropout 0: a small model; with dropout active, training on CPU is ~3x slower (it rules out
    # the folded input stage and the fused attention kernel); override with dropout=0.1 if wanted
    "demo": dict(d_model=64, n_heads=2, d_ff=128, element_layers=1, gene_layers=2, dropout=0.0),
    "tiny": dict(d_model=16, n_heads=2, d_ff=32, element_layers=1, gene_layers=2,
                 element_bp=50, placeholder_bp=70, element_buckets=16, element_max_distance=32,
                 gene_buckets=16, gene_max_distance=64),
}
