"""The one op vocabulary: every op the suite knows, how each side computes it, where it is valid.

Each `Op` says, in one place:
- `build(args, param)`: the op through the scalar protocol every engine shares (`+ - * / **`, unary
  `-`, and the methods `exp log tanh sigmoid relu leaky_relu`); `args` are engine values or floats.
- `torch(args, param)`: the op in torch, the oracle (works on 0-d and 1-d float64 tensors).
- `forward(xs, param)`: the value in plain floats with torch's IEEE results (for generation).
- `local(xs, out, param)`: the local derivatives in plain floats, torch's formulas (for tolerances).
- `valid(xs, param)`: whether the inputs are safely inside the domain: far enough from domain
  edges and kinks that rounding (and the finite-difference step) cannot cross them.
- `kinks`: where the derivative jumps or the domain ends; finite differences are not trusted there.
- `ulp`: the forward rounding, in units of float64 epsilon (torch's exp and tanh are not libm's).
The generator, every engine adapter, the tolerances and the tests all read this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from refimpl.floatops import fdiv, fexp, flog, fpow, fsigmoid

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "OPS", "Op", "op_named"]


def _torch():  # imported on first use: engine workers that never touch torch start fast
    import torch

    return torch


LEAKY_SLOPE = 0.01
# The activations of the neurons suites in plain floats, as the lecture writes them: the one
# table of their names (in the order the generator draws from) and formulas. oracles/nn.py has
# torch's, by the same names.
ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else LEAKY_SLOPE * z,
}
POW_EXPONENTS = (2.0, 3.0, -1.0, 0.5)
# Values the generator keeps: big enough to stay clear of overflow, and the kink margin.
KINK_MARGIN = 1e-3


@dataclass(frozen=True)
class Op:
    """One op of the vocabulary; see the module docstring for what each field means."""

    name: str
    arity: int
    symbol: str
    build: Callable[[Sequence[Any], float | None], Any]
    torch: Callable[[Sequence[Any], float | None], Any]
    forward: Callable[[Sequence[float], float | None], float]
    local: Callable[[Sequence[float], float, float | None], tuple[float, ...]]
    valid: Callable[[Sequence[float], float | None], bool]
    params: tuple[float, ...] = ()
    kinks: str = ""
    ulp: float = 1.0
    method: str = ""

    def describe(self, args: Sequence[str], param: float | None = None) -> str:
        """A readable formula: `x0 * n3`, `exp(x1)`, `n2 ** 0.5`."""
        p = _fmt(param) if param is not None else ""
        return self.symbol.format(*args, p=p)


def _fmt(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(x)


def _far(x: float, point: float = 0.0) -> bool:
    return abs(x - point) >= KINK_MARGIN


def _tanh_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    return (1.0 - out * out,)


def _sigmoid_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    return ((1.0 - out) * out,)


def _powc_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    return (0.0 if p == 0 else p * fpow(xs[0], p - 1.0),)


def _powc_valid(xs: Sequence[float], p: float | None) -> bool:
    (a,) = xs
    if p == 0.5:
        return a >= 0.05
    if p is not None and p < 0:
        return abs(a) >= 0.1
    return abs(a) <= 100.0


def _powv_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    a, b = xs
    return (b * fpow(a, b - 1.0), out * flog(a))


def _powv_valid(xs: Sequence[float], p: float | None) -> bool:
    a, b = xs
    return a >= 0.1 and abs(b) <= 5.0 and abs(b * math.log(a)) <= 20.0


def _div_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    b = xs[1]
    return (fdiv(1.0, b), -fdiv(out, b))


def _relu_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    return (1.0 if xs[0] > 0 else 0.0,)


def _leaky_local(xs: Sequence[float], out: float, p: float | None) -> tuple[float, ...]:
    return (1.0 if xs[0] > 0 else LEAKY_SLOPE,)


def _leaky_forward(xs: Sequence[float], p: float | None) -> float:
    x = xs[0]
    return x if x > 0 else x * LEAKY_SLOPE


def _always(xs: Sequence[float], p: float | None) -> bool:
    return True


_OPS: tuple[Op, ...] = (
    Op(
        "add", 2, "{0} + {1}",
        build=lambda a, p: a[0] + a[1],
        torch=lambda a, p: a[0] + a[1],
        forward=lambda x, p: x[0] + x[1],
        local=lambda x, o, p: (1.0, 1.0),
        valid=_always,
    ),
    Op(
        "sub", 2, "{0} - {1}",
        build=lambda a, p: a[0] - a[1],
        torch=lambda a, p: a[0] - a[1],
        forward=lambda x, p: x[0] - x[1],
        local=lambda x, o, p: (1.0, -1.0),
        valid=_always,
    ),
    Op(
        "mul", 2, "{0} * {1}",
        build=lambda a, p: a[0] * a[1],
        torch=lambda a, p: a[0] * a[1],
        forward=lambda x, p: x[0] * x[1],
        local=lambda x, o, p: (x[1], x[0]),
        valid=_always,
    ),
    Op(
        "div", 2, "{0} / {1}",
        build=lambda a, p: a[0] / a[1],
        torch=lambda a, p: a[0] / a[1],
        forward=lambda x, p: fdiv(x[0], x[1]),
        local=_div_local,
        valid=lambda x, p: abs(x[1]) >= 0.1,
        kinks="pole at a zero divisor",
    ),
    Op(
        "neg", 1, "-{0}",
        build=lambda a, p: -a[0],
        torch=lambda a, p: -a[0],
        forward=lambda x, p: -x[0],
        local=lambda x, o, p: (-1.0,),
        valid=_always,
        ulp=0.0,
    ),
    Op(
        "powc", 1, "{0} ** {p}",
        build=lambda a, p: a[0] ** p,
        torch=lambda a, p: a[0] ** p,
        forward=lambda x, p: fpow(x[0], p),
        local=_powc_local,
        valid=_powc_valid,
        params=POW_EXPONENTS,
        kinks="x ** 0.5 has a domain edge at 0; x ** -1 a pole at 0",
        ulp=4.0,
    ),
    Op(
        "powv", 2, "{0} ** {1}",
        build=lambda a, p: a[0] ** a[1],
        torch=lambda a, p: a[0] ** a[1],
        forward=lambda x, p: fpow(x[0], x[1]),
        local=_powv_local,
        valid=_powv_valid,
        kinks="a base <= 0 is outside the domain of d/db = a**b * log(a)",
        ulp=4.0,
    ),
    Op(
        "exp", 1, "exp({0})",
        build=lambda a, p: a[0].exp(),
        torch=lambda a, p: _torch().exp(a[0]),
        forward=lambda x, p: fexp(x[0]),
        local=lambda x, o, p: (o,),
        valid=lambda x, p: -50.0 <= x[0] <= 20.0,
        ulp=4.0,
        method="exp",
    ),
    Op(
        "log", 1, "log({0})",
        build=lambda a, p: a[0].log(),
        torch=lambda a, p: _torch().log(a[0]),
        forward=lambda x, p: flog(x[0]),
        local=lambda x, o, p: (fdiv(1.0, x[0]),),
        valid=lambda x, p: x[0] >= 0.05,
        kinks="domain edge at 0",
        ulp=4.0,
        method="log",
    ),
    Op(
        "tanh", 1, "tanh({0})",
        build=lambda a, p: a[0].tanh(),
        torch=lambda a, p: _torch().tanh(a[0]),
        forward=lambda x, p: math.tanh(x[0]),
        local=_tanh_local,
        valid=lambda x, p: abs(x[0]) <= 6.0,
        ulp=4.0,
        method="tanh",
    ),
    Op(
        "sigmoid", 1, "sigmoid({0})",
        build=lambda a, p: a[0].sigmoid(),
        torch=lambda a, p: _torch().sigmoid(a[0]),
        forward=lambda x, p: fsigmoid(x[0]),
        local=_sigmoid_local,
        valid=lambda x, p: abs(x[0]) <= 12.0,
        ulp=6.0,
        method="sigmoid",
    ),
    Op(
        "relu", 1, "relu({0})",
        build=lambda a, p: a[0].relu(),
        torch=lambda a, p: _torch().relu(a[0]),
        forward=lambda x, p: x[0] if x[0] > 0 else 0.0,
        local=_relu_local,
        valid=lambda x, p: _far(x[0]),
        kinks="kink at 0 (torch: relu'(0) = 0)",
        ulp=0.0,
        method="relu",
    ),
    Op(
        "leaky_relu", 1, "leaky_relu({0})",
        build=lambda a, p: a[0].leaky_relu(LEAKY_SLOPE),
        torch=lambda a, p: _torch().nn.functional.leaky_relu(a[0], LEAKY_SLOPE),
        forward=_leaky_forward,
        local=_leaky_local,
        valid=lambda x, p: _far(x[0]),
        kinks="kink at 0 (torch: the slope at 0)",
        method="leaky_relu",
    ),
    Op(
        "affine", 3, "{0} * {1} - {2}",
        build=lambda a, p: a[0] * a[1] - a[2],
        torch=lambda a, p: a[0] * a[1] - a[2],
        forward=lambda x, p: x[0] * x[1] - x[2],
        local=lambda x, o, p: (x[1], x[0], -1.0),
        valid=_always,
        ulp=2.0,
    ),
    Op(
        "square", 1, "{0} ** 2",
        build=lambda a, p: a[0] ** 2,
        torch=lambda a, p: a[0] ** 2,
        forward=lambda x, p: x[0] * x[0],
        local=lambda x, o, p: (2.0 * x[0],),
        valid=lambda x, p: abs(x[0]) <= 100.0,
    ),
)  # fmt: skip

OPS: dict[str, Op] = {op.name: op for op in _OPS}


def op_named(name: str) -> Op:
    """The op called `name`, or a ValueError that lists the vocabulary."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; the vocabulary has {', '.join(OPS)}") from None
