# ENCODE manifest (config/encode_hg38.yaml): only when the config has an `encode` section, and only
# when asked for; the run itself reads the pinned manifest (config key `samples`), so planning and
# running need no portal. Refresh, review, pin:
#   snakemake encode_manifest -c1 --configfile config/encode_hg38.yaml
#   git diff --no-index config/encode_manifest.tsv results/encode_hg38/encode/manifest.tsv
#   cp results/encode_hg38/encode/manifest.tsv config/encode_manifest.tsv   # and commit it
if config.get("encode"):
    # Planning reads the pinned manifest: say now, not at the first download, what a run would lack.
    if workflow.is_main_process:
        from snakemake.logging import logger as _logger
        from creator import encode as _encode

        _pinned = _encode.read_manifest(config["samples"])
        _problems = _encode.pinned_problems(_pinned, assembly=config["encode"].get("assembly", "GRCh38"))
        if _problems:
            _logger.warning(
                f"{config['samples']}: not a real run's manifest, {len(_problems)} problem(s) in {len(_pinned)} rows "
                f"(first: {_problems[0]}); a run stops at their download. Fix: resolve and pin the manifest "
                "(snakemake encode_manifest -c1 --configfile ...; see config/README.md)"
            )
        for _cell, _tracks in _encode.missing_tracks(_pinned).items():
            _logger.warning(
                f"{config['samples']}: {_cell} has no file for {', '.join(_tracks)}: these features are zeros"
            )

    localrules:
        encode_manifest,

    rule encode_manifest:
        """Resolve every file of the run (16 tracks + RNA-seq per cell type) from the ENCODE portal's
        search API into a manifest TSV that is also a sample sheet (network; runs on the head node)."""
        output:
            f"{OUT}/encode/manifest.tsv",
        log:
            f"{LOGS}/encode_manifest.log",
        conda:
            ENV_CPU
        params:
            config=stage_config("encode"),
            pinned=config["samples"],
        shell:
            "python -m creator --log {log:q} encode-manifest --config {params.config:q} --pinned {params.pinned:q}"
            " --out {output:q}"
