"""Whether an engine checked as float64 computes in a narrower precision: its numbers say so.

A float64 engine's values and gradients are almost never float32 numbers where torch's are not
(a random double is one with odds of about one in 2**29); a float32 engine's all are. Checked as
float64, such an engine fails nearly every row by its rounding alone, and the useful finding is
not which rows: it is that the run should say `--dtype float32`.
"""

from __future__ import annotations

import math

import pandas as pd

from conformance.core.dtypes import SUPPORTED, rounded

__all__ = ["MIN_NUMBERS", "MIN_SHARE", "narrow_dtype", "suggestion"]

# At least this many of the engine's numbers, this share of them in a narrower dtype.
MIN_NUMBERS = 10
MIN_SHARE = 0.95
_NARROWEST_FIRST = ("bfloat16", "float16", "float32")


def narrow_dtype(frame: pd.DataFrame) -> tuple[str, float] | None:
    """(the narrowest dtype that holds nearly every value and gradient the engine gave, the
    share that it holds), or None where they look like float64."""
    if not len(frame):
        return None
    rows = frame[frame["check"].isin(("value", "grad"))]
    # Evidence only where torch's number is not a float32 number itself: where it is (the
    # lecture's 11 and -6, an edge case's 0.5), a float64 engine gives one too.
    numbers = [
        a
        for a, e in zip(rows["actual"], rows["expected"])
        if _number(a) and _number(e) and rounded(e, "float32") != e
    ]
    if len(numbers) < MIN_NUMBERS:
        return None
    if sum(float(a).is_integer() for a in numbers) >= MIN_SHARE * len(numbers):
        return None  # whole numbers (data cast to int): no narrower float, another bug
    for dtype in _NARROWEST_FIRST:
        share = sum(rounded(a, dtype) == a for a in numbers) / len(numbers)
        if share >= MIN_SHARE:
            return dtype, share
    return None


def suggestion(frame: pd.DataFrame) -> str | None:
    """One sentence for a failing float64 run whose engine computes in a narrower dtype."""
    found = narrow_dtype(frame)
    if found is None:
        return None
    dtype, share = found
    what = (
        f"check it with --dtype {dtype}"
        if dtype in SUPPORTED
        else f"--dtype {dtype} is not supported yet; --dtype float32 is the nearest"
    )
    return (
        f"the engine's numbers look like {dtype} ({share:.0%} of the values and gradients it "
        f"gave are {dtype} numbers), and float64's tolerances fail its rounding: {what}"
    )


def _number(x: float) -> bool:
    return math.isfinite(x) and x != 0.0
