"""Float arithmetic with torch's IEEE results where Python's `math` raises instead."""

from __future__ import annotations

import math

__all__ = ["fdiv", "fexp", "flog", "flog1p", "fpow", "fpow_scalar", "fsigmoid", "fsqrt"]

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


def flog1p(x: float) -> float:
    """log(1 + x), exact near 0: -inf at -1, nan below (math.log1p raises for both)."""
    if x > -1:
        return math.log1p(x)
    if x == -1:
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


def fsqrt(x: float) -> float:
    """Square root: nan below 0 (math.sqrt raises), and -0.0 for -0.0 as IEEE says."""
    return math.sqrt(x) if x >= 0 else _NAN


def fpow_scalar(x: float, c: float) -> float:
    """x**c for a constant exponent, computed as torch's CPU kernel computes it.

    torch special-cases six exponents: 2 is x*x, 3 is x*x*x, -1 is 1/x, -2 is 1/(x*x), 0.5 is
    sqrt and -0.5 is 1/sqrt. That is more than rounding: (-0.0)**0.5 is -0.0 and (-inf)**0.5 is
    nan where C's pow gives 0.0 and inf, and (2**512)**-2 is 0.0 (x*x overflows) where pow gives
    2**-1024. Every other exponent goes to C's pow, as in torch.
    """
    if c == 2:
        return x * x
    if c == 3:
        return x * x * x
    if c == -1:
        return fdiv(1.0, x)
    if c == -2:
        return fdiv(1.0, x * x)
    if c == 0.5:
        return fsqrt(x)
    if c == -0.5:
        return fdiv(1.0, fsqrt(x))
    return fpow(x, c)
