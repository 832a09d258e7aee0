"""The HTML section of the neuron suites: the lecture's worked example, with its verdicts."""

from __future__ import annotations

import html

import pandas as pd

from conformance.cases.neurons import SEED_CASE_ID

__all__ = ["seed_section"]

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
