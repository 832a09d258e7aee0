"""The run: cases → engine (in workers) and oracles → records → frame → reports → exit code."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from conformance.checkers import CHECKERS, EngineCall, checker
from conformance.compare import Case, compare_case
from conformance.diagnose import annotate, diagnose
from conformance.engines.result import EngineResult
from conformance.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    RunOptions,
)
from conformance.oracle import FiniteDifferences, finite_differences, torch_reference
from conformance.parallel import MIN_CASES_PER_JOB, check_in_parallel
from conformance.pool import EnginePool, probe_capabilities
from conformance.records import FAILING, Record, to_frame
from conformance.reproducers import find_failures
from conformance.spec import GraphSpec
from conformance.suites import SuiteOptions, build_cases
from conformance.tolerance import Bounds, bounds
from conformance.xfails import XfailEntry, apply_xfails

__all__ = [
    "Oracle",
    "RunOutcome",
    "check_case",
    "check_graph",
    "collect_cases",
    "consult_oracles",
    "judge_case",
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
    warnings: list = field(default_factory=list)  # e.g. xfail entries that match nothing


def reproduce_command(options: RunOptions, case: Case) -> str:
    """A command that re-runs exactly this case."""
    cmd = f"python -m conformance run --engine {options.engine} --suite {case.suite}"
    if case.suite == "graphs":
        cmd += f" --seed {options.seed} --cases {options.cases} --max-nodes {options.max_nodes}"
    if case.suite == "neurons":
        cmd += f" --seed {options.seed} --cases {options.cases}"
    if case.suite == "training":
        cmd += f" --seed {options.seed} --steps {options.steps}"
    return f"{cmd} --case {case.case_id}"


def collect_cases(options: RunOptions, unsupported: frozenset = frozenset()) -> list[Case]:
    """The cases of the selected suites, narrowed to `only` when given; random cases avoid the
    op variants in `unsupported`."""
    suite_options = SuiteOptions(
        seed=options.seed,
        cases=options.cases,
        max_nodes=options.max_nodes,
        profile=options.profile,
        steps=options.steps,
        unsupported=unsupported,
    )
    cases = build_cases(options.suites, suite_options)
    if options.shard is not None:  # contiguous: `merge` puts the shards back in order
        k, n = options.shard
        cases = cases[(k - 1) * len(cases) // n : k * len(cases) // n]
    if options.only:
        wanted = set(options.only)
        cases = [c for c in cases if c.case_id in wanted]
    return [replace(c, reproduce=reproduce_command(options, c)) for c in cases]


@dataclass(frozen=True)
class Oracle:
    """What the two oracles say about one case, and the tolerances that follow."""

    reference: EngineResult
    fd: FiniteDifferences
    bounds: Bounds


def consult_oracles(case: Case) -> Oracle:
    """torch.autograd, finite differences and the tolerances for `case`."""
    reference = torch_reference(case.spec)
    return Oracle(
        reference, finite_differences(case.spec), bounds(case.spec, reference.node_values)
    )


def check_case(
    case: Case, engine: str, result: EngineResult, oracle: Oracle | None = None
) -> list[Record]:
    """Compare `result` with the oracles (consulted here unless given)."""
    try:
        oracle = oracle or consult_oracles(case)
    except Exception as exc:
        return [
            Record(
                case.suite, case.case_id, engine, "run", "", case.op, None, None, None, None,
                None, None, None, "unverified", f"the torch oracle raised {exc!r}", case.reproduce,
            )
        ]  # fmt: skip
    rows = compare_case(case, engine, result, oracle.reference, oracle.fd, oracle.bounds)
    if any(r.status == "fail" for r in rows):
        rows = annotate(rows, diagnose(case.spec, result, oracle.reference, oracle.bounds))
    return rows


@checker("graph")
def check_graph(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """The checker of graph cases: the same graph in torch and by finite differences."""
    return check_case(case, engine, result)


def judge_case(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """The case's checker; if checking itself breaks (say the engine's numbers make the next
    step impossible), one `error` row that says so, and the run goes on."""
    try:
        return CHECKERS[case.kind](case, engine, result, call)
    except Exception as exc:
        detail = (
            f"checking this case stopped: {type(exc).__name__}: {exc} (after the engine's "
            "results; if the engine looks right, this is a bug in backprop-conformance)"
        )
        return [
            Record(
                case.suite, case.case_id, engine, "run", "", case.op, None, None, None, None,
                None, None, None, "error", detail, case.reproduce,
            )
        ]  # fmt: skip


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
    `xfails` turns the failures they list into xfail (see `conformance.xfails`).
    """
    start = time.perf_counter()
    records: list[Record] = []
    warnings: list[str] = []
    interrupted = False
    pool = None
    name = getattr(engine, "name", options.engine)
    cases: list[Case] = []
    unsupported: dict = {}
    failures: list = []
    rows_by_case: dict[str, list[Record]] = {}

    def record(i: int, rows: list[Record]) -> None:
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
            pool = EnginePool(options.engine, jobs=1, timeout=options.timeout)
            name = pool.start()
            unsupported = pool.unsupported
            call = pool.call
        else:
            unsupported = probe_capabilities(engine)
            call = partial(run_in_process, engine)
        cases = collect_cases(options, frozenset(unsupported))
        if not cases:
            return RunOutcome(
                to_frame([]), EXIT_NOTHING_CHECKED, "no case matched: nothing checked"
            )
        jobs = min(options.jobs, len(cases) // MIN_CASES_PER_JOB)
        if pool is not None and jobs > 1:
            check_in_parallel(options, cases, jobs, record)
        else:
            if pool is not None:
                results = [f.result for f in pool.submit([c.spec for c in cases])]
            else:
                results = [partial(run_in_process, engine, c.spec) for c in cases]
            for i, (case, result) in enumerate(zip(cases, results)):
                record(i, judge_case(case, options.engine, result(), call))

        def judge(case: Case, result: EngineResult) -> list[Record]:
            return judge_case(case, options.engine, result, call)

        if xfails:
            records, warnings = apply_xfails(records, xfails)
            rows_by_case = {}
            for r in records:
                rows_by_case.setdefault(r.case, []).append(r)
        failures = find_failures(cases, rows_by_case, judge, call)
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
        unsupported=unsupported, warnings=warnings,
    )  # fmt: skip


def verdict(frame: pd.DataFrame, interrupted: bool = False) -> tuple[int, str]:
    """The exit code and a one-line verdict for a frame of records."""
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts)) or "no rows"
    if interrupted:
        return EXIT_INTERRUPTED, f"INTERRUPTED: rows so far written ({summary})"
    bad = sum(counts.get(s, 0) for s in FAILING)
    if bad:
        return EXIT_FAILED, f"FAIL: {summary}"
    checked = sum(counts.get(s, 0) for s in ("pass", "fail", "error", "xfail", "xpass"))
    if not checked:
        return EXIT_NOTHING_CHECKED, f"NOTHING CHECKED: {summary}"
    return EXIT_OK, f"PASS: {summary}"
