"""Public: the pytest plugin. Conformance cases as pytest items, in the engine author's own suite.

    pytest --backprop-engine mypkg.engine:Value                    # every suite, as `run` does
    pytest --backprop-engine engine.py:Value --backprop-suite examples,edges -k tanh
    pytest --backprop-engine engine.py:Value -n 2 --backprop-report reports

Each case is an item named by its case id (`-k`, `--deselect` and pytest-xdist work as for any
test). A failing item's message is the CSV row's and the diagnosis: the rows that fail, the op to
blame, the first wrong node, the hint, the replay command and a minimal reproducer's path. A
difference from torch's conventions that does not gate is a skip with its reason; under
`--backprop-strict` it fails, as in `run --strict`. `--backprop-xfails FILE` reads the same
xfails file as `run`; pytest's own xfail markers work on these items as on any.
`--backprop-dtype float32` checks an engine that computes in float32, as `run --dtype` does.

Registered through the `pytest11` entry point and inert without `--backprop-engine`: it adds
its options and nothing else, and imports neither torch nor pandas.

For a few cases inside your own tests, parametrize over them and assert on each:

    from conformance.pytest_plugin import assert_case, conformance_cases

    @pytest.mark.parametrize("case", conformance_cases(suites=["examples"], ops={"tanh"}))
    def test_tanh_matches_torch(case):
        assert_case(MyValue, case)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CaseFailed", "CaseItem", "assert_case", "conformance_cases"]

COLLECTOR = "backprop-conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options, as `run` has them, prefixed `--backprop-`."""
    from conformance.cli import args
    from conformance.core.options import DEFAULT_TIMEOUT, SUITE_NAMES, RunOptions

    group = parser.getgroup("backprop-conformance", "check hand-written backprop against torch")
    group.addoption(
        "--backprop-engine", default=None, metavar="ENGINE",
        help="collect the conformance cases for this engine: refimpl, MODULE:ATTR or "
        "FILE.py:ATTR (a scalar Value class or a function engine), or command:CMD",
    )  # fmt: skip
    group.addoption(
        "--backprop-suite", type=args.suites, default=None, metavar="S,...",
        help=f"suites to collect (default: all: {', '.join(SUITE_NAMES)})",
    )  # fmt: skip
    group.addoption(
        "--backprop-dtype", type=args.dtype, default="float64", metavar="DTYPE",
        help="the precision the engine computes in: float64 (default) or float32",
    )  # fmt: skip
    group.addoption(
        "--backprop-cases", type=args.count, default=RunOptions.cases, metavar="N",
        help=f"random graphs in the graphs suite (default {RunOptions.cases})",
    )  # fmt: skip
    group.addoption("--backprop-seed", type=args.seed, default=0, metavar="N",
                    help="seed of the random cases (default 0)")  # fmt: skip
    group.addoption(
        "--backprop-max-nodes", type=args.max_nodes_type, default=RunOptions.max_nodes,
        metavar="N", help=f"most nodes in a random graph (default {RunOptions.max_nodes})",
    )  # fmt: skip
    group.addoption(
        "--backprop-steps", type=args.positive_int, default=RunOptions.steps,
        metavar="N", help=f"SGD steps of each training case (default {RunOptions.steps})",
    )  # fmt: skip
    group.addoption(
        "--backprop-timeout", type=args.seconds, default=DEFAULT_TIMEOUT, metavar="S",
        help=f"seconds per engine call (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    group.addoption(
        "--backprop-strict", action="store_true",
        help="differences from torch's conventions fail too, as with run --strict",
    )  # fmt: skip
    group.addoption("--backprop-xfails", default=None, metavar="FILE",
                    help="expected failures, in run's --xfails format")  # fmt: skip
    group.addoption(
        "--backprop-report", default=None, metavar="DIR",
        help="write the reports (CSV, HTML, reproducers) to DIR, as run --out does",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """With --backprop-engine: the session's plugin (the engine loads at collection)."""
    if config.getoption("backprop_engine") is None:
        return
    from conformance.cli.args import suites_for_dtype, suites_for_engine

    given, dtype = config.getoption("backprop_suite"), config.getoption("backprop_dtype")
    try:
        given = suites_for_engine(given, config.getoption("backprop_engine"))
        config.option.backprop_suite = suites_for_dtype(given, dtype)
    except ValueError as exc:
        raise pytest.UsageError(str(exc).replace("--dtype", "--backprop-dtype")) from None
    for suite in config.getoption("backprop_suite"):
        config.addinivalue_line("markers", f"backprop_{suite}: a case of the {suite} suite")
    config.pluginmanager.register(_Session(config), "backprop-conformance-session")


class _Session:
    """The options, the engine (loaded at collection, in each pytest-xdist worker) and the rows
    each case item reported (in the process that writes the reports): a plugin of its own,
    registered only with --backprop-engine."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance.core.options import RunOptions

        get = config.getoption
        self.config = config
        self.options = RunOptions(
            engine=get("backprop_engine"), suites=get("backprop_suite"),
            cases=get("backprop_cases"), seed=get("backprop_seed"),
            max_nodes=get("backprop_max_nodes"), steps=get("backprop_steps"),
            timeout=get("backprop_timeout"), strict=get("backprop_strict"),
            dtype=get("backprop_dtype"),
            out=get("backprop_report") or "reports",
        )  # fmt: skip
        self.report = Path(get("backprop_report")) if get("backprop_report") else None
        self.xfails_file = get("backprop_xfails")
        self.checker = None
        self.rows_of: dict[int, dict] = {}
        self.summary: list[str] = []
        self.started = time.perf_counter()
        self._lock = None
        # The controller (or the only process) prepares the report folder, before any worker
        # writes a reproducer there.
        if self.report is not None and not hasattr(config, "workerinput"):
            self._prepare_report()

    def _prepare_report(self) -> None:
        from conformance.report.writers import ForeignFiles, OutBusy, lock_out, prepare_out

        try:
            self._lock = lock_out(self.report)
            prepare_out(self.report)
        except (OutBusy, ForeignFiles) as exc:
            raise pytest.UsageError(f"--backprop-report: {exc}") from None
        except OSError as exc:
            raise pytest.UsageError(f"--backprop-report: cannot write there: {exc}") from None

    def start(self):
        """The engine, loaded and probed; a one-line usage error when it cannot load."""
        if self.checker is None:
            from conformance.core.spec import SpecError
            from conformance.engines import EngineLoadError
            from conformance.failures.xfails import load_xfails
            from conformance.run.single import CaseChecker

            try:
                xfails = load_xfails(Path(self.xfails_file)) if self.xfails_file else None
            except SpecError as exc:
                raise pytest.UsageError(f"--backprop-xfails: {exc}") from None
            folder = self.report
            if folder is None:  # pytest's own temporary folder (one per xdist worker)
                folder = self.config._tmp_path_factory.getbasetemp() / "backprop-conformance"
            try:
                self.checker = CaseChecker(self.options, xfails=xfails, failures_dir=folder)
            except EngineLoadError as exc:
                raise pytest.UsageError(f"--backprop-engine: {exc}") from None
        return self.checker

    @pytest.hookimpl(tryfirst=True)  # before -k and --deselect filter the items
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list) -> None:
        """The conformance cases, appended to whatever else was collected."""
        collector = _Cases.from_parent(session, name=COLLECTOR, nodeid=COLLECTOR)
        items.extend(collector.collect())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """A case item's report carries its rows (plain data, which pytest-xdist sends on)."""
        report = yield
        found = getattr(item, "backprop", None)
        if found is not None and call.when == "call":
            report.backprop = found
            if report.skipped and isinstance(report.longrepr, tuple):  # at the case, not here
                reason = report.longrepr[2]
                report.longrepr = (str(item.path / COLLECTOR), None, reason)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = getattr(report, "backprop", None)
        if found is not None:
            self.rows_of[found["index"]] = found

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The reports, written once (by the controller under pytest-xdist) when asked."""
        if self.report is not None and not hasattr(session.config, "workerinput"):
            self.write_reports()

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.summary:
            terminalreporter.write_sep("-", "backprop-conformance")
            for line in self.summary:
                terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        if self.checker is not None:
            self.checker.close()
            self.checker = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def write_reports(self) -> None:
        """The run's reports from the rows the items reported, in case order."""
        from conformance.core.records import from_values, to_frame
        from conformance.report.writers import write_reports
        from conformance.run.pipeline import RunOutcome, verdict

        found = [self.rows_of[i] for i in sorted(self.rows_of)]
        frame = to_frame(from_values([tuple(v) for f in found for v in f["rows"]]))
        code, message = verdict(frame, dtype=self.options.dtype)
        name = self.checker.name if self.checker is not None else self.options.engine
        elapsed = time.perf_counter() - self.started
        outcome = RunOutcome(frame, code, message, name, elapsed, cases=len(found))
        files = sorted({Path(p) for f in found for p in f["failure_files"]})
        paths = write_reports(outcome, self.options, self.report, extra_failure_files=files)
        self.summary = [message, f"reports: {paths['html']} and {paths['csv']}"]


class _Cases(pytest.Collector):
    """The conformance cases of the session's options, one item each."""

    def collect(self) -> list[pytest.Item]:
        cases = _session(self.config).start().cases()
        return [
            CaseItem.from_parent(self, name=case.case_id, case=case, index=i)
            for i, case in enumerate(cases)
        ]


class CaseItem(pytest.Item):
    """One conformance case: the engine runs it, torch judges it."""

    def __init__(self, *, case, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.index = index
        self.add_marker(getattr(pytest.mark, f"backprop_{case.suite}"))
        # `-k tanh` selects the cases about tanh: the case's op and every op its graph uses.
        # (`item.keywords` holds them too, for a conftest that marks the cases of an op.)
        self.ops = _ops_of(case)
        self.extra_keyword_matches.update(self.ops)
        self.keywords.update(dict.fromkeys(self.ops, True))

    def runtest(self) -> None:
        verdict = _session(self.config).start().check(self.case)
        self.backprop = {
            "index": self.index,
            "rows": [_plain(r) for r in verdict.rows],
            "failure_files": [str(p) for p in verdict.failure_files],
        }
        if verdict.outcome == "failed":
            raise CaseFailed(verdict.message)
        if verdict.outcome == "skipped":
            pytest.skip(f"{self.case.suite}/{self.case.case_id}: {verdict.message}")
        if verdict.outcome == "xfailed":
            pytest.xfail(verdict.message)

    def repr_failure(self, excinfo, style=None):
        # The diagnosis is the whole story; pytest's traceback of runtest would parse this file
        # for every failing or expected-to-fail case.
        if isinstance(excinfo.value, (CaseFailed, pytest.xfail.Exception)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.case.suite}/{self.case.case_id}"


def _ops_of(case) -> set[str]:
    """The ops a case is about: its own (a neuron's kind, `neuron`; a layer) and every op its
    graph uses."""
    return {case.op.split(":")[0], *(n.op for n in getattr(case.spec, "nodes", ()))}


def _session(config: pytest.Config) -> _Session:
    return config.pluginmanager.get_plugin("backprop-conformance-session")


class CaseFailed(AssertionError):
    """A case whose rows fail: its message is the diagnosis."""


def _plain(record) -> list:
    """A record's values as plain JSON-like data (pytest-xdist sends only such)."""
    values = record.__dict__.values()
    return [v if v is None or type(v) in (float, int, bool) else str(v) for v in values]


def conformance_cases(
    suites: Iterable[str] = ("examples",),
    *,
    cases: int = 100,
    seed: int = 0,
    max_nodes: int = 30,
    ops: Iterable[str] | None = None,
) -> list:
    """The cases of `suites` as `pytest.param`s with their case ids, for `parametrize`; `ops`
    keeps only the cases about those ops (a random graph counts when it uses one of them)."""
    from conformance.core.options import ALL_SUITES, RunOptions
    from conformance.run.pipeline import collect_cases

    suites = [suites] if isinstance(suites, str) else list(suites)
    unknown = [s for s in suites if s not in ALL_SUITES]
    if unknown:
        raise ValueError(f"unknown suite {', '.join(unknown)}; choose from {', '.join(ALL_SUITES)}")
    options = RunOptions(suites=tuple(suites), cases=cases, seed=seed, max_nodes=max_nodes)
    found = collect_cases(options)
    if ops is not None:
        wanted = set(ops)
        found = [c for c in found if _ops_of(c) & wanted]
    return [pytest.param(c, id=c.case_id) for c in found]


def assert_case(engine: Any, case, *, strict: bool = False) -> None:
    """Run `case` on `engine` (a Value class, a function engine or an engine object) in this
    process; AssertionError with the diagnosis when it fails, pytest.skip when the case differs
    from torch's conventions only (or is not supported)."""
    from conformance.api import _adapter
    from conformance.core.options import RunOptions
    from conformance.run.single import CaseChecker

    checker = CaseChecker(RunOptions(strict=strict), engine=_adapter(engine))
    verdict = checker.check(case)
    if verdict.outcome == "failed":
        raise CaseFailed(verdict.message)
    if verdict.outcome in ("skipped", "xfailed"):
        pytest.skip(verdict.message)
