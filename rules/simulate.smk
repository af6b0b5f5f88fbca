# Synthetic data with planted truth (config/synthetic.yaml): makes every local source under
# simulate.outdir, plus the truth files the evaluation scores against.
if config.get("simulate"):
    SIM = config["simulate"]["outdir"].rstrip("/")

    rule simulate:
        """Simulate genome, cCREs, genes, 16-track bigWigs and RNA-seq for several cell types."""
        output:
            SRC.local_sources_under(SIM),
            expand(
                "{sim}/truth/{name}",
                sim=SIM,
                name=["links.tsv", "domains.bed", "boundaries.bed", "loops.bedpe", "activity.tsv", "expression.tsv"],
            ),
        log:
            f"{LOGS}/simulate.log",
        benchmark:
            f"{BENCH}/simulate.tsv"
        conda:
            ENV_CPU
        params:
            config=stage_config("simulate"),
            outdir=SIM,
            seed=config["simulate"]["seed"],
        shell:
            "python -m creator --log {log:q} simulate --config {params.config:q} --outdir {params.outdir:q} --seed {params.seed}"
