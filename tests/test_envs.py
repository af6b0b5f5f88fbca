"""envs/*.yaml parse, use conda-forge/bioconda only, are exactly pinned, and agree with pyproject."""

import re
import tomllib

import pytest
import yaml

from conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))


def _pyproject_pins():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        deps += extra
    pins = {}
    for d in deps:
        if d.startswith(data["project"]["name"] + "["):  # an extra that includes another (test -> slurm)
            continue
        name, _, version = d.partition("==")
        assert version, f"pyproject dependency {d!r} is not pinned exactly"
        pins[name.lower()] = version
    return pins


def test_there_are_envs():
    assert {p.name for p in ENVS} >= {"creator-cpu.yaml", "creator-gpu.yaml", "bedtools.yaml", "snakemake.yaml"}


def test_slurm_extra_is_tested_and_in_the_head_env():
    """`make test` installs the Slurm executor (the test extra includes the slurm extra), and the
    head job's env pins the same versions."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    assert "creator-workflow[slurm]" in extras["test"]
    assert any(d.startswith("snakemake-executor-plugin-slurm==") for d in extras["slurm"])
    head = yaml.safe_load((REPO / "envs" / "snakemake.yaml").read_text())
    pip = next(d["pip"] for d in head["dependencies"] if isinstance(d, dict))
    assert set(extras["slurm"]) <= set(pip)


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_is_pinned_and_agrees_with_pyproject(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"][:2] == ["conda-forge", "bioconda"] and "defaults" not in env["channels"]
    pins = _pyproject_pins()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                if spec.startswith("--"):
                    continue
                name, _, version = spec.partition("==")
                assert version, f"{path.name}: pip {spec!r} not pinned with =="
                assert pins.get(name.lower()) == version, f"{path.name}: {spec} disagrees with pyproject"
        else:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+=[0-9][^=*]*", dep), f"{path.name}: {dep!r} not pinned exactly"
