"""The coverage table: every op variant the suite builds, and whether the engine can build it."""

from __future__ import annotations

import pandas as pd

from conformance.cases.generate import op_variants
from conformance.core.vocabulary import OPS

__all__ = ["COVERAGE_COLUMNS", "coverage_frame"]

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
