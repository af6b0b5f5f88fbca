"""Running a trained model: one place for every stage that does (train's evaluation, predict,
links, tads).

* :mod:`creator.inference.device`: device choice, autocast, loading a checkpoint with the check that
  it fits the reference.
* :mod:`creator.inference.run`: stage 1 over a range of cCREs (once per cCRE), stage 2 over
  batches of genes gathering those embeddings, and the region path (genes whose windows overlap
  share the first gene layer's work; same numbers).
* :mod:`creator.inference.store`: the attention store of the predict stage (writer, readers, the
  binner that keeps the element-element attention binned instead of per window) and the distance
  binning shared by links and tads.

:mod:`creator.model` holds the network only.
"""

from .device import autocast, check_model_fits, load_model, resolve_device
from .run import (encode_all, encode_range, gene_batches, pad_windows, predict_cached, predict_genes,
                  predict_windows, windows_from_ranges)
from .store import (AttentionWriter, BandAccumulator, ElementAttentionBinner, binned_block, float16_rounded,
                    iter_gene_attention, log_distance_bin, open_element_attention, read_element_attention,
                    read_gene_attention, window_bin_span)

__all__ = ["autocast", "check_model_fits", "load_model", "resolve_device", "encode_all", "encode_range",
           "gene_batches", "pad_windows", "predict_cached", "predict_genes",
           "predict_windows", "windows_from_ranges", "AttentionWriter", "BandAccumulator",
           "ElementAttentionBinner", "binned_block", "float16_rounded", "iter_gene_attention",
           "log_distance_bin", "open_element_attention", "read_element_attention", "read_gene_attention",
           "window_bin_span"]
