"""Minimal reproducers: one per distinct failure, shrunk, written as JSON and as a Python script."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.core.case import Case, EngineCall
from conformance.core.records import FAILING, WRONG, Record
from conformance.core.result import EngineResult
from conformance.core.spec import SCHEMA_VERSION, GraphSpec
from conformance.core.tensor_graph import TensorGraph
from conformance.engines import COMMAND_PREFIX, portable_engine_name
from conformance.failures.shrink import shrink
from conformance.failures.snippet import snippet
from conformance.failures.tensor_shrink import shrink_tensor_graph
from conformance.failures.tensor_snippet import tensor_script
from conformance.oracles.autograd import torch_reference

__all__ = [
    "FAILURE_KIND",
    "Failure",
    "engine_arguments",
    "failure_key",
    "find_failures",
    "replay_command",
    "write_failures",
]

FAILURE_KIND = "conformance-failure"
MAX_SHRUNK = 20  # distinct failures shrunk per run: a broken engine must not make the run slow
KEEP_RESULT_NODES = 40  # a minimal spec this small keeps the engine's result: the report draws it


@dataclass(frozen=True)
class Failure:
    """A distinct failure: its key, the case it came from, its minimal spec and that spec's rows."""

    key: tuple[str, str, str]
    case: Case
    spec: GraphSpec
    rows: tuple[Record, ...]
    # The engine's result on `spec` and torch's (the report draws them side by side); None for
    # an error, or a graph too large to draw.
    result: EngineResult | None = None
    reference: EngineResult | None = None

    @property
    def case_id(self) -> str:
        """The id of the minimal spec (the original's id for cases that were not shrunk)."""
        return self.spec.case_id() if self.spec != self.case.spec else self.case.case_id


def failure_key(row: Record) -> tuple[str, str, str]:
    """(op, check, status): the op(s) blamed where the diagnosis found them, else the case's op;
    a neuron or network configuration (`neuron:tanh/mse`) counts by its kind (`neuron`)."""
    op = row.blame or row.op.split(":")[0]
    return (op, row.check, row.status)


def _ops(row: Record) -> set[str]:
    return set(failure_key(row)[0].split(","))


def _matches(row: Record, target: Record) -> bool:
    """`row` fails as `target` does, blaming the same ops or fewer of them (more precisely)."""
    if row.status != target.status or row.check != target.check:
        return False
    return target.status == "error" or (bool(_ops(row)) and _ops(row) <= _ops(target))


def find_failures(
    cases: Sequence[Case],
    rows_by_case: dict[str, list[Record]],
    check: Callable[[Case, EngineResult], list[Record]],
    call: EngineCall,
) -> list[Failure]:
    """One minimal reproducer per distinct failure, in case order (graph cases are shrunk).

    A failing row is covered when a reproducer already pins one of its blamed ops for the same
    check and status; the first uncovered row's case is shrunk while it keeps failing that way.
    """
    failures: list[Failure] = []
    covered: set[tuple[str, str, str]] = set()
    for case in cases:
        bad = [r for r in rows_by_case.get(case.case_id, []) if r.status in WRONG]
        todo = [r for r in bad if not any((o, r.check, r.status) in covered for o in _ops(r))]
        if not todo:
            continue
        target = todo[0]
        if case.kind == "layer":  # see failures.layers: the smallest failing case, per tensor
            continue
        spec, rows, result = case.spec, tuple(bad), None
        tensors = case.kind == "tensor-graph"
        if case.kind in ("graph", "tensor-graph") and len(failures) < MAX_SHRUNK:
            spec, rows, result = _shrunk(case, target, check, call)
        if tensors:  # the page draws scalar graphs only
            result = None
        elif result is None and target.status == "fail" and len(spec.nodes) <= KEEP_RESULT_NODES:
            result = call(spec)  # one more call: the report draws the engine's numbers
        pinned = [r for r in rows if _matches(r, target)] or [target]
        covered.update((o, r.check, r.status) for r in pinned for o in _ops(r))
        reference = _reference(spec) if result is not None else None
        failures.append(Failure(failure_key(pinned[0]), case, spec, rows, result, reference))
    return failures


def _reference(spec: GraphSpec) -> EngineResult | None:
    """torch's numbers on a failure's minimal graph, kept for its drawing (None if torch raises)."""
    try:
        return torch_reference(spec)
    except Exception:
        return None


def _shrunk(
    case: Case, target: Record, check, call
) -> tuple[GraphSpec, tuple[Record, ...], EngineResult | None]:
    found: dict[str, tuple[tuple[Record, ...], EngineResult]] = {}

    def still_fails(candidate: GraphSpec) -> bool:
        trial = replace(case, spec=candidate, case_id=candidate.case_id())
        result = call(candidate)
        rows = tuple(check(trial, result))
        if any(_matches(r, target) for r in rows):
            found[candidate.case_id()] = rows, result
            return True
        return False

    if case.kind == "tensor-graph":
        spec = shrink_tensor_graph(case.spec, still_fails)  # type: ignore[arg-type]
    else:
        spec = shrink(case.spec, still_fails)
    if spec.case_id() in found:
        return spec, *found[spec.case_id()]
    original = tuple(r for r in [target])  # nothing smaller failed the same way
    return case.spec, original, None


def engine_arguments(engine: str) -> list[str]:
    """The options that name `engine` on the command line: `--engine-command CMD` for a command
    engine, `--engine NAME` for any other."""
    if engine.startswith(COMMAND_PREFIX):
        return ["--engine-command", engine[len(COMMAND_PREFIX) :]]
    return ["--engine", engine]


def replay_command(path: Path, engine: str) -> str:
    """The shell command that replays the reproducer at `path` on `engine`, named explicitly:
    `replay` never runs the engine a file names on the file's word alone."""
    argv = ["python", "-m", "conformance", "replay", str(path), *engine_arguments(engine)]
    return shlex.join(argv)


def write_failures(failures: Sequence[Failure], out: Path, engine: str) -> list[Path]:
    """DIR/failures/<id>.json and <id>.py for each failure; the paths of the JSON files.

    Both work from any folder: a file engine is written with its absolute path, and
    `run_folder` (where the run started, the current folder now) says where a module or a
    command engine was found.
    """
    folder = out / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    engine = portable_engine_name(engine)
    run_folder = str(Path.cwd())
    paths = []
    for f in failures:
        rows = [r for r in f.rows if r.status in FAILING]
        first = rows[0] if rows else None
        data = {
            "schema": SCHEMA_VERSION,
            "kind": FAILURE_KIND,
            "engine": engine,
            "run_folder": run_folder,
            "case": f.case_id,
            "original_case": f.case.case_id,
            "suite": f.case.suite,
            "case_kind": f.case.kind,
            "payload": f.case.payload,
            "op": f.key[0],
            "check": f.key[1],
            "status": f.key[2],
            "blame": first.blame if first else "",
            "first_wrong": first.first_wrong if first else "",
            "hint": first.hint if first else "",
            "formula": f.spec.formula(),
            "spec": f.spec.to_dict(),
            "rows": [
                {"check": r.check, "node": r.node, "status": r.status, "detail": r.detail}
                for r in rows
            ],
        }
        path = folder / f"{f.case_id}.json"
        path.write_text(json.dumps(data, indent=2) + "\n")
        title = (
            f"Reproduce {f.key[2]} of {f.key[0]} ({f.key[1]}) for engine {engine}: "
            f"case {f.case_id}, shrunk from {f.case.case_id}. "
            f"Replay: {replay_command(path.resolve(), engine)}"
        )
        if isinstance(f.spec, TensorGraph):
            script = tensor_script(f.spec, engine, title, run_folder)
        else:
            script = snippet(f.spec, engine, title, run_folder)
        (folder / f"{f.case_id}.py").write_text(script)
        paths.append(path)
    return paths
