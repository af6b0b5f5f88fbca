"""The CREaTor model (our own implementation of the published architecture).

Public API: :class:`ModelConfig`, :class:`CreatorModel`, the fast inference helpers
(:func:`predict_cached`, :func:`encode_all`, :func:`pad_windows`, :func:`windows_from_ranges`,
:func:`gene_batches`) and checkpoint I/O (:mod:`creator.model.checkpoint`).
"""

from .checkpoint import (CheckpointError, import_published, load_checkpoint, load_published,
                         save_checkpoint)
from .config import ModelConfig
from .model import (CreatorModel, encode_all, gene_batches, pad_windows, predict_cached,
                    windows_from_ranges)

__all__ = ["ModelConfig", "CreatorModel", "predict_cached", "encode_all", "pad_windows",
           "windows_from_ranges", "gene_batches", "CheckpointError", "save_checkpoint",
           "load_checkpoint", "import_published", "load_published"]
