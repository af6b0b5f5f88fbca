rule train:
    """Train on the train cell types (held-out chromosomes/blocks for validation and test); score
    the held-out (test) cell types zero-shot. Resumes from last.pt after a kill."""
    input:
        reference=reference_outputs(),
        features=expand(f"{OUT}/features/{{cell}}/signal.zarr", cell=EXPR_CELLS),
        targets=expand(f"{OUT}/targets/{{cell}}.parquet", cell=EXPR_CELLS),
    output:
        checkpoint=f"{OUT}/model/{MODEL}/checkpoint.pt",
        metrics=f"{OUT}/model/{MODEL}/metrics.json",
        splits=f"{OUT}/model/{MODEL}/splits.tsv",
    log:
        f"{LOGS}/train/{MODEL}.log",
    benchmark:
        f"{BENCH}/train/{MODEL}.tsv"
    conda:
        ENV_GPU
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    params:
        config=stage_config("samples", "train"),
        reference=lambda wc, input: os.path.dirname(input.reference[0]),
        features=lambda wc, input: cell_path_args(EXPR_CELLS, input.features),
        targets=lambda wc, input: cell_path_args(EXPR_CELLS, input.targets),
        out=lambda wc, output: os.path.dirname(output.checkpoint),
        # several GPUs: one process per GPU under torchrun (DistributedDataParallel)
        launcher=lambda wc, resources: train_launcher(resources.gpu),
    shell:
        "{params.launcher} -m creator --log {log:q} train --config {params.config:q} --reference {params.reference:q}"
        " --features {params.features} --targets {params.targets} --out {params.out:q} --restart-on-mismatch"
