"""Reports: the CSV of every record, the summary CSV, run.json, junit.xml and the HTML page."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from conformance.coverage import coverage_frame
from conformance.html_report import render as render_html
from conformance.junit import write_junit
from conformance.records import COLUMNS, STATUSES
from conformance.reproducers import write_failures
from conformance.spec import SCHEMA_VERSION
from conformance.training import training_table

__all__ = ["summarize", "write_reports"]


SUMMARY_COLUMNS = ["suite", "op", "cases", "pass_rate", "worst_error", *STATUSES, "rows"]


# The checks whose abs_err is a number's distance from torch's and whose tolerance is the bound a
# correct engine stays within (a value, a gradient, a loss, the parameters after training
# steps): the row passes where their ratio is at most 1. The sign-and-update rows put other
# quantities there (a descent row: the loss before and after a step), in units of their own.
ERROR_CHECKS = ("value", "grad", "loss", "trajectory")


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """By suite and op: cases, pass rate, the worst error in units of its tolerance (values and
    gradients: at most 1 passes) and the count of each status; the groups that fail first."""
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    keys = ["suite", "op"]
    table = frame.groupby([*keys, "status"]).size().unstack("status", fill_value=0)
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table["rows"] = table.sum(axis=1)
    table.columns.name = None
    groups = frame.groupby(keys)
    table["cases"] = groups["case"].nunique()
    judged = table[["pass", "fail", "error", "xfail", "xpass"]].sum(axis=1)
    table["pass_rate"] = ((table["pass"] + table["xfail"]) / judged.where(judged > 0)).round(4)
    tol = frame["tolerance"]
    meaningful = frame["check"].isin(ERROR_CHECKS) & (tol > 0) & (tol < float("inf"))
    ratio = (frame["abs_err"] / tol).where(meaningful)
    table["worst_error"] = ratio.groupby([frame["suite"], frame["op"]]).max().astype(float)
    table = table.reset_index()
    failing = table[["fail", "error", "xpass"]].sum(axis=1) > 0
    table = table.assign(_failing=~failing).sort_values(["_failing", *keys], kind="stable")
    return table[SUMMARY_COLUMNS].reset_index(drop=True)


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
            self._writer.writerow(["" if v is None else v for v in r.__dict__.values()])
        self._file.flush()

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        if not self.keep:
            with contextlib.suppress(OSError):
                self.path.unlink()


def write_reports(
    outcome, options, out: Path, extra_failure_files: list[Path] = (), baseline=None
) -> dict:
    """Write every report into `out`; returns the paths by kind. Raises OSError, writing nothing
    half: a report that cannot be written whole is left as it was. `baseline`, a
    baseline.Comparison, adds what changed since an earlier run to run.json and the page."""
    out.mkdir(parents=True, exist_ok=True)
    frame = outcome.frame
    paths = {
        "csv": out / "conformance.csv",
        "summary": out / "summary.csv",
        "json": out / "run.json",
        "html": out / "conformance.html",
        "training": out / "training.csv",
        "junit": out / "junit.xml",
    }
    failure_files = write_failures(outcome.failures, out, options.engine)
    failure_files += list(extra_failure_files)
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
            "budget": options.budget,
            "only": list(options.only),
            "profile": options.profile,
            "steps": options.steps,
            "shard": list(options.shard) if options.shard else None,
            "engine": options.engine,
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
    meta["unsupported_variants"] = sorted(
        [op, pattern, param] for op, pattern, param in outcome.unsupported
    )
    if baseline is not None:
        meta["baseline"] = baseline.to_dict()
    _atomic(paths["json"], lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    _atomic(paths["junit"], lambda p: write_junit(frame, meta, p))
    page = render_html(frame, summary, meta, outcome.failures, baseline)
    _atomic(paths["html"], lambda p: p.write_text(page, encoding="utf-8"))
    paths["failures"] = failure_files
    return paths
