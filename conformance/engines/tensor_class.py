"""Tensor autograd engines: a `Tensor` class around a numpy array, run on a `TensorGraph`.

An engine is named `tensors:FILE.py`, `tensors:MODULE` or `tensors:refimpl`. The class is the
module's `Tensor`: `Tensor(array)`, `.data`, `.grad` (an array of the data's shape), and
`backward()` on a one-number output. Each op is called the usual way, and probed once:

    a + b, a - b, a * b, a / b, a @ b, a ** 2.0        numpy's broadcasting
    a.exp(), a.log(), a.tanh(), a.sigmoid(), a.relu()   or module functions exp(a), ...
    a.sum(axis=1, keepdims=True), a.mean(...), a.max(...)
    a.reshape((3, 4)) or a.reshape(3, 4); a.T, a.transpose((1, 2, 0))
    a.softmax(axis=-1), a.log_softmax(axis=-1), a.cross_entropy(labels)

Names that differ go in a dict in the module, `CONFORMANCE_TENSORS`:

    CONFORMANCE_TENSORS = {
        "class": "Tensor",                                # the class's name
        "keywords": {"axis": "dim", "keepdims": "keepdim"},
        "ops": {"max": "amax", "transpose": "permute",    # a method or module function's name,
                "cross_entropy": my_cross_entropy},        # or a function (tensor, *args)
    }

An op the engine lacks (no such method, operator or function, or a keyword it does not take)
is missing: graphs avoid it. An op that exists and raises is broken: its cases show the error.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from conformance.core.tensor_graph import (
    TENSOR_OPS,
    TENSOR_PREFIX,
    TensorGraph,
    TNode,
    written,
)
from conformance.core.tensors import TensorResult
from conformance.engines.errors import EngineLoadError

__all__ = ["TABLE_ATTR", "TensorEngine", "load_tensor_engine"]

TABLE_ATTR = "CONFORMANCE_TENSORS"
_TABLE_KEYS = ("class", "keywords", "ops")
_UNARY = ("exp", "log", "tanh", "sigmoid", "relu")
_OPERATORS = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__",
              "matmul": "__matmul__", "pow": "__pow__"}  # fmt: skip


class _Missing(Exception):
    """The engine has no way to call an op in this form."""


class TensorEngine:
    """Builds each tensor graph with the engine's class, then backward; errors become data."""

    def __init__(self, module: ModuleType, table: dict, name: str) -> None:
        self.name = name
        self.module = module
        _check_table(table)
        cls_name = str(table.get("class", "Tensor"))
        cls = getattr(module, cls_name, None)
        if not inspect.isclass(cls):
            raise EngineLoadError(
                f"{name[len(TENSOR_PREFIX) :]!r} has no class {cls_name}: name it in "
                f"{TABLE_ATTR} = {{'class': ...}}"
            )
        self.cls = cls
        self.keywords = {"axis": "axis", "keepdims": "keepdims", **table.get("keywords", {})}
        self.ops: dict[str, Any] = dict(table.get("ops", {}))
        self._calls: dict[tuple[str, str], Callable] = {}  # (op, form) -> the call that worked
        self._missing: dict[tuple[str, str], str] = {}
        self._broken: dict[tuple[str, str], str] = {}
        self._probed: set[tuple[str, str]] = set()

    # ----- the probe -----

    def unsupported(self, op: str, form: str) -> str | None:
        """Why the engine lacks (op, form), or None."""
        self._probe(op, form)
        return self._missing.get((op, form))

    def broken(self, op: str, form: str) -> str | None:
        """What breaks when the engine builds (op, form), or None."""
        self._probe(op, form)
        return self._broken.get((op, form))

    def _probe(self, op: str, form: str) -> None:
        """Build (op, form) once on a tiny graph: one variant at a time, so an op that hangs
        costs its own probe only."""
        if (op, form) in self._probed:
            return
        self._probed.add((op, form))
        graph = _probe_graph(op, form)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self._call(graph.nodes[0], self._leaves(graph), graph)
        except _Missing as exc:
            self._missing[(op, form)] = str(exc)
        except (Exception, SystemExit) as exc:
            self._broken[(op, form)] = f"{written(graph.nodes[0])} raised {_describe(exc)}"
        else:
            if not self._is_tensor(out):
                self._broken[(op, form)] = (
                    f"{written(graph.nodes[0])} gave {type(out).__name__}, not a tensor"
                )

    def _is_tensor(self, out: Any) -> bool:
        """Whether an op's result is one of the engine's tensors (a numpy array is not, though
        it has `.data`)."""
        if isinstance(out, self.cls):
            return True
        return not isinstance(out, np.ndarray) and hasattr(out, "data") and hasattr(out, "grad")

    def _leaves(self, graph: TensorGraph) -> dict[str, Any]:
        arrays = graph.arrays()
        return {name: self.cls(arrays[name].copy()) for name, _ in graph.leaves}

    # ----- calling an op -----

    def _call(self, node: TNode, made: dict[str, Any], graph: TensorGraph) -> Any:
        """The engine's tensor for `node`; _Missing where it has no such op or form."""
        key = (node.op, node.form())
        xs = [made[a] for a in node.args]
        known = self._calls.get(key)
        if known is not None:
            return known(node, xs, graph)
        errors: list[Exception] = []
        for attempt in self._attempts(node):
            try:
                out = attempt(node, xs, graph)
            except _Missing as exc:
                errors.append(exc)
                continue
            except TypeError as exc:
                if _at_the_call(exc):
                    errors.append(exc)
                    continue
                raise
            self._calls[key] = attempt
            return out
        why = "; ".join(dict.fromkeys(str(e) for e in errors)) or "no way to call it"
        raise _Missing(f"{node.op} ({node.form() or 'plain'}): {why}")

    def _attempts(self, node: TNode) -> list[Callable]:
        op = node.op
        mapped = self.ops.get(op)
        if callable(mapped):
            return [lambda n, xs, g: mapped(*xs, *_positional(n, g))]
        name = str(mapped) if mapped else op
        if op in _OPERATORS:
            return [self._operator(op)] if not mapped else [self._method(name, op)]
        if op in _UNARY:
            return [self._method(name, op), self._function(name, op)]
        if op in ("sum", "mean", "max"):
            return [self._reduction(name, op)]
        if op == "reshape":
            return [self._method(name, op, "tuple"), self._method(name, op, "spread")]
        if op == "transpose":
            if node.get("axes") is None:
                return [self._property_T(), self._method("transpose", op, "none")]
            names = [name] if mapped else ["transpose", "permute"]
            return [self._method(n, op, how) for n in names for how in ("tuple", "spread")]
        if op in ("softmax", "log_softmax"):
            return [self._method(name, op, "axis"), self._function(name, op, "axis")]
        if op == "cross_entropy":
            return [self._method(name, op, "labels"), self._function(name, op, "labels")]
        raise _Missing(f"unknown op {op}")

    def _operator(self, op: str) -> Callable:
        dunder = _OPERATORS[op]

        def call(node: TNode, xs: list, graph: TensorGraph) -> Any:
            if not hasattr(type(xs[0]), dunder):
                raise _Missing(f"the class has no {dunder}")
            other = node.get("exponent") if op == "pow" else xs[1]
            out = getattr(xs[0], dunder)(other)
            if out is NotImplemented:
                raise _Missing(f"{dunder} returned NotImplemented")
            return out

        return call

    def _method(self, name: str, op: str, how: str = "") -> Callable:
        def call(node: TNode, xs: list, graph: TensorGraph) -> Any:
            fn = getattr(xs[0], name, None)
            if not callable(fn):
                raise _Missing(f"no method {name}")
            return fn(*xs[1:], *self._arguments(node, how, graph, fn), **self._kw(node, how, fn))

        return call

    def _function(self, name: str, op: str, how: str = "") -> Callable:
        def call(node: TNode, xs: list, graph: TensorGraph) -> Any:
            fn = getattr(self.module, name, None)
            if not callable(fn) or inspect.isclass(fn):
                raise _Missing(f"no method or module function {name}")
            return fn(*xs, *self._arguments(node, how, graph, fn), **self._kw(node, how, fn))

        return call

    def _property_T(self) -> Callable:
        def call(node: TNode, xs: list, graph: TensorGraph) -> Any:
            if not hasattr(type(xs[0]), "T"):
                raise _Missing("no .T")
            return xs[0].T

        return call

    def _reduction(self, name: str, op: str) -> Callable:
        def call(node: TNode, xs: list, graph: TensorGraph) -> Any:
            fn = getattr(xs[0], name, None)
            if not callable(fn):
                raise _Missing(f"no method {name}")
            form, kw = node.form(), {}
            if form != "all" or node.get("axis") is not None:
                kw[self._keyword(fn, "axis")] = node.get("axis")
            if form == "keepdims":
                kw[self._keyword(fn, "keepdims")] = True
            return fn(**kw)

        return call

    def _keyword(self, fn: Callable, what: str) -> str:
        """The keyword fn takes for `what` (axis or keepdims): the table's, else the first of
        the usual spellings its signature has; _Missing when it has none."""
        mapped = self.keywords.get(what, what)
        spellings = [mapped, *({"axis": ("axis", "dim", "axes"),
                                "keepdims": ("keepdims", "keepdim")}[what])]  # fmt: skip
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return mapped
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return mapped
        for s in spellings:
            if s in params:
                return s
        raise _Missing(f"{getattr(fn, '__name__', 'it')} takes no {what} argument")

    def _arguments(self, node: TNode, how: str, graph: TensorGraph, fn: Callable) -> tuple:
        if how == "tuple":
            return (tuple(node.get("shape") or node.get("axes")),)
        if how == "spread":
            return tuple(node.get("shape") or node.get("axes"))
        if how == "labels":
            return (graph.labels(node),)
        if node.op == "pow":
            return (node.get("exponent"),)
        return ()

    def _kw(self, node: TNode, how: str, fn: Callable) -> dict:
        if how == "axis":
            return {self._keyword(fn, "axis"): node.get("axis", -1)}
        return {}

    # ----- one graph -----

    def run(self, graph: TensorGraph) -> TensorResult:
        """The loss, every tensor's value and gradient, and what changed in place."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._run(graph)

    def _run(self, graph: TensorGraph) -> TensorResult:
        arrays = graph.arrays()
        made: dict[str, Any] = {}
        values: dict[str, Any] = {}
        changed: dict[str, str] = {}  # tensor -> the node during whose making its data changed
        try:
            for name, _ in graph.leaves:
                made[name] = self.cls(arrays[name].copy())
                values[name] = _array(getattr(made[name], "data", None))
        except Exception as exc:
            return TensorResult(error=f"{self.cls.__name__}(array) raised {_describe(exc)}")
        for name, node in zip(graph.names, graph.nodes):
            try:
                out = self._call(node, made, graph)
            except _Missing as exc:
                return TensorResult(skip=f"missing: {exc}")
            except (Exception, SystemExit) as exc:  # sys.exit() in an op is the op's error
                return _partial(graph, made, values, error=f"{name} = {written(node)} raised "
                                f"{_describe(exc)}", failed=name)  # fmt: skip
            if not self._is_tensor(out):
                return _partial(graph, made, values, error=f"{name} = {written(node)} gave "
                                f"{type(out).__name__}, not a tensor", failed=name)  # fmt: skip
            made[name] = out
            values[name] = _array(out.data)
            _note_changes(made, values, changed, name)
        last = graph.names[-1]
        try:
            w = self.cls(arrays["weight"].copy())
            product = made[last] * w
            loss = product.sum()
        except Exception as exc:
            return _partial(graph, made, values, error=f"the loss, ({last} * weight).sum(), "
                            f"raised {_describe(exc)}")  # fmt: skip
        loss_value = _array(getattr(loss, "data", None))
        try:
            _backward(loss)
        except (Exception, SystemExit) as exc:
            result = _partial(graph, made, values, error=f"backward() raised {_describe(exc)}")
            return TensorResult(out=loss_value, grads=result.grads, extra=result.extra,
                                error=result.error)  # fmt: skip
        _note_changes(made, values, changed, "backward")
        extra = {"values": values, "changed": changed, "shared": _shared_grads(made)}
        grads = {n: _array(getattr(t, "grad", None)) for n, t in made.items()}
        return TensorResult(out=loss_value, grads=grads, extra=extra)


def _backward(loss: Any) -> None:
    """loss.backward(); for an engine whose backward takes the gradient of the loss (one, as an
    array of the loss's shape), backward(ones)."""
    try:
        loss.backward()
    except TypeError as exc:
        if not _at_the_call(exc):
            raise
        loss.backward(np.ones_like(np.asarray(loss.data, dtype=np.float64)))


def _partial(
    graph: TensorGraph, made: dict, values: dict, error: str, failed: str = ""
) -> TensorResult:
    """What the engine had when it raised: values so far, gradients so far (a backward that
    stopped half way), and which node failed."""
    grads = {n: _array(getattr(t, "grad", None)) for n, t in made.items()}
    extra = {"values": values, "failed": failed, "shared": _shared_grads(made)}
    return TensorResult(error=error, grads=grads, extra=extra)


def _shared_grads(made: dict) -> list[tuple[str, str]]:
    """Pairs of tensors whose `.grad` is one array (or views of one): a backward that stored the
    incoming gradient itself, so that adding to one adds to the other."""
    pairs = []
    names = list(made)
    for i, a in enumerate(names):
        ga = getattr(made[a], "grad", None)
        if not isinstance(ga, np.ndarray) or not ga.size:
            continue
        for b in names[i + 1 :]:
            gb = getattr(made[b], "grad", None)
            if isinstance(gb, np.ndarray) and gb.size and np.may_share_memory(ga, gb):
                pairs.append((a, b))
    return pairs


def _note_changes(made: dict, values: dict, changed: dict, during: str) -> None:
    """Tensors whose data is no longer what it was when made: written into in place."""
    for n, t in made.items():
        if n in changed or n == during:
            continue
        now = getattr(t, "data", None)
        before = values[n]
        if isinstance(before, np.ndarray) and not _same(before, now):
            changed[n] = during


def _same(before: np.ndarray, now: Any) -> bool:
    try:
        a = np.asarray(now, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == before.shape and bool(np.array_equal(a, before, equal_nan=True))


def _positional(node: TNode, graph: TensorGraph) -> tuple:
    """The settings of a node as positional arguments, for a function in the table."""
    if node.op == "pow":
        return (node.get("exponent"),)
    if node.op in ("sum", "mean", "max"):
        return (node.get("axis"), bool(node.get("keepdims")))
    if node.op == "reshape":
        return (tuple(node.get("shape")),)
    if node.op == "transpose":
        return () if node.get("axes") is None else (tuple(node.get("axes")),)
    if node.op in ("softmax", "log_softmax"):
        return (node.get("axis", -1),)
    if node.op == "cross_entropy":
        return (graph.labels(node),)
    return ()


def _probe_graph(op: str, form: str) -> TensorGraph:
    """A tiny graph of one (op, form): shapes that fit it, values in its domain."""
    t = TENSOR_OPS[op]
    settings: dict[str, Any] = {}
    shape: tuple[int, ...] = (2, 3)
    if op in ("sum", "mean", "max"):
        settings = {"axis": None if form == "all" else 1, "keepdims": form == "keepdims"}
    elif op == "pow":
        settings = {"exponent": 2.0}
    elif op == "reshape":
        settings = {"shape": (3, 2)}
    elif op == "transpose":
        settings = {"axes": None} if form == "T" else {"axes": (1, 2, 0)}
        shape = (2, 3) if form == "T" else (2, 3, 4)
    elif op in ("softmax", "log_softmax"):
        settings = {"axis": -1}
    elif op == "cross_entropy":
        settings = {"labels": (0, 2)}
    leaves: tuple = (("a", shape),)
    args: tuple[str, ...] = ("a",)
    if t.arity == 2:
        leaves = (("a", (2, 3)), ("b", (3, 4) if op == "matmul" else (2, 3)))
        args = ("a", "b")
    node = TNode(op, args, tuple(settings.items()))
    return TensorGraph(leaves, (node,), seed=0, positive=tuple(n for n, _ in leaves))


def _at_the_call(exc: TypeError) -> bool:
    """A TypeError raised by the call itself, before any of the engine's code ran: arguments
    that do not fit its signature (try the next form). One raised inside is a broken op."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == __file__


def _array(x: Any) -> Any:
    """A float64 copy of what the engine holds, or the thing itself when it is not numbers."""
    if x is None:
        return None
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        return x


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _check_table(table: dict) -> None:
    """The table's mistakes, one line each (EngineLoadError)."""
    for key in table:
        if key not in _TABLE_KEYS:
            raise EngineLoadError(
                f"{TABLE_ATTR} has {key!r}: its keys are {', '.join(_TABLE_KEYS)}"
            )
    keywords = table.get("keywords", {})
    if not isinstance(keywords, dict) or any(
        k not in ("axis", "keepdims") or not isinstance(v, str) for k, v in keywords.items()
    ):
        raise EngineLoadError(f"{TABLE_ATTR}['keywords'] maps axis and keepdims to names")
    ops = table.get("ops", {})
    if not isinstance(ops, dict):
        raise EngineLoadError(f"{TABLE_ATTR}['ops'] must be a dict of op: name or function")
    for op, v in ops.items():
        if op not in TENSOR_OPS:
            raise EngineLoadError(
                f"{TABLE_ATTR}['ops'] names {op!r}, not an op: one of {', '.join(TENSOR_OPS)}"
            )
        if not (isinstance(v, str) or callable(v)):
            raise EngineLoadError(f"{TABLE_ATTR}['ops'][{op!r}] must be a name or a function")


def load_tensor_engine(name: str) -> TensorEngine:
    """The engine `tensors:TARGET`: refimpl's Tensor, a file or a module."""
    from conformance.engines.layers import _module

    target = name[len(TENSOR_PREFIX) :]
    if target.startswith("command:"):
        from conformance.engines.tensor_remote import TensorProcessEngine

        return TensorProcessEngine(target[len("command:") :], name)  # type: ignore[return-value]
    attr = ""
    if target == "refimpl":
        module = importlib.import_module("refimpl.tensor")
    else:
        path, sep, attr = target.rpartition(":")
        if not sep or not attr.isidentifier():
            path, attr = target, ""
        if path == "refimpl":
            module = importlib.import_module("refimpl.tensor")
        else:
            module = _module(path, Path.cwd())
    attached = getattr(module, TABLE_ATTR, None)
    if attached is not None and not isinstance(attached, dict):
        raise EngineLoadError(f"{TABLE_ATTR} must be a dict (see the README)")
    table = copy.copy(dict(attached or {}))
    if attr:
        found = getattr(module, attr, None)
        if found is None:
            raise EngineLoadError(f"{path!r} has no {attr}")
        if not inspect.isclass(found) and callable(found):
            from conformance.engines.tensor_remote import TensorFunctionEngine

            return TensorFunctionEngine(found, name)  # type: ignore[return-value]
        table["class"] = attr
    return TensorEngine(module, table, name)
