"""Minimal reproducers, `replay`, and the run's behaviour on bad input and interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conformance.cases.generate import GraphShape, expand
from conformance.core.spec import GraphSpec, Node
from conformance.failures.reproducers import FAILURE_KIND
from conformance.failures.shrink import collect_garbage, shrink
from conformance.report.writers import _atomic
from tests.helpers import ROOT


def test_collect_garbage_drops_and_renumbers_what_the_output_does_not_read() -> None:
    spec = GraphSpec(
        leaves=(1.0, 2.0, 3.0),
        consts=(5.0, 6.0),
        nodes=(Node("mul", ("x0", "c0")), Node("add", ("x2", "c1")), Node("exp", ("n1",))),
        output="n2",
    )
    small = collect_garbage(spec)
    assert small.leaves == (3.0,)
    assert small.consts == (6.0,)
    assert [n.op for n in small.nodes] == ["add", "exp"]
    assert small.nodes[0].args == ("x0", "c0")


def test_shrink_finds_a_one_node_graph_when_one_node_is_the_cause() -> None:
    spec = expand(GraphShape(n_leaves=5, n_nodes=30, seed=4))
    assert any(n.op == "tanh" for n in spec.nodes)
    calls = []

    def has_tanh(candidate: GraphSpec) -> bool:
        calls.append(candidate)
        return any(n.op == "tanh" for n in candidate.nodes)

    small = shrink(spec, has_tanh, budget=200)
    assert [n.op for n in small.nodes] == ["tanh"]
    assert len(small.leaves) == 1
    assert len(calls) <= 200


def test_shrink_respects_its_budget() -> None:
    spec = expand(GraphShape(n_leaves=5, n_nodes=30, seed=4))
    calls = []
    assert shrink(spec, lambda c: calls.append(c) or False, budget=7) == collect_garbage(spec)
    assert len(calls) == 7  # nothing smaller fails: it stops at the budget, not before


def test_a_failing_run_writes_a_minimal_reproducer_that_replays(
    processes, conformance, tmp_path: Path
) -> None:
    engine = "tests.engines.zoo:MissingChainFactor"
    # Every suite (the training suite's cases with 5 SGD steps, not 50: 2 s of the run's 2.5 s).
    proc = conformance("run", "--engine", engine, "--cases", "30", "--steps", "5",
                       "--jobs", "1", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 1
    files = sorted((tmp_path / "failures").glob("*.json"))
    assert len(files) == 1, files  # one bug, one distinct failure
    data = json.loads(files[0].read_text())
    assert data["engine"] == engine and data["op"] == "exp" and data["status"] == "fail"
    assert [n["op"] for n in data["spec"]["nodes"]] == ["exp"]
    assert "missing chain-rule factor" in data["hint"]
    assert json.loads((tmp_path / "run.json").read_text())["failures"] == [str(files[0])]
    # The script runs on its own and shows the two disagreeing.
    script = processes.run(str(files[0].with_suffix(".py")), timeout=120)
    assert script.returncode == 0, script.stderr
    engine_line = next(ln for ln in script.stdout.splitlines() if ln.startswith("engine: dL"))
    torch_line = next(ln for ln in script.stdout.splitlines() if ln.startswith("torch:  dL"))
    assert engine_line.split("=")[1] != torch_line.split("=")[1]
    # The script's docstring names the engine in its replay command, as replay needs it.
    script_text = files[0].with_suffix(".py").read_text()
    assert f"replay {files[0].resolve()} --engine {engine}" in script_text
    # Replay: the recorded engine, named again, fails; refimpl passes.
    again = conformance("replay", str(files[0]), "--engine", engine)
    assert again.returncode == 1 and "missing chain-rule factor" in again.stdout
    assert conformance("replay", str(files[0]), "--engine", "refimpl").returncode == 0


@pytest.fixture
def run_elsewhere(processes) -> Callable[..., subprocess.CompletedProcess]:
    """`run_elsewhere(*ARGS, cwd=DIR)`: `python ARGS` from DIR with no PYTHONPATH: only what is
    installed (the project, as `nox -s tests` installs it) is importable; the project's tests
    are not."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return lambda *args, cwd: processes.run(*args, cwd=cwd, env=env)


def _grads(stdout: str, side: str) -> list[float]:
    return [float(ln.split("=")[1]) for ln in stdout.splitlines() if ln.startswith(side + "dL/d")]


@pytest.mark.parametrize(
    "engine",
    ["tests/engines/zoo.py:MissingChainFactor",  # in a package: imports tests.engines.alt
     "tests/engines/pkg_engine/lone.py:ExpForgetsUpstream"],  # a lone file: mypkg beside it
    ids=["in-a-package", "lone-file"],
)  # fmt: skip
def test_a_file_engines_reproducer_and_replay_work_from_any_folder(
    run_elsewhere, conformance, engine: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = conformance("run", "--engine", engine, "--suite", "graphs", "--cases", "5",
                       "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    reproducer = sorted((out / "failures").glob("*.json"))[0]
    data = json.loads(reproducer.read_text())
    path = data["engine"].rpartition(":")[0]
    assert Path(path) == ROOT / engine.partition(":")[0]  # absolute, resolved when written
    assert data["run_folder"] == str(ROOT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = run_elsewhere(str(reproducer.with_suffix(".py")), cwd=elsewhere)
    assert script.returncode == 0, script.stderr
    engine_grads, torch_grads = _grads(script.stdout, "engine: "), _grads(script.stdout, "torch:  ")
    assert engine_grads and len(engine_grads) == len(torch_grads)
    assert engine_grads != torch_grads  # the bug, shown by the script on its own
    again = run_elsewhere(
        "-m", "conformance", "replay", str(reproducer), "--engine", data["engine"], cwd=elsewhere
    )  # fmt: skip
    assert again.returncode == 1, again.stdout + again.stderr
    assert "missing chain-rule factor" in again.stdout


def test_replay_finds_a_relative_file_or_a_module_engine_from_the_run_folder(
    run_elsewhere,
    tmp_path: Path,
) -> None:
    spec = {**GOOD, "upstream": 2.0}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A path relative to the run's folder (a hand-written file), and a module found from there.
    bug = "MissingChainFactor"
    for engine in [f"tests/engines/zoo.py:{bug}", f"tests.engines.zoo:{bug}"]:
        data = {"schema": 1, "kind": FAILURE_KIND, "engine": engine, "run_folder": str(ROOT),
                "spec": spec}  # fmt: skip
        path = tmp_path / "hand-written.json"
        path.write_text(json.dumps(data))
        proc = run_elsewhere(
            "-m", "conformance", "replay", str(path), "--trust-engine", cwd=elsewhere
        )  # fmt: skip
        assert proc.returncode == 1, (engine, proc.stdout + proc.stderr)  # loaded, and wrong
        assert "missing chain-rule factor" in proc.stdout
    # Named on the command line, the module engine is looked for in the run folder too.
    proc = run_elsewhere(
        "-m", "conformance", "replay", str(path), "--engine", engine, cwd=elsewhere
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "missing chain-rule factor" in proc.stdout


def test_a_command_engines_reproducer_speaks_the_protocol_from_any_folder(
    run_elsewhere, conformance, tmp_path: Path
) -> None:
    command = f"{sys.executable} tests/engines/protocol/doubled.py"  # relative to the run's folder
    out = tmp_path / "out"
    proc = conformance("run", "--engine-command", command, "--suite", "examples",
                       "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    script = sorted((out / "failures").glob("*.py"))[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = run_elsewhere(str(script), cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    engine_grads, torch_grads = _grads(ran.stdout, "engine: "), _grads(ran.stdout, "torch:  ")
    assert torch_grads and engine_grads == [2 * g for g in torch_grads]


def test_a_passing_run_writes_no_reproducer(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--cases", "10", "--steps", "5", "--jobs", "1", "--out", str(tmp_path)
    )
    assert proc.returncode == 0
    assert not list(tmp_path.glob("failures/*"))


GOOD = {"schema": 1, "leaves": [1.0], "nodes": [{"op": "exp", "args": ["x0"]}], "output": "n0"}


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    def write(name: str, text: str | bytes) -> Path:
        p = tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    huge = tmp / "huge.json"
    with huge.open("wb") as f:
        f.truncate(300 * 2**20)  # sparse: 300 MB on paper, nothing on disk
    return {
        "missing": (tmp / "nope.json", "no such file"),
        "folder": (tmp, "not a file"),
        "not json": (write("a.json", "{oops"), "not JSON"),
        "binary": (write("b.json", b"\xff\xfe\x00garbage"), "cannot read it as text"),
        "old schema": (write("c.json", json.dumps({**GOOD, "schema": 0})), "schema version"),
        "unknown op": (
            write("d.json", json.dumps({**GOOD, "nodes": [{"op": "frob", "args": ["x0"]}]})),
            "unknown op",
        ),
        "cycle": (
            write("e.json", json.dumps({**GOOD, "nodes": [{"op": "exp", "args": ["n0"]}]})),
            "cycle",
        ),
        "dangling": (write("f.json", json.dumps({**GOOD, "output": "n7"})), "points to nothing"),
        "nan literal": (
            write("g.json", json.dumps(GOOD).replace("1.0", "NaN")),
            "not standard JSON",
        ),
        "deep nesting": (write("h.json", "[" * 1_000_000 + "]" * 1_000_000), "nested too deeply"),
        "huge": (huge, "MB"),
        "not a spec": (write("i.json", "[1, 2, 3]"), "JSON object"),
    }


@pytest.mark.parametrize(
    "which",
    ["missing", "folder", "not json", "binary", "old schema", "unknown op", "cycle", "dangling",
     "nan literal", "deep nesting", "huge", "not a spec"],
)  # fmt: skip
def test_replay_refuses_bad_files_in_one_line(
    conformance, assert_one_line_error, which: str, tmp_path: Path
) -> None:
    path, needle = _bad_files(tmp_path)[which]
    assert_one_line_error(conformance("replay", str(path)), needle)


def test_replay_of_a_bare_spec_file(conformance, tmp_path: Path) -> None:
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(GOOD))
    proc = conformance("replay", str(p))
    assert proc.returncode == 0
    assert "PASS" in proc.stdout


def test_sigterm_writes_the_rows_so_far_and_exits_130(
    start_run_hanging_at_seed_exp, tmp_path: Path
) -> None:
    proc = start_run_hanging_at_seed_exp(tmp_path)
    partial = tmp_path / ".conformance.partial.csv"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert {"seed-sum", "seed-affine", "seed-square"} <= set(frame["case"])
    assert "seed-exp" not in set(frame["case"])
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["interrupted"] is True and meta["exit_code"] == 130
    assert "INTERRUPTED" in (tmp_path / "conformance.html").read_text()
    assert not partial.exists()


def test_an_unwritable_out_is_refused_before_running(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(
        conformance("run", "--out", str(blocker / "sub")), "cannot write to --out"
    )


def test_a_run_that_cannot_start_leaves_no_old_report_behind(conformance, tmp_path: Path) -> None:
    stale = tmp_path / "conformance.csv"
    stale.write_text("suite,case\nold,passing\n")
    # A previous run's report: its manifest lists it (a file no run wrote is refused instead).
    (tmp_path / ".conformance-manifest.json").write_text('{"files": ["conformance.csv"]}')
    proc = conformance("run", "--engine", "no_such_module:V", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert not stale.exists()


def test_reports_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "conformance.csv"

    def write_then_fail(path: Path) -> None:
        path.write_text("half a report")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        _atomic(target, write_then_fail)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
