"""Time for each case: a limit scaled to its graph, shapes that keep timing out, a run budget.

A correct engine's time grows with the nodes of a graph. An engine whose topological order has
no visited set visits a node once per path to the output: the 40 levels of diamonds of the
semantics suite have 2**41 such visits, and every case like that would cost the whole --timeout.
So that such an engine's run ends in minutes, and says why:

- each case's limit is min(--timeout, max(FLOOR, PER_NODE × its size)): seconds for the small
  graphs where a timeout can only mean a runaway engine, --timeout for the big ones;
- after a timeout on a graph with far more paths than nodes, graphs with at least as many paths
  are not run; after REPEATS timeouts of one shape (suite and op), its other cases are not run;
- once the run's --budget is spent, no more cases are run.

A case not run is an `error` row whose detail, starting "not run: ", says why.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from conformance.core.options import DEFAULT_BUDGET, DEFAULT_TIMEOUT
from conformance.core.paths import path_heavy, traversal_length
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec

if TYPE_CHECKING:
    from conformance.core.case import Case

__all__ = [
    "FLOOR",
    "NOT_RUN",
    "PER_NODE",
    "REPEATS",
    "Schedule",
    "case_limit",
    "not_run",
    "shape",
]

# torch.autograd takes 30-65 µs a node on a float64 scalar graph (forward and backward; measured
# on the 5,000- and 100,000-node chains of the semantics suite, 2 shared cores), refimpl 25-110
# µs a node in its worker (parsing the spec included). A limit of 30 times torch's time lets an
# engine 15 times slower than refimpl at its slowest through, and a correct pure-Python engine
# is not slower than that.
TORCH_PER_NODE = 60e-6
FACTOR = 30
PER_NODE = FACTOR * TORCH_PER_NODE  # 1.8 ms a node
# No limit below this: the graphs under 5,500 nodes (all but the chains), where refimpl takes at
# most 0.6 s (the 5,000-node chain, measured with the machine busy) and a random graph of 30
# nodes a few milliseconds. Ten seconds leave room for a loaded machine and a slow first call.
FLOOR = 10.0
REPEATS = 3  # timeouts of one shape before the rest of it is not run
NOT_RUN = "not run: "


def case_limit(spec: GraphSpec, timeout: float = DEFAULT_TIMEOUT) -> float:
    """The seconds one call on `spec` may take: scaled to its size, at most `timeout`."""
    if not isinstance(spec, GraphSpec):  # a layer case: one call of a few arrays
        return timeout
    size = (len(spec.nodes) + len(spec.leaves)) * spec.backwards
    return min(timeout, max(FLOOR, PER_NODE * size))


def shape(case: Case) -> str:
    """The kind of case whose timeouts count together: its suite and op ("graphs/exp")."""
    return f"{case.suite}/{case.op}"


def not_run(result: EngineResult) -> bool:
    """Whether the schedule refused to run the case (the result's error says why)."""
    return bool(result.error) and result.error.startswith(NOT_RUN)


class Schedule:
    """Per-call limits, the timeouts seen so far, and the run's deadline; shared by the threads
    that serve an engine pool, so every method takes the lock."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, budget: float = DEFAULT_BUDGET) -> None:
        self.timeout = float(timeout)
        self.budget = float(budget)
        self.deadline = time.monotonic() + self.budget
        self._lock = threading.Lock()
        self._timeouts: Counter[str] = Counter()
        self._fewest_visits: int | None = None  # of the path-heavy graphs that timed out

    def spent(self) -> bool:
        """Whether the run's time budget is used up."""
        return time.monotonic() >= self.deadline

    def refusal(self) -> EngineResult:
        """The result of a case not run because the budget is spent."""
        return EngineResult(error=f"{NOT_RUN}the run's time budget of {self.budget:g} s was spent")

    def limit(self, spec: GraphSpec) -> float:
        """The limit of one call on `spec`."""
        return case_limit(spec, self.timeout)

    def admit(self, spec: GraphSpec, shape: str = "") -> str | None:
        """Why `spec` (of `shape`, "suite/op") is not to be run, or None to run it."""
        if self.spent():
            return self.refusal().error
        with self._lock:
            repeated = self._timeouts[shape] if shape else 0
            fewest = self._fewest_visits
        if repeated >= REPEATS:
            suite, _, op = shape.partition("/")
            return f"{NOT_RUN}{repeated} cases like it ({suite}, op {op}) timed out"
        if fewest is not None and isinstance(spec, GraphSpec) and path_heavy(spec):
            visits = traversal_length(spec)
            if visits >= fewest:
                return (
                    f"{NOT_RUN}a graph with fewer paths timed out ({fewest:,} node visits "
                    f"along its paths to the output, {visits:,} here): an engine that visits "
                    "nodes once per path cannot finish"
                )
        return None

    def expects_timeout(self, spec: GraphSpec) -> bool:
        """Whether `spec` has far more paths than nodes, after such a graph timed out: shrinking
        a failure runs it only where it is not (each step that still timed out costs a limit)."""
        with self._lock:
            seen = self._fewest_visits is not None
        return seen and isinstance(spec, GraphSpec) and path_heavy(spec)

    def timed_out(self, spec: GraphSpec, shape: str, limit: float) -> str:
        """Note a timeout of `spec`; the error that says so, with the limit and a likely why."""
        heavy = isinstance(spec, GraphSpec) and path_heavy(spec)
        visits = traversal_length(spec) if heavy else 0
        with self._lock:
            if shape:
                self._timeouts[shape] += 1
            if heavy and (self._fewest_visits is None or visits < self._fewest_visits):
                self._fewest_visits = visits
        n = len(spec.nodes) if isinstance(spec, GraphSpec) else 0
        if limit >= self.timeout:
            text = f"timed out after {limit:g} s (--timeout; the worker was stopped)"
        else:
            text = (
                f"timed out after {limit:g} s (this graph's limit: {PER_NODE * 1000:g} ms a node, "
                f"at least {FLOOR:g} s, at most --timeout {self.timeout:g} s; the worker was "
                "stopped)"
            )
        if heavy:
            text += (
                f"; the graph has {visits:,} node visits along its paths to the output for "
                f"{n:,} nodes: the engine may be visiting nodes once per path (a topological "
                "order without a visited set)"
            )
        return text
