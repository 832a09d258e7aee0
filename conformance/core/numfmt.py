"""The one number formatter: short where numbers agree, every digit it takes where they differ.

Six significant digits read well, but print "the output is 1.68951e-09 but torch computes
1.68951e-09" when the two differ in the ninth digit. `pair` widens both numbers until they read
differently (at most 17 digits, where every double prints exactly).

Sentences about neurons and training write minus as the typographic `−` (MINUS): `minus=MINUS`.
"""

from __future__ import annotations

import math

__all__ = ["MINUS", "g", "g_minus", "pair", "pair_minus"]

MINUS = "−"  # U+2212, the minus sign of the neurons' and training's sentences


def g(x: float | None, digits: int = 6, *, minus: str = "-") -> str:
    """`x` in `digits` significant digits; nan, ±inf as Python writes them; None as "none";
    each "-" written as `minus`."""
    if x is None:
        return "none"
    text = f"{x:.{digits}g}"
    return text if minus == "-" else text.replace("-", minus)


def pair(a: float | None, b: float | None, digits: int = 6, *, minus: str = "-") -> tuple[str, str]:
    """`a` and `b` with the fewest digits (at least `digits`) that show they differ."""
    if a is None or b is None or a == b or not (math.isfinite(a) and math.isfinite(b)):
        return g(a, digits, minus=minus), g(b, digits, minus=minus)
    for d in range(digits, 18):
        sa, sb = g(a, d), g(b, d)
        if sa != sb:
            return g(a, d, minus=minus), g(b, d, minus=minus)
    return repr(a).replace("-", minus), repr(b).replace("-", minus)


def g_minus(x: float | None, digits: int = 6) -> str:
    """`g` with the typographic minus (−) of the sentences about neurons and training."""
    return g(x, digits, minus=MINUS)


def pair_minus(a: float | None, b: float | None, digits: int = 6) -> tuple[str, str]:
    """`pair` with the typographic minus (−)."""
    return pair(a, b, digits, minus=MINUS)
