"""The CREaTor model (our own implementation of the published architecture): the network only.

Public API: :class:`ModelConfig`, :class:`CreatorModel` and checkpoint I/O
(:mod:`creator.model.checkpoint`). Running a model over a cell type (stage 1 once per cCRE, stage 2
over batches of genes or regions, attention storage): :mod:`creator.inference`.

Only :class:`ModelConfig` is imported with the package: :mod:`creator.config` generates the
``train.model`` schema from it in every stage, and the stages that run no model (download,
reference, features, targets) should not pay for importing torch (about a second a job). The
network and the checkpoint functions are imported on first use.
"""

from __future__ import annotations

import importlib

from .config import ModelConfig

#: public name -> the submodule that defines it (imported on first access)
_LAZY = {"CreatorModel": ".model", "CheckpointError": ".checkpoint", "save_checkpoint": ".checkpoint",
         "load_checkpoint": ".checkpoint", "import_published": ".checkpoint", "load_published": ".checkpoint"}

__all__ = ["ModelConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
