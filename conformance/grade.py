"""`python -m conformance grade DIR`: many engines, the same cases, one comparison table.

Each `*.py` file in DIR is one engine (`FILE.py:Value` unless `--attr` names another class or
function); `--engine` adds more. Every engine gets its own full reports in OUT/<name>/, and the
comparison goes to OUT/grades.csv and OUT/grades.html: engines as rows; the verdict, pass rates by
suite and by op, the first failing op with its hint, and the minimal reproducer.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from conformance.engines import EngineLoadError
from conformance.options import RunOptions
from conformance.report import _atomic, prepare_out, write_reports
from conformance.runner import run
from conformance.vocabulary import OPS

__all__ = ["engines_in", "grade"]

JUDGED = ("pass", "fail", "error", "xfail", "xpass")


def engines_in(folder: Path, attr: str) -> list[str]:
    """`FILE.py:ATTR` for every Python file in `folder`, in name order."""
    return [f"{p}:{attr}" for p in sorted(folder.glob("*.py")) if p.is_file()]


def _slug(engine: str) -> str:
    stem = Path(engine.rpartition(":")[0]).stem if ".py:" in engine else engine
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:80] or "engine"


def _rate(rows: pd.DataFrame) -> float | None:
    judged = rows[rows["status"].isin(JUDGED)]
    if judged.empty:
        return None
    return round(float((judged["status"].isin(("pass", "xfail"))).mean()), 4)


def _grade_one(engine: str, options: RunOptions, out: Path) -> dict:
    row: dict = {"engine": engine}
    folder = out / _slug(engine)
    try:
        prepare_out(folder)
        outcome = run(replace(options, engine=engine, out=str(folder)))
        paths = write_reports(outcome, replace(options, engine=engine), folder)
    except EngineLoadError as exc:
        row.update(verdict="COULD NOT LOAD", exit_code=2, first_failing_op="", hint=str(exc))
        return row
    frame = outcome.frame
    row.update(verdict=outcome.message.split(":")[0], exit_code=outcome.exit_code)
    row["pass_rate"] = _rate(frame)
    for suite in options.suites:
        row[f"suite:{suite}"] = _rate(frame[frame["suite"] == suite])
    for op in OPS:
        row[f"op:{op}"] = _rate(frame[frame["op"] == op])
    # The first failure that names a vocabulary op (a neuron case names only its configuration).
    named = [f for f in outcome.failures if set(f.key[0].split(",")) <= set(OPS)]
    first = (named or outcome.failures or [None])[0]
    bad = frame[frame["status"].isin(("fail", "error", "xpass"))]
    row["first_failing_op"] = first.key[0] if first else (bad["op"].iloc[0] if len(bad) else "")
    hints = [r.hint for r in (first.rows if first else ()) if r.hint]
    row["hint"] = hints[0] if hints else (bad["detail"].iloc[0][:200] if len(bad) else "")
    row["reproducer"] = str(paths["failures"][0]) if paths["failures"] else ""
    row["report"] = str(paths["html"])
    return row


def grade(
    engines: Sequence[str],
    options: RunOptions,
    out: Path,
    progress: Callable[[str, dict], None] | None = None,
) -> pd.DataFrame:
    """Check every engine on the same cases; write the comparison; return it."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for engine in engines:
        row = _grade_one(engine, options, out)
        rows.append(row)
        if progress is not None:
            progress(engine, row)
    table = pd.DataFrame(rows)
    # What a teacher reads first: the verdict, the first failing op and why; then the rates.
    first = ["engine", "verdict", "pass_rate", "first_failing_op", "hint"]
    last = ["reproducer", "report", "exit_code"]
    middle = [c for c in table.columns if c not in first and c not in last]
    table = table.reindex(columns=first + middle + last)
    _atomic(out / "grades.csv", lambda p: table.to_csv(p, index=False, lineterminator="\n"))
    _atomic(out / "grades.html", lambda p: p.write_text(_html(table, options)))
    return table


def _cell(value: object) -> str:
    if isinstance(value, float) and not pd.isna(value):
        colour = "#d1f2d9" if value == 1.0 else ("#fde2c0" if value >= 0.9 else "#f9c6c6")
        return f'<td style="background:{colour}">{value:.0%}</td>'
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "<td></td>"
    return f"<td>{html.escape(str(value))}</td>"


def _html(table: pd.DataFrame, options: RunOptions) -> str:
    columns = [c for c in table.columns if c != "exit_code"]
    columns = [c for c in columns if not c.startswith("op:") or table[c].notna().any()]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row[c]) for c in columns) + "</tr>" for _, row in table.iterrows()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grades</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.4em; vertical-align: top; }}
</style></head><body>
<h1>Grades: {len(table)} engines, the same cases</h1>
<p>Seed {options.seed}, {options.cases} random graphs, suites {", ".join(options.suites)}. Pass
rates count pass and xfail among judged rows; each engine's full report is linked in the last
column.</p>
<table><tr>{head}</tr>{body}</table>
</body></html>
"""
