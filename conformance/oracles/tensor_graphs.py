"""What is right for a tensor graph: torch in float64 gives every leaf's and node's value and
gradient, and a running error bound gives each element's tolerance.

The bound is first order, element by element, over absolute values (numpy, from torch's
numbers), with `u` the unit roundoff of the engine's dtype:

- forward: `fe(v)`, how far a correct engine's value of node v may be off: the op's own
  rounding (a few `u` of |v|, a sum's `n·u·Σ|terms|`, a matmul's `k·u·|A|@|B|`) plus each input's
  error times the op's |local derivative|;
- backward: `ge(v)`, how far a correct engine's gradient of v may be off: for each use of v,
  the error arriving from above through |the local Jacobian|ᵀ, plus |the gradient above| times
  how far the local derivative may be off (the inputs' forward errors moving it, and its own
  rounding), plus the rounding of the products and of the sums an unbroadcast makes.

The tolerance is SAFETY times the bound. Legitimately different engines (einsum, loops, another
summation order, log-sum-exp) stay within it; a wrong gradient of any of the bugs the suite names
is beyond it by orders of magnitude.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from conformance.core.tensor_graph import TensorGraph, TNode

__all__ = [
    "SAFETY",
    "TensorReference",
    "node_vjp",
    "tensor_reference",
    "torch_forward",
    "unbroadcast",
]

SAFETY = 8.0
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11}
# Half the smallest subnormal: a narrow dtype's products of tiny numbers round to it.
_FLOOR = {"float64": 0.0, "float32": 2.0**-150, "float16": 2.0**-25}


@dataclass(frozen=True)
class TensorReference:
    """torch's values and gradients of every leaf and node, the loss, and the tolerances."""

    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    loss: float
    value_tol: dict[str, np.ndarray]
    grad_tol: dict[str, np.ndarray]
    loss_tol: float


def torch_forward(node: TNode, xs: list[torch.Tensor], graph: TensorGraph) -> torch.Tensor:
    """One node in torch. max sends the gradient to the first maximum (torch.max(x, dim)'s
    convention, made deterministic)."""
    op, x = node.op, xs[0]
    if op == "add":
        return x + xs[1]
    if op == "sub":
        return x - xs[1]
    if op == "mul":
        return x * xs[1]
    if op == "div":
        return x / xs[1]
    if op == "matmul":
        return x @ xs[1]
    if op == "pow":
        return x ** node.get("exponent")
    if op in ("exp", "log", "tanh", "sigmoid", "relu"):
        return getattr(torch, op)(x)
    axis, keep = node.get("axis"), bool(node.get("keepdims"))
    if op in ("sum", "mean"):
        fn = torch.sum if op == "sum" else torch.mean
        if axis is None:
            out = fn(x)
            return out.reshape((1,) * x.dim()) if keep else out
        return fn(x, dim=axis, keepdim=keep)
    if op == "max":
        return _first_max(x, axis, keep)
    if op == "reshape":
        return x.reshape(node.get("shape"))
    if op == "transpose":
        axes = node.get("axes")
        return x.T if axes is None else x.permute(*axes)
    if op == "softmax":
        return torch.softmax(x, dim=node.get("axis", -1))
    if op == "log_softmax":
        return torch.log_softmax(x, dim=node.get("axis", -1))
    if op == "cross_entropy":
        labels = torch.as_tensor(graph.labels(node))
        return torch.nn.functional.cross_entropy(x, labels)
    raise ValueError(f"unknown op {op!r}")


def _first_max(x: torch.Tensor, axis: int | None, keep: bool) -> torch.Tensor:
    """max over `axis` (None: all) whose gradient goes to the first maximum only."""
    data = x.detach().numpy()
    flat_axis = axis
    if axis is None:
        data = data.reshape(-1)
        flat_axis = 0
    first = np.argmax(data, axis=flat_axis)
    mask = np.zeros_like(data)
    np.put_along_axis(mask, np.expand_dims(first, flat_axis), 1.0, axis=flat_axis)
    m = torch.as_tensor(mask.reshape(x.shape) if axis is None else mask)
    if axis is None:
        out = (x * m).sum()
        return out.reshape((1,) * x.dim()) if keep else out
    return (x * m).sum(dim=axis, keepdim=keep)


def tensor_reference(
    graph: TensorGraph, arrays: dict[str, np.ndarray], precision: bool = False
) -> TensorReference:
    """torch's numbers for `graph` on `arrays` (in float64: the engine's dtype's inputs, exactly),
    with each element's tolerance for an engine computing in the graph's dtype. Overflows are
    numbers to judge (inf), not warnings to print.

    `precision=True` gives looser tolerances: each op rounding like a legitimate textbook formula
    rather than torch's kernel (the lecture's tanh, (e^2x − 1)/(e^2x + 1), is a few EPS off in
    absolute terms near 0, where torch is a few EPS off relative to a tiny number; exp, powers,
    logs and quotients through exp·log lose EPS·|log| relative). An engine between the two
    computes the right derivatives with a less precise formula: `precision`, not wrong math."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _reference(graph, arrays, precision)


def _reference(
    graph: TensorGraph, arrays: dict[str, np.ndarray], precision: bool = False
) -> TensorReference:
    leaves = {
        name: torch.tensor(np.asarray(arrays[name], dtype=np.float64), requires_grad=True)
        for name, _ in graph.leaves
    }
    t: dict[str, torch.Tensor] = dict(leaves)
    for name, node in zip(graph.names, graph.nodes):
        out = torch_forward(node, [t[a] for a in node.args], graph)
        out.retain_grad()
        t[name] = out
    last = graph.names[-1]
    weight = torch.as_tensor(np.asarray(arrays["weight"], dtype=np.float64))
    loss = (t[last] * weight).sum()
    loss.backward()
    values = {n: v.detach().numpy().copy() for n, v in t.items()}
    grads = {
        n: v.grad.numpy().copy() if v.grad is not None else np.zeros(tuple(v.shape))
        for n, v in t.items()
    }
    u = UNIT_ROUNDOFF[graph.dtype]
    fe = _forward_errors(graph, values, u, precision)
    ge = _gradient_errors(graph, values, grads, fe, np.asarray(arrays["weight"], float), u)
    floor = _FLOOR[graph.dtype]
    w = np.abs(np.asarray(arrays["weight"], dtype=np.float64))
    n_last = max(1, values[last].size)
    loss_fe = float((w * fe[last]).sum() + (n_last + 1) * u * np.abs(values[last] * w).sum())
    return TensorReference(
        values=values,
        grads=grads,
        loss=float(loss.item()),
        value_tol={k: SAFETY * v + floor for k, v in fe.items()},
        grad_tol={k: SAFETY * v + floor for k, v in ge.items()},
        loss_tol=SAFETY * loss_fe + floor,
    )


def node_vjp(
    node: TNode, xs: list[np.ndarray], upstream: np.ndarray, graph: TensorGraph
) -> list[np.ndarray]:
    """Each input's share of the gradient through `node`, for an upstream gradient (torch,
    float64): what a correct backward of this one op gives."""
    ts = [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in xs]
    out = torch_forward(node, ts, graph)
    g = torch.as_tensor(np.asarray(upstream, dtype=np.float64)).reshape(out.shape)
    grads = torch.autograd.grad(out, ts, g, allow_unused=True)
    return [np.zeros(x.shape) if d is None else d.numpy() for x, d in zip(xs, grads)]


# ----- the running error bound -----


def _count(x: np.ndarray, y: np.ndarray) -> int:
    return max(1, x.size // max(1, y.size))


def _expand(a: np.ndarray, node: TNode, shape: tuple[int, ...]) -> np.ndarray:
    """A reduction's output-shaped array spread back over its input's shape."""
    axis = node.get("axis")
    if axis is None:
        return np.broadcast_to(np.asarray(a).reshape(-1)[0] if a.size == 1 else a, shape)
    if not node.get("keepdims"):
        a = np.expand_dims(a, axis)
    return np.broadcast_to(a, shape)


def _reduce(a: np.ndarray, node: TNode, fn=np.sum) -> np.ndarray:
    return np.asarray(fn(a, axis=node.get("axis"), keepdims=bool(node.get("keepdims"))))


def _lse_parts(x: np.ndarray, axis: int):
    m = x.max(axis=axis, keepdims=True)
    s = np.exp(x - m)
    total = s.sum(axis=axis, keepdims=True)
    return m, s / total, np.log(total)


def _forward_errors(
    graph: TensorGraph, v: dict, u: float, precision: bool = False
) -> dict[str, np.ndarray]:
    """fe of every leaf (0: given exactly) and node."""
    fe = {name: np.zeros(np.shape(v[name])) for name, _ in graph.leaves}
    for name, node in zip(graph.names, graph.nodes):
        xs = [v[a] for a in node.args]
        es = [fe[a] for a in node.args]
        y = np.asarray(v[name])
        err = _forward_error(node, xs, es, y, u)
        if precision:
            err = err + _textbook_rounding(node.op, y, u)
        fe[name] = np.broadcast_to(err, y.shape).copy()
    return fe


PRECISION_ULP = 16.0  # a textbook formula's rounding, in units of the dtype's roundoff


def _textbook_rounding(op: str, y: np.ndarray, u: float) -> np.ndarray | float:
    """What a textbook formula of `op` may add to its rounding (see `tensor_reference`)."""
    ay = np.abs(y)
    if op in ("tanh", "sigmoid"):  # through exp: absolute near 0
        return PRECISION_ULP * u * np.maximum(ay, 1.0)
    if op in ("exp", "pow", "div", "log"):  # through exp(·log)
        return PRECISION_ULP * u * ay * (1 + np.abs(np.log(np.maximum(ay, 1e-300))))
    return 0.0


def _forward_error(node: TNode, xs, es, y, u: float) -> np.ndarray:
    op, x, e = node.op, np.asarray(xs[0]), es[0]
    ay = np.abs(y)
    if op in ("add", "sub"):
        return e + es[1] + 2 * u * ay
    if op == "mul":
        b, eb = xs[1], es[1]
        return np.abs(b) * e + np.abs(x) * eb + e * eb + 2 * u * ay
    if op == "div":
        b, eb = np.abs(xs[1]), es[1]
        return e / b + np.abs(x) * eb / b**2 + e * eb / b**2 + 4 * u * ay
    if op == "matmul":
        a, b, eb = np.abs(x), np.abs(xs[1]), es[1]
        k = x.shape[-1]
        return e @ b + a @ eb + e @ eb + (k + 2) * u * (a @ b)
    if op == "pow":
        c = node.get("exponent")
        d = np.abs(c * x ** (c - 1))
        dd = np.abs(c * (c - 1) * x ** (c - 2)) if c not in (0.0, 1.0) else 0.0
        return d * e + dd * e**2 + 4 * u * ay * (1 + np.abs(np.log(np.maximum(ay, 1e-300))))
    if op == "exp":
        return ay * e + 4 * u * ay * (1 + np.abs(x))
    if op == "log":
        return e / np.abs(x) + 4 * u * (ay + 1)
    if op == "tanh":
        return (1 - y**2) * e + 4 * u * (ay + np.minimum(1.0, np.abs(x)))
    if op == "sigmoid":
        return y * (1 - y) * e + 4 * u * ay * (2 + np.abs(x))
    if op == "relu":
        return e * (x > 0)
    if op == "sum":
        n = _count(x, y)
        return _reduce(e, node) + (n + 1) * u * _reduce(np.abs(x), node)
    if op == "mean":
        n = _count(x, y)
        return _reduce(e, node, np.mean) + (n + 3) * u * _reduce(np.abs(x), node, np.mean)
    if op == "max":
        return _reduce(e, node, np.max)
    if op == "reshape":
        return e.reshape(y.shape)
    if op == "transpose":
        return np.transpose(e, node.get("axes"))
    if op in ("softmax", "log_softmax", "cross_entropy"):
        axis = node.get("axis", -1)
        m, s, lse = _lse_parts(x, axis)
        n = x.shape[axis]
        mixed = (s * e).sum(axis=axis, keepdims=True)
        rounding = u * (np.abs(x) + np.abs(m) + np.abs(lse) + n + 4)
        ls_err = e + mixed + rounding
        if op == "softmax":
            return s * ls_err
        if op == "log_softmax":
            return ls_err
        rows = np.arange(x.shape[0])
        labels = np.asarray(node.get("labels"), dtype=np.int64)
        picked = ls_err[rows, labels]
        return np.asarray(picked.mean() + (len(labels) + 2) * u * np.abs(y))
    raise ValueError(op)


def _gradient_errors(graph: TensorGraph, v: dict, g: dict, fe: dict, weight: np.ndarray,
                     u: float) -> dict[str, np.ndarray]:  # fmt: skip
    """ge of every node and leaf, from the last node back."""
    names = graph.names
    ge = {name: np.zeros(np.shape(v[name])) for name in v}
    ge[names[-1]] = u * np.abs(weight) * np.ones(np.shape(v[names[-1]]))
    magnitude = {name: np.zeros(np.shape(v[name])) for name in v}  # Σ |shares| arriving
    uses = {name: 0 for name in v}
    for node in graph.nodes:
        for a in node.args:
            uses[a] += 1
    for name, node in reversed(list(zip(names, graph.nodes))):
        if uses[name] > 1:  # adding the shares of its uses
            ge[name] = ge[name] + uses[name] * u * magnitude[name]
        xs = [np.asarray(v[a]) for a in node.args]
        es = [fe[a] for a in node.args]
        y = np.asarray(v[name])
        gabs = np.abs(g[name])
        parts = _backward_error(node, xs, es, y, fe[name], gabs, ge[name], u)
        for a, x, (arriving, through) in zip(node.args, xs, parts):
            shape = np.shape(x)
            n = max(1, int(np.prod(np.shape(arriving))) // max(1, int(np.prod(shape))))
            ge[a] = ge[a] + unbroadcast(arriving, shape) + (n + 2) * u * unbroadcast(
                through, shape
            )  # fmt: skip
            magnitude[a] = magnitude[a] + unbroadcast(through, shape)
    for leaf, _ in graph.leaves:  # a leaf used more than once adds its shares too
        if uses[leaf] > 1:
            ge[leaf] = ge[leaf] + uses[leaf] * u * magnitude[leaf]
    return ge


def unbroadcast(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`a` summed back to `shape` over the axes broadcasting added or repeated (ValueError
    where it does not broadcast to it)."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape == tuple(shape):
        return a
    a = np.broadcast_to(a, np.broadcast_shapes(a.shape, shape))
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and a.shape[i] != 1:
            a = a.sum(axis=i, keepdims=True)
    return a


def _backward_error(node: TNode, xs, es, y, ey, gabs, ee, u: float):
    """For each input: (the error arriving through this op, in the broadcast shape or the
    input's; the magnitude |J|ᵀ|g| of its share, for the rounding of products and sums)."""
    op, x = node.op, xs[0]
    G = gabs + ee  # the gradient above, with its error: derivative errors multiply this
    if op in ("add", "sub"):
        return [(ee, gabs), (ee, gabs)]
    if op == "mul":
        b = np.abs(xs[1])
        a = np.abs(x)
        return [(b * ee + G * (es[1] + u * b), b * gabs), (a * ee + G * (es[0] + u * a), a * gabs)]
    if op == "div":
        b = np.abs(xs[1])
        a = np.abs(x)
        da = 1 / b
        db = a / b**2
        err_da = es[1] / b**2 + 2 * u / b
        err_db = es[0] / b**2 + 2 * a * es[1] / b**3 + 4 * u * db
        return [(da * ee + G * err_da, da * gabs), (db * ee + G * err_db, db * gabs)]
    if op == "matmul":
        a, b = np.abs(x), np.abs(xs[1])
        n, m = gabs.shape[-1], gabs.shape[0]
        da = ee @ b.T + G @ es[1].T + (n + 2) * u * (G @ b.T)
        db = a.T @ ee + es[0].T @ G + (m + 2) * u * (a.T @ G)
        return [(da, gabs @ b.T), (db, a.T @ gabs)]
    if op in ("pow", "exp", "log", "tanh", "sigmoid", "relu"):
        d, err_d = _local(op, node, x, es[0], y, ey, u)
        return [(d * ee + G * err_d, d * gabs)]
    if op == "sum":
        return [(_expand(ee, node, x.shape), _expand(gabs, node, x.shape))]
    if op == "mean":
        n = _count(x, y)
        spread = _expand(ee, node, x.shape) / n + 2 * u * _expand(G, node, x.shape) / n
        return [(spread, _expand(gabs, node, x.shape) / n)]
    if op == "max":
        axis = node.get("axis")
        winners = x == _expand(_reduce(x, node, np.max), node, x.shape)
        if axis is None:
            winners = winners & (np.cumsum(winners.reshape(-1)).reshape(x.shape) == 1)
        return [(_expand(ee, node, x.shape) * winners, _expand(gabs, node, x.shape) * winners)]
    if op == "reshape":
        return [(ee.reshape(x.shape), gabs.reshape(x.shape))]
    if op == "transpose":
        axes = node.get("axes")
        back = None if axes is None else tuple(int(i) for i in np.argsort(axes))
        return [(np.transpose(ee, back), np.transpose(gabs, back))]
    axis = node.get("axis", -1)
    _, s, _ = _lse_parts(x, axis)
    n = x.shape[axis]
    if op == "softmax":
        sum_e = (s * ee).sum(axis=axis, keepdims=True)
        sum_g = (s * G).sum(axis=axis, keepdims=True)
        through = s * (gabs + (s * gabs).sum(axis=axis, keepdims=True))
        err = s * (ee + sum_e) + (ey + 2 * u * s) * (G + sum_g) + s * (ey * G).sum(
            axis=axis, keepdims=True
        ) + (n + 4) * u * through  # fmt: skip
        return [(err, through)]
    ls_err = es[0] + (s * es[0]).sum(axis=axis, keepdims=True) + u * (np.abs(x) + n + 4)
    if op == "log_softmax":
        sum_g = G.sum(axis=axis, keepdims=True)
        through = gabs + s * gabs.sum(axis=axis, keepdims=True)
        err = ee + s * ee.sum(axis=axis, keepdims=True) + s * (ls_err + 2 * u) * sum_g
        return [(err + (n + 4) * u * through, through)]
    # cross_entropy: d/dx = g/N · (softmax − onehot), g a scalar
    rows = x.shape[0]
    onehot = np.zeros_like(x)
    onehot[np.arange(rows), np.asarray(node.get("labels"), dtype=np.int64)] = 1.0
    scale = float(np.asarray(G).reshape(-1)[0]) / rows
    through = float(np.asarray(gabs).reshape(-1)[0]) / rows * (s + onehot)
    err = float(np.asarray(ee).reshape(-1)[0]) / rows * (s + onehot) + scale * s * (
        ls_err + 4 * u
    ) + (n + 4) * u * through  # fmt: skip
    return [(err, through)]


def _local(op: str, node: TNode, x, ex, y, ey, u: float):
    """An elementwise op's |local derivative| and how far a correct engine's may be off."""
    if op == "pow":
        c = node.get("exponent")
        d = np.abs(c * x ** (c - 1))
        dd = np.abs(c * (c - 1) * x ** (c - 2)) if c not in (0.0, 1.0) else 0.0
        logs = np.abs(np.log(np.maximum(np.abs(x), 1e-300)))
        return d, dd * ex + 4 * u * d * (1 + abs(c - 1) * logs)
    if op == "exp":
        ay = np.abs(y)
        return ay, ey + ay * ex + 4 * u * ay * (1 + np.abs(x))
    if op == "log":
        return 1 / np.abs(x), ex / x**2 + 2 * u / np.abs(x)
    if op == "tanh":
        return 1 - y**2, 2 * np.abs(y) * ey + 4 * u * (1 + y**2)
    if op == "sigmoid":
        return y * (1 - y), np.abs(1 - 2 * y) * ey + 4 * u * np.abs(y)
    return (x > 0).astype(np.float64), np.zeros_like(x)  # relu
