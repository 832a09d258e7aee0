"""Text from engines and file names, written safely: no crash, no terminal escapes, no formulas."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.case import Case
from conformance.core.csvrows import csv_lines
from conformance.core.options import RunOptions
from conformance.core.records import Record
from conformance.core.safetext import safe_cell, safe_csv_frame, safe_text
from conformance.core.spec import GraphSpec
from conformance.report.writers import REPORT_FILES, PartialRows
from conformance.run.pipeline import reproduce_command
from tests.helpers import ROOT

HOSTILE = "tests.engines.hostile:HostileText"  # exp raises "bad \ud800 byte \x00 then \x1b[31mred"
FORMULA_START = ("=", "+", "-", "@")
# conformance.csv's columns that hold numbers: never quoted, always readable as numbers.
NUMERIC = ("expected", "actual", "fd", "abs_err", "rel_err", "ulp", "tolerance")
SPEC = {"schema": 1, "leaves": [1.0], "nodes": [{"op": "exp", "args": ["x0"]}], "output": "n0"}


def test_safe_text_replaces_lone_surrogates_and_escapes_controls_but_tab_and_newline() -> None:
    text = safe_text("a\ud800b\x00c\x1b[31md\te\nf\rg\x7f")
    assert text == "a\ufffdb\\x00c\\x1b[31md\te\nf\\x0dg\\x7f"
    text.encode("utf-8")  # raises on a surrogate left behind
    assert safe_text("plain ünïcode ✓") == "plain ünïcode ✓"


@pytest.mark.parametrize("start", FORMULA_START)
def test_safe_cell_neutralises_formulas_and_leaves_numbers_alone(start: str) -> None:
    assert safe_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert safe_cell("the engine raised =x") == "the engine raised =x"
    assert safe_cell(-1.5) == -1.5 and safe_cell(None) is None


def test_safe_csv_frame_keeps_numeric_columns_numbers() -> None:
    frame = pd.DataFrame({"detail": ["=1+1", "-x", "ok"], "expected": [-1.0, -2.5, None]})
    safe = safe_csv_frame(frame, ("detail",))
    assert list(safe["detail"]) == ["'=1+1", "'-x", "ok"]
    assert safe["expected"].dtype == "float64" and safe["expected"].iloc[1] == -2.5


@pytest.fixture
def cli_bytes(conformance):
    """`cli_bytes(*ARGS, cwd=ROOT)`: the command line from `cwd`, its output as the UTF-8 bytes a
    process would write (encoding fails on a lone surrogate, as writing it would)."""

    def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        proc = conformance(*args, cwd=cwd)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.encode(), proc.stderr.encode()
        )

    return run


def _assert_clean(data: bytes, where: str) -> str:
    """`data` is UTF-8 with no NUL or ESC in it; its text."""
    text = data.decode("utf-8")  # strict: a lone surrogate written as bytes fails here
    assert "\x00" not in text and "\x1b" not in text, where
    return text


def test_a_lone_surrogate_nul_and_escape_in_an_error_lose_no_report(
    cli_bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = cli_bytes("run", "--engine", HOSTILE, "--suite", "examples", "--out", str(out))
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    _assert_clean(proc.stdout, "stdout")
    for name in REPORT_FILES:
        _assert_clean((out / name).read_bytes(), name)
    assert not (out / ".conformance.partial.csv").exists()  # removed: the reports are whole
    for path in (out / "failures").iterdir():
        _assert_clean(path.read_bytes(), path.name)
    with open(out / "conformance.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "error"]
    assert rows, "the engine's error became a row"
    assert "bad \ufffd byte \\x00 then \\x1b[31mred" in rows[0]["detail"]
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert meta["exit_code"] == 1 and "\\ud800" not in (out / "run.json").read_text()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_prints_an_engine_error_with_hostile_text_without_crashing(
    cli_bytes, fmt: str
) -> None:
    proc = cli_bytes("check", "exp(x)", "--at", "x=1", "--engine", HOSTILE, "--format", fmt)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    text = _assert_clean(proc.stdout, "stdout")
    if fmt == "json":
        text = json.loads(text)["detail"]
    assert "\ufffd" in text and "\\x1b[31mred" in text


def _file_engine(folder: Path, name: str) -> str:
    """A file engine `folder/name` whose exp raises a message that starts like a formula."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("from tests.engines.hostile import FormulaText as Value\n")
    return f"{folder / name}:Value"


def test_a_reproduce_command_pasted_into_a_shell_runs_nothing_a_folder_name_says(
    cli_bytes,
    tmp_path: Path,
) -> None:
    engine = _file_engine(tmp_path / "q;touch X", "mine.py")
    out = tmp_path / "out"
    proc = cli_bytes(
        "run", "--engine", engine, "--suite", "examples", "--out", str(out), cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")
    frame = pd.read_csv(out / "conformance.csv", keep_default_na=False)
    prefix = "python -m conformance run "
    for command in set(frame["reproduce"]):
        assert command.startswith(prefix), command
        echoed = subprocess.run(
            ["sh", "-c", "printf '%s\\n' " + command[len(prefix) :]],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert echoed.returncode == 0
        assert not (tmp_path / "X").exists() and not (tmp_path / "q;touch X" / "X").exists()
        argv = echoed.stdout.splitlines()
        assert argv[argv.index("--engine") + 1] == engine  # one argument, as given


def test_an_engine_command_is_reproduced_as_one_quoted_argument(tmp_path: Path) -> None:
    command = "python engine.py; touch X"
    case = Case("examples", "seed-exp", GraphSpec.from_dict(SPEC), "exp")
    line = reproduce_command(RunOptions(engine=f"command:{command}"), case)
    assert f"--engine-command '{command}'" in line
    echoed = subprocess.run(
        ["sh", "-c", "printf '%s\\n' " + line.removeprefix("python -m conformance run ")],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert not (tmp_path / "X").exists()
    assert echoed.stdout.splitlines()[:2] == ["--engine-command", command]  # one argument each


def test_engine_text_that_starts_like_a_formula_is_no_formula_in_conformance_csv(
    cli_bytes,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    proc = cli_bytes("run", "--engine", "tests.engines.hostile:FormulaText", "--suite", "examples",
                "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")
    with open(out / "conformance.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert any("=HYPERLINK" in r["detail"] for r in rows)
    for r in rows:
        for column in ("engine", "detail", "first_wrong", "hint"):
            assert not r[column].startswith(FORMULA_START), (column, r[column])
        for column in NUMERIC:
            if r[column]:
                float(r[column])  # a number, never quoted


def test_the_partial_csv_flushed_during_a_run_is_safe_too(tmp_path: Path) -> None:
    hostile = Record(
        suite="examples", case="seed-exp", engine="=engine", check="run", op="exp", expected=-1.5,
        status="error", detail="=HYPERLINK(1) \ud800\x00\x1b[31m",
        reproduce="python -m conformance run",
    )  # fmt: skip
    with PartialRows(tmp_path) as partial:
        partial.keep = True  # as when the process dies: the post-mortem must be readable
        partial.write([hostile], csv_lines([hostile]))
    text = _assert_clean((tmp_path / ".conformance.partial.csv").read_bytes(), "partial")
    (row,) = csv.DictReader(text.splitlines())
    assert row["engine"] == "'=engine" and row["detail"].startswith("'=HYPERLINK(1) \ufffd\\x00")
    assert row["expected"] == "-1.5"


@pytest.mark.parametrize("name", ["=cmd.py", "-x.py", "@sum.py", "+1.py"])
def test_grade_neutralises_file_names_that_start_like_a_formula(
    cli_bytes, name: str, tmp_path: Path
) -> None:
    _file_engine(tmp_path, name)
    proc = cli_bytes("grade", ".", "--attr", "Value", "--suite", "examples", "--out", "grades",
                cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")
    with open(tmp_path / "grades" / "grades.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    assert row["engine"] == f"'{name}:Value"  # read as text by a spreadsheet, not run
    assert "=HYPERLINK" in row["headline"]
    for column, cell in row.items():
        assert not cell.startswith(FORMULA_START), (column, cell)
    assert int(row["exit_code"]) == 1  # numbers stay numbers


def test_grade_survives_a_non_utf8_file_name_and_an_engine_error_with_hostile_text(
    cli_bytes,
    tmp_path: Path,
) -> None:
    name = os.fsdecode(b"\xffbad.py")  # "\udcffbad.py": a lone surrogate, from the disk
    (tmp_path / name).write_text("from tests.engines.hostile import HostileText as Value\n")
    # An engine that loads, beside the oddly named one (which may fail to load: a row that says so).
    (tmp_path / "hostile.py").write_text("from tests.engines.hostile import HostileText as Value\n")
    proc = cli_bytes("grade", ".", "--attr", "Value", "--suite", "examples", "--out", "grades",
                cwd=tmp_path)  # fmt: skip
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    _assert_clean(proc.stdout, "stdout")
    for report in ("grades.csv", "grades.html"):
        text = _assert_clean((tmp_path / "grades" / report).read_bytes(), report)
        assert "\ufffdbad.py" in text
    rows = list(csv.DictReader((tmp_path / "grades" / "grades.csv").read_text().splitlines()))
    assert len(rows) == 2  # the odd name is a row (loaded or not), not a crash
    (loaded,) = [r for r in rows if r["engine"].startswith("hostile.py")]
    assert "\\x1b[31mred" in loaded["headline"]
