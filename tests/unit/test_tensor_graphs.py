"""Tensor graphs: the spec (shapes checked, JSON round trip), the random graphs (every op, form
and kind of broadcasting drawn, away from kinks and domain edges), tensors as JSON, and the
tolerance's sensitivity."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from conformance.cases.tensor_graphs import (
    MARGIN,
    evaluate,
    fixed_tensor_cases,
    random_tensor_graph,
    tensor_cases,
)
from conformance.core.tensor_graph import TENSOR_OPS, TensorGraph, TNode, tensor_variants
from conformance.core.tensor_json import decode_tensor, encode_tensor
from conformance.oracles.tensor_graphs import tensor_reference


def _n(op: str, *args: str, **settings) -> TNode:
    return TNode(op, args, tuple(settings.items()))


@pytest.mark.parametrize(
    ("leaves", "nodes", "words"),
    [
        ((("a", (2, 3)), ("b", (4,))), (_n("add", "a", "b"),), "do not broadcast"),
        ((("a", (2, 3)), ("b", (2, 3))), (_n("matmul", "a", "b"),), "(m, k) @ (k, n)"),
        ((("a", (2, 3)),), (_n("reshape", "a", shape=(4, 2)),), "cannot become"),
        ((("a", (2, 3, 4)),), (_n("transpose", "a", axes=(0, 0, 1)),), "not a permutation"),
        ((("a", (2, 3, 4)),), (_n("transpose", "a"),), "takes 2 dimensions"),
        ((("a", (2, 3)),), (_n("sum", "a", axis=2),), "out of range"),
        ((("a", (2, 3)),), (_n("cross_entropy", "a", labels=(0, 3)),), "labels in [0, C)"),
        ((("a", (2, 3)),), (_n("exp", "b"),), "earlier tensor"),
        ((("a", (2, 3)),), (_n("cosh", "a"),), "unknown op"),
        ((("a", (2, 0)),), (_n("exp", "a"),), "each >= 1"),
        ((("n1", (2,)),), (_n("exp", "n1"),), "not n1, n2"),
    ],
)
def test_a_graph_that_does_not_fit_says_why_in_one_line(leaves, nodes, words) -> None:
    with pytest.raises(ValueError, match=None) as info:
        TensorGraph(leaves, nodes).validate()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_shapes_follow_numpys_rules() -> None:
    g = TensorGraph(
        (("a", (3, 1)), ("b", (4,)), ("w", (4, 2))),
        (_n("add", "a", "b"), _n("matmul", "n1", "w"), _n("sum", "n2", axis=0, keepdims=True),
         _n("transpose", "n3"), _n("max", "n4", axis=None)),
    )  # fmt: skip
    assert g.shapes() == {"a": (3, 1), "b": (4,), "w": (4, 2), "n1": (3, 4), "n2": (3, 2),
                          "n3": (1, 2), "n4": (2, 1), "n5": ()}  # fmt: skip


def test_json_round_trip_and_stable_ids() -> None:
    for i in range(200):
        g = random_tensor_graph(i)
        back = TensorGraph.from_dict(g.to_dict())
        assert back == g and back.case_id() == g.case_id()
    assert random_tensor_graph(3).case_id() == random_tensor_graph(3).case_id()
    with pytest.raises(ValueError, match="has no setting"):
        TensorGraph.from_dict({"leaves": {"a": [2]}, "nodes": [{"op": "exp", "args": ["a"],
                                                               "axis": 0}]})  # fmt: skip
    with pytest.raises(ValueError, match="keepdims must be true or false"):
        TensorGraph.from_dict({"leaves": {"a": [2]}, "nodes": [{"op": "sum", "args": ["a"],
                                                               "keepdims": 1}]})  # fmt: skip


def test_random_graphs_draw_every_op_form_and_kind_of_broadcasting() -> None:
    forms: Counter = Counter()
    broadcast = Counter()
    reused = scalar_end = size_one = 0
    for i in range(1500):
        g = random_tensor_graph(i)
        shapes = g.shapes()
        uses = Counter(a for n in g.nodes for a in n.args)
        reused += any(k > 1 for k in uses.values())
        scalar_end += shapes[g.names[-1]] == ()
        size_one += any(1 in s for _, s in g.leaves)
        for name, node in zip(g.names, g.nodes):
            forms[(node.op, node.form())] += 1
            if node.op in ("add", "sub", "mul", "div"):
                for a in node.args:
                    mine, out = shapes[a], shapes[name]
                    if len(mine) < len(out):
                        broadcast["leading"] += 1
                    elif mine != out:
                        broadcast["size-1"] += 1
    assert set(forms) == set(tensor_variants()), set(tensor_variants()) - set(forms)
    assert min(forms.values()) >= 20, forms
    assert broadcast["leading"] >= 100 and broadcast["size-1"] >= 100, broadcast
    assert reused >= 150 and scalar_end >= 300 and size_one >= 300


def test_random_graphs_stay_away_from_kinks_and_domain_edges() -> None:
    for i in range(800):
        g = random_tensor_graph(i)
        values = evaluate(g, g.arrays())
        for name, node in zip(g.names, g.nodes):
            x = values[node.args[0]]
            if node.op == "relu":
                assert np.min(np.abs(x)) >= MARGIN
            if node.op == "log":
                assert np.min(x) >= 0.1
            if node.op == "max":
                axis = node.get("axis")
                flat = x.reshape(-1) if axis is None else np.moveaxis(x, axis, -1)
                top = np.sort(flat, axis=-1)
                if top.shape[-1] > 1:
                    assert np.min(top[..., -1] - top[..., -2]) >= MARGIN
            assert np.all(np.isfinite(values[name]))
        weight = g.arrays()["weight"]
        assert np.all((np.abs(weight) >= 0.5) & (np.abs(weight) <= 1.5))


def test_graphs_avoid_the_forms_an_engine_lacks() -> None:
    avoid = frozenset({("sum", "keepdims"), ("transpose", "axes"), ("max", "all"), ("matmul", "")})
    for case in tensor_cases(0, 400, avoid=avoid)[len(fixed_tensor_cases()) :]:
        assert not {(n.op, n.form()) for n in case.spec.nodes} & avoid


@pytest.mark.parametrize("encoding", ["list", "base64"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tensors_travel_exactly_as_json(encoding: str, dtype) -> None:
    import json

    a = np.array([[1.5, -0.0, math.nan], [math.inf, -math.inf, 1e-310]], dtype=dtype)
    text = json.dumps(encode_tensor(a, encoding))
    back = decode_tensor(json.loads(text))
    assert back.shape == a.shape and back.dtype == np.float64
    assert np.array_equal(back, a.astype(np.float64), equal_nan=True)
    assert np.signbit(back[0, 1])  # −0 keeps its sign
    zero_d = decode_tensor(json.loads(json.dumps(encode_tensor(np.float64(2.5), encoding))))
    assert zero_d.shape == () and zero_d == 2.5


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"shape": [2], "data": [1.0]}, "holds 1 values"),
        ({"shape": [2], "data": [1.0, "x"]}, "numbers, or nan"),
        ({"shape": [2], "b64": "AAAA"}, "holds 3 bytes"),
        ({"shape": [2], "dtype": "int8", "data": [1, 2]}, "dtype"),
        ({"shape": "2", "data": [1, 2]}, "shape"),
        ([1, 2], "not {shape"),
    ],
)
def test_a_tensor_that_does_not_fit_says_why(obj, words: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_tensor(obj)
    assert words in str(info.value)


@pytest.mark.parametrize("op", sorted({op for op in TENSOR_OPS}))
def test_a_one_in_a_million_error_in_a_gradient_is_beyond_tolerance(op: str) -> None:
    """In each op's fixed case, the largest element of each leaf's gradient moved by 1e-6 of
    itself is beyond the tolerance; torch's own numbers are within it."""
    for case in fixed_tensor_cases():
        g = case.spec
        if g.nodes[0].op != op or g.values:
            continue
        ref = tensor_reference(g, g.arrays())
        for name, _ in g.leaves:
            grad, tol = ref.grads[name], ref.grad_tol[name]
            assert np.all(tol >= 0)
            k = np.unravel_index(np.argmax(np.abs(grad)), grad.shape)
            nudged = grad.copy()
            nudged[k] *= 1 + 1e-6
            if grad[k] != 0:
                assert abs(nudged[k] - grad[k]) > tol[k], (case.spec.formula(), name)
