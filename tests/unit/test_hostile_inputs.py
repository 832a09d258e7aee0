"""Bad input gets one line and exit code 2, never a traceback: huge numbers in a replayed spec, a
baseline's run.json nested thousands deep; and the messages say what happened: a worker that died
says how, the usage hint names a real command, fullwidth names read as Python reads them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conformance.cases.expression import parse_at, parse_expression
from conformance.core.spec import SCHEMA_VERSION, GraphSpec, SpecError
from conformance.engines import EngineLoadError
from conformance.engines.pool import EnginePool
from conformance.report.baseline import BaselineError, load

HUGE = 10**400  # no float holds it; json parses it as a Python int
LONGER = "9" * 5000  # past Python's int-digits limit (4300), which json.loads would hit


def _spec(leaf: object = 0.5, param: object = None, op: str = "tanh", arg: object = "x0") -> dict:
    node: dict = {"op": op, "args": [arg]}
    if param is not None:
        node["param"] = param
    return {"schema": SCHEMA_VERSION, "leaves": [leaf], "nodes": [node], "output": "n0"}


def _json(spec: dict) -> str:
    """The spec as JSON text; `LONGER` as a bare number, which json.dumps cannot write."""
    return json.dumps(spec).replace('"LONGER"', LONGER)


BAD_NUMBERS = {
    "a 400-digit leaf": _spec(leaf=HUGE),
    "a 400-digit param": _spec(param=HUGE, op="leaky_relu"),
    "a negative 400-digit leaf": _spec(leaf=-HUGE),
    "a 5000-digit leaf": _spec(leaf="LONGER"),
    "a 5000-digit param": _spec(param="LONGER", op="leaky_relu"),
    "a reference 5000 digits long": _spec(arg="x" + LONGER),
    "a 400-digit upstream": {**_spec(), "upstream": HUGE},
    "a 400-digit step lr": {**_spec(), "step": {"lr": HUGE, "params": [0]}},
    "a 5000-digit backwards count": {**_spec(), "backwards": "LONGER"},
}


@pytest.mark.parametrize("spec", BAD_NUMBERS.values(), ids=BAD_NUMBERS.keys())
def test_a_number_too_large_for_a_float_is_a_spec_error(spec: dict) -> None:
    with pytest.raises(SpecError):
        GraphSpec.from_json(_json(spec)).validate()


@pytest.mark.parametrize(
    "name", ["a 400-digit leaf", "a 400-digit param", "a 5000-digit leaf", "a 400-digit step lr"]
)
def test_replaying_a_huge_number_is_one_line(
    conformance, assert_one_line_error, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "case.json"
    path.write_text(_json(BAD_NUMBERS[name]))
    assert_one_line_error(conformance("replay", str(path)), "too large")


def test_a_large_but_finite_whole_number_still_reads_as_a_float() -> None:
    spec = GraphSpec.from_json(_json(_spec(leaf=10**300)))
    assert spec.leaves == (1e300,)


def _deep_baseline(folder: Path) -> Path:
    """A report folder whose conformance.csv is fine and whose run.json is 100,000 lists deep."""
    folder.mkdir()
    (folder / "conformance.csv").write_text("suite,case,check,node,status,abs_err,ulp,tolerance\n")
    (folder / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    return folder


def test_a_deeply_nested_baseline_run_json_is_a_baseline_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="nested too deeply"):
        load(_deep_baseline(tmp_path / "old"))


def test_run_with_a_deeply_nested_baseline_is_one_line_and_writes_nothing(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    old = _deep_baseline(tmp_path / "old")
    out = tmp_path / "out"
    out.mkdir()
    (out / "conformance.csv").write_text("the last run's\n")
    proc = conformance("run", "--suite", "examples", "--baseline", str(old), "--out", str(out))
    assert_one_line_error(proc, "nested too deeply")
    assert (out / "conformance.csv").read_text() == "the last run's\n"


# ----- messages -----

TANH = GraphSpec.from_json(json.dumps(_spec()))


def _error_of(engine: str) -> tuple[str, float]:
    """The error a one-tanh spec gets from `engine` in a pool with a 30 s limit, and the wait."""
    with EnginePool(engine, jobs=1, timeout=30.0) as pool:
        pool.start(probe=False)
        started = time.monotonic()
        result = pool.call(TANH)
        return result.error or "", time.monotonic() - started


@pytest.mark.parametrize(
    ("engine", "how"),
    [
        ("tests.engines.hostile:ExitsInTanh", "exited with code 3"),
        ("tests.engines.hostile:KilledInTanh", "was killed by SIGKILL"),
    ],
)
def test_a_worker_that_dies_says_how_not_that_it_timed_out(engine: str, how: str) -> None:
    error, waited = _error_of(engine)
    assert waited < 30
    assert "timed out" not in error, error
    assert error == f"process died: it {how}", error
    # The row's detail puts "the engine " before the error: it must read once.
    assert not error.startswith("the engine")


def test_a_worker_that_dies_while_loading_says_how(tmp_path: Path) -> None:
    path = tmp_path / "dies.py"
    path.write_text("import os\n\nos._exit(3)\n")
    pool = EnginePool(f"{path}:Value", jobs=1, timeout=30.0)
    with pytest.raises(EngineLoadError) as info:
        pool.start(probe=False)
    message = str(info.value)
    assert message.endswith("died while loading: it exited with code 3"), message
    assert "None" not in message


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--no-such-option"], "`python -m conformance --help`"),
        (["run", "--no-such-option"], "`python -m conformance run --help`"),
        (["merge"], "`python -m conformance merge --help`"),
        ([], "`python -m conformance --help`"),
    ],
)
def test_the_usage_hint_names_a_command_that_exists(
    conformance, assert_one_line_error, args: list[str], hint: str
) -> None:
    proc = conformance(*args)
    assert_one_line_error(proc, hint)
    assert "conformance conformance" not in proc.stderr


@pytest.mark.parametrize(
    ("expr", "at", "names"),
    [
        ("ｘ*ｙ", "ｘ=1,ｙ=2", ("x", "y")),
        ("ｔａｎｈ(x)", "x=0.5", ("x",)),
        ("x*y", "ｘ=1,y=2", ("x", "y")),
        ("ｔａｎｈ(ｗ１)", "ｗ１=0.5", ("w1",)),
    ],
)
def test_fullwidth_names_read_as_python_reads_them(expr: str, at: str, names: tuple) -> None:
    expression, values = parse_expression(expr), parse_at([at])
    assert expression.spec(values, list(values)).leaf_names == names


def test_a_name_given_twice_in_two_widths_is_refused() -> None:
    with pytest.raises(ValueError, match="gives x twice"):
        parse_at(["ｘ=1,x=2"])


def test_check_with_fullwidth_names_runs(conformance) -> None:
    proc = conformance("check", "ｘ*ｙ", "--at", "ｘ=1,ｙ=2", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
