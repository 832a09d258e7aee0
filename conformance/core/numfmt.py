"""The one number formatter: short where numbers agree, every digit it takes where they differ.

Six significant digits read well, but print "the output is 1.68951e-09 but torch computes
1.68951e-09" when the two differ in the ninth digit. `pair` widens both numbers until they read
differently (at most 17 digits, where every double prints exactly).
"""

from __future__ import annotations

import math

__all__ = ["g", "pair"]


def g(x: float | None, digits: int = 6) -> str:
    """`x` in `digits` significant digits; nan, ±inf as Python writes them; None as "none"."""
    if x is None:
        return "none"
    return f"{x:.{digits}g}"


def pair(a: float | None, b: float | None, digits: int = 6) -> tuple[str, str]:
    """`a` and `b` with the fewest digits (at least `digits`) that show they differ."""
    if a is None or b is None or a == b or not (math.isfinite(a) and math.isfinite(b)):
        return g(a, digits), g(b, digits)
    for d in range(digits, 18):
        sa, sb = g(a, d), g(b, d)
        if sa != sb:
            return sa, sb
    return repr(a), repr(b)
