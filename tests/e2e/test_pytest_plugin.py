"""The pytest plugin: `pytest --backprop-engine ...` in an engine author's own folder. The plugin
loads through its entry point, as for any user: in a pytest of its own where it matters that
nothing was imported before, else in this process (pytester), which saves torch's import."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.core.options import RunOptions
from conformance.run.pipeline import collect_cases
from tests.helpers import ROOT

CORPUS = ROOT / "tests" / "engines" / "corpus"
SWAPPED = f"{CORPUS / 'mul_grad_swapped.py'}:Value"  # the product rule swapped
KINKED = f"{CORPUS / 'relu_grad_at_zero.py'}:Var"  # correct; relu'(0) = 1, a convention


def _pytest(processes, folder: Path, *args: str):
    """pytest in a new interpreter: what it imports is the point."""
    return processes.run(
        "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, cwd=folder, fresh=True
    )


class _Ran:
    """What a pytester run printed, as the tests below read it."""

    def __init__(self, result: pytest.RunResult) -> None:
        self.returncode = int(result.ret)
        self.stdout = result.stdout.str()
        self.stderr = result.stderr.str()


@pytest.fixture
def inner(pytester: pytest.Pytester):
    """`inner(*ARGS)`: pytest ARGS in this process, in pytester's folder (`pytester.path`)."""
    return lambda *args: _Ran(pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args))


def _count(output: str, word: str) -> int:
    found = re.search(rf"(\d+) {word}", output)
    return int(found.group(1)) if found else 0


def test_without_its_option_the_plugin_adds_nothing_and_imports_no_torch(
    processes, tmp_path: Path
) -> None:
    (tmp_path / "test_mine.py").write_text(
        "import sys\n\n"
        "def test_mine():\n"
        "    assert not {'torch', 'pandas'} & set(sys.modules), sorted(sys.modules)\n"
    )
    proc = _pytest(processes, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "backprop" not in proc.stdout
    helped = _pytest(processes, tmp_path, "--help")
    assert "--backprop-engine=ENGINE" in helped.stdout  # registered, all the same


def test_refimpl_passes_every_case_and_reports_the_rows_run_writes(inner, conformance) -> None:
    tmp_path = Path.cwd()  # pytester's folder
    suites = "examples,edges,semantics"
    proc = inner("--backprop-engine", "refimpl", "--backprop-suite", suites, "--backprop-strict",
                 "--backprop-report", "plugin", "--junitxml", "pytest.xml")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = collect_cases(RunOptions(suites=tuple(suites.split(","))))
    assert _count(proc.stdout, "passed") == len(cases) > 20
    # pytest's own junit, unchanged: a testcase a case, named by its id, and no rows in it.
    junit = ET.parse(tmp_path / "pytest.xml").getroot()
    names = [t.get("name") for t in junit.iter("testcase")]
    assert names == [c.case_id for c in cases]
    assert junit.find(".//property") is None
    assert "PASS (gradients correct)" in proc.stdout  # the run's verdict, in pytest's summary
    ran = conformance("run", "--suite", suites, "--strict", "--out", str(tmp_path / "run"))
    assert ran.returncode == 0, ran.stderr
    # The same rows, byte for byte, in case order, as `run` writes for the same options.
    plugin_csv = (tmp_path / "plugin" / "conformance.csv").read_bytes()
    assert plugin_csv == (tmp_path / "run" / "conformance.csv").read_bytes()
    assert (tmp_path / "plugin" / "conformance.html").stat().st_size > 0


def test_a_buggy_engine_fails_items_with_the_diagnosis_in_two_processes(
    inner, forked_pythons
) -> None:
    tmp_path = Path.cwd()
    proc = inner("--backprop-engine", SWAPPED, "--backprop-suite", "graphs", "--backprop-cases",
                 "10", "-k", "mul and not affine", "-n", "2", "--backprop-report", "rep",
                 "-v")  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert _count(out, "failed") >= 3
    assert "[gw0]" in out and "[gw1]" in out  # pytest-xdist spread them
    assert "blame: mul" in out
    assert "hint: " in out and "is at fault" in out
    assert f"replay: python -m conformance run --engine {SWAPPED} --suite graphs" in out
    scripts = set(re.findall(r"minimal reproducer: (\S+\.py)", out))
    assert scripts and all(Path(s).is_file() for s in scripts)
    assert "FAIL (wrong math)" in out and (tmp_path / "rep" / "conformance.csv").is_file()


def test_conventions_skip_and_gate_under_strict(inner) -> None:
    args = ("--backprop-engine", KINKED, "--backprop-suite", "edges", "-rs")
    proc = inner(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    skipped = _count(proc.stdout, "skipped")
    assert skipped >= 1 and _count(proc.stdout, "passed") >= 1
    assert "differs from torch's conventions (" in proc.stdout
    assert "which gates only under strict" in proc.stdout
    strict = inner(*args, "--backprop-strict", "--deselect", "backprop-conformance::edge-0-over-0")
    assert strict.returncode == 1
    assert _count(strict.stdout, "deselected") == 1  # the node id is the collector's and the case's
    assert 1 <= _count(strict.stdout, "failed") <= skipped


def test_expected_failures_from_the_xfails_file_and_from_pytest_markers(inner) -> None:
    tmp_path = Path.cwd()
    args = ("--backprop-engine", SWAPPED, "--backprop-suite", "graphs", "--backprop-cases",
            "0", "-k", "mul and not affine")  # fmt: skip
    (tmp_path / "xfails.txt").write_text("op=mul  # the product rule, being fixed\n")
    proc = inner(*args, "--backprop-xfails", "xfails.txt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _count(proc.stdout, "xfailed") >= 3 and _count(proc.stdout, "failed") == 0
    assert _count(proc.stdout, "deselected") > 50  # -k selected the cases about mul
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if 'mul' in item.keywords:\n"
        "            item.add_marker(pytest.mark.xfail(reason='the product rule'))\n"
    )
    marked = inner(*args)
    assert marked.returncode == 0, marked.stdout + marked.stderr
    assert _count(marked.stdout, "xfailed") == _count(proc.stdout, "xfailed")


def test_an_engine_that_does_not_load_is_one_usage_error(inner) -> None:
    proc = inner("--backprop-engine", "no_such_module:Value")
    assert proc.returncode == 4  # pytest's usage error
    assert "--backprop-engine:" in proc.stderr and "Traceback" not in proc.stderr


def test_a_layer_engine_is_checked_by_layer(inner) -> None:
    """`--backprop-engine layers:...` collects the layers suite: one item a layer case, `-k` by
    layer, the hint in a failing item's message."""
    ok = inner("--backprop-engine", "layers:refimpl", "--backprop-cases", "160", "-k", "affine")
    assert ok.returncode == 0 and _count(ok.stdout, "passed") >= 5, ok.stdout
    buggy = ROOT / "tests" / "engines" / "layer_zoo" / "bias_not_summed.py"
    bad = inner("--backprop-engine", f"layers:{buggy}", "--backprop-cases", "160", "-k", "affine")
    assert bad.returncode == 1
    assert "fail grad db: db has shape" in bad.stdout and "summed over the batch" in bad.stdout
    wrong = inner("--backprop-engine", "layers:refimpl", "--backprop-suite", "graphs")
    assert wrong.returncode == 4 and "a layer engine runs the layers suite" in wrong.stderr


def test_a_tensor_engine_is_checked_graph_by_graph(inner) -> None:
    """`--backprop-engine tensors:...` collects the tensors suite; a failing item carries the
    blame and the hint."""
    ok = inner("--backprop-engine", "tensors:refimpl", "--backprop-cases", "40")
    assert ok.returncode == 0 and _count(ok.stdout, "passed") >= 60, ok.stdout
    buggy = ROOT / "tests" / "engines" / "tensor_zoo" / "sub_sign.py"
    bad = inner("--backprop-engine", f"tensors:{buggy}", "--backprop-cases", "40", "-k", "sub")
    assert bad.returncode == 1
    assert "blame: sub" in bad.stdout and "b's gradient is −out.grad" in bad.stdout
