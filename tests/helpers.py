"""Shared test helpers: the default run's cases, their oracles computed once, engines in process."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from conformance.checks.judge import CHECKERS
from conformance.core.case import Case
from conformance.core.options import RunOptions
from conformance.core.records import Record
from conformance.engines.scalar import ScalarClassEngine
from conformance.run.pipeline import collect_cases, run_in_process

ROOT = Path(__file__).resolve().parents[1]  # the project's root

# The hypothesis profile sizes the acceptance runs too: `ci` (the default, CI's) draws enough
# for each claim to be shown and to fail when broken; `thorough` what the closing notes measured.
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def sized(quick: int, thorough: int) -> int:
    """`quick` cases (or steps) under the `ci` profile, `thorough` under `thorough`."""
    return thorough if THOROUGH else quick


# The suites these helpers judge: the neuron suites have acceptance tests of their own
# (tests/test_neurons.py, tests/test_training.py), and would only slow the graph ones down.
GRAPH_SUITES = tuple(s for s in RunOptions.suites if s not in ("neurons", "training"))


@functools.lru_cache(maxsize=32)
def default_cases(seed: int, cases: int = RunOptions.cases) -> tuple[Case, ...]:
    """The default run's cases for `seed` (the graph-kind suites)."""
    return tuple(collect_cases(RunOptions(seed=seed, cases=cases, suites=GRAPH_SUITES)))


def check_engine_rows(
    engine,
    seed: int,
    cases: int = RunOptions.cases,
    until: Callable[[list[Record]], bool] | None = None,
) -> list[Record]:
    """The rows the default run writes for `engine` (an engine object), in process, in case
    order; with `until`, stop after the first case whose rows make it true."""
    name = getattr(engine, "name", "engine")
    call = functools.partial(run_in_process, engine)
    rows: list[Record] = []
    for case in default_cases(seed, cases):
        new = CHECKERS[case.kind](case, name, run_in_process(engine, case.spec), call)
        rows.extend(new)
        if until is not None and until(new):
            break
    return rows


def scalar_engine(cls: type, name: str | None = None) -> ScalarClassEngine:
    """A scalar-class engine adapter for `cls`."""
    return ScalarClassEngine(cls, name or cls.__name__)
