"""Shared test helpers: cases with their oracles computed once, and engines run in process."""

from __future__ import annotations

import functools

from conformance.checkers import CHECKERS
from conformance.compare import Case
from conformance.engines.scalar import ScalarClassEngine
from conformance.options import RunOptions
from conformance.records import Record
from conformance.runner import Oracle, check_case, collect_cases, consult_oracles, run_in_process

# The suites these helpers judge: the neuron suites have acceptance tests of their own
# (tests/test_neurons.py, tests/test_training.py), and would only slow the graph ones down.
GRAPH_SUITES = tuple(s for s in RunOptions.suites if s not in ("neurons", "training"))


@functools.lru_cache(maxsize=32)
def judged_cases(
    seed: int, cases: int = RunOptions.cases
) -> tuple[tuple[Case, Oracle | None], ...]:
    """The default run's cases for `seed`, graph cases with their oracles (computed once)."""
    chosen = collect_cases(RunOptions(seed=seed, cases=cases, suites=GRAPH_SUITES))
    return tuple((c, consult_oracles(c) if c.kind == "graph" else None) for c in chosen)


def check_engine_rows(engine, seed: int, cases: int = RunOptions.cases) -> list[Record]:
    """Every row the default run would write for `engine` (an engine object), in process."""
    name = getattr(engine, "name", "engine")
    call = functools.partial(run_in_process, engine)
    rows: list[Record] = []
    for case, oracle in judged_cases(seed, cases):
        result = run_in_process(engine, case.spec)
        if oracle is not None:
            rows.extend(check_case(case, name, result, oracle))
        else:
            rows.extend(CHECKERS[case.kind](case, name, result, call))
    return rows


def scalar_engine(cls: type, name: str | None = None) -> ScalarClassEngine:
    """A scalar-class engine adapter for `cls`."""
    return ScalarClassEngine(cls, name or cls.__name__)
