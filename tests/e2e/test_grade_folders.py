"""`grade`: every engine's reports go to a folder of its own, with a safe name that cannot take the
place of grades.csv, and a strange file name fails at most its own engine, never the class."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conformance.run.grade import OWN_FILES, report_folders
from tests.helpers import ROOT

ALT = (ROOT / "tests" / "engines" / "alt.py").read_bytes()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["grades.csv.py"], ["grades_csv"]),
        (["grades.py", "grades.html.py"], ["grades", "grades_html"]),
        (["a-b.py", "a_b.py"], ["a-b", "a_b"]),
        (["a b.py", "a+b.py", "a_b.py"], ["a_b", "a_b-2", "a_b-3"]),
        (["Alice.py", "alice.py"], ["Alice", "alice-2"]),  # one folder on a case-blind disk
        (["\udcff.py", "\udcfe.py"], ["engine", "engine-2"]),  # non-UTF-8 bytes, surrogates
        (["..py", "-.py"], ["engine", "-"]),
    ],
)
def test_report_folders_are_unique_and_safe(files: list[str], expected: list[str]) -> None:
    engines = [f"/class/{name}:Value" for name in files]
    folders = report_folders(engines)
    assert [folders[e] for e in engines] == expected
    for name in folders.values():
        assert name.isascii() and "/" not in name and name not in (".", "..")
        assert name.casefold() not in {f.casefold() for f in OWN_FILES}


def test_a_class_with_colliding_and_non_utf8_names_is_graded_whole(
    conformance, tmp_path: Path
) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    names = [b"grades.csv.py", b"\xff.py", b"a-b.py", b"a_b.py", b"Alice.py", b"alice.py"]
    for name in names:
        (Path(os.fsdecode(os.fsencode(folder) + b"/" + name))).write_bytes(ALT)
    out = tmp_path / "out"
    proc = conformance(
        "grade", str(folder), "--suite", "examples", "--cases", "0", "--out", str(out)
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "grades.csv").is_file() and (out / "grades.html").is_file()
    table = pd.read_csv(out / "grades.csv", keep_default_na=False)
    assert len(table) == len(names)
    assert (table["verdict"] != "").all()
    reports = [r for r in table["report"] if r]
    assert len(set(reports)) == len(reports)  # no two engines share a report folder
    # The five ordinary names load and pass: the strange one hurts none of them. (The \xff file
    # may not load, as Python cannot compile a file whose name is not UTF-8; it says so.)
    ran = table[table["report"] != ""]
    assert len(ran) >= len(names) - 1 and (ran["verdict"] == "PASS").all()
    assert all((out / Path(r).parent.name).is_dir() for r in ran["report"])
