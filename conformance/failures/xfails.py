"""Expected failures: a file of entries that turn known failures into `xfail`.

One entry a line; `#` starts a comment. An entry is a case id (`g-1a2b3c4d5e6f`, `edge-*`: shell
wildcards work), or `key=value` pairs that must all match, keys among `case`, `suite`, `op`,
`check`, `node`: for example `op=relu check=grad suite=edges`. `op` also matches the op a failing
row blames. A failing or erroring row that an entry matches becomes `xfail`. An entry whose rows
all pass is stale: its passing rows become `xpass`, which fails the gate (remove the entry). An
entry that matches no row at all is warned about.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

from conformance.core.records import WRONG, Record, Status
from conformance.core.spec import SpecError

__all__ = ["KEYS", "XfailEntry", "apply_xfails", "load_xfails"]

KEYS = ("case", "suite", "op", "check", "node")
# An xfails file lists a few hundred entries; /dev/zero or a misnamed data file must not be read
# to the end of memory.
MAX_BYTES = 2**20


@dataclass(frozen=True)
class XfailEntry:
    """One line of the file: what it must match, and where it was written."""

    where: str
    text: str
    match: tuple[tuple[str, str], ...]

    def matches(self, row: Record) -> bool:
        """Whether every key of the entry matches the row."""
        for key, pattern in self.match:
            if key == "op":
                ops = [row.op, *row.blame.split(",")] if row.blame else [row.op]
                if not any(fnmatchcase(o, pattern) for o in ops):
                    return False
            elif not fnmatchcase(str(getattr(row, key)), pattern):
                return False
        return True


def load_xfails(path: Path) -> list[XfailEntry]:
    """The entries of an xfails file; SpecError (one line) for a missing file or a bad entry."""
    try:
        text = _read_bounded(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the xfails file {str(path)!r}: {exc}") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        pairs = []
        for token in line.split():
            key, sep, value = token.partition("=")
            if not sep:
                key, value = "case", token
            if key not in KEYS or not value or "=" in value:
                raise SpecError(
                    f"{where}: {token!r} is not an entry: write a case id or key=value with keys "
                    f"{', '.join(KEYS)}"
                )
            pairs.append((key, value))
        entries.append(XfailEntry(where, line, tuple(pairs)))
    return entries


def _read_bounded(path: Path) -> str:
    """The text of a regular file of at most MAX_BYTES; SpecError (one line) otherwise."""
    # Checked before opening (a FIFO would block the open) and after (the file may have changed).
    if not stat.S_ISREG(path.stat().st_mode):
        raise SpecError(f"the xfails file {str(path)!r} is not a regular file")
    with path.open("rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SpecError(f"the xfails file {str(path)!r} is not a regular file")
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SpecError(
            f"the xfails file {str(path)!r} is bigger than the limit, {MAX_BYTES // 2**20} MB"
        )
    return data.decode("utf-8")


def apply_xfails(
    records: list[Record], entries: list[XfailEntry]
) -> tuple[list[Record], list[str]]:
    """The records with xfail and xpass applied, and a warning for each entry matching nothing."""
    out = list(records)
    warnings = []
    for entry in entries:
        matched = [i for i, r in enumerate(out) if entry.matches(r)]
        failing = [i for i in matched if out[i].status in WRONG]
        for i in failing:
            r = out[i]
            out[i] = replace(r, status="xfail", detail=f"{r.detail} (expected: {entry.where})")
        if not matched:
            warnings.append(f"{entry.where}: {entry.text!r} matches no row")
        elif not failing and not any(
            out[i].status in (Status.XFAIL, Status.DIFFERS) for i in matched
        ):
            # (an entry over `differs` rows is not stale: they gate under --strict)
            for i in matched:
                r = out[i]
                if r.status == "pass":
                    out[i] = replace(
                        r,
                        status="xpass",
                        detail=f"{r.detail}: listed as an expected failure ({entry.where}) but "
                        "passes: remove the entry",
                    )
    return out, warnings
