"""creator-workflow: cCRE-gene linking with a hierarchical attention model (CREaTor re-implementation)."""

__version__ = "0.1.0"
