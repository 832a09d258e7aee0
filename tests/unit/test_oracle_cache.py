"""The oracles are worked out once per graph in a process, and never handed to a different one."""

from __future__ import annotations

import math

from conformance.core.spec import GraphSpec, Node
from conformance.oracles import consult
from conformance.oracles.autograd import torch_reference


def _reciprocal(x: float) -> GraphSpec:
    return GraphSpec(leaves=(x,), nodes=(Node("div", ("c0", "x0")),), output="n0", consts=(1.0,))


def _chain(length: int, leaf: float) -> GraphSpec:
    nodes = [Node("mul", ("x0", "x0"))] + [Node("add", (f"n{i}", "x0")) for i in range(length - 1)]
    return GraphSpec(leaves=(leaf,), nodes=tuple(nodes), output=f"n{length - 1}")


def test_an_equal_graph_gets_the_oracles_already_worked_out() -> None:
    first = consult.consult(_chain(5, 0.25))
    again = consult.consult(_chain(5, 0.25))  # equal, built anew
    assert again is first
    assert consult.consult(_chain(5, 0.5)) is not first
    assert first.reference == torch_reference(_chain(5, 0.25))


def test_graphs_equal_but_for_the_sign_of_a_zero_get_their_own() -> None:
    assert _reciprocal(0.0) == _reciprocal(-0.0)  # as Python sees them
    plus, minus = consult.consult(_reciprocal(0.0)), consult.consult(_reciprocal(-0.0))
    assert plus.reference.value == math.inf
    assert minus.reference.value == -math.inf


def test_the_least_recently_used_go_when_the_budget_is_spent(monkeypatch) -> None:
    monkeypatch.setattr(consult, "BUDGET", 30)
    monkeypatch.setattr(consult, "_kept", type(consult._kept)())
    monkeypatch.setattr(consult, "_size", 0)
    a, b, c = (consult.consult(_chain(9, leaf)) for leaf in (0.1, 0.2, 0.3))  # 10 nodes each
    assert consult._size == 30
    assert consult.consult(_chain(9, 0.1)) is a  # now the most recently used
    consult.consult(_chain(9, 0.4))  # over budget: the least recently used (b) goes
    assert consult._size == 30
    assert consult.consult(_chain(9, 0.3)) is c
    assert consult.consult(_chain(9, 0.2)) is not b


def test_a_graph_over_the_budget_is_not_kept(monkeypatch) -> None:
    monkeypatch.setattr(consult, "BUDGET", 30)
    monkeypatch.setattr(consult, "_kept", type(consult._kept)())
    monkeypatch.setattr(consult, "_size", 0)
    big = consult.consult(_chain(40, 0.1))
    assert consult._size == 0 and not consult._kept
    assert consult.consult(_chain(40, 0.1)) is not big
    assert consult.consult(_chain(40, 0.1)).reference == big.reference
