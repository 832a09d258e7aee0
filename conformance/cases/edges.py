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


# The cases whose points are float64's own extremes (1e200, 5e-324, exp's 709.8): a narrower
# dtype has its own, below.
_FLOAT64_ONLY = frozenset({
    "edge-exp-710-overflows", "edge-huge-times-huge", "edge-tiny-times-tiny",
    "edge-huge-over-tiny", "edge-tiny-over-huge", "edge-subnormal-times-half",
})  # fmt: skip
# A narrower dtype's extremes: where exp overflows (float32's largest is 3.4e38, exp(88.7);
# float16's 65504, exp(11.09)) and underflows below the smallest subnormal, where sigmoid's
# derivative underflows to 0, products past the range, and the smallest subnormal halved.
_RANGES: dict[str, dict[str, tuple[float, ...]]] = {
    "float32": {
        "exp-89-overflows": (89.0,), "exp-minus-104-underflows": (-104.0,),
        "sigmoid-minus-104-underflows": (-104.0,), "huge-times-huge": (1e20, 1e20),
        "tiny-times-tiny": (1e-20, 1e-20), "subnormal-times-half": (1.401298464324817e-45, 0.5),
    },
    "bfloat16": {
        "exp-89-overflows": (89.0,), "exp-minus-104-underflows": (-104.0,),
        "sigmoid-minus-104-underflows": (-104.0,), "huge-times-huge": (1e20, 1e20),
        "tiny-times-tiny": (1e-20, 1e-20), "subnormal-times-half": (9.183549615799121e-41, 0.5),
    },
    "float16": {
        "exp-11.1-overflows": (11.1015625,), "exp-minus-18-underflows": (-18.0,),
        "sigmoid-minus-20-derivative-underflows": (-20.0,), "huge-times-huge": (300.0, 300.0),
        "tiny-times-tiny": (0.001, 0.001), "subnormal-times-half": (5.960464477539063e-08, 0.5),
    },
}  # fmt: skip
_RANGE_OPS = {"exp": "exp", "sigmoid": "sigmoid", "huge": "mul", "tiny": "mul", "subnormal": "mul"}


def edges(options: object = None, dtype: str = "float64") -> list[Case]:
    """One case per kink or extreme, each with a readable id; for a narrower dtype, its own
    extremes, with every point a number of it (torch in that dtype gives the answer)."""
    table = list(EDGE_CASES)
    if dtype != "float64":
        table = [c for c in table if c[0] not in _FLOAT64_ONLY]
        for name, values in _RANGES[dtype].items():
            table.append((f"edge-{dtype}-{name}", _RANGE_OPS[name.split("-")[0]], values, None))
    cases = []
    for case_id, op, values, param in table:
        args = tuple(f"x{i}" for i in range(len(values)))
        spec = GraphSpec(leaves=values, nodes=(Node(op, args, param),), output="n0")
        if dtype != "float64":
            spec = spec.in_dtype(dtype)
        cases.append(Case("edges", case_id, spec, op, kind="edge"))
    return cases
