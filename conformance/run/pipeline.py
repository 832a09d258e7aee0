"""The run: cases → engine (in workers) and oracles → records → frame → reports → exit code."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any

import pandas as pd

from conformance.cases.suites import SuiteCases, SuiteOptions, build_cases
from conformance.checks.dtype_hint import suggestion
from conformance.checks.judge import Finish, judge_case
from conformance.core.case import Case, EngineCall
from conformance.core.csvrows import CsvLines, csv_lines
from conformance.core.options import (
    DTYPE_SUITES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    RunOptions,
)
from conformance.core.records import DIFFERENCE_KINDS, FAILING, Record, to_frame
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.engines import COMMAND_PREFIX, declared_dtype, portable_engine_name
from conformance.engines.pool import EnginePool, probe_capabilities
from conformance.engines.schedule import NOT_RUN, Schedule, not_run, shape
from conformance.failures.layers import layer_failures
from conformance.failures.reproducers import engine_arguments, find_failures
from conformance.failures.xfails import XfailEntry, apply_xfails
from conformance.run.parallel import MIN_CASES_PER_JOB, check_in_parallel, one_torch_thread

__all__ = [
    "CaseRecipe",
    "RunOutcome",
    "collect_cases",
    "in_dtype",
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
    layer_failures: list = field(default_factory=list)  # failures.layers.LayerFailure
    options: RunOptions | None = None  # as run: with the dtype the engine declared, if adopted


def reproduce_command(options: RunOptions, case: Case) -> str:
    """A command that re-runs exactly this case, from any folder, every argument shell-quoted."""
    engine = options.engine
    if not engine.startswith(COMMAND_PREFIX):
        engine = portable_engine_name(engine)
    argv = ["python", "-m", "conformance", "run", *engine_arguments(engine), "--suite", case.suite]
    if case.suite == "graphs":
        argv += ["--seed", str(options.seed), "--cases", str(options.cases)]
        argv += ["--max-nodes", str(options.max_nodes)]
    if case.suite in ("neurons", "layers", "tensors"):
        argv += ["--seed", str(options.seed), "--cases", str(options.cases)]
    if case.suite == "training":
        argv += ["--seed", str(options.seed), "--steps", str(options.steps)]
    if options.dtype != "float64":
        argv += ["--dtype", options.dtype]
    if options.strict:
        argv.append("--strict")
    return shlex.join([*argv, "--case", case.case_id])


def collect_cases(
    options: RunOptions, unsupported: frozenset = frozenset(), broken: frozenset = frozenset()
) -> list[Case]:
    """The cases of the selected suites, narrowed to `only` when given; random cases avoid the
    op variants in `unsupported` and `broken` (a broken op shows in its one-op and fixed cases,
    without turning every random graph that contains it into an error)."""
    cases = build_cases(options.suites, _suite_options(options, unsupported, broken))
    cases = [in_dtype(c, options.dtype) for c in cases]
    if options.shard is not None:  # contiguous: `merge` puts the shards back in order
        k, n = options.shard
        cases = cases[(k - 1) * len(cases) // n : k * len(cases) // n]
    if options.only:
        wanted = set(options.only)
        cases = [c for c in cases if c.case_id in wanted]
    return [replace(c, reproduce=reproduce_command(options, c)) for c in cases]


def _suite_options(options: RunOptions, unsupported: frozenset, broken: frozenset) -> SuiteOptions:
    return SuiteOptions(
        seed=options.seed,
        cases=options.cases,
        max_nodes=options.max_nodes,
        profile=options.profile,
        steps=options.steps,
        dtype=options.dtype,
        unsupported=unsupported,
        broken=broken,
    )


@lru_cache(maxsize=2)
def _suite_cases(names: tuple[str, ...], options: SuiteOptions) -> SuiteCases:
    return SuiteCases(names, options)  # once a process: its fixed suites are built once


@dataclass(frozen=True)
class CaseRecipe:
    """The run's cases as `collect_cases` gives them (no `only`), built a range at a time in
    whichever process checks them: what a `--jobs` checker is sent instead of the cases."""

    options: RunOptions
    unsupported: frozenset
    broken: frozenset
    start: int  # the run's cases are [start, stop) of all the suites' (a shard's slice)
    stop: int

    @classmethod
    def of(cls, options: RunOptions, unsupported: frozenset, broken: frozenset) -> CaseRecipe:
        total = len(_suite_cases(options.suites, _suite_options(options, unsupported, broken)))
        k, n = options.shard or (1, 1)
        return cls(options, unsupported, broken, (k - 1) * total // n, k * total // n)

    def __len__(self) -> int:
        return self.stop - self.start

    def build(self, start: int, stop: int) -> list[Case]:
        """The run's cases [start, stop)."""
        suites = _suite_cases(
            self.options.suites, _suite_options(self.options, self.unsupported, self.broken)
        )
        cases = suites.slice(self.start + start, self.start + min(stop, len(self)))
        cases = [in_dtype(c, self.options.dtype) for c in cases]
        return [replace(c, reproduce=reproduce_command(self.options, c)) for c in cases]


def in_dtype(case: Case, dtype: str) -> Case:
    """The case for an engine computing in `dtype` (see `GraphSpec.in_dtype`): a graph case's
    inputs rounded to it, and its id, a hash of the spec, the new spec's."""
    if dtype == "float64" or case.kind != "graph":
        return case
    spec = case.spec.in_dtype(dtype)
    case_id = spec.case_id() if case.case_id == case.spec.case_id() else case.case_id
    return replace(case, spec=spec, case_id=case_id)


def run_in_process(engine: Any, spec: GraphSpec) -> EngineResult:
    """One spec on an engine object in this process (no isolation); errors become data."""
    try:
        return engine.run(spec)
    except Exception as exc:
        return EngineResult(error=f"raised {type(exc).__name__}: {exc}")


@dataclass
class _Run:
    """What the steps of one run share: set by one step, read by the next."""

    options: RunOptions
    progress: Callable[[int, int], None] | None = None
    on_rows: Callable[[list[Record], CsvLines], None] | None = None
    schedule: Schedule | None = None
    name: str = ""
    pool: EnginePool | None = None  # the run's engine worker; None for an engine object
    call: EngineCall | None = None  # one more spec on the engine (checkers, shrinking)
    unsupported: dict = field(default_factory=dict)
    broken: dict = field(default_factory=dict)
    total: int = 0  # cases in the run
    # The cases shrinking may need, in case order: every case when this process built them
    # all, else those that came back with a row that is not `pass`.
    cases: list[Case] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    rows_by_case: dict[str, list[Record]] = field(default_factory=dict)
    xfailed: bool = False
    warnings: list[str] = field(default_factory=list)
    layer_failures: list = field(default_factory=list)

    @property
    def finish(self) -> Finish:
        """What turns a case's judged rows into those the run keeps (see `checks.judge`)."""
        return Finish(self.broken, self.options.strict)

    def record(
        self, i: int, case: Case | None, rows: list[Record], lines: CsvLines | None = None
    ) -> None:
        """Case i's finished rows, in case order: kept, flushed with their CSV lines (`on_rows`,
        which get `lines` or make them) and counted (`progress`)."""
        if case is not None:
            self.rows_by_case[case.case_id] = rows
        self.records.extend(rows)
        if self.on_rows is not None:
            self.on_rows(rows, lines if lines is not None else csv_lines(rows))
        if self.progress is not None:
            self.progress(i + 1, self.total)


def run(
    options: RunOptions,
    progress: Callable[[int, int], None] | None = None,
    engine: Any = None,
    on_rows: Callable[[list[Record], CsvLines], None] | None = None,
    xfails: list[XfailEntry] | None = None,
    adopt_dtype: bool = False,
) -> RunOutcome:
    """Check the engine on every case; raises EngineLoadError when it cannot even load.

    The engine named in `options` runs in worker processes; an engine object passed as `engine`
    runs in this process instead (for tests and the Python API: faster, not isolated).
    `on_rows` receives each case's rows as soon as they exist, with their lines of
    conformance.csv (to flush them to disk).
    `xfails` turns the failures they list into xfail (see `conformance.failures.xfails`).
    `adopt_dtype`: a float64 run of an engine that declares another dtype (`declared_dtype`)
    checks it in that dtype instead (`--dtype` not given); the outcome's `options` say so.

    The steps: prepare the engine, collect the cases, execute them (here, or in `--jobs`
    checker processes), apply the xfails, shrink the failures, and the outcome. Ctrl-C at any
    step keeps the rows so far.
    """
    start = time.perf_counter()
    state = _Run(options, progress, on_rows, Schedule(options.timeout, options.budget))
    state.name = getattr(engine, "name", options.engine)
    interrupted = False
    failures: list = []
    try:
        with one_torch_thread():
            _prepare_engine(state, engine)
            if adopt_dtype:
                _adopt_dtype(state, engine)
            cases, jobs = _collect(state)
            if not state.total:
                return RunOutcome(
                    to_frame([]), EXIT_NOTHING_CHECKED, "no case matched: nothing checked"
                )
            if jobs > 1:
                _execute_in_parallel(state, cases, jobs)
            else:
                _execute_here(state, cases, engine)  # type: ignore[arg-type]
            _apply_xfails(state, xfails)
            failures = _shrink(state)
    except KeyboardInterrupt:
        interrupted = True
        _apply_xfails(state, xfails)
    finally:
        if state.pool is not None:
            state.pool.close()
    return _outcome(state, interrupted, failures, start)


def _prepare_engine(state: _Run, engine: Any) -> None:
    """The engine loaded (in the run's worker, or the object given) and probed for the op
    variants it lacks or breaks on."""
    options = state.options
    if engine is None:
        # One engine worker: with several checker processes (see `parallel`), each has its
        # own, and this one checks a share, probes the engine and serves the shrinking.
        state.pool = EnginePool(options.engine, timeout=options.timeout, gate=state.schedule)
        state.name = state.pool.start()
        state.unsupported, state.broken = state.pool.unsupported, state.pool.broken
        state.call = state.pool.call
    else:
        state.unsupported, state.broken = probe_capabilities(engine)
        state.call = partial(run_in_process, engine)


def _adopt_dtype(state: _Run, engine: Any) -> None:
    """The engine's declared dtype, for a run that was not told one: its suites narrowed to
    those the dtype covers (a warning names any left out)."""
    options = state.options
    declared = state.pool.dtype if state.pool is not None else declared_dtype(engine)
    if declared is None or declared == options.dtype or options.dtype != "float64":
        return
    suites = tuple(s for s in options.suites if s in DTYPE_SUITES) or DTYPE_SUITES
    left = [s for s in options.suites if s not in DTYPE_SUITES]
    if left:
        state.warnings.append(
            f"the engine declares {declared}: checking {', '.join(suites)} in {declared} "
            f"({', '.join(left)} not yet in {declared})"
        )
    state.options = replace(options, dtype=declared, suites=suites)


def _collect(state: _Run) -> tuple[list[Case] | CaseRecipe, int]:
    """The run's cases and how many processes check them. Checker processes get a recipe and
    build their own cases; one process builds them all here."""
    options = state.options
    unsupported, broken = frozenset(state.unsupported), frozenset(state.broken)
    if state.pool is not None and options.jobs > 1 and not options.only:
        recipe = CaseRecipe.of(options, unsupported, broken)
        state.total = len(recipe)
        jobs = min(options.jobs, state.total // MIN_CASES_PER_JOB)
        if jobs > 1:
            return recipe, jobs
    cases = collect_cases(options, unsupported, broken)
    state.total = len(cases)
    jobs = min(options.jobs, state.total // MIN_CASES_PER_JOB) if state.pool is not None else 1
    if jobs <= 1:
        state.cases = cases
    return cases, jobs


def _execute_here(state: _Run, cases: list[Case], engine: Any) -> None:
    """Every case in this process, the engine in the run's worker running ahead of the checking
    (or the engine object, one case at a time)."""
    options, schedule = state.options, state.schedule
    assert schedule is not None and state.call is not None
    if state.pool is not None:
        futures = state.pool.submit([c.spec for c in cases], [shape(c) for c in cases])
        results = [f.result for f in futures]
    else:
        results = [partial(run_in_process, engine, c.spec) for c in cases]
    finish = state.finish
    for i, (case, result) in enumerate(zip(cases, results)):
        # A spent budget stops the checking too: the oracles cost time of their own.
        got = schedule.refusal() if schedule.spent() else result()
        state.record(i, case, finish(case, judge_case(case, options.engine, got, state.call)))


def _execute_in_parallel(state: _Run, cases: list[Case] | CaseRecipe, jobs: int) -> None:
    """The cases in `jobs` processes, this one among them (see `parallel`); rows, finished and
    with their CSV lines, in case order. Only the cases with a row that is not `pass` come back
    whole, for blame and shrinking."""
    kept: dict[int, Case] = {}

    def on_case(i: int, rows: list[Record], lines: CsvLines) -> None:
        case = kept.pop(i, None)
        if case is not None:
            state.cases.append(case)
        state.record(i, case, rows, lines)

    check_in_parallel(
        state.options, cases, jobs, on_case, state.finish, call=state.call,
        on_kept=kept.__setitem__,
    )  # fmt: skip


def _apply_xfails(state: _Run, xfails: list[XfailEntry] | None) -> None:
    """The listed failures become xfail (and stale entries warnings), once."""
    if not xfails or state.xfailed:
        return
    state.records, stale = apply_xfails(state.records, xfails)
    state.warnings += stale
    state.xfailed = True
    state.rows_by_case = {}
    for r in state.records:
        state.rows_by_case.setdefault(r.case, []).append(r)


def _shrink(state: _Run) -> list:
    """One minimal reproducer per distinct failure (see `failures.reproducers`)."""
    options, schedule, call = state.options, state.schedule, state.call
    assert schedule is not None and call is not None

    def judge(case: Case, result: EngineResult) -> list[Record]:
        if not_run(result):  # a spec the schedule refused cannot show how a failure fails
            return []
        return state.finish(case, judge_case(case, options.engine, result, call))

    def shrink_call(spec: GraphSpec) -> EngineResult:
        if schedule.expects_timeout(spec):  # a step of shrinking must not cost a timeout
            return EngineResult(error=f"{NOT_RUN}a graph with as many paths timed out")
        return call(spec)

    ran = {
        cid: [r for r in rows if not r.detail.startswith(NOT_RUN)]
        for cid, rows in state.rows_by_case.items()
    }
    state.layer_failures = layer_failures(state.cases, ran, call)
    return find_failures(state.cases, ran, judge, shrink_call)


def _outcome(state: _Run, interrupted: bool, failures: list, start: float) -> RunOutcome:
    frame = to_frame(state.records)
    elapsed = time.perf_counter() - start
    code, message = verdict(frame, interrupted, state.options.dtype)
    return RunOutcome(
        frame, code, message, state.name, elapsed, interrupted, state.total, failures=failures,
        unsupported=state.unsupported, warnings=state.warnings, broken=state.broken,
        layer_failures=state.layer_failures, options=state.options,
    )  # fmt: skip


def verdict(
    frame: pd.DataFrame, interrupted: bool = False, dtype: str = "float64"
) -> tuple[int, str]:
    """The exit code and a one-line verdict for a frame of records: the gate's statuses, then
    the differences from torch's conventions by kind (gating ones under --strict); for a
    failing float64 run of an engine whose numbers are float32's, the `--dtype` to give."""
    code, message = _verdict(frame, interrupted)
    if code == EXIT_FAILED and dtype == "float64":
        hint = suggestion(frame)
        if hint is not None:
            message = f"{message}; {hint}"
    return code, message


def _verdict(frame: pd.DataFrame, interrupted: bool) -> tuple[int, str]:
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
        if not counts.get("fail", 0) and not counts.get("xpass", 0) and not gating:
            what = "errors: the engine raised, hung or gave no numbers"
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
