"""Evaluate stage: expression, CRISPRi element-gene links, Hi-C boundaries and contacts, planted truth.

Every evaluation writes, into its ``--out`` directory, a tidy ``summary.tsv`` (columns
:data:`SUMMARY_COLUMNS`: ``cell_type, method, metric, distance_bin, value, n``; ``distance_bin`` is
``all`` when not binned), a JSON with the details and its figures (PNG, :mod:`creator.plots`).
``creator evaluate-summary`` concatenates partial summaries into one. All files are written
atomically.

Command line
------------
Settings come as every stage's do: ``--config``, the workflow config or the inline JSON of the
sections the rule passes (``evaluate``, and ``tads`` for evaluate-hic), unset keys taking the
schema's defaults; the flags named after a config key (``--n-boot`` = ``evaluate.n_bootstrap``,
``--seed`` of evaluate-links = ``evaluate.seed``, ``--n-shuffles`` = ``evaluate.n_shuffles``,
``--window-bp`` = ``evaluate.hic_window_bp``, ``--prominence`` = ``evaluate.hic_min_prominence``,
``--tolerance-bp`` = ``evaluate.boundary_tolerance_bp``, ``--max-distance`` of evaluate-hic =
``evaluate.oe_max_distance_bp``, ``--baseline-distance-bins`` = ``tads.barrier_distance_bins``)
win when given.

``creator evaluate-expression --expression TSV [TSV ...] --cell CELL [CELL ...] --out DIR
[--model NAME] [--splits TSV_OR_METRICS_JSON]``
    Pearson and Spearman (scipy.stats) of ``predicted_log1p`` against ``observed_log1p`` per cell
    type, over all genes and per split. The split of a gene comes from a ``split`` column of the
    expression table, else from ``--splits``: a TSV with ``gene_id`` and ``split`` columns, or the
    trainer's ``metrics.json`` when its split plan holds out whole chromosomes (``val_chroms`` /
    ``test_chroms``; the other genes are ``train``). Genes without an observation (NaN) are left
    out. Files: ``summary.tsv``, ``expression.json``, ``expression_scatter.png``.
    Metrics: ``pearson_<split>``, ``spearman_<split>`` for split in ``all``, ``train``, ``val``,
    ``test`` (those present); ``method`` is the model name; ``n`` the number of genes. With
    ``--metrics`` (the trainer's metrics.json) the same figures of the input-only baselines the
    trainer scored on the same genes (promoter DNase, distance-weighted DNase, power law) under
    ``method`` = ``<model>/baseline_<name>``.

``creator evaluate-links --links LINKS_TSV_GZ --cell CELL --out DIR
(--benchmark CRISPR_TSV [--benchmark-cell NAME] | --truth-links TRUTH_LINKS_TSV [--keep-own-promoter])
[--model NAME] [--max-distance BP] [--drop-not-scored] [--name NAME] [--peer NAME=PATH:COLUMN ...]
[--config CONFIG] [--n-boot N] [--seed S]``
    Element-gene pairs of a CRISPRi benchmark (EPCrisprBenchmark format, :func:`read_benchmark`:
    positives ``Regulated == TRUE``, only ``ValidConnection == TRUE`` rows kept) or of the planted
    truth of the synthetic data (:func:`read_truth_links`, the same table shape) are joined to the
    link table (:func:`join_pairs`): the gene by Ensembl id when both sides have one, else by
    symbol; the element by overlap with the cCREs of that gene's window (a benchmark element
    overlapping several cCREs takes the maximum of each score). A pair whose gene is not in the link
    table, or whose element overlaps no cCRE of the gene's window, is *not scored*: it is ranked
    below every scored pair (score -inf, all tied) and counted in ``<name>_n_not_scored``
    (``--drop-not-scored`` leaves such pairs out instead). Scored: the link table's ``attention``,
    ``isp_delta`` and ``Score`` columns (those present and not all
    NaN; higher = stronger link, NaN = -inf; ``isp_delta``, perturbed minus original prediction, is
    ranked by ``-isp_delta``, the predicted loss of expression, see :data:`SCORE_SIGN`; with the
    links stage's ``Score``, a rank mean that includes ``-isp_delta``, they differ) and two baselines from the
    same rows
    (:func:`add_baselines`): ``baseline_distance`` (``-|distance|``) and ``baseline_abc``
    (activity ``sqrt(dnase * h3k27ac)`` times contact ``(|distance| + 5 kb) ** -0.87``, divided by
    its sum over the gene's window, i.e. the ABC score with a power-law contact). Distance bins
    (:data:`DISTANCE_BINS`) use ``|element centre - TSS|``: the benchmark's ``distanceToTSS``, else
    its TSS columns (``startTSS``), else the truth's ``distance``, else the nearest overlapping link
    row's ``distance``. Metrics (``<name>`` is ``crispr`` for a benchmark and ``planted`` for the
    truth, or ``--name``): ``<name>_auprc`` (average precision, step-wise:
    ``sum_k (R_k - R_k-1) P_k`` over distinct score thresholds, ties grouped), ``<name>_auroc``
    (trapezoidal ROC area = Mann-Whitney with ties counted one half),
    ``<name>_precision_at_70pct_recall`` (precision at the highest threshold whose recall reaches
    0.7), with ``method`` = ``<model>/<score>`` (or ``<score>`` without ``--model``); and with
    ``method`` = ``pairs``: ``<name>_n_positive`` and ``<name>_prevalence`` per bin and
    ``<name>_n_not_scored`` (bin ``all``). ``n`` is the number of pairs in the bin. Files:
    ``summary.tsv``, ``links.json``, ``pairs.tsv.gz`` (every pair with its scores),
    ``pr_curves.png``.

``creator evaluate-hic --boundaries BED --cell CELL --out DIR [--model NAME]
[--hic PATH] [--hic-chrom CHROM] [--hic-resolution BP] [--no-hic-balance] [--attention COOL]
[--barrier BEDGRAPH] [--truth-boundaries BED] [--chrom-sizes FILE] [--window-bp BP] [--prominence P]
[--tolerance-bp BP] [--config CONFIG] [--n-shuffles N] [--seed S] [--max-distance BP]
[--reference DIR --features ZARR [--baseline-distance-bins N]]``
    Hi-C: ``--hic`` is a ``.cool``, an ``.mcool::resolutions/N`` URI, or a Juicer-style sparse text
    dump (``bin1 bin2 count`` per line, whitespace separated, bin1/bin2 = bin START coordinates in
    bp of one chromosome, upper triangle; give ``--hic-chrom`` and ``--hic-resolution``).
    Coolers are read balanced (``weight`` column) when they have one, unless ``--no-hic-balance``.
    ``--barrier`` (the tads stage's learned-insulation barrier bedGraph) is drawn in the plot only.
    The attention matrix (``--attention``, the tads stage's ``attention.mcool::resolutions/N``; a
    ``.cool`` works too) is always read as its raw
    ``count`` pixels taken as float values (balanced or not). For every chromosome of our
    boundaries the Hi-C insulation score (:func:`insulation`: the diamond insulation of each bin,
    ``w = window_bp / resolution``, as the tads stage and cooltools define it, :mod:`creator.insulation`) is
    computed and its boundaries called (:func:`call_boundaries`: local minima of prominence at
    least ``--prominence``). Our boundaries (BED midpoints) are compared with them within one Hi-C
    bin (``--tolerance-bp``, default the Hi-C resolution) over the region the Hi-C (and the
    attention, when given) covers: ``hic_boundary_recall`` (Hi-C boundaries with one of ours
    nearby), ``hic_boundary_precision`` (ours with a Hi-C boundary nearby), ``hic_boundary_overlap``
    (the count of ours matched), ``hic_boundary_shuffled_mean`` (that count averaged over
    ``--n-shuffles`` random placements of the same number of boundaries per chromosome within the
    covered bins), ``hic_boundary_enrichment`` (observed / shuffled mean) and
    ``hic_boundary_pvalue`` (``(1 + #{shuffled >= observed}) / (1 + N)``); ``hic_n_boundaries``
    (Hi-C boundaries called). With ``--attention``: ``hic_oe_pearson`` and ``hic_oe_spearman``,
    correlations of the observed/expected (per-diagonal mean over bins both matrices cover)
    attention and contacts over the pixels ``0 < |i - j| <= max_distance / resolution`` between
    bins both matrices cover and present in the attention map (an absent attention pixel is no
    data; an absent Hi-C pixel is a zero); the finer matrix is summed to the coarser resolution;
    at most 2 M pixels, a fixed random subset beyond. With ``--truth-boundaries`` (planted truth): the same boundary
    figures against it, named ``planted_boundary_*`` (tolerance default: the Hi-C or attention
    resolution, else 10 kb; shuffles within the chromosome sizes of ``--chrom-sizes``, the
    attention or the Hi-C file, else the span of the boundaries). Input-only baseline (with
    ``--reference`` and ``--features``, the cell's ``signal.zarr``; :mod:`creator.boundary_baselines`):
    as many boundaries per chromosome as ours, called at the highest peaks of the CTCF signal
    summed per attention bin (DNase when the cell has no CTCF track), scored against the same
    references with the same figures under ``method`` = ``<model>/baseline_ctcf_peaks`` (or
    ``baseline_dnase_peaks``), plus ``<prefix>_n_boundaries``; against Hi-C only peaks inside the
    covered region are called. They are drawn beside ours in the plot. Files: ``summary.tsv``,
    ``hic.json``, ``hic_insulation.tsv``, ``hic_boundaries.bed``, ``insulation.png``.

``creator evaluate-summary --inputs TSV [TSV ...] --out SUMMARY_TSV``
    Concatenates partial summaries (checking their columns), sorted.

The same functions run from Python: :func:`evaluate_expression`, :func:`evaluate_links`,
:func:`evaluate_hic`, :func:`combine_summaries`, with the metric helpers :func:`average_precision`,
:func:`auroc`, :func:`precision_at_recall`, :func:`precision_recall_curve`, :func:`distance_bins`.
"""

# the public names (private helpers are imported from the submodule that owns them)
from .common import (ABC_GAMMA, ABC_PSEUDO_BP, ALL, BASELINES, BENCHMARK_REQUIRED, DISTANCE_BINS, LINKS_REQUIRED,
                     LINK_SCORES, SCORE_SIGN, SUMMARY_COLUMNS, TRUTH_REQUIRED, auroc, average_precision,
                     combine_summaries, distance_bins, precision_at_recall, precision_recall_curve, read_summary,
                     summary_frame, write_summary)  # noqa: F401
from .expression import (correlations, evaluate_expression, expression_baseline_rows, expression_metrics,
                         read_expression_predictions, read_splits)  # noqa: F401
from .truth import (Benchmark, PEER_COLUMNS, Peer, parse_peer, read_benchmark, read_links, read_peer,
                    read_truth_links)  # noqa: F401
from .links import (add_baselines, add_peer_scores, evaluate_links, join_pairs, links_table, restrict_to_run,
                    score_methods, score_pairs)  # noqa: F401
from .contacts import (ASSEMBLY_SYNONYMS, ContactSource, Contacts, CoolerSource, JuicerTextSource, assembly_name,
                       check_assembly, oe_pixels, open_contacts)  # noqa: F401
from .boundaries import (boundary_overlap, call_boundaries, evaluate_hic, insulation, read_bedgraph, read_boundaries,
                         shuffle_enrichment)  # noqa: F401
from .cli import add_cli  # noqa: F401
from .locus import locus_view_from_files  # noqa: F401
