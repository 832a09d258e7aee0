"""The checker of graph cases: the engine against torch.autograd and finite differences on the
same graph, then the first wrong node where a row fails."""

from __future__ import annotations

from conformance.checks.compare import compare_case
from conformance.checks.diagnose import annotate, diagnose
from conformance.core.case import Case, EngineCall
from conformance.core.records import Record, Status
from conformance.core.result import EngineResult
from conformance.oracles.consult import Oracle, consult

__all__ = ["Oracle", "check_case", "check_graph", "consult_oracles"]


def consult_oracles(case: Case) -> Oracle:
    """torch.autograd, finite differences and the tolerances for `case` (once per graph in a
    process: engines checked one after another share them)."""
    return consult(case.spec)


def check_case(
    case: Case, engine: str, result: EngineResult, oracle: Oracle | None = None
) -> list[Record]:
    """Compare `result` with the oracles (consulted here unless given)."""
    try:
        oracle = oracle or consult_oracles(case)
    except Exception as exc:
        why = f"the torch oracle raised {exc!r}"
        return [Record.for_case(case, engine, status=Status.UNVERIFIED, detail=why)]
    rows = compare_case(case, engine, result, oracle.reference, oracle.fd, oracle.bounds)
    if any(r.status == "fail" for r in rows):
        rows = annotate(rows, diagnose(case.spec, result, oracle.reference, oracle.bounds))
    return rows


def check_graph(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """The checker of graph cases: the same graph in torch and by finite differences."""
    return check_case(case, engine, result)
