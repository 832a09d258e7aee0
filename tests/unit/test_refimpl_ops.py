"""Every op of refimpl.Value against torch float64: value and gradient, ordinary and IEEE inputs.

Tolerances, and why:
- arithmetic (+ - * / neg, relu, leaky_relu, clamp_min, and the powers torch computes by
  arithmetic: x**2 = x*x, x**3, x**-1, x**-2): the same correctly rounded operations as in torch,
  so values must be identical. Gradients may differ by 1 ULP, because refimpl multiplies the
  incoming gradient by a stored local derivative (g * (1/b)) where torch divides (g / b).
- elementary functions (exp, log, tanh, sigmoid, other powers): refimpl calls the C library,
  torch its own kernels, so both are within an ULP or two of the true result but not always of
  each other: up to 4 ULP apart. Even torch's sqrt (x**0.5) is not always correctly rounded:
  sqrt(6.417041102227092e16) is 1 ULP above math.sqrt's, which is the correct one.
- tanh' = 1 - t² and sigmoid' = s(1 - s) are computed from the forward value. A few-ULP difference
  in t near ±1 is an absolute error of a few EPS in 1 - t², huge relative to a tiny derivative,
  so those gradients also pass within 8 EPS absolute.
- A gradient of zero is compared without its sign: refimpl adds into a `.grad` that starts at
  +0.0 (and 0.0 + -0.0 is 0.0), where torch's first backward stores the incoming -0.0 as it is.
  The sign of every zero *value* must match torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refimpl
from refimpl import Value
from tests.floatcmp import EPS, assert_close, mismatch, ulp_distance

INF, NAN = math.inf, math.nan
BIG = 1e300


@dataclass(frozen=True)
class Tol:
    """Allowed distance from torch: ULPs for the value, ULPs or an absolute error for gradients."""

    value_ulps: int
    grad_ulps: int
    grad_abs: float = 0.0


ARITH = Tol(0, 1)
ELEMENTARY = Tol(4, 4)
SATURATING = Tol(4, 4, grad_abs=8 * EPS)


@dataclass(frozen=True)
class OpCase:
    """One op: refimpl's and torch's version, the Value method it exercises, its domain."""

    name: str
    method: str
    arity: int
    ref: Callable[..., Value]
    torch: Callable[..., torch.Tensor]
    tol: Tol
    low: float = -BIG
    high: float = BIG


def _c(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _same(f: Callable) -> tuple[Callable, Callable]:
    return f, f


def case(name: str, method: str, arity: int, fns: tuple, tol: Tol, **domain: float) -> OpCase:
    """An OpCase from a (refimpl, torch) pair of callables."""
    return OpCase(name, method, arity, fns[0], fns[1], tol, **domain)


CASES = [
    case("x + y", "__add__", 2, _same(lambda x, y: x + y), ARITH),
    case("x - y", "__sub__", 2, _same(lambda x, y: x - y), ARITH),
    case("x * y", "__mul__", 2, _same(lambda x, y: x * y), ARITH),
    case("x / y", "__truediv__", 2, _same(lambda x, y: x / y), ARITH),
    case("x + 2.5", "__add__", 1, _same(lambda x: x + 2.5), ARITH),
    case("2.5 + x", "__radd__", 1, _same(lambda x: 2.5 + x), ARITH),
    case("x - 2.5", "__sub__", 1, _same(lambda x: x - 2.5), ARITH),
    case("2.5 - x", "__rsub__", 1, _same(lambda x: 2.5 - x), ARITH),
    case("x * -1.5", "__mul__", 1, _same(lambda x: x * -1.5), ARITH),
    case("-1.5 * x", "__rmul__", 1, _same(lambda x: -1.5 * x), ARITH),
    case("x / 3.0", "__truediv__", 1, _same(lambda x: x / 3.0), ARITH),
    case("x / -0.0", "__truediv__", 1, _same(lambda x: x / -0.0), ARITH),
    # torch's `3.0 / t` is t.reciprocal() * 3.0, two roundings; torch.div divides once, as refimpl.
    case("3.0 / x", "__rtruediv__", 1, (lambda x: 3.0 / x, lambda x: torch.div(_c(3.0), x)), ARITH),
    case("-x", "__neg__", 1, _same(lambda x: -x), ARITH),
    case("x ** 2", "__pow__", 1, _same(lambda x: x**2), ARITH),
    case("x ** 3", "__pow__", 1, _same(lambda x: x**3), ARITH),
    case("x ** -1", "__pow__", 1, _same(lambda x: x**-1), ARITH),
    case("x ** 0.5", "__pow__", 1, _same(lambda x: x**0.5), ELEMENTARY),
    case("x ** -0.5", "__pow__", 1, _same(lambda x: x**-0.5), ELEMENTARY),
    case("x ** -2", "__pow__", 1, _same(lambda x: x**-2), ARITH),
    case("x ** 1.5", "__pow__", 1, _same(lambda x: x**1.5), ELEMENTARY),
    case("x ** 2.7", "__pow__", 1, _same(lambda x: x**2.7), ELEMENTARY),
    case("x ** 0", "__pow__", 1, _same(lambda x: x**0), ELEMENTARY),
    case("x ** y", "__pow__", 2, _same(lambda x, y: x**y), ELEMENTARY, low=-1e3, high=1e3),
    case("2.5 ** x", "__rpow__", 1, _same(lambda x: 2.5**x), ELEMENTARY, low=-1e3, high=1e3),
    case("0.0 ** x", "__rpow__", 1, _same(lambda x: 0.0**x), ELEMENTARY),
    case(
        "(-2.0) ** x", "__rpow__", 1, _same(lambda x: (-2.0) ** x), ELEMENTARY, low=-1e3, high=1e3
    ),
    case("square", "square", 1, (Value.square, torch.square), ARITH),
    case("exp", "exp", 1, (Value.exp, torch.exp), ELEMENTARY, low=-800.0, high=800.0),
    case("log", "log", 1, (Value.log, torch.log), ELEMENTARY),
    case("tanh", "tanh", 1, (Value.tanh, torch.tanh), SATURATING, low=-40.0, high=40.0),
    case(
        "sigmoid", "sigmoid", 1, (Value.sigmoid, torch.sigmoid), SATURATING, low=-800.0, high=800.0
    ),
    case("relu", "relu", 1, (Value.relu, torch.relu), ARITH),
    case("leaky_relu", "leaky_relu", 1, (Value.leaky_relu, torch.nn.functional.leaky_relu), ARITH),
    case(
        "leaky_relu(0.2)",
        "leaky_relu",
        1,
        (lambda x: x.leaky_relu(0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
        ARITH,
    ),
    case("clamp_min(0)", "clamp_min", 1, _same(lambda x: x.clamp_min(0.0)), ARITH),
    case("clamp_min(-1)", "clamp_min", 1, _same(lambda x: x.clamp_min(-1.0)), ARITH),
]
BY_NAME = {c.name: c for c in CASES}
UNARY = [c for c in CASES if c.arity == 1]
BINARY = [c for c in CASES if c.arity == 2]

# Ordinary points, kinks (0, -0.0, the clamp bound -1), overflow and underflow, and non-finite.
SPECIALS = [
    *(0.0, -0.0, 5e-324, -5e-324, 1e-310, 0.5, 1.0, -1.0, 2.0, -2.5, 3.0, 30.0, -30.0),
    *(709.0, 710.0, 1000.0, -745.5, -1000.0, 1e300, -1e300, INF, -INF, NAN),
]
BINARY_SPECIALS = [0.0, -0.0, 1e-310, 0.5, 1.0, -2.5, 3.0, 1e300, INF, -INF, NAN]


def run_refimpl(c: OpCase, args: tuple[float, ...], upstream: float = 1.0) -> tuple:
    """refimpl's output and input gradients; also checks that refimpl.grad() agrees exactly."""
    xs = [Value(a) for a in args]
    out = c.ref(*xs)
    functional = refimpl.grad(out, xs, upstream)
    out.backward(upstream)
    grads = [x.grad for x in xs]
    for got, want in zip(functional, grads, strict=True):
        assert ulp_distance(got, want) == 0, f"refimpl.grad() {got!r} != backward() {want!r}"
    return out.data, grads


def run_torch(c: OpCase, args: tuple[float, ...], upstream: float = 1.0) -> tuple:
    """torch's float64 output and input gradients for the same op."""
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = c.torch(*ts)
    out.backward(_c(upstream))
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in ts]


def check(c: OpCase, args: tuple[float, ...], upstream: float = 1.0) -> None:
    """refimpl and torch agree on value and every gradient, within the case's tolerance."""
    ref_value, ref_grads = run_refimpl(c, args, upstream)
    torch_value, torch_grads = run_torch(c, args, upstream)
    where = f"{c.name} at {args!r}, upstream {upstream!r} (refimpl vs torch)"
    assert_close(ref_value, torch_value, ulps=c.tol.value_ulps, what=f"value of {where}")
    for i, (r, t) in enumerate(zip(ref_grads, torch_grads, strict=True)):
        assert_close(
            r,
            t,
            ulps=c.tol.grad_ulps,
            abs_tol=c.tol.grad_abs,
            signed_zero=False,
            what=f"gradient {i} of {where}",
        )


def _points() -> list:
    unary = [pytest.param(c, (x,), id=f"{c.name}@{x!r}") for c in UNARY for x in SPECIALS]
    binary = [
        pytest.param(c, xy, id=f"{c.name}@{xy!r}")
        for c in BINARY
        for xy in product(BINARY_SPECIALS, repeat=2)
    ]
    return unary + binary


@pytest.mark.parametrize(("c", "args"), _points())
def test_special_points_match_torch(c: OpCase, args: tuple[float, ...]) -> None:
    check(c, args)


UPSTREAM_POINTS = {
    1: [(0.0,), (-0.0,), (-1.0,), (2.0,), (1000.0,)],
    2: [(0.0, 2.0), (0.0, 0.0), (2.0, 0.0), (-1.5, 3.0)],
}


@pytest.mark.parametrize("upstream", [-2.5, INF, NAN])
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_incoming_gradient_is_masked_or_multiplied_as_in_torch(c: OpCase, upstream: float) -> None:
    """A masked input gets nothing even from an inf or nan above; a zero derivative gets nan."""
    for args in UPSTREAM_POINTS[c.arity]:
        check(c, args, upstream)


@st.composite
def op_args(draw: st.DrawFn, *, c: OpCase) -> tuple[float, ...]:
    """Finite inputs for `c`, from its domain."""
    x = st.floats(c.low, c.high, allow_nan=False, allow_infinity=False)
    return tuple(draw(x) for _ in range(c.arity))


# st.data(): the strategy depends on the parametrised op, which @given cannot see.
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
@given(data=st.data())
def test_random_finite_inputs_match_torch(c: OpCase, data: st.DataObject) -> None:
    check(c, data.draw(op_args(c=c)))


# The conventions, stated once with the exact expected (value, gradients), checked on both
# engines: refimpl must give them, and torch must too (or the convention is not torch's).
CONVENTIONS = [
    ("exp", (710.0,), INF, (INF,)),
    ("exp", (1000.0,), INF, (INF,)),
    ("exp", (-1000.0,), 0.0, (0.0,)),
    ("log", (0.0,), -INF, (INF,)),
    ("log", (-1.0,), NAN, (-1.0,)),
    ("x / y", (1.0, 0.0), INF, (INF, -INF)),
    ("x / y", (1.0, -0.0), -INF, (-INF, -INF)),
    ("x / y", (0.0, 0.0), NAN, (INF, NAN)),
    ("sigmoid", (1000.0,), 1.0, (0.0,)),
    ("sigmoid", (-1000.0,), 0.0, (0.0,)),
    ("tanh", (1000.0,), 1.0, (0.0,)),
    ("tanh", (-1000.0,), -1.0, (0.0,)),
    ("relu", (0.0,), 0.0, (0.0,)),
    ("relu", (-0.0,), -0.0, (0.0,)),
    ("relu", (NAN,), NAN, (1.0,)),
    ("leaky_relu", (0.0,), 0.0, (0.01,)),
    ("leaky_relu", (-0.0,), -0.0, (0.01,)),
    ("clamp_min(-1)", (-1.0,), -1.0, (1.0,)),
    ("clamp_min(0)", (NAN,), NAN, (0.0,)),
    ("x ** 0.5", (0.0,), 0.0, (INF,)),
    ("x ** 0.5", (-0.0,), -0.0, (-INF,)),
    ("x ** 0.5", (-INF,), NAN, (NAN,)),
    ("x ** -1", (0.0,), INF, (-INF,)),
    ("x ** -1", (-0.0,), -INF, (-INF,)),
    ("x ** -1", (2.0**512,), 2.0**-512, (0.0,)),  # torch: -1 * (1 / (x*x)), and x*x overflows
    ("x ** 0", (NAN,), 1.0, (0.0,)),
    ("0.0 ** x", (2.0,), 0.0, (0.0,)),
]


@pytest.mark.parametrize(
    ("name", "args", "value", "grads"),
    CONVENTIONS,
    ids=[f"{n}@{a!r}" for n, a, _, _ in CONVENTIONS],
)
def test_ieee_conventions_hold_in_refimpl_and_torch(
    name: str, args: tuple, value: float, grads: tuple
) -> None:
    c = BY_NAME[name]
    for engine, run in (("refimpl", run_refimpl), ("torch", run_torch)):
        got_value, got_grads = run(c, args)
        assert_close(got_value, value, what=f"{engine}: {name} at {args!r}")
        for g, want in zip(got_grads, grads, strict=True):
            assert_close(g, want, signed_zero=False, what=f"{engine}: d {name} at {args!r}")


def test_every_value_op_has_a_case() -> None:
    """The table above and Value's public ops must name the same set of operations."""
    public = {n for n in dir(Value) if not n.startswith("_")} - {
        "backward",
        "zero_grad",
        "data",
        "grad",
    }
    arithmetic = {"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__"}
    arithmetic |= {"__truediv__", "__rtruediv__", "__neg__", "__pow__", "__rpow__"}
    assert {c.method for c in CASES} == public | arithmetic


@pytest.mark.parametrize(
    ("a", "b", "ulps", "signed_zero", "ok"),
    [
        (1.0, math.nextafter(1.0, 2.0), 1, True, True),
        (1.0, math.nextafter(math.nextafter(1.0, 2.0), 2.0), 1, True, False),
        (NAN, NAN, 0, True, True),
        (NAN, 1.0, 4, True, False),
        (INF, 1.7976931348623157e308, 4, True, False),
        (-INF, -INF, 0, True, True),
        (0.0, -0.0, 0, True, False),
        (0.0, -0.0, 0, False, True),
        (0.0, 5e-324, 1, True, True),
        (-5e-324, 5e-324, 1, True, False),
    ],
)
def test_float_comparison_helper(
    a: float, b: float, ulps: int, signed_zero: bool, ok: bool
) -> None:
    """The helper itself: it must be able to fail."""
    assert (mismatch(a, b, ulps=ulps, signed_zero=signed_zero) is None) is ok
