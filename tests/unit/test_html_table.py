"""The page's tables (conformance/report/html/table.py) are the bytes pandas' Styler writes for
the same frame, classes and formats: the page stayed the same when the Styler left it."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.io.formats.style import Styler

from conformance.report.html.page import _num
from conformance.report.html.table import html_table

CELLS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.text(max_size=12),  # markup characters, quotes and ampersands among them
    st.sampled_from(["<script>alert(1)</script>", "a & b", "'\"", "fail", ""]),
)
CLASSES = st.sampled_from(["", "num", "num zero", "bad", "detail", "id", "cmd", None])


def _styler(frame: pd.DataFrame, classes: pd.DataFrame, uuid: str, formats: dict) -> str:
    """How the page drew its tables before: pandas' Styler."""
    styler = Styler(frame, uuid=uuid, cell_ids=False)
    styler = styler.hide(axis="index").format(escape="html", na_rep="")
    for column, fmt in formats.items():
        styler = styler.format(fmt, subset=[column], escape="html", na_rep="")
    return (
        styler.set_td_classes(classes).to_html().replace('<style type="text/css">\n</style>\n', "")
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    names = draw(st.lists(st.sampled_from(["case", "op", "n", "x", "detail", "rows", "of tol"]),
                          min_size=1, max_size=5, unique=True))  # fmt: skip
    rows = draw(st.integers(0, 6))
    columns = {}
    for name in names:  # a column of one kind, as the page's are, or of any mix
        kind = draw(st.sampled_from([CELLS, st.floats(), st.integers(0, 10**7), st.text()]))
        columns[name] = draw(st.lists(kind, min_size=rows, max_size=rows))
    frame = pd.DataFrame(columns, columns=names)
    start = draw(st.integers(0, 50))  # a slice of a bigger frame keeps its index
    frame.index = range(start, start + rows)
    drawn = {n: draw(st.lists(CLASSES, min_size=rows, max_size=rows)) for n in names}
    classes = pd.DataFrame(drawn, index=frame.index, columns=names)
    formats = {}
    for name in names:
        values = [v for v in columns[name] if v is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            formats[name] = draw(st.sampled_from(["{:,}", None]))
        elif values and all(isinstance(v, float) for v in values):
            formats[name] = draw(st.sampled_from([_num, None]))
    return frame, classes, {k: v for k, v in formats.items() if v is not None}


@given(tables())
def test_a_table_is_the_stylers_bytes(table: tuple[pd.DataFrame, pd.DataFrame, dict]) -> None:
    frame, classes, formats = table
    assert str(html_table(frame, classes, "t", formats)) == _styler(frame, classes, "t", formats)


def test_the_page_tables_are_the_stylers_bytes() -> None:
    # The count tables (thousands, zeros) and the rows table (numbers, commands, markup).
    counts = pd.DataFrame({"suite": ["graphs", "all"], "cases": [1200, 1201], "pass": [0, 5]})
    rows = pd.DataFrame({
        "case": ["g-1", "<b>g-2</b>"], "expected": [1.5, math.nan], "actual": [1e-300, -0.0],
        "status": ["fail", "pass"], "reproduce": ["python -m conformance run --case 'a&b'", None],
    })  # fmt: skip
    for frame, formats in ((counts, {"cases": "{:,}", "pass": "{:,}"}), (rows, {"expected": _num,
                           "actual": _num})):  # fmt: skip
        classes = pd.DataFrame("num", index=frame.index, columns=frame.columns)
        assert str(html_table(frame, classes, "x", formats)) == _styler(
            frame, classes, "x", formats
        )


def test_a_named_or_nested_header_is_refused() -> None:
    frame = pd.DataFrame({"a": [1]})
    frame.columns.name = "by"
    with pytest.raises(ValueError, match="plain column names"):
        html_table(frame, frame, "x", {})
