"""Best-of-R wall time of forward (building the graph) plus backward() for one engine."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks.graphs import Plan, build_graph, load_engine

__all__ = ["Timing", "recursion_limit", "time_plan"]


@dataclass(frozen=True)
class Timing:
    """Best times in seconds, with the cyclic GC on (as a user runs) and off; the result."""

    engine: str
    best_s: float
    best_s_gc_off: float
    output: float
    leaf_grads: tuple[float, ...]


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit to at least `limit` inside the block."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _once(plan: Plan, engine_name: str, gc_on: bool) -> tuple[float, float, tuple[float, ...]]:
    engine = load_engine(engine_name)
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        start = time.perf_counter()
        leaves, out = build_graph(plan, engine)
        out.backward()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed, engine.value(out), tuple(engine.grad(x) for x in leaves)


def time_plan(plan: Plan, engine_name: str, repeat: int) -> Timing:
    """Best of `repeat` runs each with the GC on and off; drawing the plan is not timed."""
    on = [_once(plan, engine_name, gc_on=True) for _ in range(repeat)]
    off = [_once(plan, engine_name, gc_on=False) for _ in range(repeat)]
    _t, output, grads = on[-1]
    return Timing(engine_name, min(r[0] for r in on), min(r[0] for r in off), output, grads)
