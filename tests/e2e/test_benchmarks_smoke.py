"""`python -m benchmarks --quick` runs to the end and reports all three engines; no timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_and_reports_three_engines() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    for engine in ("refimpl", "micrograd", "torch"):
        assert any(row.startswith(f"| {engine} |") for row in rows), proc.stdout
    assert "RecursionError" in proc.stdout  # micrograd on the chain, reported rather than raised
