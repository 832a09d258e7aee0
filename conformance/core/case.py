"""A case: one graph of a suite, the op it is about, and which checker judges it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec

__all__ = ["Case", "EngineCall"]

# Runs one more spec on the engine under test (in its worker): what a checker may ask for.
EngineCall = Callable[[GraphSpec], EngineResult]


@dataclass(frozen=True)
class Case:
    """One case of a suite: its id, the graph the engine runs, the op it is about.

    `kind` picks the checker that judges the engine's result (`checks.judge.CHECKERS`): "graph"
    compares with torch on the same graph; other kinds (neurons, say) bring their own oracle and
    checks, with whatever they need in `payload` (plain JSON text).
    """

    suite: str
    case_id: str
    spec: GraphSpec
    op: str
    reproduce: str = ""
    kind: str = "graph"
    payload: str = ""
