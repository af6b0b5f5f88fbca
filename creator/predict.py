"""Predict stage: expression (and attention) of every gene in one cell type from a trained model.

``creator predict --checkpoint CKPT --reference DIR --features FEATURES_ZARR --cell CELL --out DIR
[--targets TARGETS_PARQUET] [--device auto|cpu|cuda] [--batch-genes N] [--element-batch N]
[--attention [--no-element-attention | --element-resolution BP]] [--bf16]``

Stage 1 runs once per cCRE of the cell type (batches of ``--element-batch`` elements); stage 2 then
runs for batches of ``--batch-genes`` genes, each gathering its window's embeddings from the
shared table: the numbers equal :meth:`CreatorModel.forward` (which re-encodes every element for
every gene) to float rounding. Memory stays bounded: embeddings are written to a memory-mapped
file and stage 2 reads one chromosome's range at a time; attention is streamed per gene batch.

Outputs under ``--out``: ``expression.tsv``, ``element_embeddings.npy`` and, with ``--attention``,
``attention.zarr`` (layouts: :mod:`creator.formats`; the store is written by
:class:`creator.inference.AttentionWriter` and read back by :mod:`creator.inference.store`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from creator import data
from creator.config import add_config_argument, section_defaults, stage_settings
from creator.errors import InputError
from creator.formats import predict_outputs
from creator.inference import AttentionWriter, encode_range, load_model, predict_genes, resolve_device
from creator.io import atomic_path, write_tsv

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# the stage


def predict(*, checkpoint: str | Path, reference: str | Path, features: str | Path, cell: str,
            out: str | Path, targets: str | Path | None = None, device: str = "auto",
            batch_genes: int = 16, element_batch: int = 256, attention: bool = False,
            element_attention: bool = True, element_resolution: int | None = None,
            bf16: bool = False) -> pd.DataFrame:
    """Run the predict stage (see the module docstring); returns the expression table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    ref = data.open_reference(reference)
    model, ckpt = load_model(checkpoint, dev, reference=ref)
    if ckpt.get("reference_id") not in (None, ref.reference_id):
        log.warning("the model was trained on reference %s; predicting on %s", ckpt.get("reference_id"),
                    ref.reference_id)
    inputs = data.open_cell(ref, features, targets, cell=cell)
    d = model.config.d_model

    # stage 1: every cCRE once, streamed into a memory-mapped .npy
    files = predict_outputs(out)
    emb_path = files["embeddings"]
    with atomic_path(emb_path) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(ref.n_ccre, d))
        encode_range(model, inputs, 0, ref.n_ccre, device=dev, element_batch=element_batch, bf16=bf16, out=mm)
        mm.flush()
        del mm
    log.info("%s: encoded %d cCREs -> %s", cell, ref.n_ccre, emb_path)

    # stage 2: every gene, streaming attention when asked
    emb = np.load(emb_path, mmap_mode="r")
    if attention:
        with atomic_path(files["attention"]) as att_tmp:
            writer = AttentionWriter(att_tmp, ref, n_layers=model.config.gene_layers,
                                     n_heads=model.config.n_heads, cell=cell,
                                     element_attention=element_attention, element_resolution=element_resolution)
            pred = predict_genes(model, inputs, None, device=dev, batch_genes=batch_genes, bf16=bf16,
                                 embeddings=emb, on_batch=writer)
            writer.close()
    else:
        pred = predict_genes(model, inputs, None, device=dev, batch_genes=batch_genes, bf16=bf16,
                             embeddings=emb)

    g = ref.genes
    table = pd.DataFrame({"gene_id": g["gene_id"].astype(str), "symbol": g["symbol"].astype(str),
                          "chrom": g["chrom"].astype(str), "tss": ref.tss,
                          "n_elements": ref.window_sizes, "predicted_log1p": pred})
    if inputs.targets is not None:
        table["observed_log1p"] = inputs.targets
    tsv = files["expression"]
    write_tsv(table, tsv, float_format="%.6g", na_rep="NA")
    log.info("%s: predicted %d genes -> %s", cell, len(table), tsv)
    return table


def add_cli(sub) -> None:
    _D = section_defaults("predict")  # the config schema's defaults
    p = sub.add_parser("predict", help="predict expression (and attention) for one cell type",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="model checkpoint (train's checkpoint.pt)")
    p.add_argument("--reference", required=True, help="reference directory (results/reference)")
    p.add_argument("--features", required=True, help="the cell type's signal.zarr")
    p.add_argument("--cell", required=True, help="cell type name")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--targets", help="the cell type's targets parquet (adds observed_log1p)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_config_argument(p, "predict and tads")
    p.add_argument("--batch-genes", type=int, help=f"predict.batch_genes: genes per stage-2 batch (default {_D['batch_genes']})")
    p.add_argument("--element-batch", type=int,
                   help=f"predict.element_batch: cCREs per stage-1 batch (default {_D['element_batch']})")
    p.add_argument("--attention", action="store_true", help="write attention.zarr")
    p.add_argument("--no-element-attention", action="store_true",
                   help="with --attention, skip the (large) element-element attention")
    p.add_argument("--element-resolution", type=int, default=None, metavar="BP",
                   help="with --attention, store the element-element attention binned at BP (the tads "
                        "stage's resolution) instead of every window's E x E matrix (with --config: "
                        "tads.resolution_bp when predict.bin_element_attention)")
    p.add_argument("--bf16", action="store_true", default=None,
                   help="predict.bf16: bf16 autocast on CUDA (faster, ~1e-2 error)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    for name in ("batch_genes", "element_batch", "element_resolution"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1", fix="give a positive integer")
    cfg = stage_settings(args.config, "predict", {"batch_genes": args.batch_genes,
                                                  "element_batch": args.element_batch, "bf16": args.bf16})
    resolution = args.element_resolution
    if resolution is None and args.config and cfg["bin_element_attention"]:
        resolution = stage_settings(args.config, "tads")["resolution_bp"]
    predict(checkpoint=args.checkpoint, reference=args.reference, features=args.features, cell=args.cell,
            out=args.out, targets=args.targets, device=args.device, batch_genes=cfg["batch_genes"],
            element_batch=cfg["element_batch"], attention=args.attention,
            element_attention=not args.no_element_attention, element_resolution=resolution,
            bf16=cfg["bf16"])
    return 0
