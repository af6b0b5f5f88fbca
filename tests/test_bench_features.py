"""The features benchmark runs end to end (--quick) and its value-agreement check passes.

No timing assertion: the numbers depend on the machine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "features.py"


def test_bench_features_quick():
    if not (Path(sys.executable).parent / "computeMatrix").exists():
        pytest.importorskip("deeptools", reason="deepTools (computeMatrix) is not installed")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    m = re.fullmatch(r"speedup: (\S+)", lines[-1])
    assert m, lines[-1]
    assert float(m.group(1)) > 0
    agreement = [ln for ln in lines if ln.startswith("agreement vs computeMatrix:")]
    assert len(agreement) == 2, proc.stdout  # demo and dense bigWigs
    assert all(": OK (" in ln for ln in agreement), agreement
    assert "value agreement: OK" in proc.stdout
    assert re.search(r"peak RSS \(ours.*MB; 4x = \d+ cCREs [\d.]+ MB", proc.stdout), proc.stdout
