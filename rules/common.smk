# Shared state and input functions: map config + sample sheet to file paths (logic: creator.workflow).
import json
import os
import shlex
import sys

sys.path.insert(0, workflow.basedir)

from creator.config import cell_types, read_samples, validate_config  # noqa: E402
from creator.formats import REFERENCE_FILES  # noqa: E402
from creator.workflow import Sources, command_line_config, setup_environment, using_conda  # noqa: E402

config = validate_config(command_line_config(workflow, config), source="config (--configfile / --config)")
SAMPLES = read_samples(config["samples"])
setup_environment(workflow.basedir, using_conda=using_conda(workflow))

OUT = config["outdir"]
MODEL = config["model_name"]
TAD_RES = config["tads"]["resolution_bp"]
EVAL = config["evaluate"]
DL = config["download"]["dir"].rstrip("/")
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
REF = f"{OUT}/reference"
ENV_CPU = "../envs/creator-cpu.yaml"
ENV_GPU = "../envs/creator-gpu.yaml"
ENV_BEDTOOLS = "../envs/bedtools.yaml"

SRC = Sources(config, SAMPLES)
if workflow.is_main_process:  # not again inside each job (e.g. on a Slurm node): the job checks its own inputs
    SRC.verify_downloads()
TRAIN_CELLS = cell_types(SAMPLES, ("train",))
TEST_CELLS = cell_types(SAMPLES, ("test",))
ALL_CELLS = cell_types(SAMPLES)
EXPR_CELLS = cell_types(SAMPLES, ("train", "test"))


def stage_config(*sections):
    """The config sections one stage reads, as inline JSON for its --config: a change elsewhere in
    the config does not rerun it (Snakemake reruns a job whose params changed)."""
    return json.dumps({s: config[s] for s in sections}, sort_keys=True)


def train_launcher(gpus):
    """python for one process; torchrun with one process per GPU when a job gets several."""
    n = int(gpus or 0)
    return f"torchrun --standalone --nproc_per_node {n}" if n > 1 else "python"


def download_path(wildcards):
    return f"{DL}/{wildcards.group}/{wildcards.file}"


def reference_outputs():
    """The reference stage's files (names: creator.formats); stages that read them get the directory."""
    return [f"{REF}/{name}" for name in REFERENCE_FILES]


def cell_path_args(cells, paths):
    """CELL=PATH arguments (train's --features / --targets): the declared file of each cell type."""
    return " ".join(shlex.quote(f"{c}={p}") for c, p in zip(cells, paths, strict=True))


def track_args(wildcards, input):
    return " ".join(f"--track {t}={shlex.quote(p)}" for t, p in zip(SRC.tracks[wildcards.cell], input.bigwigs))


def optional_arg(flag, value):
    return f"{flag} {shlex.quote(str(value))}" if value else ""


def link_truth(cell):
    """The truth a cell's links are scored against: CRISPRi for crispr_cells, planted truth for test cells."""
    if SRC.evaluate.get("crispr") and cell in EVAL["crispr_cells"]:
        return [SRC.evaluate["crispr"]]
    if EVAL["truth_links"] and cell in TEST_CELLS:
        return [EVAL["truth_links"]]
    return []


def link_truth_arg(cell, truth):
    if not truth:
        return ""
    flag = "--benchmark" if SRC.evaluate.get("crispr") and cell in EVAL["crispr_cells"] else "--truth-links"
    return f"{flag} {shlex.quote(truth[0])}"


def peer_inputs(cell):
    """Peers' predictions scored beside ours wherever links are scored against CRISPRi."""
    if not (SRC.evaluate.get("crispr") and cell in EVAL["crispr_cells"]):
        return []
    return [SRC.peers[p["name"]] for p in EVAL["peers"]]


def peer_args(cell, paths):
    peers = EVAL["peers"] if paths else []
    return " ".join(shlex.quote(f"--peer={p['name']}={path}:{p['score_column']}") for p, path in zip(peers, paths))


def hic_input(cell):
    hic = EVAL["hic"]
    return [SRC.evaluate["hic"]] if hic and cell in hic["cells"] else []


def hic_args(cell, paths):
    if not paths:
        return ""
    hic = EVAL["hic"]
    uri = hic["url"].split("::", 1)
    group = f"::{uri[1]}" if len(uri) == 2 else ""
    args = f"--hic {shlex.quote(f'{paths[0]}{group}')}"
    if hic.get("chrom"):
        args += f" --hic-chrom {hic['chrom']} --hic-resolution {hic['resolution_bp']}"
    return args


def tad_truth(cell):
    return [EVAL["truth_boundaries"]] if EVAL["truth_boundaries"] and cell in TEST_CELLS else []


def evaluated_link_cells():
    return [c for c in ALL_CELLS if link_truth(c)]


def evaluation_summaries():
    out = [f"{OUT}/eval/{MODEL}/expression/summary.tsv"]
    out += [f"{OUT}/eval/{MODEL}/links/{c}/summary.tsv" for c in evaluated_link_cells()]
    out += [f"{OUT}/eval/{MODEL}/tads/{c}/summary.tsv" for c in ALL_CELLS]
    return out


def locus_crispr(cell):
    """The CRISPRi benchmark whose tested elements the locus view marks (crispr cells only)."""
    return [SRC.evaluate["crispr"]] if SRC.evaluate.get("crispr") and cell in EVAL["crispr_cells"] else []


def locus_cells():
    """The cell shown in the locus view: the first test cell, else the first train cell."""
    return (TEST_CELLS or TRAIN_CELLS)[:1]


LOCUS_TRACKS = ("DNase", "H3K27ac", "CTCF", "H3K4me3")  # signal tracks drawn in the locus view


def locus_tracks(cell):
    return {t: p for t, p in SRC.tracks[cell].items() if t in LOCUS_TRACKS}


def locus_bigwigs(cell):
    return list(locus_tracks(cell).values())


def locus_bigwig_args(cell, paths):
    names = list(locus_tracks(cell))
    return " ".join(f"--bigwig {n}={shlex.quote(p)}" for n, p in zip(names, paths))


def final_outputs():
    out = [f"{OUT}/features/{c}/signal.zarr" for c in ALL_CELLS]
    out += [f"{OUT}/targets/{c}.parquet" for c in EXPR_CELLS]
    out += [f"{OUT}/model/{MODEL}/metrics.json"]
    out += [f"{OUT}/predict/{MODEL}/{c}/expression.tsv" for c in ALL_CELLS]
    out += [f"{OUT}/links/{MODEL}/{c}/links.bedpe.gz" for c in ALL_CELLS]
    out += [f"{OUT}/tads/{MODEL}/{c}/loops.bedpe" for c in ALL_CELLS]
    out += [f"{OUT}/eval/summary.tsv"]
    if EVAL["locus_gene"]:
        out += [f"{OUT}/eval/{MODEL}/locus/{c}.{EVAL['locus_gene']}.png" for c in locus_cells()]
    return out
