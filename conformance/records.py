"""Records: one row per compared quantity, and the fixed columns of the frame they make."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd

__all__ = ["COLUMNS", "FAILING", "STATUSES", "Record", "to_frame"]

STATUSES = ("pass", "fail", "error", "skip", "unverified", "xfail", "xpass")
# Statuses that fail the gate.
FAILING = ("fail", "error", "xpass")


@dataclass(frozen=True)
class Record:
    """One compared quantity: what was expected, what the engine gave, and the verdict."""

    suite: str
    case: str
    engine: str
    check: str  # value, grad, or run (a case the engine could not run: error or skip)
    node: str  # the leaf (x0, or its name) or node (n3) compared; "output" for the value
    op: str  # the op of a one-op case, the fixed case's op, or "graph"
    expected: float | None
    actual: float | None
    fd: float | None  # finite differences, the second oracle, where it applies
    abs_err: float | None
    rel_err: float | None
    ulp: float | None
    tolerance: float | None
    status: str
    detail: str
    reproduce: str
    # Diagnosis of a failing case: the op whose derivative is wrong, the first node where the
    # engine and torch part, and a hint where the pattern is a known bug.
    blame: str = ""
    first_wrong: str = ""
    hint: str = ""


COLUMNS = tuple(f.name for f in fields(Record))


def to_frame(records: list[Record]) -> pd.DataFrame:
    """The records as a DataFrame with the fixed columns, in the order they were made."""
    # Plain attribute reads: dataclasses.astuple deep-copies every field, ten times slower.
    frame = pd.DataFrame([tuple(r.__dict__.values()) for r in records], columns=list(COLUMNS))
    for col in ("expected", "actual", "fd", "abs_err", "rel_err", "ulp", "tolerance"):
        frame[col] = frame[col].astype("float64")
    return frame
