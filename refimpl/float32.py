"""refimpl in lower precision: every op's value and local derivatives, and every step of
backward, rounded to float32 (or float16, bfloat16), as an engine written with C's `float`,
numpy's float32 or a GPU's half precision computes.

`Value` here is refimpl's own, with each primitive's result rounded as it is made: the math is
the same code, read in `refimpl/engine.py`; only the precision changes. These are the suite's
correct low-precision engines (`--engine refimpl-float32 --dtype float32`, and `refimpl-float16`,
`refimpl-bfloat16` likewise).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from refimpl import engine

__all__ = ["Value", "Value16", "ValueBF16", "bf16", "f16", "f32", "rounded_value"]


def f32(x: float) -> float:
    """`x` rounded to the nearest float32 (an infinity past its range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f16(x: float) -> float:
    """`x` rounded to the nearest float16 (an infinity past its range)."""
    try:
        return struct.unpack("<e", struct.pack("<e", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def bf16(x: float) -> float:
    """`x` rounded to the nearest bfloat16: float32's top 16 bits, ties to even."""
    y = f32(x)
    if not math.isfinite(y):
        return y
    (bits,) = struct.unpack("<I", struct.pack("<f", y))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    if (bits >> 23) & 0xFF == 0xFF:  # rounded past the largest bfloat16
        return math.copysign(math.inf, x)
    return struct.unpack("<f", struct.pack("<I", bits))[0]


_PRIMITIVES = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__neg__", "__pow__", "__rpow__", "exp", "log", "tanh", "sigmoid", "relu",
    "leaky_relu", "clamp_min", "square",
)  # fmt: skip


def rounded_value(rnd: Callable[[float], float], name: str) -> type:
    """refimpl's Value with every number rounded by `rnd`."""

    def local(d: float | None) -> float | None:
        return d if d is engine.MASKED else rnd(d)

    class Rounded(engine.Value):
        __slots__ = ()

        def __init__(self, data: float, _prev: tuple = (), _local: tuple = (), _op: str = ""):
            super().__init__(rnd(float(data)), _prev, tuple(map(local, _local)), _op)

        def backward(self, gradient: float = 1.0) -> None:
            """refimpl's backward, each product and sum rounded."""
            order = engine.topological_order(self)
            for node in order:
                if node._prev:
                    node.grad = 0.0
            self.grad = rnd(self.grad + gradient)
            for node in order:
                g = node.grad
                for parent, d in zip(node._prev, node._local):
                    if d is not engine.MASKED:
                        parent.grad = rnd(parent.grad + rnd(g * d))

    def in_precision(primitive: Callable) -> Callable:
        def op(self, *args):
            out = primitive(self, *args)
            out.data = rnd(out.data)
            out._local = tuple(map(local, out._local))
            out.__class__ = Rounded
            return out

        op.__name__, op.__doc__ = primitive.__name__, primitive.__doc__
        return op

    for primitive in _PRIMITIVES:
        setattr(Rounded, primitive, in_precision(getattr(engine.Value, primitive)))
    Rounded.__name__ = Rounded.__qualname__ = name
    Rounded.__doc__ = f"refimpl's Value, every number rounded by {rnd.__name__}."
    return Rounded


Value = rounded_value(f32, "Value")
Value16 = rounded_value(f16, "Value16")
ValueBF16 = rounded_value(bf16, "ValueBF16")
