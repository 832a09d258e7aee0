"""A heatmap of a tensor's errors, |engine − torch| ÷ tolerance per element, drawn in SVG by hand:
a wrong row or column (a bias not summed, a transposed block) shows at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from conformance.report.html.charts import FONT, GREY, INK, number

__all__ = ["MAX_CELLS", "heatmap"]

MAX_CELLS = 48  # rows or columns drawn; a bigger tensor shows its top-left corner
CELL = 14  # pixels a cell; 20 for tensors of at most 24 columns
EXACT = "#eaeef2"  # no error at all
WITHIN = "#b4e2c1"  # within tolerance: the lighter green of a pass
OFF = ("#ffd8b5", "#ffb077", "#f27d52", "#cf222e", "#8e1519")  # 1–1e2, ..., beyond 1e8


def _colour(u: float) -> str:
    if u == 0:
        return EXACT
    if u <= 1:
        return WITHIN
    if math.isinf(u) or math.isnan(u):
        return OFF[-1]
    return OFF[min(len(OFF) - 1, int(math.log10(u) // 2))]


def heatmap(units: Sequence[Sequence[float]], shape: Sequence[int], title: str) -> str:
    """One `<svg>`: a cell per element (rows: the first axis; columns: the others, flattened),
    coloured by how many tolerances it is off, each with its number on hover."""
    rows, cols = len(units), len(units[0]) if units else 0
    shown_r, shown_c = min(rows, MAX_CELLS), min(cols, MAX_CELLS)
    cell = CELL if shown_c > 24 else 20
    left, top = 34, 30
    width = left + shown_c * cell + 12
    legend_y = top + shown_r * cell + 18
    height = legend_y + 30
    width = max(width, 360)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="14" fill="{INK}">{escape(title)}</text>',
    ]
    for j in range(0, shown_c, max(1, shown_c // 8 or 1)):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text x="{x:.1f}" y="{top - 4}" text-anchor="middle" fill="{GREY}">{j}</text>'
        )
    for i in range(shown_r):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 4}" y="{y + cell - 3}" text-anchor="end" fill="{GREY}">{i}</text>'
        )
        for j in range(shown_c):
            u = units[i][j]
            x = left + j * cell
            where = f"[{i}, {j}]" if len(shape) > 1 else f"[{j}]"
            tip = f"{where}: {number(u, 3)} tolerances" if u else f"{where}: exact"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{_colour(u)}"><title>{escape(tip)}</title></rect>'
            )
    if shown_r < rows or shown_c < cols:
        parts.append(
            f'<text x="{left}" y="{legend_y - 4}" fill="{GREY}">'
            f"the first {shown_r} × {shown_c} of {rows} × {cols}</text>"
        )
    keys = [
        (EXACT, "exact"),
        (WITHIN, "≤ 1"),
        (OFF[0], "> 1"),
        (OFF[2], "> 1e4"),
        (OFF[-1], "> 1e8"),
    ]
    x = left
    for colour, label in keys:
        parts.append(f'<rect x="{x}" y="{legend_y + 4}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{legend_y + 14}" fill="{INK}">{escape(label)}</text>')
        x += 16 + 7 * len(label) + 14
    parts.append("</svg>")
    return "".join(parts)
