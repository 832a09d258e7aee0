"""Engines in every form, in process: function engines and names through the Python API, and
the parallel checkers sharing the run's engine worker. (The same forms on the command line are in
tests/e2e/test_any_engine.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.api import check_engine
from tests.engines import functional
from tests.engines.zoo import NegGradNotNegated
from tests.helpers import ROOT


def _imports(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_parallel_checkers_use_the_runs_own_engine_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conformance.checks.judge import Finish
    from conformance.core.options import RunOptions
    from conformance.core.records import FAILING
    from conformance.engines.pool import EnginePool
    from conformance.run.parallel import check_in_parallel
    from conformance.run.pipeline import collect_cases

    log = tmp_path / "imports.log"
    monkeypatch.setenv("CONFORMANCE_IMPORT_LOG", str(log))  # the workers inherit it
    options = RunOptions(engine=f"{ROOT / 'tests/engines/counted.py'}:Value", suites=("examples",))
    cases = collect_cases(options)
    got: dict[int, list] = {}
    with EnginePool(options.engine) as pool:
        pool.start(probe=False)
        on_case = lambda i, rows, lines: got.__setitem__(i, rows)  # noqa: E731
        check_in_parallel(options, cases, 2, on_case, Finish(), call=pool.call)
    assert list(got) == list(range(len(cases)))  # every case, in order
    assert not [r for rows in got.values() for r in rows if r.status in FAILING]
    assert _imports(log) == 2  # the run's worker and one checker's: none of them idle


def test_the_python_api_passes_a_correct_engine_and_explains_a_buggy_one() -> None:
    from refimpl import Value

    good = check_engine(Value, suites=["examples", "graphs"], cases=30)
    assert good.passed and bool(good) and good.failures.empty
    bad = check_engine(NegGradNotNegated, suites=["graphs"], cases=30)
    assert not bad.passed
    message = bad.report()
    assert "ops at fault: neg" in message
    assert "flipped sign" in message
    assert "--engine tests.engines.zoo:NegGradNotNegated" in message  # a command that works
    assert bad.reproducers and bad.reproducers[0].spec.formula() == "-x0"


def test_the_python_api_takes_functions_and_names() -> None:
    assert check_engine(functional.engine, suites=["examples"]).passed
    assert check_engine("refimpl", suites=["examples"]).passed
    with pytest.raises(ValueError, match="unknown suites"):
        check_engine("refimpl", suites=["nope"])
