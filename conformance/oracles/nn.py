"""The idiomatic torch side of neuron and network cases, built independently of the compiled graph.

`F.linear` with the spec's weights, torch's own activations (`torch.sigmoid`, `torch.tanh`,
`F.relu`, `F.leaky_relu`) and loss functions (`F.mse_loss`, `F.binary_cross_entropy`), float64,
and `torch.optim.SGD` for the steps. None of it reads the GraphSpec the engine runs, so a mistake
in the compilation would show as a disagreement, not hide in both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from conformance.cases.neurons import KINKED, Model, NetworkSpec
from conformance.core.vocabulary import LEAKY_SLOPE
from conformance.engines.torch_engine import sgd_step

__all__ = ["TorchNet", "batched_losses", "torch_net", "torch_sgd", "torch_training"]

DTYPE = torch.float64
ACTIVATION: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda t: t,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, LEAKY_SLOPE),
}


@dataclass(frozen=True)
class TorchNet:
    """torch's loss, predictions and the gradient of every parameter and input, by leaf name."""

    loss: float
    predictions: tuple[float, ...]
    grads: dict[str, float]
    stepped: tuple[float, ...]  # the parameters after one torch.optim.SGD step of `lr`


def _tensors(net: NetworkSpec, values: Sequence[float]) -> list[torch.Tensor]:
    """[W1, b1, W2, b2, ...] as leaf tensors, from parameters in `param_names` order."""
    out, at = [], 0
    for layer in net.layers:
        n_in = len(layer.weights[0])
        block = torch.tensor(values[at : at + len(layer.weights) * (n_in + 1)], dtype=DTYPE)
        block = block.reshape(len(layer.weights), n_in + 1)
        at += block.numel()
        out += [block[:, :n_in].clone().requires_grad_(), block[:, n_in].clone().requires_grad_()]
    return out


def _flat(tensors: list[torch.Tensor], grads: bool = False) -> list[float]:
    """Back to `param_names` order: each unit's weights, then its bias."""
    values = []
    for w, b in zip(tensors[::2], tensors[1::2]):
        w, b = (w.grad, b.grad) if grads else (w, b)
        values += torch.cat([w, b.unsqueeze(1)], dim=1).reshape(-1).tolist()
    return values


def _loss(name: str, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if name == "bce":
        return F.binary_cross_entropy(y_hat, y)
    return F.mse_loss(y_hat, y)  # `se` is the same on its one sample: (ŷ − y)² = (y − ŷ)²


def _forward(net: NetworkSpec, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    a = x
    for layer, w, b in zip(net.layers, params[::2], params[1::2]):
        a = ACTIVATION[layer.activation](F.linear(a, w, b))
    return a.squeeze(-1)


def torch_net(model: Model, lr: float) -> TorchNet:
    """Forward, backward and one torch.optim.SGD step, the way one writes it in torch."""
    net = model.network()
    params = _tensors(net, net.param_values())
    x = torch.tensor(net.inputs, dtype=DTYPE, requires_grad=True)
    y = torch.tensor(net.targets, dtype=DTYPE)
    y_hat = _forward(net, params, x)
    loss = _loss(net.loss, y_hat, y)
    loss.backward()
    names = net.param_names() + net.input_leaf_names()
    values = _flat(params, grads=True) + x.grad.reshape(-1).tolist()
    sgd_step(params, lr)
    return TorchNet(
        loss=loss.item(),
        predictions=tuple(y_hat.tolist()),
        grads=dict(zip(names, values)),
        stepped=tuple(_flat(params)),
    )


def torch_sgd(model: Model, grads: Sequence[float], lr: float) -> list[float]:
    """The parameters after torch.optim.SGD steps once on the given gradients."""
    net = model.network()
    params = _tensors(net, net.param_values())
    for p, g in zip(params, _tensors(net, grads)):
        p.grad = g.detach()
    sgd_step(params, lr)
    return _flat(params)


def batched_losses(model: Model, thetas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss at each row of parameters `thetas` (B, P), and which side of its kink each relu
    and leaky relu input is on (B, K), all in one batched pass (torch.baddbmm, the losses with
    reduction="none")."""
    net = model.network()
    n = thetas.shape[0]
    a = torch.tensor(net.inputs, dtype=DTYPE).expand(n, -1, -1)
    y = torch.tensor(net.targets, dtype=DTYPE).expand(n, -1)
    sides, at = [], 0
    with torch.no_grad():
        for layer in net.layers:
            units, n_in = len(layer.weights), len(layer.weights[0])
            block = thetas[:, at : at + units * (n_in + 1)].reshape(n, units, n_in + 1)
            at += units * (n_in + 1)
            z = torch.baddbmm(block[:, :, n_in].unsqueeze(1), a, block[:, :, :n_in].transpose(1, 2))
            if layer.activation in KINKED:
                sides.append((z > 0).reshape(n, -1))
            a = ACTIVATION[layer.activation](z)
        y_hat = a.squeeze(-1)
        if net.loss == "bce":
            losses = F.binary_cross_entropy(y_hat, y, reduction="none").mean(-1)
        else:
            losses = F.mse_loss(y_hat, y, reduction="none").mean(-1)
    side = torch.cat(sides, dim=1) if sides else torch.zeros(n, 0, dtype=torch.bool)
    return losses, side


@dataclass(frozen=True)
class Trajectory:
    """A training run: the loss before each step and the parameters after each step."""

    losses: tuple[float, ...]  # steps + 1: before every step, and after the last
    params: tuple[tuple[float, ...], ...]  # steps + 1: the start, then after every step


Nudge = Callable[[int, list[float]], list[float]]


def torch_training(model: Model, lr: float, steps: int, nudge: Nudge | None = None) -> Trajectory:
    """`steps` steps of SGD (torch.optim.SGD's update) on the whole batch; `nudge(k, params)`
    may move the parameters before step k (the rounding envelope's perturbed runs)."""
    net = model.network()
    values = net.param_values()
    if nudge is not None:
        values = nudge(0, values)
    params = _tensors(net, values)
    x = torch.tensor(net.inputs, dtype=DTYPE)
    y = torch.tensor(net.targets, dtype=DTYPE)
    losses, history = [], [tuple(values)]
    for k in range(steps + 1):
        for p in params:
            p.grad = None
        loss = _loss(net.loss, _forward(net, params, x), y)
        losses.append(loss.item())
        if k == steps:
            break
        loss.backward()
        sgd_step(params, lr)
        values = _flat(params)
        if nudge is not None:
            values = nudge(k + 1, values)
            with torch.no_grad():
                for p, v in zip(params, _tensors(net, values)):
                    p.copy_(v)
        history.append(tuple(values))
    return Trajectory(tuple(losses), tuple(history))
