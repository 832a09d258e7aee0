"""The coverage table: every op variant the suite builds, and whether the engine can build it."""

from __future__ import annotations

import pandas as pd

from conformance.cases.generate import op_variants
from conformance.core.tensor_graph import tensor_variants
from conformance.core.tensors import LAYERS
from conformance.core.vocabulary import OPS

__all__ = ["COVERAGE_COLUMNS", "coverage_frame", "layer_coverage_frame", "tensor_coverage_frame"]

COVERAGE_COLUMNS = ["op", "form", "supported", "reason"]


def _form(op_name: str, pattern: str, param: float | None) -> str:
    names = iter(("a", "b", "d"))
    args = [next(names) if k == "v" else "c" for k in pattern]
    return OPS[op_name].describe(args, param)


def coverage_frame(unsupported: dict) -> pd.DataFrame:
    """One row per op variant (`a - c`: a leaf minus a constant): supported or not, and why."""
    rows = [
        (op, _form(op, pattern, param), (op, pattern, param) not in unsupported,
         unsupported.get((op, pattern, param), ""))
        for op, pattern, param in op_variants()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def layer_coverage_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """For a layers run: one row per layer, missing where its cases were skipped as missing."""
    rows = []
    for layer, spec in LAYERS.items():
        forward, backward = spec.names(layer)
        form = forward if spec.loss else f"{forward} / {backward}"
        mine = frame[(frame["op"] == layer) & (frame["status"] == "skip")] if len(frame) else frame
        missing = mine[mine["detail"].str.startswith("missing: ")] if len(mine) else mine
        reason = str(missing["detail"].iloc[0]) if len(missing) else ""
        rows.append((layer, form, not reason, reason))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


_TENSOR_FORMS = {
    "all": "x.{op}()",
    "axis": "x.{op}(axis=k)",
    "keepdims": "x.{op}(axis, keepdims=True)",
    "T": "x.T",
    "axes": "x.transpose(axes)",
}


def tensor_coverage_frame(unsupported: dict, broken: dict) -> pd.DataFrame:
    """For a tensors run: one row per (op, form) the graphs call, missing or broken with why
    (a broken op is supported: its cases show what breaks)."""
    rows = []
    for op, form in tensor_variants():
        shown = _TENSOR_FORMS.get(form, "{op}").format(op=op)
        why = unsupported.get((op, form), "") or broken.get((op, form), "")
        rows.append((op, shown, (op, form) not in unsupported, why))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
