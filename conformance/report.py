"""Reports: the CSV of every record, the summary CSV, run.json, and a plain HTML page."""

from __future__ import annotations

import contextlib
import csv
import html
import json
import os
import platform
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

import pandas as pd

from conformance.coverage import coverage_frame
from conformance.records import COLUMNS, STATUSES
from conformance.report_neurons import seed_section, training_section
from conformance.reproducers import write_failures
from conformance.spec import SCHEMA_VERSION
from conformance.training import training_table

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


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file and rename: a report is whole or absent, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


REPORT_FILES = (
    "conformance.csv", "summary.csv", "coverage.csv", "run.json", "conformance.html", "junit.xml",
    "training.csv",
)  # fmt: skip
PARTIAL = ".conformance.partial.csv"


def prepare_out(out: Path) -> None:
    """Make `out`, prove it writable, and remove the last run's reports: a run that dies leaves
    no report behind that a CI step could mistake for this run's. OSError when not writable."""
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".write-probe"
    probe.write_text("")
    probe.unlink()
    for name in REPORT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    failures = out / "failures"
    if failures.is_dir():
        for f in failures.iterdir():
            if f.suffix in (".json", ".py"):
                f.unlink()


class PartialRows:
    """Rows flushed to `DIR/.conformance.partial.csv` as cases finish; removed once the reports
    are written, kept if the process dies (for a post-mortem)."""

    def __init__(self, out: Path) -> None:
        self.path = out / PARTIAL
        self.keep = False

    def __enter__(self) -> PartialRows:
        self._file = open(self.path, "w", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        return self

    def write(self, rows: list) -> None:
        """Append one case's rows and flush them to disk."""
        for r in rows:
            self._writer.writerow(["" if v is None else v for v in astuple(r)])
        self._file.flush()

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        if not self.keep:
            with contextlib.suppress(OSError):
                self.path.unlink()


def write_reports(outcome, options, out: Path) -> dict:
    """Write every report into `out`; returns the paths by kind. Raises OSError, writing nothing
    half: a report that cannot be written whole is left as it was."""
    out.mkdir(parents=True, exist_ok=True)
    frame = outcome.frame
    paths = {
        "csv": out / "conformance.csv",
        "summary": out / "summary.csv",
        "json": out / "run.json",
        "html": out / "conformance.html",
        "training": out / "training.csv",
    }
    failure_files = write_failures(outcome.failures, out, options.engine)
    _atomic(
        paths["csv"],
        lambda p: frame.to_csv(p, index=False, columns=list(COLUMNS), lineterminator="\n"),
    )
    summary = summarize(frame)
    _atomic(paths["summary"], lambda p: summary.to_csv(p, index=False, lineterminator="\n"))
    coverage = coverage_frame(outcome.unsupported)
    paths["coverage"] = out / "coverage.csv"
    _atomic(paths["coverage"], lambda p: coverage.to_csv(p, index=False, lineterminator="\n"))
    curves = training_table(frame)  # the loss curves of the training suite, step by step
    _atomic(paths["training"], lambda p: curves.to_csv(p, index=False, lineterminator="\n"))
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
    meta["failures"] = [str(p) for p in failure_files]
    meta["warnings"] = list(outcome.warnings)
    meta["unsupported"] = sorted(set(coverage[~coverage["supported"]]["form"]))
    _atomic(paths["json"], lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    _atomic(paths["html"], lambda p: p.write_text(_html(frame, summary, meta)))
    paths["failures"] = failure_files
    return paths


# The HTML table leaves out what the page header already says (engine) and the error columns
# that the CSV keeps; the reproduce command stays, for copying.
_HTML_COLUMNS = (
    "suite", "case", "check", "node", "op", "expected", "actual", "fd", "tolerance", "status",
    "detail", "reproduce",
)  # fmt: skip


def _coverage_section(meta: dict) -> str:
    """The op variants the engine lacks: random graphs avoid them; fixed cases show skip rows."""
    missing = meta.get("unsupported", [])
    if not missing:
        return ""
    forms = ", ".join(f"<code>{html.escape(f)}</code>" for f in missing)
    return (
        f"<h2>Coverage</h2><p>The engine cannot build {len(missing)} op forms: {forms}. "
        "Random graphs avoid them; fixed cases that need them are skipped. "
        "coverage.csv lists every form.</p>"
    )


def _failures_section(meta: dict) -> str:
    """Each distinct failure: what is wrong, on which minimal graph, and how to replay it."""
    items = []
    for path in meta.get("failures", []):
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        e = html.escape
        hint = f"<br>Hint: {e(d['hint'])}" if d.get("hint") else ""
        first = f"<br>First wrong: {e(d['first_wrong'])}" if d.get("first_wrong") else ""
        items.append(
            f"<li><b>{e(d['op'])}</b> ({e(d['check'])}, {e(d['status'])}) on "
            f"<code>{e(d['formula'][:300])}</code>{first}{hint}<br>"
            f"<code>python -m conformance replay {e(path)}</code></li>"
        )
    if not items:
        return ""
    return "<h2>Distinct failures, shrunk to minimal graphs</h2><ul>" + "".join(items) + "</ul>"


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
{seed_section(frame)}
{_failures_section(meta)}
{_coverage_section(meta)}
<h2>By suite and op</h2>
{summary.to_html(index=False)}
<h2>Rows that did not pass</h2>
{rows_html}
{more}
{training_section(frame)}
</body></html>
"""
