"""The command line: `python -m conformance run [options]`; exit codes as in `runner`."""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.options import (
    DEFAULT_BUDGET,
    DEFAULT_JOBS,
    DEFAULT_TIMEOUT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROFILES,
    SUITE_NAMES,
    RunOptions,
)

__all__ = ["main"]

EPILOG = """exit codes: 0 nothing failed; 1 a fail, error or xpass; 2 bad options or input;
3 nothing was checked; 130 interrupted (the rows so far are written)"""


class UsageError(Exception):
    """A bad option or input: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise UsageError(f"{message} (see `python -m conformance {self.prog.split()[-1]} --help`)")


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            need = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise argparse.ArgumentTypeError(f"{text!r} {need}")
        return value

    return parse


_positive_int = _whole(1)
_count = _whole(0)


def _seed(text: str) -> int:
    if text == "random":
        return secrets.randbelow(2**31)
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'random'") from None


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        shard = None
    if not sep or shard is None or not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 <= K <= N, like 2/4")
    return shard


def _suites(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in SUITE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown suite {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(SUITE_NAMES)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, for `main` and for the docs."""
    parser = _Parser(
        prog="conformance",
        description="Check a backpropagation engine against torch.autograd.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    r = sub.add_parser(
        "run", help="run the suites and write the reports", epilog=EPILOG,
        description="Run the suites on an engine, write reports, exit with the gate's code.",
    )  # fmt: skip
    r.add_argument(
        "--engine", default="refimpl",
        help="refimpl (default), torch, micrograd, or MODULE:ATTR naming a scalar Value class",
    )  # fmt: skip
    r.add_argument(
        "--engine-command", default=None, metavar="CMD",
        help="an engine in another language: a command that speaks the JSON-lines protocol",
    )  # fmt: skip
    r.add_argument(
        "--suite", type=_suites, default=SUITE_NAMES, metavar="S,...",
        help=f"suites to run (default: all: {', '.join(SUITE_NAMES)})",
    )  # fmt: skip
    r.add_argument(
        "--cases", type=_count, default=RunOptions.cases, metavar="N",
        help=f"random graphs in the graphs suite (default {RunOptions.cases})",
    )  # fmt: skip
    r.add_argument(
        "--seed", type=_seed, default=0, metavar="N|random",
        help="seed of the random cases (default 0); 'random' draws one and records it",
    )  # fmt: skip
    r.add_argument(
        "--max-nodes", type=_positive_int, default=RunOptions.max_nodes, metavar="N",
        help=f"most op nodes in a random graph (default {RunOptions.max_nodes})",
    )  # fmt: skip
    r.add_argument(
        "--out", default="reports", metavar="DIR", help="report folder (default reports)"
    )
    r.add_argument(
        "--jobs", type=_positive_int, default=DEFAULT_JOBS, metavar="N",
        help=f"checker processes, each with its own engine worker (default {DEFAULT_JOBS}); "
        "the CSV is the same whatever N is",
    )  # fmt: skip
    r.add_argument(
        "--shard", type=_shard, default=None, metavar="K/N",
        help="run only the K-th of N slices of the cases; `merge` joins the shards' outputs",
    )  # fmt: skip
    r.add_argument(
        "--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per engine call (default {DEFAULT_TIMEOUT:g}); small graphs get less, "
        "scaled to their size",
    )  # fmt: skip
    r.add_argument(
        "--budget", type=_timeout, default=DEFAULT_BUDGET, metavar="SECONDS",
        help=f"time for the whole run (default {DEFAULT_BUDGET:g}); once spent, the remaining "
        "cases are error rows that say so, and the reports are written",
    )  # fmt: skip
    r.add_argument(
        "--steps", type=_positive_int, default=RunOptions.steps, metavar="K",
        help=f"SGD steps of each training case (default {RunOptions.steps})",
    )  # fmt: skip
    r.add_argument(
        "--profile", choices=PROFILES, default="quick",
        help="quick (default) or thorough: the 1,000,000-node chain and the like",
    )  # fmt: skip
    r.add_argument(
        "--xfails", default=None, metavar="FILE",
        help="expected failures: case ids or op/check patterns, one a line (see README)",
    )  # fmt: skip
    r.add_argument(
        "--case", action="append", default=[], metavar="ID",
        help="run only this case id (repeatable), as printed in the reports",
    )  # fmt: skip
    r.add_argument(
        "--strict", action="store_true",
        help="differences from torch's conventions gate too (IEEE extremes, kinks, repeated "
        "backward, recursion limits, precision): torch's semantics to the last convention",
    )  # fmt: skip
    r.add_argument(
        "--baseline", default=None, metavar="DIR",
        help="an earlier run's --out folder: list new failures, fixed ones and grown errors",
    )  # fmt: skip
    p = sub.add_parser(
        "replay", help="re-run one case from a reproducer file", epilog=EPILOG,
        description="Re-run the case in a reproducer file (DIR/failures/*.json) or a bare graph "
        "spec, and print the engine's numbers beside torch's.",
    )  # fmt: skip
    p.add_argument("file", metavar="FILE", help="a reproducer JSON file or a graph spec")
    p.add_argument("--engine", default=None, help="the engine (default: the file's, or refimpl)")
    p.add_argument(
        "--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per engine call (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    from conformance.check import add_check_parser

    add_check_parser(sub, EPILOG, _timeout)
    g = sub.add_parser(
        "grade", help="check many engines on the same cases, one comparison", epilog=EPILOG,
        description="Check the engine class of every DIR/*.py (and each --engine) on the same "
        "cases; write OUT/grades.csv, OUT/grades.html and each engine's reports in OUT/<name>/. "
        "Exit code 0 when every engine passes, 1 when one fails or cannot load.",
    )  # fmt: skip
    g.add_argument("dir", nargs="?", default=None, metavar="DIR", help="a folder of engine files")
    g.add_argument(
        "--attr", default=None, metavar="NAME",
        help="the class (or function) in each file (default: the class with backward(), .data "
        "and .grad, found by reading each file)",
    )  # fmt: skip
    g.add_argument("--engine", action="append", default=[], help="one more engine (repeatable)")
    g.add_argument("--out", default="reports/grades", metavar="DIR", help="where to write")
    g.add_argument("--suite", type=_suites, default=SUITE_NAMES, metavar="S,...")
    g.add_argument("--cases", type=_count, default=RunOptions.cases, metavar="N")
    g.add_argument("--seed", type=_seed, default=0, metavar="N|random")
    g.add_argument("--max-nodes", type=_positive_int, default=RunOptions.max_nodes, metavar="N")
    g.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    g.add_argument(
        "--strict", action="store_true", help="differences from torch's conventions gate too"
    )
    m = sub.add_parser(
        "merge", help="join the outputs of --shard K/N runs into one report", epilog=EPILOG,
        description="Join the reports of the shards of one run (--shard 1/N ... N/N) into one, "
        "whose CSV is the unsharded run's. Exit code as for run.",
    )  # fmt: skip
    m.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' --out folders")
    m.add_argument("--out", default="reports", metavar="DIR", help="where to write (reports)")
    return parser


def _merge(args: argparse.Namespace) -> int:
    from conformance.merge import merge
    from conformance.spec import SpecError

    out = Path(args.out)
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


def _grade(args: argparse.Namespace) -> int:
    engines = list(args.engine)
    helpers: tuple[tuple[str, str], ...] = ()
    if args.dir is not None:
        folder = Path(args.dir)
        if not folder.is_dir():
            raise UsageError(f"{args.dir!r} is not a folder of engine files")
        from conformance.grade import engines_in

        roster = engines_in(folder, args.attr)
        engines = list(roster.engines) + engines
        helpers = roster.helpers
    if not engines:
        found = f" ({len(helpers)} helper modules, no engine class)" if helpers else ""
        raise UsageError(f"nothing to grade{found}: give a folder of engine files or --engine")
    from conformance.grade import exit_code, grade

    options = RunOptions(
        suites=args.suite, cases=args.cases, seed=args.seed, max_nodes=args.max_nodes,
        timeout=args.timeout, strict=args.strict,
    )  # fmt: skip

    def progress(engine: str, row: dict) -> None:
        print(f"{row['verdict']:<15} {engine}: {row['headline']}", flush=True)

    try:
        table = grade(engines, options, Path(args.out), progress, helpers)
    except OSError as exc:
        raise UsageError(f"cannot write to --out {args.out!r}: {exc}") from None
    if helpers:
        print("helper modules, no engine:")
        for path, why in helpers:
            print(f"  {path}: {why}")
    print(f"  {Path(args.out) / 'grades.csv'}")
    print(f"  {Path(args.out) / 'grades.html'}")
    return exit_code(table)


def _check(args: argparse.Namespace) -> int:
    from conformance.check import check_command

    return check_command(args)


def _replay(args: argparse.Namespace) -> int:
    from conformance.engines import EngineLoadError
    from conformance.replay import replay
    from conformance.spec import SpecError

    try:
        return replay(Path(args.file), args.engine, args.timeout)
    except (SpecError, EngineLoadError) as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, write the reports, print the verdict; the exit code."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "replay":
            return _replay(args)
        if args.command == "grade":
            return _grade(args)
        if args.command == "check":
            return _check(args)
        if args.command == "merge":
            return _merge(args)
        if args.command != "run":
            raise UsageError("say what to do: `python -m conformance run` (see --help)")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out!r} is a file, not a folder")
        if args.engine_command is not None:
            if args.engine != "refimpl":
                raise UsageError("give --engine or --engine-command, not both")
            args.engine = "command:" + args.engine_command
        options = RunOptions(
            engine=args.engine,
            suites=args.suite,
            cases=args.cases,
            seed=args.seed,
            max_nodes=args.max_nodes,
            out=args.out,
            jobs=args.jobs,
            timeout=args.timeout,
            budget=args.budget,
            only=tuple(args.case),
            shard=args.shard,
            profile=args.profile,
            steps=args.steps,
            strict=args.strict,
        )
    except UsageError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _run(options, out, args.xfails, args.baseline)


def _run(
    options: RunOptions, out: Path, xfails_file: str | None = None, baseline_dir: str | None = None
) -> int:
    # Imported here: they bring torch, which a bad option should not wait for.
    from conformance import baseline
    from conformance.engines import EngineLoadError
    from conformance.report import PartialRows, prepare_out, write_reports
    from conformance.runner import run
    from conformance.spec import SpecError
    from conformance.terminal import Progress, print_outcome
    from conformance.xfails import load_xfails

    try:
        xfails = load_xfails(Path(xfails_file)) if xfails_file else None
        # Read before prepare_out: the baseline may be the very folder this run writes.
        reference = baseline.load(Path(baseline_dir)) if baseline_dir else None
    except (SpecError, baseline.BaselineError) as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        prepare_out(out)
    except OSError as exc:
        print(f"conformance: error: cannot write to --out {str(out)!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    progress = Progress()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with PartialRows(out) as partial:
            outcome = run(options, progress, on_rows=partial.write, xfails=xfails)
            progress.finish()
            comparison = None
            if reference is not None and not outcome.interrupted:
                comparison = baseline.compare(reference, outcome.frame, options)
                outcome.message += f" ({comparison.summary()})"
            try:
                paths = write_reports(outcome, options, out, baseline=comparison)
            except OSError as exc:
                print(f"conformance: error: cannot write reports to {str(out)!r}: {exc}; "
                      f"the rows so far are in {partial.path}", file=sys.stderr)  # fmt: skip
                partial.keep = True
                return EXIT_USAGE
    except EngineLoadError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before any row existed
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        progress.finish()
        signal.signal(signal.SIGTERM, previous)
    print_outcome(outcome, options, paths, comparison)
    return outcome.exit_code


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops the run like Ctrl-C: the rows so far are written, exit 130."""
    raise KeyboardInterrupt
