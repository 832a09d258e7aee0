"""The HTML section of the neuron suites: the lecture's worked example, with its verdicts."""

from __future__ import annotations

import pandas as pd

from conformance.cases.neurons import SEED_CASE_ID
from conformance.core.numfmt import g

__all__ = ["seed_example"]

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#cf222e", "unverified": "#9a6700"}


def _num(x: object) -> str:
    return "" if x is None or pd.isna(x) else g(x)


def seed_example(frame: pd.DataFrame) -> dict | None:
    """The seed case's rows, with their verdicts: what the lecture computes by hand, checked
    (templates/neurons.html.j2 writes it); None when the run has no seed case."""
    from refimpl.seed import SEED_EXAMPLE as ex

    rows = frame[frame["case"] == SEED_CASE_ID] if len(frame) else frame
    if rows.empty:
        return None
    values = {**ex.inputs, "y": ex.target, **ex.weights}
    return {
        "given": ", ".join(f"{k} = {g(v)}".replace("-", "−") for k, v in values.items()),
        "lr": g(ex.lr),
        "rows": [
            {
                "check": r.check,
                "node": r.node,
                "expected": _num(r.expected),
                "actual": _num(r.actual),
                "colour": _COLOURS.get(r.status, "inherit"),
                "status": r.status,
                "detail": r.detail,
            }
            for r in rows.itertuples()
        ],
    }
