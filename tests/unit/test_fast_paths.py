"""The fast paths of the report writers give the same cells and bytes as the cell-by-cell ones,
and a case's CSV lines the bytes pandas writes."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.core import csvrows, safetext
from conformance.core.csvrows import csv_lines
from conformance.core.records import COLUMNS, Record, Status, to_frame
from conformance.core.safetext import has_unsafe, safe_cell, safe_csv_frame, safe_frame, safe_text
from conformance.core.spec import GraphSpec, Node, SpecError
from conformance.report import writers

HOSTILE = [
    "plain",
    "",
    "café · ≈ 1e-05",
    "\ud800 lone surrogate",
    "tail \udfff",
    "nul \x00 and esc \x1b[31m",
    "del \x7f c1 \x9b",
    "cr \r only",
    "tab\tand\nnewline",
    "=SUM(A1)",
    "+1",
    "-1.5",
    "@cmd",
    "\tleading tab",
    "\rleading cr",
    "line\n=formula on the second line",
    "\x0b vertical tab",
]


def _slow_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if safetext._text_column(out[col]):
            found = safetext._strings(out[col], lambda s: s.contains(safetext._UNSAFE, regex=True))
            out[col] = safetext._where(out[col], found, safe_text)
    return out


def _slow_csv_frame(frame: pd.DataFrame, columns=safetext.CSV_TEXT_COLUMNS) -> pd.DataFrame:
    out = _slow_frame(frame)
    for col in columns:
        if col in out.columns and safetext._text_column(out[col]):
            found = safetext._strings(out[col], lambda s: s.startswith(safetext._FORMULA_START))
            out[col] = safetext._where(out[col], found, safe_cell)
    return out


@pytest.mark.parametrize("text", HOSTILE + [c * 3 for c in map(chr, range(0x00, 0xA0))])
def test_has_unsafe_is_whether_safe_text_changes_the_text(text: str) -> None:
    assert has_unsafe(text) == (safe_text(text) != text)


def _frames():
    yield pd.DataFrame({"a": ["1", "2"], "b": [1.0, 2.0]})  # nothing to fix
    for h in HOSTILE:
        yield pd.DataFrame({"detail": ["ok", h, None], "engine": [h, "e", "e"], "n": [1, 2, 3]})
        yield pd.DataFrame({"detail": pd.array(["ok", h, None], dtype="string"), "x": [0.5] * 3})
    yield pd.DataFrame({"detail": ["=x", 3, None, b"\x00", "\x00"], "hint": [1, 2, 3, 4, 5]})
    yield pd.DataFrame({"detail": [None, None]})


@pytest.mark.parametrize("frame", list(_frames()))
def test_fast_safe_frames_match_the_cell_by_cell_ones(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(safe_frame(frame), _slow_frame(frame))
    pd.testing.assert_frame_equal(safe_csv_frame(frame), _slow_csv_frame(frame))
    safe = safe_frame(frame)
    pd.testing.assert_frame_equal(safe_csv_frame(safe, is_safe=True), _slow_csv_frame(frame))
    assert safe_csv_frame(frame).to_csv() == _slow_csv_frame(frame).to_csv()


def _record(text: str, **kw) -> Record:
    fields = dict(suite="graphs", case="g-1", engine="e", check="grad", status="fail")
    fields.update(kw)
    return Record(detail=text, hint=text, reproduce=text, node=text, expected=1.5, **fields)


def _slow_lines(rows: list[Record]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([csvrows._cell_by_cell(c, v) for c, v in zip(COLUMNS, r.__dict__.values())])
    return buf.getvalue()


def _pandas_lines(rows: list[Record]) -> str:
    """conformance.csv's bytes for the rows, as the reports write them, less the header."""
    buf = io.StringIO()
    writers.write_csv(safe_frame(to_frame(rows)), buf)
    return buf.getvalue().split("\n", 1)[1]


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_lines_are_pandas_bytes(text: str) -> None:
    rows = [_record("fine"), _record(text), _record("x", engine=text, actual=float("nan"))]
    for some in (rows, rows[:1], rows[1:]):
        assert csv_lines(some) == (_pandas_lines(some), True)


def test_csv_lines_of_cells_pandas_writes_by_column_are_safe_but_not_exact() -> None:
    for rows in (
        [_record("ok", blame=["\x00", "a"]), _record("ok", kind={"k\x1b": ("\ud800",)})],
        [_record("ok", ulp="3")],  # a number given as text: pandas converts the column
        [_record("ok", first_wrong=7)],
    ):
        assert csv_lines(rows) == (_slow_lines(rows), False)


def test_csv_lines_write_ints_and_bools_in_number_columns_as_pandas_does() -> None:
    rows = [_record("ok", ulp=3, abs_err=True, tolerance=10**20), _record("ok", ulp=None)]
    assert csv_lines(rows) == (_pandas_lines(rows), True)


_TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8))
_NUMBER = st.one_of(st.none(), st.floats(), st.integers(-(2**60), 2**60), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, _NUMBER, _NUMBER, _NUMBER), min_size=1, max_size=4))
def test_exact_csv_lines_are_always_pandas_bytes(cells) -> None:
    rows = [
        Record(suite="graphs", case="g", engine=engine, check="grad", status=Status.FAIL,
               detail=detail, first_wrong=detail, expected=a, actual=b, ulp=c)
        for engine, detail, a, b, c in cells
    ]  # fmt: skip
    lines = csv_lines(rows)
    assert lines.exact
    assert lines.text == _pandas_lines(rows)


def test_the_partial_csv_reads_back_as_the_frame_does(tmp_path) -> None:
    rows = [_record(t) for t in HOSTILE]
    (tmp_path / "p.csv").write_text(
        ",".join(COLUMNS) + "\n" + csv_lines(rows).text, encoding="utf-8"
    )
    expected = safe_csv_frame(to_frame(rows))
    got = pd.read_csv(tmp_path / "p.csv", keep_default_na=False, dtype=str)
    assert list(got["detail"]) == list(expected["detail"])


@pytest.mark.parametrize(
    "nodes, output",
    [
        ((Node("add", ("x0", "x01")),), "n0"),  # an odd spelling: still valid, as before
        ((Node("add", ("x0", "n0")),), "n0"),  # reads itself
        ((Node("add", ("x0", "n1")), Node("neg", ("x0",))), "n1"),  # a later node
        ((Node("add", ("x0", "x9")),), "n0"),  # no such leaf
        ((Node("add", ("x0", "c0")),), "n0"),  # no such constant
        ((Node("add", ("x0", ["x0"])),), "n0"),  # not a str
        ((Node("add", ("c0", "c0")),), "n0"),
        ((Node("add", ("x0", "y0")),), "n0"),
    ],
)
def test_the_fast_reference_check_accepts_and_refuses_as_before(nodes, output) -> None:
    def slow_ok() -> str | None:
        spec = object.__new__(GraphSpec)
        for k, v in dict(leaves=(1.0,), nodes=nodes, output=output, consts=()).items():
            object.__setattr__(spec, k, v)
        try:
            for i, node in enumerate(nodes):
                for ref in node.args:
                    spec._check_ref(ref, before=i, where=f"node n{i}")
        except SpecError as exc:
            return str(exc)
        return None

    expected = slow_ok()
    try:
        GraphSpec(leaves=(1.0,), nodes=nodes, output=output)
        got = None
    except SpecError as exc:
        got = str(exc)
    if expected is None:
        assert got is None or "only constants" in got or "neg" in got
    else:
        assert got == expected
