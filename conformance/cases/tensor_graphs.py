"""The tensors suite: a small fixed case per op (numbers a person can check), convention cases
(tied maxima, relu at 0), then random tensor graphs.

A random graph grows a chain from one leaf: each op takes the newest tensor, and a binary op
takes a second one, a new leaf whose shape broadcasts against it on some axes (size 1, or
missing in front), or one already in the graph (a tensor used twice). Shapes mix 1-, 2- and
3-dimensional tensors with sizes 1 to 4. Every op is drawn away from its kinks and its domain's
edges: relu's inputs and max's runners-up at least MARGIN from the decision, logs and roots of
numbers at least 0.1, magnitudes under LIMIT, so a correct engine never depends on a convention.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from conformance.cases.generate import sub_seed
from conformance.core.case import Case
from conformance.core.tensor_graph import TENSOR_OPS, TensorGraph, TNode

__all__ = ["evaluate", "fixed_tensor_cases", "random_tensor_graph", "tensor_cases"]

MARGIN = 1e-3  # relu's inputs, and a maximum's lead on the runner-up, at least this far
LIMIT = 1e3  # every value of a random graph at most this large
DEFAULT_MAX_NODES = 6
# How often each op is drawn (the rest of the weight stays with the elementwise arithmetic).
WEIGHTS = {
    "add": 4, "sub": 3, "mul": 4, "div": 2, "matmul": 3, "pow": 2, "exp": 1, "log": 1,
    "tanh": 2, "sigmoid": 1, "relu": 2, "sum": 3, "mean": 2, "max": 2, "reshape": 1,
    "transpose": 2, "softmax": 1, "log_softmax": 1, "cross_entropy": 1,
}  # fmt: skip
EXPONENTS = (2.0, 3.0, -1.0, 0.5, 1.5)


def evaluate(graph: TensorGraph, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every leaf's and node's value, in float64 (numpy: the generator's own forward pass)."""
    values = {name: np.asarray(arrays[name], dtype=np.float64) for name, _ in graph.leaves}
    for name, node in zip(graph.names, graph.nodes):
        values[name] = np_forward(node, [values[a] for a in node.args])
    return values


def np_forward(node: TNode, xs: list[np.ndarray]) -> np.ndarray:
    """One node's value from its inputs' (float64)."""
    op, x = node.op, xs[0]
    if op in ("add", "sub", "mul", "div", "matmul"):
        y = xs[1]
        return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                "matmul": np.matmul}[op](x, y)  # fmt: skip
    if op == "pow":
        return np.power(x, node.get("exponent"))
    if op in ("exp", "log", "tanh"):
        return getattr(np, op)(x)
    if op == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if op == "relu":
        return np.maximum(x, 0.0)
    if op in ("sum", "mean", "max"):
        fn = {"sum": np.sum, "mean": np.mean, "max": np.max}[op]
        return np.asarray(fn(x, axis=node.get("axis"), keepdims=bool(node.get("keepdims"))))
    if op == "reshape":
        return x.reshape(node.get("shape"))
    if op == "transpose":
        return np.transpose(x, node.get("axes"))
    if op in ("softmax", "log_softmax", "cross_entropy"):
        axis = node.get("axis", -1)
        shifted = x - x.max(axis=axis, keepdims=True)
        ls = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        if op == "softmax":
            return np.exp(ls)
        if op == "log_softmax":
            return ls
        labels = np.asarray(node.get("labels"), dtype=np.int64)
        return np.asarray(-ls[np.arange(len(labels)), labels].mean())
    raise ValueError(f"unknown op {op!r}")


def tensor_cases(
    seed: int, cases: int, dtype: str = "float64", avoid: frozenset = frozenset()
) -> list[Case]:
    """The suite: the fixed cases, then `cases` random graphs avoiding the (op, form) variants
    in `avoid` (those the engine lacks)."""
    out = fixed_tensor_cases(dtype)
    for i in range(cases):
        graph = random_tensor_graph(sub_seed(seed, "tensors", i), avoid=avoid, dtype=dtype)
        out.append(_case(graph, "graph"))
    return out


def tensor_case_count(cases: int) -> int:
    """How many cases the suite has for `--cases`."""
    return len(_FIXED) + cases


def _case(graph: TensorGraph, op: str) -> Case:
    return Case("tensors", graph.case_id(), graph, op, kind="tensor-graph")  # type: ignore[arg-type]


def _n(op: str, *args: str, **settings) -> TNode:
    return TNode(op, args, tuple(settings.items()))


# A small case per op: shapes of different sizes (a transposed gradient cannot pass by luck),
# broadcasting in every binary op, round numbers where a person may check them by hand.
_FIXED: list[tuple[str, TensorGraph]] = [
    ("add", TensorGraph((("a", (2, 3)), ("b", (3,))), (_n("add", "a", "b"),), seed=1)),
    ("add", TensorGraph((("a", (3, 1)), ("b", (1, 4))), (_n("add", "a", "b"),), seed=2)),
    ("sub", TensorGraph((("a", (2, 3)), ("b", (2, 1))), (_n("sub", "a", "b"),), seed=3)),
    ("mul", TensorGraph((("a", (4, 1)), ("b", (3,))), (_n("mul", "a", "b"),), seed=4)),
    ("mul", TensorGraph((("a", (2, 3)),), (_n("mul", "a", "a"),), seed=5)),
    (
        "div",
        TensorGraph(
            (("a", (2, 3)), ("b", (1, 3))), (_n("div", "a", "b"),), seed=6, positive=("b",)
        ),
    ),
    ("matmul", TensorGraph((("a", (2, 3)), ("b", (3, 4))), (_n("matmul", "a", "b"),), seed=7)),
    ("pow", TensorGraph((("a", (2, 3)),), (_n("pow", "a", exponent=3.0),), seed=8)),
    (
        "pow",
        TensorGraph((("a", (3,)),), (_n("pow", "a", exponent=0.5),), seed=9, positive=("a",)),
    ),
    ("exp", TensorGraph((("a", (2, 3)),), (_n("exp", "a"),), seed=10)),
    ("log", TensorGraph((("a", (2, 3)),), (_n("log", "a"),), seed=11, positive=("a",))),
    ("tanh", TensorGraph((("a", (2, 3)),), (_n("tanh", "a"),), seed=12)),
    ("sigmoid", TensorGraph((("a", (2, 3)),), (_n("sigmoid", "a"),), seed=13)),
    ("relu", TensorGraph((("a", (2, 3)),), (_n("relu", "a"),), seed=14)),
    ("sum", TensorGraph((("a", (2, 3)),), (_n("sum", "a"),), seed=15)),
    ("sum", TensorGraph((("a", (3, 4)),), (_n("sum", "a", axis=0),), seed=16)),
    ("sum", TensorGraph((("a", (3, 4)),), (_n("sum", "a", axis=1),), seed=17)),
    ("sum", TensorGraph((("a", (2, 3)),), (_n("sum", "a", axis=1, keepdims=True),), seed=18)),
    ("mean", TensorGraph((("a", (3, 4)),), (_n("mean", "a", axis=1),), seed=19)),
    ("mean", TensorGraph((("a", (2, 3)),), (_n("mean", "a"),), seed=20)),
    ("max", TensorGraph((("a", (3, 4)),), (_n("max", "a", axis=1),), seed=21)),
    ("max", TensorGraph((("a", (2, 3)),), (_n("max", "a"),), seed=22)),
    ("reshape", TensorGraph((("a", (2, 6)),), (_n("reshape", "a", shape=(3, 4)),), seed=23)),
    ("transpose", TensorGraph((("a", (2, 3)),), (_n("transpose", "a"),), seed=24)),
    (
        "transpose",
        TensorGraph((("a", (2, 3, 4)),), (_n("transpose", "a", axes=(1, 2, 0)),), seed=25),
    ),
    ("softmax", TensorGraph((("a", (2, 4)),), (_n("softmax", "a", axis=-1),), seed=26)),
    ("log_softmax", TensorGraph((("a", (2, 4)),), (_n("log_softmax", "a", axis=-1),), seed=27)),
    (
        "cross_entropy",
        TensorGraph((("a", (3, 4)),), (_n("cross_entropy", "a", labels=(1, 3, 0)),), seed=28),
    ),
    # Conventions: tied maxima (torch.max(x, dim) sends the gradient to one of them), relu at 0.
    (
        "max",
        TensorGraph(
            (("a", (2, 3)),),
            (_n("max", "a", axis=1),),
            seed=29,
            values=(("a", (1.0, 3.0, 3.0, 2.0, 2.0, -1.0)),),
        ),
    ),
    (
        "relu",
        TensorGraph(
            (("a", (2, 3)),),
            (_n("relu", "a"),),
            seed=30,
            values=(("a", (0.0, 1.5, -2.0, 0.0, -0.5, 2.5)),),
        ),
    ),
    # An affine layer's shape: x @ W + b, b broadcast over the batch.
    (
        "graph",
        TensorGraph(
            (("x", (4, 3)), ("W", (3, 2)), ("b", (2,))),
            (_n("matmul", "x", "W"), _n("add", "n1", "b"), _n("tanh", "n2")),
            seed=31,
        ),
    ),
]


def fixed_tensor_cases(dtype: str = "float64") -> list[Case]:
    """The fixed cases, in `dtype`."""
    return [_case(replace(g, dtype=dtype) if dtype != "float64" else g, op) for op, g in _FIXED]


def random_tensor_graph(
    seed: int, max_nodes: int = DEFAULT_MAX_NODES, avoid: frozenset = frozenset(),
    dtype: str = "float64",
) -> TensorGraph:  # fmt: skip
    """A random tensor graph from `seed`: the same graph on every machine, avoiding the
    (op, form) variants in `avoid`."""
    return _Grower(seed, avoid, dtype).grow(max_nodes)


class _Grower:
    """Grows one graph, drawing each leaf's values as the spec's `arrays` will."""

    def __init__(self, seed: int, avoid: frozenset, dtype: str) -> None:
        self.seed = seed
        self.rng = np.random.default_rng([seed, 1])  # the structure
        self.values_rng = np.random.default_rng(seed)  # the leaves, in order, as arrays() does
        self.avoid = avoid
        self.dtype = dtype
        self.leaves: list[tuple[str, tuple[int, ...]]] = []
        self.positive: list[str] = []
        self.nodes: list[TNode] = []
        self.values: dict[str, np.ndarray] = {}
        self.limit = LIMIT if dtype != "float16" else 60.0

    def grow(self, max_nodes: int) -> TensorGraph:
        first = self._leaf(self._shape())
        current = first
        target = int(self.rng.integers(1, max_nodes + 1))
        for _ in range(target):
            for _attempt in range(30):
                made = self._try(current)
                if made is not None:
                    current = made
                    break
        if not self.nodes:  # every draw refused (a tiny domain): a sum always works
            self._add(TNode("sum", (current,), (("axis", None), ("keepdims", False))))
        elif self.values[current].ndim and self.rng.random() < 0.4 and len(self.nodes) < max_nodes:
            op = "sum" if ("sum", "all") not in self.avoid else "mean"
            if (op, "all") not in self.avoid:
                self._add(TNode(op, (current,), (("axis", None), ("keepdims", False))))
        graph = TensorGraph(tuple(self.leaves), tuple(self.nodes), self.seed,
                            tuple(self.positive), dtype=self.dtype)  # fmt: skip
        return graph.validate()

    # ----- drawing -----

    def _shape(self) -> tuple[int, ...]:
        ndim = int(self.rng.choice([1, 2, 2, 2, 3]))
        return tuple(int(self.rng.choice([1, 2, 3, 3, 4, 4])) for _ in range(ndim))

    def _leaf(self, shape: tuple[int, ...], positive: bool = False) -> str:
        name = _LEAF_NAMES[len(self.leaves)] if len(self.leaves) < len(_LEAF_NAMES) else (
            f"x{len(self.leaves)}"
        )  # fmt: skip
        self.leaves.append((name, shape))
        if positive:
            self.positive.append(name)
            self.values[name] = self.values_rng.uniform(0.5, 2.0, shape)
        else:
            self.values[name] = self.values_rng.standard_normal(shape)
        if self.dtype != "float64":
            self.values[name] = self.values[name].astype(self.dtype).astype(np.float64)
        return name

    def _add(self, node: TNode) -> str:
        name = f"n{len(self.nodes) + 1}"
        self.values[name] = np_forward(node, [self.values[a] for a in node.args])
        self.nodes.append(node)
        return name

    def _ops(self, x: np.ndarray) -> list[str]:
        ops = [op for op in WEIGHTS if any((op, f) not in self.avoid for f in TENSOR_OPS[op].forms)]
        if x.ndim != 2:
            ops = [op for op in ops if op not in ("matmul", "cross_entropy")]
        if x.ndim == 0:
            ops = [op for op in ops if op not in ("softmax", "log_softmax", "reshape",
                                                  "transpose", "max")]  # fmt: skip
        return ops

    def _try(self, current: str) -> str | None:
        """One node on `current`, or None where the draw lands off its domain (nothing kept)."""
        x = self.values[current]
        ops = self._ops(x)
        if not ops:
            return None
        weights = np.array([WEIGHTS[op] for op in ops], dtype=float)
        op = str(self.rng.choice(ops, p=weights / weights.sum()))
        saved = (len(self.leaves), len(self.positive), self.values_rng.bit_generator.state)
        node = self._node(op, current, x)
        if node is not None:
            value = np_forward(node, [self.values[a] for a in node.args])
            fits = np.all(np.isfinite(value)) and np.all(np.abs(value) <= self.limit)
            if fits and node.form() not in self._forms_avoided(op) and value.size:
                return self._add(node)
        # Undo the leaves this draw made: the next draw's values come from the same stream.
        n_leaves, n_positive, state = saved
        for name, _ in self.leaves[n_leaves:]:
            self.values.pop(name, None)
        del self.leaves[n_leaves:]
        del self.positive[n_positive:]
        self.values_rng.bit_generator.state = state
        return None

    def _forms_avoided(self, op: str) -> set[str]:
        return {f for f in TENSOR_OPS[op].forms if (op, f) in self.avoid}

    def _node(self, op: str, current: str, x: np.ndarray) -> TNode | None:
        rng = self.rng
        if op in ("add", "sub", "mul", "div"):
            other = self._partner(current, x, positive=op == "div")
            if other is None:
                return None
            args = (current, other) if op == "div" or rng.random() < 0.6 else (other, current)
            if op == "div" and np.min(np.abs(self.values[args[1]])) < 0.3:
                return None
            return TNode(op, args)
        if op == "matmul":
            m, k = x.shape
            n = int(rng.choice([1, 2, 3, 4]))
            if rng.random() < 0.6:
                return TNode(op, (current, self._leaf((k, n))))
            return TNode(op, (self._leaf((n, m)), current))
        if op == "pow":
            c = float(rng.choice(EXPONENTS))
            if ((c != int(c) or c < 0) and np.min(x) < 0.2) or (c < 0 and np.min(np.abs(x)) < 0.3):
                return None
            return TNode(op, (current,), (("exponent", c),))
        if op == "exp" and np.max(x) > 5:
            return None
        if op == "log" and np.min(x) < 0.1:
            return None
        if op == "relu" and np.min(np.abs(x)) < MARGIN:
            return None
        if op in ("exp", "log", "tanh", "sigmoid", "relu"):
            return TNode(op, (current,))
        if op in ("sum", "mean", "max"):
            return self._reduction(op, current, x)
        if op == "reshape":
            shape = _another_shape(rng, x.shape)
            return None if shape is None else TNode(op, (current,), (("shape", shape),))
        if op == "transpose":
            if x.ndim == 2 and (op, "T") not in self.avoid and rng.random() < 0.7:
                return TNode(op, (current,), (("axes", None),))
            if x.ndim < 2:
                return None
            axes = tuple(int(a) for a in rng.permutation(x.ndim))
            if axes == tuple(range(x.ndim)):
                axes = (*tuple(range(1, x.ndim)), 0)
            return TNode(op, (current,), (("axes", axes),))
        if op in ("softmax", "log_softmax"):
            axis = -1 if rng.random() < 0.7 else int(rng.integers(0, x.ndim))
            return TNode(op, (current,), (("axis", axis),))
        if op == "cross_entropy":
            if x.shape[1] < 2:
                return None
            labels = tuple(int(k) for k in rng.integers(0, x.shape[1], x.shape[0]))
            return TNode(op, (current,), (("labels", labels),))
        return None

    def _reduction(self, op: str, current: str, x: np.ndarray) -> TNode | None:
        forms = [f for f in ("all", "axis", "axis", "keepdims") if (op, f) not in self.avoid]
        if not forms or x.ndim == 0:
            return None
        form = str(self.rng.choice(forms))
        axis = None if form == "all" else int(self.rng.integers(-x.ndim, x.ndim))
        if form == "keepdims" and self.rng.random() < 0.3:
            axis = None
        if op == "max" and not _clear_maximum(x, axis):
            return None
        return TNode(op, (current,), (("axis", axis), ("keepdims", form == "keepdims")))

    def _partner(self, current: str, x: np.ndarray, positive: bool) -> str | None:
        """The second tensor of a binary op: an earlier one (used twice) or a new leaf of a
        shape that broadcasts against x's, or that x broadcasts against."""
        rng = self.rng
        if rng.random() < 0.25:
            known = [n for n in self.values if n != current or rng.random() < 0.5]
            fits = [n for n in known if _broadcasts(self.values[n].shape, x.shape)]
            if fits:
                return str(fits[int(rng.integers(len(fits)))])
        shape = list(x.shape)
        if shape and rng.random() < 0.3:  # a shape that x is broadcast to
            i = int(rng.integers(len(shape)))
            if shape[i] == 1:
                shape[i] = int(rng.choice([2, 3]))
            elif len(shape) < 3:
                shape.insert(0, int(rng.choice([2, 3])))
        else:  # a shape broadcast to x's: axes of size 1, or missing in front
            shape = [1 if rng.random() < 0.3 else n for n in shape]
            while shape and rng.random() < 0.3:
                shape.pop(0)
        return self._leaf(tuple(shape), positive)


_LEAF_NAMES = "abcdefghijklm"


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(m == n or 1 in (m, n) for m, n in zip(reversed(a), reversed(b)))


def _clear_maximum(x: np.ndarray, axis: int | None) -> bool:
    """Whether every maximum leads its runner-up by MARGIN (no tie decides the gradient)."""
    flat = x.reshape(-1, 1) if axis is None else np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])
    if axis is None:
        flat = flat.reshape(1, -1)
    if flat.shape[-1] < 2:
        return True
    top = np.sort(flat, axis=-1)
    return bool(np.all(top[:, -1] - top[:, -2] >= MARGIN))


def _another_shape(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """A different shape of the same size: a flattening, or a split into factors."""
    size = math.prod(shape)
    if size < 2:
        return None
    factors = [f for f in range(2, size) if size % f == 0]
    options = [(size,)] + [(f, size // f) for f in factors]
    options += [(1, size), (size, 1)]
    options = [s for s in options if s != tuple(shape)]
    return tuple(options[int(rng.integers(len(options)))]) if options else None
