# Shared state and input functions: map config + sample sheet to file paths (logic: creator.workflow).
import os
import shlex
import sys

sys.path.insert(0, workflow.basedir)

from creator.config import cell_types, read_samples, validate_config  # noqa: E402
from creator.workflow import Sources, command_line_config, setup_environment, using_conda  # noqa: E402

config = validate_config(command_line_config(workflow, config), source="config (--configfile / --config)")
SAMPLES = read_samples(config["samples"])
setup_environment(workflow.basedir, using_conda=using_conda(workflow))

OUT = config["outdir"]
DL = config["download"]["dir"].rstrip("/")
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
REF = f"{OUT}/reference"
CFG = f"{OUT}/config.yaml"
ENV_CPU = "../envs/creator-cpu.yaml"
ENV_GPU = "../envs/creator-gpu.yaml"
ENV_BEDTOOLS = "../envs/bedtools.yaml"

SRC = Sources(config, SAMPLES)
TRAIN_CELLS = cell_types(SAMPLES, ("train",))
TEST_CELLS = cell_types(SAMPLES, ("test",))
ALL_CELLS = cell_types(SAMPLES)
EXPR_CELLS = cell_types(SAMPLES, ("train", "test"))


def download_path(wildcards):
    return f"{DL}/{wildcards.group}/{wildcards.file}"


def reference_outputs():
    return [f"{REF}/ccres.parquet", f"{REF}/genes.parquet", f"{REF}/windows.npz", f"{REF}/sequence.npy"]


def track_args(wildcards, input):
    return " ".join(f"--track {t}={shlex.quote(p)}" for t, p in zip(SRC.tracks[wildcards.cell], input.bigwigs))


def optional_arg(flag, value):
    return f"{flag} {shlex.quote(str(value))}" if value else ""


def final_outputs():
    out = [f"{OUT}/features/{c}/signal.zarr" for c in ALL_CELLS]
    out += [f"{OUT}/targets/{c}.parquet" for c in EXPR_CELLS]
    return out
