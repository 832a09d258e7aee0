"""The diagnosis of a failing tensor graph: which op to blame, the first tensor where the engine
and torch part, and what the known bug it looks like is called.

In order: a tensor whose array changed after it was made (an op wrote into its input); the first
node whose forward value is wrong; then, from the loss back, the first tensor whose gradient is
not what its uses hand it, each use's share computed by torch from the engine's own gradient
above (so the break is found where it happens, not where it shows). That tensor's uses are the
suspects: a gradient of one use's share only is an overwrite (= for +=); a share that fits a
known bug's formula names it; else the uses' ops are blamed together.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from dataclasses import dataclass

import numpy as np

from conformance.core.numfmt import g as fmt
from conformance.core.tensor_graph import TensorGraph, TNode, written
from conformance.oracles.tensor_graphs import (
    UNIT_ROUNDOFF,
    TensorReference,
    node_vjp,
    unbroadcast,
)

__all__ = ["Diagnosis", "diagnose_tensors"]

_POSITION = ("first", "second")
# How closely an engine's gradient must follow a known bug's formula to be named by it: the
# digits a bug keeps in the engine's dtype (set per diagnosis).
_LIKENESS = contextvars.ContextVar("likeness", default=1e-7)


@dataclass(frozen=True)
class Diagnosis:
    """What a failing case's rows carry; `kind` (a DIFFERENCE_KINDS key) where the difference
    is a convention, not wrong math, with `convention` saying which."""

    blame: str = ""
    first_wrong: str = ""
    hint: str = ""
    kind: str = ""
    convention: str = ""


def diagnose_tensors(graph: TensorGraph, arrays: dict, ref: TensorReference, result) -> Diagnosis:
    """The diagnosis of the engine's `result` on `graph` (see the module's docstring)."""
    token = _LIKENESS.set(max(1e-7, 64 * UNIT_ROUNDOFF[graph.dtype]))
    try:
        return _diagnose(graph, arrays, ref, result)
    finally:
        _LIKENESS.reset(token)


def _diagnose(graph: TensorGraph, arrays: dict, ref: TensorReference, result) -> Diagnosis:
    nodes = dict(zip(graph.names, graph.nodes))
    extra = result.extra or {}
    changed = extra.get("changed") or {}
    if changed:
        return _in_place(graph, nodes, changed)
    values = extra.get("values") or {}
    for name, _ in graph.leaves:
        got = values.get(name)
        given = np.asarray(arrays[name], dtype=np.float64)
        if isinstance(got, np.ndarray) and not _close(got, given, 0.0):
            whole = got.shape == given.shape and np.all(got == np.round(got))
            return Diagnosis(
                blame="Tensor", first_wrong=name,
                hint=f"Tensor(array) does not keep the numbers it is given ({name}'s)"
                + (": they became whole numbers; is the data cast to int?" if whole else ""),
            )  # fmt: skip
    for name, node in nodes.items():
        got = values.get(name)
        if got is None:
            if extra.get("failed") == name:
                return Diagnosis(blame=node.op, first_wrong=name)
            break
        want = ref.values[name]
        if not _close(got, want, ref.value_tol[name]):
            return Diagnosis(
                blame=node.op, first_wrong=name,
                hint=f"{name} = {written(node)} has a wrong forward value: fix {node.op}'s "
                "forward first (its gradients follow from it)",
            )  # fmt: skip
    error = result.error or ""
    if error and not error.startswith("backward() raised"):
        return Diagnosis()  # a timeout, a worker that died: no numbers to read a diagnosis from
    shared = extra.get("shared") or []
    if shared:
        a, b = shared[0]
        return Diagnosis(
            blame="accumulation", first_wrong=b,
            hint=f"{a}.grad and {b}.grad are one array: a backward stored the gradient it was "
            "handed (self.grad = out.grad) instead of adding a copy, so adding to one adds to "
            "the other; write self.grad = self.grad + g (or g.copy())",
        )  # fmt: skip
    if "read-only" in error:
        return Diagnosis(
            blame="accumulation",
            hint="a .grad is a read-only view (np.broadcast_to gives one), so += into it "
            "raised: store a copy (np.broadcast_to(g, shape).copy(), or self.grad + g)",
        )  # fmt: skip
    return _backward(graph, nodes, ref, result, arrays)


def _in_place(graph: TensorGraph, nodes: dict, changed: dict) -> Diagnosis:
    order = [n for n, _ in graph.leaves] + graph.names
    tensor = min(changed, key=order.index)
    during = changed[tensor]
    op = nodes[during].op if during in nodes else "backward"
    made = f"`{during} = {written(nodes[during])}` was made" if during in nodes else "backward()"
    return Diagnosis(
        blame=op, first_wrong=tensor,
        hint=f"{tensor}'s array changed while {made}: {op} writes into its input in place, so "
        "every op that saved it computes its gradient from the wrong numbers; make a new array "
        "(np.maximum(x, 0), not x[x < 0] = 0)",
    )  # fmt: skip


def _close(got, want: np.ndarray, tol) -> bool:
    if not isinstance(got, np.ndarray) or got.dtype != np.float64:
        return False
    if got.shape != want.shape:
        return False
    return bool(np.all(np.abs(got - want) <= tol + 1e-300)) and not np.any(
        np.isnan(got) & ~np.isnan(want)
    )


def _matches(got, candidate) -> bool:
    """Whether the engine's gradient is this formula's (to the digits a bug keeps)."""
    if not isinstance(got, np.ndarray) or candidate is None:
        return False
    candidate = np.asarray(candidate, dtype=np.float64)
    if got.shape != candidate.shape:
        return False
    scale = float(np.max(np.abs(candidate))) if candidate.size else 0.0
    rel = _LIKENESS.get()
    return bool(
        np.all(np.abs(got - candidate) <= rel * np.abs(candidate) + 1e-2 * rel * scale + 1e-300)
    )


def _backward(graph, nodes, ref: TensorReference, result, arrays) -> Diagnosis:
    grads = result.grads or {}
    uses = graph.uses()
    last = graph.names[-1]
    got_last = grads.get(last)
    if got_last is not None and not _close(got_last, ref.grads[last], ref.grad_tol[last]):
        return Diagnosis(
            blame="mul,sum", first_wrong=last,
            hint=f"the loss is ({last} * weight).sum(), so {last}'s gradient is the weight: "
            "check the backward of * and of sum() with no axis",
        )  # fmt: skip
    if (result.error or "").startswith("backward() raised"):
        # A gradient of the wrong shape, handed on before the backward raised, came first.
        for v in list(reversed(graph.names[:-1])) + [n for n, _ in reversed(graph.leaves)]:
            got = grads.get(v)
            users = [c for c, _ in uses[v]]
            if (
                isinstance(got, np.ndarray)
                and got.shape != ref.grads[v].shape
                and all(_close(grads.get(c), ref.grads[c], ref.grad_tol[c]) for c in users)
            ):
                return _suspects(graph, nodes, ref, v, got, [], uses[v], result)
        return _raised(graph, nodes, ref, grads, _shapes_in(result.error))
    order = list(reversed(graph.names[:-1])) + [n for n, _ in reversed(graph.leaves)]
    for v in order:
        if not uses[v]:
            continue
        got = grads.get(v)
        if got is None and v in nodes:
            continue  # the engine keeps no gradient here: judge below it
        shares = []
        for c, k in uses[v]:
            above = grads.get(c)
            if not _usable(above, ref.grads[c]):
                above = ref.grads[c]
            xs = [ref.values[a] for a in nodes[c].args]
            shares.append(node_vjp(nodes[c], xs, above.reshape(ref.grads[c].shape), graph)[k])
        expected = np.sum(shares, axis=0) if len(shares) > 1 else shares[0]
        if _close(got, expected, ref.grad_tol[v]):
            continue
        return _suspects(graph, nodes, ref, v, got, shares, uses[v], result)
    return Diagnosis()


def _shapes_in(text: str) -> set[tuple[int, ...]]:
    """The shapes an error message names: `(3,1)`, `(2, 4)`."""
    found = set()
    for inner in re.findall(r"\(([\d, ]*)\)", text.partition(" raised ")[2]):
        parts = [p for p in inner.replace(" ", "").split(",") if p]
        found.add(tuple(int(p) for p in parts))
    return found


def _raised(graph, nodes, ref: TensorReference, grads: dict, shapes: set) -> Diagnosis:
    """A backward that raised. The op it raised in has a complete gradient of its own (the
    backwards of its uses ran) and an input still without its share. Suspects, in order: the
    newest such node whose input lacks exactly its share and has a shape the error names; one
    whose input has a named shape and is wrong; one whose input has a named shape; one whose
    input lacks exactly its share; one with an input still wrong."""

    def right(name: str) -> bool:
        got = grads.get(name)
        return got is not None and _close(got, ref.grads[name], ref.grad_tol[name])

    def undelivered(name: str, k: int, a: str) -> bool:  # a lacks exactly name's share
        got = grads.get(a)
        want = ref.grads[a]
        if got is None:
            got = np.zeros_like(want)
        if not isinstance(got, np.ndarray) or got.shape != want.shape:
            return False
        xs = [ref.values[x] for x in nodes[name].args]
        share = node_vjp(nodes[name], xs, ref.grads[name], graph)[k]
        return _close(got + share, want, ref.grad_tol[a])

    def named(a: str) -> bool:
        return ref.values[a].shape in shapes

    tests = [
        lambda name, k, a: named(a) and not right(a) and undelivered(name, k, a),
        lambda name, k, a: named(a) and not right(a),
        lambda name, k, a: named(a),
        lambda name, k, a: not right(a) and undelivered(name, k, a),
        lambda name, k, a: not right(a),
    ]
    complete = [name for name in reversed(graph.names) if right(name)]
    for test in tests:
        for name in complete:
            node = nodes[name]
            suspects = [(k, a) for k, a in enumerate(node.args) if test(name, k, a)]
            if suspects:
                hints = [(_shape_hint(graph, node, name, k, a, None, ref), a) for k, a in suspects]
                hint, a = next(((h, a) for h, a in hints if h), hints[-1])
                return Diagnosis(blame=node.op, first_wrong=a, hint=hint)
    return Diagnosis()


def _usable(g, want: np.ndarray) -> bool:
    return isinstance(g, np.ndarray) and g.dtype == np.float64 and g.size == want.size


def _suspects(graph, nodes, ref, v: str, got, shares: list, where: list, result) -> Diagnosis:
    """Which use of v broke its gradient, and how."""
    ops = [nodes[c].op for c, _ in where]
    blame_all = ",".join(sorted(set(ops)))
    want_shape = ref.values[v].shape
    if not isinstance(got, np.ndarray) or got.dtype != np.float64:
        return Diagnosis(blame=blame_all, first_wrong=v,
                         hint=f"{v}'s .grad is not an array of numbers")  # fmt: skip
    error = result.error or ""
    if got.shape != want_shape:
        where = _kept_broadcast_first(graph, nodes, ref, v, got, shares, where)
        for c, k in where:
            hint = _shape_hint(graph, nodes[c], c, k, v, got.shape, ref)
            if hint:
                return Diagnosis(blame=nodes[c].op, first_wrong=v, hint=hint)
        return Diagnosis(blame=blame_all, first_wrong=v,
                         hint=f"{v}'s gradient has shape {tuple(got.shape)}, not its own "
                         f"{tuple(want_shape)}")  # fmt: skip
    total = np.sum(shares, axis=0)
    if len(where) > 1 and not _matches(got, total):
        for share in shares:
            if _matches(got, share):
                return Diagnosis(
                    blame="accumulation", first_wrong=v,
                    hint=f"{v} is used {len(where)} times ({_uses(nodes, where)}): its gradient "
                    "must add every use's share (grad += ...), but it holds only one, as if "
                    "assigned with = where += belongs",
                )  # fmt: skip
    for j, (c, k) in enumerate(where):
        node = nodes[c]
        xs = [ref.values[a] for a in node.args]
        above = ref.grads[c]
        convention = _convention(node, k, xs, above, got - (total - shares[j]), graph)
        if convention is not None:
            return Diagnosis(blame=node.op, first_wrong=v, hint=convention[0], kind="ieee",
                             convention=convention[1])  # fmt: skip
        for hint, wrong in _templates(graph, node, c, k, xs, ref.values[c], above, v):
            if _matches(got, _plus(total - shares[j], wrong)):
                return Diagnosis(blame=node.op, first_wrong=v, hint=hint)
    if error.startswith("backward() raised"):
        for c, k in where:
            hint = _shape_hint(graph, nodes[c], c, k, v, None, ref)
            if hint:
                return Diagnosis(blame=nodes[c].op, first_wrong=v, hint=hint)
        return Diagnosis(blame=blame_all, first_wrong=v)
    hint = _ratio_hint(got, total, v, nodes, where)
    if len(where) == 1:
        c, k = where[0]
        node = nodes[c]
        if (
            not hint
            and _broadcast(ref.values[v].shape, ref.values[c].shape)
            and (node.op in ("add", "sub", "mul", "div"))
        ):
            hint = _unbroadcast_words(v, c, node, ref)
        if not hint and node.op in ("matmul", "sum", "mean", "max", "reshape", "transpose"):
            hint = _shape_hint(graph, node, c, k, v, None, ref)  # the rule, as a reminder
        return Diagnosis(blame=node.op, first_wrong=v, hint=hint)
    return Diagnosis(blame=blame_all, first_wrong=v, hint=hint)


def _kept_broadcast_first(graph, nodes, ref, v: str, got, shares: list, where: list) -> list:
    """The uses of v, the one whose share kept the broadcast shape first: the gradient the
    engine holds is that use's share before summing, plus the others' (numpy broadcasts)."""
    if len(where) < 2:
        return where
    for j, (c, k) in enumerate(where):
        node = nodes[c]
        if node.op not in ("add", "sub", "mul", "div"):
            continue
        xs = [ref.values[a] for a in node.args]
        out_shape = ref.values[c].shape
        xs[k] = np.broadcast_to(xs[k], out_shape).copy()
        rest = sum(s for i, s in enumerate(shares) if i != j)
        try:
            full = node_vjp(node, xs, ref.grads[c], graph)[k]
            leading = full.sum(axis=tuple(range(full.ndim - ref.values[v].ndim)))
            held = [full + rest, leading + rest]  # not summed at all; over the leading axes only
        except ValueError:
            continue
        if any(_matches(got, np.asarray(h)) for h in held):
            return [where[j], *(w for i, w in enumerate(where) if i != j)]
    return where


def _uses(nodes: dict, where: list) -> str:
    return ", ".join(dict.fromkeys(f"{c} = {written(nodes[c])}" for c, _ in where))


def _broadcast(shape: tuple, out: tuple) -> bool:
    return tuple(shape) != tuple(out)


def _unbroadcast_words(v: str, c: str, node: TNode, ref) -> str:
    shape, out = ref.values[v].shape, ref.values[c].shape
    lead = len(out) - len(shape)
    axes = list(range(lead)) + [
        lead + i for i, n in enumerate(shape) if n == 1 and out[lead + i] != 1
    ]
    return (
        f"{v} {tuple(shape)} is broadcast to {tuple(out)} in `{c} = {written(node)}`: its "
        f"gradient is out.grad summed over exactly the broadcast axes {axes} (the size-1 ones "
        "kept), and nothing else"
    )


def _shape_hint(graph, node: TNode, c: str, k: int, v: str, got_shape, ref) -> str:
    """A hint for a gradient of the wrong shape (or a backward that raised) through `node`."""
    x_shape = tuple(ref.values[v].shape)
    y_shape = tuple(ref.values[c].shape)
    op = node.op
    code = f"`{c} = {written(node)}`"
    if op in ("add", "sub", "mul", "div") and x_shape != y_shape:
        if got_shape is not None and tuple(got_shape) == y_shape:
            return (f"{v} {x_shape} is broadcast to {y_shape} in {code}, and its gradient kept "
                    f"the broadcast shape: sum it over the broadcast axes back to {x_shape} "
                    "(unbroadcast)")  # fmt: skip
        squeezed = tuple(n for n in x_shape if n != 1)
        if got_shape is not None and tuple(got_shape) == squeezed:
            return (f"{v} {x_shape} is broadcast to {y_shape} in {code}: its gradient was summed "
                    "over the broadcast axes without keeping the size-1 ones: sum with "
                    "keepdims=True there")  # fmt: skip
        return _unbroadcast_words(v, c, node, ref)
    if op in ("sum", "mean", "max") and node.get("axis") is not None and not node.get("keepdims"):
        return (f"{op}(axis={node.get('axis')}) drops that axis: its backward must put it back "
                "(np.expand_dims(out.grad, axis)) before spreading out.grad over the input's "
                f"shape {x_shape}")  # fmt: skip
    if op == "reshape":
        return f"reshape's backward must reshape out.grad back to the input's shape {x_shape}"
    if op == "transpose":
        axes = node.get("axes")
        inverse = "" if axes is None else f" {tuple(int(i) for i in np.argsort(axes))}"
        return (
            f"transpose's backward must transpose out.grad back: the inverse permutation{inverse}"
        )
    if op == "matmul":
        a, b = (ref.values[x].shape for x in node.args)
        return (f"matmul's gradients are dA = out.grad @ Bᵀ, shape {tuple(a)}, and dB = Aᵀ @ "
                f"out.grad, shape {tuple(b)}")  # fmt: skip
    if got_shape is not None:
        return f"{v}'s gradient has shape {tuple(got_shape)} after {code}, not {x_shape}"
    return ""


def _unbroadcast(a: np.ndarray, shape: tuple) -> np.ndarray | None:
    """`a` summed back to `shape` (the oracle's sum), or None where it does not fit."""
    try:
        a = unbroadcast(a, shape)
    except ValueError:
        return None
    return a if a.shape == tuple(shape) else None


def _plus(rest: np.ndarray, wrong) -> np.ndarray | None:
    """The gradient the engine would hold with this use's share `wrong` (a formula that may not
    apply to these shapes: None)."""
    try:
        share = wrong() if callable(wrong) else wrong
        if share is None:
            return None
        share = np.asarray(share, dtype=np.float64)
        return rest + share if share.shape == rest.shape else None
    except (ValueError, FloatingPointError, TypeError, IndexError):
        return None


def _templates(graph, node: TNode, c: str, k: int, xs: list, y, g, v: str):
    """(hint, the share this known bug hands input k: an array, or a function giving one) for
    node's op; a share that does not fit these shapes counts as no match."""
    op = node.op
    x = xs[k]
    shape = x.shape
    right = node_vjp(node, xs, g, graph)[k]
    ones = node_vjp(node, xs, np.ones_like(g), graph)[k]
    out: list[tuple[str, np.ndarray | None]] = [
        (
            f"{op}'s backward ignores the gradient from above: its local derivative must be "
            "multiplied by out.grad",
            ones,
        ),
    ]
    ub = lambda a: _unbroadcast(np.asarray(a, dtype=np.float64), shape)  # noqa: E731
    if op == "sub" and k == 1:
        out.append(("in a − b, b's gradient is −out.grad, not +out.grad", ub(g)))
    if op == "mul":
        out.append((f"in a * b, a's gradient is out.grad · b: {op}'s backward uses the input's "
                    "own value where the other's belongs", ub(g * x)))  # fmt: skip
    if op == "div":
        a, b = xs
        if k == 1:
            out.append(("d(a/b)/db is −a/b², not −a/b", ub(-g * a / b)))
            out.append(("d(a/b)/db is −a/b²: the sign is missing", ub(g * a / b**2)))
        else:
            out.append(("d(a/b)/da is 1/b, not b", ub(g * b)))
    if op == "matmul":
        a, b = xs
        if k == 0:
            out.append(
                ("dA is transposed: it is out.grad @ Bᵀ", lambda: (g @ b.T).T.reshape(shape))
            )
            out.append(("dA is out.grad @ Bᵀ: B is not transposed", lambda: g @ b))
        else:
            out.append(("dB is transposed: it is Aᵀ @ out.grad, not out.gradᵀ @ A",
                        lambda: (a.T @ g).T.reshape(shape)))  # fmt: skip
            out.append(("dB is Aᵀ @ out.grad: A is not transposed", lambda: a @ g))
    if op == "pow":
        p = node.get("exponent")
        out.append((f"d(x^c)/dx is c·x^(c−1): the exponent is not lowered (c = {fmt(p)})",
                    g * p * x**p))  # fmt: skip
        out.append((f"d(x^c)/dx is c·x^(c−1): the factor c = {fmt(p)} is missing",
                    g * x ** (p - 1)))  # fmt: skip
    if op == "exp":
        out.append(("exp's derivative is exp(x), the output, not x", g * x))
    if op == "log":
        out.append(("log's derivative is 1/x, not x", g * x))
        out.append(("log's derivative is 1/x, not 1/log(x)", g / y))
    if op == "tanh":
        out.append(("tanh's derivative is 1 − t² with t the output, not the input x",
                    g * (1 - x**2)))  # fmt: skip
        out.append(("tanh's derivative is 1 − t², not 1 − t", g * (1 - y)))
    if op == "sigmoid":
        out.append(("sigmoid's derivative is s·(1 − s) with s the output, not the input x",
                    g * x * (1 - x)))  # fmt: skip
        out.append(("sigmoid's derivative is s·(1 − s), not s", g * y))
    if op == "relu":
        out.append(("relu passes out.grad only where x > 0: the mask is missing", g))
        out.append(("relu's gradient is out.grad where x > 0, not x", g * (x > 0) * x))
    if op in ("sum", "mean", "max"):
        axis = node.get("axis")
        n = max(1, x.size // max(1, np.asarray(y).size))
        if axis is not None and not node.get("keepdims"):
            try:
                spread = np.broadcast_to(g, shape) * (right != 0 if op == "max" else 1)
                scale = 1.0 / n if op == "mean" else 1.0
                out.append((_shape_hint(graph, node, c, k, v, None, _Values(xs, y, v, c)),
                            spread * scale))  # fmt: skip
            except ValueError:
                pass
        if op == "mean":
            out.append((f"mean's gradient must be divided by the count of averaged elements "
                        f"({n}): it is {n} times too big",
                        right * n))  # fmt: skip
        if op == "max":
            out.append(("max's gradient goes to the maximum only, not to every element",
                        _spread(g, node, shape)))  # fmt: skip
    if op == "reshape":
        with contextlib.suppress(ValueError):
            out.append(("reshape's backward must reshape out.grad back in the same (C) order",
                        np.reshape(g, shape, order="F")))  # fmt: skip
    if op == "transpose" and node.get("axes") is not None:
        axes = tuple(node.get("axes"))
        same = np.transpose(g, axes)
        if same.shape == shape:
            inverse = tuple(int(i) for i in np.argsort(axes))
            out.append((f"transpose's backward applies the inverse permutation np.argsort(axes) "
                        f"= {inverse}, not axes = {axes} again", same))  # fmt: skip
    if op == "softmax":
        out.append(("softmax's Jacobian is not diagonal: dx = s·(out.grad − Σ out.grad·s), not "
                    "s·(1 − s)·out.grad", g * y * (1 - y)))  # fmt: skip
    if op == "log_softmax":
        axis = node.get("axis", -1)
        s = np.exp(y)
        out.append(("log_softmax's backward is out.grad − softmax·Σ out.grad: the softmax is "
                    "multiplied by the sum of out.grad along the axis", g - s))  # fmt: skip
        out.append(("log_softmax's backward is out.grad − softmax·Σ out.grad (along the axis)",
                    g * (1 - s)))  # fmt: skip
        del axis
    if op == "cross_entropy":
        rows = x.shape[0]
        out.append((f"cross-entropy is the mean over the N = {rows} rows: its gradient must "
                    "be divided by N", right * rows))  # fmt: skip
    out.append((f"the sign of {op}'s gradient is flipped", -right))
    return out


class _Values:
    """A stand-in reference holding one node's input and output values, for `_shape_hint`."""

    def __init__(self, xs: list, y, v: str, c: str) -> None:
        self.values = {v: xs[0], c: np.asarray(y)}


def _spread(g, node: TNode, shape: tuple) -> np.ndarray | None:
    """out.grad of a reduction spread over every element of its input."""
    axis = node.get("axis")
    g = np.asarray(g, dtype=np.float64)
    try:
        if axis is None:
            return np.broadcast_to(g.reshape(-1)[0], shape).astype(np.float64)
        if not node.get("keepdims"):
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g, shape).astype(np.float64)
    except ValueError:
        return None


def _convention(node: TNode, k: int, xs: list, g, share, graph) -> tuple[str, str] | None:
    """(hint, convention) where the engine's share differs from torch's only by a convention:
    tied maxima, relu at exactly 0."""
    x = xs[k]
    if node.op == "max":
        words = _among_ties(node, x, g, share)
        if words:
            return (f"max sends the gradient to {words}; torch.max(x, dim) sends it to one "
                    "maximum: a convention where maxima tie",
                    "tied maxima: a convention (torch.max(x, dim) picks one)")  # fmt: skip
    if node.op == "relu" and np.any(x == 0):
        right = node_vjp(node, xs, g, graph)[k]
        off = ~np.isclose(share, right, rtol=1e-9, atol=0)
        if np.any(off) and np.all(x[off] == 0):
            return ("relu's derivative at exactly 0 is a convention: torch takes 0",
                    "relu'(0): a convention (torch takes 0)")  # fmt: skip
    return None


def _among_ties(node: TNode, x: np.ndarray, g, share) -> str:
    """How the engine's share of a max over tied maxima spreads out.grad: to every tied maximum,
    evenly among them, or all to another one of them than torch's; "" when it does something
    else (or nothing ties)."""
    axis = node.get("axis")
    winners = x == np.max(x, axis=axis, keepdims=True)
    count = winners.sum(axis=axis, keepdims=True)
    spread = _spread(g, node, x.shape)
    if np.all(count == 1) or spread is None or not isinstance(share, np.ndarray):
        return ""
    if share.shape != x.shape:
        return ""
    every = spread * winners
    if _matches(share, every):
        return "every tied maximum"
    if _matches(share, every / count):
        return "the tied maxima evenly"
    # All of it to one maximum in each slot, not torch's first: zero off the maxima, one
    # non-zero element per slot, carrying out.grad.
    off = np.where(winners, 0.0, share)
    if np.any(off != 0):
        return ""
    total = np.sum(share, axis=axis, keepdims=True)
    nonzero = np.sum(share != 0, axis=axis, keepdims=True)
    slot_g = np.sum(every, axis=axis, keepdims=True) / count
    if np.all(nonzero <= 1) and _matches(
        np.broadcast_to(total, slot_g.shape).astype(float), slot_g
    ):
        return "one tied maximum, another than torch's"
    return ""


def _ratio_hint(got: np.ndarray, want: np.ndarray, v: str, nodes: dict, where: list) -> str:
    big = np.abs(want) > 1e-6 * (np.max(np.abs(want)) if want.size else 0)
    if big.sum() < 2:  # one number has a ratio to any other: no constant factor to speak of
        return ""
    ratios = got[big] / want[big]
    c = float(np.median(ratios))
    if (
        not np.all(np.abs(ratios - c) <= 10 * _LIKENESS.get() * abs(c))
        or c == 0
        or math.isclose(c, 1, rel_tol=1e-3)
    ):
        return ""
    if math.isclose(c, -1):
        return f"{v}'s gradient has the wrong sign everywhere"
    return f"{v}'s gradient is {fmt(c)} times the right one: a constant factor is off"
