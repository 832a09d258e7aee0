"""The checkers of the `semantics` suite: repeated backward() and the deep chain (the other cases
are graph cases; see `conformance.cases.semantics`)."""

from __future__ import annotations

import re
from dataclasses import replace

from conformance.checks.graph import check_graph
from conformance.core.case import Case, EngineCall
from conformance.core.records import WRONG, Record, Status
from conformance.core.result import EngineResult

__all__ = ["check_deep", "check_repeated"]

_LIMIT_ERRORS = re.compile(
    r"RecursionError|recursion|stack|process died|timed out|MemoryError", re.IGNORECASE
)


def _as_convention(rows: list[Record], kind: str, why: str, errors_only: bool) -> list[Record]:
    def convert(r: Record) -> Record:
        if r.status == Status.ERROR and (not errors_only or _LIMIT_ERRORS.search(r.detail)):
            return replace(r, status="differs", kind=kind, detail=f"{r.detail}: {why}")
        if r.status == Status.FAIL and not errors_only:
            return replace(r, status="differs", kind=kind, detail=f"{r.detail}: {why}")
        return r

    return [convert(r) for r in rows]


def check_repeated(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """A graph case whose differences are backward-call conventions (gating only if strict)."""
    rows = check_graph(case, engine, result, call)
    if not any(r.status in WRONG for r in rows):
        return rows
    # Only a convention if one backward() on the same graph is right: otherwise it is wrong math
    # that merely shows here too.
    once = replace(case, spec=replace(case.spec, backwards=1, zero_between=False))
    first = check_graph(once, engine, call(once.spec), call)
    if any(r.status in WRONG for r in first):
        hint = (
            "one backward() on this graph is already wrong: fix that first (see sem-backward-once)"
        )
        return [replace(r, hint=hint) if r.status == "fail" else r for r in rows]
    why = (
        "backward() called again on the same graph differs from torch's retain_graph=True "
        "semantics, though one call is right: a backward-call convention, not wrong math"
    )
    return _as_convention(rows, "backward-calls", why, errors_only=False)


def check_deep(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """A graph case where running out of stack (or time) on depth alone is a limit, not a bug."""
    rows = check_graph(case, engine, result, call)
    why = (
        f"the engine cannot go {len(case.spec.nodes):,} nodes deep (a recursive topological "
        "sort, say): a limit, not wrong math; an iterative order with an explicit stack has none"
    )
    return _as_convention(rows, "limits", why, errors_only=True)
