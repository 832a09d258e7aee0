"""Engines in every form on the command line: function, file path, another language, micrograd;
xfails; the API's documented example as a user's own test. (In process: tests/acceptance.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.records import from_values, read_frame, strictly, to_frame
from conformance.run.pipeline import verdict
from tests.engines import functional
from tests.helpers import ROOT

PROTOCOL = ROOT / "tests" / "engines" / "protocol"
JS_ENGINE = ROOT / "examples" / "js-engine" / "engine.js"


def _frame(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "conformance.csv")


def test_a_function_engine_passes(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.functional:engine", "--suite",
        "examples,graphs,semantics", "--cases", "30", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (_frame(tmp_path)["status"] == "pass").all()


def test_a_function_engine_with_ops_gets_only_cases_it_can_run(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--engine", "tests.engines.functional:pair_engine", "--suite",
                       "graphs", "--cases", "30", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    frame = _frame(tmp_path)
    assert set(frame["status"]) == {"pass"}  # random graphs avoid what it lacks: no skip rows
    assert set(frame[frame["op"] != "graph"]["op"]) <= set(functional.pair_engine.ops)
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    assert set(coverage[~coverage["supported"]]["op"]) == {
        "div", "powc", "powv", "exp", "log", "tanh", "sigmoid", "leaky_relu", "affine", "square"
    }  # fmt: skip


def test_a_function_engine_with_a_wrong_shape_is_an_error(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--engine", "tests.engines.functional:wrong_shape", "--suite",
                       "examples", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 1
    frame = _frame(tmp_path)
    assert set(frame["status"]) == {"error"}
    assert frame["detail"].str.contains("gradients for").all()


def test_an_engine_by_file_path(conformance, assert_one_line_error, tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    shutil.copy(ROOT / "tests" / "engines" / "alt.py", student / "helpers.py")
    (student / "engine.py").write_text("from helpers import Value  # a sibling module\n")
    out = tmp_path / "out"
    proc = conformance("run", "--engine", f"{student / 'engine.py'}:Value", "--suite",
                       "examples,graphs", "--cases", "20", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_one_line_error(
        conformance("run", "--engine", f"{tmp_path / 'missing.py'}:Value", "--out", str(out)),
        "does not exist",
    )


@pytest.fixture
def without_pythonpath(processes) -> Callable[..., subprocess.CompletedProcess]:
    """`without_pythonpath(*ARGS, cwd=DIR, **ENV)`: `python ARGS` from DIR with no PYTHONPATH:
    only what is installed (the project, as `nox -s tests` installs it) and what the command
    itself finds is importable."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return lambda *args, cwd, **env: processes.run(*args, cwd=cwd, env={**clean, **env})


def test_a_file_engine_inside_a_package_loads_without_pythonpath(
    without_pythonpath, tmp_path: Path
) -> None:
    # mypkg/engine.py imports `mypkg.topo` and `.topo`: the package's root must be on sys.path
    # and the file imported as `mypkg.engine`, or neither import works.
    engine = "tests/engines/pkg_engine/mypkg/engine.py:Value"
    proc = without_pythonpath("-m", "conformance", "run", "--engine", engine, "--suite",
                               "examples", "--out", str(tmp_path), cwd=ROOT)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert (tmp_path / "conformance.csv").exists()


def _imports(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_run_imports_the_engine_file_once(without_pythonpath, tmp_path: Path) -> None:
    log = tmp_path / "imports.log"
    proc = without_pythonpath(
        "-m", "conformance", "run", "--engine", "tests/engines/counted.py:Value",
        "--suite", "examples,graphs", "--cases", "20", "--out", str(tmp_path / "out"),
        cwd=ROOT, CONFORMANCE_IMPORT_LOG=str(log),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _imports(log) == 1  # one engine worker: it probes, runs every case and shrinks


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_engine_passes_through_the_protocol(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--engine-command", f"node {JS_ENGINE}", "--cases", "100",
                       "--steps", "5", "--jobs", "1", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = _frame(tmp_path)
    assert set(frame["status"]) == {"pass"}
    assert {"examples", "graphs", "edges", "semantics"} <= set(frame["suite"])


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_float32_javascript_engine_declares_its_dtype_and_passes(
    conformance, tmp_path: Path
) -> None:
    """Math.fround at every step, "dtype": "float32" in its handshake: checked in float32."""
    engine = ROOT / "examples" / "js-engine-float32" / "engine.js"
    proc = conformance("run", "--engine-command", f"node {engine}", "--cases", "200", "--strict",
                       "--jobs", "1", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "run.json").read_text())["options"]["dtype"] == "float32"
    assert set(_frame(tmp_path)["status"]) == {"pass"}


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_javascript_bug_is_caught_through_the_protocol(conformance, tmp_path: Path) -> None:
    buggy = tmp_path / "engine.js"
    buggy.write_text(JS_ENGINE.read_text().replace("[1 - t * t]", "[1 - t]"))
    proc = conformance("run", "--engine-command", f"node {buggy}", "--suite", "graphs",
                       "--cases", "30", "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 1
    failing = _frame(tmp_path / "out").query("status == 'fail'")
    assert "tanh" in set(failing["op"])


def _protocol(name: str) -> str:
    return f"{sys.executable} {PROTOCOL / name}"


def test_a_garbage_printing_process_gives_error_rows_and_is_restarted(
    conformance, tmp_path: Path
) -> None:
    proc = conformance("run", "--engine-command", _protocol("garbage.py"), "--suite", "graphs",
                       "--cases", "30", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 1
    frame = _frame(tmp_path)
    errors = frame[frame["status"] == "error"]
    assert len(errors) > 0 and errors["detail"].str.contains("garbage on stdout").all()
    assert (frame["status"] == "pass").sum() > len(errors)  # restarted: later cases still pass


def test_a_dying_process_gives_error_rows_and_is_restarted(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--engine-command", _protocol("dies.py"), "--suite", "graphs",
                       "--cases", "30", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 1
    frame = _frame(tmp_path)
    errors = frame[frame["status"] == "error"]
    assert len(errors) > 0 and errors["detail"].str.contains("exited").all()
    assert (frame["status"] == "pass").sum() > len(errors)


def test_a_hanging_process_times_out_and_does_not_outlive_the_run(
    conformance, tmp_path: Path
) -> None:
    proc = conformance("run", "--engine-command", _protocol("hangs.py"), "--suite", "examples",
                       "--timeout", "2", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 1
    frame = _frame(tmp_path)
    seed_sum = frame[frame["case"] == "seed-sum"]
    assert list(seed_sum["status"]) == ["error"]
    assert "timed out after 2 s" in seed_sum["detail"].iloc[0]
    left = subprocess.run(["pgrep", "-f", str(PROTOCOL / "hangs.py")], capture_output=True)
    assert left.stdout == b"", "the hung engine process outlived the run"


def test_a_process_of_another_protocol_version_is_refused(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    assert_one_line_error(
        conformance("run", "--engine-command", _protocol("old_version.py"), "--out",
                    str(tmp_path)),
        "version 99",
    )  # fmt: skip
    assert_one_line_error(
        conformance("run", "--engine-command", "no-such-program-here", "--out", str(tmp_path)),
        "cannot start",
    )
    assert_one_line_error(
        conformance("run", "--engine-command", _protocol("bad_dtype.py"), "--out",
                    str(tmp_path)),
        "the handshake's dtype 'float8' is not one of",
    )  # fmt: skip


def test_engine_and_engine_command_together_are_a_usage_error(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    assert_one_line_error(
        conformance("run", "--engine", "torch", "--engine-command", "x", "--out", str(tmp_path)),
        "not both",
    )


def test_micrograd_passes_the_default_gate_and_fails_strict_on_conventions_only(
    conformance, tmp_path: Path
) -> None:
    pytest.importorskip("micrograd")
    proc = conformance("run", "--engine", "micrograd", "--jobs", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS (gradients correct)" in proc.stdout
    frame = _frame(tmp_path)
    assert not frame["status"].isin(["fail", "error"]).any()
    differs = frame[frame["status"] == "differs"]
    assert set(differs["kind"]) == {"ieee", "backward-calls", "limits"}
    assert set(differs[differs["kind"] == "limits"]["case"]) == {"sem-deep-chain-5000"}
    # The README quotes this very verdict line: it must not drift.
    verdict_line = proc.stdout.strip().splitlines()[-1]
    assert f"\n{verdict_line}\n" in (Path(__file__).parents[2] / "README.md").read_text()

    # Under --strict (the rows as `run --strict` keeps them: one run serves both verdicts).
    read = read_frame(tmp_path / "conformance.csv").astype(object)
    rows = from_values(list(read.where(read.notna(), None).itertuples(index=False, name=None)))
    strict = to_frame(strictly(rows))
    assert verdict(strict)[0] == 1
    bad = strict[strict["status"].isin(["fail", "error"])]
    assert (bad["kind"] != "").all()  # every gating row is a convention
    # Where it is wrong: intermediates accumulate over repeated backward(); a recursive toposort.
    assert set(bad[bad["suite"] == "semantics"]["case"]) == {
        "sem-backward-twice", "sem-backward-three-times", "sem-backward-twice-zeroed",
        "sem-deep-chain-5000",
    }  # fmt: skip
    assert bad["detail"].str.contains("RecursionError").any()
    # Where it raises instead of giving torch's inf or nan.
    assert bad["detail"].str.contains("ZeroDivisionError").any()
    # Where it is right: every random graph it can build, and the repeated-free semantics.
    assert (strict[strict["suite"] == "graphs"]["status"] == "pass").all()
    assert "sem-doubling-50-times" not in set(bad["case"])


XFAILS = """
# micrograd's known differences from torch
op=relu check=grad suite=edges
edge-sqrt-at-0
edge-inverse-*
edge-divide-* edge-0-over-0
sem-backward-*
sem-deep-chain-*
"""


def test_xfails_turn_known_failures_into_xfail_and_warn_about_stale_entries(
    conformance, tmp_path
) -> None:
    pytest.importorskip("micrograd")
    xfails = tmp_path / "xfails.txt"
    xfails.write_text(XFAILS.replace("edge-divide-* edge-0-over-0", "edge-divide-*\nedge-0-over-0")
                      + "op=tanh suite=graphs\n")  # fmt: skip
    out = tmp_path / "out"
    # The entries are edges and semantics cases; tanh's graphs pass.
    few = ("--cases", "10", "--steps", "5")
    proc = conformance("run", "--engine", "micrograd", "--strict", "--xfails", str(xfails), *few,
                       "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches no row" in proc.stderr and "op=tanh suite=graphs" in proc.stderr
    frame = _frame(out)
    assert (frame["status"] == "xfail").sum() == 14
    assert not frame["status"].isin(["fail", "error"]).any()
    # Without --strict the same entries are not stale: their rows differ, without gating.
    proc = conformance(
        "run", "--engine", "micrograd", "--xfails", str(xfails), *few, "--out", str(out)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = _frame(out)
    assert not frame["status"].isin(["xpass", "xfail"]).any()
    assert (frame["status"] == "differs").sum() == 14


def test_an_xfail_that_passes_is_an_xpass_and_fails_the_gate(conformance, tmp_path: Path) -> None:
    xfails = tmp_path / "xfails.txt"
    xfails.write_text("edge-sqrt-at-0\n")
    proc = conformance("run", "--suite", "edges", "--xfails", str(xfails), "--out",
                       str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 1
    frame = _frame(tmp_path / "out")
    assert set(frame[frame["case"] == "edge-sqrt-at-0"]["status"]) == {"xpass"}
    assert "remove the entry" in frame[frame["status"] == "xpass"]["detail"].iloc[0]


@pytest.mark.parametrize(
    ("text", "needle"), [("op==tanh\n", "is not an entry"), ("color=red\n", "is not an entry")]
)
def test_a_bad_xfails_file_is_a_usage_error(
    conformance, assert_one_line_error, text: str, needle: str, tmp_path: Path
) -> None:
    xfails = tmp_path / "x.txt"
    xfails.write_text(text)
    assert_one_line_error(conformance("run", "--xfails", str(xfails)), needle)
    assert_one_line_error(conformance("run", "--xfails", str(tmp_path / "nope")), "cannot read")


def test_check_engine_docs_example_runs(processes, tmp_path: Path) -> None:
    test = tmp_path / "test_mine.py"
    test.write_text(
        textwrap.dedent("""
        from conformance.api import check_engine
        from refimpl import Value

        def test_my_engine_matches_torch():
            result = check_engine(Value, suites=["examples"])
            assert result.passed, result.report()
    """)
    )
    proc = processes.run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(test), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
