"""`run --baseline DIR`: this run against an earlier one, row by row.

Rows are matched by (suite, case, check, node); case ids are hashes of the graph, so a row means
the same quantity in both runs whatever options made it. Three lists come out:

- new failures: rows that fail the gate now (fail, error, xpass) and did not before, or did not
  exist before;
- fixed: rows that failed before and are present and not failing now;
- errors grown: rows whose error (absolute or in ULP) grew more than GROWTH times and now uses at
  least FLOOR of the tolerance: still passing, perhaps, but heading for the edge.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from conformance.core.records import FAILING

__all__ = ["FLOOR", "GROWTH", "Baseline", "BaselineError", "Comparison", "compare", "load"]

GROWTH = 2.0  # an error that grew more than this factor is listed...
FLOOR = 0.1  # ...when it is at least this fraction of the tolerance now (noise below stays out)
KEY = ["suite", "case", "check", "node"]
_NEEDED = (*KEY, "status", "abs_err", "ulp", "tolerance")
LISTED = 200  # rows of each list kept for the report and run.json


class BaselineError(ValueError):
    """A baseline folder that cannot be read: one line for the user."""


@dataclass(frozen=True)
class Baseline:
    """An earlier run: its rows and what its run.json says (empty when it has none)."""

    path: Path
    frame: pd.DataFrame
    meta: dict


def load(path: Path) -> Baseline:
    """The run in folder `path` (its conformance.csv, and run.json where present)."""
    if not path.is_dir():
        raise BaselineError(f"--baseline {str(path)!r} is not a folder of an earlier run's reports")
    csv = path / "conformance.csv"
    if not csv.is_file():
        raise BaselineError(f"--baseline {str(path)!r} has no conformance.csv: not a report folder")
    try:
        frame = pd.read_csv(csv, dtype=dict.fromkeys([*KEY, "status"], str), keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise BaselineError(f"cannot read {csv}: {why}") from None
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise BaselineError(f"{csv} is not a conformance.csv: no column {', '.join(missing)}")
    for col in ("abs_err", "ulp", "tolerance"):
        frame[col] = pd.to_numeric(frame[col].replace("", math.nan), errors="coerce")
    meta: dict = {}
    run_json = path / "run.json"
    if run_json.is_file():
        try:
            meta = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BaselineError(f"cannot read {run_json}: {exc}".splitlines()[0]) from None
        except RecursionError:  # `[[[[...]]]]` thousands deep: json recurses once per level
            raise BaselineError(f"cannot read {run_json}: JSON nested too deeply") from None
        if not isinstance(meta, dict):
            raise BaselineError(f"{run_json} is not a run.json: not a JSON object")
    if frame.duplicated(KEY).any():
        raise BaselineError(f"{csv} lists a row twice: is it several runs concatenated?")
    return Baseline(path, frame, meta)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class Comparison:
    """What changed against the baseline; each list a frame with the key, `before` and `now`."""

    path: str
    compared: int  # rows present in both runs
    new_failures: pd.DataFrame
    fixed: pd.DataFrame
    grown: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything is listed."""
        return bool(len(self.new_failures) or len(self.fixed) or len(self.grown))

    def summary(self) -> str:
        """`2 new failures, 1 fixed, 0 errors grown against DIR`."""
        return (
            f"{_plural(len(self.new_failures), 'new failure', 'new failures')}, "
            f"{len(self.fixed)} fixed, {_plural(len(self.grown), 'error grown', 'errors grown')} "
            f"against {self.path}"
        )

    def to_dict(self) -> dict:
        """Counts and the first LISTED rows of each list, as plain data for run.json."""

        def rows(frame: pd.DataFrame) -> list[dict]:
            cols = [c for c in (*KEY, "before", "now", "growth") if c in frame.columns]
            head = frame.head(LISTED)[cols].astype(object)
            return head.where(head.notna(), None).to_dict("records")

        return {
            "path": self.path,
            "compared": self.compared,
            "new_failures": len(self.new_failures),
            "fixed": len(self.fixed),
            "grown": len(self.grown),
            "notes": list(self.notes),
            "lists": {
                "new_failures": rows(self.new_failures),
                "fixed": rows(self.fixed),
                "grown": rows(self.grown),
            },
        }


def _plain(x: object) -> object:
    return list(x) if isinstance(x, (list, tuple)) else x


def _notes(baseline: Baseline, options: object) -> list[str]:
    """Differences in what was run (`options`, a RunOptions), which make rows absent on one side
    or different in meaning."""
    notes = []
    then = baseline.meta
    engine = getattr(options, "engine", None)
    if then.get("engine") is not None and engine is not None and then["engine"] != engine:
        notes.append(f"the baseline checked engine {then['engine']!r}, this run {engine!r}")
    old = then.get("options") or {}
    for key in ("seed", "cases", "max_nodes", "suites", "steps"):
        if (
            key in old
            and hasattr(options, key)
            and _plain(old[key]) != _plain(getattr(options, key))
        ):
            now = _plain(getattr(options, key))
            notes.append(f"{key} was {old[key]!r}, now {now!r}: some cases exist on one side only")
    return notes


def compare(baseline: Baseline, frame: pd.DataFrame, options: object = None) -> Comparison:
    """This run's `frame` against the baseline; `options` (a RunOptions) for the notes."""
    now = frame[[*KEY, "status", "abs_err", "ulp", "tolerance", "detail"]].copy()
    now["node"] = now["node"].fillna("")
    before = baseline.frame[[*KEY, "status", "abs_err", "ulp"]]
    both = now.merge(before, on=KEY, how="left", suffixes=("", "_before"), indicator=True)
    present = both["_merge"] == "both"
    failing_now = both["status"].isin(FAILING)
    failing_then = both["status_before"].isin(FAILING)
    view = both.rename(columns={"status": "now", "status_before": "before"})
    view["before"] = view["before"].where(present, "(absent)")

    new = view[failing_now & ~failing_then]
    fixed = view[present & failing_then & ~failing_now]

    a_now, a_then = both["abs_err"], both["abs_err_before"]
    u_now, u_then = both["ulp"], both["ulp_before"]
    grew_abs = (a_now > GROWTH * a_then) & (a_now > 0)
    grew_ulp = (u_now > GROWTH * u_then) & (u_now > 0)
    used = a_now / both["tolerance"]
    grown = view[present & ~failing_now & (grew_abs | grew_ulp) & (used >= FLOOR)].copy()
    ratio = a_now / a_then
    grown["growth"] = ratio.where(a_then > 0, math.inf)[grown.index]
    grown["of_tolerance"] = used[grown.index]
    grown = grown.sort_values("of_tolerance", ascending=False, kind="stable")

    gone = int((~baseline.frame.set_index(KEY).index.isin(now.set_index(KEY).index)).sum())
    notes = _notes(baseline, options)
    if gone:
        notes.append(f"{gone} rows of the baseline were not run this time")
    keep = [*KEY, "before", "now", "detail"]
    return Comparison(
        path=str(baseline.path),
        compared=int(present.sum()),
        new_failures=new[keep].reset_index(drop=True),
        fixed=fixed[keep].reset_index(drop=True),
        grown=grown[[*keep, "growth", "of_tolerance"]].reset_index(drop=True),
        notes=notes,
    )
