"""Records: one row per compared quantity, and the fixed columns of the frame they make."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import pandas as pd

__all__ = ["COLUMNS", "DIFFERENCE_KINDS", "FAILING", "STATUSES", "Record", "strictly", "to_frame"]

STATUSES = ("pass", "fail", "error", "differs", "skip", "unverified", "xfail", "xpass")
# Statuses that fail the gate. `differs` (a difference from torch that is not wrong math) gates
# only under --strict, where such rows are turned into `fail` or `error` and keep their `kind`.
FAILING = ("fail", "error", "xpass")
# What a `differs` row is, in the `kind` column: each with what it means.
DIFFERENCE_KINDS = {
    "precision": "precision: beyond float64 rounding of torch's formula, far below any "
    "derivative error (a legitimate formula that loses digits)",
    "ieee": "IEEE and edge conventions: an exception where torch gives inf or nan, nan "
    "propagation, the sign of zero, kinks such as relu'(0)",
    "backward-calls": "backward-call conventions: backward() called again on the same graph",
    "limits": "limits: recursion or size limits on deep graphs",
}


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
    # For a `differs` row (or one that gates only because of --strict): which kind of difference
    # from torch's conventions it is, a key of DIFFERENCE_KINDS; empty for wrong math.
    kind: str = ""


COLUMNS = tuple(f.name for f in fields(Record))


def strictly(rows: list[Record]) -> list[Record]:
    """The rows as --strict judges them: a `differs` row fails (an `error` where the engine gave
    no number), keeping its `kind`."""
    return [
        replace(r, status="fail" if r.actual is not None else "error")
        if r.status == "differs"
        else r
        for r in rows
    ]


def to_frame(records: list[Record]) -> pd.DataFrame:
    """The records as a DataFrame with the fixed columns, in the order they were made."""
    # Plain attribute reads: dataclasses.astuple deep-copies every field, ten times slower.
    frame = pd.DataFrame([tuple(r.__dict__.values()) for r in records], columns=list(COLUMNS))
    for col in ("expected", "actual", "fd", "abs_err", "rel_err", "ulp", "tolerance"):
        frame[col] = frame[col].astype("float64")
    return frame
