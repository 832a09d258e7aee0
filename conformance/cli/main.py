"""The command line: `python -m conformance run [options]`; exit codes as in `runner`."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from conformance.core.options import (
    DEFAULT_BUDGET,
    DEFAULT_JOBS,
    DEFAULT_RUN_JOBS,
    DEFAULT_TIMEOUT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    MAX_CASES,
    MAX_MAX_NODES,
    MAX_SECONDS,
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
    """argparse with a one-line error that names the command's own --help."""

    @staticmethod
    def _help_for(prog: str) -> str:
        """`python -m conformance run --help` for prog "conformance run"."""
        return " ".join(["python -m conformance", *prog.split()[1:], "--help"])

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's; unknown options are blamed on the command they were given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # argparse would report them from the top parser, hinting at its --help
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            message = f"unrecognized arguments: {' '.join(extras)}"
            raise UsageError(f"{message} (see `{self._help_for(prog)}`)")
        return parsed

    def error(self, message: str) -> None:  # one line, not usage + message
        raise UsageError(f"{message} (see `{self._help_for(self.prog)}`)")


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum` and at most `maximum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            need = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise argparse.ArgumentTypeError(f"{text!r} {need}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} is more than the limit, {maximum:,}")
        return value

    return parse


_positive_int = _whole(1)
_count = _whole(0, MAX_CASES)
_max_nodes = _whole(1, MAX_MAX_NODES)


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
    if not value <= MAX_SECONDS:  # inf and 1e10 overflow the waits (OverflowError in a thread)
        raise argparse.ArgumentTypeError(f"{text!r} is more than the limit, {MAX_SECONDS:g} s")
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
        "--max-nodes", type=_max_nodes, default=RunOptions.max_nodes, metavar="N",
        help=f"most op nodes in a random graph (default {RunOptions.max_nodes})",
    )  # fmt: skip
    r.add_argument(
        "--out", default="reports", metavar="DIR", help="report folder (default reports)"
    )
    r.add_argument(
        "--jobs", type=_positive_int, default=DEFAULT_RUN_JOBS, metavar="N",
        help=f"checker processes, each with its own engine worker (default: all cores, here "
        f"{DEFAULT_RUN_JOBS}); the CSV is the same whatever N is",
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
        "--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per engine call (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    from conformance.cli.check import add_check_parser

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
    g.add_argument("--max-nodes", type=_max_nodes, default=RunOptions.max_nodes, metavar="N")
    g.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    g.add_argument(
        "--strict", action="store_true", help="differences from torch's conventions gate too"
    )
    g.add_argument(
        "--jobs", type=_positive_int, default=DEFAULT_JOBS, metavar="N",
        help=f"engines checked at once, each in its own process (default {DEFAULT_JOBS}); "
        "the table is the same whatever N is",
    )  # fmt: skip
    g.add_argument(
        "--shard", type=_shard, default=None, metavar="K/N",
        help="grade only the K-th of N slices of the engines; `merge` joins the shards' tables",
    )  # fmt: skip
    m = sub.add_parser(
        "merge", help="join the outputs of --shard K/N runs into one report", epilog=EPILOG,
        description="Join the reports of the shards of one run (--shard 1/N ... N/N) into one, "
        "whose CSV is the unsharded run's; or the tables of the shards of one `grade` into one. "
        "Exit code as for run (or grade).",
    )  # fmt: skip
    m.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' --out folders")
    m.add_argument("--out", default="reports", metavar="DIR", help="where to write (reports)")
    return parser


def _merge(args: argparse.Namespace) -> int:
    from conformance.core.spec import SpecError
    from conformance.run.merge import merge

    out = Path(args.out)
    if all((Path(d) / "grades.json").exists() for d in args.dirs):
        return _merge_grades(args, out)
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


def _grade(args: argparse.Namespace) -> int:
    engines = list(args.engine)
    helpers: tuple[tuple[str, str], ...] = ()
    if args.dir is not None:
        folder = Path(args.dir)
        if not folder.is_dir():
            raise UsageError(f"{args.dir!r} is not a folder of engine files")
        from conformance.run.grade import engines_in

        roster = engines_in(folder, args.attr)
        engines = list(roster.engines) + engines
        helpers = roster.helpers
    if not engines:
        found = f" ({len(helpers)} helper modules, no engine class)" if helpers else ""
        raise UsageError(f"nothing to grade{found}: give a folder of engine files or --engine")
    from conformance.core.safetext import safe_text
    from conformance.run.grade import exit_code, grade

    options = RunOptions(
        suites=args.suite, cases=args.cases, seed=args.seed, max_nodes=args.max_nodes,
        timeout=args.timeout, strict=args.strict,
    )  # fmt: skip

    def progress(engine: str, row: dict) -> None:
        print(safe_text(f"{row['verdict']:<15} {engine}: {row['headline']}"), flush=True)

    try:
        table = grade(engines, options, Path(args.out), progress, helpers, args.jobs, args.shard)
    except OSError as exc:
        raise UsageError(f"cannot write to --out {args.out!r}: {exc}") from None
    if helpers:
        print("helper modules, no engine:")
        for path, why in helpers:
            print(safe_text(f"  {path}: {why}"))
    print(f"  {Path(args.out) / 'grades.csv'}")
    print(f"  {Path(args.out) / 'grades.html'}")
    return exit_code(table)


def _check(args: argparse.Namespace) -> int:
    from conformance.cli.check import check_command

    return check_command(args)


def _replay(args: argparse.Namespace) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, write the reports, print the verdict; the exit code."""
    # First thing: a SIGTERM while torch loads must not kill the process with 143, nor a Ctrl-C
    # print a traceback. Called with `argv`, main is a function and gives the handlers back.
    _SIGNALS.reset()
    previous = {s: signal.signal(s, _SIGNALS.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        code = None
    # A signal deferred while files were written ends the run as interrupted all the same.
    if code is None or (_SIGNALS.received is not None and code != EXIT_INTERRUPTED):
        print("conformance: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    if argv is None:  # the program: a signal from here to the exit still means 130
        sys.stdout.flush()
        for s in previous:
            signal.signal(s, _late)
    else:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def _main(argv: Sequence[str] | None) -> int:
    """`main` with its signal handlers in place."""
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
            raise UsageError(
                "say what to do: `python -m conformance run`, or see `python -m conformance --help`"
            )
        if not args.out.strip():  # an unset variable: "" would mean the current folder
            raise UsageError("--out is empty: name the report folder")
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
    from conformance.core.spec import SpecError
    from conformance.failures.xfails import load_xfails
    from conformance.report import baseline
    from conformance.report.writers import OutBusy, lock_out

    try:
        xfails = load_xfails(Path(xfails_file)) if xfails_file else None
        # Read before prepare_out: the baseline may be the very folder this run writes.
        reference = baseline.load(Path(baseline_dir)) if baseline_dir else None
    except (SpecError, baseline.BaselineError) as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # From here on a signal is deferred, except while cases run: the folder always holds a
    # consistent set (nothing, or the rows so far with a run.json that says how the run ended).
    with _SIGNALS.deferred():
        try:
            lock = lock_out(out)  # held until the run's files are written
        except OutBusy as exc:
            print(f"conformance: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:
            print(f"conformance: error: cannot write to --out {str(out)!r}: {exc}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        with lock:
            return _run_locked(options, out, xfails, reference)


def _run_locked(options: RunOptions, out: Path, xfails, reference) -> int:
    """The run once `out` is locked, with signals deferred."""
    from conformance.core.records import to_frame
    from conformance.engines import EngineLoadError
    from conformance.failures.xfails import apply_xfails
    from conformance.report import baseline
    from conformance.report.terminal import Progress, print_outcome
    from conformance.report.writers import (
        ForeignFiles,
        PartialRows,
        mark_interrupted,
        prepare_out,
        write_reports,
    )
    from conformance.run.pipeline import RunOutcome, run, verdict

    try:
        prepare_out(out)
    except ForeignFiles as exc:
        print(f"conformance: error: --out {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"conformance: error: cannot write to --out {str(out)!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if _SIGNALS.received is not None:
        raise KeyboardInterrupt  # nothing written yet: stop before the engine loads
    progress = Progress()
    seen: list = []  # every row, for a signal that lands after the runner's own handler

    def on_rows(rows: list) -> None:
        seen.extend(rows)
        partial.write(rows)

    with PartialRows(out) as partial:
        try:
            try:
                with _SIGNALS.raising():
                    outcome = run(options, progress, on_rows=on_rows, xfails=xfails)
            except KeyboardInterrupt:  # outside the runner's try: the rows it had flushed
                rows = apply_xfails(seen, xfails)[0] if xfails else seen
                frame = to_frame(rows)
                code, message = verdict(frame, interrupted=True)
                outcome = RunOutcome(frame, code, message, options.engine, interrupted=True)
        except EngineLoadError as exc:
            print(f"conformance: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            progress.finish()
        if _SIGNALS.received is not None and not outcome.interrupted:
            outcome.interrupted = True  # a signal between the last case and here
            outcome.exit_code, outcome.message = verdict(outcome.frame, interrupted=True)
        comparison = None
        if reference is not None and not outcome.interrupted:
            comparison = baseline.compare(reference, outcome.frame, options)
            outcome.message += f" ({comparison.summary()})"
        try:
            paths = write_reports(outcome, options, out, baseline=comparison)
            if _SIGNALS.received is not None and not outcome.interrupted:
                mark_interrupted(out)  # the signal came while the reports were written
        except OSError as exc:
            kept = (
                f"the rows so far are in {partial.path}"
                if partial.failed is None
                else f"the rows could not be kept either ({partial.failed.strerror})"
            )
            print(f"conformance: error: cannot write reports to {str(out)!r}: {exc}; {kept}",
                  file=sys.stderr)  # fmt: skip
            partial.keep = True
            return EXIT_USAGE
    if partial.failed is not None:
        why = partial.failed.strerror
        print(f"conformance: warning: the rows could not be flushed as the run went ({why}); "
              "the reports hold them all", file=sys.stderr)  # fmt: skip
    print_outcome(outcome, options, paths, comparison)
    return outcome.exit_code


class _Signals:
    """SIGINT and SIGTERM: the first stops the run (KeyboardInterrupt) where it may stop at
    once; elsewhere it is noted, and the run stops once its files are a consistent set."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget earlier signals: raise at once, as while the program starts."""
        self.received: int | None = None
        self.deferring = 0
        self.raise_now = False

    def handle(self, signum: int, frame: object) -> None:
        """The handler: note the signal; raise when stopping now is safe."""
        first = self.received is None
        self.received = signum
        # A second signal never raises: the run is already on its way out, writing the rows.
        if first and (self.raise_now or not self.deferring):
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals are noted, not raised, inside (files being prepared or written)."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """Signals raise inside, even within `deferred` (the cases being run)."""
        if self.received is not None:
            raise KeyboardInterrupt  # noted before: stop before anything runs
        self.raise_now = True
        try:
            yield
        finally:
            self.raise_now = False


_SIGNALS = _Signals()


def _late(signum: int, frame: object) -> None:
    """After `main` has returned: the reports are written, so end now, interrupted."""
    sys.stderr.write("conformance: interrupted\n")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
