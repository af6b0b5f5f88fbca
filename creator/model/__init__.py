"""The CREaTor model (our own implementation of the published architecture): the network only.

Public API: :class:`ModelConfig`, :class:`CreatorModel` and checkpoint I/O
(:mod:`creator.model.checkpoint`). Running a model over a cell type (stage 1 once per cCRE, stage 2
over batches of genes or regions, attention storage): :mod:`creator.inference`.
"""

from .checkpoint import (CheckpointError, import_published, load_checkpoint, load_published,
                         save_checkpoint)
from .config import ModelConfig
from .model import CreatorModel

__all__ = ["ModelConfig", "CreatorModel", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "import_published", "load_published"]
