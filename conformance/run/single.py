"""One case at a time, with a verdict a test runner can report: what the pytest plugin runs.

A `CaseChecker` holds the engine (in a worker process for a name, in this process for an object),
the options and the xfail entries, and checks one case: the rows as a run keeps them, whether the
case passes, fails, is skipped (not supported, or a difference from torch's conventions that does
not gate) or is an expected failure, and for a failure a message with the diagnosis, the replay
command and the path of a minimal reproducer (each distinct failure is shrunk once).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from conformance.checks.judge import Finish, judge_case
from conformance.core.case import Case
from conformance.core.options import RunOptions
from conformance.core.records import FAILING, WRONG, Record, Status
from conformance.core.result import EngineResult
from conformance.engines.pool import EnginePool, probe_capabilities
from conformance.failures.reproducers import failure_key, find_failures, write_failures
from conformance.failures.xfails import XfailEntry, apply_xfails
from conformance.run.pipeline import collect_cases, run_in_process

__all__ = ["CaseChecker", "CaseVerdict", "case_message"]


@dataclass
class CaseVerdict:
    """One case's rows and what a test runner makes of them."""

    case: Case
    rows: list[Record]
    outcome: str  # "passed", "failed", "skipped" or "xfailed"
    message: str = ""
    reproducer: Path | None = None  # the minimal reproducer's script, for a failure
    failure_files: list[Path] = field(default_factory=list)  # written for this case (JSON)


class CaseChecker:
    """Checks cases one at a time on one engine; `close()` stops its worker."""

    def __init__(
        self,
        options: RunOptions,
        engine: Any = None,
        xfails: list[XfailEntry] | None = None,
        failures_dir: Path | None = None,
    ) -> None:
        """`engine`: an engine object run in this process; else `options.engine` loads in a
        worker (EngineLoadError when it cannot). Reproducers go to `failures_dir`/failures."""
        self.options = options
        self.xfails = list(xfails or [])
        self.failures_dir = failures_dir
        self.pool: EnginePool | None = None
        if engine is None:
            self.pool = EnginePool(options.engine, timeout=options.timeout)
            self.name = self.pool.start()
            self.unsupported, self.broken = self.pool.unsupported, self.pool.broken
            self.call = self.pool.call
        else:
            self.name = getattr(engine, "name", options.engine)
            self.unsupported, self.broken = probe_capabilities(engine)
            self.call = partial(run_in_process, engine)
        self.finish = Finish(self.broken, options.strict)
        # (op, check, status) -> the reproducer that pins it: each distinct failure shrinks once.
        self._covered: dict[tuple[str, str, str], Path] = {}

    def cases(self) -> list[Case]:
        """The cases of the options' suites, as a run collects them."""
        return collect_cases(self.options, frozenset(self.unsupported), frozenset(self.broken))

    def rows(self, case: Case) -> list[Record]:
        """The case's rows as a run keeps them, xfail entries applied."""
        rows = self._judge(case, self.call(case.spec))
        return _xfailed(rows, self.xfails) if self.xfails else rows

    def check(self, case: Case) -> CaseVerdict:
        """The case checked, and its verdict; a failure's reproducer written once per kind."""
        rows = self.rows(case)
        verdict = CaseVerdict(case, rows, *_outcome(rows))
        if verdict.outcome == "failed":
            if any(r.status in WRONG for r in rows):
                verdict.reproducer, verdict.failure_files = self._reproducer(case, rows)
            verdict.message = case_message(case, rows, verdict.reproducer)
        return verdict

    def _reproducer(self, case: Case, rows: list[Record]) -> tuple[Path | None, list[Path]]:
        bad = [r for r in rows if r.status in WRONG]
        for r in bad:
            key = failure_key(r)
            for op in key[0].split(","):
                if (op, key[1], key[2]) in self._covered:
                    return self._covered[(op, key[1], key[2])], []
        if self.failures_dir is None:
            return None, []

        found = find_failures([case], {case.case_id: rows}, self._judge, self.call)
        files = write_failures(found, self.failures_dir, self.options.engine)
        script = files[0].with_suffix(".py").resolve() if files else None
        for f, path in zip(found, files):
            for r in f.rows:
                if r.status in WRONG:
                    key = failure_key(r)
                    for op in key[0].split(","):
                        script_of = path.with_suffix(".py").resolve()
                        self._covered.setdefault((op, key[1], key[2]), script_of)
        return script, files

    def _judge(self, case: Case, result: EngineResult) -> list[Record]:
        """The case's rows for the engine's `result`, finished as a run keeps them."""
        return self.finish(case, judge_case(case, self.options.engine, result, self.call))

    def close(self) -> None:
        """Stop the engine's worker, if it has one."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _xfailed(rows: list[Record], entries: list[XfailEntry]) -> list[Record]:
    """The rows with the entries applied as a run would: a failing row an entry matches is
    `xfail`. An entry names a case (`case=`, or a bare id) to be stale on that case alone: only
    such an entry turns the case's passing rows into `xpass`."""
    rows = apply_xfails(rows, [e for e in entries if any(k == "case" for k, _ in e.match)])[0]
    broad = [e for e in entries if not any(k == "case" for k, _ in e.match)]
    out = []
    for r in rows:
        entry = next((e for e in broad if r.status in WRONG and e.matches(r)), None)
        if entry is not None:
            detail = f"{r.detail} (expected: {entry.where})"
            r = replace(r, status=Status.XFAIL.value, detail=detail)
        out.append(r)
    return out


def _outcome(rows: list[Record]) -> tuple[str, str]:
    """What a test runner makes of a case's rows: a gating row fails it; an expected failure is
    xfailed; a case with no row checked, or one that differs from torch's conventions without
    gating, is skipped with the reason."""
    statuses = {r.status for r in rows}
    if statuses & set(FAILING):
        return "failed", ""
    if Status.XFAIL in statuses:
        first = next(r for r in rows if r.status == Status.XFAIL)
        return "xfailed", first.detail
    differs = [r for r in rows if r.status == Status.DIFFERS]
    if differs:
        kinds = sorted({r.kind for r in differs if r.kind})
        where = f"{differs[0].node}: " if differs[0].node else ""
        return "skipped", (
            f"differs from torch's conventions ({', '.join(kinds) or 'convention'}), which "
            f"gates only under strict: {where}{differs[0].detail}"
        )
    if not statuses & {Status.PASS, Status.UNVERIFIED}:
        first = rows[0] if rows else None
        return "skipped", first.detail if first else "no rows"
    return "passed", ""


def case_message(case: Case, rows: list[Record], reproducer: Path | None = None) -> str:
    """A failing case in a few lines: each gating row, the diagnosis, and how to reproduce it."""
    bad = [r for r in rows if r.status in FAILING]
    lines = [f"{case.suite}/{case.case_id} ({case.op}): {len(bad)} of {len(rows)} rows fail"]
    for r in bad[:5]:
        where = f"{r.check} {r.node}".strip()
        detail = r.detail.split("; first wrong:")[0]  # the diagnosis follows, once
        lines.append(f"  {r.status} {where}: {detail}")
    if len(bad) > 5:
        lines.append(f"  ... and {len(bad) - 5} more")
    first = next((r for r in bad if r.blame or r.first_wrong or r.hint), None)
    if first is not None:
        if first.blame:
            lines.append(f"blame: {first.blame}")
        if first.first_wrong:
            lines.append(f"first wrong: {first.first_wrong}")
        if first.hint:
            lines.append(f"hint: {first.hint}")
    if case.reproduce:
        lines.append(f"replay: {case.reproduce}")
    if reproducer is not None:
        lines.append(f"minimal reproducer: {reproducer}")
    return "\n".join(lines)
