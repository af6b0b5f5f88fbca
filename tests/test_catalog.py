"""The Snakemake workflow catalog's standardized usage: config/README.md, the catalog's YAML, and a
small offline `.test/` run that its CI convention can execute (`snakemake --directory .test`)."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import REPO
from creator import simulate
from creator.config import read_samples


def test_catalog_yaml_declares_usage():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    stack = usage["software-stack-deployment"]
    assert stack["conda"] is True and not stack.get("apptainer") and not stack.get("singularity")
    assert usage["report"] is True
    assert "--configfile config/encode_hg38.yaml" in usage["mandatory-flags"]["desc"]
    # conda: true must hold for every rule that runs a command: each names a pinned env that exists
    checked = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        blocks = re.split(r"(?m)^\s*rule (\w+):", smk.read_text())[1:]
        for name, body in zip(blocks[::2], blocks[1::2]):
            if re.search(r"(?m)^\s*(shell|script):", body):
                env = re.search(r"(?m)^\s*conda:\s*\n\s*(\w+)", body)
                assert env, f"{smk.name}: rule {name} runs a command without conda:"
                checked.append(name)
    assert {"download", "features", "train", "predict", "encode_manifest"} <= set(checked)


def test_config_readme_covers_what_a_user_edits():
    text = (REPO / "config" / "README.md").read_text()
    for needle in ("## What to edit for a new run", "## The sample sheet", "## Where the ENCODE manifest comes from",
                   "snakemake --report report.zip", "snakemake encode_manifest", "--directory .test"):
        assert needle in text, needle
    # every sample-sheet column and every assay the schema allows is documented
    schema = yaml.safe_load((REPO / "config" / "schema" / "samples.schema.yaml").read_text())
    for column in schema["properties"]:
        assert f"`{column}`" in text, column
    for assay in schema["properties"]["assay"]["enum"]:
        assert assay in text, assay


def test_dot_test_is_small_offline_and_plans():
    cfg = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    cells = cfg["simulate"]["cell_types"]
    assert cfg["simulate"]["n_chromosomes"] * cfg["simulate"]["chrom_bp"] <= 2_000_000
    assert cfg["train"]["max_epochs"] <= 2 and cfg["train"]["preset"] == "demo"
    # its sample sheet is exactly what the simulator writes for its cell types (no network, no drift)
    samples = read_samples(REPO / ".test" / cfg["samples"])
    assert sorted((s.cell_type, s.role, s.assay, s.url) for s in samples) == \
        sorted(simulate.sample_rows(cfg["simulate"]["outdir"], cells))
    p = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--directory", ".test"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    stats = dict(ln.split() for ln in out.split("Job stats:")[1].split("total")[0].splitlines()[3:] if ln.strip())
    assert int(stats["simulate"]) == 1 and int(stats["train"]) == 1
    assert int(stats["features"]) == len(cells) and "download" in stats
