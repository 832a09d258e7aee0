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
import re

from conformance.checkers import EngineCall, checker
from conformance.compare import Case, errors, ulp_distance
from conformance.engines.result import EngineResult
from conformance.oracle import torch_reference
from conformance.records import Record
from conformance.spec import GraphSpec, Node
from conformance.vocabulary import OPS

__all__ = ["EDGE_CASES", "check_edge", "edge_agree", "edges"]

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


def _ulps(spec: GraphSpec) -> float:
    # Arithmetic is correctly rounded, but engines may round differently (g·(1/b) against g/b):
    # 2 ULP. The elementary functions of torch and libm differ by a few ULP: 4.
    return max(2.0, *(OPS[n.op].ulp for n in spec.nodes))


def edge_agree(expected: float, actual: float, ulps: float, zero_sign: bool) -> bool:
    """Equal within `ulps` ULP; nan only matches nan, inf only itself, zero signs if asked."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    if expected == 0 and actual == 0:
        return not zero_sign or math.copysign(1, expected) == math.copysign(1, actual)
    return ulp_distance(expected, actual) <= ulps


def _abs_tolerance(expected: float, ulps: float) -> float:
    return ulps * math.ulp(expected) if math.isfinite(expected) else 0.0


# Python's arithmetic exceptions: where torch returns inf or nan, Python's float raises these.
_IEEE_EXCEPTIONS = re.compile(
    r"\b(ZeroDivisionError|OverflowError|FloatingPointError|ArithmeticError)\b"
    r"|ValueError: math (domain|range) error"
)
CONVENTION = "a difference in IEEE and edge conventions, not wrong math"


def _finding(expected: float, actual: float, ulps: float, spec: GraphSpec) -> str:
    """What differs, in words: the finding, not the rule it broke."""
    if any(math.isnan(x) for x in spec.leaves) and not math.isnan(actual):
        return "at a nan input torch propagates nan, and passes the gradient through"
    if math.isnan(expected):
        return "torch gives nan (IEEE: nan propagates, an undefined result is nan)"
    if math.isnan(actual):
        return "the engine gives nan where torch has a number"
    if math.isinf(expected):
        return "torch gives an IEEE infinity"
    if math.isinf(actual):
        return "the engine gives an infinity where torch has a finite number"
    if expected == 0 and actual == 0:
        return "the sign of zero differs"
    apart = ulp_distance(expected, actual)
    if apart > 1e6:
        at_kink = any(n.op in ("relu", "leaky_relu") for n in spec.nodes)
        return "a different convention at the kink" if at_kink else "a different number"
    return f"{apart:g} ULP apart (up to {ulps:g} allowed)"


@checker("edge")
def check_edge(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """Compare with torch at the exact point: ULP tolerance, nan and signed infinities. Every
    difference here is a convention (`differs`, kind `ieee`), except an engine that raises
    something other than an arithmetic exception: that op is broken (`error`)."""
    spec, ulps = case.spec, _ulps(case.spec)
    formula = spec.formula()

    def row(check, node, expected, actual, status, detail) -> Record:
        abs_err, rel_err, ulp = (None, None, None)
        if expected is not None and actual is not None:
            abs_err, rel_err, ulp = errors(expected, actual)
        tol = None if expected is None else _abs_tolerance(expected, ulps)
        return Record(
            case.suite, case.case_id, engine, check, node, case.op, expected, actual, None,
            abs_err, rel_err, ulp, tol, status, detail, case.reproduce,
            kind="ieee" if status == "differs" else "",
        )  # fmt: skip

    if result.skip:
        return [row("run", "", None, None, "skip", f"skipped: {result.skip}")]
    if result.error:
        where = f"at {formula} with {_point(spec)}"
        if not _IEEE_EXCEPTIONS.search(result.error):
            return [row("run", "", None, None, "error", f"the engine {result.error} {where}")]
        reference = torch_reference(spec)
        grads = ", ".join(f"{g!r}" for g in reference.grads)
        detail = (
            f"the engine {result.error} {where}, where torch gives {reference.value!r} "
            f"(gradients {grads}): {CONVENTION}"
        )
        return [row("run", "", None, None, "differs", detail)]
    reference = torch_reference(spec)
    rows = []
    checks = [("value", "output", reference.value, result.value, True)]
    for k in range(len(spec.leaves)):
        actual = 0.0 if result.grads[k] is None else result.grads[k]
        checks.append(("grad", spec.leaf_name(k), reference.grads[k], actual, False))
    for check, node, expected, actual, zero_sign in checks:
        what = formula if check == "value" else f"d({formula})/d{node}"
        if edge_agree(expected, actual, ulps, zero_sign):
            status, detail = "pass", f"{what} = {actual!r} at {_point(spec)}, as torch"
        else:
            status = "differs"
            detail = (
                f"{what} = {actual!r} at {_point(spec)}, but torch gives {expected!r}: "
                f"{_finding(expected, actual, ulps, spec)} ({CONVENTION})"
            )
        rows.append(row(check, node, expected, actual, status, detail))
    return rows


def _point(spec: GraphSpec) -> str:
    return ", ".join(f"{spec.leaf_name(i)} = {v!r}" for i, v in enumerate(spec.leaves))
