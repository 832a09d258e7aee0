"""The checker of the `edges` suite: torch's value and gradients to within a few ULP (see
`conformance.cases.edges` for the conventions, op by op)."""

from __future__ import annotations

import math
import re

from conformance.checks.compare import errors, ulp_distance
from conformance.core.case import Case, EngineCall
from conformance.core.dtypes import spacing
from conformance.core.records import Record, Status
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.oracles.autograd import torch_in_dtype, torch_reference

__all__ = ["check_edge", "edge_agree"]


def _ulps(spec: GraphSpec) -> float:
    # Arithmetic is correctly rounded, but engines may round differently (g·(1/b) against g/b):
    # 2 ULP. The elementary functions of torch and libm differ by a few ULP: 4.
    return max(2.0, *(OPS[n.op].ulp for n in spec.nodes))


def edge_agree(
    expected: float, actual: float, ulps: float, zero_sign: bool, dtype: str = "float64"
) -> bool:
    """Equal within `ulps` ULP of `dtype`; nan only matches nan, inf only itself, zero signs if
    asked."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    if expected == 0 and actual == 0:
        return not zero_sign or math.copysign(1, expected) == math.copysign(1, actual)
    return _apart(expected, actual, dtype) <= ulps


def _apart(expected: float, actual: float, dtype: str) -> float:
    """ULP of `dtype` between the two (float64's counted exactly)."""
    if dtype == "float64":
        return ulp_distance(expected, actual)
    return abs(actual - expected) / spacing(expected, dtype)


def _abs_tolerance(expected: float, ulps: float, dtype: str = "float64") -> float:
    if not math.isfinite(expected):
        return 0.0
    return ulps * (math.ulp(expected) if dtype == "float64" else spacing(expected, dtype))


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


def check_edge(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """Compare with torch at the exact point: ULP tolerance, nan and signed infinities. Every
    difference here is a convention (`differs`, kind `ieee`), except an engine that raises
    something other than an arithmetic exception: that op is broken (`error`)."""
    spec, ulps = case.spec, _ulps(case.spec)
    dtype = spec.dtype
    # The answer is torch's in the engine's own precision: where exp overflows, what underflows.
    reference_of = torch_in_dtype if dtype != "float64" else torch_reference
    formula = spec.formula()

    def row(check, node, expected, actual, status, detail) -> Record:
        abs_err, rel_err, ulp = (None, None, None)
        if expected is not None and actual is not None:
            abs_err, rel_err, ulp = errors(expected, actual)
        tol = None if expected is None else _abs_tolerance(expected, ulps, dtype)
        if ulp is not None and dtype != "float64" and math.isfinite(abs_err):
            ulp = abs_err / spacing(expected, dtype)
        return Record.for_case(
            case, engine, check=check, node=node, expected=expected, actual=actual,
            abs_err=abs_err, rel_err=rel_err, ulp=ulp, tolerance=tol, status=status,
            detail=detail, kind="ieee" if status == Status.DIFFERS else "",
        )  # fmt: skip

    if result.skip:
        return [row("run", "", None, None, "skip", f"skipped: {result.skip}")]
    if result.error:
        where = f"at {formula} with {_point(spec)}"
        if not _IEEE_EXCEPTIONS.search(result.error):
            return [row("run", "", None, None, "error", f"the engine {result.error} {where}")]
        reference = reference_of(spec)
        grads = ", ".join(f"{g!r}" for g in reference.grads)
        detail = (
            f"the engine {result.error} {where}, where torch gives {reference.value!r} "
            f"(gradients {grads}): {CONVENTION}"
        )
        return [row("run", "", None, None, "differs", detail)]
    reference = reference_of(spec)
    rows = []
    checks = [("value", "output", reference.value, result.value, True)]
    for k in range(len(spec.leaves)):
        actual = 0.0 if result.grads[k] is None else result.grads[k]
        checks.append(("grad", spec.leaf_name(k), reference.grads[k], actual, False))
    for check, node, expected, actual, zero_sign in checks:
        what = formula if check == "value" else f"d({formula})/d{node}"
        if edge_agree(expected, actual, ulps, zero_sign, dtype):
            status, detail = "pass", f"{what} = {actual!r} at {_point(spec)}, as torch"
        else:
            status = "differs"
            detail = (
                f"{what} = {actual!r} at {_point(spec)}, but torch gives {expected!r}: "
                f"{_finding(expected, actual, ulps, spec)} ({CONVENTION}"
                + (f", in {dtype})" if dtype != "float64" else ")")
            )
        rows.append(row(check, node, expected, actual, status, detail))
    return rows


def _point(spec: GraphSpec) -> str:
    return ", ".join(f"{spec.leaf_name(i)} = {v!r}" for i, v in enumerate(spec.leaves))
