rule tads:
    """Per cell type: cCRE-cCRE attention of the gene-level encoder binned into a .cool, insulation,
    boundaries and loops."""
    input:
        reference=reference_outputs(),
        chrom_sizes=SRC.reference["chrom_sizes"],
        expression=f"{OUT}/predict/{MODEL}/{{cell}}/expression.tsv",
        attention=f"{OUT}/predict/{MODEL}/{{cell}}/attention.zarr",
        checkpoint=f"{OUT}/model/{MODEL}/checkpoint.pt",
    output:
        cool=f"{OUT}/tads/{MODEL}/{{cell}}/attention.{TAD_RES}.cool",
        insulation=f"{OUT}/tads/{MODEL}/{{cell}}/insulation.bedgraph",
        boundaries=f"{OUT}/tads/{MODEL}/{{cell}}/boundaries.bed",
        loops=f"{OUT}/tads/{MODEL}/{{cell}}/loops.bedpe",
        barrier=f"{OUT}/tads/{MODEL}/{{cell}}/barrier.bedgraph",
    params:
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        predict=lambda wc, input: os.path.dirname(input.expression),
        resolution=TAD_RES,
        window_bins=config["tads"]["window_bins"],
        prominence=config["tads"]["min_prominence"],
        loop_oe=config["tads"]["loop_oe"],
        loop_min_distance=config["tads"]["loop_min_distance"],
        boundaries_from=config["tads"]["boundaries_from"],
        barrier_prominence=config["tads"]["barrier_prominence"],
        barrier_distance=config["tads"]["barrier_distance_bins"],
    log:
        f"{LOGS}/tads/{MODEL}/{{cell}}.log",
    benchmark:
        f"{BENCH}/tads/{MODEL}/{{cell}}.tsv"
    resources:
        mem_mb=4000,
    conda:
        ENV_CPU
    shell:
        "python -m creator --log {log:q} tads --reference {params.reference:q} --predict-dir {params.predict:q}"
        " --cell {wildcards.cell} --chrom-sizes {input.chrom_sizes:q} --resolution {params.resolution}"
        " --window-bins {params.window_bins} --min-prominence {params.prominence} --loop-oe {params.loop_oe}"
        " --loop-min-distance {params.loop_min_distance} --out-cool {output.cool:q}"
        " --out-insulation {output.insulation:q} --out-boundaries {output.boundaries:q}"
        " --out-loops {output.loops:q} --checkpoint {input.checkpoint:q} --out-barrier {output.barrier:q}"
        " --boundaries-from {params.boundaries_from} --barrier-prominence {params.barrier_prominence}"
        " --barrier-distance-bins {params.barrier_distance}"
