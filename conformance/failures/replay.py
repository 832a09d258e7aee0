"""`python -m conformance replay FILE`: re-run one case from a reproducer (or a bare spec) file.

A reproducer names its engine for information only: a file shared in a bug report could name
`command:rm -rf ~`. The engine to run comes from the command line (`--engine`, `--engine-command`)
or, when the user says they trust the file (`--trust-engine`), from the file.
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.core.case import Case
from conformance.core.numfmt import g
from conformance.core.options import EXIT_FAILED, EXIT_OK
from conformance.core.safetext import safe_text
from conformance.core.spec import GraphSpec, SpecError, parse_json
from conformance.engines import COMMAND_PREFIX, engine_file
from conformance.engines.pool import EnginePool

if TYPE_CHECKING:
    from conformance.core.records import Record

# The checkers (torch), the records (pandas) and the reproducers are imported where they are
# used: `replay` of a missing file should say so at once, not after torch has loaded.

__all__ = ["MAX_BYTES", "EngineNotGiven", "load_case", "replay"]

MAX_BYTES = 16 * 1024 * 1024  # a reproducer is a few kilobytes; a 1,000,000-node spec ~ 60 MB
# Finite differences evaluate the graph once per 2**22 / (leaves + nodes) leaves (oracle.py), so
# their time grows with leaves x (leaves + nodes): 10,000 leaves take ~11 s and ~150 MB. Generated
# graphs have at most 8 leaves; a 16 MB file holds far fewer than 1,000,000 nodes.
MAX_LEAVES = 10_000
MAX_NODES = 1_000_000
MAX_ELEMENTS = 10_000_000  # a layer reproducer's inputs, all together


class EngineNotGiven(Exception):
    """The file names an engine, but the command line neither names one nor trusts the file's."""


def load_case(path: Path) -> tuple[Case, str | None, str | None]:
    """The case in a reproducer file, the engine it names (as written, a relative file engine
    resolved from the run folder) and the folder its run started in; SpecError (one line) when
    bad."""
    if not path.exists():
        raise SpecError(f"{path}: no such file")
    if not path.is_file():
        raise SpecError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SpecError(
            f"{path} is {size / 2**20:.0f} MB: a reproducer is a few KB (limit "
            f"{MAX_BYTES // 2**20} MB); is it the right file?"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read it as text: {exc}") from None
    from conformance.checks.judge import CHECKERS
    from conformance.failures.layers import LAYER_FAILURE_KIND
    from conformance.failures.reproducers import FAILURE_KIND

    try:
        data = parse_json(text)
        if isinstance(data, dict) and data.get("kind") == LAYER_FAILURE_KIND:
            return _layer_case(path, data)
        if (
            isinstance(data, dict)
            and data.get("kind") == FAILURE_KIND
            and (isinstance(data.get("spec"), dict) and "tensor_graph" in data["spec"])
        ):
            return _tensor_case(path, data)
        if isinstance(data, dict) and data.get("kind") == FAILURE_KIND:
            spec = GraphSpec.from_dict(data.get("spec"))
            kind, payload = str(data.get("case_kind", "graph")), str(data.get("payload", ""))
            folder = data.get("run_folder")
            run_folder = folder if isinstance(folder, str) and Path(folder).is_dir() else None
            engine = _recorded_engine(data.get("engine"), run_folder)
            case_id = str(data.get("case", spec.case_id()))
        else:
            spec, kind, payload, case_id = GraphSpec.from_dict(data), "graph", "", ""
            engine = run_folder = None
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    if len(spec.leaves) > MAX_LEAVES or len(spec.nodes) > MAX_NODES:
        raise SpecError(
            f"{path}: {len(spec.leaves):,} leaves and {len(spec.nodes):,} nodes; replay's limit "
            f"is {MAX_LEAVES:,} leaves and {MAX_NODES:,} nodes"
        )
    if kind not in CHECKERS:
        raise SpecError(f"{path}: unknown case kind {kind!r}; known: {', '.join(CHECKERS)}")
    op = spec.nodes[0].op if len(spec.nodes) == 1 else "graph"
    case = Case("replay", case_id or spec.case_id(), spec, op, kind=kind, payload=payload)
    return case, engine, run_folder


def _layer_case(path: Path, data: dict) -> tuple[Case, str | None, str | None]:
    """The case of a layer reproducer (`failures.layers`), the engine it names, its run folder."""
    from conformance.core.tensors import LayerSpec

    try:
        spec = LayerSpec.from_dict(data.get("spec"))
        size = sum(math.prod(shape) for _, shape in spec.shapes)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SpecError(str(exc)) from None  # load_case names the file
    if size > MAX_ELEMENTS:
        raise SpecError(f"{size:,} input elements; replay's limit is {MAX_ELEMENTS:,}")
    folder = data.get("run_folder")
    run_folder = folder if isinstance(folder, str) and Path(folder).is_dir() else None
    engine = data.get("engine") if isinstance(data.get("engine"), str) else None
    case_id = str(data.get("case", spec.case_id()))
    return Case("replay", case_id, spec, spec.layer, kind="layer"), engine, run_folder  # type: ignore[arg-type]


def _tensor_case(path: Path, data: dict) -> tuple[Case, str | None, str | None]:
    """The case of a tensor-graph reproducer, the engine it names, its run folder."""
    from conformance.core.tensor_graph import TensorGraph

    try:
        spec = TensorGraph.from_dict(data["spec"])
        size = sum(math.prod(shape) for _, shape in spec.leaves)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SpecError(str(exc)) from None
    if size > MAX_ELEMENTS or len(spec.nodes) > MAX_NODES:
        raise SpecError(f"{size:,} leaf elements, {len(spec.nodes)} nodes: over replay's limits")
    folder = data.get("run_folder")
    run_folder = folder if isinstance(folder, str) and Path(folder).is_dir() else None
    engine = data.get("engine") if isinstance(data.get("engine"), str) else None
    case_id = str(data.get("case", spec.case_id()))
    op = spec.nodes[0].op if len(spec.nodes) == 1 else "graph"
    return Case("replay", case_id, spec, op, kind="tensor-graph"), engine, run_folder  # type: ignore[arg-type]


def _recorded_engine(engine: object, run_folder: str | None) -> str | None:
    """The engine a reproducer names. `write_failures` keeps a file engine's path absolute; a
    relative one (a file written by hand) is read from `run_folder`, where its run started."""
    if not isinstance(engine, str):
        return None
    file = engine_file(engine)
    if file is None or file[0].is_absolute() or run_folder is None:
        return engine
    return f"{Path(run_folder) / file[0]}:{file[1]}"


def _search_run_folder(engine: str, run_folder: str | None) -> None:
    """A MODULE:ATTR engine was found from where its run started: look there too, after
    everywhere else (the worker processes inherit sys.path)."""
    module_engine = engine_file(engine) is None and not engine.startswith(COMMAND_PREFIX)
    if module_engine and ":" in engine and run_folder and run_folder not in sys.path:
        sys.path.append(run_folder)


def _fmt(x: float | None) -> str:
    return "" if x is None else g(x, 10)


def format_rows(rows: list[Record]) -> str:
    """The rows as a small text table, then the diagnosis of the first failing row."""
    from conformance.core.records import FAILING

    lines = [f"{'check':<10} {'node':<10} {'engine':>18} {'torch':>18} {'status':<10}"]
    for r in rows:
        lines.append(
            f"{r.check:<10} {r.node:<10} {_fmt(r.actual):>18} {_fmt(r.expected):>18} {r.status:<10}"
        )
    bad = next((r for r in rows if r.status in FAILING), None)
    if bad is not None:
        lines.append(f"{bad.status}: {bad.detail}")
        if bad.hint and bad.hint not in bad.detail:
            lines.append(f"hint: {bad.hint}")
    return "\n".join(lines)


def _untrusted(path: Path, recorded: str) -> EngineNotGiven:
    """One line: which engine the file names, and the two ways to run it."""
    from conformance.failures.reproducers import engine_arguments

    given = shlex.join(engine_arguments(recorded))
    return EngineNotGiven(
        f"{path} names the engine {recorded!r}, which replay runs only when you say so: add "
        f"{given} (or another engine), or --trust-engine to run the one the file names"
    )


def choose_engine(
    path: Path, engine: str | None, recorded: str | None, run_folder: str | None, trust: bool
) -> str:
    """The engine to run: the one given, else the file's when trusted, else refimpl for a file
    that names none; EngineNotGiven for a file that names one nobody vouched for."""
    if engine is None and recorded is not None and not trust:
        raise _untrusted(path, recorded)
    name = engine or recorded or "refimpl"
    if recorded is not None and name == recorded:
        # The user named (or trusted) this very engine: a module engine is also looked for
        # where its run started, so that the printed replay command works from any folder.
        _search_run_folder(recorded, run_folder)
    return name


def replay(path: Path, engine: str | None, timeout: float, trust: bool = False) -> int:
    """Run the case on the given engine (the file's only when `trust`), print the comparison;
    the exit code. EngineNotGiven, before anything runs, when the file names an engine and
    neither `engine` nor `trust` is given."""
    case, recorded, run_folder = load_case(path)
    name = choose_engine(path, engine, recorded, run_folder, trust)
    if (case.kind == "layer") != name.startswith("layers:"):
        what = "a layer engine: --engine layers:FILE.py" if case.kind == "layer" else (
            "a scalar engine, not a layer engine"
        )  # fmt: skip
        raise SpecError(f"{path} is a {case.kind} case: replay it on {what}")
    if (case.kind == "tensor-graph") != name.startswith("tensors:"):
        what = "a tensor engine: --engine tensors:FILE.py" if case.kind == "tensor-graph" else (
            "a scalar engine, not a tensor engine"
        )  # fmt: skip
        raise SpecError(f"{path} is a {case.kind} case: replay it on {what}")
    from conformance.checks.judge import CHECKERS
    from conformance.core.records import FAILING

    pool = EnginePool(name, jobs=1, timeout=timeout)
    try:
        pool.start()
        rows = CHECKERS[case.kind](case, name, pool.call(case.spec), pool.call)
    finally:
        pool.close()
    # The file's case id and names, the engine's name and messages are outside text (see
    # conformance.core.safetext): made safe before they reach the terminal.
    from conformance.core.pipes import reader_may_leave

    failed = any(r.status in FAILING for r in rows)
    with reader_may_leave():
        print(safe_text(f"case {case.case_id}: {case.spec.formula()[:200]}"))
        print(safe_text(f"engine {name}"))
        print(safe_text(format_rows(rows)))
        print("FAIL" if failed else "PASS")
    return EXIT_FAILED if failed else EXIT_OK
