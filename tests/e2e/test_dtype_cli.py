"""`run --dtype float32` from the command line: the option in run.json, reproduce commands that
rerun the case in float32, and one-line errors for what is not supported yet."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from conformance.core.records import read_frame

ENGINE = "tests.engines.float32:tanh_off_1e3"


def test_a_float32_run_records_its_dtype_and_reruns_its_failures_in_float32(
    conformance, tmp_path: Path
) -> None:
    proc = conformance("run", "--engine", ENGINE, "--dtype", "float32", "--cases", "40",
                       "--jobs", "1", "--out", str(tmp_path / "a"))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert meta["options"]["dtype"] == "float32" and meta["options"]["suites"] == [
        "graphs",
        "edges",
    ]
    # The dtype shows wherever the run is summed up: the terminal, the junit file, the page.
    assert proc.stdout.startswith(f"engine {ENGINE}, seed 0, float32: ")
    assert '<property name="dtype" value="float32" />' in (tmp_path / "a/junit.xml").read_text()
    assert "· dtype float32 ·" in (tmp_path / "a" / "conformance.html").read_text()
    frame = read_frame(tmp_path / "a" / "conformance.csv")
    failed = frame[frame["status"] == "fail"].iloc[0]
    assert failed["ulp"] < 1e6  # in float32's ULPs, not float64's (2**29 times as many)
    argv = shlex.split(failed["reproduce"])
    assert argv[argv.index("--dtype") + 1] == "float32"
    again = conformance(*argv[3:-2], "--out", str(tmp_path / "b"), *argv[-2:])
    rows = read_frame(tmp_path / "b" / "conformance.csv")
    assert again.returncode == 1 and set(rows["case"]) == {failed["case"]}
    assert rows.equals(frame[frame["case"] == failed["case"]].reset_index(drop=True))


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--dtype", "float16", "--suite", "training"), "not training"),
        (("--dtype", "float8"), "unknown dtype 'float8'"),
        (("--dtype", "float32", "--suite", "graphs,neurons"), "not neurons"),
    ],
)
def test_what_is_not_supported_yet_is_one_line(
    conformance, assert_one_line_error, tmp_path: Path, args, needle: str
) -> None:
    assert_one_line_error(conformance("run", *args, "--out", str(tmp_path)), needle)


def test_an_engine_that_declares_its_dtype_is_checked_in_it(conformance, tmp_path: Path) -> None:
    engine = "tests.engines.float32:declared"
    proc = conformance(
        "run", "--engine", engine, "--cases", "40", "--jobs", "1", "--out", str(tmp_path / "a")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"engine {engine}, seed 0, float32: ")
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert meta["options"]["dtype"] == "float32" and meta["options"]["suites"] == [
        "graphs",
        "edges",
    ]
    assert "the engine declares float32" in proc.stderr  # the suites it could not check yet
    frame = read_frame(tmp_path / "a" / "conformance.csv")
    assert frame["reproduce"].str.contains("--dtype float32").all()
    # Told float64 in so many words, it is checked in float64, and fails with the suggestion.
    told = conformance("run", "--engine", engine, "--dtype", "float64", "--suite", "graphs",
                       "--cases", "40", "--out", str(tmp_path / "b"))  # fmt: skip
    assert told.returncode == 1 and "check it with --dtype float32" in told.stdout
