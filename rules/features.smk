rule features:
    """Per cell type: float16 [n_ccre, element_bp / resolution_bp, 16] signal in CREaTor's track order."""
    input:
        reference=reference_outputs(),
        bigwigs=lambda wc: list(SRC.tracks[wc.cell].values()),
    output:
        directory(f"{OUT}/features/{{cell}}/signal.zarr"),
    log:
        f"{LOGS}/features/{{cell}}.log",
    benchmark:
        f"{BENCH}/features/{{cell}}.tsv"
    conda:
        ENV_CPU
    resources:
        mem_mb=2000,
    params:
        config=stage_config("features"),
        tracks=track_args,
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
    shell:
        "python -m creator --log {log:q} features --config {params.config:q} --reference {params.reference:q} --cell {wildcards.cell}"
        " {params.tracks} --out {output:q}"


rule targets:
    """Per cell type with RNA-seq: log1p(TPM) per gene, matched by Ensembl id then symbol."""
    input:
        genes=f"{REF}/genes.parquet",
        expression=lambda wc: SRC.expression[wc.cell],
    output:
        f"{OUT}/targets/{{cell}}.parquet",
    log:
        f"{LOGS}/targets/{{cell}}.log",
    conda:
        ENV_CPU
    params:
        config=stage_config("targets"),
    shell:
        "python -m creator --log {log:q} targets --config {params.config:q} --genes {input.genes:q} --expression {input.expression:q}"
        " --out {output:q}"
