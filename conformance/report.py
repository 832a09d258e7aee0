"""Reports: the CSV of every record, the summary CSV, run.json, and a plain HTML page."""

from __future__ import annotations

import html
import json
import platform
from pathlib import Path

import pandas as pd

from conformance.records import COLUMNS, STATUSES
from conformance.spec import SCHEMA_VERSION

__all__ = ["summarize", "write_reports"]


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts by suite, op and status, one column per status, in a fixed order."""
    if frame.empty:
        return pd.DataFrame(columns=["suite", "op", *STATUSES, "rows"])
    table = frame.groupby(["suite", "op", "status"]).size().unstack("status", fill_value=0)
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table["rows"] = table.sum(axis=1)
    table.columns.name = None
    return table.reset_index().sort_values(["suite", "op"], kind="stable").reset_index(drop=True)


def _versions() -> dict:
    import torch

    from conformance import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pandas": pd.__version__,
        "backprop-conformance": __version__,
    }


def write_reports(outcome, options, out: Path) -> dict[str, Path]:
    """Write every report into `out`; returns the paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    frame = outcome.frame
    paths = {
        "csv": out / "conformance.csv",
        "summary": out / "summary.csv",
        "json": out / "run.json",
        "html": out / "conformance.html",
    }
    frame.to_csv(paths["csv"], index=False, columns=list(COLUMNS), lineterminator="\n")
    summary = summarize(frame)
    summary.to_csv(paths["summary"], index=False, lineterminator="\n")
    counts = {s: int((frame["status"] == s).sum()) for s in STATUSES} if len(frame) else {}
    meta = {
        "schema": SCHEMA_VERSION,
        "engine": options.engine,
        "engine_name": outcome.engine_name,
        "options": {
            "suites": list(options.suites),
            "cases": options.cases,
            "seed": options.seed,
            "max_nodes": options.max_nodes,
            "jobs": options.jobs,
            "timeout": options.timeout,
            "only": list(options.only),
        },
        "versions": _versions(),
        "cases": outcome.cases,
        "rows": len(frame),
        "counts": counts,
        "exit_code": outcome.exit_code,
        "verdict": outcome.message,
        "interrupted": outcome.interrupted,
        "elapsed_s": round(outcome.elapsed, 3),
    }
    paths["json"].write_text(json.dumps(meta, indent=2) + "\n")
    paths["html"].write_text(_html(frame, summary, meta))
    return paths


# The HTML table leaves out what the page header already says (engine) and the error columns
# that the CSV keeps; the reproduce command stays, for copying.
_HTML_COLUMNS = (
    "suite", "case", "check", "node", "op", "expected", "actual", "fd", "tolerance", "status",
    "detail", "reproduce",
)  # fmt: skip


def _html(frame: pd.DataFrame, summary: pd.DataFrame, meta: dict) -> str:
    ok = meta["exit_code"] == 0
    colour = "#1a7f37" if ok else "#cf222e"
    not_passed = frame[frame["status"] != "pass"] if len(frame) else frame
    shown = not_passed.head(500)[list(_HTML_COLUMNS)]
    rows_html = (
        shown.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.6g}")
        if len(shown)
        else "<p>Every row passed.</p>"
    )
    more = f"<p>{len(not_passed) - len(shown)} more rows in conformance.csv.</p>" * (
        len(not_passed) > len(shown)
    )
    options = html.escape(json.dumps(meta["options"]))
    versions = html.escape(", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Conformance: {html.escape(meta["engine"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.5em; vertical-align: top; }}
td:nth-last-child(2) {{ min-width: 30em; }}
td:last-child {{ font-family: monospace; font-size: 0.85em; }}
.verdict {{ color: {colour}; font-size: 1.6em; font-weight: bold; }}
</style></head><body>
<h1>Backprop conformance: {html.escape(meta["engine"])}</h1>
<p class="verdict">{html.escape(meta["verdict"])}</p>
<p>Seed {meta["options"]["seed"]}; options {options}; {versions}.</p>
<h2>By suite and op</h2>
{summary.to_html(index=False)}
<h2>Rows that did not pass</h2>
{rows_html}
{more}
</body></html>
"""
