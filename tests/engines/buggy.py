"""Real buggy engines: the correct `alt.Value` with one classic backprop mistake each.

`perturbed` makes one op's derivative wrong by a factor (1e-6 by default): the finest bug the
suite promises to catch. The named classes below are whole, classic mistakes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tests.engines.alt import Value

OFF_BY = 1 + 1e-6


def _is_value(x: object) -> bool:
    return isinstance(x, Value)


# engine method -> (op names in the vocabulary it serves, when the perturbation applies)
PRIMITIVES: dict[str, tuple[tuple[str, ...], Callable[[tuple], bool]]] = {
    "__add__": (("add",), lambda args: True),
    "__sub__": (("sub", "affine"), lambda args: True),
    "__mul__": (("mul", "affine"), lambda args: True),
    "__truediv__": (("div",), lambda args: True),
    "__neg__": (("neg",), lambda args: True),
    "pow_const": (("powc", "square"), lambda args: not _is_value(args[0])),
    "pow_value": (("powv",), lambda args: _is_value(args[0])),
    "exp": (("exp",), lambda args: True),
    "log": (("log",), lambda args: True),
    "tanh": (("tanh",), lambda args: True),
    "sigmoid": (("sigmoid",), lambda args: True),
    "relu": (("relu",), lambda args: True),
    "leaky_relu": (("leaky_relu",), lambda args: True),
}


def perturbed(primitive: str, factor: float = OFF_BY) -> type:
    """alt.Value whose `primitive` scales the gradient it passes down by `factor`."""
    method = "__pow__" if primitive.startswith("pow_") else primitive
    original = getattr(Value, method)
    _, applies = PRIMITIVES[primitive]

    def wrong(self, *args):
        out = original(self, *args)
        if applies(args):
            back = out._backward
            out._backward = lambda g: back(g * factor)
        return out

    return type(f"Perturbed_{primitive.strip('_')}", (Value,), {method: wrong})


# Importable by name: --engine tests.engines.buggy:Perturbed_tanh
for _name in PRIMITIVES:
    _cls = perturbed(_name)
    globals()[_cls.__name__] = _cls


class TanhMissingSquare(Value):
    """tanh' written as 1 - tanh(x) instead of 1 - tanh(x)**2."""

    def tanh(self):
        out = type(self)(math.tanh(self.data), (self,))

        def back(g):
            self.grad += g * (1 - out.data)

        out._backward = back
        return out
