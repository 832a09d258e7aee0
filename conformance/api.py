"""The Python API: one call checks an engine from its own test suite.

    from conformance import check_engine

    def test_my_engine_matches_torch():
        result = check_engine(MyValue)
        assert result.passed, result.report()

`engine` is a micrograd-style class, a function engine (`f(spec) -> value and gradients`), or a
name as on the command line ("refimpl", "mypkg.engine:Value", "path/to/file.py:Value",
"command:node engine.js"). A class or function runs in this process (fast, not isolated from
hangs); a name runs in worker processes with the per-call `timeout`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from conformance.core.options import DEFAULT_TIMEOUT, EXIT_OK, SUITE_NAMES, RunOptions
from conformance.core.records import FAILING
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.engines import EngineLoadError
from conformance.engines.function import FunctionEngine
from conformance.engines.scalar import ScalarClassEngine
from conformance.failures.xfails import load_xfails
from conformance.oracles.autograd import torch_reference
from conformance.run.pipeline import run, run_in_process

__all__ = ["CheckResult", "check_engine", "run_spec", "torch_result"]


@dataclass
class CheckResult:
    """What `check_engine` found: `.passed`, the records, the failing rows, the reproducers."""

    passed: bool
    exit_code: int
    message: str
    frame: pd.DataFrame
    reproducers: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def failures(self) -> pd.DataFrame:
        """The rows that fail the gate (fail, error, xpass)."""
        return self.frame[self.frame["status"].isin(FAILING)]

    def __bool__(self) -> bool:
        return self.passed

    def report(self, limit: int = 10) -> str:
        """A message for a failing assertion: the verdict, the ops at fault, a few rows."""
        lines = [self.message]
        bad = self.failures
        if len(bad):
            # The minimal reproducers pin the op; without them, every op a row blames.
            ops = sorted({f.key[0] for f in self.reproducers}) or sorted(
                {o for b in bad["blame"].where(bad["blame"] != "", bad["op"]) for o in b.split(",")}
            )
            lines.append(f"ops at fault: {', '.join(ops)}")
            for _, r in bad.head(limit).iterrows():
                lines.append(f"- [{r['suite']}/{r['case']}] {r['detail']}")
                lines.append(f"  reproduce: {r['reproduce']}")
            if len(bad) > limit:
                lines.append(f"... and {len(bad) - limit} more failing rows")
        for f in self.reproducers:
            lines.append(f"minimal reproducer: {f.case_id}: {f.spec.formula()[:120]}")
        return "\n".join(lines)


def _adapter(engine: Any) -> Any:
    if inspect.isclass(engine):
        return ScalarClassEngine(engine, f"{engine.__module__}:{engine.__qualname__}")
    if callable(engine):
        name = getattr(engine, "__qualname__", "function")
        return FunctionEngine(engine, f"{getattr(engine, '__module__', '')}:{name}")
    raise EngineLoadError(f"not an engine: {engine!r} (give a class, a function or a name)")


def check_engine(
    engine: Any,
    *,
    suites: Sequence[str] = SUITE_NAMES,
    cases: int = RunOptions.cases,
    seed: int = 0,
    max_nodes: int = RunOptions.max_nodes,
    steps: int = RunOptions.steps,
    timeout: float = DEFAULT_TIMEOUT,
    xfails: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """Run the suites on `engine` and return the result; nothing is written to disk."""
    unknown = [s for s in suites if s not in SUITE_NAMES]
    if unknown:
        raise ValueError(f"unknown suites {unknown}; choose from {SUITE_NAMES}")
    obj = None if isinstance(engine, str) else _adapter(engine)
    name = engine if obj is None else obj.name  # MODULE:ATTR: the reproduce commands work
    options = RunOptions(
        engine=name,
        suites=tuple(suites),
        cases=cases,
        seed=seed,
        max_nodes=max_nodes,
        steps=steps,
        timeout=timeout,
    )
    entries = load_xfails(Path(xfails)) if xfails else None
    outcome = run(options, progress, engine=obj, xfails=entries)
    return CheckResult(
        passed=outcome.exit_code == EXIT_OK,
        exit_code=outcome.exit_code,
        message=outcome.message,
        frame=outcome.frame,
        reproducers=list(outcome.failures),
        warnings=list(outcome.warnings),
    )


def run_spec(engine: Any, spec: GraphSpec) -> EngineResult:
    """`engine` (a Value class or a function engine) on one spec, in this process: its value and
    gradients (`.value`, `.grads`, one a leaf), or `.error` saying what it raised."""
    return run_in_process(_adapter(engine), spec)


def torch_result(spec: GraphSpec) -> EngineResult:
    """torch.autograd's value and gradients on `spec` (float64), to compare an engine's with."""
    return torch_reference(spec)
