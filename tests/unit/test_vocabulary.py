"""The op vocabulary against torch, the generator and every engine adapter."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.generate import OP_WEIGHTS, single_op_specs
from conformance.checks.graph import consult_oracles
from conformance.core.vocabulary import OPS
from conformance.engines import load_engine
from conformance.engines.scalar import ScalarClassEngine
from tests.engines.alt import Value as AltValue

OP_NAMES = sorted(OPS)


def _torch_eval(op, xs, param):
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = op.torch(leaves, param)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


def _close(a: float, b: float, rel: float = 1e-13) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


@pytest.mark.parametrize("name", OP_NAMES)
@given(seed=st.integers(0, 2**32 - 1))
def test_float_forward_and_local_derivatives_match_torch(name: str, seed: int) -> None:
    op = OPS[name]
    for _label, spec in single_op_specs(seed, 1):
        node = spec.nodes[0]
        if node.op != name or spec.consts:
            continue
        xs, param = list(spec.leaves), node.param
        value, grads = _torch_eval(op, xs, param)
        assert _close(op.forward(xs, param), value), (xs, param)
        local = op.local(xs, value, param)
        assert all(_close(a, b) for a, b in zip(local, grads)), (xs, param, local, grads)


def test_generator_weights_cover_the_vocabulary() -> None:
    assert set(OP_WEIGHTS) == set(OPS)


def test_single_op_cases_cover_every_op_and_parameter() -> None:
    seen = {(s.nodes[0].op, s.nodes[0].param) for _, s in single_op_specs(0, 1)}
    expected = {(op.name, p) for op in OPS.values() for p in (op.params or (None,))}
    assert seen == expected


@pytest.mark.parametrize("engine", ["refimpl", "torch", "alt"])
def test_correct_engines_express_every_op_and_agree_with_torch(engine: str) -> None:
    eng = ScalarClassEngine(AltValue, "alt") if engine == "alt" else load_engine(engine)
    for _label, spec in single_op_specs(3, 1):
        result = eng.run(spec)
        assert result.skip is None and result.error is None, (spec.formula(), result)
        oracle = consult_oracles_for(spec)
        assert abs(result.value - oracle.reference.value) <= oracle.bounds.value
        for k, g in enumerate(result.grads):
            assert abs(g - oracle.reference.grads[k]) <= oracle.bounds.grads[k], spec.formula()


def consult_oracles_for(spec):
    from conformance.core.case import Case

    return consult_oracles(Case("t", spec.case_id(), spec, spec.nodes[0].op))


def test_micrograd_probe_finds_exactly_the_ops_it_lacks() -> None:
    pytest.importorskip("micrograd")
    eng = load_engine("micrograd")
    lacking = set()
    for _label, spec in single_op_specs(0, 1):
        node = spec.nodes[0]
        pattern = "".join("c" if a[0] == "c" else "v" for a in node.args)
        if eng.unsupported(node.op, pattern, node.param):
            lacking.add(node.op)
    # micrograd 0.1 has + - * / ** (numbers only) and relu; no exp, log, tanh, sigmoid, leaky relu
    assert lacking == {"exp", "log", "tanh", "sigmoid", "leaky_relu", "powv"}


def test_vocabulary_entries_are_complete() -> None:
    for op in OPS.values():
        assert op.arity in (1, 2, 3)
        assert op.symbol.count("{") >= op.arity
        assert op.ulp >= 0
        # every parameterised op draws from its own list, and the list is non-empty
        assert op.params == () or all(math.isfinite(p) for p in op.params)
        if op.kinks:
            assert isinstance(op.kinks, str)
