"""What a run prints on a terminal: a progress line while it runs, a table by suite at the end.

Only where stdout is a terminal: piped into a file or a CI log, a run prints the report paths and
the verdict, nothing that redraws itself. Colour follows the NO_COLOR convention.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

import pandas as pd

from conformance.core.records import DIFFERENCE_KINDS, FAILING, STATUSES
from conformance.core.safetext import safe_text

__all__ = ["Progress", "colour", "print_outcome", "suite_table"]

DELAY = 2.0  # seconds before the progress line shows: a quick run prints none
INTERVAL = 0.1  # seconds between redraws


def _colours(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def colour(text: str, code: str, stream: TextIO = sys.stdout) -> str:
    """`text` in ANSI colour `code` ("31" red, "32" green, "1" bold) where `stream` shows it."""
    return f"\x1b[{code}m{text}\x1b[0m" if _colours(stream) else text


class Progress:
    """The `progress(done, total)` callback of a run: one line, redrawn in place, on a terminal
    only, once the run has taken DELAY seconds; `finish()` wipes it."""

    def __init__(self, stream: TextIO = sys.stdout, delay: float = DELAY) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.delay = delay
        self.start = time.monotonic()
        self.first: tuple[float, int] | None = None  # the first report: the rate counts from it
        self.last = 0.0
        self.calls = 0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        """One more case is judged (`done` of `total`; callers in parallel may skip numbers)."""
        self.calls += 1
        if not self.tty:
            return
        done = max(done, self.calls)
        now = time.monotonic()
        if self.first is None:  # before it, the engine was loading: no rate to learn from
            self.first = (now, done)
        elapsed = now - self.start
        if elapsed < self.delay or (now - self.last < INTERVAL and done < total):
            return
        self.last = now
        since, at = self.first
        if done >= total:
            tail = f"{elapsed:.0f} s; shrinking failures and writing the reports"
        elif done > at and now > since:
            left = (now - since) / (done - at) * (total - done)
            tail = f"{elapsed:.0f} s, about {left:.0f} s left"
        else:
            tail = f"{elapsed:.0f} s"
        line = f"  {done:,}/{total:,} cases ({100 * done // max(total, 1)}%), {tail}"
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        """Wipe the progress line, if one was drawn."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def suite_table(frame: pd.DataFrame, stream: TextIO = sys.stdout) -> str:
    """Cases and rows by suite and status, as aligned text: pass and fail always, the other
    statuses where some row has them; failing counts in red on a colour terminal."""
    if frame.empty:
        return "no rows"
    counts = frame.groupby(["suite", "status"], sort=False).size().unstack(fill_value=0)
    shown = [s for s in STATUSES if s in ("pass", "fail") or s in counts.columns]
    counts = counts.reindex(columns=shown, fill_value=0)
    cases = frame.groupby("suite", sort=False)["case"].nunique()
    lines = [(str(s), int(cases[s]), [int(counts.at[s, c]) for c in shown]) for s in counts.index]
    lines.append(("all", int(frame["case"].nunique()), [int(counts[c].sum()) for c in shown]))
    width = max(5, *(len(name) for name, _, _ in lines))
    cols = [max(len(c), 7) for c in ["cases", *shown]]
    header = f"{'suite':<{width}}" + "".join(f" {c:>{w}}" for c, w in zip(["cases", *shown], cols))
    out = [header]
    for name, n, values in lines:
        cells = [f"{n:>{cols[0]},}"]
        for status, v, w in zip(shown, values, cols[1:]):
            cell = f"{v:>{w},}"
            if v and status in FAILING:
                cell = colour(cell, "31;1", stream)
            elif v and status == "pass":
                cell = colour(cell, "32", stream)
            cells.append(cell)
        out.append(f"{name:<{width}} " + " ".join(cells))
    return "\n".join(out)


def print_outcome(
    outcome, options, paths: dict, comparison=None, stream: TextIO = sys.stdout
) -> None:
    """The end of a run: a line of totals, the table by suite (terminal only), the path of each
    report, what changed against the baseline (terminal only), and the verdict, last."""
    tty = stream.isatty()

    def say(text: str = "") -> None:
        # Engine names, messages and paths are outside text: an ESC in them must not reach the
        # terminal, nor a lone surrogate crash the print (our own colours are added after).
        print(safe_text(text), file=stream)

    dtype = f", {options.dtype}" if getattr(options, "dtype", "float64") != "float64" else ""
    say(
        f"engine {options.engine}, seed {options.seed}{dtype}: {outcome.cases} cases, "
        f"{len(outcome.frame)} rows in {outcome.elapsed:.1f} s"
    )
    if tty and len(outcome.frame):
        print(suite_table(outcome.frame, stream), file=stream)  # our text and colours
        say()
    for kind in ("csv", "summary", "json", "html", "training", "junit", "coverage"):
        if kind in paths:
            say(f"  {os.fspath(paths[kind])}")
    failures = list(paths.get("failures", []))
    shown = failures if not tty or len(failures) <= 6 else failures[:4]
    for path in shown:
        say(f"  reproducer: {os.fspath(path)} (and .py)")
    if len(shown) < len(failures):
        folder = os.fspath(Path(failures[0]).parent)
        say(f"  ... and {len(failures) - len(shown)} more reproducers in {folder}")
    if tty and comparison is not None:
        for title, frame in (("new failure", comparison.new_failures), ("fixed", comparison.fixed)):
            for r in frame.head(5).itertuples():
                say(f"  {title}: {r.suite} {r.case} {r.check} {r.node} ({r.before} → {r.now})")
            if len(frame) > 5:
                say(f"  ... and {len(frame) - 5} more {title} rows")
    for warning in outcome.warnings:
        print(safe_text(f"conformance: warning: {warning}"), file=sys.stderr)
    found = [*getattr(outcome, "failures", ()), *getattr(outcome, "layer_failures", ())]
    for line in finding_lines(found):
        say(safe_text(line))
    for line in difference_lines(outcome.frame):
        say(line)
    code = "32;1" if outcome.exit_code == 0 else "31;1"
    print(colour(safe_text(outcome.message), code, stream), file=stream)


def difference_lines(frame) -> list[str]:
    """One line per kind of difference from torch's conventions, with its first example."""
    if not len(frame):
        return []
    rows = frame[frame["kind"].fillna("") != ""]
    lines = []
    for kind in DIFFERENCE_KINDS:
        some = rows[rows["kind"] == kind]
        if len(some):
            first = some.iloc[0]
            detail = str(first["detail"])
            detail = detail if len(detail) <= 140 else detail[:139] + "…"
            lines.append(f"  {len(some)} {kind}: {first['case']}: {detail}")
    return lines


MAX_FINDINGS = 3


def finding_lines(failures) -> list[str]:
    """The first distinct failures in a sentence each: the op to blame and why, or what broke."""
    lines = []
    for f in list(failures)[:MAX_FINDINGS]:
        bad = [r for r in f.rows if r.status in FAILING]
        if len(f.key) == 4:  # a layer failure: (layer, tensor, check, status)
            layer, tensor, _, status = f.key
            mine = [r for r in bad if r.node == tensor] or bad
            why = next((r.hint for r in mine if r.hint), "") or (mine[0].detail if mine else "")
            why = why if len(why) <= 160 else why[:159] + "…"
            lines.append(f"  {'wrong' if status == 'fail' else status} {layer} {tensor}: {why}")
            continue
        blame, _, status = f.key
        why = next((r.hint for r in bad if r.hint), "") or (bad[0].detail if bad else "")
        why = why if len(why) <= 160 else why[:159] + "…"
        what = "wrong" if status == "fail" else status
        lines.append(f"  {what} {blame or f.case.op}: {why}")
    if len(failures) > MAX_FINDINGS:
        lines.append(f"  ... and {len(failures) - MAX_FINDINGS} more distinct failures")
    return lines
