"""DIR/junit.xml: one testsuite per suite, one testcase per case, failures with their detail."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from conformance.core.records import Record, to_frame
from conformance.report.junit import junit_xml
from tests.report_pages import report_dirs


def _row(suite: str, case: str, status: str, detail: str = "", node: str = "x0") -> Record:
    return Record(
        suite=suite, case=case, engine="e", check="grad", node=node, op="mul", expected=1.0,
        actual=2.0, abs_err=1.0, rel_err=1.0, ulp=1.0, tolerance=0.5, status=status,
        detail=detail or f"{case}: {status}", reproduce=f"python -m conformance run --case {case}",
    )  # fmt: skip


def test_cases_become_testcases_with_the_failing_rows_as_text() -> None:
    rows = [
        _row("graphs", "g-1", "pass"),
        _row("graphs", "g-1", "fail", "dL/dx0 is 2 but torch computes 1", node="x1"),
        _row("graphs", "g-2", "pass"),
        _row("edges", "e-1", "error", "the engine raised \x00ZeroDivisionError"),
        _row("edges", "e-2", "skip", "skipped: no tanh"),
        _row("edges", "e-3", "xfail"),
        _row("edges", "e-4", "xpass"),
        _row("edges", "e-5", "unverified"),
    ]
    meta = {"engine": "e", "verdict": "FAIL: ...", "options": {"seed": 3}, "elapsed_s": 1.5}
    root = ET.fromstring(junit_xml(to_frame(rows), meta).encode())
    assert root.attrib == {
        "name": "backprop-conformance", "tests": "7", "failures": "2", "errors": "1",
        "skipped": "2", "time": "1.500",
    }  # fmt: skip
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["graphs", "edges"]
    assert [c.get("name") for c in suites["graphs"].iter("testcase")] == ["g-1", "g-2"]
    failure = suites["graphs"].find("testcase/failure")
    assert failure.get("message") == "dL/dx0 is 2 but torch computes 1"
    assert "[fail] grad x1" in failure.text and "--case g-1" in failure.text
    error = suites["edges"].find("testcase[@name='e-1']/error")
    assert "\ufffdZeroDivisionError" in error.get("message")  # no NUL in XML
    assert (
        suites["edges"].find("testcase[@name='e-2']/skipped").get("message") == "skipped: no tanh"
    )
    assert suites["edges"].find("testcase[@name='e-4']/failure").get("type") == "xpass"
    assert len(suites["edges"].find("testcase[@name='e-5']")) == 0  # unverified: not a failure
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props == {"engine": "e", "verdict": "FAIL: ...", "seed": "3"}


def test_a_run_writes_junit_matching_its_counts() -> None:
    _, bad = report_dirs()
    root = ET.parse(bad / "junit.xml").getroot()
    run = json.loads((bad / "run.json").read_text())
    assert int(root.get("tests")) == run["cases"]
    assert int(root.get("failures")) + int(root.get("errors")) > 0
    assert int(root.get("errors")) == sum(1 for _ in root.iter("error"))
