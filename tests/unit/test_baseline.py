"""`run --baseline DIR`: new failures, fixed ones, grown errors; bad folders refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.options import RunOptions
from conformance.core.records import Record, to_frame
from conformance.report.baseline import FLOOR, GROWTH, BaselineError, compare, load


def _row(case: str, status: str, abs_err: float = 0.0, node: str = "x0", tol: float = 1.0):
    return Record(
        suite="graphs", case=case, engine="e", check="grad", node=node, op="mul", expected=1.0,
        actual=1.0 + abs_err, abs_err=abs_err, rel_err=abs_err, ulp=abs_err * 1e15,
        tolerance=tol, status=status, detail=f"{case} {status}",
    )  # fmt: skip


def _write(folder: Path, records: list[Record], meta: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    to_frame(records).to_csv(folder / "conformance.csv", index=False)
    if meta is not None:
        (folder / "run.json").write_text(json.dumps(meta))
    return folder


def test_new_fixed_and_grown_rows_are_told_apart(tmp_path: Path) -> None:
    before = [
        _row("a", "pass"),
        _row("b", "fail", 5.0),
        _row("c", "pass", 0.01),  # grows past the floor: listed
        _row("d", "pass", 1e-6),  # grows 10x but stays far below the tolerance: not listed
        _row("e", "pass", 0.2),  # grows less than GROWTH: not listed
        _row("gone", "fail", 5.0),
        _row("c", "pass", 0.0, node=""),  # a row with an empty node reads back as ""
    ]
    now = [
        _row("a", "fail", 3.0),
        _row("b", "pass"),
        _row("c", "pass", 0.5),
        _row("d", "pass", 1e-5),
        _row("e", "pass", 0.3),
        _row("new", "error"),
        _row("c", "pass", 0.0, node=""),
    ]
    base = load(_write(tmp_path / "base", before, {"engine": "e", "options": {"seed": 1}}))
    got = compare(base, to_frame(now), RunOptions(engine="e", seed=2))
    assert list(got.new_failures["case"]) == ["a", "new"]
    assert list(got.new_failures["before"]) == ["pass", "(absent)"]
    assert list(got.fixed["case"]) == ["b"]
    assert list(got.grown["case"]) == ["c"]
    assert got.grown["growth"].iloc[0] == pytest.approx(50.0)
    assert got.grown["of_tolerance"].iloc[0] >= FLOOR and GROWTH == 2.0
    assert got.compared == 6
    assert any("seed was 1, now 2" in n for n in got.notes)
    assert any("1 rows of the baseline were not run" in n for n in got.notes)
    assert got.summary().startswith("2 new failures, 1 fixed, 1 error grown against ")
    data = got.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["new_failures"] == 2 and data["lists"]["fixed"][0]["case"] == "b"


def test_an_error_from_zero_counts_as_grown_when_it_matters(tmp_path: Path) -> None:
    base = load(_write(tmp_path / "b", [_row("a", "pass", 0.0)]))
    got = compare(base, to_frame([_row("a", "pass", 0.4)]))
    assert math.isinf(got.grown["growth"].iloc[0])
    assert not compare(base, to_frame([_row("a", "pass", 0.0)])).changed


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda d: None, "is not a folder"),
        (lambda d: d.mkdir(), "has no conformance.csv"),
        (
            lambda d: (d.mkdir(), (d / "conformance.csv").write_bytes(b"\xff\xfe\x00")),
            "cannot read",
        ),
        (lambda d: (d.mkdir(), (d / "conformance.csv").write_text("a,b\n1,2\n")), "no column"),
        (
            lambda d: (_write(d, [_row("a", "pass")]), (d / "run.json").write_text("{oops")),
            "cannot read",
        ),
        (lambda d: _write(d, [_row("a", "pass"), _row("a", "pass")]), "lists a row twice"),
    ],
)
def test_bad_baselines_are_refused_in_one_line(setup, needle: str, tmp_path: Path) -> None:
    folder = tmp_path / "base"
    setup(folder)
    with pytest.raises(BaselineError, match=needle) as info:
        load(folder)
    assert "\n" not in str(info.value)


def test_the_cli_refuses_a_missing_baseline_before_running(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    proc = conformance("run", "--baseline", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "is not a folder")
    assert not (tmp_path / "o" / "conformance.csv").exists()


def test_a_run_against_its_own_folder_reports_no_change(conformance, tmp_path: Path) -> None:
    args = ("run", "--suite", "edges", "--out", str(tmp_path))
    assert conformance(*args).returncode == 0
    proc = conformance(*args, "--baseline", str(tmp_path))  # read before the folder is cleared
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS (gradients correct): ")
    assert "(0 new failures, 0 fixed, 0 errors grown against" in last
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["baseline"]["compared"] == len(pd.read_csv(tmp_path / "conformance.csv"))
    assert "Against the baseline" in (tmp_path / "conformance.html").read_text()
