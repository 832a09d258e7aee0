"""Tensor autograd engines: refimpl's Tensor passes --strict, correct engines written other ways
have no fail row over three seeds, and every bug of the tensor zoo is caught on 10 of 10 seeds,
blamed on its op with its hint."""

from __future__ import annotations

import importlib
from functools import lru_cache

import pytest

from conformance.cases.tensor_graphs import fixed_tensor_cases, tensor_cases
from conformance.checks.tensor_graphs import check_tensor_graph
from conformance.core.records import Record, strictly
from conformance.engines.tensor_class import TensorEngine, load_tensor_engine
from tests.engines.tensor_zoo import BUGS
from tests.helpers import sized

ZOO = "tests.engines.tensor_zoo."
# Random graphs a seed beside the 31 fixed cases (each op's): 150 thorough.
RANDOM = sized(50, 150)
ALT = "tests.engines.tensors_alt."

# Words of the hint each bug must carry (the op it is blamed on is BUGS').
HINTS = {
    "unbroadcast_missing": "broadcast",
    "unbroadcast_leading_only": "broadcast",
    "unbroadcast_wrong_axes": "broadcast axes",
    "matmul_swapped": "dB",
    "sum_not_expanded": "expand_dims",
    "mean_not_divided": "divided by the count",
    "max_all_ties": "tied maximum",
    "reshape_not_inverted": "reshape out.grad back",
    "transpose_not_inverted": "inverse permutation",
    "grad_overwritten": "+= belongs",
    "inplace_relu": "in place",
    "pow_no_chain": "ignores the gradient from above",
    "sigmoid_input": "not the input x",
    "log_softmax_no_sum": "sum of out.grad",
    "sub_sign": "−out.grad",
    "cross_entropy_not_divided": "divided by N",
    "div_no_square": "−a/b²",
}


@lru_cache(maxsize=16)
def _cases(seed: int, count: int) -> tuple:
    """The suite's cases, built once a process: every bug's test reads the same seeds."""
    return tuple(tensor_cases(seed, count))


def _engine(module: str) -> TensorEngine:
    mod = importlib.import_module(module)
    return TensorEngine(mod, dict(getattr(mod, "CONFORMANCE_TENSORS", {})), f"tensors:{module}")


def _rows(engine: TensorEngine, cases) -> list[Record]:
    rows = []
    for case in cases:
        rows += check_tensor_graph(case, engine.name, engine.run(case.spec), None)
    return rows


def _uses(case, op: str) -> bool:
    nodes = case.spec.nodes
    if op == "accumulation":  # a tensor read twice
        args = [a for n in nodes for a in n.args]
        return len(args) != len(set(args))
    return any(n.op == op for n in nodes)


def test_refimpl_passes_strict() -> None:
    rows = strictly(_rows(load_tensor_engine("tensors:refimpl"), tensor_cases(0, sized(200, 600))))
    bad = [(r.case, r.node, r.detail) for r in rows if r.status != "pass"]
    assert rows and not bad, bad[:5]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("module", ["einsum", "loops", "reordered", "torchish"])
def test_correct_engines_written_differently_have_no_fail_row(module: str, seed: int) -> None:
    """einsum, explicit loops, another summation order, torch's names through a table."""
    engine = _engine(ALT + module)
    rows = _rows(engine, _cases(seed, RANDOM))
    bad = [(r.case, r.node, r.detail) for r in rows if r.status != "pass"]
    assert not bad, bad[:5]


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_tensor_bug_is_caught_on_ten_seeds_with_its_hint(bug: str) -> None:
    op, hint = BUGS[bug], HINTS[bug]
    engine = _engine(ZOO + bug)
    if bug == "max_all_ties":  # a convention: only ties show it, and they gate only strictly
        rows = _rows(engine, [c for c in fixed_tensor_cases() if c.op == "max"])
        shown = [r for r in rows if r.status == "differs"]
        assert shown and {r.kind for r in shown} == {"ieee"}, rows
        assert all(hint in r.hint and r.blame == "max" for r in shown)
        assert not [r for r in rows if r.status in ("fail", "error")], "a convention gated"
        assert [r for r in strictly(rows) if r.status == "fail"]
        return
    for seed in range(10):
        cases = [c for c in _cases(seed, RANDOM) if _uses(c, op)]
        rows = _rows(engine, cases)
        bad = [r for r in rows if r.status in ("fail", "error")]
        caught = [r for r in bad if r.blame == op]
        assert caught, f"seed {seed}: nothing blamed on {op}"
        assert any(hint in r.hint for r in caught), (seed, {r.hint for r in caught})
        # A graph with the bug and a tensor used twice can leave the blame shared or elsewhere
        # now and then (one use's wrong share can equal another's right one); most rows name it.
        named = [r for r in bad if op in r.blame.split(",")]
        assert len(named) >= 0.75 * len(bad), (seed, sorted({r.blame for r in bad}))
        assert not [r for r in rows if r.status == "differs"], "wrong math called a convention"


def test_a_students_first_engine_passes_and_its_overwrite_is_named() -> None:
    """Written as after the lecture (its tanh formula, a recursive sort, .grad None until set):
    correct, so no row fails (its tanh near 0 is `precision` at most); with = for += the
    headline names the accumulation."""
    import tests.engines.tensor_student as student

    engine = TensorEngine(student, {}, "tensors:student")
    rows = _rows(engine, _cases(0, sized(200, 600)))
    assert not [(r.case, r.detail) for r in rows if r.status in ("fail", "error")]
    assert {r.kind for r in rows if r.status == "differs"} <= {"precision"}
    buggy = TensorEngine(student, {"class": "Overwrites"}, "tensors:student-overwrites")
    bad = [r for r in _rows(buggy, _cases(0, RANDOM)) if r.status == "fail"]
    assert bad and {r.blame for r in bad} == {"accumulation"}, {r.blame for r in bad}
    # `self.grad = g` both overwrites and keeps the array it was handed: either hint fits.
    assert all("+= belongs" in r.hint or "are one array" in r.hint for r in bad)
    assert any("+= belongs" in r.hint for r in bad)


def test_the_lectures_tanh_near_zero_is_precision_not_wrong_math() -> None:
    """(e^2x − 1)/(e^2x + 1) is a few EPS off in absolute terms near 0, far beyond torch's
    relative rounding of a tiny tanh: a less precise formula, shown, never gating by default."""
    import tests.engines.tensor_student as student
    from conformance.core.case import Case
    from conformance.core.tensor_graph import TensorGraph, TNode

    engine = TensorEngine(student, {}, "tensors:student")
    graph = TensorGraph((("a", (1,)),), (TNode("tanh", ("a",)),), seed=1, values=(("a", (1e-5,)),))
    case = Case("tensors", graph.case_id(), graph, "tanh", kind="tensor-graph")
    rows = check_tensor_graph(case, engine.name, engine.run(graph), None)
    assert [(r.check, r.status, r.kind) for r in rows] == [
        ("value", "differs", "precision"),
        ("grad", "pass", ""),
    ]
    assert [r.status for r in strictly(rows)] == ["fail", "pass"]
