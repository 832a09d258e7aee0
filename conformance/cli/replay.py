"""`python -m conformance replay FILE`: one case from a reproducer, the engine beside torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.cli.args import (
    EPILOG,
    seconds,
)
from conformance.core.options import (
    DEFAULT_TIMEOUT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
)

__all__ = ["add_replay_parser", "replay_command"]


def add_replay_parser(sub) -> None:
    """The `replay` command's options."""
    p = sub.add_parser(
        "replay", help="re-run one case from a reproducer file", epilog=EPILOG,
        description="Re-run the case in a reproducer file (DIR/failures/*.json) or a bare graph "
        "spec, and print the engine's numbers beside torch's.",
    )  # fmt: skip
    p.add_argument("file", metavar="FILE", help="a reproducer JSON file or a graph spec")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--engine", default=None,
        help="the engine to run (default: refimpl for a bare spec; a reproducer's own engine "
        "runs only with --trust-engine)",
    )  # fmt: skip
    who.add_argument(
        "--engine-command", default=None, metavar="CMD",
        help="a command that speaks the JSON-lines protocol, as for run",
    )  # fmt: skip
    p.add_argument(
        "--trust-engine", action="store_true",
        help="run the engine the file names (a module, a file or a shell command: only for "
        "files you trust)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per engine call (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip


def replay_command(args: argparse.Namespace) -> int:
    from conformance.core.safetext import safe_text
    from conformance.core.spec import SpecError
    from conformance.engines import COMMAND_PREFIX, EngineLoadError
    from conformance.failures.replay import EngineNotGiven, replay

    engine = args.engine
    if args.engine_command is not None:
        engine = COMMAND_PREFIX + args.engine_command
    try:
        return replay(Path(args.file), engine, args.timeout, trust=args.trust_engine)
    except (SpecError, EngineLoadError, EngineNotGiven) as exc:
        print(safe_text(f"conformance: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
