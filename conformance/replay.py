"""`python -m conformance replay FILE`: re-run one case from a reproducer (or a bare spec) file."""

from __future__ import annotations

import sys
from pathlib import Path

import conformance.runner  # noqa: F401 - registers every suite's checker
from conformance.checkers import CHECKERS
from conformance.compare import Case
from conformance.engines import COMMAND_PREFIX, engine_file
from conformance.options import EXIT_FAILED, EXIT_OK
from conformance.pool import EnginePool
from conformance.records import FAILING, Record
from conformance.reproducers import FAILURE_KIND
from conformance.spec import GraphSpec, SpecError, parse_json

__all__ = ["MAX_BYTES", "load_case", "replay"]

MAX_BYTES = 16 * 1024 * 1024  # a reproducer is a few kilobytes; a 1,000,000-node spec ~ 60 MB


def load_case(path: Path) -> tuple[Case, str | None, str | None]:
    """The case in a reproducer file, the engine it names and the folder its run started in;
    SpecError (one line) when bad."""
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
    try:
        data = parse_json(text)
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
    if kind not in CHECKERS:
        raise SpecError(f"{path}: unknown case kind {kind!r}; known: {', '.join(CHECKERS)}")
    op = spec.nodes[0].op if len(spec.nodes) == 1 else "graph"
    case = Case("replay", case_id or spec.case_id(), spec, op, kind=kind, payload=payload)
    return case, engine, run_folder


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
    return "" if x is None else f"{x:.10g}"


def format_rows(rows: list[Record]) -> str:
    """The rows as a small text table, then the diagnosis of the first failing row."""
    lines = [f"{'check':<10} {'node':<10} {'engine':>18} {'torch':>18} {'status':<10}"]
    for r in rows:
        lines.append(
            f"{r.check:<10} {r.node:<10} {_fmt(r.actual):>18} {_fmt(r.expected):>18} {r.status:<10}"
        )
    bad = next((r for r in rows if r.status in FAILING), None)
    if bad is not None:
        lines.append(f"{bad.status}: {bad.detail}")
    return "\n".join(lines)


def replay(path: Path, engine: str | None, timeout: float) -> int:
    """Run the case on the engine (the file's, unless given), print the comparison; exit code."""
    case, recorded, run_folder = load_case(path)
    name = engine or recorded or "refimpl"
    if engine is None and recorded is not None:
        _search_run_folder(recorded, run_folder)
    pool = EnginePool(name, jobs=1, timeout=timeout)
    try:
        pool.start()
        rows = CHECKERS[case.kind](case, name, pool.call(case.spec), pool.call)
    finally:
        pool.close()
    print(f"case {case.case_id}: {case.spec.formula()[:200]}")
    print(f"engine {name}")
    print(format_rows(rows))
    failed = any(r.status in FAILING for r in rows)
    print("FAIL" if failed else "PASS")
    return EXIT_FAILED if failed else EXIT_OK
