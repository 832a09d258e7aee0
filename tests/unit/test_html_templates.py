"""The HTML page from its Jinja2 templates: engine text escaped wherever it lands, the navigation
made from the same sections as the body, the drawing outlining what the diagnosis names, and the
templates found whatever the current folder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conformance.checks.diagnose import Diagnosis
from conformance.core.case import Case
from conformance.core.records import Record, to_frame
from conformance.core.spec import GraphSpec, Node
from conformance.failures.reproducers import Failure
from conformance.oracles.autograd import torch_reference
from conformance.oracles.tolerance import bounds
from conformance.report.html.graph import draw_graph, mark_wrong
from conformance.report.html.page import ENVIRONMENT, render, sections
from conformance.report.writers import summarize
from tests.engines.zoo import SwappedProductRule
from tests.helpers import scalar_engine
from tests.report_pages import report_dirs

EVIL = "<script>alert(1)</script>"
FILE_EVIL = "<img src=x onerror=alert(1)>"  # a file name: no slash
ROOT = Path(__file__).resolve().parents[2]


def _spec() -> GraphSpec:
    return GraphSpec(
        leaves=(0.5, 2.0),
        nodes=(Node("mul", ("x0", "x1")), Node("tanh", ("x0",)), Node("add", ("n0", "n1"))),
        output="n2",
        leaf_names=("x", "y"),
    )


def _row(**changes) -> Record:
    fields = dict(
        suite="graphs", case=EVIL, engine=EVIL, check="grad", node=EVIL, op="mul", expected=1.0,
        actual=2.0, fd=None, abs_err=1.0, rel_err=1.0, ulp=1.0, tolerance=0.0, status="fail",
        detail=f"the engine said {EVIL}", reproduce=EVIL, blame=EVIL, first_wrong=EVIL,
        hint=EVIL,
    )  # fmt: skip
    fields.update(changes)
    return Record(**fields)


def test_engine_text_in_cards_file_names_and_case_ids_is_escaped(tmp_path: Path) -> None:
    spec = _spec()
    row = _row()
    case = Case(suite=EVIL, case_id=EVIL, spec=spec, op="mul", reproduce=EVIL)
    failure = Failure(
        (EVIL, "grad", "fail"), case, spec, (row,), scalar_engine(SwappedProductRule).run(spec),
        torch_reference(spec),
    )  # fmt: skip
    # A reproducer known only by its file (another shard's): a name and contents of its own.
    other = tmp_path / f"{FILE_EVIL}.json"
    other.write_text(
        json.dumps(
            {
                "op": EVIL,
                "check": EVIL,
                "status": EVIL,
                "formula": EVIL,
                "first_wrong": EVIL,
                "hint": EVIL,
            }
        )
    )
    frame = to_frame([row, _row(status="differs", kind="ieee")])
    meta = {
        "engine": EVIL,
        "verdict": f"FAIL: {EVIL}",
        "exit_code": 1,
        "options": {"seed": 0, "suites": [EVIL]},
        "versions": {EVIL: EVIL},
        "failures": [str(tmp_path / f"{FILE_EVIL}-mine.json"), str(other)],
        "unsupported": [EVIL],
    }
    page = render(frame, summarize(frame), meta, failures=[failure])
    assert "<script" not in page and "<img" not in page and "&lt;img src=x" in page
    assert page.count("&lt;script&gt;") >= 15
    assert 'id="&lt;script&gt;alert(1)&lt;/script&gt;"' in page  # the card's anchor
    assert "<svg" in page  # the drawing itself is markup, not text


def test_every_section_in_the_navigation_has_its_anchor_and_back() -> None:
    for folder in report_dirs():
        page = (folder / "conformance.html").read_text(encoding="utf-8")
        nav = re.search(r"<nav>(.*?)</nav>", page, re.S).group(1)
        linked = re.findall(r'href="#([\w-]+)"', nav)
        assert linked and len(linked) == len(set(linked))
        anchors = re.findall(r'<h2 id="([\w-]+)"', page)
        assert linked == anchors  # same sections, same order
    frame = to_frame([_row(case="c", engine="e", node="x", detail="d", status="pass")])
    meta = {"engine": "e", "verdict": "PASS", "exit_code": 0, "options": {}, "failures": []}
    listed = sections(frame, summarize(frame), meta)
    assert [s.id for s in listed if s.nav] == ["glance", "by-op", "rows"]
    page = render(frame, summarize(frame), meta)
    assert all(f'<h2 id="{s.id}">' in page for s in listed if s.nav)


def test_the_drawing_outlines_what_the_recorded_diagnosis_names() -> None:
    spec = _spec()
    engine, torch = scalar_engine(SwappedProductRule).run(spec), torch_reference(spec)
    tol = bounds(spec, torch.node_values)
    said = Diagnosis("mul", "dL/dy = 1, torch 0.5; read by n0 = x * y", "")
    marks = mark_wrong(spec, engine, torch, tol, said)
    assert marks.first == "x1" and marks.first_kind == "grad" and marks.blamed == {0}
    nothing = mark_wrong(spec, engine, torch, tol, None)  # the run found no first wrong node
    assert nothing.first is None and not nothing.blamed and nothing.wrong_grads
    svg = draw_graph(spec, torch, engine, tol, diagnosis=None)
    assert "first wrong" not in svg and "red: outside tolerance<" in svg
    value = Diagnosis("tanh", f"{spec.describe(1)}: value 0.1, torch 0.46", "")
    assert mark_wrong(spec, engine, torch, tol, value).blamed == {1}


def test_templates_ship_with_the_package_and_render_from_any_folder(tmp_path: Path) -> None:
    folder = Path(ENVIRONMENT.loader.searchpath[0])
    assert folder == ROOT / "conformance" / "report" / "html" / "templates"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"conformance.report.html" = ["templates/*"]' in pyproject
    code = (
        "from conformance.report.html.page import render\n"
        "from conformance.core.records import to_frame\n"
        "from conformance.report.writers import summarize\n"
        "f = to_frame([])\n"
        "m = {'engine': 'e', 'verdict': 'PASS', 'exit_code': 0, 'options': {}}\n"
        "assert render(f, summarize(f), m).startswith('<!DOCTYPE html>')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
