"""A tensor against torch's, element by element: how many elements are beyond their tolerance,
and the worst one (in tolerance units), for the rows of layer and tensor-graph checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from conformance.core.numfmt import g as fmt

__all__ = ["Worst", "shape_text", "units_text", "worst_element"]


@dataclass(frozen=True)
class Worst:
    """How many elements fail, and the worst: its index, both numbers, its tolerance, its
    errors, and how many tolerances off it is."""

    failing: int
    index: tuple
    expected: float
    actual: float
    tolerance: float
    abs_err: float
    rel_err: float
    units: float


def worst_element(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> Worst:
    """`got` against `want` (the same shape), each element's error in units of its `tol`: a
    number where torch has a finite one that is not finite, or any error where the tolerance is
    0, is infinitely off."""
    diff = np.abs(got - want)
    bad_number = ~np.isfinite(got) & np.isfinite(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    units = np.where(bad_number | np.isnan(units), np.inf, units)
    failing = int((units > 1).sum())
    if not units.size:
        return Worst(failing, (), math.nan, math.nan, 0.0, math.nan, math.nan, 0.0)
    worst = np.unravel_index(int(np.argmax(units)), units.shape)
    e, a = float(want[worst]), float(got[worst])
    t = float(np.broadcast_to(tol, want.shape)[worst])
    abs_err = abs(a - e) if math.isfinite(a) else math.inf
    rel = abs_err / abs(e) if e else (0.0 if abs_err == 0 else math.inf)
    return Worst(failing, worst, e, a, t, abs_err, rel, float(units[worst]))


def units_text(u: float) -> str:
    """Tolerance units as the rows write them."""
    return "inf" if not math.isfinite(u) else fmt(u)


def shape_text(shape: tuple) -> str:
    """A shape as Python writes a tuple: (3,), (2, 4)."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
