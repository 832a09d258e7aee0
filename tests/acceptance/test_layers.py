"""Layer-function engines: refimpl's layers pass --strict, a second correct implementation passes
over several seeds, and every bug of the layer zoo is caught on 10 of 10 seeds with its hint."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace

import pytest

from conformance.cases.layers import layer_cases
from conformance.checks.judge import judge_case
from conformance.core.records import Record, strictly
from conformance.engines.layers import LayerEngine, load_layer_engine
from tests.engines.layer_zoo import BUGS
from tests.helpers import sized

ZOO = "tests.engines.layer_zoo."


def _rows(
    engine: LayerEngine, seed: int, cases: int = sized(60, 160), layer: str = ""
) -> list[Record]:
    rows = []
    for case in layer_cases(seed, cases):
        if not layer or case.op == layer:
            rows += judge_case(case, engine.name, engine.run(case.spec), None)
    return rows


def _engine(module: str) -> LayerEngine:
    return LayerEngine(importlib.import_module(module), {}, f"layers:{module}")


def test_refimpl_layers_pass_strict() -> None:
    rows = strictly(_rows(load_layer_engine("layers:refimpl"), seed=0, cases=sized(600, 2000)))
    assert rows and all(r.status == "pass" for r in rows), [
        (r.case, r.node, r.detail) for r in rows if r.status != "pass"
    ][:5]
    checks = {r.check for r in rows}
    assert checks == {"value", "grad", "running", "sign", "update", "training"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_correct_engine_written_differently_has_no_fail_rows(seed: int) -> None:
    """einsum, loops, the staged batch-norm backward, another summation order: no fail row. Its
    running variance is numpy's biased one: a `statistics` difference, gating only strictly."""
    rows = _rows(_engine("tests.engines.layers_alt"), seed, cases=sized(150, 400))
    bad = [(r.case, r.node, r.detail) for r in rows if r.status not in ("pass", "differs")]
    assert not bad, bad[:5]
    assert {r.kind for r in rows if r.status == "differs"} == {"statistics"}


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_layer_bug_is_caught_on_ten_seeds_with_its_hint(bug: str) -> None:
    layer, tensor, verdict, hint = BUGS[bug]
    engine = _engine(ZOO + bug)
    for seed in range(10):
        rows = _rows(engine, seed, layer=layer)
        if verdict == "fail":
            caught = [r for r in rows if r.status == "fail" and r.node == tensor]
            assert caught, f"seed {seed}: no fail row for {tensor}"
            assert any(hint in r.hint for r in caught), (seed, {r.hint for r in caught})
            assert not [r for r in rows if r.status == "differs"], "wrong math called a convention"
            if layer == "two_layer_net":  # trained with its own gradients, it leaves torch's path
                assert [r for r in rows if r.check == "training" and r.status == "fail"]
        else:  # a convention: shown as `differs` of its kind, gating only under --strict
            shown = [r for r in rows if r.status == "differs" and r.node == tensor]
            assert shown and {r.kind for r in shown} == {verdict}, (seed, rows)
            assert any(hint in r.detail + r.hint for r in shown), {r.detail for r in shown}
            assert not [r for r in rows if r.status in ("fail", "error")], "a convention gated"
            assert [r for r in strictly(rows) if r.status == "fail"]


def test_the_reproducer_has_the_smallest_shapes_that_still_fail() -> None:
    from conformance.failures.layers import layer_failures

    cases = [c for c in layer_cases(0, 400) if c.op == "affine"]
    for bug, want in [
        # two rows at least: with one, db's shape (1, 1) does not say "not summed over the batch"
        ("bias_not_summed", {"x": (2, 1), "w": (1, 1), "b": (1,)}),
        ("transposed_dw", {"x": (1, 1), "w": (1, 2), "b": (2,)}),  # w must not be square
    ]:
        engine = _engine(ZOO + bug)
        rows = {c.case_id: judge_case(c, engine.name, engine.run(c.spec), None) for c in cases}
        (failure,) = layer_failures(cases, rows, engine.run)
        assert dict(failure.case.spec.shapes) == want, failure.case.spec.shapes
        assert failure.original is not None and failure.original.case_id in rows
        assert failure.rows and all(r.case == failure.case.case_id for r in failure.rows)
        smallest = min(
            math.prod(dict(c.spec.shapes)["x"])
            for c in cases
            if any(r.status == "fail" for r in rows[c.case_id])
        )
        assert math.prod(want["x"]) <= smallest
        assert any(r.hint == failure.rows[0].hint for r in failure.rows)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_layers_in_a_narrower_dtype(dtype: str) -> None:
    """float32 (and float16) arrays in, tolerances from the dtype's epsilon with a subnormal
    floor: refimpl's layers (numpy computing in the arrays' dtype) pass strictly, the second
    correct engine has no fail row, and a bug is still caught with its hint."""
    cases = [replace(c, spec=replace(c.spec, dtype=dtype)) for c in layer_cases(0, sized(150, 400))]
    refimpl = load_layer_engine("layers:refimpl")
    rows = []
    for case in cases:
        arrays = case.spec.arrays()
        assert arrays["x"].dtype == dtype  # the engine is handed arrays of the dtype
        rows += judge_case(case, refimpl.name, refimpl.run(case.spec), None)
    assert all(r.status == "pass" for r in strictly(rows)), [
        (r.case, r.node, r.detail) for r in rows if r.status != "pass"
    ][:3]
    alt = _engine("tests.engines.layers_alt")
    rows = [r for c in cases for r in judge_case(c, alt.name, alt.run(c.spec), None)]
    assert not [r for r in rows if r.status in ("fail", "error")]
    buggy = _engine(ZOO + "batchnorm_no_mean_terms")
    rows = [r for c in cases if c.op == "batchnorm"
            for r in judge_case(c, buggy.name, buggy.run(c.spec), None)]  # fmt: skip
    assert any("the mean and variance depend on x" in r.hint for r in rows if r.status == "fail")
