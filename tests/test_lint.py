"""What the Snakemake workflow catalog checks, in the test suite so that CI (`make test`) runs it:
the Snakefile and rules/*.smk are formatted by snakefmt (settings: pyproject.toml [tool.snakefmt]),
and `snakemake --lint` finds nothing. Both take seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_snakefmt_check_is_clean():
    p = run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"])
    assert p.returncode == 0, ("snakefmt would reformat these files; run `snakefmt Snakefile rules`:\n"
                               + (p.stdout + p.stderr)[-3000:])


def test_snakemake_lint_is_clean():
    p = run([sys.executable, "-m", "snakemake", "--lint"])
    assert p.returncode == 0 and "Congratulations, your workflow is in a good condition!" in p.stdout + p.stderr, \
        (p.stdout + p.stderr)[-3000:]
