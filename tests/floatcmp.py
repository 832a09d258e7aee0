"""Float comparison for the tests: distance in ULPs, nan equal to nan, the sign of zero checked."""

from __future__ import annotations

import math
import struct

__all__ = ["EPS", "assert_close", "mismatch", "ulp_distance"]

EPS = 2.0**-52  # the gap between 1.0 and the next float


def _ordered(x: float) -> int:
    """An integer per float, in the floats' order, adjacent floats one apart; ±0 both map to 0."""
    (bits,) = struct.unpack("<q", struct.pack("<d", x))
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def ulp_distance(a: float, b: float) -> float:
    """How many floats lie between a and b: 0 for two nans, inf if only one is nan.

    Infinities count only as equal to themselves: the largest float is not "1 ULP" from inf.
    """
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return float(abs(_ordered(a) - _ordered(b)))


def mismatch(
    actual: float,
    expected: float,
    *,
    ulps: int = 0,
    abs_tol: float = 0.0,
    signed_zero: bool = True,
) -> str | None:
    """Why `actual` is not `expected` within `ulps` (or `abs_tol`); None when it is."""
    if signed_zero and actual == 0 and expected == 0:
        if math.copysign(1.0, actual) != math.copysign(1.0, expected):
            return f"zero of the wrong sign: {actual!r}, expected {expected!r}"
        return None
    distance = ulp_distance(actual, expected)
    if distance <= ulps:
        return None
    if math.isfinite(actual) and math.isfinite(expected) and abs(actual - expected) <= abs_tol:
        return None
    return (
        f"{actual!r} ({actual.hex()}), expected {expected!r} ({expected.hex()}): "
        f"{distance:g} ULP apart, allowed {ulps} ULP or {abs_tol:g} absolute"
    )


def assert_close(
    actual: float,
    expected: float,
    *,
    ulps: int = 0,
    abs_tol: float = 0.0,
    signed_zero: bool = True,
    what: str = "",
) -> None:
    """Fail with both numbers, their hex and their ULP distance unless they are close."""
    why = mismatch(actual, expected, ulps=ulps, abs_tol=abs_tol, signed_zero=signed_zero)
    assert why is None, f"{what}: {why}" if what else why
