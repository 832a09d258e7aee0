"""Small SVG plots for the HTML report, written by hand: no plotting library, no system binary.

Each function returns one `<svg>` element as text, with its own size, axes and labels, ready to
inline in a page. Numbers that cannot be drawn (nan, the infinities, zeros on a log axis) get a
bar or a note of their own rather than vanishing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from conformance.core.numfmt import g

__all__ = ["GREEN", "GREY", "RED", "Series", "line_chart", "log_histogram", "number"]

GREEN, RED, BLUE, GREY, INK = "#1a7f37", "#cf222e", "#0969da", "#8c959f", "#1f2328"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
MAX_BARS = 14  # decades merge into wider bins beyond this


def number(x: float, digits: int = 6) -> str:
    """`x` as numfmt.g writes it, set for reading: a true minus sign, ∞ for inf (nan as is)."""
    return g(x, digits).replace("-", "−").replace("inf", "∞")


def _power(k: int) -> str:
    return {0: "1", 1: "10", -1: "0.1"}.get(k, f"1e{k}".replace("-", "−"))


def _open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" {FONT}>'
        f"<title>{escape(label)}</title>"
    )


def _text(x: float, y: float, s: str, anchor: str = "middle", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(s)}</text>'


@dataclass(frozen=True)
class _Bar:
    label: str  # under the bar
    title: str  # on hover
    count: int
    colour: str


def _decade_bars(
    values: Sequence[float], threshold: float | None, zero_label: str
) -> tuple[list[_Bar], int]:
    """Bars for 0, each decade (or run of decades) between the extremes, and ∞; the nan count."""
    zeros = sum(1 for v in values if v == 0)
    infs = sum(1 for v in values if math.isinf(v))
    nans = sum(1 for v in values if math.isnan(v))
    positive = [v for v in values if 0 < v < math.inf]
    bars = []
    if zeros:
        bars.append(_Bar(zero_label, f"{zeros} exactly 0", zeros, BLUE))
    if positive:
        lo = math.floor(math.log10(min(positive)))
        hi = math.floor(math.log10(max(positive))) + 1
        if threshold is not None:  # the threshold's decade always shows, as a reference
            t = math.floor(math.log10(threshold))
            lo, hi = min(lo, t), max(hi, t + 1)
        width = max(1, math.ceil((hi - lo) / (MAX_BARS - 2)))
        if threshold is not None:  # a bin starts at the threshold: no bar mixes both sides
            lo = t - math.ceil((t - lo) / width) * width
        counts: dict[int, int] = {}
        for v in positive:
            k = lo + (math.floor(math.log10(v)) - lo) // width * width
            counts[k] = counts.get(k, 0) + 1
        for k in range(lo, hi, width):
            n = counts.get(k, 0)
            bad = threshold is not None and 10.0**k >= threshold
            title = f"{n} from {_power(k)} to {_power(k + width)}"
            bars.append(_Bar(_power(k), title, n, RED if bad else GREEN if threshold else BLUE))
    if infs:
        bars.append(_Bar("∞", f"{infs} infinite", infs, RED if threshold is not None else BLUE))
    return bars, nans


def log_histogram(
    values: Sequence[float],
    *,
    title: str,
    xlabel: str,
    threshold: float | None = None,
    zero_label: str = "0",
    width: int = 520,
    height: int = 240,
) -> str:
    """A histogram of non-negative `values` by decade: a bar for zeros, one per decade (merged
    when there are many), one for ∞. With `threshold`, bars at or above it are red, below green,
    and a dashed line marks it."""
    bars, nans = _decade_bars(values, threshold, zero_label)
    left, right, top, bottom = 48, 12, 28, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [_open(width, height, title), _text(width / 2, 16, title, font_weight="600")]
    if not bars:
        parts.append(_text(width / 2, height / 2, "nothing to show"))
        return "".join(parts) + "</svg>"
    peak = max(b.count for b in bars) or 1
    ticks = _nice_ticks(peak)
    slot = plot_w / len(bars)
    axis_y = top + plot_h
    for t in ticks:
        y = axis_y - plot_h * t / ticks[-1]
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{t:,}", anchor="end", fill=INK))
    slant = any(slot < 6.5 * len(b.label) + 4 for b in bars)  # labels too wide to stand
    for i, bar in enumerate(bars):
        h = plot_h * bar.count / ticks[-1]
        x = left + i * slot + slot * 0.12
        parts.append(
            f'<rect x="{x:.1f}" y="{axis_y - h:.1f}" width="{slot * 0.76:.1f}" height="{h:.1f}" '
            f'fill="{bar.colour}"><title>{escape(bar.title)}</title></rect>'
        )
        if bar.count:
            parts.append(_text(x + slot * 0.38, axis_y - h - 3, f"{bar.count:,}", fill=INK))
        lx, ly = left + (i + 0.5) * slot, axis_y + 14
        if slant:
            parts.append(
                _text(lx + 4, ly, bar.label, anchor="end", fill=INK,
                      transform=f"rotate(-35 {lx + 4:.1f} {ly:.1f})")
            )  # fmt: skip
        else:
            parts.append(_text(lx, ly, bar.label, fill=INK))
    if threshold is not None:  # at the left edge of the threshold's decade bar
        k = math.floor(math.log10(threshold))
        at = next((i for i, b in enumerate(bars) if b.label == _power(k)), None)
        if at is not None:
            x = left + at * slot
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="{RED}" '
                'stroke-dasharray="4 3"/>'
            )
            side = ("start", x + 4) if x < left + plot_w - 60 else ("end", x - 4)
            parts.append(_text(side[1], top + 10, "tolerance", anchor=side[0], fill=RED))
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{axis_y}" y2="{axis_y}" stroke="{INK}"/>'
    )
    note = f" ({nans} nan, not shown)" if nans else ""
    parts.append(_text(left + plot_w / 2, height - 8, xlabel + note, fill=INK))
    return "".join(parts) + "</svg>"


def _nice_ticks(peak: float) -> list[float]:
    """Round tick values from 0 to at least `peak`: 0, 5, 10, ... or 0, 200, 400, ..."""
    raw = peak / 4
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if step < 1:
        step = 1
    n = math.ceil(peak / step)
    return [int(step * i) if float(step).is_integer() else step * i for i in range(n + 1)]


@dataclass(frozen=True)
class Series:
    """One line: its label in the legend, its points (nan or ∞ break the line), its look."""

    label: str
    values: tuple[float, ...]
    colour: str
    dash: str = ""
    width: float = 2.0


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    width: int = 520,
    height: int = 240,
) -> str:
    """Lines over x = 0, 1, 2, ...; a log y axis when every value is positive and they span more
    than two decades. Non-finite points break the line and are counted in the legend."""
    finite = [v for s in series for v in s.values if math.isfinite(v)]
    log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    n = max((len(s.values) for s in series), default=1)
    left, right, top, bottom = 62, 12, 28, 58
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + plot_w * i / max(n - 1, 1)

    def py(v: float) -> float:
        return top + plot_h * (hi - (math.log10(v) if log else v)) / (hi - lo)

    parts = [_open(width, height, title), _text(width / 2, 16, title, font_weight="600")]
    for value, label in _y_ticks(lo, hi, log):
        y = py(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>'
        )
        parts.append(_text(left - 6, y + 4, label, anchor="end", fill=INK))
    for i in _x_ticks(n):
        parts.append(_text(px(i), top + plot_h + 14, str(i), fill=INK))
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="{INK}" stroke-width="0.6"/>'
    )
    legend_x = left
    for s in series:
        runs, run = [], []
        bad = 0
        for i, v in enumerate(s.values):
            if math.isfinite(v) and (v > 0 or not log):
                run.append(f"{px(i):.1f},{py(v):.1f}")
            else:
                bad += 1
                if run:
                    runs.append(run)
                run = []
        if run:
            runs.append(run)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        for r in runs:
            if len(r) == 1:
                x, y = r[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{s.colour}"/>')
            else:
                parts.append(
                    f'<polyline fill="none" stroke="{s.colour}" stroke-width="{s.width}"{dash} '
                    f'points="{" ".join(r)}"><title>{escape(s.label)}</title></polyline>'
                )
        label = s.label + (f" ({bad} points not finite)" if bad else "")
        ly = height - 10
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{s.colour}" stroke-width="{s.width}"{dash}/>'
        )
        parts.append(_text(legend_x + 27, ly, label, anchor="start", fill=INK))
        legend_x += 40 + 6.2 * len(label)
    parts.append(_text(left + plot_w / 2, top + plot_h + 30, xlabel, fill=INK))
    parts.append(
        f'<text transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}">{escape(ylabel + (" (log)" if log else ""))}</text>'
    )
    return "".join(parts) + "</svg>"


def _x_ticks(n: int) -> list[int]:
    if n <= 1:
        return [0]
    step = max(1, math.ceil((n - 1) / 8))
    ticks = list(range(0, n, step))
    if n - 1 - ticks[-1] < step / 2:  # too close to the last tick to print both
        ticks.pop()
    return [*ticks, n - 1]


def _y_ticks(lo: float, hi: float, log: bool) -> list[tuple[float, str]]:
    """About five ticks inside [lo, hi]: decades on a log axis, round numbers otherwise."""
    if log:
        first, last = math.ceil(lo), math.floor(hi)
        step = max(1, math.ceil((last - first + 1) / 6))
        return [(10.0**k, _power(k)) for k in range(first, last + 1, step)]
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    k = math.ceil(lo / step)
    ticks = []
    while k * step <= hi:
        ticks.append((k * step, number(k * step, 4)))
        k += 1
    return ticks
