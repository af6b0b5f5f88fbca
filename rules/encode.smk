# ENCODE manifest (config/encode_hg38.yaml): only when the config has an `encode` section, and only
# when asked for; the run itself reads the pinned manifest (config key `samples`), so planning and
# running need no portal. Refresh, review, pin:
#   snakemake encode_manifest -c1 --configfile config/encode_hg38.yaml
#   git diff --no-index config/encode_manifest.tsv results/encode_hg38/encode/manifest.tsv
#   cp results/encode_hg38/encode/manifest.tsv config/encode_manifest.tsv   # and commit it
if config.get("encode"):

    localrules:
        encode_manifest,

    rule encode_manifest:
        """Resolve every file of the run (16 tracks + RNA-seq per cell type) from the ENCODE portal's
        search API into a manifest TSV that is also a sample sheet (network; runs on the head node)."""
        output:
            f"{OUT}/encode/manifest.tsv",
        params:
            config=stage_config("encode"),
            pinned=config["samples"],
        log:
            f"{LOGS}/encode_manifest.log",
        conda:
            ENV_CPU
        shell:
            "python -m creator --log {log:q} encode-manifest --config {params.config:q} --pinned {params.pinned:q}"
            " --out {output:q}"
