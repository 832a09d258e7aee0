"""`conformance_cases` and `assert_case`: a few conformance cases inside an author's own tests,
as the README shows them."""

from __future__ import annotations

import pytest

from conformance.pytest_plugin import CaseFailed, assert_case, conformance_cases
from refimpl import Value
from tests.engines.corpus.mul_grad_swapped import Value as SwappedProduct

TANH = conformance_cases(suites=["graphs"], cases=20, ops={"tanh"})


@pytest.mark.parametrize("case", TANH)
def test_refimpl_passes_the_tanh_cases(case) -> None:
    assert_case(Value, case, strict=True)


def test_the_cases_are_those_about_the_ops_asked_for() -> None:
    assert len(TANH) >= 5
    for param in TANH:
        (case,) = param.values
        assert param.id == case.case_id
        assert case.op == "tanh" or "tanh" in {n.op for n in case.spec.nodes}


def test_a_wrong_product_rule_fails_with_the_diagnosis() -> None:
    (case,) = next(p for p in conformance_cases(suites=["graphs"], cases=0, ops={"mul"})).values
    with pytest.raises(CaseFailed) as failed:
        assert_case(SwappedProduct, case)
    message = str(failed.value)
    assert message.startswith(f"graphs/{case.case_id} (mul)")
    assert "blame: mul" in message and "replay: python -m conformance run" in message
    assert isinstance(failed.value, AssertionError)  # pytest shows it as a failed assertion


def test_unknown_suites_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown suite nope"):
        conformance_cases(suites=["nope"])
