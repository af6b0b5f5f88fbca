rule download:
    """Fetch (http/https/file:// or a local path) with md5 check, retries and an atomic rename."""
    input:
        lambda wc: SRC.local_input(download_path(wc)),
    output:
        f"{DL}/{{group}}/{{file}}",
    log:
        f"{LOGS}/download/{{group}}/{{file}}.log",
    wildcard_constraints:
        group="|".join(SRC.groups()),
    # md5 mismatch, 404, an empty file: deterministic, so never rerun (also not by a profile's
    # --retries); timeouts and 5xx are retried inside the downloader, with backoff
    retries: 0
    conda:
        ENV_CPU
    params:
        url=lambda wc: SRC.url(download_path(wc)),
        md5=lambda wc: SRC.md5_arg(download_path(wc)),
        config=stage_config("download"),
    shell:
        "python -m creator --log {log:q} download --url {params.url:q} --out {output:q} {params.md5}"
        " --config {params.config:q}"
