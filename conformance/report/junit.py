"""DIR/junit.xml: the run as JUnit XML, which CI services show as a test report.

One `<testsuite>` per suite, one `<testcase>` per case. A case with a `fail` or `xpass` row is a
`<failure>`, one with an `error` row an `<error>` (the first such row's detail is the message,
every such row is in the text); a case whose rows are all `skip` or `xfail` is `<skipped>`.
`unverified` rows do not fail a case: the gate does not count them either. Nor do `differs` rows
(differences from torch's conventions, gating only under --strict): a case with them passes, and
lists them in its `<system-out>`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import namedtuple
from pathlib import Path

import pandas as pd

from conformance.core.records import FAILING

__all__ = ["junit_xml", "write_junit"]

# Characters XML 1.0 cannot hold, even escaped: an engine's error message may contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_CHARS = 500


def _clean(text: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if text is None or pd.isna(text) else str(text))


def _line(row) -> str:
    node = f" {row.node}" if isinstance(row.node, str) and row.node else ""
    kind = f" {row.kind}" if isinstance(row.kind, str) and row.kind else ""
    return f"[{row.status}{kind}] {row.check}{node}: {row.detail}"


def _case(suite_el: ET.Element, suite: str, case: str, rows: list) -> str:
    """Add the case's `<testcase>`; its outcome: passed, failure, error or skipped."""
    el = ET.SubElement(suite_el, "testcase", classname=f"conformance.{suite}", name=_clean(case))
    statuses = {r.status for r in rows}
    bad = [r for r in rows if r.status in FAILING]
    if bad:
        kind = "error" if "error" in statuses else "failure"
        first = next(r for r in bad if r.status == "error") if kind == "error" else bad[0]
        text = "\n".join(_line(r) for r in bad)
        reproduce = next((r.reproduce for r in rows if isinstance(r.reproduce, str)), "")
        if reproduce:
            text += f"\nreproduce: {reproduce}"
        failure = ET.SubElement(
            el, kind, message=_clean(first.detail)[:MESSAGE_CHARS], type=str(first.status)
        )
        failure.text = _clean(text)
        return kind
    if statuses <= {"skip", "xfail"}:
        ET.SubElement(el, "skipped", message=_clean(rows[0].detail)[:MESSAGE_CHARS])
        return "skipped"
    differs = [r for r in rows if r.status == "differs"]
    if differs:
        ET.SubElement(el, "system-out").text = _clean("\n".join(_line(r) for r in differs))
    return "passed"


_COLUMNS = ["suite", "case", "check", "node", "status", "kind", "detail", "reproduce"]
_Row = namedtuple("_Row", _COLUMNS)


_PASS_ROW = _Row(*([""] * len(_COLUMNS)))._replace(status="pass")


def _rows_by_case(frame: pd.DataFrame) -> dict[str, dict[str, list]]:
    """suite -> case -> rows, in the order of the frame. The rows (as `itertuples` gives them)
    are made only for a case with a row that is not `pass`: most cases need none of their text,
    and a report of 400,000 rows is grouped in a fraction of the time."""
    values = {c: frame[c].to_numpy() for c in _COLUMNS}
    index: dict[str, dict[str, list[int]]] = {}
    for i, (suite, case) in enumerate(zip(values["suite"], values["case"])):
        index.setdefault(str(suite), {}).setdefault(str(case), []).append(i)
    status = values["status"]
    cases: dict[str, dict[str, list]] = {}
    for suite, by_case in index.items():
        out = cases[suite] = {}
        for case, rows in by_case.items():
            if all(status[i] == "pass" for i in rows):
                out[case] = [_PASS_ROW] * len(rows)
            else:
                out[case] = [_Row(*(values[c][i] for c in _COLUMNS)) for i in rows]
    return cases


def junit_xml(frame: pd.DataFrame, meta: dict) -> str:
    """The JUnit XML text of a run's records and its run.json data."""
    root = ET.Element("testsuites", name="backprop-conformance")
    props = ET.SubElement(root, "properties")
    for key in ("engine", "verdict"):
        ET.SubElement(props, "property", name=key, value=_clean(meta.get(key, "")))
    ET.SubElement(props, "property", name="seed", value=str(meta.get("options", {}).get("seed")))
    dtype = meta.get("options", {}).get("dtype", "float64")
    if dtype != "float64":  # the precision the engine was checked in
        ET.SubElement(props, "property", name="dtype", value=str(dtype))
    cases = _rows_by_case(frame)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite, by_case in cases.items():
        suite_el = ET.SubElement(root, "testsuite", name=suite)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for case, rows in by_case.items():
            outcome = _case(suite_el, suite, case, rows)
            counts["tests"] += 1
            key = {"failure": "failures", "error": "errors", "skipped": "skipped"}.get(outcome)
            if key:
                counts[key] += 1
        for k, v in counts.items():
            suite_el.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{meta.get('elapsed_s', 0):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def write_junit(frame: pd.DataFrame, meta: dict, path: Path) -> None:
    """Write `junit_xml` to `path` (UTF-8)."""
    path.write_text(junit_xml(frame, meta), encoding="utf-8")
