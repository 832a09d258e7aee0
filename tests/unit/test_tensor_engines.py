"""The tensor engine adapter: ops probed as missing (graphs avoid them) or broken (their cases
show the error), keywords found by signature or named in a table, one-line load errors, in-place
writes seen, function engines."""

from __future__ import annotations

import types

import numpy as np
import pytest

import tests.engines.tensor_kinds as kinds
from conformance.cases.tensor_graphs import fixed_tensor_cases, tensor_cases
from conformance.checks.tensor_graphs import check_tensor_graph
from conformance.core.tensor_graph import tensor_variants
from conformance.engines.errors import EngineLoadError
from conformance.engines.tensor_class import TensorEngine, load_tensor_engine
from conformance.engines.tensor_remote import TensorFunctionEngine, read_tensor_answer


def _engine(cls: type, table: dict | None = None) -> TensorEngine:
    return TensorEngine(kinds, {"class": cls.__name__, **(table or {})}, f"tensors:{cls.__name__}")


def test_a_class_with_few_ops_is_probed_and_graphs_avoid_the_rest() -> None:
    engine = _engine(kinds.Few)
    have = {v for v in tensor_variants() if not engine.unsupported(*v)}
    assert have == {("add", ""), ("mul", ""), ("sum", "all")}
    assert "takes no axis" in engine.unsupported("sum", "axis")
    assert "no method exp" in engine.unsupported("exp", "")
    missing = frozenset(v for v in tensor_variants() if engine.unsupported(*v))
    for case in tensor_cases(0, 60, avoid=missing)[len(fixed_tensor_cases()) :]:
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        assert [r.status for r in rows] == ["pass"] * len(rows), rows
    fixed = fixed_tensor_cases()[9]  # exp: a case the engine cannot build is a skip row
    rows = check_tensor_graph(fixed, engine.name, engine.run(fixed.spec), None)
    assert [r.status for r in rows] == ["skip"] and "missing" in rows[0].detail


def test_an_op_that_exists_and_raises_is_broken_not_missing() -> None:
    engine = _engine(kinds.Breaks)
    assert engine.unsupported("exp", "") is None
    assert "exp is not finished" in engine.broken("exp", "")
    assert engine.unsupported("log", "") is None  # a TypeError inside the op is its own bug
    assert "TypeError" in engine.broken("log", "")
    case = next(c for c in fixed_tensor_cases() if c.op == "exp")
    rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
    assert rows[0].status == "error" and "exp is not finished" in rows[0].detail
    assert rows[0].blame == "exp"


def test_torchs_keywords_are_found_by_the_signature() -> None:
    engine = _engine(kinds.Dims)
    assert not [v for v in tensor_variants() if engine.unsupported(*v)]
    for case in tensor_cases(1, 80):
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        assert all(r.status == "pass" for r in rows), [r.detail for r in rows]


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"clas": "Tensor"}, "its keys are class, keywords, ops"),
        ({"ops": {"maximum": "amax"}}, "not an op"),
        ({"ops": {"max": 3}}, "a name or a function"),
        ({"keywords": {"dims": "dim"}}, "maps axis and keepdims"),
        ({"class": "Nope"}, "has no class Nope"),
    ],
)
def test_a_bad_table_is_one_line(table: dict, words: str) -> None:
    module = types.ModuleType("m")
    module.Tensor = kinds.Dims  # type: ignore[attr-defined]
    with pytest.raises(EngineLoadError) as info:
        TensorEngine(module, table, "tensors:m")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_an_in_place_write_is_a_failing_value_row_blamed_on_the_op() -> None:
    engine = load_tensor_engine("tensors:tests.engines.tensor_zoo.inplace_relu")
    case = next(c for c in fixed_tensor_cases() if c.op == "relu" and not c.spec.values)
    rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
    bad = [r for r in rows if r.status == "fail"]
    assert [(r.check, r.node) for r in bad] == [("value", "a")]
    assert bad[0].blame == "relu" and "in place" in bad[0].hint


def test_a_function_engine_answers_for_the_ops_it_lists() -> None:
    engine = TensorFunctionEngine(kinds.function_engine, "tensors:fn")
    assert engine.unsupported("log", "") and engine.unsupported("add", "") is None
    checked = 0
    for case in tensor_cases(2, 150, avoid=frozenset(v for v in tensor_variants()
                                                    if engine.unsupported(*v))):  # fmt: skip
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        statuses = {r.status for r in rows}
        assert statuses <= {"pass", "skip"}, rows
        checked += "pass" in statuses
    assert checked > 100


def test_an_answer_that_does_not_fit_is_an_error_not_a_crash() -> None:
    graph = fixed_tensor_cases()[0].spec
    assert "not {value, grads}" in read_tensor_answer(3.0, graph).error
    assert "grads must map" in read_tensor_answer({"value": 1.0, "grads": [1, 2]}, graph).error
    bad = {"value": 1.0, "grads": {"a": {"shape": [2], "data": ["x", 1]}}}
    assert "numbers, or nan" in read_tensor_answer(bad, graph).error
    ok = read_tensor_answer({"value": 1.0, "grads": {"a": np.ones((2, 3))}}, graph)
    assert ok.error is None and ok.grads["a"].shape == (2, 3)


def test_another_tied_maximum_is_a_convention_not_wrong_math() -> None:
    engine = _engine(kinds.LastTie)
    case = next(c for c in fixed_tensor_cases() if c.op == "max" and c.spec.values)
    rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
    shown = [r for r in rows if r.status != "pass"]
    assert [(r.status, r.kind) for r in shown] == [("differs", "ieee")]
    assert "another than torch's" in shown[0].hint


def test_a_backward_that_takes_the_losss_gradient_is_given_ones() -> None:
    engine = _engine(kinds.NeedsGrad)
    for case in tensor_cases(3, 30):
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        assert all(r.status == "pass" for r in rows), [r.detail for r in rows]


def test_data_cast_to_int_is_named_at_the_leaf() -> None:
    engine = _engine(kinds.Whole)
    case = fixed_tensor_cases()[0]
    rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
    bad = [r for r in rows if r.status == "fail"]
    assert bad and all(r.blame == "Tensor" and "cast to int" in r.hint for r in bad)


def test_an_op_giving_a_numpy_array_or_exiting_is_that_ops_error() -> None:
    class Exits(kinds.Dims):
        def tanh(self):
            raise SystemExit(3)

    class Plain(kinds.Dims):
        def exp(self):
            return np.exp(self.data)

    for cls, op, words in ((Exits, "tanh", "raised SystemExit: 3"), (Plain, "exp", "gave ndarray")):
        module = types.ModuleType("m")
        module.Tensor = cls  # type: ignore[attr-defined]
        engine = TensorEngine(module, {}, "tensors:m")
        assert words in engine.broken(op, "") and engine.unsupported(op, "") is None
        case = next(c for c in fixed_tensor_cases() if c.op == op)
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        assert rows[0].status == "error" and words in rows[0].detail and rows[0].blame == op


def test_gradients_that_are_one_array_are_named() -> None:
    class Aliased(kinds.Dims):
        def __add__(self, other):
            out = super().__add__(other)

            def _backward() -> None:  # the student's shortcut: hand the array itself on
                self.grad = out.grad
                other.grad = out.grad

            out._backward = _backward
            return out

    module = types.ModuleType("m")
    module.Tensor = Aliased  # type: ignore[attr-defined]
    engine = TensorEngine(module, {}, "tensors:m")
    hints = set()
    for case in tensor_cases(0, 200):
        rows = check_tensor_graph(case, engine.name, engine.run(case.spec), None)
        hints |= {r.hint for r in rows if r.status in ("fail", "error")}
    assert any("are one array" in h for h in hints), hints


def test_an_answer_without_a_loss_or_with_a_null_gradient_is_an_error() -> None:
    graph = fixed_tensor_cases()[0].spec
    assert "no value" in read_tensor_answer({"grads": {"a": [1.0]}}, graph).error
    assert "null" in read_tensor_answer({"value": 1.0, "grads": {"a": None}}, graph).error
