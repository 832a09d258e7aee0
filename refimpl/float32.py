"""refimpl in float32: every op's value and local derivatives, and every step of backward,
rounded to float32, as an engine written with C's `float` or numpy's float32 computes.

`Value` here is refimpl's own, with each primitive's result rounded as it is made: the math is
the same code, read in `refimpl/engine.py`; only the precision changes. It is the suite's
correct float32 engine (`--engine refimpl-float32 --dtype float32`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from refimpl import engine

__all__ = ["Value", "f32"]


def f32(x: float) -> float:
    """`x` rounded to the nearest float32 (an infinity past its range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _local32(local: float | None) -> float | None:
    return local if local is engine.MASKED else f32(local)


class Value(engine.Value):
    """refimpl's Value, in float32."""

    __slots__ = ()

    def __init__(self, data: float, _prev: tuple = (), _local: tuple = (), _op: str = "") -> None:
        super().__init__(f32(float(data)), _prev, tuple(map(_local32, _local)), _op)

    def backward(self, gradient: float = 1.0) -> None:
        """refimpl's backward, each product and sum rounded to float32."""
        order = engine.topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad = f32(self.grad + gradient)
        for node in order:
            g = node.grad
            for parent, local in zip(node._prev, node._local):
                if local is not engine.MASKED:
                    parent.grad = f32(parent.grad + f32(g * local))


def _in_float32(primitive: Callable) -> Callable:
    """The primitive, its result rounded to float32 and made a float32 Value."""

    def op(self, *args):
        out = primitive(self, *args)
        out.data = f32(out.data)
        out._local = tuple(map(_local32, out._local))
        out.__class__ = Value
        return out

    op.__name__, op.__doc__ = primitive.__name__, primitive.__doc__
    return op


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__neg__", "__pow__", "__rpow__", "exp", "log", "tanh", "sigmoid", "relu",
    "leaky_relu", "clamp_min", "square",
):  # fmt: skip
    setattr(Value, _name, _in_float32(getattr(engine.Value, _name)))
