rule predict:
    """Per cell type (trained on or not): expression of every gene, stage-1 embeddings (each cCRE
    encoded once) and the attention the links and tads rules read."""
    input:
        checkpoint=f"{OUT}/model/{MODEL}/checkpoint.pt",
        reference=reference_outputs(),
        features=f"{OUT}/features/{{cell}}/signal.zarr",
        targets=lambda wc: [f"{OUT}/targets/{wc.cell}.parquet"] if wc.cell in EXPR_CELLS else [],
    output:
        expression=f"{OUT}/predict/{MODEL}/{{cell}}/expression.tsv",
        embeddings=f"{OUT}/predict/{MODEL}/{{cell}}/element_embeddings.npy",
        attention=directory(f"{OUT}/predict/{MODEL}/{{cell}}/attention.zarr"),
    log:
        f"{LOGS}/predict/{MODEL}/{{cell}}.log",
    benchmark:
        f"{BENCH}/predict/{MODEL}/{{cell}}.tsv"
    conda:
        ENV_GPU
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    params:
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        out=lambda wc, output: os.path.dirname(output.expression),
        targets=lambda wc, input: optional_arg("--targets", input.targets[0] if input.targets else ""),
        config=stage_config("predict", "tads"),
    shell:
        "python -m creator --log {log:q} predict --checkpoint {input.checkpoint:q} --reference {params.reference:q}"
        " --features {input.features:q} --cell {wildcards.cell} --out {params.out:q} {params.targets}"
        " --config {params.config:q} --attention"
