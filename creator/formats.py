"""The shared vocabulary of the workflow: track order, sequence tokens, file layouts.

Files written by the ``reference`` stage (``results/reference/``):

``ccres.parquet``
    One row per cCRE, sorted by (chromosome order, start). Row index ``i`` is the cCRE's index
    everywhere else (features, windows, embeddings). Columns: ``chrom`` (str), ``start``, ``end``
    (int64, the fixed-length ``element_bp`` interval centred on the element), ``orig_start``,
    ``orig_end`` (the input interval), ``name`` (str id), ``class`` (str, e.g. ``pELS``; ``.`` when
    unknown), ``center`` (int64, ``start + element_bp // 2``).
``genes.parquet``
    One row per gene, sorted by (chromosome order, TSS). Columns: ``gene_id`` (unique: the GTF's
    gene_id without version, or the gene BED's name column), ``symbol``, ``ensembl_id`` (or None),
    ``chrom``, ``start``, ``end``, ``strand``,
    ``tss`` (0-based), ``gene_type``, ``win_lo``, ``win_hi`` (int64: the cCREs whose centre lies
    within ``window_bp`` of the TSS are rows ``[win_lo, win_hi)`` of ccres.parquet; empty when
    equal).
``windows.npz``
    ``lo``, ``hi`` (int64 [n_gene]), ``tss`` (int64 [n_gene]), ``ccre_center`` (int64 [n_ccre]),
    ``gene_chrom``/``ccre_chrom`` (int32 codes into ``chroms`` (str [n_chrom])), ``window_bp``,
    ``element_bp`` (scalars) and ``reference_id`` (str: a hash of the cCRE coordinates, copied into
    every features file so a mismatch is caught).
``sequence.npy``
    uint8 ``[n_ccre, element_bp]`` tokens: 0 pad/N, 1 A, 2 C, 3 G, 4 T. Written only when a FASTA
    is configured; otherwise the stage writes an all-zero array (the model then sees signal only).

Written by the ``features`` stage: ``results/features/{cell}/signal.zarr``, a zarr v3 array of
float16 ``[n_ccre, element_bp // resolution_bp, 16]`` (tracks in :data:`TRACKS` order), chunked by
blocks of cCREs, with attrs ``tracks``, ``transform``, ``resolution_bp``, ``element_bp``,
``reference_id``, ``present_tracks`` (tracks with signal on every cCRE chromosome),
``zero_chromosomes`` (``{track: [chromosomes its bigWig lacks]}``: zeros there) and ``cell_type``.

Written by the ``targets`` stage: ``results/targets/{cell}.parquet`` with one row per gene of
genes.parquet in the same order: ``gene_id``, ``symbol``, ``tpm`` (float, NaN when unmatched),
``log1p_tpm``, ``matched_by`` (``gene_id``, ``symbol`` or ``none``).

Written by the ``train`` stage (``results/model/{model}/``): ``checkpoint.pt`` (the kept model,
:mod:`creator.model.checkpoint` format), ``last.pt`` (resumable state), ``metrics.json`` and
``splits.tsv`` (described in :mod:`creator.train`); the trainer's own ``best.pt`` (the model to keep
so far) and ``last.stale.pt`` (a state set aside when settings changed).

Written by the ``predict`` stage (``results/predict/{model}/{cell}/``):

``expression.tsv``
    one row per gene of ``genes.parquet`` (same order): ``gene_id``, ``symbol``, ``chrom``, ``tss``,
    ``n_elements`` (window size), ``predicted_log1p``, and ``observed_log1p`` when ``--targets``
    is given.
``element_embeddings.npy``
    float32 ``[n_ccre, d_model]``: stage-1 embedding of every cCRE (row = ccres.parquet row).
``attention.zarr`` (with ``--attention``), a zarr v3 group:

    ``gene_attention``   float16 ``[n_rows, n_layers, n_heads]``: the gene token's attention (softmax
                         probabilities, query = gene token, key = element) to each element of its
                         window. Gene ``g`` owns rows ``gene_offsets[g]:gene_offsets[g+1]``; row
                         ``gene_offsets[g] + k`` is cCRE ``win_lo[g] + k``. Each (gene, layer, head)
                         sums to 1 over its rows (a gene with an empty window has no rows).
    ``gene_offsets``     int64 ``[n_gene + 1]``, ``cumsum([0] + (win_hi - win_lo))``.
    ``element_attention`` float16 ``[n_pairs]`` (unless ``--no-element-attention``): per gene, its
                         ``E x E`` element-element attention of the LAST gene layer averaged over
                         heads, row-major (``[i, j]``: query cCRE ``win_lo + i`` attends key cCRE
                         ``win_lo + j``; rows sum to 1). Gene ``g`` owns
                         ``element_offsets[g]:element_offsets[g+1]``.
    ``element_offsets``  int64 ``[n_gene + 1]``, ``cumsum([0] + (win_hi - win_lo) ** 2)``.
    ``element_pixels/``  instead of the two above with ``--element-resolution BP``: that attention
                         binned as the tads stage bins it (symmetrised, distinct element pairs, per
                         bin pair the sum and count over (pair, window) contributions), one subgroup
                         per chromosome code with ``bin1``, ``bin2``, ``sum``, ``n``
                         (:class:`creator.inference.ElementAttentionBinner`; attr ``resolution``). The tads
                         stage gives the same numbers from either; genome-wide at 1 Mb windows the
                         full store is about 25 GB per cell type, the binned one a few hundred MB.

    attrs: ``layout`` (this description in short), ``n_layers``, ``n_heads``, ``cell_type``,
    ``reference_id``, ``element_attention_layer`` (index of the layer averaged, -1 = last).
    :func:`creator.inference.read_gene_attention` and :func:`~creator.inference.read_element_attention`
    read one gene back.

Written by the ``links`` stage (``results/links/{model}/{cell}/``; columns in :mod:`creator.links`):

``links.tsv.gz``
    One row per (cCRE, gene) pair of a gene's window, tab-separated, BGZF-compressed, sorted by
    chromosome (reference order) and element start. The first line is the header with a leading
    ``#`` (``#chr start end ...``): tabix skips it as a comment and the ENCODE-rE2G prediction format
    allows it; read it into pandas with :func:`creator.io.read_table`, which strips the ``#``.
``links.tsv.gz.tbi``
    Its tabix index (sequence column 1, start 2, end 3, 0-based half-open, ``#`` lines skipped):
    ``tabix links.tsv.gz chr16:1-2000000`` or ``pysam.TabixFile(...).fetch(chrom, start, end)``
    gives the rows whose element overlaps the region.
``links.bedpe.gz``
    The top links as BGZF BEDPE (element, TSS) with a ``#`` header line.

Written by the ``tads`` stage (``results/tads/{model}/{cell}/``; definitions in :mod:`creator.tads`):

``attention.mcool``
    Multi-resolution cooler (the layout ``cooler zoomify`` writes; HiGlass loads it):
    ``resolutions/{r}`` for ``r`` = ``tads.resolution_bp`` times 1, 2, 5, 10, 20, 50, ... up to
    1 Mb. Pixel columns ``count`` (float: mean attention over the contributions of the bin pair, at
    every resolution) and ``n`` (their number); upper triangle, cis only, no balancing weights;
    ``genome-assembly`` = ``reference.assembly``. Open one resolution with
    ``cooler.Cooler("attention.mcool::resolutions/10000")``.
``insulation.bw``, ``insulation.bedgraph``
    Insulation score per bin (bigWig; bedGraph ``chrom start end value``), only the bins with
    enough coverage: no NaN. The bigWig's chromosomes are the cooler's, with the lengths of the
    reference's chrom.sizes.
``barrier.bw``, ``barrier.bedgraph``
    The learned insulation barrier per bin, every bin of the cooler's chromosomes (0 where no
    element lies; all 0, and a ``#`` comment line in the bedGraph, for a model without it).
``boundaries.bed``, ``loops.bedpe``
    BED6 boundaries (score = prominence) and BEDPE loops with a ``#`` header line.
"""

from __future__ import annotations

from pathlib import Path

#: CREaTor's 16 epigenomic tracks, in the model's input order.
TRACKS: tuple[str, ...] = (
    "CTCF", "DNase", "EP300", "H2AFZ", "H3K27ac", "H3K27me3", "H3K36me3", "H3K4me1",
    "H3K4me2", "H3K4me3", "H3K79me2", "H3K9ac", "H3K9me3", "H4K20me1", "POLR2A", "POLR2AphosphoS5",
)
N_TRACKS = len(TRACKS)
TRACK_INDEX = {t: i for i, t in enumerate(TRACKS)}

#: Sample-sheet assay name for the expression table of a cell type.
RNASEQ = "rnaseq"

#: Sequence tokens: 0 is padding and N.
NUCLEOTIDE_TOKENS = {"A": 1, "C": 2, "G": 3, "T": 4}
PAD_TOKEN = 0
N_TOKENS = 5

ROLES = ("train", "test", "predict")

#: File names of the reference stage's outputs in its directory (layout above).
REFERENCE_OUTPUTS = {"ccres": "ccres.parquet", "genes": "genes.parquet", "windows": "windows.npz",
                     "sequence": "sequence.npy"}
REFERENCE_FILES: tuple[str, ...] = tuple(REFERENCE_OUTPUTS.values())

#: File names of the train stage's files in its directory (layout above; the workflow declares
#: checkpoint, metrics and splits; ``last.pt``, ``best.pt`` and ``last.stale.pt`` are the trainer's own).
TRAIN_OUTPUTS = {"checkpoint": "checkpoint.pt", "last": "last.pt", "best": "best.pt", "stale": "last.stale.pt",
                 "metrics": "metrics.json", "splits": "splits.tsv"}

#: File names of the predict stage's outputs in its directory (layout above).
PREDICT_OUTPUTS = {"expression": "expression.tsv", "embeddings": "element_embeddings.npy",
                   "attention": "attention.zarr"}


#: File names of each evaluation's outputs in its ``--out`` directory
#: (``results/eval/{model}/expression/``, ``.../links/{cell}/``, ``.../tads/{cell}/``; columns in
#: :mod:`creator.evaluate`). Every evaluation writes a tidy ``summary.tsv``.
EVALUATE_OUTPUTS = {
    "expression": {"summary": "summary.tsv", "json": "expression.json", "scatter": "expression_scatter.png"},
    "links": {"summary": "summary.tsv", "json": "links.json", "pairs": "pairs.tsv.gz", "table": "links_table.tsv",
              "pr": "pr_curves.png"},
    "tads": {"summary": "summary.tsv", "json": "hic.json", "insulation": "hic_insulation.tsv",
             "boundaries": "hic_boundaries.bed", "plot": "insulation.png"},
}


def _layout(directory, names: dict) -> dict:
    return {k: Path(directory) / v for k, v in names.items()}


def reference_outputs(reference_dir) -> dict:
    """``{"ccres", "genes", "windows", "sequence"}`` -> paths of one reference directory's files: the
    one place their names are made (reference writes them, the stages that read it use it)."""
    return _layout(reference_dir, REFERENCE_OUTPUTS)


def train_outputs(model_dir) -> dict:
    """``{"checkpoint", "last", "best", "stale", "metrics", "splits"}`` -> paths of one model
    directory's files (the train stage writes them)."""
    return _layout(model_dir, TRAIN_OUTPUTS)


def predict_outputs(predict_dir) -> dict:
    """``{"expression", "embeddings", "attention"}`` -> paths of one predict directory's outputs:
    the one place their names are made (predict writes them, links and tads read them)."""
    return _layout(predict_dir, PREDICT_OUTPUTS)


def evaluate_outputs(out_dir, kind: str) -> dict:
    """Paths of one evaluation's outputs (``kind``: ``expression``, ``links`` or ``tads``; keys of
    :data:`EVALUATE_OUTPUTS`) in its ``--out`` directory."""
    return _layout(out_dir, EVALUATE_OUTPUTS[kind])
