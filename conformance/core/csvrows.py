"""A case's rows as lines of conformance.csv, written where the case is checked.

The lines are the bytes pandas writes for the same rows in `report.writers` (a float as its
shortest repr, a missing number as an empty cell, text made safe as `core.safetext` makes it),
so that the file flushed as the run goes becomes conformance.csv itself, and `--jobs` checker
processes, not the run's own, spend the time formatting. A row with a cell whose pandas form
depends on the rest of its column (an int or a container in a text column, a number given as
text) is written cell by cell, safe but not promised identical: `exact` says which.
"""

from __future__ import annotations

import csv
import io
import math
import operator
from functools import partial
from typing import Any, NamedTuple

from conformance.core.records import COLUMNS, NUMBER_COLUMNS, Record, Status
from conformance.core.safetext import (
    _FORMULA_START,
    CSV_TEXT_COLUMNS,
    has_unsafe,
    safe_cell,
    safe_data,
    safe_text,
)

__all__ = ["CsvLines", "csv_lines"]

_NUMBER_INDEX = tuple(COLUMNS.index(c) for c in NUMBER_COLUMNS)
_TEXT_INDEX = tuple(COLUMNS.index(c) for c in CSV_TEXT_COLUMNS)
_INT_LIKE = frozenset({int, bool})
# The cells the csv module writes as pandas does: a float as its repr (NaN aside), None empty.
_PLAIN_NUMBER = frozenset({float, type(None)})
_PLAIN_TEXT = frozenset({str, Status, type(None)})
_NOT_NONE = partial(operator.is_not, None)
_IS_NUMBER = tuple(i in _NUMBER_INDEX for i in range(len(COLUMNS)))


class CsvLines(NamedTuple):
    """A case's rows as lines of conformance.csv, and whether they are the bytes pandas writes."""

    text: str
    exact: bool


class _NotExact(Exception):
    pass


def _number(value: Any) -> str:
    """A cell of a float64 column as pandas writes it: NaN and None empty, else the repr."""
    if value is None:
        return ""
    if value.__class__ is float:
        return "" if value != value else repr(value)
    if value.__class__ in _INT_LIKE:
        try:
            return repr(float(value))
        except OverflowError:
            raise _NotExact from None
    raise _NotExact  # text, a numpy scalar, a container: as pandas converts the column


def _text(value: Any, formula: bool) -> str:
    """A cell of a text column as `safe_csv_frame` leaves it: safe text, formulas neutralised
    in the columns of outside text; None empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _NotExact  # an int or a container: pandas' form depends on the whole column
    if has_unsafe(value):
        value = safe_text(value)
    if formula and value.startswith(_FORMULA_START):
        value = "'" + value
    return value


_CELLS = tuple(
    _number if i in _NUMBER_INDEX else (lambda v, f=(i in _TEXT_INDEX): _text(v, f))
    for i in range(len(COLUMNS))
)


def csv_lines(rows: list[Record]) -> CsvLines:
    """The rows' lines of conformance.csv (no header), and whether they are pandas' bytes."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    values = [tuple(r.__dict__.values()) for r in rows]
    if _plain(values):  # nearly every case: the csv module writes the rows as they are
        writer.writerows(values)
        text = buf.getvalue()
        if not has_unsafe(text):
            return CsvLines(text, True)
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
    try:
        writer.writerows([cell(v) for cell, v in zip(_CELLS, r.__dict__.values())] for r in rows)
        return CsvLines(buf.getvalue(), True)
    except _NotExact:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(
            [_cell_by_cell(c, v) for c, v in zip(COLUMNS, r.__dict__.values())] for r in rows
        )
        return CsvLines(buf.getvalue(), False)


def _plain(values: list[tuple]) -> bool:
    """Whether every number is a float but NaN or None, every text a str or None, and no cell
    of outside text starts as a formula: cells the csv module writes as pandas does."""
    for is_number, column in zip(_IS_NUMBER, zip(*values)):
        kinds = set(map(type, column))
        if is_number:
            if not kinds <= _PLAIN_NUMBER or any(map(math.isnan, filter(_NOT_NONE, column))):
                return False
        elif not kinds <= _PLAIN_TEXT:
            return False
    firsts = {v[i][:1] for v in values for i in _TEXT_INDEX if v[i]}
    return firsts.isdisjoint(_FORMULA_START)


def _cell_by_cell(column: str, value: object) -> object:
    """One cell made safe, whatever it holds (see core.safetext)."""
    if value is None:
        return ""
    return safe_cell(value) if column in CSV_TEXT_COLUMNS else safe_data(value)
