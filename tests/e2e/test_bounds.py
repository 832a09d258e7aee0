"""Bounded in time, memory and processes: options with limits, inputs read to a limit, engines
that cannot outlive the run nor write over its output."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.core.options import EXIT_USAGE, MEMORY_LIMIT_VARIABLE
from conformance.core.spec import GraphSpec, Node, SpecError
from conformance.engines.pool import EnginePool
from conformance.engines.process import EngineProtocolError, ProcessEngine, reply_limit
from conformance.failures.replay import MAX_LEAVES, load_case
from conformance.failures.xfails import MAX_BYTES, load_xfails
from tests.helpers import ROOT

PROTOCOL = ROOT / "tests" / "engines" / "protocol"
ADD = GraphSpec(leaves=(1.0, 2.0), nodes=(Node("add", ("x0", "x1")),), output="n0")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--timeout", "inf"], "limit, 86400 s"),
        (["run", "--timeout", "1e10"], "limit, 86400 s"),
        (["run", "--budget", "inf"], "limit, 86400 s"),
        (["check", "x", "--at", "x=1", "--timeout", "1e10"], "limit, 86400 s"),
        (["replay", "x.json", "--timeout", "inf"], "limit, 86400 s"),
        (["run", "--cases", str(10**11)], "limit, 1,000,000"),
        (["grade", "--cases", str(10**11)], "limit, 1,000,000"),
        (["run", "--max-nodes", str(10**8)], "limit, 100,000"),
    ],
)
def test_an_option_past_its_limit_is_one_line_and_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_a_wait_that_overflows_gives_an_error_row_not_a_hang() -> None:
    # The pool is given what the CLI now refuses: the call must still come back.
    with EnginePool("refimpl", timeout=math.inf) as pool:
        pool.start(probe=False)
        first = pool.call(ADD)
        pool.timeout = 10.0
        second = pool.call(ADD)
    assert first.error is not None and "OverflowError" in first.error
    assert second.error is None and second.value == 3.0  # the next call has a working worker


def test_an_xfails_file_that_never_ends_or_is_too_big_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not a regular file"):
        load_xfails(Path("/dev/zero"))
    big = tmp_path / "xfails.txt"
    big.write_text("# a comment\n" * (MAX_BYTES // 12 + 1))
    with pytest.raises(SpecError, match="bigger than the limit, 1 MB"):
        load_xfails(big)
    big.write_text("# a comment\nop=relu\n")
    assert [e.text for e in load_xfails(big)] == ["op=relu"]


def test_xfails_from_dev_zero_is_one_line_and_exit_2(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--xfails", "/dev/zero", "--out", str(tmp_path), timeout=120)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip().count("\n") == 0 and "not a regular file" in proc.stderr


def test_a_reply_line_without_end_is_garbage_and_the_process_is_stopped() -> None:
    engine = ProcessEngine(f"{sys.executable} {PROTOCOL / 'endless_line.py'}")
    pid = engine.proc.pid
    with pytest.raises(EngineProtocolError, match=f"longer than the limit, {reply_limit(ADD):,}"):
        engine.run(ADD)
    assert engine.proc is None and _gone(pid)


def test_replay_refuses_a_spec_with_more_leaves_than_its_limit(tmp_path: Path) -> None:
    n = MAX_LEAVES + 1
    nodes = [Node("add", ("x0", "x1"))] + [
        Node("add", (f"n{i}", f"x{i + 2}")) for i in range(n - 2)
    ]
    wide = GraphSpec(leaves=(0.5,) * n, nodes=tuple(nodes), output=f"n{n - 2}")
    path = tmp_path / "wide.json"
    path.write_text(wide.to_json())
    with pytest.raises(SpecError, match="limit is 10,000 leaves"):
        load_case(path)


def test_finite_differences_of_many_leaves_take_several_passes_and_agree() -> None:
    from conformance.oracles.autograd import PASS_ELEMENTS, _leaves_per_pass, finite_differences

    n = 3000  # (2 * 3000 numbers per point): 699 leaves a pass, 5 passes
    nodes = [Node("mul", ("x0", "x1"))] + [
        Node("add", (f"n{i}", f"x{i + 2}")) for i in range(n - 2)
    ]
    spec = GraphSpec(leaves=tuple(0.1 + i / n for i in range(n)), nodes=tuple(nodes),
                     output=f"n{n - 2}")  # fmt: skip
    assert _leaves_per_pass(spec) < n and _leaves_per_pass(spec) * 4 * 2 * n <= PASS_ELEMENTS
    grads = finite_differences(spec).grads
    assert grads[0] == pytest.approx(spec.leaves[1], rel=1e-6)
    assert grads[1] == pytest.approx(spec.leaves[0], rel=1e-6)
    assert grads[2:] == pytest.approx([1.0] * (n - 2), rel=1e-6)


def test_an_engine_writing_to_fd_1_leaves_check_json_valid(conformance) -> None:
    proc = conformance(
        "check", "exp(x)", "--at", "x=1", "--engine", "tests.engines.unbounded:WritesToFd1",
        "--format", "json",
    )  # fmt: skip
    assert "garbage" not in proc.stdout, proc.stdout
    assert json.loads(proc.stdout)["verdict"].startswith("PASS"), proc.stderr


def test_an_engine_that_maps_too_much_memory_is_an_error_row(conformance) -> None:
    proc = conformance(
        "check", "exp(x)", "--at", "x=1", "--engine",
        "tests.engines.unbounded:MapsTwelveGigabytes", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Cannot allocate memory" in proc.stdout, proc.stdout


def test_the_memory_limit_is_set_from_the_environment(conformance_process) -> None:
    env = {**os.environ, MEMORY_LIMIT_VARIABLE: "16"}  # too little to load the engine
    # An engine whose import maps 64 MB: a small import could be served from the memory the
    # worker had already mapped, which made this test pass or fail by the memory's layout.
    engine = ("--engine", "tests.engines.ballast:Value")
    proc = conformance_process("check", "exp(x)", "--at", "x=1", *engine, timeout=120, env=env)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_wrapper_scripts_children_do_not_outlive_the_run(
    conformance_process, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    engine = f"{sys.executable} {PROTOCOL / 'pid_then_hangs.py'} {pids}"
    # `; true` keeps the shell from exec-ing the engine: it is the shell's child. A process: the
    # run, not its exit, must stop them.
    proc = conformance_process("run", "--engine-command", f"sh -c '{engine}; true'", "--suite",
                       "examples", "--timeout", "1", "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) >= 2  # one at the start, one more after each timeout
    assert [p for p in started if not _gone(p)] == []


@pytest.mark.parametrize(
    "engine",
    [
        ["--engine", "tests.engines.unbounded:HangsInExpWithPidFile"],
        ["--engine-command", f"sh -c '{sys.executable} {PROTOCOL / 'pid_then_hangs.py'} "
         "$PID_FILE; true'"],
    ],
    ids=["worker", "wrapped-protocol-engine"],
)  # fmt: skip
def test_the_engine_does_not_outlive_a_killed_run(
    start_conformance, tmp_path: Path, engine: list[str]
) -> None:
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PID_FILE": str(pids)}
    run = start_conformance(
        "run", *engine, "--suite", "examples", "--timeout", "600", "--out", str(tmp_path / "out"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert _eventually(lambda: pids.exists() and pids.read_text().endswith("\n"), 120)
    run.send_signal(signal.SIGKILL)
    run.wait()
    pid = int(pids.read_text().split()[0])
    assert _gone(pid), f"process {pid} outlived the run killed with SIGKILL"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_a_hung_engine_does_not_outlive_check(
    start_conformance, tmp_path: Path, signum: int
) -> None:
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PID_FILE": str(pids)}
    check = start_conformance(
        "check", "exp(x)", "--at", "x=1", "--engine",
        "tests.engines.unbounded:HangsInExpWithPidFile", "--timeout", "600",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert _eventually(lambda: pids.exists() and pids.read_text().endswith("\n"), 120)
    check.send_signal(signum)
    check.wait(timeout=60)
    pid = int(pids.read_text().split()[0])
    assert _gone(pid), f"process {pid} outlived check stopped with {signum!r}"


def _sum(n: int, first: str, leaves: tuple[float, ...]) -> GraphSpec:
    """x0 FIRST x1 + x2 + ... + x(n-1): a graph as wide as it is long."""
    rest = [Node("add", (f"n{i}", f"x{i + 2}")) for i in range(n - 2)]
    return GraphSpec(leaves=leaves, nodes=(Node(first, ("x0", "x1")), *rest), output=f"n{n - 2}")


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether the process ends (or is a zombie awaiting its reaper) within `within` seconds."""
    return _eventually(lambda: not _alive(pid), within)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _eventually(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
