"""Which checker judges a case, by its kind, and what one case's rows become when judging breaks.

A checker receives the case, the engine's name, the engine's result for `case.spec`, and `call`,
which runs one more spec on the same engine (in its worker, ahead of the queued cases) for checks
that need the engine again: an SGD step, a training trajectory. It returns the case's records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.checks.edges import check_edge
from conformance.checks.graph import check_graph
from conformance.checks.layers import check_layer
from conformance.checks.neurons import check_neuron
from conformance.checks.semantics import check_deep, check_repeated
from conformance.checks.tensor_graphs import check_tensor_graph
from conformance.checks.training import check_training
from conformance.core.case import Case, EngineCall
from conformance.core.records import Record, Status, strictly
from conformance.core.result import EngineResult
from conformance.core.vocabulary import OPS
from conformance.engines.schedule import not_run

__all__ = ["CHECKERS", "Checker", "Finish", "blame_broken", "judge_case"]

Checker = Callable[[Case, str, EngineResult, EngineCall], list[Record]]

CHECKERS: dict[str, Checker] = {
    "graph": check_graph,
    "edge": check_edge,
    "repeated-backward": check_repeated,
    "deep-chain": check_deep,
    "neuron": check_neuron,
    "training": check_training,
    "layer": check_layer,
    "tensor-graph": check_tensor_graph,
}


def judge_case(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """The case's checker; if checking itself breaks (say the engine's numbers make the next
    step impossible), one `error` row that says so, and the run goes on. A case the schedule
    did not run is one `error` row that says why."""
    if not_run(result):
        return [Record.for_case(case, engine, status=Status.ERROR, detail=result.error)]
    try:
        return CHECKERS[case.kind](case, engine, result, call)
    except Exception as exc:
        detail = (
            f"checking this case stopped: {type(exc).__name__}: {exc} (after the engine's "
            "results; if the engine looks right, this is a bug in backprop-conformance)"
        )
        return [Record.for_case(case, engine, status=Status.ERROR, detail=detail)]


def blame_broken(case: Case, rows: list[Record], broken: dict) -> list[Record]:
    """Error rows of a case that uses an op the probe found broken (it exists but raises, or
    gives a non-number value or gradient) name that op as the one to blame, and what broke."""
    if case.kind == "layer" or not any(r.status == "error" for r in rows):
        return rows
    used = {n.op for n in case.spec.nodes}
    found = {v[0]: why for v, why in broken.items() if v[0] in used}
    if not found:
        if case.op not in OPS:
            return rows
        found = {case.op: ""}  # a one-op case: its op raised, whatever the probe saw
    blame = ",".join(sorted(found))
    hint = "; ".join(found[op] for op in sorted(found) if found[op])
    return [
        replace(r, blame=blame, hint=hint) if r.status == "error" and not r.blame else r
        for r in rows
    ]


@dataclass(frozen=True)
class Finish:
    """A case's rows as the run keeps them: a broken op blamed, conventions gating under
    --strict. Picklable: `--jobs` checker processes finish the rows they send.
    (`case` may be None only when no row is an error.)"""

    broken: dict = field(default_factory=dict)  # the probe's op variants that break, with why
    strict: bool = False

    def __call__(self, case: Case | None, rows: list[Record]) -> list[Record]:
        rows = blame_broken(case, rows, self.broken)  # type: ignore[arg-type]
        return strictly(rows) if self.strict else rows
