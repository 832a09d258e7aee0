"""Engines written as a function: `f(spec) -> value and gradients`, for tapes and graph compilers.

The function receives the graph spec as plain data (`GraphSpec.to_dict()`: "leaves", "consts",
"nodes" with "op", "args" and "param", "output", "upstream", "backwards", "zero_between"; nan and
infinities as the strings "nan", "inf", "-inf") and returns either a dict

    {"value": float, "grads": [float, ...],            # required: the output, d(L)/d(leaf i)
     "node_values": [float, ...], "node_grads": [...]}  # optional: every op node, in order

or a pair `(value, grads)`. L = upstream · output, and with `backwards` > 1 the gradients are those
after that many backward passes (accumulated unless `zero_between`). A function may list the ops
it supports as an attribute, `f.ops = ["add", "mul", ...]`; cases with other ops are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from conformance.core.result import EngineResult, as_number
from conformance.core.spec import GraphSpec, decode_number

__all__ = ["FunctionEngine"]


def _numbers(values: Any, what: str, allow_none: bool = False) -> tuple:
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of numbers, not {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if v is None and allow_none:
            out.append(None)
        elif isinstance(v, str):
            out.append(decode_number(v))
        else:
            out.append(as_number(v, f"{what}[{i}]"))
    return tuple(out)


class FunctionEngine:
    """Calls `fn(spec_dict)` and reads its answer; see the module docstring for the shapes."""

    def __init__(self, fn: Callable[[dict], Any], name: str) -> None:
        self.fn = fn
        self.name = name
        ops = getattr(fn, "ops", None)
        self.ops = None if ops is None else frozenset(str(o) for o in ops)

    def unsupported(self, op_name: str, pattern: str, param: float | None) -> str | None:
        """Why the function cannot run `op_name` (not in its `ops` list), or None."""
        if self.ops is not None and op_name not in self.ops:
            return f"{op_name} is not in {self.name}.ops"
        return None

    def run(self, spec: GraphSpec) -> EngineResult:
        """Call the function on the spec's plain data; check the shape of what comes back."""
        for node in spec.nodes:
            why = self.unsupported(node.op, "", node.param)
            if why:
                return EngineResult(skip=why)
        answer = self.fn(spec.to_dict())
        if isinstance(answer, dict):
            value, grads = answer.get("value"), answer.get("grads")
            nv, ng = answer.get("node_values"), answer.get("node_grads")
        elif isinstance(answer, (tuple, list)) and len(answer) == 2:
            (value, grads), nv, ng = answer, None, None
        else:
            raise TypeError(
                f"returned {type(answer).__name__}; expected {{'value': ..., 'grads': [...]}} "
                "or (value, grads)"
            )
        if isinstance(value, str):
            value = decode_number(value)
        grads = _numbers(grads, "grads", allow_none=True)
        if len(grads) != len(spec.leaves):
            raise TypeError(f"returned {len(grads)} gradients for {len(spec.leaves)} leaves")
        return EngineResult(
            value=as_number(value, "value"),
            grads=grads,
            node_values=None if nv is None else _numbers(nv, "node_values", allow_none=True),
            node_grads=None if ng is None else _numbers(ng, "node_grads", allow_none=True),
        )
