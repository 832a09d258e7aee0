"""refimpl.nn against torch: neurons, layers, MLPs, losses and SGD with the same weights."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from refimpl import Value
from refimpl.nn import (
    MLP,
    SGD,
    Layer,
    Neuron,
    binary_cross_entropy,
    mse_loss,
    squared_error,
)
from tests.floatcmp import EPS, assert_close

F64 = torch.float64
TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda t: t,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": F.leaky_relu,
}


def _leaves(xs: Sequence[float]) -> list[torch.Tensor]:
    return [torch.tensor(x, dtype=F64, requires_grad=True) for x in xs]


def _close_all(got: Sequence[float], want: Sequence[float], *, ulps: int = 0, abs_tol=0.0) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert_close(g, w, ulps=ulps, abs_tol=abs_tol, signed_zero=False, what=f"item {i}")


# ----- neurons, layers, MLPs -----

W, B = [0.5, -1.25, 2.0], 0.75
# Dyadic inputs: w·x + b is exact, so identity, relu and leaky_relu must match torch exactly.
INPUTS = {"positive": [1.5, -0.5, 0.25], "negative": [-1.5, 0.5, -0.25]}


@pytest.mark.parametrize("sign", INPUTS)
@pytest.mark.parametrize("activation", TORCH_ACTIVATIONS)
def test_neuron_matches_torch(activation: str, sign: str) -> None:
    xs = INPUTS[sign]
    neuron = Neuron(3, activation, weights=W, bias=B)
    inputs = [Value(x) for x in xs]
    out = neuron(inputs)
    out.backward()

    tw, tb, tx = _leaves(W), _leaves([B])[0], _leaves(xs)
    act = tw[0] * tx[0]
    for wi, xi in zip(tw[1:], tx[1:], strict=True):
        act = act + wi * xi  # the lecture's order, as refimpl: h·w1 + k·w2 + ..., then + b
    tout = TORCH_ACTIVATIONS[activation](act + tb)
    tout.backward()

    smooth = activation in ("sigmoid", "tanh")  # libm vs torch's kernels: a few ULP
    ulps, abs_tol = (4, 8 * EPS) if smooth else (0, 0.0)
    assert_close(out.data, tout.item(), ulps=ulps)
    got = [p.grad for p in neuron.parameters()] + [x.grad for x in inputs]
    want = [t.grad.item() for t in (*tw, tb, *tx)]
    _close_all(got, want, ulps=ulps, abs_tol=abs_tol)


def test_neuron_takes_plain_floats() -> None:
    neuron = Neuron(3, "identity", weights=W, bias=B)
    out = neuron([1.5, -0.5, 0.25])
    out.backward()
    assert out.data == 0.5 * 1.5 + -1.25 * -0.5 + 2.0 * 0.25 + 0.75
    assert [p.grad for p in neuron.parameters()] == [1.5, -0.5, 0.25, 1.0]


def test_layer_is_its_neurons() -> None:
    layer = Layer(3, 2, "relu", seed=3)
    assert len(layer.neurons) == 2
    assert layer.parameters() == [p for n in layer.neurons for p in n.parameters()]
    xs = [0.5, -0.25, 1.0]
    outs = layer(xs)
    for n, out in zip(layer.neurons, outs, strict=True):
        twin = Neuron(3, "relu", weights=[w.data for w in n.w], bias=n.b.data)
        assert out.data == twin(xs).data


def _torch_mlp(mlp: MLP) -> list[torch.nn.Linear]:
    """torch.nn.Linear layers holding the MLP's weights: neuron j of a layer is row j."""
    linears = []
    for layer in mlp.layers:
        lin = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=F64)
        with torch.no_grad():
            lin.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=F64)
            )
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=F64))
        linears.append(lin)
    return linears


def _torch_forward(
    linears: list[torch.nn.Linear], acts: Sequence[str], x: torch.Tensor
) -> torch.Tensor:
    for lin, act in zip(linears, acts, strict=True):
        x = TORCH_ACTIVATIONS[act](lin(x))
    return x


def _in_refimpl_order(linears: list[torch.nn.Linear], *, grads: bool = False) -> list[float]:
    """torch's weights (or their gradients) in refimpl's order: per neuron, weights then bias."""
    out = []
    for lin in linears:
        w, b = (lin.weight.grad, lin.bias.grad) if grads else (lin.weight, lin.bias)
        for j in range(lin.out_features):
            out += [*w[j].tolist(), b[j].item()]
    return out


DATA_RNG = random.Random(1)
X = [[DATA_RNG.uniform(-1, 1) for _ in range(3)] for _ in range(8)]
Y = [DATA_RNG.uniform(-1, 1) for _ in range(8)]
ACTS = ["tanh", "tanh", "identity"]
# torch.nn.Linear sums w·x in its own order (addmm), refimpl left to right: results differ by
# rounding, a few EPS in absolute terms for these O(1) numbers.
ABS = 8 * EPS


def test_mlp_forward_and_gradients_match_torch_linear() -> None:
    mlp = MLP(3, [4, 4, 1], "tanh", seed=0)
    assert [n.activation for layer in mlp.layers for n in layer.neurons[:1]] == ACTS
    assert len(mlp.parameters()) == 4 * 4 + 4 * 5 + 1 * 5
    loss = mse_loss([mlp(x)[0] for x in X], Y)
    loss.backward()

    linears = _torch_mlp(mlp)
    out = _torch_forward(linears, ACTS, torch.tensor(X, dtype=F64)).squeeze(1)
    tloss = F.mse_loss(out, torch.tensor(Y, dtype=F64))
    tloss.backward()
    assert_close(loss.data, tloss.item(), ulps=8, abs_tol=ABS)
    _close_all(
        [p.grad for p in mlp.parameters()],
        _in_refimpl_order(linears, grads=True),
        ulps=8,
        abs_tol=ABS,
    )


def test_sgd_steps_match_torch_optim_sgd() -> None:
    """Five steps of w ← w - lr·g; the weights drift apart by at most a few EPS per step."""
    mlp = MLP(3, [4, 4, 1], "tanh", seed=0)
    linears = _torch_mlp(mlp)
    opt = SGD(mlp.parameters(), lr=0.1)
    topt = torch.optim.SGD([p for lin in linears for p in lin.parameters()], lr=0.1)
    before = [p.data for p in mlp.parameters()]
    for step in range(1, 6):
        opt.zero_grad()
        mse_loss([mlp(x)[0] for x in X], Y).backward()
        opt.step()
        topt.zero_grad()
        out = _torch_forward(linears, ACTS, torch.tensor(X, dtype=F64)).squeeze(1)
        F.mse_loss(out, torch.tensor(Y, dtype=F64)).backward()
        topt.step()
        got = [p.data for p in mlp.parameters()]
        _close_all(got, _in_refimpl_order(linears), ulps=2 * step, abs_tol=2 * step * ABS)
    assert max(abs(a - b) for a, b in zip(before, got, strict=True)) > 1e-3  # it did move


def test_sgd_step_is_w_minus_lr_g() -> None:
    w = Value(2.0)
    w.grad = 0.5
    SGD([w], lr=0.01).step()
    assert w.data == 2.0 - 0.01 * 0.5


def test_zero_grad_clears_every_parameter() -> None:
    mlp = MLP(2, [3, 1], "relu", seed=4)
    squared_error(1.0, mlp([0.5, -0.5])[0]).backward()
    assert any(p.grad != 0.0 for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())
    squared_error(1.0, mlp([0.5, -0.5])[0]).backward()
    opt = SGD(mlp.parameters(), lr=0.1)
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())


def test_set_parameters_round_trips() -> None:
    mlp = MLP(2, [3, 1], seed=4)
    values = [0.125 * i for i in range(len(mlp.parameters()))]
    mlp.set_parameters(values)
    assert [p.data for p in mlp.parameters()] == values


def test_seeded_init_is_reproducible() -> None:
    def weights(seed: int | random.Random) -> list[float]:
        return [p.data for p in MLP(3, [4, 2], "tanh", seed=seed).parameters()]

    assert weights(7) == weights(7) == weights(random.Random(7))
    assert weights(7) != weights(8)
    assert all(-1.0 <= w <= 1.0 for w in weights(7))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Neuron(2, "swish"),
        lambda: Neuron(2, weights=[1.0]),
        lambda: Neuron(2, "tanh", seed=0)([1.0]),
        lambda: Layer(2, 3, "softmax"),
        lambda: MLP(2, [3, 1], activations=["tanh"]),
        lambda: MLP(2, [3, 1], seed=0).set_parameters([1.0]),
        lambda: mse_loss([], []),
        lambda: mse_loss([Value(1.0)], [1.0, 2.0]),
        lambda: binary_cross_entropy([Value(0.5)], []),
        lambda: binary_cross_entropy([], []),
    ],
    ids=[
        "unknown activation",
        "weights count",
        "input count",
        "layer activation",
        "activations count",
        "set_parameters count",
        "mse empty",
        "mse lengths",
        "bce lengths",
        "bce empty",
    ],
)
def test_bad_arguments_raise_value_error(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


# ----- losses -----


def test_squared_error_matches_torch() -> None:
    y_hat = Value(11.0)
    loss = squared_error(10.0, y_hat)
    loss.backward()
    t = _leaves([11.0])[0]
    tloss = F.mse_loss(t, torch.tensor(10.0, dtype=F64))
    tloss.backward()
    assert (loss.data, y_hat.grad) == (tloss.item(), t.grad.item())


@st.composite
def batches(draw: st.DrawFn, *, low: float, high: float, labels: bool = False) -> tuple:
    """(predictions, targets), equally long, 1 to 8 of each; targets in [0, 1] if `labels`."""
    n = draw(st.integers(1, 8))
    x = st.floats(low, high, allow_nan=False)
    targets = st.floats(0.0, 1.0) if labels else x
    return draw(st.lists(x, min_size=n, max_size=n)), draw(
        st.lists(targets, min_size=n, max_size=n)
    )


@given(batches(low=-1e3, high=1e3))
def test_mse_loss_matches_torch(batch: tuple) -> None:
    """Value and gradients for predictions and targets; torch sums in its own order: n ULP."""
    preds, targets = batch
    p, t = [Value(x) for x in preds], [Value(x) for x in targets]
    loss = mse_loss(p, t)
    loss.backward()
    tp, tt = (
        torch.tensor(preds, dtype=F64, requires_grad=True),
        torch.tensor(targets, dtype=F64, requires_grad=True),
    )
    tloss = F.mse_loss(tp, tt)
    tloss.backward()
    assert_close(loss.data, tloss.item(), ulps=len(preds) + 1)
    _close_all([v.grad for v in p], tp.grad.tolist(), ulps=1)
    _close_all([v.grad for v in t], tt.grad.tolist(), ulps=1)


def _bce_both(probs: Sequence[float], labels: Sequence[float]) -> tuple:
    p = [Value(x) for x in probs]
    loss = binary_cross_entropy(p, labels)
    loss.backward()
    tp = torch.tensor(probs, dtype=F64, requires_grad=True)
    tloss = F.binary_cross_entropy(tp, torch.tensor(labels, dtype=F64))
    tloss.backward()
    return loss.data, [v.grad for v in p], tloss.item(), tp.grad.tolist()


@given(batches(low=0.0, high=1.0, labels=True))
def test_binary_cross_entropy_matches_torch(batch: tuple) -> None:
    value, grads, tvalue, tgrads = _bce_both(*batch)
    assert_close(value, tvalue, ulps=len(batch[0]) + 4)
    _close_all(grads, tgrads, ulps=2)


@pytest.mark.parametrize(("p", "y"), [(0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (1.0, 1.0)])
def test_binary_cross_entropy_clamps_each_log_at_minus_100(p: float, y: float) -> None:
    """log 0 = -inf is clamped to -100, so a sure wrong answer costs exactly 100, not inf."""
    value, grads, tvalue, tgrads = _bce_both([p], [y])
    assert_close(value, 100.0 if p != y else 0.0)
    assert_close(value, tvalue)
    _close_all(grads, tgrads)


def test_binary_cross_entropy_small_p_keeps_its_digits() -> None:
    """-log(1 - p) for p = 1e-9 is 1.0000000005e-9: torch's log1p, not log(1 - p)."""
    value, _grads, tvalue, _tgrads = _bce_both([1e-9], [0.0])
    assert_close(value, tvalue, ulps=1)
    assert abs(value - 1.0000000005e-9) < 1e-24
