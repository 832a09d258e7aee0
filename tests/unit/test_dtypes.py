"""Numbers of other precisions: rounding to them, their ULP, specs whose inputs are theirs, and
tolerances that take their epsilon."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.strategies import graph_specs
from conformance.core.dtypes import EPSILON, rounded, spacing
from conformance.core.spec import GraphSpec, SpecError
from conformance.oracles.autograd import torch_reference
from conformance.oracles.tolerance import bounds

FINITE = st.floats(allow_nan=False, allow_infinity=False)


@given(FINITE)
def test_rounding_to_float32_and_float16_is_numpys(x: float) -> None:
    with np.errstate(over="ignore"):
        assert rounded(x, "float32") == float(np.float32(x))
        assert rounded(x, "float16") == float(np.float16(x))


@given(FINITE)
def test_rounding_to_bfloat16_is_torchs(x: float) -> None:
    expected = torch.tensor(x, dtype=torch.float64).to(torch.bfloat16).item()
    assert rounded(x, "bfloat16") == expected


@given(st.floats(min_value=1e-30, max_value=1e30) | st.floats(min_value=-1e30, max_value=-1e-30))
def test_the_float32_ulp_is_numpys_spacing(x: float) -> None:
    x = rounded(x, "float32")
    assert spacing(x, "float32") == float(np.spacing(np.float32(abs(x))))


@given(graph_specs())
def test_a_spec_in_float32_has_float32_inputs_and_an_id_of_its_own(spec: GraphSpec) -> None:
    f32 = spec.in_dtype("float32")
    assert f32.dtype == "float32" and spec.in_dtype("float64") is spec
    for x in (*f32.leaves, *f32.consts, f32.upstream):
        assert rounded(x, "float32") == x
    assert "dtype" not in spec.to_dict() and f32.to_dict()["dtype"] == "float32"
    assert GraphSpec.from_dict(f32.to_dict()) == f32 == pickle.loads(pickle.dumps(f32))
    assert f32.case_id() != spec.case_id()


def test_an_unknown_dtype_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown dtype 'float8'"):
        GraphSpec.from_dict({**GraphSpec((1.0,), (), "x0").to_dict(), "dtype": "float8"})


@given(graph_specs(max_nodes=12))
def test_float32_tolerances_scale_with_its_epsilon(spec: GraphSpec) -> None:
    f32 = spec.in_dtype("float32")
    reference = torch_reference(f32)
    tight, loose = (
        bounds(f32.in_dtype("float64"), reference.node_values),
        bounds(f32, reference.node_values),
    )
    ratio = EPSILON["float32"] / EPSILON["float64"]
    for a, b in zip((tight.value, *tight.grads), (loose.value, *loose.grads)):
        if math.isfinite(a) and a > 0:
            assert b >= a * ratio / 2  # about the epsilons' ratio, 2**29


def _frame(actual: list[float], expected: list[float]):
    from conformance.core.records import Record, to_frame

    return to_frame([
        Record(suite="graphs", case=f"g{i}", engine="e", check="grad", status="fail",
               expected=e, actual=a)
        for i, (a, e) in enumerate(zip(actual, expected))
    ])  # fmt: skip


def test_an_engine_whose_numbers_are_float32_ones_is_recognised() -> None:
    from conformance.checks.dtype_hint import narrow_dtype

    truth = [0.1 * k + 1 / 3 for k in range(1, 30)]
    assert narrow_dtype(_frame([rounded(e, "float32") for e in truth], truth)) == ("float32", 1.0)
    assert narrow_dtype(_frame([rounded(e, "float16") for e in truth], truth))[0] == "float16"
    assert narrow_dtype(_frame([e * (1 + 1e-3) for e in truth], truth)) is None  # float64, wrong
    # torch's own numbers are float32 ones (11, -6, 0.5): no evidence either way
    simple = [float(k) for k in range(1, 30)]
    assert narrow_dtype(_frame(simple, simple)) is None
