"""Tensor engines that are not a Python class: a function `f(spec) -> {value, grads}`, or a
process in any language speaking the JSON-lines protocol (`conformance.engines.process`) with
tensors.

Both receive the graph as plain data, `TensorGraph.to_dict()` plus `arrays`: every leaf's values
and `weight`'s (the loss is `(last node * weight).sum()`). A function gets numpy arrays; a
process gets JSON tensors (`conformance.core.tensor_json`), as nested lists or, when its
handshake says `"encoding": "base64"`, as base64. The answer is

    {"value": LOSS, "grads": {"a": TENSOR, ...}}

with every leaf's gradient (a node's, n1, n2, ..., where it keeps them: the diagnosis uses them),
optionally "values": {"n1": TENSOR, ...} (each node's forward value), or {"error": "..."}.

A process's handshake says it is a tensor engine and which ops it has:

    {"protocol": "backprop-conformance", "version": 1, "engine": "NAME", "tensors": true,
     "ops": ["add", "mul", "matmul", "sum", ...], "encoding": "list"}

An op listed covers each of its forms (sum over all, an axis, keepdims); "sum:keepdims" lists one
form alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.core.tensor_graph import TENSOR_OPS, TensorGraph
from conformance.core.tensor_json import ENCODINGS, decode_tensor, encode_tensor
from conformance.core.tensors import TensorResult
from conformance.engines.errors import EngineLoadError
from conformance.engines.process import ProcessEngine

__all__ = ["TensorFunctionEngine", "TensorProcessEngine", "read_tensor_answer"]

REPLY_LIMIT = 64 * 2**20  # bytes in a reply line: a small graph's tensors take kilobytes


def _has(ops: frozenset, op: str, form: str) -> bool:
    return op in ops or f"{op}:{form}" in ops


def read_tensor_answer(reply: Any, graph: TensorGraph) -> TensorResult:
    """A function's or a process's answer as a TensorResult; what does not fit is an error."""
    if isinstance(reply, tuple | list) and len(reply) == 2:
        reply = {"value": reply[0], "grads": reply[1]}
    if not isinstance(reply, dict):
        return TensorResult(error=f"returned {type(reply).__name__}, not {{value, grads}}")
    if "error" in reply:
        return TensorResult(error=f"the engine answered with an error: {str(reply['error'])[:300]}")
    try:
        if reply.get("value") is None:
            raise ValueError("it has no value (the loss)")
        value = _array(reply.get("value"), "value")
        grads_in = reply.get("grads")
        if not isinstance(grads_in, dict):
            raise ValueError("grads must map each leaf's name to its gradient")
        known = {n for n, _ in graph.leaves} | set(graph.names)
        if any(v is None for v in grads_in.values()):
            raise ValueError("a gradient is null: give every leaf's, as numbers")
        grads = {
            str(k): _array(v, f"the gradient of {k}") for k, v in grads_in.items() if k in known
        }
        values_in = reply.get("values") or {}
        if not isinstance(values_in, dict):
            raise ValueError("values must map node names to tensors")
        values = {
            str(k): _array(v, f"the value of {k}") for k, v in values_in.items() if k in known
        }
    except ValueError as exc:
        return TensorResult(error=f"its answer does not fit: {exc}")
    extra = {"values": values} if values else {}
    return TensorResult(out=value, grads=grads, extra=extra)


def _array(x: Any, what: str) -> np.ndarray:
    if isinstance(x, dict):
        return decode_tensor(x, what)
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return np.asarray(float(x))
    try:
        a = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not numbers") from None
    return a


class TensorFunctionEngine:
    """`f(spec) -> {"value": loss, "grads": {name: array}}`, spec a dict with numpy `arrays`.
    `f.ops`, when present, lists the ops it has (the others' cases are skipped)."""

    def __init__(self, fn: Callable, name: str) -> None:
        self.fn = fn
        self.name = name
        ops = getattr(fn, "ops", None)
        self.ops = frozenset(ops) if ops is not None else None

    def unsupported(self, op: str, form: str) -> str | None:
        """Why the function lacks (op, form): not in its `ops`; None."""
        if self.ops is None or _has(self.ops, op, form):
            return None
        return f"{op} is not in the function's ops"

    def run(self, graph: TensorGraph) -> TensorResult:
        """The function's answer for `graph`; errors become data."""
        for node in graph.nodes:
            why = self.unsupported(node.op, node.form())
            if why:
                return TensorResult(skip=f"missing: {why}")
        spec = graph.to_dict()
        spec["arrays"] = {k: v.copy() for k, v in graph.arrays().items()}
        try:
            reply = self.fn(spec)
        except Exception as exc:
            return TensorResult(error=f"raised {type(exc).__name__}: {str(exc)[:200]}")
        return read_tensor_answer(reply, graph)


class TensorProcessEngine(ProcessEngine):
    """A process that speaks the protocol with tensors (see the module's docstring)."""

    def __init__(self, command: str, name: str) -> None:
        self.encoding = "list"
        super().__init__(command, name)

    def _handshake_checks(self, hello: dict) -> None:  # called by ProcessEngine._start
        if hello.get("tensors") is not True:
            raise EngineLoadError(
                f'{self.command!r} is not a tensor engine: its handshake needs "tensors": true'
            )
        unknown = [o for o in self.ops if o.split(":")[0] not in TENSOR_OPS]
        if unknown:
            raise EngineLoadError(
                f"{self.command!r}: the handshake lists {unknown[0]!r}, not a tensor op: one of "
                f"{', '.join(TENSOR_OPS)}"
            )
        encoding = hello.get("encoding", "list")
        if encoding not in ENCODINGS:
            raise EngineLoadError(
                f"{self.command!r}: the handshake's encoding {encoding!r:.40} is not one of "
                f"{', '.join(ENCODINGS)}"
            )
        self.encoding = encoding

    def unsupported(self, op: str, form: str, *_: Any) -> str | None:  # type: ignore[override]
        """Why the process lacks (op, form): not in its handshake's ops; None."""
        return None if _has(self.ops, op, form) else f"{op} is not in the engine's ops"

    def run(self, graph: TensorGraph) -> TensorResult:  # type: ignore[override]
        """Send the graph and its arrays, read the reply; a broken process is restarted."""
        for node in graph.nodes:
            why = self.unsupported(node.op, node.form())
            if why:
                return TensorResult(skip=f"missing: {why}")
        spec = graph.to_dict()
        spec["arrays"] = {k: encode_tensor(v, self.encoding) for k, v in graph.arrays().items()}
        return read_tensor_answer(self._exchange(spec, REPLY_LIMIT), graph)
