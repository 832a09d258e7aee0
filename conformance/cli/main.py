"""The command line: `python -m conformance COMMAND [options]`, one module per command."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from conformance.cli.args import EPILOG, Parser, UsageError, seconds
from conformance.cli.check import add_check_parser, check_command
from conformance.cli.grade import add_grade_parser, grade_command
from conformance.cli.merge import add_merge_parser, merge_command
from conformance.cli.replay import add_replay_parser, replay_command
from conformance.cli.run import add_run_parser, run_command
from conformance.cli.signals import SIGNALS, late
from conformance.core.options import EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["build_parser", "main"]

COMMANDS = {
    "run": run_command,
    "replay": replay_command,
    "check": check_command,
    "grade": grade_command,
    "merge": merge_command,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, for `main` and for the docs."""
    parser = Parser(
        prog="conformance",
        description="Check a backpropagation engine against torch.autograd.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_run_parser(sub)
    add_replay_parser(sub)
    add_check_parser(sub, EPILOG, seconds)
    add_grade_parser(sub)
    add_merge_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, write the reports, print the verdict; the exit code."""
    # First thing: a SIGTERM while torch loads must not kill the process with 143, nor a Ctrl-C
    # print a traceback. Called with `argv`, main is a function and gives the handlers back.
    SIGNALS.reset()
    previous = {s: signal.signal(s, SIGNALS.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        code = None
    except ImportError:
        # A signal that lands while a library imports may come out as its ImportError (numpy
        # turns any exception in its import into one): interrupted, not a traceback.
        if SIGNALS.received is None:
            raise
        code = None
    # A signal deferred while files were written ends the run as interrupted all the same.
    if code is None or (SIGNALS.received is not None and code != EXIT_INTERRUPTED):
        print("conformance: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None:  # the program: a signal from here to the exit still means 130
        sys.stdout.flush()
        for s in previous:
            signal.signal(s, late)
    else:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def _main(argv: Sequence[str] | None) -> int:
    """`main` with its signal handlers in place."""
    try:
        args = build_parser().parse_args(argv)
        if args.command not in COMMANDS:
            raise UsageError(
                "say what to do: `python -m conformance run`, or see `python -m conformance --help`"
            )
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
