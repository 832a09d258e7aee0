"""Records: one row per compared quantity, and the fixed columns of the frame they make."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from conformance.core.case import Case

__all__ = [
    "CHECKED",
    "COLUMNS",
    "DIFFERENCE_KINDS",
    "FAILING",
    "NUMBER_COLUMNS",
    "PASSED",
    "STATUSES",
    "WRONG",
    "Record",
    "Status",
    "from_values",
    "read_frame",
    "strictly",
    "to_frame",
    "to_values",
]


class Status(str, Enum):
    """A row's verdict. A `str`: each compares equal to, hashes as and prints as its plain value
    ("fail"), so rows, frames and the CSV hold the same text whichever a checker wrote."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    # A difference from torch that is not wrong math (its `kind` says which); it gates only
    # under --strict, where such rows are turned into `fail` or `error` and keep their `kind`.
    DIFFERS = "differs"
    SKIP = "skip"
    UNVERIFIED = "unverified"
    XFAIL = "xfail"
    XPASS = "xpass"

    __hash__ = str.__hash__
    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def gates(self) -> bool:
        """Whether a row of this status fails the run (exit code 1): fail, error, xpass."""
        return self in _GATES

    @property
    def wrong(self) -> bool:
        """Whether the engine got the row wrong (fail) or broke on it (error), before an xfail
        list is applied: what an xfail entry expects, and what a reproducer is written for."""
        return self in _WRONG

    @property
    def passed(self) -> bool:
        """Whether the row counts as passing towards the pass rate: pass, and an expected xfail."""
        return self in _PASSED

    @property
    def checked(self) -> bool:
        """Whether the row was judged at all (pass, fail, error, xfail, xpass): a run with none
        checked nothing. `differs`, `skip` and `unverified` are not verdicts on the math."""
        return self in _CHECKED


_GATES = frozenset({Status.FAIL, Status.ERROR, Status.XPASS})
_WRONG = frozenset({Status.FAIL, Status.ERROR})
_PASSED = frozenset({Status.PASS, Status.XFAIL})
_CHECKED = _PASSED | _GATES

# The statuses as plain strings, in the order of the summary's columns; and those that have each
# property (for frames: `frame["status"].isin(FAILING)`).
STATUSES = tuple(s.value for s in Status)
FAILING = tuple(s.value for s in Status if s.gates)
WRONG = tuple(s.value for s in Status if s.wrong)
PASSED = tuple(s.value for s in Status if s.passed)
CHECKED = tuple(s.value for s in Status if s.checked)
# What a `differs` row is, in the `kind` column: each with what it means.
DIFFERENCE_KINDS = {
    "precision": "precision: beyond float64 rounding of torch's formula, far below any "
    "derivative error (a legitimate formula that loses digits)",
    "ieee": "IEEE and edge conventions: an exception where torch gives inf or nan, nan "
    "propagation, the sign of zero, kinks such as relu'(0)",
    "backward-calls": "backward-call conventions: backward() called again on the same graph",
    "limits": "limits: recursion or size limits on deep graphs",
    "statistics": "statistics: batch norm's running variance kept from the biased batch "
    "variance (numpy's var, ÷N) where torch keeps the unbiased one (÷(N−1))",
}


@dataclass(frozen=True, kw_only=True)
class Record:
    """One compared quantity: what was expected, what the engine gave, and the verdict.

    Made by keyword only; `Record.for_case` fills in what a case says about itself."""

    suite: str
    case: str
    engine: str
    check: str  # value, grad, or run (a case the engine could not run: error or skip)
    node: str = ""  # the leaf (x0, or its name) or node (n3) compared; "output" for the value
    op: str = ""  # the op of a one-op case, the fixed case's op, or "graph"
    expected: float | None = None
    actual: float | None = None
    fd: float | None = None  # finite differences, the second oracle, where it applies
    abs_err: float | None = None
    rel_err: float | None = None
    ulp: float | None = None
    tolerance: float | None = None
    status: str  # a Status, or its plain value
    detail: str = ""
    reproduce: str = ""
    # Diagnosis of a failing case: the op whose derivative is wrong, the first node where the
    # engine and torch part, and a hint where the pattern is a known bug.
    blame: str = ""
    first_wrong: str = ""
    hint: str = ""
    # For a `differs` row (or one that gates only because of --strict): which kind of difference
    # from torch's conventions it is, a key of DIFFERENCE_KINDS; empty for wrong math.
    kind: str = ""

    @classmethod
    def for_case(
        cls, case: Case, engine: str, *, status: str, detail: str, check: str = "run", **fields: Any
    ) -> Record:
        """A row of `case` (its suite, id, op and reproducer) for `engine`; by default the one
        `run` row of a case the engine could not run or that could not be checked."""
        return cls(
            suite=case.suite,
            case=case.case_id,
            engine=engine,
            check=check,
            op=case.op,
            status=status,
            detail=detail,
            reproduce=case.reproduce,
            **fields,
        )


COLUMNS = tuple(f.name for f in fields(Record))


def strictly(rows: list[Record]) -> list[Record]:
    """The rows as --strict judges them: a `differs` row fails (an `error` where the engine gave
    no number), keeping its `kind`."""
    return [
        replace(r, status=Status.FAIL.value if r.actual is not None else Status.ERROR.value)
        if r.status == Status.DIFFERS
        else r
        for r in rows
    ]


# The columns that hold numbers; every other column holds text ("" where there is none).
NUMBER_COLUMNS = ("expected", "actual", "fd", "abs_err", "rel_err", "ulp", "tolerance")


def read_frame(source) -> pd.DataFrame:
    """A conformance.csv read back with the dtypes `to_frame` gives: numbers as float64, text as
    text with "" for an empty cell (not NaN, which would make an all-empty column a float one)."""
    text = {c: str for c in COLUMNS if c not in NUMBER_COLUMNS}
    return pd.read_csv(
        source, dtype=text, keep_default_na=False, na_values={c: [""] for c in NUMBER_COLUMNS}
    )


def to_frame(records: list[Record]) -> pd.DataFrame:
    """The records as a DataFrame with the fixed columns, in the order they were made."""
    # Plain attribute reads: dataclasses.astuple deep-copies every field, ten times slower.
    frame = pd.DataFrame([tuple(r.__dict__.values()) for r in records], columns=list(COLUMNS))
    for col in NUMBER_COLUMNS:
        frame[col] = frame[col].astype("float64")
    return frame


def to_values(records: list[Record]) -> list[tuple]:
    """The records as plain tuples in COLUMNS order: quicker to pickle between processes."""
    return [tuple(r.__dict__.values()) for r in records]


def from_values(values: list[tuple]) -> list[Record]:
    """The records `to_values` gave, rebuilt without their constructor's checks (they passed)."""
    new, columns = object.__new__, COLUMNS
    records = []
    for v in values:
        r = new(Record)
        r.__dict__.update(zip(columns, v))
        records.append(r)
    return records
