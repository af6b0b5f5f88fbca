"""The training benchmark runs end to end at a tiny size and its agreement check passes.

No timing assertion: the numbers depend on the machine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_train_tiny():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train.py"), "--preset", "tiny", "--scale", "0.03",
                           "--window-elements", "60", "--sample", "2", "--epochs", "1", "--threads", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"speedup: \d+\.\d", lines[-1]), lines[-1]
    diff = [ln for ln in lines if ln.startswith("|loss ours - loss per-gene loop|")]
    assert len(diff) == 1 and float(diff[0].rsplit(":", 1)[1]) < 1e-4, proc.stdout
    assert re.search(r"ours: epoch 0: [\d.]+ s = [\d.]+ genes/s", proc.stdout), proc.stdout
