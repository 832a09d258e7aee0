"""The HTML sections of the neuron suites: the lecture's worked example first, then loss curves."""

from __future__ import annotations

import html

import pandas as pd

from conformance.neuron_suite import SEED_CASE_ID
from conformance.training import training_table

__all__ = ["seed_section", "training_section"]

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#cf222e", "unverified": "#9a6700"}


def _num(x: object) -> str:
    return "" if x is None or pd.isna(x) else f"{x:.6g}"


def seed_section(frame: pd.DataFrame) -> str:
    """The seed case's rows, with their verdicts: what the lecture computes by hand, checked."""
    from refimpl.seed import SEED_EXAMPLE as ex

    rows = frame[frame["case"] == SEED_CASE_ID] if len(frame) else frame
    if rows.empty:
        return ""
    values = {**ex.inputs, "y": ex.target, **ex.weights}
    given = ", ".join(f"{k} = {v:g}".replace("-", "−") for k, v in values.items())
    body = "\n".join(
        f"<tr><td>{html.escape(r.check)}</td><td>{html.escape(r.node)}</td>"
        f"<td>{_num(r.expected)}</td><td>{_num(r.actual)}</td>"
        f'<td style="color:{_COLOURS.get(r.status, "inherit")}">{html.escape(r.status)}</td>'
        f"<td>{html.escape(r.detail)}</td></tr>"
        for r in rows.itertuples()
    )
    return f"""<h2>The lecture's worked example: ŷ = h·w1 + k·w2 + b, L = (y − ŷ)²</h2>
<p>{html.escape(given)}, one SGD step with lr = {ex.lr:g}. Expected values are torch's; the
lecture computes ŷ = 11, L = 1, dL/dw1 = 2, dL/dw2 = −6, dL/db = 2, dL/dh = 10, dL/dk = −2.</p>
<table><tr><th>check</th><th>node</th><th>torch</th><th>engine</th><th>status</th>
<th>verdict</th></tr>
{body}
</table>"""


def _curve(points: list[float], low: float, high: float, colour: str, dash: str) -> str:
    span = (high - low) or 1.0
    last = max(len(points) - 1, 1)
    xy = " ".join(
        f"{300 * i / last:.1f},{5 + 90 * (high - v) / span:.1f}" for i, v in enumerate(points)
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-dasharray="{dash}" points="{xy}"/>'


def training_section(frame: pd.DataFrame) -> str:
    """Per training case, the two loss curves (torch solid, the engine dashed) and the verdict."""
    table = training_table(frame)
    if table.empty:
        return ""
    parts = ["<h2>Training: the engine's loss curve against torch.optim.SGD's</h2>",
             "<p>Every step's numbers are in training.csv.</p>"]  # fmt: skip
    for case, steps in table.groupby("case", sort=False):
        values = [*steps["torch_loss"], *steps["engine_loss"]]
        finite = [v for v in values if pd.notna(v) and abs(v) < 1e300]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        bad = int((steps["status"] != "pass").sum())
        verdict = f"{bad} steps outside the rounding envelope" if bad else "within the envelope"
        worst = (steps["max_param_diff"] / steps["envelope"]).max()
        parts.append(
            f"<p><b>{html.escape(case)}</b> ({html.escape(str(steps['op'].iloc[0]))}): L from "
            f"{_num(steps['torch_loss'].iloc[0])} to {_num(steps['torch_loss'].iloc[-1])} in "
            f"{len(steps) - 1} steps; {verdict} (the largest parameter difference is "
            f"{_num(worst)} of what rounding allows)</p>"
            '<svg width="300" height="100" style="border:1px solid #ccc">'
            + _curve(list(steps["torch_loss"]), low, high, "#0969da", "")
            + _curve(list(steps["engine_loss"]), low, high, "#cf222e" if bad else "#1a7f37", "4")
            + "</svg>"
        )
    return "\n".join(parts)
