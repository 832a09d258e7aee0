"""Engines that compute in float32 (tests/engines/float32.py): with `--dtype float32` a correct
one passes, one with a local derivative off by 1e-3 fails with its op blamed, on every seed; at
float64 the correct one fails everywhere, which is why the option exists."""

from __future__ import annotations

import pytest

from conformance.core.dtypes import rounded
from conformance.core.options import RunOptions
from conformance.engines import load_engine
from conformance.engines.function import FunctionEngine
from conformance.engines.scalar import ScalarClassEngine
from conformance.run.pipeline import run
from refimpl import Value
from tests.engines import float32
from tests.helpers import sized

SEEDS = (0, 1, 2)


def _run(fn, seed: int, dtype: str = "float32", strict: bool = True):
    options = RunOptions(
        suites=("graphs",), cases=sized(60, 150), seed=seed, dtype=dtype, strict=strict
    )
    return run(options, engine=FunctionEngine(fn, f"float32:{fn.__name__}"))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_correct_float32_engine_passes_strict(seed: int) -> None:
    outcome = _run(float32.engine, seed)
    assert outcome.exit_code == 0, outcome.message
    assert set(outcome.frame["status"]) == {"pass"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("fn, op", [(float32.tanh_off_1e3, "tanh"), (float32.mul_off_1e3, "mul")])
def test_a_local_derivative_off_by_1e3_is_caught_and_blamed(fn, op: str, seed: int) -> None:
    outcome = _run(fn, seed, strict=False)
    assert outcome.exit_code == 1
    fails = outcome.frame[outcome.frame["status"] == "fail"]
    assert len(fails) > 10
    # The one-op cases pin the op: a function engine gives no node values to diagnose a graph by.
    assert op in {f.key[0] for f in outcome.failures}
    one_op = fails[fails["op"] == op]
    assert len(one_op) >= 1 and set(fails["op"]) <= {op, "graph"}


@pytest.mark.parametrize("seed", SEEDS)
def test_refimpl_in_float32_passes_strict(seed: int) -> None:
    options = RunOptions(suites=("graphs",), cases=150, seed=seed, dtype="float32", strict=True)
    outcome = run(options, engine=load_engine("refimpl-float32"))
    assert outcome.exit_code == 0, outcome.message
    values = outcome.frame[outcome.frame["check"].isin(["value", "grad"])]["actual"]
    assert all(rounded(v, "float32") == v for v in values)  # it does compute in float32


def test_refimpl_in_float64_passes_float32_tolerances() -> None:
    options = RunOptions(suites=("graphs",), cases=150, dtype="float32", strict=True)
    outcome = run(options, engine=ScalarClassEngine(Value, "refimpl"))
    assert outcome.exit_code == 0, outcome.message


def test_a_float32_engine_checked_as_float64_is_told_to_say_float32() -> None:
    outcome = _run(float32.engine, 0, dtype="float64", strict=False)
    assert outcome.exit_code == 1
    assert (outcome.frame["status"] == "fail").mean() > 0.5  # its rounding fails nearly all
    assert outcome.message.endswith(
        "the engine's numbers look like float32 (100% of the values and gradients it gave are "
        "float32 numbers), and float64's tolerances fail its rounding: check it with --dtype "
        "float32"
    )


def test_a_float64_engine_with_a_wrong_derivative_is_not_told_so() -> None:
    options = RunOptions(suites=("graphs",), cases=150)
    outcome = run(options, engine=FunctionEngine(_f64_tanh_off, "f64"))
    assert outcome.exit_code == 1 and "look like" not in outcome.message


def _f64_tanh_off(spec: dict) -> dict:
    """refimpl's numbers with tanh's derivative off by 1e-3: wrong, and float64."""
    from tests.engines.functional import engine

    answer = engine(spec)
    if any(n["op"] == "tanh" for n in spec["nodes"]):
        answer["grads"] = [g * (1 + 1e-3) for g in answer["grads"]]
    return answer


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_refimpl_in_half_precision_passes_strict(dtype: str, seed: int) -> None:
    """Inputs drawn in the dtype, graphs kept inside float16's range, tolerances from its epsilon
    with a floor at its smallest subnormal: refimpl rounding every op to it passes --strict."""
    options = RunOptions(suites=("graphs",), cases=150, seed=seed, dtype=dtype, strict=True)
    outcome = run(options, engine=load_engine(f"refimpl-{dtype}"))
    assert outcome.exit_code == 0, outcome.message
    values = outcome.frame[outcome.frame["check"].isin(["value", "grad"])]["actual"]
    assert all(rounded(v, dtype) == v for v in values)  # it does compute in that precision


def test_a_float16_engine_passes_and_a_tenth_off_product_rule_is_caught() -> None:
    outcome = _run(float32.engine16, 0, dtype="float16")
    assert outcome.exit_code == 0, outcome.message
    for seed in SEEDS:
        outcome = _run(float32.mul_off_1e1_f16, seed, dtype="float16", strict=False)
        blamed = {f.key[0] for f in outcome.failures}
        assert outcome.exit_code == 1 and "mul" in blamed
        # float16's wide tolerances must not let a traversal per path "explain" the errors
        assert "backward" not in blamed


def test_float16_graphs_stay_inside_its_range() -> None:
    from conformance.cases.generate import largest_number
    from conformance.core.dtypes import MAX_FINITE
    from conformance.run.pipeline import collect_cases

    options = RunOptions(suites=("graphs",), cases=300, dtype="float16")
    cases = [c for c in collect_cases(options) if c.op == "graph"]
    assert cases and all(largest_number(c.spec) <= MAX_FINITE["float16"] for c in cases)
    wide = RunOptions(suites=("graphs",), cases=300)  # float64's graphs go beyond it
    assert any(largest_number(c.spec) > MAX_FINITE["float16"] for c in collect_cases(wide))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_the_edges_are_the_dtypes_own_and_torch_in_it_answers(dtype: str) -> None:
    """exp overflows at 88.7 in float32 and 11.1 in float16, sigmoid underflows, products pass
    the range: refimpl rounding to the dtype meets torch computing in it, to the ULP, while
    float64 refimpl, which does not overflow there, differs from that convention."""
    options = RunOptions(suites=("edges",), dtype=dtype, strict=True)
    outcome = run(options, engine=load_engine(f"refimpl-{dtype}"))
    assert outcome.exit_code == 0, outcome.message
    ids = set(outcome.frame["case"])
    assert f"edge-{dtype}-huge-times-huge" in ids and "edge-exp-710-overflows" not in ids
    overflow = next(i for i in ids if i.startswith(f"edge-{dtype}-exp-") and "overflows" in i)
    rows = outcome.frame[outcome.frame["case"] == overflow]
    assert rows["expected"].tolist()[0] == float("inf")  # torch in the dtype overflows
    wide = run(RunOptions(suites=("edges",), dtype=dtype), engine=load_engine("refimpl"))
    differs = wide.frame[wide.frame["status"] == "differs"]
    assert overflow in set(differs["case"]) and set(differs["kind"]) == {"ieee"}
