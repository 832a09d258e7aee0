"""Reports: the CSV of every record, the summary CSV, run.json, junit.xml and the HTML page."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pandas as pd

from conformance.checks.training import training_table
from conformance.core.csvrows import CsvLines
from conformance.core.options import EXIT_INTERRUPTED
from conformance.core.records import CHECKED, COLUMNS, FAILING, PASSED, STATUSES
from conformance.core.safetext import safe_csv_frame, safe_data, safe_frame, safe_text
from conformance.core.spec import SCHEMA_VERSION
from conformance.core.tensor_graph import is_tensor_engine
from conformance.core.tensors import is_layer_engine
from conformance.failures.layers import write_layer_failures
from conformance.failures.reproducers import write_failures
from conformance.report.coverage import coverage_frame, layer_coverage_frame, tensor_coverage_frame
from conformance.report.html.page import render as render_html
from conformance.report.junit import write_junit

__all__ = ["PartialRows", "summarize", "write_csv", "write_reports"]


SUMMARY_COLUMNS = ["suite", "op", "cases", "pass_rate", "worst_error", *STATUSES, "rows"]
# summary.csv's last column: the precision the tolerances (and so worst_error) are in.
DTYPE_COLUMN = "dtype"


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
    judged = table[list(CHECKED)].sum(axis=1)
    passed = table[list(PASSED)].sum(axis=1)
    table["pass_rate"] = (passed / judged.where(judged > 0)).round(4)
    tol = frame["tolerance"]
    meaningful = frame["check"].isin(ERROR_CHECKS) & (tol > 0) & (tol < float("inf"))
    ratio = (frame["abs_err"] / tol).where(meaningful)
    table["worst_error"] = ratio.groupby([frame["suite"], frame["op"]]).max().astype(float)
    table = table.reset_index()
    failing = table[list(FAILING)].sum(axis=1) > 0
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
        # Tests only: hold each report before its rename, so that a signal can land mid-write.
        time.sleep(float(os.environ.get("CONFORMANCE_TEST_SLOW_REPORTS", "0")))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


REPORT_FILES = (
    "conformance.csv", "summary.csv", "coverage.csv", "run.json", "conformance.html", "junit.xml",
    "training.csv",
)  # fmt: skip
PARTIAL = ".conformance.partial.csv"
LOCK = ".conformance.lock"
# The files the last run wrote (or was about to write), relative to its folder: the only files
# a later run deletes.
MANIFEST = ".conformance-manifest.json"
_FAILURE_FILE = re.compile(r"failures/[^/\\]+\.(json|py)")


class OutBusy(OSError):
    """Another run holds the folder's lock."""


class ForeignFiles(OSError):
    """The folder holds report-named files that no run wrote."""


def lock_out(out: Path) -> IO:
    """Make `out` and lock it for this run (an exclusive flock on DIR/.conformance.lock, held
    until the returned file is closed or the process ends); OutBusy when another run holds it."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK, "a")  # noqa: SIM115 - held for the run, closed by the caller
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutBusy(f"another run is writing to {str(out)!r}") from None
    except OSError:
        handle.close()
        raise
    return handle


def _manifest(out: Path) -> list[str]:
    """The files a previous run listed, keeping only report and failure names: a manifest
    edited to say `../x` must not make a run delete outside its folder."""
    try:
        names = json.loads((out / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        names = _written_before_manifests(out)
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [
        n for n in names
        if isinstance(n, str) and (n in REPORT_FILES or _FAILURE_FILE.fullmatch(n))
    ]  # fmt: skip


def _written_before_manifests(out: Path) -> list[str]:
    """The reports of a run from before manifests existed, recognised by its run.json (an
    object with this tool's own keys): a folder such as `reports/` keeps working after an
    upgrade. Anything else counts as the user's."""
    try:
        meta = json.loads((out / "run.json").read_text())
    except (OSError, ValueError, RecursionError):
        return []
    ours = isinstance(meta, dict) and {"engine", "verdict", "options", "exit_code"} <= set(meta)
    return list(REPORT_FILES) if ours else []


def _write_manifest(out: Path, names: list[str]) -> None:
    files = sorted(set(names))
    _atomic(out / MANIFEST, lambda p: p.write_text(json.dumps({"files": files}, indent=1) + "\n"))


def prepare_out(out: Path) -> None:
    """Make `out`, prove it writable, and remove the last run's reports: a run that dies leaves
    no report behind that a CI step could mistake for this run's. OSError when not writable;
    ForeignFiles when a report-named file there was not written by a run."""
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".write-probe"
    probe.write_text("")
    probe.unlink()
    previous = _manifest(out)
    # Only files a run listed are deleted. A report-named file no run wrote (the user's own, or
    # a folder such as `.` that an empty variable named) would be overwritten at the end of the
    # run, so the run is refused before it deletes or overwrites anything of the user's.
    foreign = [n for n in REPORT_FILES if n not in previous and (out / n).exists()]
    if foreign:
        raise ForeignFiles(
            f"{str(out)!r} holds {', '.join(foreign)}, which no conformance run wrote: "
            "remove it or choose another folder"
        )
    for name in previous:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    # Listed before any is written: if this run dies half-way, the next one cleans up after it.
    _write_manifest(out, list(REPORT_FILES))


def mark_interrupted(out: Path) -> None:
    """Record in `out`/run.json that the run was interrupted after its reports were written."""
    path = out / "run.json"
    meta = json.loads(path.read_text())
    meta["interrupted"] = True
    meta["exit_code"] = EXIT_INTERRUPTED
    _atomic(path, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))


class PartialRows:
    """Rows flushed to `DIR/.conformance.partial.csv` as cases finish; removed once the reports
    are written, kept if the process dies or an exception leaves (for a post-mortem). While
    every case's lines are pandas' bytes (`exact`), the file is conformance.csv in the making,
    and the reports copy it rather than format every row again."""

    def __init__(self, out: Path) -> None:
        self.path = out / PARTIAL
        self.keep = False
        self.failed: OSError | None = None  # the disk filled up, say: the rows live on in memory
        self.rows = 0  # rows written
        self.exact = True

    def __enter__(self) -> PartialRows:
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        csv.writer(self._file, lineterminator="\n").writerow(COLUMNS)
        return self

    def write(self, rows: list, lines: CsvLines) -> None:
        """Append one case's rows (`lines`, see core.csvrows) and flush them to disk; a write
        that fails (a full disk) stops the flushing, never the run: the rows are kept for the
        reports."""
        if self.failed is not None:
            return
        try:
            self._file.write(lines.text)
            self._file.flush()
            self.rows += len(rows)
            self.exact = self.exact and lines.exact
        except OSError as exc:
            self.failed = exc
            self.keep = True

    def csv_of(self, frame: pd.DataFrame) -> Path | None:
        """This file, when it holds conformance.csv for `frame` byte for byte: every row of it
        and nothing else, each in pandas' form (call once the last row is written)."""
        if self.failed is not None or not self.exact or self.rows != len(frame):
            return None
        try:
            self._file.flush()
        except OSError:
            return None
        return self.path

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the last flush too
            self._file.close()
        # Only a clean exit, after the reports are on disk, makes the partial rows redundant.
        if exc_type is None and not self.keep:
            with contextlib.suppress(OSError):
                self.path.unlink()


def write_csv(frame: pd.DataFrame, path: Path | IO[str]) -> None:
    """conformance.csv for a frame whose text `safe_frame` has made safe."""
    safe_csv_frame(frame, is_safe=True).to_csv(
        path, index=False, columns=list(COLUMNS), lineterminator="\n"
    )


def write_reports(
    outcome,
    options,
    out: Path,
    extra_failure_files: list[Path] = (),
    baseline=None,
    csv_from: Path | None = None,
) -> dict:
    """Write every report into `out`; returns the paths by kind. Raises OSError, writing nothing
    half: a report that cannot be written whole is left as it was. `baseline`, a
    baseline.Comparison, adds what changed since an earlier run to run.json and the page.
    `csv_from`: a file that already holds conformance.csv's bytes (`PartialRows.csv_of`)."""
    out.mkdir(parents=True, exist_ok=True)
    # Engine text is made safe here, once for every report (see core.safetext).
    frame = safe_frame(outcome.frame)
    paths = {
        "csv": out / "conformance.csv",
        "summary": out / "summary.csv",
        "json": out / "run.json",
        "html": out / "conformance.html",
        "training": out / "training.csv",
        "junit": out / "junit.xml",
    }
    failure_files = write_failures(outcome.failures, out, options.engine)
    failure_files += write_layer_failures(getattr(outcome, "layer_failures", []), out,
                                          options.engine)  # fmt: skip
    failure_files += list(extra_failure_files)
    written = [*REPORT_FILES]
    for f in failure_files:  # each failure's JSON and the script beside it
        for p in (f, f.with_suffix(".py")):
            with contextlib.suppress(ValueError):
                written.append(p.resolve().relative_to(out.resolve()).as_posix())
    _write_manifest(out, written)
    if csv_from is not None:
        _atomic(paths["csv"], lambda p: shutil.copyfile(csv_from, p))
    else:
        _atomic(paths["csv"], lambda p: write_csv(frame, p))
    summary = summarize(frame)
    written = summary.assign(**{DTYPE_COLUMN: getattr(options, "dtype", "float64")})
    _atomic(paths["summary"], lambda p: written.to_csv(p, index=False, lineterminator="\n"))
    layered = is_layer_engine(options.engine)
    covered = layer_coverage_frame(frame) if layered else coverage_frame(outcome.unsupported)
    if is_tensor_engine(options.engine):
        covered = tensor_coverage_frame(outcome.unsupported, outcome.broken)
    coverage = safe_csv_frame(covered, ("reason",))
    paths["coverage"] = out / "coverage.csv"
    _atomic(paths["coverage"], lambda p: coverage.to_csv(p, index=False, lineterminator="\n"))
    curves = training_table(frame)  # the loss curves of the training suite, step by step
    _atomic(paths["training"], lambda p: curves.to_csv(p, index=False, lineterminator="\n"))
    counts = {s: int((frame["status"] == s).sum()) for s in STATUSES} if len(frame) else {}
    meta = {
        "schema": SCHEMA_VERSION,
        "engine": options.engine,
        "engine_name": outcome.engine_name,
        "options": options.to_dict(),
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
    # [op, pattern, param] of a scalar engine; [op, form] of a tensor engine.
    meta["unsupported_variants"] = sorted(list(variant) for variant in outcome.unsupported)
    if baseline is not None:
        meta["baseline"] = baseline.to_dict()
    meta = safe_data(meta)
    _atomic(paths["json"], lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    _atomic(paths["junit"], lambda p: write_junit(frame, meta, p))
    layer_failures = getattr(outcome, "layer_failures", [])
    page = render_html(frame, summary, meta, outcome.failures, baseline, layer_failures, curves)
    # The failures' rows reach the page unsanitised: the whole page is the safety net.
    _atomic(paths["html"], lambda p: p.write_text(safe_text(page), encoding="utf-8"))
    paths["failures"] = failure_files
    return paths
