"""Compare an engine result with the oracles: errors, tolerance, a status and a sentence a row."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from conformance.core.case import Case
from conformance.core.dtypes import ulps
from conformance.core.numfmt import g, pair
from conformance.core.records import Record, Status
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.oracles.autograd import FiniteDifferences
from conformance.oracles.tolerance import EPS, Bounds, bounds

__all__ = [
    "agree",
    "compare_case",
    "errors",
    "grad_verdict",
    "oracles_agree",
    "precision_note",
    "ulp_distance",
    "within_precision",
]

# Finite differences agree with torch when within this many times their own error estimate.
FD_TRUST = 10.0


def _ordered(x: float) -> int:
    # Map a double to an integer that is monotonic in its value: ULP distance is a subtraction.
    (i,) = struct.unpack("<q", struct.pack("<d", x))
    return i if i >= 0 else -(i & 0x7FFFFFFFFFFFFFFF)


def ulp_distance(a: float, b: float) -> float:
    """How many float64 values lie between a and b (0 when equal, inf for nan against a number)."""
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    return float(abs(_ordered(a) - _ordered(b)))


def errors(expected: float, actual: float) -> tuple[float, float, float]:
    """Absolute, relative and ULP error of `actual` against `expected`; nan matches nan."""
    if math.isnan(expected) or math.isnan(actual) or math.isinf(expected) or math.isinf(actual):
        same = (math.isnan(expected) and math.isnan(actual)) or expected == actual
        return (0.0, 0.0, 0.0) if same else (math.inf, math.inf, ulp_distance(expected, actual))
    abs_err = abs(actual - expected)
    if expected == 0:
        return abs_err, (0.0 if abs_err == 0 else math.inf), ulp_distance(expected, actual)
    rel_err = abs_err / abs(expected)
    return abs_err, rel_err, ulp_distance(expected, actual)


def agree(expected: float, actual: float, tolerance: float) -> bool:
    """Within tolerance; nan only matches nan, an infinity only itself."""
    return errors(expected, actual)[0] <= tolerance


# A miss beyond torch's rounding is a precision difference only where torch's own rounding is far
# below the value: in an ill-conditioned case (the bound near the value itself, from cancellation)
# a legitimate formula could explain almost anything, and a real bug would hide behind it.
WELL_CONDITIONED = 1e-6
# Or where the precision bound itself is this small in absolute terms: near an exact zero of
# torch's (a cancellation), a textbook tanh is still off by 1e-17, while a derivative wrong by
# one part in a million moves any quantity of size 1e-6 or more by more than this.
NEGLIGIBLE = 1e-12


def within_precision(expected: float, actual: float, tolerance: float, loose: float) -> bool:
    """Whether a miss of `tolerance` is a precision difference: within the precision bound
    `loose`, at a well-conditioned point or by a negligible amount."""
    conditioned = tolerance <= WELL_CONDITIONED * abs(expected) or loose <= NEGLIGIBLE
    return conditioned and agree(expected, actual, loose)


def precision_note(tolerance: float, loose: float, dtype: str = "float64") -> str:
    """Why a row between the two bounds is a precision difference, not wrong math."""
    rounding = "torch's float64 rounding" if dtype == "float64" else f"{dtype} rounding"
    return (
        f": beyond {rounding} (tolerance {g(tolerance)}) but within what a "
        f"legitimate formula loses ({g(loose)}): a precision difference, not wrong math"
    )


def compare_case(
    case: Case,
    engine: str,
    result: EngineResult,
    reference: EngineResult,
    fd: FiniteDifferences | None,
    tol: Bounds,
) -> list[Record]:
    """The rows for one case: the output value and the gradient of every leaf."""
    spec = case.spec
    loose: list[Bounds] = []  # the precision bound, computed only when a row needs it

    def precision() -> Bounds:
        if not loose:
            loose.append(bounds(spec, reference.node_values, precision=True))
        return loose[0]

    def row(check, node, expected, actual, fd_value, tolerance, status, detail) -> Record:
        if expected is not None and actual is not None:
            abs_err, rel_err, ulp = errors(expected, actual)
            if spec.dtype != "float64" and math.isfinite(abs_err) and math.isfinite(expected):
                ulp = ulps(expected, abs_err, spec.dtype)  # in the engine's own ULPs
        else:
            abs_err = rel_err = ulp = None
        return Record.for_case(
            case, engine, check=check, node=node, expected=expected, actual=actual, fd=fd_value,
            abs_err=abs_err, rel_err=rel_err, ulp=ulp, tolerance=tolerance, status=status,
            detail=detail, kind="precision" if status == Status.DIFFERS else "",
        )  # fmt: skip

    if result.skip:
        return [row("run", "", None, None, None, None, "skip", f"skipped: {result.skip}")]
    if result.error:
        return [row("run", "", None, None, None, None, "error", f"the engine {result.error}")]
    if len(result.grads) != len(spec.leaves):
        why = f"returned {len(result.grads)} gradients for {len(spec.leaves)} leaves"
        return [row("run", "", None, None, None, None, "error", f"the engine {why}")]

    rows = []
    exp, act = reference.value, result.value
    a, e = pair(act, exp)
    if agree(exp, act, tol.value):
        status, detail = "pass", f"the output {g(act)} matches torch"
    elif within_precision(exp, act, tol.value, precision().value):
        status = "differs"
        detail = f"the output is {a} where torch computes {e}" + precision_note(
            tol.value, precision().value, spec.dtype
        )
    else:
        status = "fail"
        detail = (
            f"the output is {a} but torch computes {e} "
            f"(error {g(errors(exp, act)[0])} > tolerance {g(tol.value)})"
        )
    rows.append(row("value", "output", exp, act, None, tol.value, status, detail))

    loss = f"L = {spec.upstream:.4g}·{spec.output}"
    for k in range(len(spec.leaves)):
        name = spec.leaf_name(k)
        exp, act, t = reference.grads[k], result.grads[k], tol.grads[k]
        none = act is None
        if none:  # no gradient reached it, in the engine's words: 0 for the comparison
            act = 0.0
        fd_value = fd.grads[k] if fd is not None else None
        verified = fd is None or oracles_agree(exp, fd, k, t, tol.forward_error, spec, reference)
        wide = None if agree(exp, act, t) else precision().grads[k]
        status, detail = grad_verdict(f"dL/d{name} ({loss})", exp, act, t, fd_value, verified,
                                      loose_tolerance=wide, dtype=spec.dtype)  # fmt: skip
        rows.append(row("grad", name, exp, act, fd_value, t, status, detail))
    return rows


def grad_verdict(
    what: str,
    expected: float,
    actual: float,
    tolerance: float,
    fd_value: float | None,
    verified: bool,
    matches: str = "",
    fmt: Callable[[float], str] = g,
    loose_tolerance: float | None = None,
    dtype: str = "float64",
) -> tuple[str, str]:
    """The status of one gradient and the sentence that explains it; `verified` says whether
    torch and finite differences agree; `matches` is added to a passing row's sentence;
    within `loose_tolerance` (the precision bound) a miss is `differs`, not `fail`."""
    if not verified:
        return "unverified", (
            f"{what}: torch ({fmt(expected)}) and finite differences ({fmt(fd_value)}) disagree: "
            "a kink or an ill-conditioned point, so the engine is not judged"
        )
    if agree(expected, actual, tolerance):
        return "pass", f"{what} = {fmt(actual)} matches torch{matches}"
    a, e = pair(actual, expected)
    if fmt is not g:  # the caller's style of minus sign
        a, e = a.replace("-", "−"), e.replace("-", "−")
    if loose_tolerance is not None and within_precision(
        expected, actual, tolerance, loose_tolerance
    ):
        return "differs", f"{what} is {a} where torch computes {e}" + precision_note(
            tolerance, loose_tolerance, dtype
        )
    fd_text = f"; finite differences: {pair(fd_value, expected)[0]}" if fd_value is not None else ""
    return "fail", (
        f"{what} is {a} but torch computes {e} "
        f"(error {g(errors(expected, actual)[0])} > tolerance {g(tolerance)}{fd_text})"
    )


def oracles_agree(
    torch_grad: float,
    fd: FiniteDifferences,
    k: int,
    grad_tol: float,
    forward_error: float,
    spec: GraphSpec,
    reference: EngineResult,
) -> bool:
    """Whether torch's gradient and the finite difference agree within the latter's accuracy."""
    g = fd.grads[k]
    if not (math.isfinite(torch_grad) and math.isfinite(g)):
        return math.isnan(torch_grad) == math.isnan(g) and (math.isnan(g) or torch_grad == g)
    # The difference quotient's rounding: each L = upstream·output carries up to the forward
    # error of the output, scaled, plus the rounding of the product; divided by the step.
    u = abs(spec.upstream)
    rounding = 4.0 * (u * forward_error + EPS * u * abs(reference.value)) / fd.steps[k]
    allowed = FD_TRUST * (fd.truncation[k] + rounding) + grad_tol
    return abs(torch_grad - g) <= allowed
