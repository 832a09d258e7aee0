"""summary.csv: the worst error of each group in units of its tolerance, comparable anywhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_a_passing_neuron_run_has_no_worst_error_above_its_tolerance(
    conformance, tmp_path: Path
) -> None:
    # The descent and magnitude rows hold losses (L ≈ 1 against a tolerance of 1e-12 or so):
    # counted as errors they made a passing group read 1e12.
    proc = conformance("run", "--suite", "neurons", "--cases", "30", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert {"descent", "magnitude", "sign"} <= set(frame["check"])
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) > 5
    worst = summary["worst_error"]
    assert worst.notna().sum() > 5, summary
    assert (worst.dropna() <= 1).all(), summary[["op", "worst_error"]]
    assert (worst.dropna() > 0).any()  # real errors, not an empty column


def test_the_worst_error_of_a_failing_group_is_above_1() -> None:
    from conformance.report.writers import summarize

    rows = pd.DataFrame(
        {
            "suite": ["graphs"] * 3,
            "case": ["a", "b", "c"],
            "op": ["exp"] * 3,
            "check": ["grad", "value", "descent"],
            "abs_err": [3e-12, 1e-16, 0.4],
            "tolerance": [1e-12, 1e-15, 1e-14],
            "status": ["fail", "pass", "pass"],
        }
    )
    summary = summarize(rows)
    assert summary.loc[0, "worst_error"] == 3.0  # the grad row; the descent row's 4e13 is not


def test_the_summary_says_the_dtype_its_worst_errors_are_in(tmp_path) -> None:
    """worst_error is in units of tolerances of one dtype: its last column names it."""
    from conformance.core.options import RunOptions
    from conformance.engines import load_engine
    from conformance.report.writers import write_reports
    from conformance.run.pipeline import run

    for dtype in ("float64", "float32"):
        options = RunOptions(suites=("graphs",), cases=10, dtype=dtype, jobs=1)
        outcome = run(options, engine=load_engine("refimpl"))
        write_reports(outcome, options, tmp_path / dtype)
        summary = pd.read_csv(tmp_path / dtype / "summary.csv")
        assert list(summary.columns)[-1] == "dtype" and set(summary["dtype"]) == {dtype}
