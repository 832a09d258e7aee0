"""`python -m benchmarks --quick` runs to the end and reports all three engines; no timings."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main


def test_quick_benchmark_runs_and_reports_three_engines(capsys: pytest.CaptureFixture) -> None:
    code = main(["--quick"])  # in this process: torch is imported already
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    for engine in ("refimpl", "micrograd", "torch"):
        assert any(row.startswith(f"| {engine} |") for row in rows), out
    assert "RecursionError" in out  # micrograd on the chain, reported rather than raised
    assert any(row.startswith("| chain | 20,000 |") for row in rows), out  # the harness's part
