"""A DataFrame as an HTML table, byte for byte as pandas' Styler writes it with its index hidden,
`cell_ids=False`, `escape="html"`, `na_rep=""` and classes per cell, at a tenth of its time
(the Styler was a third of a report's writing). tests/unit/test_html_table.py holds it to the
Styler's own output."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
from markupsafe import Markup, escape
from pandas.api.types import is_complex, is_float, is_integer

__all__ = ["html_table"]

Format = str | Callable[[object], str]


def html_table(
    frame: pd.DataFrame, classes: pd.DataFrame, uuid: str, formats: Mapping[str, Format]
) -> Markup:
    """`frame` as `<table id="T_UUID">`: every string cell escaped, a missing value empty, a
    column of `formats` through its format (a `str.format` string or a function), the others as
    the Styler shows them (floats to `styler.format.precision` places), and each cell's classes
    from `classes` (aligned with `frame`) after its own."""
    if isinstance(frame.columns, pd.MultiIndex) or frame.columns.name is not None:
        raise ValueError("html_table draws one row of plain column names")
    precision = pd.get_option("styler.format.precision")
    classes = classes.reindex_like(frame)
    out = [f'<table id="T_{uuid}">\n  <thead>\n    <tr>\n']
    for c, name in enumerate(frame.columns):
        out.append(
            f'      <th class="col_heading level0 col{c}" >{_default(name, precision)}</th>\n'
        )
    out.append("    </tr>\n  </thead>\n  <tbody>\n")
    shows = [_shows(formats.get(name), precision) for name in frame.columns]
    for r, (values, extra) in enumerate(
        zip(frame.itertuples(index=False, name=None), classes.itertuples(index=False, name=None))
    ):
        out.append("    <tr>\n")
        for c, (value, cls, show) in enumerate(zip(values, extra, shows)):
            more = "" if pd.isna(cls) or cls == "" else f" {cls}"
            out.append(f'      <td class="data row{r} col{c}{more}" >{show(value)}</td>\n')
        out.append("    </tr>\n")
    out.append("  </tbody>\n</table>\n")
    # Markup, deliberately: every string cell is escaped above.
    return Markup("".join(out))


def _shows(fmt: Format | None, precision: int) -> Callable[[object], str]:
    """What a cell shows: empty when missing, else its format of the value (escaped if a str)."""
    if fmt is None:
        form: Callable[[object], object] = lambda x: _default(x, precision)  # noqa: E731
    elif isinstance(fmt, str):
        form = fmt.format
    else:
        form = fmt

    def show(x: object) -> str:
        if pd.isna(x) is True:
            return ""
        return str(form(escape(x) if isinstance(x, str) else x))

    return show


def _default(x: object, precision: int) -> object:
    if is_float(x) or is_complex(x):
        return f"{x:.{precision}f}"
    return str(x) if is_integer(x) else x
