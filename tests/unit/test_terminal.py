"""What a run prints: progress and a table by suite on a terminal, paths and verdict anywhere."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from conformance.core.records import Record, to_frame
from conformance.report.terminal import Progress, print_outcome, suite_table


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _frame():
    def row(suite: str, case: str, status: str) -> Record:
        return Record(suite=suite, case=case, engine="e", check="grad", node="x0", op="add",
                      expected=1.0, actual=1.0, abs_err=0.0, rel_err=0.0, ulp=0.0, tolerance=0.0,
                      status=status)  # fmt: skip

    return to_frame(
        [row("graphs", "a", "pass"), row("graphs", "a", "fail"), row("graphs", "b", "pass"),
         row("edges", "c", "skip")]
    )  # fmt: skip


def test_the_suite_table_counts_cases_and_rows_by_status(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    lines = suite_table(_frame(), _Terminal()).splitlines()
    assert lines[0].split() == ["suite", "cases", "pass", "fail", "skip"]
    assert lines[1].split() == ["graphs", "2", "2", "1", "0"]
    assert lines[2].split() == ["edges", "1", "0", "0", "1"]
    assert lines[3].split() == ["all", "3", "2", "1", "1"]


def test_failing_counts_are_red_on_a_colour_terminal(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert "\x1b[31;1m" in suite_table(_frame(), _Terminal())
    assert "\x1b[" not in suite_table(_frame(), io.StringIO())


def test_progress_shows_only_on_a_terminal_and_only_once_the_run_is_slow() -> None:
    quiet = io.StringIO()
    p = Progress(quiet, delay=0.0)
    for i in range(1, 11):
        p(i, 10)
    p.finish()
    assert quiet.getvalue() == ""
    term = _Terminal()
    p = Progress(term, delay=0.0)
    for i in range(1, 11):
        p(i, 10)
    assert "10/10 cases (100%)" in term.getvalue()
    p.finish()
    assert term.getvalue().endswith("\r\x1b[K")
    slow = _Terminal()
    p = Progress(slow, delay=60.0)
    for i in range(1, 11):
        p(i, 10)
    assert slow.getvalue() == ""  # a quick run draws no progress at all


def test_the_verdict_is_the_last_line_with_or_without_a_terminal(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    outcome = SimpleNamespace(
        frame=_frame(), cases=3, elapsed=1.0, warnings=[], exit_code=1, message="FAIL: 1 fail"
    )
    options = SimpleNamespace(engine="e", seed=0)
    paths = {"csv": Path("r/conformance.csv"), "junit": Path("r/junit.xml"), "failures": []}
    for stream, table in ((io.StringIO(), False), (_Terminal(), True)):
        print_outcome(outcome, options, paths, stream=stream)
        lines = stream.getvalue().splitlines()
        assert lines[-1] == "FAIL: 1 fail"
        assert "  r/junit.xml" in lines and "  r/conformance.csv" in lines
        assert any(line.startswith("suite ") for line in lines) is table
