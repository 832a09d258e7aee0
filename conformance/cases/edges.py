"""Suite `edges`: exact kinks and IEEE extremes, where torch's conventions are the expected answer.

Random graphs stay away from these points on purpose; here each case sits exactly on one. No
finite differences (they mean nothing at a kink or an infinity) and no error bound: the engine must
give torch's value and gradients to within a few ULP (the elementary functions of torch and of C's
libm differ by that much), nan where torch gives nan, infinities of the same sign, and zeros of the
same sign in values (gradient zeros may differ in sign: adding into a gradient that starts at +0.0
turns torch's -0.0 into +0.0, which is a convention of accumulation, not an error).

Every difference here is one of torch's conventions, not wrong math: such rows are `differs`
(kind `ieee`) and gate only under --strict. So is Python's arithmetic exception where torch gives
inf or nan; any other exception means the op is broken (`error`).

The conventions, op by op, as torch 2.x defines them (and `refimpl` follows):
- relu: relu'(0) = 0; relu(-0.0) = -0.0; relu(nan) = nan, and its gradient passes through.
- leaky_relu: the slope at 0 and below; leaky_relu(nan) = nan.
- x ** 0.5 at 0: value 0, derivative +inf. x ** -1 at ±0: ±inf, derivative -inf.
- exp overflows to inf (exp(710)) and underflows to 0 (exp(-1000)), derivative the same.
- log(0) = -inf with derivative +inf; log(-1) = nan with derivative 1/x = -1.
- a / ±0 = ±inf (sign of a times sign of the zero), 0/0 = nan.
- sigmoid(-1000) = 0 and sigmoid(1000) = 1, derivatives exactly 0; tanh(±1000) = ±1, derivative 0.
- nan propagates through every op; inf - inf = nan; inf * 0 = nan.
"""

from __future__ import annotations

import math

from conformance.core.case import Case
from conformance.core.spec import GraphSpec, Node

__all__ = ["EDGE_CASES", "edges"]

INF, NAN = math.inf, math.nan

# (id, op, leaf values, extra nodes' param or constants): one node on one leaf pattern each.
EDGE_CASES: tuple[tuple[str, str, tuple[float, ...], float | None], ...] = (
    ("edge-relu-at-0", "relu", (0.0,), None),
    ("edge-relu-at-minus-0", "relu", (-0.0,), None),
    ("edge-relu-of-nan", "relu", (NAN,), None),
    ("edge-leaky-relu-at-0", "leaky_relu", (0.0,), None),
    ("edge-sqrt-at-0", "powc", (0.0,), 0.5),
    ("edge-inverse-at-plus-0", "powc", (0.0,), -1.0),
    ("edge-inverse-at-minus-0", "powc", (-0.0,), -1.0),
    ("edge-exp-710-overflows", "exp", (710.0,), None),
    ("edge-exp-1000-overflows", "exp", (1000.0,), None),
    ("edge-exp-minus-1000-underflows", "exp", (-1000.0,), None),
    ("edge-log-of-0", "log", (0.0,), None),
    ("edge-log-of-minus-1", "log", (-1.0,), None),
    ("edge-divide-by-plus-0", "div", (1.0, 0.0), None),
    ("edge-divide-by-minus-0", "div", (1.0, -0.0), None),
    ("edge-0-over-0", "div", (0.0, 0.0), None),
    ("edge-sigmoid-minus-1000", "sigmoid", (-1000.0,), None),
    ("edge-sigmoid-plus-1000", "sigmoid", (1000.0,), None),
    ("edge-tanh-plus-1000", "tanh", (1000.0,), None),
    ("edge-tanh-minus-1000", "tanh", (-1000.0,), None),
    ("edge-nan-plus-leaf", "add", (NAN, 1.0), None),
    ("edge-nan-times-leaf", "mul", (NAN, 2.0), None),
    ("edge-exp-of-nan", "exp", (NAN,), None),
    ("edge-inf-times-2", "mul", (INF, 2.0), None),
    ("edge-inf-minus-inf", "sub", (INF, INF), None),
    ("edge-inf-times-0", "mul", (INF, 0.0), None),
    ("edge-minus-inf-sigmoid", "sigmoid", (-INF,), None),
    ("edge-huge-times-huge", "mul", (1e200, 1e200), None),
    ("edge-tiny-times-tiny", "mul", (1e-200, 1e-200), None),
    ("edge-huge-over-tiny", "div", (1e300, 1e-10), None),
    ("edge-tiny-over-huge", "div", (1e-300, 1e300), None),
    ("edge-subnormal-times-half", "mul", (5e-324, 0.5), None),
    ("edge-zero-to-the-2", "powv", (0.0, 2.0), None),
)


def edges(options: object = None) -> list[Case]:
    """One case per kink or extreme, each with a readable id."""
    cases = []
    for case_id, op, values, param in EDGE_CASES:
        args = tuple(f"x{i}" for i in range(len(values)))
        spec = GraphSpec(leaves=values, nodes=(Node(op, args, param),), output="n0")
        cases.append(Case("edges", case_id, spec, op, kind="edge"))
    return cases
