rule evaluate_expression:
    """Pearson/Spearman of predicted vs observed expression per cell type and split."""
    input:
        expression=expand(f"{OUT}/predict/{MODEL}/{{cell}}/expression.tsv", cell=EXPR_CELLS),
        splits=f"{OUT}/model/{MODEL}/splits.tsv",
        metrics=f"{OUT}/model/{MODEL}/metrics.json",
    output:
        summary=f"{OUT}/eval/{MODEL}/expression/summary.tsv",
        scatter=report(
            f"{OUT}/eval/{MODEL}/expression/expression_scatter.png",
            caption="../report/expression.rst",
            category="Expression",
        ),
    log:
        f"{LOGS}/eval/{MODEL}/expression.log",
    conda:
        ENV_CPU
    params:
        cells=EXPR_CELLS,
        out=lambda wc, output: os.path.dirname(output.summary),
        model=MODEL,
    shell:
        "python -m creator --log {log:q} evaluate-expression --expression {input.expression:q} --cell {params.cells}"
        " --splits {input.splits:q} --metrics {input.metrics:q} --model {params.model} --out {params.out:q}"


rule evaluate_links:
    """Link scores and baselines against CRISPRi (EPCrisprBenchmark format) or the planted truth."""
    input:
        links=f"{OUT}/links/{MODEL}/{{cell}}/links.tsv.gz",
        truth=lambda wc: link_truth(wc.cell),
        peers=lambda wc: peer_inputs(wc.cell),
    output:
        summary=f"{OUT}/eval/{MODEL}/links/{{cell}}/summary.tsv",
        table=report(
            f"{OUT}/eval/{MODEL}/links/{{cell}}/links_table.tsv",
            caption="../report/links_table.rst",
            category="Links",
            subcategory="{cell}",
        ),
        pr=report(
            f"{OUT}/eval/{MODEL}/links/{{cell}}/pr_curves.png",
            caption="../report/links.rst",
            category="Links",
            subcategory="{cell}",
        ),
    log:
        f"{LOGS}/eval/{MODEL}/links/{{cell}}.log",
    conda:
        ENV_CPU
    params:
        truth=lambda wc, input: link_truth_arg(wc.cell, input.truth),
        peers=lambda wc, input: peer_args(wc.cell, input.peers),
        out=lambda wc, output: os.path.dirname(output.summary),
        model=MODEL,
        config=stage_config("evaluate"),
    shell:
        "python -m creator --log {log:q} evaluate-links --links {input.links:q} --cell {wildcards.cell} {params.truth}"
        " {params.peers} --config {params.config:q} --model {params.model} --out {params.out:q}"


rule evaluate_tads:
    """Attention boundaries against Hi-C insulation boundaries and/or planted domain boundaries, beside
    as many boundaries called from the CTCF (else DNase) signal alone (input-only baseline)."""
    input:
        boundaries=f"{OUT}/tads/{MODEL}/{{cell}}/boundaries.bed",
        mcool=f"{OUT}/tads/{MODEL}/{{cell}}/attention.mcool",
        barrier=f"{OUT}/tads/{MODEL}/{{cell}}/barrier.bedgraph",
        reference=reference_outputs(),
        features=f"{OUT}/features/{{cell}}/signal.zarr",
        chrom_sizes=SRC.reference["chrom_sizes"],
        hic=lambda wc: hic_input(wc.cell),
        truth=lambda wc: tad_truth(wc.cell),
    output:
        summary=f"{OUT}/eval/{MODEL}/tads/{{cell}}/summary.tsv",
        plot=report(
            f"{OUT}/eval/{MODEL}/tads/{{cell}}/insulation.png",
            caption="../report/tads.rst",
            category="TADs",
            subcategory="{cell}",
        ),
    log:
        f"{LOGS}/eval/{MODEL}/tads/{{cell}}.log",
    conda:
        ENV_CPU
    params:
        hic=lambda wc, input: hic_args(wc.cell, input.hic),
        attention=lambda wc, input: f"{input.mcool}::resolutions/{TAD_RES}",
        truth=lambda wc, input: optional_arg("--truth-boundaries", input.truth[0] if input.truth else ""),
        out=lambda wc, output: os.path.dirname(output.summary),
        model=MODEL,
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        config=stage_config("evaluate", "tads"),
    shell:
        "python -m creator --log {log:q} evaluate-hic --boundaries {input.boundaries:q} --attention {params.attention:q}"
        " --barrier {input.barrier:q} --reference {params.reference:q} --features {input.features:q}"
        " --chrom-sizes {input.chrom_sizes:q} --cell {wildcards.cell} {params.hic} {params.truth}"
        " --config {params.config:q} --model {params.model} --out {params.out:q}"


rule evaluate_summary:
    """Every figure of the evaluation in one tidy table: cell_type, method, metric, distance_bin, value, n."""
    input:
        evaluation_summaries(),
    output:
        report(f"{OUT}/eval/summary.tsv", caption="../report/summary.rst", category="Summary"),
    log:
        f"{LOGS}/eval/summary.log",
    conda:
        ENV_CPU
    shell:
        "python -m creator --log {log:q} evaluate-summary --inputs {input:q} --out {output:q}"


rule locus_view:
    """Signal tracks, elements, arcs of the strongest links and the attention matrix around one gene."""
    input:
        links=f"{OUT}/links/{MODEL}/{{cell}}/links.tsv.gz",
        mcool=f"{OUT}/tads/{MODEL}/{{cell}}/attention.mcool",
        boundaries=f"{OUT}/tads/{MODEL}/{{cell}}/boundaries.bed",
        bigwigs=lambda wc: locus_bigwigs(wc.cell),
        crispr=lambda wc: locus_crispr(wc.cell),
    output:
        report(
            f"{OUT}/eval/{MODEL}/locus/{{cell}}.{{gene}}.png",
            caption="../report/locus.rst",
            category="Locus view",
            subcategory="{cell}",
        ),
    log:
        f"{LOGS}/eval/{MODEL}/locus/{{cell}}.{{gene}}.log",
    conda:
        ENV_CPU
    params:
        bigwigs=lambda wc, input: locus_bigwig_args(wc.cell, input.bigwigs),
        attention=lambda wc, input: f"{input.mcool}::resolutions/{TAD_RES}",
        crispr=lambda wc, input: (
            f"--crispr {shlex.quote(input.crispr[0])} --cell {shlex.quote(wc.cell)}" if input.crispr else ""
        ),
    shell:
        "python -m creator --log {log:q} locus-view --links {input.links:q} --gene {wildcards.gene:q} --cool {params.attention:q}"
        " --boundaries {input.boundaries:q} {params.bigwigs} {params.crispr} --out {output:q}"
