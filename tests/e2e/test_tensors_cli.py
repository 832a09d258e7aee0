"""`run --engine tensors:...` from the command line: the tensors suite, its reports and exit
codes, shrunk reproducers that replay and run from any folder, engines in other languages over
the protocol, and one-line errors."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ROOT

BUGGY = "tensors:tests.engines.tensor_zoo.mean_not_divided"
JS = ROOT / "examples" / "js-tensor-engine" / "engine.js"


def test_refimpl_passes_strict_and_the_csv_is_the_same_in_parallel(
    conformance, tmp_path: Path
) -> None:
    one = conformance("run", "--engine", "tensors:refimpl", "--strict", "--cases", "200",
                      "--jobs", "1", "--out", str(tmp_path / "one"))  # fmt: skip
    assert one.returncode == 0, one.stdout + one.stderr
    assert "PASS (gradients correct)" in one.stdout
    meta = json.loads((tmp_path / "one" / "run.json").read_text())
    assert meta["options"]["suites"] == ["tensors"]
    two = conformance("run", "--engine", "tensors:refimpl", "--strict", "--cases", "200",
                      "--jobs", "2", "--out", str(tmp_path / "two"))  # fmt: skip
    assert two.returncode == 0
    first = (tmp_path / "one" / "conformance.csv").read_bytes()
    assert first == (tmp_path / "two" / "conformance.csv").read_bytes()
    coverage = pd.read_csv(tmp_path / "one" / "coverage.csv")
    assert len(coverage) == 26 and coverage["supported"].all()
    assert "x.sum(axis, keepdims=True)" in set(coverage["form"])


def test_a_buggy_engine_fails_with_a_shrunk_reproducer_that_replays(
    conformance, processes, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    proc = conformance("run", "--engine", BUGGY, "--cases", "100", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "wrong mean: mean's gradient must be divided by the count" in proc.stdout
    frame = pd.read_csv(out / "conformance.csv", keep_default_na=False)
    bad = frame[frame["status"] == "fail"]
    assert len(bad) and set(bad["blame"]) == {"mean"}
    (path,) = (out / "failures").glob("*.json")
    data = json.loads(path.read_text())
    assert data["case_kind"] == "tensor-graph" and data["op"] == "mean"
    assert len(data["spec"]["nodes"]) == 1  # shrunk to the one mean
    replayed = conformance("replay", str(path), "--engine", BUGGY)
    assert replayed.returncode == 1 and "divided by the count" in replayed.stdout
    fine = conformance("replay", str(path), "--engine", "tensors:refimpl")
    assert fine.returncode == 0 and fine.stdout.strip().endswith("PASS")
    scalar = conformance("replay", str(path), "--engine", "refimpl")
    assert scalar.returncode == 2 and "replay it on a tensor engine" in scalar.stderr
    script = str(path.with_suffix(".py"))
    ran = processes.run(script, cwd=tmp_path, env=dict(os.environ), timeout=120)
    assert ran.returncode == 1 and "blame: mean" in ran.stdout, ran.stdout + ran.stderr
    argv = shlex.split(bad.iloc[0]["reproduce"])  # the row's command reruns its case alone
    again = conformance(*argv[3:-2], "--out", str(tmp_path / "again"), *argv[-2:])
    rows = pd.read_csv(tmp_path / "again" / "conformance.csv")
    assert again.returncode == 1 and set(rows["case"]) == {bad.iloc[0]["case"]}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--engine", "tensors:refimpl", "--suite", "graphs"), "a tensor engine runs the tensors"),
        (("--suite", "tensors"), "the tensors suite checks a Tensor class"),
        (("--engine", "tensors:refimpl", "--dtype", "bfloat16"), "numpy has no bfloat16"),
        (("--engine", "tensors:no_such_module_here"), "cannot import 'no_such_module_here'"),
    ],
)
def test_mistakes_are_one_line(conformance, tmp_path: Path, args, words: str) -> None:
    proc = conformance("run", *args, "--out", str(tmp_path / "r"))
    assert proc.returncode in (2, 1) and words in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_tensor_engine_passes_through_the_protocol(
    conformance, tmp_path: Path
) -> None:
    proc = conformance("run", "--engine", f"tensors:command:node {JS}", "--cases", "150",
                       "--strict", "--out", str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = pd.read_csv(tmp_path / "r" / "conformance.csv")
    assert (frame["status"] == "pass").all() and len(frame) > 500


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_scalar_protocol_engine_is_not_taken_for_a_tensor_engine(
    conformance, tmp_path: Path
) -> None:
    scalar = ROOT / "examples" / "js-engine" / "engine.js"
    proc = conformance("run", "--engine", f"tensors:command:node {scalar}", "--out",
                       str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 2 and 'needs "tensors": true' in proc.stderr, proc.stderr


def test_grade_a_class_of_tensor_engines(conformance, tmp_path: Path) -> None:
    """Every file defining a Tensor is an engine; a word per op, the bug's op `wrong`."""
    import shutil as sh

    folder = tmp_path / "class"
    folder.mkdir()
    sh.copy(ROOT / "tests" / "engines" / "tensor_zoo" / "sub_sign.py", folder / "alice.py")
    sh.copy(ROOT / "tests" / "engines" / "tensors_alt" / "einsum.py", folder / "bob.py")
    (folder / "notes.py").write_text("TOLERANCE = 1e-6\n")
    proc = conformance("grade", str(folder), "--tensors", "--cases", "60", "--out",
                       str(tmp_path / "g"))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = pd.read_csv(tmp_path / "g" / "grades.csv", keep_default_na=False)
    by = {
        Path(e.split(":", 1)[1]).stem: row for e, (_, row) in zip(table["engine"], table.iterrows())
    }
    assert set(by) == {"alice", "bob"}
    assert by["alice"]["verdict"] == "FAIL" and by["alice"]["op:sub"] == "wrong"
    assert by["alice"]["op:add"] == "correct" and by["bob"]["verdict"] == "PASS"
    assert "notes.py" in proc.stdout  # a helper module, said so


def test_an_engine_with_few_ops_passes_with_its_missing_ops_listed(
    conformance, tmp_path: Path
) -> None:
    engine = ROOT / "tests" / "engines" / "tensor_kinds.py"
    proc = conformance("run", "--engine", f"tensors:{engine}:Few", "--cases", "40", "--out",
                       str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert ["exp", ""] in meta["unsupported_variants"] and ["sum", "all"] not in meta[
        "unsupported_variants"
    ]
    coverage = pd.read_csv(tmp_path / "r" / "coverage.csv", keep_default_na=False)
    assert set(coverage.loc[coverage["supported"], "op"]) == {"add", "mul", "sum"}
    assert "takes no axis" in (tmp_path / "r" / "conformance.html").read_text()


def test_a_tensor_process_engines_children_do_not_outlive_the_run(
    conformance_process, tmp_path: Path
) -> None:
    """A tensor engine in another language is stopped with its whole process group, as a scalar
    one is (a wrapper script's children too)."""
    from conformance.cases.tensor_graphs import fixed_tensor_cases

    pids = tmp_path / "pids"
    script = ROOT / "tests" / "engines" / "protocol" / "pid_then_hangs.py"
    engine = f"tensors:command:sh -c '{sys.executable} {script} {pids} tensors; true'"
    case = fixed_tensor_cases()[0].case_id  # an add: in the handshake's ops
    proc = conformance_process("run", "--engine", engine, "--case", case, "--timeout", "1",
                               "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert started
    from tests.e2e.test_bounds import _gone  # zombies count as gone: reaped at the test's end

    assert [p for p in started if not _gone(p)] == []


def test_a_hand_written_graph_too_big_for_the_machine_is_refused(
    conformance, tmp_path: Path
) -> None:
    path = tmp_path / "big.json"
    spec = {"tensor_graph": 1, "leaves": {"a": [20000, 1], "b": [1, 20000]},
            "nodes": [{"op": "add", "args": ["a", "b"]}]}  # fmt: skip
    path.write_text(json.dumps({"kind": "conformance-failure", "case_kind": "tensor-graph",
                                "spec": spec}))  # fmt: skip
    proc = conformance("replay", str(path), "--engine", "tensors:refimpl")
    assert proc.returncode == 2 and "400,000,000 elements" in proc.stderr, proc.stderr
