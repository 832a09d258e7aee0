"""`python -m conformance grade DIR`: a class of engines on the same cases, one table."""

from __future__ import annotations

import argparse
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
from conformance.core.options import (
    DEFAULT_JOBS,
    DEFAULT_TIMEOUT,
    RunOptions,
)
from conformance.core.pipes import reader_may_leave

__all__ = ["add_grade_parser", "grade_command"]


def add_grade_parser(sub) -> None:
    """The `grade` command's options."""
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
    g.add_argument(
        "--layers", action="store_true",
        help="DIR holds modules of layer functions (affine_forward, ...): grade the layers suite",
    )  # fmt: skip
    g.add_argument(
        "--tensors", action="store_true",
        help="DIR holds tensor engines (a Tensor class each): grade the tensors suite",
    )  # fmt: skip
    g.add_argument("--out", default="reports/grades", metavar="DIR", help="where to write")
    g.add_argument("--suite", type=suites, default=None, metavar="S,...")
    g.add_argument(
        "--dtype", type=dtype, default="float64", metavar="DTYPE",
        help="the precision the engines compute in: float64 (default) or float32, as for run",
    )  # fmt: skip
    g.add_argument("--cases", type=count, default=RunOptions.cases, metavar="N")
    g.add_argument("--seed", type=seed, default=0, metavar="N|random")
    g.add_argument("--max-nodes", type=max_nodes_type, default=RunOptions.max_nodes, metavar="N")
    g.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    g.add_argument(
        "--strict", action="store_true", help="differences from torch's conventions gate too"
    )
    g.add_argument(
        "--jobs", type=positive_int, default=DEFAULT_JOBS, metavar="N",
        help=f"engines checked at once, each in its own process (default {DEFAULT_JOBS}); "
        "the table is the same whatever N is",
    )  # fmt: skip
    g.add_argument(
        "--shard", type=shard, default=None, metavar="K/N",
        help="grade only the K-th of N slices of the engines; `merge` joins the shards' tables",
    )  # fmt: skip


def grade_command(args: argparse.Namespace) -> int:
    engines = list(args.engine)
    helpers: tuple[tuple[str, str], ...] = ()
    if args.dir is not None:
        folder = Path(args.dir)
        if not folder.is_dir():
            raise UsageError(f"{args.dir!r} is not a folder of engine files")
        from conformance.run.grade import engines_in, layer_engines_in

        if args.layers and args.tensors:
            raise UsageError("give --layers or --tensors, not both")
        from conformance.run.grade import tensor_engines_in

        if args.tensors:
            roster = tensor_engines_in(folder)
        else:
            roster = layer_engines_in(folder) if args.layers else engines_in(folder, args.attr)
        engines = list(roster.engines) + engines
        helpers = roster.helpers
    if not engines:
        found = f" ({len(helpers)} helper modules, no engine class)" if helpers else ""
        if args.dir is not None and not args.layers:
            from conformance.run.grade import layer_engines_in

            if layer_engines_in(Path(args.dir)).engines:
                raise UsageError(
                    f"nothing to grade{found}, but the files define layer functions: add --layers"
                )
        raise UsageError(f"nothing to grade{found}: give a folder of engine files or --engine")
    from conformance.core.safetext import safe_text
    from conformance.run.grade import exit_code, grade

    kinds = {e.split(":", 1)[0] if e.startswith(("layers:", "tensors:")) else "" for e in engines}
    if len(kinds) > 1:
        raise UsageError("grade scalar, layer (layers:...) and tensor (tensors:...) engines apart")
    layered = [e.startswith(("layers:", "tensors:")) for e in engines]
    try:
        given = suites_for_engine(args.suite, engines[0]) if all(layered) else args.suite
        chosen = given if all(layered) else suites_for_dtype(given, args.dtype)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = RunOptions(
        suites=chosen, cases=args.cases, seed=args.seed, max_nodes=args.max_nodes,
        timeout=args.timeout, strict=args.strict, dtype=args.dtype,
    )  # fmt: skip

    def progress(engine: str, row: dict) -> None:
        with reader_may_leave():  # `grade ... | head`: the grading goes on, unprinted
            print(safe_text(f"{row['verdict']:<15} {engine}: {row['headline']}"), flush=True)

    try:
        table = grade(engines, options, Path(args.out), progress, helpers, args.jobs, args.shard)
    except OSError as exc:
        raise UsageError(f"cannot write to --out {args.out!r}: {exc}") from None
    with reader_may_leave():
        if helpers:
            print("helper modules, no engine:")
            for path, why in helpers:
                print(safe_text(f"  {path}: {why}"))
        print(f"  {Path(args.out) / 'grades.csv'}")
        print(f"  {Path(args.out) / 'grades.html'}")
    return exit_code(table)
