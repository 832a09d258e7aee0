"""Random graphs from a shape and a seed: a seeded PRNG expands them node by node, fast.

Hypothesis draws the shape and the seed (`conformance.cases.strategies`), so it can shrink them; the
runner derives them from the run's seed. Every node reads earlier nodes only (a DAG by
construction) and every input lies inside its op's safe domain (`Op.valid`): values are computed
in floats as the graph grows, and an op whose inputs would be unsafe is drawn again.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from conformance.core.spec import GraphSpec, Node
from conformance.core.vocabulary import OPS, Op

__all__ = ["MAX_ABS_VALUE", "GraphShape", "expand", "largest_number", "single_op_specs", "sub_seed"]

# Node values stay within this magnitude, far from overflow.
MAX_ABS_VALUE = 1e6
CONST_PROBABILITY = 0.15

# How often each op is drawn: arithmetic is the backbone, elementary functions season it.
OP_WEIGHTS = {
    "add": 3, "sub": 3, "mul": 4, "div": 2, "neg": 1, "powc": 2, "powv": 1, "exp": 1, "log": 1,
    "tanh": 2, "sigmoid": 1, "relu": 2, "leaky_relu": 1, "affine": 2, "square": 1,
}  # fmt: skip


@dataclass(frozen=True)
class GraphShape:
    """What hypothesis draws: sizes and a seed; `expand` makes the graph."""

    n_leaves: int
    n_nodes: int
    seed: int


def sub_seed(*parts: object) -> int:
    """A 63-bit seed derived from anything printable; the same parts give the same seed."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def largest_number(spec: GraphSpec) -> float:
    """The largest magnitude the graph makes in float64: of its inputs, node values, every
    gradient, and every product of a gradient and a local derivative on the way (what must fit
    in a low-precision engine's range); inf where a value is not finite."""
    values = spec.walk(list(spec.leaves), lambda node, xs: OPS[node.op].forward(xs, node.param))
    named = spec.named(list(spec.leaves), values)
    grads = dict.fromkeys(named, 0.0)
    grads[spec.output] = spec.upstream
    largest = max((abs(v) for v in named.values()), default=0.0)
    for i in range(len(spec.nodes) - 1, -1, -1):
        node = spec.nodes[i]
        g = grads[f"n{i}"]
        if g == 0.0:
            continue
        xs = [named[a] for a in node.args]
        for arg, d in zip(node.args, OPS[node.op].local(xs, values[i], node.param)):
            if d is None:
                continue
            part = g * d
            grads[arg] += part
            largest = max(largest, abs(part), abs(grads[arg]))
    return largest if math.isfinite(largest) else math.inf


def _leaf_value(rng: random.Random) -> float:
    return rng.choice((-1.0, 1.0)) * rng.uniform(0.1, 3.0)


def _upstream(rng: random.Random) -> float:
    # Never 1: a backward that ignores the gradient from above must show.
    return rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 2.0)


def _ok(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_ABS_VALUE


Variant = tuple[str, str, "float | None"]  # (op, leaf/constant pattern like "vc", parameter)


def op_variants() -> Iterator[Variant]:
    """Every way the suite builds an op: each parameter and leaf/constant pattern."""
    for op in OPS.values():
        for param in op.params or (None,):
            for pattern in _patterns(op):
                yield op.name, pattern, param


def _pattern(args: tuple[str, ...]) -> str:
    return "".join("c" if a[0] == "c" else "v" for a in args)


def expand(
    shape: GraphShape,
    unsupported: frozenset = frozenset(),
    leaf_range: tuple[float, float] | None = None,
) -> GraphSpec:
    """The graph for `shape`: same shape, same graph, on every machine.

    `unsupported` holds the op variants the engine cannot build; the graph avoids them (and the
    same shape gives the same graph for every engine that lacks the same variants).
    `leaf_range` (low, high): the leaves drawn uniformly from it rather than ±[0.1, 3].
    """
    rng = random.Random(shape.seed)
    if leaf_range is None:
        leaves = [_leaf_value(rng) for _ in range(shape.n_leaves)]
    else:
        leaves = [rng.uniform(*leaf_range) for _ in range(shape.n_leaves)]
    consts: list[float] = []
    refs = [f"x{i}" for i in range(shape.n_leaves)]
    values = dict(zip(refs, leaves))
    unused = list(
        refs
    )  # not read by any node yet: preferred, so most of the graph reaches the output
    usable = {v[0] for v in op_variants() if v not in unsupported}
    names, weights = zip(*((n, w) for n, w in OP_WEIGHTS.items() if n in usable or n == "add"))
    nodes: list[Node] = []

    def add_node(op: Op, args: tuple[str, ...], param: float | None, out: float) -> None:
        ref = f"n{len(nodes)}"
        nodes.append(Node(op.name, args, param))
        for a in args:
            if a in unused:
                unused.remove(a)
        values[ref] = out
        refs.append(ref)
        unused.append(ref)

    def dangling() -> list[str]:
        return [r for r in unused if r[0] == "n"]

    def grow(first: str | None = None) -> None:
        n_consts = len(consts)
        for _attempt in range(50):
            del consts[n_consts:]  # constants drawn for a rejected attempt
            op = OPS[rng.choices(names, weights)[0]]
            param = rng.choice(op.params) if op.params else None
            args = _draw_args(rng, op, refs, unused, consts, values, first)
            xs = [values[a] for a in args]
            if (op.name, _pattern(args), param) in unsupported:
                continue
            if op.valid(xs, param):
                out = op.forward(xs, param)
                if _ok(out):
                    add_node(op, args, param, out)
                    return
        del consts[n_consts:]  # nothing fitted: a plain sum of two inputs always does
        args = (first or refs[-1], refs[rng.randrange(len(refs))])
        add_node(OPS["add"], args, None, values[args[0]] + values[args[1]])

    # Grow, keeping room to fold every node that nothing reads yet into the output; the fold
    # makes every node reach the output, and one last node on top makes the count exact.
    while len(nodes) + max(0, len(dangling()) - 1) < shape.n_nodes - 1:
        grow()
    while len(dangling()) > 1:
        a, b = dangling()[-2:]
        add_node(OPS["add"], (a, b), None, values[a] + values[b])
    if len(nodes) < shape.n_nodes:
        grow(first=dangling()[0] if dangling() else None)
    return GraphSpec(
        leaves=tuple(leaves),
        nodes=tuple(nodes),
        output=refs[-1],
        consts=tuple(consts),
        upstream=_upstream(rng),
    )


def _draw_args(
    rng: random.Random,
    op: Op,
    refs: list[str],
    unused: list[str],
    consts: list[float],
    values: dict[str, float],
    first: str | None = None,
) -> tuple[str, ...]:
    args: list[str] = []
    for i in range(op.arity):
        last = i == op.arity - 1
        if i == 0 and first is not None:
            ref = first
        elif op.arity > 1 and rng.random() < CONST_PROBABILITY and not (last and _all_const(args)):
            ref = f"c{len(consts)}"
            value = _leaf_value(rng)
            consts.append(value)
            values[ref] = value
        elif unused and rng.random() < 0.7:
            ref = rng.choice(unused)
        elif rng.random() < 0.5:
            ref = refs[-1 - rng.randrange(min(4, len(refs)))]  # a recent node: deep chains
        else:
            ref = rng.choice(refs)  # anywhere: fan-out and diamonds
        args.append(ref)
    return tuple(args)


def _all_const(args: list[str]) -> bool:
    return bool(args) and all(a.startswith("c") for a in args)


def _patterns(op: Op) -> tuple[str, ...]:
    """Which inputs are leaves (v) or constants (c) in the single-op cases of `op`."""
    if op.arity == 1:
        return ("v",)
    if op.arity == 2:
        return ("vv", "vc", "cv")
    return ("vvv", "cvv", "vcv", "vvc", "ccv", "cvc", "vcc")


def single_op_specs(
    seed: int, points: int, unsupported: frozenset = frozenset()
) -> Iterator[tuple[str, GraphSpec]]:
    """For every op, parameter and leaf/constant pattern, `points` one-node graphs at valid inputs.

    Yields (label, spec), label like `div[cv]` or `powc[0.5]`. A one-node graph keeps one op's
    error from being diluted by the rest of a graph.
    """
    for op in OPS.values():
        for param in op.params or (None,):
            for pattern in _patterns(op):
                if (op.name, pattern, param) in unsupported:
                    continue  # listed in the coverage table instead
                label = op.name + (f"[{param:g}]" if param is not None else "")
                label += f"[{pattern}]" if op.arity > 1 else ""
                rng = random.Random(sub_seed(seed, label))
                for k in range(points):
                    yield label, _single(rng, op, param, pattern, sign=(1.0, -1.0)[k % 2])


def _single(
    rng: random.Random, op: Op, param: float | None, pattern: str, sign: float
) -> GraphSpec:
    # Alternate the first input's sign, so both sides of a kink (relu at 0) are always covered.
    for attempt in range(1000):
        xs = [_leaf_value(rng) for _ in pattern]
        if attempt < 100:
            xs[0] = math.copysign(xs[0], sign)
        if op.valid(xs, param) and _ok(op.forward(xs, param)):
            break
    else:  # pragma: no cover - every op has valid points in the leaf range
        raise RuntimeError(f"no valid inputs found for {op.name}")
    leaves, consts, args = [], [], []
    for kind, x in zip(pattern, xs):
        if kind == "v":
            args.append(f"x{len(leaves)}")
            leaves.append(x)
        else:
            args.append(f"c{len(consts)}")
            consts.append(x)
    return GraphSpec(
        leaves=tuple(leaves),
        nodes=(Node(op.name, tuple(args), param),),
        output="n0",
        consts=tuple(consts),
        upstream=_upstream(rng),
    )
