rule tads:
    """Per cell type: cCRE-cCRE attention of the gene-level encoder binned into a multi-resolution
    .mcool (HiGlass), insulation and learned barrier (bedGraph and bigWig), boundaries and loops."""
    input:
        reference=reference_outputs(),
        chrom_sizes=SRC.reference["chrom_sizes"],
        expression=f"{OUT}/predict/{MODEL}/{{cell}}/expression.tsv",
        attention=f"{OUT}/predict/{MODEL}/{{cell}}/attention.zarr",
        checkpoint=f"{OUT}/model/{MODEL}/checkpoint.pt",
    output:
        mcool=f"{OUT}/tads/{MODEL}/{{cell}}/attention.mcool",
        insulation=f"{OUT}/tads/{MODEL}/{{cell}}/insulation.bedgraph",
        insulation_bw=f"{OUT}/tads/{MODEL}/{{cell}}/insulation.bw",
        boundaries=f"{OUT}/tads/{MODEL}/{{cell}}/boundaries.bed",
        loops=f"{OUT}/tads/{MODEL}/{{cell}}/loops.bedpe",
        barrier=f"{OUT}/tads/{MODEL}/{{cell}}/barrier.bedgraph",
        barrier_bw=f"{OUT}/tads/{MODEL}/{{cell}}/barrier.bw",
    log:
        f"{LOGS}/tads/{MODEL}/{{cell}}.log",
    benchmark:
        f"{BENCH}/tads/{MODEL}/{{cell}}.tsv"
    conda:
        ENV_CPU
    resources:
        mem_mb=4000,
    params:
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        predict=lambda wc, input: os.path.dirname(input.expression),
        config=stage_config("tads", "reference"),
    shell:
        "python -m creator --log {log:q} tads --reference {params.reference:q} --predict-dir {params.predict:q}"
        " --cell {wildcards.cell} --chrom-sizes {input.chrom_sizes:q} --config {params.config:q}"
        " --out-mcool {output.mcool:q}"
        " --out-insulation {output.insulation:q} --out-insulation-bw {output.insulation_bw:q}"
        " --out-boundaries {output.boundaries:q} --out-loops {output.loops:q} --checkpoint {input.checkpoint:q}"
        " --out-barrier {output.barrier:q} --out-barrier-bw {output.barrier_bw:q}"
