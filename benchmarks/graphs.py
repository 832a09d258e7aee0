"""One random graph plan, and the code that builds it in refimpl, micrograd and torch."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "Plan",
    "Step",
    "build_chain",
    "build_graph",
    "draw_plan",
    "load_engine",
    "run_plan",
]

OPS = ("+", "-", "*", "relu")
# Every node's value stays in [-BOUND, BOUND], so no engine meets an inf or a nan.
BOUND = 100.0
WINDOW = 8  # a second operand is one of the last WINDOW nodes, a leaf, or a constant
# A factor of a product is at most this large, so gradients neither overflow nor all vanish.
MAX_FACTOR = 2.0


@dataclass(frozen=True)
class Step:
    """One op: `op` on node `a` (always the previous node) and node `b` or constant `const`."""

    op: str
    a: int
    b: int | None = None
    const: float | None = None


@dataclass(frozen=True)
class Plan:
    """Leaf values, then steps; node i is leaf i for i < len(leaves), else step i - len(leaves)."""

    leaves: tuple[float, ...]
    steps: tuple[Step, ...]


def _apply(op: str, x: float, y: float) -> float:
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    return x if x > 0 else 0.0


def _draw_step(rng: random.Random, values: list[float], n_leaves: int) -> tuple[Step, float]:
    """One candidate op on the last node, and its value."""
    a = len(values) - 1
    op = rng.choice(OPS)
    if op == "relu":
        return Step(op, a), _apply(op, values[a], 0.0)
    if rng.random() < 0.4:
        const = 0.0
        while const == 0.0:  # a zero factor would cut every path through this node
            const = round(rng.uniform(-1.5, 1.5), 3)
        return Step(op, a, const=const), _apply(op, values[a], const)
    pool = rng.random() < 0.25
    b = rng.randrange(n_leaves) if pool else rng.randrange(max(0, a - WINDOW), a + 1)
    return Step(op, a, b=b), _apply(op, values[a], values[b])


def _acceptable(step: Step, values: list[float], out: float) -> bool:
    """Bounded, and no gradient cut: relu only on a positive input, no factor 0 or too large."""
    if abs(out) > BOUND or out == 0.0:
        return False
    if step.op == "relu":
        return values[step.a] > 0
    if step.op == "*" and step.b is not None:
        return 0.0 < abs(values[step.b]) <= MAX_FACTOR
    return True


def draw_plan(n_ops: int, *, n_leaves: int = 16, seed: int = 0) -> Plan:
    """A chain of `n_ops` ops from + - * relu; operands mix recent nodes, leaves and constants.

    Node i+1 always reads node i, so backward reaches every node; the draws are retried until
    values stay in [-BOUND, BOUND] and no path to a leaf is cut (relu only on positive inputs,
    no zero factors), so the leaves' gradients, which the engines must agree on, are not zero.
    """
    rng = random.Random(seed)
    leaves = tuple(round(rng.uniform(-2.0, 2.0), 3) or 1.0 for _ in range(n_leaves))
    values = list(leaves)
    steps = []
    for _ in range(n_ops):
        for _attempt in range(100):
            step, out = _draw_step(rng, values, n_leaves)
            if _acceptable(step, values, out):
                break
        else:
            a = len(values) - 1
            step, out = Step("+", a, const=1.0 if values[a] <= 0 else -1.0), values[a]
            out = _apply("+", out, step.const)
        steps.append(step)
        values.append(out)
    return Plan(leaves, tuple(steps))


class Engine(NamedTuple):
    """What the benchmarks need of an engine: make a leaf, relu, and read a value and a gradient."""

    leaf: Callable[[float], Any]
    relu: Callable[[Any], Any]
    value: Callable[[Any], float]
    grad: Callable[[Any], float]


def _refimpl() -> Engine:
    from refimpl import Value

    return Engine(Value, Value.relu, lambda v: v.data, lambda v: v.grad)


def _micrograd() -> Engine:
    from micrograd.engine import Value

    return Engine(Value, Value.relu, lambda v: float(v.data), lambda v: float(v.grad))


def _torch() -> Engine:
    import torch

    def leaf(v: float) -> Any:
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    def grad(t: Any) -> float:
        return 0.0 if t.grad is None else t.grad.item()

    return Engine(leaf, torch.relu, lambda t: t.item(), grad)


# Imports are lazy, so a memory subprocess that loads refimpl or micrograd never imports torch.
_LOADERS: dict[str, Callable[[], Engine]] = {
    "refimpl": _refimpl,
    "micrograd": _micrograd,
    "torch": _torch,
}
ENGINE_NAMES = tuple(_LOADERS)


def load_engine(name: str) -> Engine:
    """The engine called `name`: one of ENGINE_NAMES."""
    return _LOADERS[name]()


def build_graph(plan: Plan, engine: Engine) -> tuple[list, Any]:
    """The plan's graph in `engine`: its leaves and its output node (no backward yet)."""
    leaves = [engine.leaf(v) for v in plan.leaves]
    relu = engine.relu
    nodes = list(leaves)
    append = nodes.append
    for s in plan.steps:
        x = nodes[s.a]
        if s.op == "relu":
            append(relu(x))
            continue
        y = nodes[s.b] if s.b is not None else s.const
        if s.op == "+":
            append(x + y)
        elif s.op == "-":
            append(x - y)
        else:
            append(x * y)
    return leaves, nodes[-1]


def run_plan(plan: Plan, engine: Engine) -> tuple[float, list[float]]:
    """Build the plan's graph, call backward(); return the output and the leaves' gradients."""
    leaves, out = build_graph(plan, engine)
    out.backward()
    return engine.value(out), [engine.grad(x) for x in leaves]


def build_chain(n: int, engine: Engine) -> tuple[Any, Any]:
    """x a leaf, then y = y + x n times: depth n and an n-fold fan-out of x; returns (x, y)."""
    x = engine.leaf(1.0)
    y = x
    for _ in range(n):
        y = y + x
    return x, y
