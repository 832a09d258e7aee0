"""The suites: `examples` (the lecture's four nodes at fixed values) and `graphs` (random)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from conformance.cases.edges import edges
from conformance.cases.generate import (
    MAX_ABS_VALUE,
    GraphShape,
    expand,
    largest_number,
    single_op_specs,
    sub_seed,
)
from conformance.cases.layers import layer_cases
from conformance.cases.neurons import neuron_at, neuron_count, neurons, seed_neuron_case
from conformance.cases.semantics import CHAIN_LENGTH, THOROUGH_CHAIN_LENGTH, semantics
from conformance.cases.tensor_graphs import tensor_cases
from conformance.cases.training import training
from conformance.core.case import Case
from conformance.core.dtypes import MAX_FINITE
from conformance.core.spec import GraphSpec, Node
from refimpl.seed import SEED_EXAMPLE

__all__ = ["SUITES", "SuiteCases", "SuiteOptions", "build_cases"]

# One-op cases per op, parameter and leaf/constant pattern in the graphs suite.
SINGLE_OP_POINTS = 4
# A float16 graph keeps every number within its largest / RANGE_MARGIN (rounding and the order
# of sums can only grow them so much), redrawn at most RANGE_ATTEMPTS times.
RANGE_MARGIN = 16.0
RANGE_ATTEMPTS = 100


@dataclass(frozen=True)
class SuiteOptions:
    """What the suites need from the command line."""

    seed: int
    cases: int
    max_nodes: int
    profile: str = "quick"
    unsupported: frozenset = frozenset()  # (op, pattern, param) the engine cannot build
    broken: frozenset = frozenset()  # (op, pattern, param) it builds but that raise: not random
    steps: int = 50
    dtype: str = "float64"  # a random graph of a narrow dtype stays within its range


def _fixed(case_id: str, op: str, nodes: tuple[Node, ...], names: tuple[str, ...], values) -> Case:
    spec = GraphSpec(
        leaves=tuple(float(v) for v in values),
        nodes=nodes,
        output=f"n{len(nodes) - 1}",
        leaf_names=names,
    )
    return Case("examples", case_id, spec, op)


def examples(options: SuiteOptions) -> list[Case]:
    """The lecture's worked example (the neuron `seed-neuron`), then its four graph nodes."""
    ex = SEED_EXAMPLE
    h, k, y = ex.inputs["h"], ex.inputs["k"], ex.target
    w1, w2 = ex.weights["w1"], ex.weights["w2"]
    return [
        seed_neuron_case(),  # ŷ = h·w1 + k·w2 + b, L = (y − ŷ)², and its sign-and-update rows
        # y = a + b with a = h·w1 = 5, b = k·w2 = 3: dy/da = dy/db = 1
        _fixed("seed-sum", "add", (Node("add", ("x0", "x1")),), ("a", "b"), (h * w1, k * w2)),
        # y = a·x − b with a = w1, x = h, b = y: dy/da = x, dy/dx = a, dy/db = −1
        _fixed(
            "seed-affine",
            "affine",
            (Node("affine", ("x0", "x1", "x2")),),
            ("a", "x", "b"),
            (w1, h, y),
        ),
        # y = a² with a = y − ŷ = −1 (the loss): dy/da = 2a = −2
        _fixed("seed-square", "square", (Node("square", ("x0",)),), ("a",), (y - ex.y_hat,)),
        # y = exp(a) with a = h = 1: dy/da = exp(a) = y
        _fixed("seed-exp", "exp", (Node("exp", ("x0",)),), ("a",), (h,)),
    ]


def graphs(options: SuiteOptions) -> list[Case]:
    """One-op cases for every op, then `cases` random graphs of up to `max_nodes` nodes."""
    return _single_op_cases(options) + [_random_graph(options, i) for i in range(options.cases)]


def _single_op_cases(options: SuiteOptions) -> list[Case]:
    return [
        Case("graphs", spec.case_id(), spec, label.split("[")[0])
        for label, spec in single_op_specs(
            sub_seed(options.seed, "single"), SINGLE_OP_POINTS, options.unsupported
        )
    ]


def _random_graph(options: SuiteOptions, i: int) -> Case:
    """The i-th random graph: from its own sub-seeds, so it needs none of the others. For a
    dtype of narrow range (float16), drawn again until every value, gradient and product on
    the way fits in it with room to spare (RANGE_MARGIN)."""
    limit = MAX_FINITE[options.dtype] / RANGE_MARGIN
    for attempt in range(RANGE_ATTEMPTS):
        parts = (i,) if attempt == 0 else (i, attempt)
        rng = random.Random(sub_seed(options.seed, "graphs", *parts))
        shape = GraphShape(
            n_leaves=rng.randint(1, 8),
            n_nodes=rng.randint(1, options.max_nodes),
            seed=sub_seed(options.seed, "graph", *parts),
        )
        spec = expand(shape, options.unsupported | options.broken)
        if limit > MAX_ABS_VALUE**4 or largest_number(spec.in_dtype(options.dtype)) <= limit:
            break
    op = spec.nodes[0].op if len(spec.nodes) == 1 else "graph"
    return Case("graphs", spec.case_id(), spec, op)


def _edges(options: SuiteOptions) -> list[Case]:
    return edges(dtype=options.dtype)


def _semantics(options: SuiteOptions) -> list[Case]:
    thorough = options.profile == "thorough"
    return semantics(THOROUGH_CHAIN_LENGTH if thorough else CHAIN_LENGTH)


SUITES: dict[str, Callable[[SuiteOptions], list[Case]]] = {
    "examples": examples,
    "graphs": graphs,
    "edges": _edges,
    "semantics": _semantics,
    "neurons": lambda options: neurons(options.seed, options.cases),
    "training": lambda options: training(options.seed, options.steps),
    "layers": lambda options: layer_cases(options.seed, options.cases, options.dtype),
    "tensors": lambda options: tensor_cases(
        options.seed, options.cases, options.dtype, options.unsupported | options.broken
    ),
}


def build_cases(names: tuple[str, ...], options: SuiteOptions) -> list[Case]:
    """Every case of the named suites, in a fixed order."""
    return [case for name in names for case in SUITES[name](options)]


class SuiteCases:
    """The cases of `build_cases(names, options)`, built a slice at a time: a `--jobs` checker
    builds only the cases it checks. The random suites (graphs, neurons) build each case from
    its own sub-seeds; the small fixed suites are built whole, once, and sliced."""

    def __init__(self, names: tuple[str, ...], options: SuiteOptions) -> None:
        self.options = options
        self._parts: list[tuple[int, Callable[[int, int], list[Case]]]] = []
        for name in names:
            if name == "graphs":
                singles = _single_op_cases(options)
                self._parts.append((len(singles) + options.cases, partial(self._graphs, singles)))
            elif name == "neurons":
                self._parts.append((neuron_count(options.cases), self._neurons))
            else:
                built = SUITES[name](options)
                self._parts.append((len(built), built.__getitem__))
        self._size = sum(size for size, _ in self._parts)

    def __len__(self) -> int:
        return self._size

    def slice(self, start: int, stop: int) -> list[Case]:
        """Cases [start, stop) of the whole list, as `build_cases(...)[start:stop]` gives them."""
        start, stop = max(0, start), min(stop, self._size)
        out: list[Case] = []
        offset = 0
        for size, build in self._parts:
            lo, hi = max(start - offset, 0), min(stop - offset, size)
            if lo < hi:
                out.extend(build(slice(lo, hi)))
            offset += size
        return out

    def _graphs(self, singles: list[Case], part: slice) -> list[Case]:
        n = len(singles)
        randoms = range(max(part.start - n, 0), max(part.stop - n, 0))
        return singles[part] + [_random_graph(self.options, i) for i in randoms]

    def _neurons(self, part: slice) -> list[Case]:
        seed, cases = self.options.seed, self.options.cases
        return [neuron_at(seed, cases, j) for j in range(part.start, part.stop)]
