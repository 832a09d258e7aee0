"""`grade --jobs N` and `grade --shard K/N` + `merge`: the same table as one plain `grade`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conformance.core.options import RunOptions
from conformance.core.spec import SpecError
from conformance.run.grade import grade, merge_grades, shard_of

CORPUS = Path(__file__).resolve().parents[1] / "engines" / "corpus"
ENGINES = [
    f"{CORPUS / 'lecture_tanh.py'}:Value",
    f"{CORPUS / 'mul_grad_swapped.py'}:Value",
    f"{CORPUS / 'relu_max.py'}:Value",
]
OPTIONS = RunOptions(suites=("examples", "graphs"), cases=4, jobs=1)


def _portable(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """The table with OUT taken out of its paths: tables of different folders compare."""
    table = table.copy()
    for column in ("report", "reproducer"):
        table[column] = table[column].fillna("").astype(str).str.replace(str(out), "OUT")
    return table.reset_index(drop=True)


def test_shards_cover_every_engine_once() -> None:
    engines = [f"e{i}" for i in range(7)]
    slices = [shard_of(engines, (k, 3)) for k in (1, 2, 3)]
    assert [e for s in slices for e in s] == engines
    assert shard_of(engines, None) == engines


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("serial")
    return grade(ENGINES, OPTIONS, out), out


def test_jobs_give_the_serial_table(serial, tmp_path: Path) -> None:
    table, out = serial
    assert list(table["verdict"]) == ["PASS", "FAIL", "PASS"]
    parallel = grade(ENGINES, OPTIONS, tmp_path, jobs=2)
    pd.testing.assert_frame_equal(_portable(parallel, tmp_path), _portable(table, out))
    assert (tmp_path / "grades.csv").read_text().replace(str(tmp_path), "OUT") == (
        out / "grades.csv"
    ).read_text().replace(str(out), "OUT")


def test_shards_merge_into_the_serial_table(serial, tmp_path: Path) -> None:
    table, out = serial
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for k, folder in enumerate(shards, 1):
        part = grade(ENGINES, OPTIONS, folder, shard=(k, 2))
        assert len(part) == len(shard_of(ENGINES, (k, 2)))
    merged = merge_grades(list(reversed(shards)), tmp_path / "merged")
    assert list(merged["engine"]) == list(table["engine"])
    merged_csv = (tmp_path / "merged" / "grades.csv").read_text()
    assert merged_csv.replace(str(tmp_path / "merged"), "OUT") == (out / "grades.csv").read_text(
    ).replace(str(out), "OUT")  # fmt: skip
    for report in merged["report"]:  # each engine's reports came along, beside the table
        assert Path(report).is_file() and Path(report).parent.parent == tmp_path / "merged"


def test_merge_refuses_a_missing_shard_and_other_options(tmp_path: Path) -> None:
    one = tmp_path / "s1"
    grade(ENGINES[:2], OPTIONS, one, shard=(1, 2))
    with pytest.raises(SpecError, match=r"give each of 1/2\.\.2/2 once"):
        merge_grades([one], tmp_path / "merged")
    other = tmp_path / "s2"
    grade(ENGINES[:2], RunOptions(suites=("examples",), cases=4, jobs=1), other, shard=(2, 2))
    with pytest.raises(SpecError, match="other options"):
        merge_grades([one, other], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()  # nothing written before everything is checked


def test_merge_refuses_a_grade_shard_among_run_shards(conformance, tmp_path: Path) -> None:
    grade(ENGINES[:1], OPTIONS, tmp_path / "g", shard=(1, 2))
    (tmp_path / "r").mkdir()
    proc = conformance("merge", str(tmp_path / "g"), str(tmp_path / "r"), "--out",
                       str(tmp_path / "m"))  # fmt: skip
    assert proc.returncode == 2
    assert "is a shard of `grade`" in proc.stderr and proc.stderr.count("\n") == 1
