"""Text from engines and file names made safe to write: to UTF-8 files, terminals and CSV cells.

An engine's error message, its name or a graded file's name can hold anything a Python str can:
a lone surrogate (valid in Python and in JSON's `\\ud800`, but not encodable as UTF-8, so writing
it raises and loses the report), NUL (which ends C strings and is invalid in XML), ESC (which
recolours or rewrites a terminal), or a leading `=` that a spreadsheet runs as a formula.

The text is made safe where it is written rather than where it enters: it enters in many places
(exceptions, skip reasons, probe answers, protocol replies, engine and file names), and a writer
that cleans what it writes cannot be bypassed by the next place added.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas only where frames are written: `check` and `replay` start faster
    import pandas as pd

__all__ = [
    "CSV_TEXT_COLUMNS",
    "has_unsafe",
    "safe_cell",
    "safe_csv_frame",
    "safe_data",
    "safe_frame",
    "safe_text",
]

# Lone surrogates: U+FFFD, as a UTF-8 decoder does with bytes it cannot read.
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but tab and newline, DEL and C1 (0x9b is a CSI on some terminals): a visible escape.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Either of the two, in one pattern: a frame's columns are searched for it in one vectorised pass.
_UNSAFE = f"{_SURROGATE.pattern[:-1]}{_CONTROL.pattern[1:]}"
# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The columns of conformance.csv that carry an engine's text (or name) rather than our own.
CSV_TEXT_COLUMNS = ("engine", "detail", "first_wrong", "hint")


def safe_text(text: str) -> str:
    """`text` with lone surrogates as U+FFFD, control characters (not tab, newline) as `\\xNN`."""
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def safe_cell(value: Any) -> Any:
    """A CSV cell: text made safe, and a spreadsheet formula neutralised by a leading `'`;
    anything but text (numbers above all) as it is."""
    if not isinstance(value, str):
        return value
    value = safe_text(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def safe_data(data: Any) -> Any:
    """Every str in plain data (dicts, lists, tuples), keys too, made safe."""
    if isinstance(data, str):
        return safe_text(data)
    if isinstance(data, dict):
        return {safe_data(k): safe_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        items = [safe_data(v) for v in data]
        return items if isinstance(data, list) else tuple(items)
    return data


def _text_column(column: pd.Series) -> bool:
    """Whether a column may hold text (object or str dtype); numbers are never touched."""
    import pandas as pd

    return not (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column)
    )


def _where(column: pd.Series, found: pd.Series, fix: Any) -> pd.Series:
    """`column` with `fix` applied to the cells where `found`; the rest as they are."""
    if not found.any():
        return column
    column = column.copy()
    column[found] = column[found].map(fix)
    return column


def _strings(column: pd.Series, test: Any) -> pd.Series:
    """A boolean mask of the str cells of `column` that pass `test` (a .str method), vectorised:
    a 200,000-row report is searched in a fraction of a second, not cell by cell."""
    try:
        return test(column.str).fillna(False).astype(bool)
    except AttributeError:  # no str cells at all (say, a column of None): nothing to fix
        return pd.Series(False, index=column.index)


# What `safe_text` leaves as it is in ASCII text: tab, newline and the printable characters.
_ASCII_SAFE = bytes([9, 10, *range(0x20, 0x7F)])
_UNSAFE_RE = re.compile(_UNSAFE)


def has_unsafe(text: str) -> bool:
    """Whether `safe_text` would change `text`: for ASCII text (nearly every report) a C pass
    over its bytes, many times faster than the regex, which searches the rest."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_SAFE))
    return _UNSAFE_RE.search(text) is not None


def _str_cells(column: pd.Series) -> list[str]:
    """The str cells of `column` (those the `.str` methods act on), in order."""
    values = column.to_numpy()
    try:
        "".join(values)  # every cell a str (the common case): no per-cell test
    except TypeError:
        return [v for v in values if isinstance(v, str)]
    return list(values)


def _clean_text(column: pd.Series) -> bool:
    """Whether no str cell of `column` holds what `safe_text` changes, in one search of their
    text joined by newlines (which it keeps): most columns have nothing to fix, and are then
    passed through without a pass per cell."""
    return not has_unsafe("\n".join(_str_cells(column)))


def _no_formula(column: pd.Series) -> bool:
    """Whether no str cell of `column` starts as a formula."""
    firsts = {v[:1] for v in _str_cells(column)}
    return firsts.isdisjoint(_FORMULA_START)


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell made safe; numeric columns untouched."""
    out = frame.copy()
    for col in out.columns:
        if not _text_column(out[col]) or _clean_text(out[col]):
            continue  # nothing to fix: the cell-by-cell pass below would change nothing
        found = _strings(out[col], lambda s: s.contains(_UNSAFE, regex=True))
        out[col] = _where(out[col], found, safe_text)
    return out


def safe_csv_frame(
    frame: pd.DataFrame, columns: tuple[str, ...] = CSV_TEXT_COLUMNS, *, is_safe: bool = False
) -> pd.DataFrame:
    """`frame` made safe, and formulas neutralised in `columns` (those holding outside text).
    `is_safe`: the frame is already `safe_frame`'s (which a second pass leaves as it is), and
    only the formulas are left to neutralise, in a copy."""
    out = frame.copy() if is_safe else safe_frame(frame)
    for col in columns:
        if col in out.columns and _text_column(out[col]):
            if _no_formula(out[col]):
                continue  # no cell starts as a formula
            found = _strings(out[col], lambda s: s.startswith(_FORMULA_START))
            out[col] = _where(out[col], found, safe_cell)
    return out
