"""`python -m conformance run`: the suites on one engine, the reports, the gate's exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.cli.args import (
    EPILOG,
    UsageError,
    count,
    dtype,
    max_nodes_type,
    positive_int,
    seconds,
    seed,
    shard,
    suites,
    suites_for_dtype,
    suites_for_engine,
)
from conformance.cli.signals import SIGNALS
from conformance.core.options import (
    DEFAULT_BUDGET,
    DEFAULT_RUN_JOBS,
    DEFAULT_TIMEOUT,
    EXIT_USAGE,
    LAYER_SUITES,
    PROFILES,
    SUITE_NAMES,
    RunOptions,
)
from conformance.core.pipes import reader_may_leave

__all__ = ["add_run_parser", "run_command"]


def add_run_parser(sub) -> None:
    """The `run` command's options."""
    r = sub.add_parser(
        "run", help="run the suites and write the reports", epilog=EPILOG,
        description="Run the suites on an engine, write reports, exit with the gate's code.",
    )  # fmt: skip
    r.add_argument(
        "--engine", default="refimpl",
        help="refimpl (default), refimpl-float32, torch, micrograd, MODULE:ATTR naming a "
        "scalar Value class, or layers:FILE.py (or layers:MODULE, layers:TABLE.toml, "
        "layers:refimpl) for a module of layer functions, or tensors:FILE.py (tensors:MODULE, "
        "tensors:refimpl) for a Tensor class",
    )  # fmt: skip
    r.add_argument(
        "--engine-command", default=None, metavar="CMD",
        help="an engine in another language: a command that speaks the JSON-lines protocol",
    )  # fmt: skip
    r.add_argument(
        "--suite", type=suites, default=None, metavar="S,...",
        help=f"suites to run (default: all: {', '.join(SUITE_NAMES)}; with --dtype other than "
        f"float64, graphs; for a layers: engine, {', '.join(LAYER_SUITES)}; for a tensors: "
        "engine, tensors)",
    )  # fmt: skip
    r.add_argument(
        "--cases", type=count, default=RunOptions.cases, metavar="N",
        help=f"random graphs in the graphs suite (default {RunOptions.cases}); the layers "
        "suite draws one case a layer for every 40, the tensors suite N random tensor graphs",
    )  # fmt: skip
    r.add_argument(
        "--seed", type=seed, default=0, metavar="N|random",
        help="seed of the random cases (default 0); 'random' draws one and records it",
    )  # fmt: skip
    r.add_argument(
        "--max-nodes", type=max_nodes_type, default=RunOptions.max_nodes, metavar="N",
        help=f"most op nodes in a random graph (default {RunOptions.max_nodes})",
    )  # fmt: skip
    r.add_argument(
        "--out", default="reports", metavar="DIR", help="report folder (default reports)"
    )
    r.add_argument(
        "--jobs", type=positive_int, default=DEFAULT_RUN_JOBS, metavar="N",
        help=f"checker processes, each with its own engine worker (default: all cores, here "
        f"{DEFAULT_RUN_JOBS}); the CSV is the same whatever N is",
    )  # fmt: skip
    r.add_argument(
        "--shard", type=shard, default=None, metavar="K/N",
        help="run only the K-th of N slices of the cases; `merge` joins the shards' outputs",
    )  # fmt: skip
    r.add_argument(
        "--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per engine call (default {DEFAULT_TIMEOUT:g}); small graphs get less, "
        "scaled to their size",
    )  # fmt: skip
    r.add_argument(
        "--budget", type=seconds, default=DEFAULT_BUDGET, metavar="SECONDS",
        help=f"time for the whole run (default {DEFAULT_BUDGET:g}); once spent, the remaining "
        "cases are error rows that say so, and the reports are written",
    )  # fmt: skip
    r.add_argument(
        "--steps", type=positive_int, default=RunOptions.steps, metavar="K",
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
        "--dtype", type=dtype, default=None, metavar="DTYPE",
        help="the precision the engine computes in: float64 (default, unless the engine declares "
        "another), float32, float16 or bfloat16; its inputs are numbers of it and its "
        "tolerances its rounding (the graphs suite so far)",
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


def run_command(args: argparse.Namespace) -> int:
    """Check the options, then run with `--out` locked; UsageError for a bad option."""
    if not args.out.strip():  # an unset variable: "" would mean the current folder
        raise UsageError("--out is empty: name the report folder")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} is a file, not a folder")
    if args.engine_command is not None:
        if args.engine != "refimpl":
            raise UsageError("give --engine or --engine-command, not both")
        args.engine = "command:" + args.engine_command
    try:
        adopt = args.dtype is None  # the engine's declared dtype, if it declares one
        args.dtype = args.dtype or "float64"
        layered = args.engine.startswith(("layers:", "tensors:"))
        if args.dtype == "bfloat16" and layered:
            raise ValueError("numpy has no bfloat16: layer and tensor engines take float64, 32 "
                             "or 16")  # fmt: skip
        given = suites_for_engine(args.suite, args.engine)
        chosen = given if layered else suites_for_dtype(given, args.dtype)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = RunOptions(
        engine=args.engine,
        suites=chosen,
        dtype=args.dtype,
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
    return _run(options, out, args.xfails, args.baseline, adopt)


def _run(
    options: RunOptions,
    out: Path,
    xfails_file: str | None = None,
    baseline_dir: str | None = None,
    adopt_dtype: bool = False,
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
    with SIGNALS.deferred():
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
            return _run_locked(options, out, xfails, reference, adopt_dtype)


def _run_locked(options: RunOptions, out: Path, xfails, reference, adopt_dtype: bool) -> int:
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
    if SIGNALS.received is not None:
        raise KeyboardInterrupt  # nothing written yet: stop before the engine loads
    progress = Progress()
    seen: list = []  # every row, for a signal that lands after the runner's own handler

    def on_rows(rows: list, lines) -> None:
        seen.extend(rows)
        partial.write(rows, lines)

    with PartialRows(out) as partial:
        try:
            try:
                with SIGNALS.raising():
                    outcome = run(options, progress, on_rows=on_rows, xfails=xfails,
                                  adopt_dtype=adopt_dtype)  # fmt: skip
                options = outcome.options or options  # with the dtype the engine declared
            except KeyboardInterrupt:  # outside the runner's try: the rows it had flushed
                rows = apply_xfails(seen, xfails)[0] if xfails else seen
                frame = to_frame(rows)
                code, message = verdict(frame, interrupted=True, dtype=options.dtype)
                outcome = RunOutcome(frame, code, message, options.engine, interrupted=True)
        except EngineLoadError as exc:
            print(f"conformance: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            progress.finish()
        if SIGNALS.received is not None and not outcome.interrupted:
            outcome.interrupted = True  # a signal between the last case and here
            outcome.exit_code, outcome.message = verdict(
                outcome.frame, interrupted=True, dtype=options.dtype
            )
        comparison = None
        if reference is not None and not outcome.interrupted:
            comparison = baseline.compare(reference, outcome.frame, options)
            outcome.message += f" ({comparison.summary()})"
        try:
            # The partial file is conformance.csv already, unless xfails rewrote rows since.
            csv_from = None if xfails else partial.csv_of(outcome.frame)
            paths = write_reports(outcome, options, out, baseline=comparison, csv_from=csv_from)
            if SIGNALS.received is not None and not outcome.interrupted:
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
    with reader_may_leave():
        print_outcome(outcome, options, paths, comparison)
    return outcome.exit_code
