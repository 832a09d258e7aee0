"""The command line as a user meets it: exit codes, one-line errors, hostile engines, outputs."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.records import COLUMNS

# Every suite runs, the training suite's cases with 5 SGD steps, not 50 (2 s of a run's 2.5 s):
# these tests read how the run treats an engine, not how far its training gets.
FEW_STEPS = ("--steps", "5")
# One process: the parallel path has tests of its own, and a checker costs torch's import.
ONE_JOB = ("--jobs", "1")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--cases", "many"], "not a whole number"),
        (["run", "--cases", "-3"], "must not be negative"),
        (["run", "--max-nodes", "0"], "at least 1"),
        (["run", "--suite", "nope"], "unknown suite nope"),
        (["run", "--seed", "x"], "'random'"),
        (["run", "--timeout", "0"], "more than 0"),
        (["run", "--frobnicate"], "unrecognized arguments"),
        (["walk"], "invalid choice"),
        ([], "say what to do"),
        (["run", "--engine", "nosuch"], "unknown engine 'nosuch'"),
        (["run", "--engine", "no_such_module:Value"], "cannot import 'no_such_module'"),
        (["run", "--engine", "refimpl:Nope"], "has no attribute 'Nope'"),
        (["run", "--engine", "tests.engines.hostile:BrokenOnImport"], "cannot make a leaf"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    conformance, assert_one_line_error, args: list[str], needle: str, tmp_path
) -> None:
    proc = conformance(*args, "--out", str(tmp_path)) if args and args[0] == "run" else None
    proc = proc or conformance(*args)
    assert_one_line_error(proc, needle)


def test_the_cli_lists_exactly_the_suites_that_exist(conformance) -> None:
    from conformance.cases.suites import SUITES
    from conformance.cli.args import suites

    assert suites(",".join(SUITES)) == tuple(SUITES)
    text = " ".join(conformance("run", "--help").stdout.split())
    assert all(name in text for name in SUITES), text


def test_out_that_is_a_file_is_a_usage_error(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(conformance("run", "--out", str(f)), "is a file")


def test_default_engine_passes_and_writes_every_report(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--cases", "40", *FEW_STEPS, *ONE_JOB, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
    for name in ("conformance.csv", "summary.csv", "run.json", "conformance.html"):
        assert (tmp_path / name).stat().st_size > 0
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert tuple(frame.columns) == COLUMNS
    assert set(frame["status"]) <= {"pass", "unverified"}
    assert {"examples", "graphs", "edges", "semantics"} <= set(frame["suite"])
    seed_sum = frame[frame["case"] == "seed-sum"]
    assert list(seed_sum["expected"]) == [8.0, 1.0, 1.0]


def test_a_buggy_engine_fails_the_gate_with_the_op_named(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.buggy:TanhMissingSquare", "--cases", "30",
        *FEW_STEPS, *ONE_JOB, "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1].startswith("FAIL")
    frame = pd.read_csv(tmp_path / "conformance.csv")
    failing = frame[frame["status"] == "fail"]
    assert "tanh" in set(failing["op"])
    blamed = failing["blame"].fillna("")
    assert all("tanh" in b.split(",") or b == "backward" for b in blamed if b)


def test_engine_errors_are_rows_and_the_run_goes_on(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.hostile:RaisesInTanh", "--cases", "20",
        *FEW_STEPS, *ONE_JOB, "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1
    frame = pd.read_csv(tmp_path / "conformance.csv")
    errors = frame[frame["status"] == "error"]
    assert errors["detail"].str.contains("RuntimeError: tanh is not implemented yet").all()
    assert (frame["status"] == "pass").sum() > 50  # everything without tanh still checked


def test_a_hanging_engine_times_out_per_call(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.hostile:HangsInExp", "--suite", "examples",
        "--timeout", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1
    frame = pd.read_csv(tmp_path / "conformance.csv")
    exp_rows = frame[frame["case"] == "seed-exp"]
    assert list(exp_rows["status"]) == ["error"]
    assert "timed out after 1 s" in exp_rows["detail"].iloc[0]
    assert (frame[frame["case"] != "seed-exp"]["status"] == "pass").all()


def test_an_engine_that_kills_its_process_is_an_error_row(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run",
        "--engine",
        "tests.engines.hostile:DiesInLog",
        "--cases",
        "30",
        *FEW_STEPS,
        *ONE_JOB,
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 1
    frame = pd.read_csv(tmp_path / "conformance.csv")
    died = frame[frame["detail"].str.contains("process died", na=False)]
    assert len(died) > 0
    assert (died["status"] == "error").all()
    assert (frame["status"] == "pass").sum() > 50


def test_garbage_gradients_are_error_rows(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.hostile:GarbageGrad", "--cases", "30",
        *FEW_STEPS, *ONE_JOB, "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert (frame["status"] == "error").sum() > 0
    assert "fail" not in set(frame["status"])


def test_micrograd_gets_only_graphs_it_can_build_and_a_coverage_table(
    conformance, tmp_path: Path
) -> None:
    pytest.importorskip("micrograd")
    proc = conformance(
        "run", "--engine", "micrograd", "--suite", "examples,graphs", "--cases", "30",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    frame = pd.read_csv(tmp_path / "conformance.csv")
    # Random and one-op cases use only what it has; the fixed case that needs exp is skipped.
    assert set(frame[frame["suite"] == "graphs"]["status"]) == {"pass"}
    assert set(frame[frame["status"] == "skip"]["case"]) == {"seed-exp"}
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    assert set(coverage[~coverage["supported"]]["op"]) == {
        "exp", "log", "tanh", "sigmoid", "leaky_relu", "powv",
    }  # fmt: skip
    assert (frame["status"] == "pass").sum() > 100


def test_nothing_checked_exits_3(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--case", "g-000000000000", "--out", str(tmp_path))
    assert proc.returncode == 3
    assert "nothing checked" in proc.stdout + proc.stderr


def test_a_reproduce_command_reruns_exactly_its_case(conformance, tmp_path: Path) -> None:
    first = tmp_path / "first"
    conformance("run", "--cases", "10", "--seed", "3", *FEW_STEPS, *ONE_JOB, "--out", str(first))
    frame = pd.read_csv(first / "conformance.csv")
    row = frame[frame["op"] == "graph"].iloc[0]
    args = row["reproduce"].split()[3:]  # after "python -m conformance"
    proc = conformance(*args, "--out", str(tmp_path / "again"))
    assert proc.returncode == 0
    again = pd.read_csv(tmp_path / "again" / "conformance.csv")
    assert set(again["case"]) == {row["case"]}
    assert list(again["actual"]) == list(frame[frame["case"] == row["case"]]["actual"])


def test_interrupt_writes_the_rows_so_far_and_exits_130(
    start_run_hanging_at_seed_exp, tmp_path: Path
) -> None:
    proc = start_run_hanging_at_seed_exp(tmp_path)
    csv = tmp_path / "conformance.csv"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    frame = pd.read_csv(csv)
    assert {"seed-sum", "seed-affine", "seed-square"} <= set(frame["case"])
    assert "seed-exp" not in set(frame["case"])


def test_the_program_exits_with_the_code_main_returns(conformance_process) -> None:
    # The usage errors above run in process; this is the program around main: one line, exit 2.
    proc = conformance_process("run", "--cases", "many", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "not a whole number" in proc.stderr


def test_a_reader_that_leaves_costs_the_output_not_the_exit_code(
    start_conformance, tmp_path: Path
) -> None:
    """`run ... | head`: the reader closes the pipe before the verdict is printed; no traceback,
    the reports are written and the exit code is the run's."""
    proc = start_conformance("run", "--suite", "examples", "--out", str(tmp_path / "out"))
    proc.stdout.close()  # the reader is gone before anything is printed
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert (tmp_path / "out" / "conformance.csv").is_file()


@pytest.mark.parametrize(
    "args",
    [["run", "--cases", "many"], ["replay", "/nonexistent.json"], ["check", "x*", "--at", "x=1"]],
    ids=["run", "replay", "check"],
)
def test_a_usage_error_is_told_before_torch_or_pandas_load(processes, args: list[str]) -> None:
    code = (
        "import sys; from conformance.cli.main import main; code = main(sys.argv[1:]); "
        "loaded = {'torch', 'pandas'} & set(sys.modules); assert not loaded, loaded; "
        "sys.exit(code)"
    )
    proc = processes.run("-c", code, *args, timeout=60, fresh=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
