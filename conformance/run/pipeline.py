"""The run: cases → engine (in workers) and oracles → records → frame → reports → exit code."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from conformance.cases.suites import SuiteOptions, build_cases
from conformance.checks.judge import blame_broken, judge_case
from conformance.core.case import Case
from conformance.core.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    RunOptions,
)
from conformance.core.records import DIFFERENCE_KINDS, FAILING, Record, strictly, to_frame
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.engines import COMMAND_PREFIX, portable_engine_name
from conformance.engines.pool import EnginePool, probe_capabilities
from conformance.engines.schedule import NOT_RUN, Schedule, not_run, shape
from conformance.failures.reproducers import engine_arguments, find_failures
from conformance.failures.xfails import XfailEntry, apply_xfails
from conformance.run.parallel import MIN_CASES_PER_JOB, check_in_parallel

__all__ = [
    "RunOutcome",
    "collect_cases",
    "reproduce_command",
    "run",
    "run_in_process",
    "verdict",
]


@dataclass
class RunOutcome:
    """The frame of records, the exit code and a one-line verdict."""

    frame: pd.DataFrame
    exit_code: int
    message: str
    engine_name: str = ""
    elapsed: float = 0.0
    interrupted: bool = False
    cases: int = 0
    failures: list = field(default_factory=list)  # reproducers.Failure, one per distinct failure
    unsupported: dict = field(default_factory=dict)  # op variants the engine lacks, with why
    broken: dict = field(default_factory=dict)  # op variants that exist but break, with what broke
    warnings: list = field(default_factory=list)  # e.g. xfail entries that match nothing


def reproduce_command(options: RunOptions, case: Case) -> str:
    """A command that re-runs exactly this case, from any folder, every argument shell-quoted."""
    engine = options.engine
    if not engine.startswith(COMMAND_PREFIX):
        engine = portable_engine_name(engine)
    argv = ["python", "-m", "conformance", "run", *engine_arguments(engine), "--suite", case.suite]
    if case.suite == "graphs":
        argv += ["--seed", str(options.seed), "--cases", str(options.cases)]
        argv += ["--max-nodes", str(options.max_nodes)]
    if case.suite == "neurons":
        argv += ["--seed", str(options.seed), "--cases", str(options.cases)]
    if case.suite == "training":
        argv += ["--seed", str(options.seed), "--steps", str(options.steps)]
    if options.strict:
        argv.append("--strict")
    return shlex.join([*argv, "--case", case.case_id])


def collect_cases(
    options: RunOptions, unsupported: frozenset = frozenset(), broken: frozenset = frozenset()
) -> list[Case]:
    """The cases of the selected suites, narrowed to `only` when given; random cases avoid the
    op variants in `unsupported` and `broken` (a broken op shows in its one-op and fixed cases,
    without turning every random graph that contains it into an error)."""
    suite_options = SuiteOptions(
        seed=options.seed,
        cases=options.cases,
        max_nodes=options.max_nodes,
        profile=options.profile,
        steps=options.steps,
        unsupported=unsupported,
        broken=broken,
    )
    cases = build_cases(options.suites, suite_options)
    if options.shard is not None:  # contiguous: `merge` puts the shards back in order
        k, n = options.shard
        cases = cases[(k - 1) * len(cases) // n : k * len(cases) // n]
    if options.only:
        wanted = set(options.only)
        cases = [c for c in cases if c.case_id in wanted]
    return [replace(c, reproduce=reproduce_command(options, c)) for c in cases]


def run_in_process(engine: Any, spec: GraphSpec) -> EngineResult:
    """One spec on an engine object in this process (no isolation); errors become data."""
    try:
        return engine.run(spec)
    except Exception as exc:
        return EngineResult(error=f"raised {type(exc).__name__}: {exc}")


def run(
    options: RunOptions,
    progress: Callable[[int, int], None] | None = None,
    engine: Any = None,
    on_rows: Callable[[list[Record]], None] | None = None,
    xfails: list[XfailEntry] | None = None,
) -> RunOutcome:
    """Check the engine on every case; raises EngineLoadError when it cannot even load.

    The engine named in `options` runs in worker processes; an engine object passed as `engine`
    runs in this process instead (for tests and the Python API: faster, not isolated).
    `on_rows` receives each case's rows as soon as they exist (to flush them to disk).
    `xfails` turns the failures they list into xfail (see `conformance.failures.xfails`).
    """
    start = time.perf_counter()
    schedule = Schedule(options.timeout, options.budget)
    records: list[Record] = []
    warnings: list[str] = []
    interrupted = False
    pool = None
    name = getattr(engine, "name", options.engine)
    cases: list[Case] = []
    unsupported: dict = {}
    failures: list = []
    rows_by_case: dict[str, list[Record]] = {}

    broken: dict = {}

    def finish(case: Case, rows: list[Record]) -> list[Record]:
        rows = blame_broken(case, rows, broken)
        return strictly(rows) if options.strict else rows

    def record(i: int, rows: list[Record]) -> None:
        rows = finish(cases[i], rows)
        rows_by_case[cases[i].case_id] = rows
        records.extend(rows)
        if on_rows is not None:
            on_rows(rows)
        if progress is not None:
            progress(i + 1, len(cases))

    try:
        if engine is None:
            # One engine worker: with several checker processes (see `parallel`), each has its
            # own, and this one only probes the engine and serves the shrinking of failures.
            pool = EnginePool(options.engine, jobs=1, timeout=options.timeout, gate=schedule)
            name = pool.start()
            unsupported, broken = pool.unsupported, pool.broken
            call = pool.call
        else:
            unsupported, broken = probe_capabilities(engine)
            call = partial(run_in_process, engine)
        cases = collect_cases(options, frozenset(unsupported), frozenset(broken))
        if not cases:
            return RunOutcome(
                to_frame([]), EXIT_NOTHING_CHECKED, "no case matched: nothing checked"
            )
        jobs = min(options.jobs, len(cases) // MIN_CASES_PER_JOB)
        if pool is not None and jobs > 1:
            check_in_parallel(options, cases, jobs, record, call=pool.call)
        else:
            if pool is not None:
                futures = pool.submit([c.spec for c in cases], [shape(c) for c in cases])
                results = [f.result for f in futures]
            else:
                results = [partial(run_in_process, engine, c.spec) for c in cases]
            for i, (case, result) in enumerate(zip(cases, results)):
                # A spent budget stops the checking too: the oracles cost time of their own.
                got = schedule.refusal() if schedule.spent() else result()
                record(i, judge_case(case, options.engine, got, call))

        def judge(case: Case, result: EngineResult) -> list[Record]:
            if not_run(result):  # a spec the schedule refused cannot show how a failure fails
                return []
            return finish(case, judge_case(case, options.engine, result, call))

        if xfails:
            records, warnings = apply_xfails(records, xfails)
            rows_by_case = {}
            for r in records:
                rows_by_case.setdefault(r.case, []).append(r)
        ran = {
            cid: [r for r in rows if not r.detail.startswith(NOT_RUN)]
            for cid, rows in rows_by_case.items()
        }

        def shrink_call(spec: GraphSpec) -> EngineResult:
            if schedule.expects_timeout(spec):  # a step of shrinking must not cost a timeout
                return EngineResult(error=f"{NOT_RUN}a graph with as many paths timed out")
            return call(spec)

        failures = find_failures(cases, ran, judge, shrink_call)
    except KeyboardInterrupt:
        interrupted = True
        if xfails:
            records, warnings = apply_xfails(records, xfails)
    finally:
        if pool is not None:
            pool.close()
    frame = to_frame(records)
    elapsed = time.perf_counter() - start
    code, message = verdict(frame, interrupted)
    return RunOutcome(
        frame, code, message, name, elapsed, interrupted, len(cases), failures=failures,
        unsupported=unsupported, warnings=warnings, broken=broken,
    )  # fmt: skip


def verdict(frame: pd.DataFrame, interrupted: bool = False) -> tuple[int, str]:
    """The exit code and a one-line verdict for a frame of records: the gate's statuses, then
    the differences from torch's conventions by kind (gating ones under --strict)."""
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts) if s != "differs")
    summary = summary or "no rows"
    kinds = frame[frame["kind"].fillna("") != ""] if len(frame) else frame
    by_kind = kinds["kind"].value_counts() if len(kinds) else pd.Series(dtype=int)
    listed = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items(), key=_kind_order))
    differs = int(counts.get("differs", 0))
    if interrupted:
        return EXIT_INTERRUPTED, f"INTERRUPTED: rows so far written ({summary})"
    bad = sum(counts.get(s, 0) for s in FAILING)
    if bad:
        gating = len(kinds) - differs
        what = "wrong math" if bad > gating else "torch's conventions, under --strict"
        tail = f"; {differs} differences from torch's conventions, not gating: {listed}"
        strict = f" ({gating} of them conventions, gating under --strict: {listed})"
        return EXIT_FAILED, (
            f"FAIL ({what}): {summary}{strict if gating else ''}{tail if differs else ''}"
        )
    checked = sum(counts.get(s, 0) for s in ("pass", "fail", "error", "xfail", "xpass"))
    if not checked:
        return EXIT_NOTHING_CHECKED, f"NOTHING CHECKED: {summary}"
    tail = f"; {differs} differences from torch's conventions, not gating: {listed}"
    return EXIT_OK, f"PASS (gradients correct): {summary}{tail if differs else ''}"


def _kind_order(item: tuple) -> int:
    kinds = list(DIFFERENCE_KINDS)
    return kinds.index(item[0]) if item[0] in kinds else len(kinds)
