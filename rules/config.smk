rule effective_config:
    """The completed, validated config every rule reads (rewritten when the config changes)."""
    output:
        CFG,
    params:
        config=config,
    log:
        f"{LOGS}/config.log",
    conda:
        ENV_CPU
    script:
        "../scripts/write_config.py"
