"""`python -m conformance merge DIR...`: the shards of one run, or of one grade, into one."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from conformance.cli.args import (
    EPILOG,
    UsageError,
)

__all__ = ["add_merge_parser", "merge_command"]


def add_merge_parser(sub) -> None:
    """The `merge` command's options."""
    m = sub.add_parser(
        "merge", help="join the outputs of --shard K/N runs into one report", epilog=EPILOG,
        description="Join the reports of the shards of one run (--shard 1/N ... N/N) into one, "
        "whose CSV is the unsharded run's; or the tables of the shards of one `grade` into one. "
        "Exit code as for run (or grade).",
    )  # fmt: skip
    m.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' --out folders")
    m.add_argument("--out", default="reports", metavar="DIR", help="where to write (reports)")


@contextlib.contextmanager
def _usage_errors(out: str) -> Iterator[None]:
    """Shards that do not belong together, or an --out that cannot be written: a usage error."""
    from conformance.core.spec import SpecError

    try:
        yield
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write to --out {out!r}: {exc}") from None


def merge_command(args: argparse.Namespace) -> int:
    """Join run shards, or grade shards; UsageError for shards that do not belong together."""
    from conformance.run.merge import merge

    out = Path(args.out)
    grades = [d for d in args.dirs if (Path(d) / "grades.json").exists()]
    if grades and len(grades) == len(args.dirs):
        return _merge_grades(args, out)
    if grades:
        runs = [d for d in args.dirs if d not in grades]
        raise UsageError(
            f"{grades[0]} is a shard of `grade`, {runs[0]} is not: merge the shards of one run, "
            "or of one grade"
        )
    with _usage_errors(args.out):
        outcome = merge([Path(d) for d in args.dirs], out)
    print(f"merged {len(args.dirs)} shards: {outcome.cases} cases, {len(outcome.frame)} rows")
    print(f"  {out / 'conformance.csv'}")
    print(outcome.message)
    return outcome.exit_code


def _merge_grades(args: argparse.Namespace, out: Path) -> int:
    from conformance.run.grade import exit_code, merge_grades

    with _usage_errors(args.out):
        table = merge_grades([Path(d) for d in args.dirs], out)
    print(f"merged {len(args.dirs)} grade shards: {len(table)} engines")
    print(f"  {out / 'grades.csv'}")
    print(f"  {out / 'grades.html'}")
    return exit_code(table)
