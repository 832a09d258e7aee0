"""Tensor graphs as plain data: leaves with shapes, op nodes with their settings (an axis, a
shape, an exponent), and a seed that gives every leaf's values, so any process rebuilds the same
arrays (numpy, no torch).

The engine builds each node from its leaves and earlier nodes, then the loss: the last node
times `weight` (a random tensor of its shape, drawn from the seed after the leaves), summed to
one number, and calls backward on it. An upstream gradient of ones would let a backward that
forgets it pass by luck; a random one does not.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TENSOR_OPS",
    "TENSOR_PREFIX",
    "TNode",
    "TOp",
    "TensorGraph",
    "is_tensor_engine",
    "tensor_variants",
]

TENSOR_PREFIX = "tensors:"  # an engine named tensors:FILE_OR_MODULE is a Tensor class
# The largest tensor a graph may make, and the most multiply-adds a matmul may take: a graph
# written by hand (a reproducer file) must not take the machine's memory or an hour.
MAX_TENSOR_ELEMENTS = 2**22
MAX_MATMUL_WORK = 2**28


def is_tensor_engine(name: str) -> bool:
    """Whether the engine called `name` is a tensor autograd engine."""
    return name.startswith(TENSOR_PREFIX)


@dataclass(frozen=True)
class TOp:
    """A tensor op: how many tensors it takes, its settings, and how it is written."""

    arity: int
    settings: tuple[str, ...] = ()
    forms: tuple[str, ...] = ("",)  # the ways it is called, each probed apart (see variant)
    written: str = ""  # how the formula writes it: "{0} + {1}", "{0}.sum({axis})"


_REDUCE = ("axis", "keepdims")
TENSOR_OPS: dict[str, TOp] = {
    "add": TOp(2, written="{0} + {1}"),
    "sub": TOp(2, written="{0} - {1}"),
    "mul": TOp(2, written="{0} * {1}"),
    "div": TOp(2, written="{0} / {1}"),
    "matmul": TOp(2, written="{0} @ {1}"),
    "pow": TOp(1, ("exponent",), written="{0} ** {exponent}"),
    "exp": TOp(1),
    "log": TOp(1),
    "tanh": TOp(1),
    "sigmoid": TOp(1),
    "relu": TOp(1),
    "sum": TOp(1, _REDUCE, ("all", "axis", "keepdims")),
    "mean": TOp(1, _REDUCE, ("all", "axis", "keepdims")),
    "max": TOp(1, _REDUCE, ("all", "axis", "keepdims")),
    "reshape": TOp(1, ("shape",)),
    "transpose": TOp(1, ("axes",), ("T", "axes")),
    "softmax": TOp(1, ("axis",)),
    "log_softmax": TOp(1, ("axis",)),
    "cross_entropy": TOp(1, ("labels",)),
}


def tensor_variants() -> list[tuple[str, str]]:
    """Every way a tensor graph calls an op: (op, form), the unit the probe asks about."""
    return [(op, form) for op, t in TENSOR_OPS.items() for form in t.forms]


@dataclass(frozen=True)
class TNode:
    """One op node: the op, the names of its inputs (leaves or earlier nodes), its settings."""

    op: str
    args: tuple[str, ...]
    settings: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """One setting, or `default`."""
        return dict(self.settings).get(key, default)

    def form(self) -> str:
        """How the node calls its op: a reduction over `all`, an `axis`, or with `keepdims`;
        a transpose as `T` (2-D, no axes) or with `axes`; "" for the rest."""
        if self.op in ("sum", "mean", "max"):
            if self.get("keepdims"):
                return "keepdims"
            return "all" if self.get("axis") is None else "axis"
        if self.op == "transpose":
            return "T" if self.get("axes") is None else "axes"
        return ""


@dataclass(frozen=True)
class TensorGraph:
    """A tensor graph: `leaves` (name, shape) in order, `nodes` (named n1, n2, ...), the `seed`
    of every leaf's values and of the loss's weight; `positive` leaves are drawn from [0.5, 2]
    (logs, roots, denominators), the others from N(0, 1); `values` pins some (and `weight`)."""

    leaves: tuple[tuple[str, tuple[int, ...]], ...]
    nodes: tuple[TNode, ...]
    seed: int = 0
    positive: tuple[str, ...] = ()
    values: tuple[tuple[str, tuple[float, ...]], ...] = ()
    dtype: str = "float64"

    @property
    def names(self) -> list[str]:
        """The nodes' names, n1, n2, ..., in order."""
        return [f"n{i + 1}" for i in range(len(self.nodes))]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every leaf and node; ValueError for a node whose inputs do not fit."""
        shapes = {name: tuple(shape) for name, shape in self.leaves}
        for name, node in zip(self.names, self.nodes):
            shapes[name] = _out_shape(node, [shapes[a] for a in node.args])
        return shapes

    def validate(self) -> TensorGraph:
        """This graph, or a ValueError saying in one line what does not fit."""
        if not self.nodes:
            raise ValueError("a tensor graph needs at least one node")
        seen: set[str] = set()
        for name, shape in self.leaves:
            if (
                not name.isidentifier()
                or name in seen
                or name == "weight"
                or (name.startswith("n") and name[1:].isdigit())
            ):
                raise ValueError(f"leaf name {name!r}: a new identifier, not n1, n2, ... or weight")
            if len(shape) > 4 or any(not isinstance(n, int) or n < 1 for n in shape):
                raise ValueError(f"leaf {name}'s shape {list(shape)}: up to 4 sizes, each >= 1")
            seen.add(name)
        for name, node in zip(self.names, self.nodes):
            op = TENSOR_OPS.get(node.op)
            if op is None:
                raise ValueError(f"{name}: unknown op {node.op!r}: one of {', '.join(TENSOR_OPS)}")
            if len(node.args) != op.arity or any(a not in seen for a in node.args):
                raise ValueError(
                    f"{name} = {node.op} takes {op.arity} earlier tensor(s), not {list(node.args)}"
                )
            extra = sorted(set(dict(node.settings)) - set(op.settings))
            if extra:
                raise ValueError(f"{name}: {node.op} has no setting {', '.join(extra)}")
            seen.add(name)
        if self.dtype not in ("float64", "float32", "float16"):
            raise ValueError(f"dtype {self.dtype!r}: tensor graphs take float64, 32 or 16")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed {self.seed} must be from 0 to 2**63 - 1")
        unknown = [p for p in self.positive if p not in dict(self.leaves)]
        if unknown:
            raise ValueError(f"positive names {unknown}, not leaves")
        shapes = self.shapes()  # raises for shapes that do not fit
        for name, shape in shapes.items():
            if math.prod(shape) > MAX_TENSOR_ELEMENTS:
                raise ValueError(
                    f"{name} would have {math.prod(shape):,} elements: at most "
                    f"{MAX_TENSOR_ELEMENTS:,} in a tensor graph"
                )
        for name, node in zip(self.names, self.nodes):
            if node.op == "matmul":
                (m, k), (_, n) = shapes[node.args[0]], shapes[node.args[1]]
                if m * k * n > MAX_MATMUL_WORK:
                    raise ValueError(f"{name}: a matmul of {m}×{k} by {k}×{n} is too big here")
        for name, values in self.values:
            want = shapes[self.names[-1]] if name == "weight" else dict(self.leaves).get(name)
            if want is None or len(values) != math.prod(want):
                raise ValueError(f"pinned values for {name!r}: not a leaf or weight of that size")
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """Every leaf and `weight`, in the graph's dtype: the same in every process."""
        import numpy as np

        rng = np.random.default_rng(self.seed)
        pinned = dict(self.values)
        out: dict[str, np.ndarray] = {}
        for name, shape in self.leaves:
            drawn = (
                rng.uniform(0.5, 2.0, shape)
                if name in self.positive
                else rng.standard_normal(shape)
            )
            out[name] = np.asarray(pinned[name]).reshape(shape) if name in pinned else drawn
        last = self.shapes()[self.names[-1]]
        weight = rng.uniform(0.5, 1.5, last) * rng.choice([-1.0, 1.0], last)
        out["weight"] = np.asarray(pinned["weight"]).reshape(last) if "weight" in pinned else weight
        kind = {"float64": np.float64, "float32": np.float32, "float16": np.float16}[self.dtype]
        return {k: np.asarray(v, dtype=kind) for k, v in out.items()}

    def labels(self, node: TNode) -> np.ndarray:
        """A cross-entropy node's class labels, as int64."""
        import numpy as np

        return np.asarray(node.get("labels"), dtype=np.int64)

    def uses(self) -> dict[str, list[tuple[str, int]]]:
        """For each leaf and node, where it is read: (node name, argument position)."""
        out: dict[str, list[tuple[str, int]]] = {n: [] for n, _ in self.leaves}
        for name, node in zip(self.names, self.nodes):
            out[name] = []
            for k, a in enumerate(node.args):
                out[a].append((name, k))
        return out

    def formula(self) -> str:
        """The graph as lines of code: `n1 = a + b`, ..., `loss = (n3 * weight).sum()`."""
        lines = [f"{name} = {written(node)}" for name, node in zip(self.names, self.nodes)]
        return "; ".join([*lines, f"loss = ({self.names[-1]} * weight).sum()"])

    def describe_leaves(self) -> str:
        """The leaves and their shapes: `a 3×1, b 4`."""
        return ", ".join(f"{n} {'×'.join(map(str, s)) or 'scalar'}" for n, s in self.leaves)

    def to_dict(self) -> dict:
        """Plain JSON data; `from_dict` reads it back."""
        d: dict = {
            "tensor_graph": 1,
            "leaves": {name: list(shape) for name, shape in self.leaves},
            "nodes": [
                {"op": n.op, "args": list(n.args), **{k: _plain(v) for k, v in n.settings}}
                for n in self.nodes
            ],
            "seed": self.seed,
        }
        if self.positive:
            d["positive"] = list(self.positive)
        if self.values:
            d["values"] = {name: list(v) for name, v in self.values}
        if self.dtype != "float64":
            d["dtype"] = self.dtype
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TensorGraph:
        """Read what `to_dict` wrote; ValueError says what is wrong."""
        try:
            nodes = []
            for n in d["nodes"]:
                op = str(n["op"])
                if op not in TENSOR_OPS:
                    raise ValueError(f"unknown op {op!r}: one of {', '.join(TENSOR_OPS)}")
                settings = tuple((k, _setting(k, n[k])) for k in TENSOR_OPS[op].settings if k in n)
                unknown = set(n) - {"op", "args", *TENSOR_OPS[op].settings}
                if unknown:
                    raise ValueError(f"{op} has no setting {', '.join(sorted(unknown))}")
                nodes.append(TNode(op, tuple(str(a) for a in n["args"]), settings))
            graph = cls(
                leaves=tuple((str(k), _sizes(k, v)) for k, v in d["leaves"].items()),
                nodes=tuple(nodes),
                seed=_whole("seed", d.get("seed", 0)),
                positive=tuple(str(p) for p in d.get("positive", ())),
                values=tuple((str(k), _numbers(k, v)) for k, v in d.get("values", {}).items()),
                dtype=str(d.get("dtype", "float64")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a tensor graph: {type(exc).__name__}: {exc}") from None
        return graph.validate()

    def case_id(self) -> str:
        """A stable id: a hash of the canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "t-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def written(node: TNode) -> str:
    """One node as code: `a + b`, `n1.sum(axis=1, keepdims=True)`, `n2 ** 2.0`."""
    op = TENSOR_OPS[node.op]
    if op.written:
        return op.written.format(*node.args, **dict(node.settings))
    x = node.args[0]
    if node.op == "transpose" and node.get("axes") is None:
        return f"{x}.T"
    shown = {k: v for k, v in node.settings if not (k == "keepdims" and not v)}
    if node.op in ("sum", "mean", "max") and shown.get("axis", 0) is None:
        shown.pop("axis")
    if node.op == "cross_entropy":
        return f"{x}.cross_entropy(labels={list(node.get('labels'))})"
    inner = ", ".join(f"{k}={_plain(v)}" for k, v in shown.items())
    return f"{x}.{node.op}({inner})"


def _whole(what: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"{what} must be a whole number, not {v!r:.40}")
    return v


def _sizes(leaf: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, list | tuple):
        raise ValueError(f"leaf {leaf}'s shape must be a list of sizes")
    return tuple(_whole(f"leaf {leaf}'s sizes", n) for n in v)


def _numbers(name: str, v: Any) -> tuple[float, ...]:
    if not isinstance(v, list | tuple) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in v
    ):
        raise ValueError(f"the values of {name} must be a list of numbers")
    return tuple(float(x) for x in v)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _setting(key: str, v: Any) -> Any:
    """A setting read from JSON, checked: ValueError in one line."""
    if key in ("shape", "axes", "labels"):
        if v is None and key == "axes":
            return None
        if not isinstance(v, list | tuple) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in v
        ):
            raise ValueError(f"{key} must be a list of whole numbers")
        return tuple(v)
    if key == "axis":
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise ValueError("axis must be a whole number or null")
        return v
    if key == "keepdims":
        if not isinstance(v, bool):
            raise ValueError("keepdims must be true or false")
        return v
    if key == "exponent":
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError("exponent must be a finite number")
        return float(v)
    raise ValueError(f"unknown setting {key!r}")


def _axis(axis: int, ndim: int, op: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


def _out_shape(node: TNode, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The node's output shape from its inputs' (numpy's rules); ValueError where they do not
    fit."""
    op, x = node.op, shapes[0]
    if op in ("add", "sub", "mul", "div"):
        out = _broadcast(x, shapes[1])
        if out is None:
            raise ValueError(f"{op}: shapes {list(x)} and {list(shapes[1])} do not broadcast")
        return out
    if op == "matmul":
        y = shapes[1]
        if len(x) != 2 or len(y) != 2 or x[1] != y[0]:
            raise ValueError(f"matmul takes (m, k) @ (k, n), not {list(x)} @ {list(y)}")
        return (x[0], y[1])
    if op in ("sum", "mean", "max"):
        axis = node.get("axis")
        if op == "max" and math.prod(x) == 0:
            raise ValueError("max of an empty tensor")
        if axis is None:
            return tuple(1 for _ in x) if node.get("keepdims") else ()
        a = _axis(axis, len(x), op)
        if node.get("keepdims"):
            return tuple(1 if i == a else n for i, n in enumerate(x))
        return tuple(n for i, n in enumerate(x) if i != a)
    if op == "reshape":
        shape = tuple(node.get("shape", ()))
        if math.prod(shape) != math.prod(x) or any(n < 1 for n in shape) or len(shape) > 4:
            raise ValueError(f"reshape: {list(x)} cannot become {list(shape)}")
        return shape
    if op == "transpose":
        axes = node.get("axes")
        if axes is None:
            if len(x) != 2:
                raise ValueError(f"transpose without axes (.T) takes 2 dimensions, not {list(x)}")
            return (x[1], x[0])
        if sorted(axes) != list(range(len(x))):
            raise ValueError(f"transpose: axes {list(axes)} are not a permutation of {len(x)}")
        return tuple(x[a] for a in axes)
    if op in ("softmax", "log_softmax"):
        if not x:
            raise ValueError(f"{op} takes at least 1 dimension")
        _axis(node.get("axis", -1), len(x), op)
        return x
    if op == "cross_entropy":
        labels = node.get("labels", ())
        if len(x) != 2 or len(labels) != x[0] or not all(0 <= k < x[1] for k in labels):
            raise ValueError(
                f"cross_entropy takes logits (N, C) and N labels in [0, C): {list(x)}, {labels}"
            )
        return ()
    if op == "pow" and node.get("exponent") is None:
        raise ValueError("pow needs its exponent")
    return x


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        m = a[-i] if i <= len(a) else 1
        n = b[-i] if i <= len(b) else 1
        if m != n and 1 not in (m, n):
            return None
        out.append(max(m, n))
    return tuple(reversed(out))
