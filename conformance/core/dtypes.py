"""The precisions an engine may compute in: rounding to them, their epsilon and their ULP.

An engine's dtype is the precision of its numbers. The suite draws its inputs in that dtype
(exactly representable there, so the engine and torch start from the same numbers), torch
computes the truth in float64, and the tolerances take the dtype's epsilon as each op's rounding
(see `oracles.tolerance`). Standard library only: no numpy or torch here.
"""

from __future__ import annotations

import math
import struct

__all__ = ["DTYPES", "EPSILON", "MAX_FINITE", "SUPPORTED", "rounded", "spacing", "ulps"]

DTYPES = ("float64", "float32", "float16", "bfloat16")
# The dtypes `--dtype` takes: all of them (float16's graphs are kept inside its range of 65504).
SUPPORTED = ("float64", "float32", "float16", "bfloat16")
# Machine epsilon: the distance from 1 to the next number, twice the unit roundoff.
EPSILON = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
MAX_FINITE = {
    "float64": 1.7976931348623157e308,
    "float32": 3.4028234663852886e38,
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
}
_MANTISSA = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}
_MIN_EXPONENT = {"float64": -1022, "float32": -126, "float16": -14, "bfloat16": -126}


def rounded(x: float, dtype: str) -> float:
    """`x` rounded to the nearest number of `dtype` (ties to even), as a Python float; past the
    largest finite number, an infinity with x's sign."""
    if dtype == "float64" or not math.isfinite(x):
        return x
    if dtype == "float32":
        try:
            return struct.unpack("<f", struct.pack("<f", x))[0]
        except OverflowError:
            return math.copysign(math.inf, x)
    if dtype == "float16":
        try:
            return struct.unpack("<e", struct.pack("<e", x))[0]
        except OverflowError:
            return math.copysign(math.inf, x)
    if dtype == "bfloat16":  # the top 16 bits of a float32, rounded to nearest even
        (bits,) = struct.unpack("<I", struct.pack("<f", rounded(x, "float32")))
        if (bits >> 23) & 0xFF == 0xFF:  # inf after the float32 step
            return math.copysign(math.inf, x)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return struct.unpack("<f", struct.pack("<I", bits))[0]
    raise ValueError(f"unknown dtype {dtype!r}; the dtypes are {', '.join(DTYPES)}")


def spacing(x: float, dtype: str) -> float:
    """The distance from |x| to the next larger number of `dtype` (its ULP at x)."""
    if dtype == "float64":
        return math.ulp(x)
    exponent = math.frexp(x)[1] - 1 if x else _MIN_EXPONENT[dtype]
    return 2.0 ** (max(exponent, _MIN_EXPONENT[dtype]) - _MANTISSA[dtype])


def ulps(expected: float, abs_err: float, dtype: str) -> float:
    """An absolute error in ULPs of `dtype` at `expected`."""
    return abs_err / spacing(expected, dtype)
