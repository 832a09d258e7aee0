"""Backward semantics against torch: fan-out, repeated calls, zeroing, grad(), deep and wide graphs.

The inputs are dyadic numbers (1.5, -2.25, ...) and the ops + - * only, so every value and every
gradient is exact in float64 whatever the summation order: the comparisons are exact too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

import refimpl
from refimpl import Value, topological_order


def _leaf(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _graph(x: Any, y: Any) -> tuple[Any, tuple]:
    """A small DAG with fan-out everywhere, for Values or tensors; returns (out, (u, v, w))."""
    u = x * y
    v = u + x * 2.0
    w = v - y
    return u * w + v * v, (u, v, w)


def _torch_leaf_grads(
    build: Callable, leaves: Sequence[float], calls: int = 1, gradient: float = 1.0
) -> list[float]:
    ts = [_leaf(x) for x in leaves]
    out = build(*ts)
    out = out[0] if isinstance(out, tuple) else out
    for _ in range(calls):
        out.backward(torch.tensor(gradient, dtype=torch.float64), retain_graph=True)
    return [0.0 if t.grad is None else t.grad.item() for t in ts]


def test_a_times_a_sums_both_paths() -> None:
    a = Value(-2.25)
    (a * a).backward()
    assert a.grad == -4.5 == _torch_leaf_grads(lambda t: t * t, [-2.25])[0]


def test_diamond_matches_torch() -> None:
    def diamond(a: Any) -> Any:
        b = a * 3.0
        c = a + 2.0
        return b * c - b + c

    a = Value(1.5)
    out = diamond(a)
    out.backward()
    assert out.data == diamond(_leaf(1.5)).item()
    assert a.grad == _torch_leaf_grads(diamond, [1.5])[0] == 3.0 * 3.5 + 4.5 - 3.0 + 1.0


def test_fifty_doublings_give_two_to_the_fifty() -> None:
    a = Value(1.5)
    d = a
    for _ in range(50):
        d = d + d
    d.backward()
    assert d.data == 2.0**50 * 1.5
    assert a.grad == 2.0**50

    def doubled(t: Any) -> Any:
        for _ in range(50):
            t = t + t
        return t

    assert _torch_leaf_grads(doubled, [1.5]) == [2.0**50]


def test_graph_matches_torch_values_and_gradients() -> None:
    x, y = Value(1.5), Value(-2.25)
    out, _ = _graph(x, y)
    out.backward()
    assert out.data == _graph(_leaf(1.5), _leaf(-2.25))[0].item()
    assert [x.grad, y.grad] == _torch_leaf_grads(_graph, [1.5, -2.25])


@pytest.mark.parametrize("calls", [2, 3])
def test_repeated_backward_accumulates_on_leaves_only(calls: int) -> None:
    """Leaves add the same gradient again, as torch with retain_graph=True; intermediates don't."""
    x, y = Value(1.5), Value(-2.25)
    out, intermediates = _graph(x, y)
    out.backward()
    once = [v.grad for v in intermediates]
    for _ in range(calls - 1):
        out.backward()
    assert [x.grad, y.grad] == _torch_leaf_grads(_graph, [1.5, -2.25], calls=calls)
    assert [v.grad for v in intermediates] == once
    assert out.grad == 1.0


def test_zero_grad_resets_every_node_and_backward_starts_over() -> None:
    x, y = Value(1.5), Value(-2.25)
    out, intermediates = _graph(x, y)
    out.backward()
    first = [n.grad for n in (x, y, *intermediates)]
    out.backward()
    out.zero_grad()
    assert all(n.grad == 0.0 for n in topological_order(out))
    out.backward()
    assert [n.grad for n in (x, y, *intermediates)] == first


@pytest.mark.parametrize("gradient", [2.5, -1.0, 0.0, 1e300])
def test_backward_with_gradient_scales_like_torch(gradient: float) -> None:
    x, y = Value(1.5), Value(-2.25)
    out, _ = _graph(x, y)
    out.backward(gradient)
    assert out.grad == gradient
    want = _torch_leaf_grads(_graph, [1.5, -2.25], gradient=gradient)
    assert [x.grad, y.grad] == want


def test_backward_of_a_leaf_is_the_gradient() -> None:
    x = Value(3.0)
    x.backward(2.0)
    assert x.grad == 2.0


def test_grad_returns_fresh_gradients_in_order_like_torch() -> None:
    x, y, unrelated = Value(1.5), Value(-2.25), Value(7.0)
    out, (u, _v, _w) = _graph(x, y)
    got = refimpl.grad(out, [y, unrelated, x, u, x])

    tx, ty, tz = _leaf(1.5), _leaf(-2.25), _leaf(7.0)
    tout, (tu, _tv, _tw) = _graph(tx, ty)
    want = torch.autograd.grad(tout, [ty, tz, tx, tu, tx], allow_unused=True)
    assert got == [0.0 if g is None else g.item() for g in want]
    assert got[1] == 0.0


def test_grad_neither_reads_nor_writes_any_grad() -> None:
    x, y = Value(1.5), Value(-2.25)
    out, _ = _graph(x, y)
    nodes = topological_order(out)
    for i, n in enumerate(nodes):
        n.grad = 1000.0 + i  # sentinels: a grad() that read them would be off
    got = refimpl.grad(out, [x, y], gradient=2.5)
    assert [n.grad for n in nodes] == [1000.0 + i for i in range(len(nodes))]
    assert got == _torch_leaf_grads(_graph, [1.5, -2.25], gradient=2.5)


def test_grad_of_output_with_respect_to_itself() -> None:
    out, _ = _graph(Value(1.5), Value(-2.25))
    assert refimpl.grad(out, [out]) == [1.0]


def test_topological_order_puts_every_node_before_its_inputs_once() -> None:
    out, _ = _graph(Value(1.5), Value(-2.25))
    order = topological_order(out)
    position = {id(n): i for i, n in enumerate(order)}
    assert order[0] is out
    assert len(position) == len(order)
    assert all(position[id(n)] < position[id(p)] for n in order for p in n._prev)


@pytest.mark.parametrize(
    "n", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)], ids=["100k", "1M"]
)
def test_million_node_chain_with_million_fold_fan_out(n: int) -> None:
    """y = y + x n times: no RecursionError, and dy/dx = n + 1 exactly (a million by --runslow;
    100,000 is already a hundred times the recursion limit)."""
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = y + x
    y.backward()
    assert y.data == 0.5 * (n + 1)
    assert x.grad == n + 1


def _alternating_chain(x: Any, cycles: int) -> Any:
    """Seven ops a cycle, y ← y + x/2 each; dy/dx gains exactly 0.5 per cycle."""
    y = x
    for _ in range(cycles):
        y = y + x
        y = y * 2.0
        y = y - x
        y = y * 0.5
        y = y.relu() if isinstance(y, Value) else torch.relu(y)
        y = -y
        y = -y
    return y


@pytest.mark.parametrize(
    "nodes", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)], ids=["100k", "1M"]
)
def test_deep_chain_of_alternating_ops(nodes: int) -> None:
    cycles = nodes // 7
    x = Value(1.0)
    y = _alternating_chain(x, cycles)
    y.backward()
    assert y.data == 1.0 + 0.5 * cycles
    assert x.grad == 1.0 + 0.5 * cycles
    assert refimpl.grad(y, [x]) == [1.0 + 0.5 * cycles]


def test_alternating_chain_matches_torch() -> None:
    x = Value(1.0)
    y = _alternating_chain(x, 300)
    y.backward()
    assert x.grad == _torch_leaf_grads(lambda t: _alternating_chain(t, 300), [1.0])[0]


def test_very_wide_graph() -> None:
    """100,000 leaves each times x, summed pairwise: every leaf gets x, x gets their sum."""
    n = 100_000
    x = Value(3.0)
    leaves = [Value(float(i)) for i in range(n)]
    level = [leaf * x for leaf in leaves]
    while len(level) > 1:
        pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    out = level[0]
    out.backward()
    assert out.data == 3.0 * n * (n - 1) / 2
    assert x.grad == n * (n - 1) / 2
    assert all(leaf.grad == 3.0 for leaf in leaves)
