"""`python -m conformance merge DIR...`: the shards of one run, or of one grade, into one."""

from __future__ import annotations

import argparse
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


def merge_command(args: argparse.Namespace) -> int:
    from conformance.core.spec import SpecError
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
    try:
        outcome = merge([Path(d) for d in args.dirs], out)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write to --out {args.out!r}: {exc}") from None
    print(f"merged {len(args.dirs)} shards: {outcome.cases} cases, {len(outcome.frame)} rows")
    print(f"  {out / 'conformance.csv'}")
    print(outcome.message)
    return outcome.exit_code


def _merge_grades(args: argparse.Namespace, out: Path) -> int:
    from conformance.core.spec import SpecError
    from conformance.run.grade import exit_code, merge_grades

    try:
        table = merge_grades([Path(d) for d in args.dirs], out)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write to --out {args.out!r}: {exc}") from None
    print(f"merged {len(args.dirs)} grade shards: {len(table)} engines")
    print(f"  {out / 'grades.csv'}")
    print(f"  {out / 'grades.html'}")
    return exit_code(table)
