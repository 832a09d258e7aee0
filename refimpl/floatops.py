"""Float arithmetic with torch's IEEE results where Python's `math` raises instead."""

from __future__ import annotations

import math

__all__ = ["fdiv", "fexp", "flog", "fpow", "fsigmoid"]

_INF = math.inf
_NAN = math.nan


def fdiv(a: float, b: float) -> float:
    """a / b, with IEEE results for a zero divisor: ±inf, or nan for 0/0 and nan/0."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return _NAN
        # The sign of a zero divisor counts: 1 / -0.0 is -inf.
        return math.copysign(_INF, a) * math.copysign(1.0, b)


def fexp(x: float) -> float:
    """e**x, inf on overflow (math.exp raises)."""
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


def flog(x: float) -> float:
    """Natural logarithm: -inf at ±0, nan below 0 (math.log raises for both)."""
    if x > 0:
        return math.log(x)
    if x == 0:
        return -_INF
    return _NAN


def fsigmoid(x: float) -> float:
    """1 / (1 + exp(-x)), computed as torch does: 0 for x = -1000, 1 for x = 1000."""
    return 1.0 / (1.0 + fexp(-x))


def _is_odd_integer(y: float) -> bool:
    return y.is_integer() and y % 2 == 1


def fpow(x: float, y: float) -> float:
    """x**y with C's pow semantics (as torch): inf on overflow, nan for a negative base and a
    non-integer exponent, ±inf for a zero base and a negative exponent."""
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0 and _is_odd_integer(y):
            return -_INF
        return _INF
    except ValueError:
        if x == 0:  # zero to a negative power: pole
            return math.copysign(_INF, x) if _is_odd_integer(y) else _INF
        return _NAN
