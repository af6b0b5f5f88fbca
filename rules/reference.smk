rule reference:
    """cCREs (filtered, blacklisted, sorted, recentred), genes + TSS, windows [lo, hi), sequence tokens."""
    input:
        ccres=SRC.reference["ccres"],
        genes=SRC.reference["genes"],
        chrom_sizes=SRC.reference["chrom_sizes"],
        blacklist=SRC.reference.get("blacklist", []),
        fasta=SRC.reference.get("fasta", []),
    output:
        reference_outputs(),
    log:
        f"{LOGS}/reference.log",
    benchmark:
        f"{BENCH}/reference.tsv"
    conda:
        ENV_BEDTOOLS
    params:
        config=stage_config("reference"),
        blacklist=lambda wc, input: optional_arg("--blacklist", input.blacklist),
        fasta=lambda wc, input: optional_arg("--fasta", input.fasta),
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "python -m creator --log {log:q} reference --config {params.config:q} --ccres {input.ccres:q} --genes {input.genes:q}"
        " --chrom-sizes {input.chrom_sizes:q} {params.blacklist} {params.fasta} --out {params.out:q}"
