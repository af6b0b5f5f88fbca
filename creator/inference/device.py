"""Device, precision and checkpoint loading for every stage that runs the model."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from creator.errors import InputError

__all__ = ["resolve_device", "autocast", "check_model_fits", "load_model"]


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> cuda when available (else cpu); ``cuda`` without CUDA is an error."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec or "auto"
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but CUDA is not available",
                         fix="use --device cpu (or auto), or run on a machine with a GPU")
    return dev


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when asked, else a no-op context."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def check_model_fits(model_config, reference, *, source: str | Path | None = None) -> None:
    """The model's element size and track count against a :class:`creator.data.Reference`."""
    if model_config.element_bp != reference.element_bp:
        raise InputError(
            f"the model was built for element_bp {model_config.element_bp} but the reference "
            f"{reference.path} has element_bp {reference.element_bp}", path=source,
            fix="use the reference the model was trained on, or train a model on this reference")
    if model_config.n_tracks != 16:
        raise InputError(f"the model takes {model_config.n_tracks} tracks, the features have 16",
                         path=source, fix="use a checkpoint trained on the 16 CREaTor tracks")


def load_model(checkpoint: str | Path, device: torch.device, reference=None):
    """``(model in eval mode on device, checkpoint dict)``; with ``reference``, checked to fit it."""
    from creator.model import load_checkpoint

    path = Path(checkpoint)
    if not path.exists():
        raise InputError("checkpoint not found", path=path,
                         fix="train a model first (creator train ... --out DIR writes DIR/checkpoint.pt)")
    model, ckpt = load_checkpoint(path, map_location="cpu")
    if reference is not None:
        check_model_fits(model.config, reference, source=path)
    return model.to(device).eval(), ckpt
