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
"""

from __future__ import annotations

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
