rule links:
    """Per cell type: one row per (cCRE, gene) in the window, with attention, distance-adjusted
    attention, in-silico perturbation and Score (ENCODE-rE2G benchmark columns), bgzipped with its tabix
    index (written by the command next to the table); a BEDPE of the top links."""
    input:
        checkpoint=f"{OUT}/model/{MODEL}/checkpoint.pt",
        reference=reference_outputs(),
        features=f"{OUT}/features/{{cell}}/signal.zarr",
        expression=f"{OUT}/predict/{MODEL}/{{cell}}/expression.tsv",
        embeddings=f"{OUT}/predict/{MODEL}/{{cell}}/element_embeddings.npy",
        attention=f"{OUT}/predict/{MODEL}/{{cell}}/attention.zarr",
    output:
        tsv=f"{OUT}/links/{MODEL}/{{cell}}/links.tsv.gz",
        tbi=f"{OUT}/links/{MODEL}/{{cell}}/links.tsv.gz.tbi",
        bedpe=f"{OUT}/links/{MODEL}/{{cell}}/links.bedpe.gz",
    log:
        f"{LOGS}/links/{MODEL}/{{cell}}.log",
    benchmark:
        f"{BENCH}/links/{MODEL}/{{cell}}.tsv"
    conda:
        ENV_GPU
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    params:
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        predict=lambda wc, input: os.path.dirname(input.expression),
        config=stage_config("links"),
    shell:
        "python -m creator --log {log:q} links --checkpoint {input.checkpoint:q} --reference {params.reference:q}"
        " --features {input.features:q} --predict-dir {params.predict:q} --cell {wildcards.cell}"
        " --out-tsv {output.tsv:q} --out-bedpe {output.bedpe:q} --config {params.config:q}"
