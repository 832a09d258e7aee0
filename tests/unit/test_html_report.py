"""The HTML page, its plots and graph drawings: self-contained, escaped, and saying the right
things about a passing and a failing run (the browser test renders the same pages)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.records import Record, to_frame
from conformance.core.spec import GraphSpec, Node
from conformance.engines import load_engine
from conformance.oracles.autograd import torch_reference
from conformance.oracles.tolerance import bounds
from conformance.report.html.charts import Series, line_chart, log_histogram
from conformance.report.html.graph import MAX_DRAWN_NODES, draw_graph, mark_wrong
from conformance.report.html.page import CSP, render
from conformance.report.writers import summarize
from tests.engines.zoo import SwappedProductRule
from tests.helpers import scalar_engine
from tests.report_pages import report_dirs

SVG_NS = "{http://www.w3.org/2000/svg}"


class _Refs(HTMLParser):
    """Every tag, and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster"):
                self.refs.append((tag, name, value or ""))


def _page(which: str) -> str:
    good, bad = report_dirs()
    return ((good if which == "pass" else bad) / "conformance.html").read_text(encoding="utf-8")


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


@pytest.mark.parametrize("which", ["pass", "fail"])
def test_the_page_is_one_file_that_fetches_nothing(which: str) -> None:
    page = _page(which)
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    parser = _Refs()
    parser.feed(page)
    assert not {"script", "link", "iframe", "object", "embed", "img", "base"} & set(parser.tags)
    assert all(value.startswith("#") for _, _, value in parser.refs), parser.refs
    assert "url(" not in page and "@import" not in page
    assert not re.search(r"(?<!xmlns=\")https?://", page), "a URL outside the SVG namespace"


@pytest.mark.parametrize("which", ["pass", "fail"])
def test_every_picture_is_well_formed_svg_with_finite_coordinates(which: str) -> None:
    svgs = _svgs(_page(which))
    assert len(svgs) >= 3
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG_NS}svg" and float(root.get("width")) > 0
        assert root.find(f"{SVG_NS}title") is not None  # a name for screen readers
        for el in root.iter():
            for attr in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height", "d"):
                value = el.get(attr, "")
                assert "nan" not in value.lower() and "inf" not in value.lower(), (attr, value)


def test_a_passing_page_says_so_and_shows_where_the_errors_fall() -> None:
    page = _page("pass")
    assert 'class="banner ok">PASS (gradients correct): ' in page
    assert "Distinct failures" not in page and "Every row passed." in page
    assert "Error ÷ tolerance" in page and "Distance from torch in ULP" in page
    assert page.count(">SGD step</text>") == 4  # one loss chart per training case
    assert "The lecture&#x27;s worked example" in page or "The lecture's worked example" in page


def test_a_failing_page_leads_with_the_verdict_the_baseline_and_each_failure_drawn() -> None:
    _, bad = report_dirs()
    page = _page("fail")
    run = json.loads((bad / "run.json").read_text())
    assert 'class="banner bad">FAIL (wrong math): ' in page
    assert page.index('id="baseline"') < page.index('id="glance"') < page.index('id="failures"')
    assert f"{run['baseline']['new_failures']} new failures" in page
    assert page.count('<section class="card') == len(run["failures"])
    drawn = re.findall(r'<div class="drawing">(<svg.*?</svg>)</div>', page, flags=re.S)
    assert len(drawn) >= 3
    assert all("first wrong" in svg for svg in drawn)
    for path in run["failures"]:
        assert f"python -m conformance replay {path}" in page
    assert "double counting" in page  # the hint of NodeListedTwice


def test_engine_text_is_escaped_everywhere() -> None:
    evil = "<script>alert(1)</script>"
    row = Record(
        suite="graphs", case=evil, engine=evil, check="grad", node=evil, op="mul", expected=1.0,
        actual=2.0, abs_err=1.0, rel_err=1.0, ulp=1.0, tolerance=0.0, status="fail",
        detail=f"the engine {evil}", reproduce=evil, blame=evil, first_wrong=evil, hint=evil,
    )  # fmt: skip
    frame = to_frame([row])
    meta = {
        "engine": evil, "verdict": f"FAIL: {evil}", "exit_code": 1, "options": {"seed": 0},
        "versions": {}, "failures": [], "unsupported": [evil],
    }  # fmt: skip
    page = render(frame, summarize(frame), meta)
    assert "<script" not in page and "&lt;script&gt;" in page


def _buggy_case():
    spec = GraphSpec(
        leaves=(0.5, 2.0),
        nodes=(Node("mul", ("x0", "x1")), Node("tanh", ("x0",)), Node("add", ("n0", "n1"))),
        output="n2",
        leaf_names=("x", "y"),
    )
    engine = scalar_engine(SwappedProductRule).run(spec)
    return spec, engine, torch_reference(spec)


def test_the_drawing_marks_the_first_wrong_node_and_blames_the_right_op() -> None:
    spec, engine, torch = _buggy_case()
    marks = mark_wrong(spec, engine, torch, bounds(spec, torch.node_values))
    # x is read by × and tanh, y by × alone: the op both have in common is blamed.
    assert marks.first == "x0" and marks.first_kind == "grad"
    assert marks.wrong_grads == {"x0", "x1"} and marks.blamed == {0}
    svg = draw_graph(spec, torch, engine, label="x*y + tanh(x)")
    assert "first wrong gradient" in svg and "n0 = x * y" in svg and "tanh(x)" in svg
    right = draw_graph(spec, torch, load_engine("refimpl").run(spec))
    assert "first wrong" not in right and "numbers within tolerance" in right


def test_failures_keep_the_engine_result_of_every_graph_the_report_draws() -> None:
    from conformance.failures.reproducers import KEEP_RESULT_NODES

    assert KEEP_RESULT_NODES == MAX_DRAWN_NODES


def test_graphs_too_large_to_read_are_not_drawn() -> None:
    nodes = [Node("add", ("x0", "x0"))] + [
        Node("add", (f"n{i}", "x0")) for i in range(MAX_DRAWN_NODES)
    ]
    spec = GraphSpec(leaves=(1.0,), nodes=tuple(nodes), output=f"n{MAX_DRAWN_NODES}")
    assert draw_graph(spec, torch_reference(spec), None) is None


def test_plots_show_zeros_infinities_and_nan_without_breaking() -> None:
    svg = log_histogram(
        [0.0, 0.0, 1e-3, 0.5, 2.0, float("inf"), float("nan")],
        title="t", xlabel="x", threshold=1.0, zero_label="exact",
    )  # fmt: skip
    ET.fromstring(svg)
    assert ">exact<" in svg and ">∞<" in svg and "1 nan, not shown" in svg
    assert "tolerance" in svg
    chart = line_chart(
        [Series("a", (1.0, 2.0, float("nan"), 3.0), "#000"), Series("b", (1.0,) * 4, "#f00")],
        title="t", xlabel="x", ylabel="y",
    )  # fmt: skip
    ET.fromstring(chart)
    assert "1 points not finite" in chart and chart.count("<polyline") == 2
    assert "nothing to show" in log_histogram([], title="t", xlabel="x")


def test_the_page_lists_failures_from_other_shards_by_their_files(tmp_path: Path) -> None:
    _, bad = report_dirs()
    run = json.loads((bad / "run.json").read_text())
    frame = pd.read_csv(bad / "conformance.csv")
    page = render(frame, summarize(frame), run, failures=())  # no Failure objects: files only
    assert page.count('<section class="card">') == len(run["failures"])
    assert "nothing is drawn here" in page
