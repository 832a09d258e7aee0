"""The registry of checkers: for each kind of case, the function that judges an engine's result.

A checker receives the case, the engine's name, the engine's result for `case.spec`, and `call`,
which runs one more spec on the same engine (in its worker, ahead of the queued cases) for checks
that need the engine again: an SGD step, a training trajectory. It returns the case's records.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.compare import Case
from conformance.engines.result import EngineResult
from conformance.records import Record
from conformance.spec import GraphSpec

__all__ = ["CHECKERS", "Checker", "EngineCall", "checker"]

EngineCall = Callable[[GraphSpec], EngineResult]
Checker = Callable[[Case, str, EngineResult, EngineCall], list[Record]]

CHECKERS: dict[str, Checker] = {}


def checker(kind: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of cases of `kind`."""

    def register(fn: Checker) -> Checker:
        CHECKERS[kind] = fn
        return fn

    return register
