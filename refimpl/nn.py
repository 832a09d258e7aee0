"""Neurons, layers, multi-layer perceptrons, losses and plain SGD, built from `Value`."""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from refimpl.engine import Value
from refimpl.floatops import flog, flog1p

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SGD",
    "Layer",
    "Module",
    "Neuron",
    "binary_cross_entropy",
    "mse_loss",
    "squared_error",
]

Number = float | int
Scalar = Value | float

# Activation name -> what it does to a Value. "identity" is the lecture's σ(x) = x.
ACTIVATIONS = {
    "identity": lambda v: v,
    "sigmoid": Value.sigmoid,
    "tanh": Value.tanh,
    "relu": Value.relu,
    "leaky_relu": Value.leaky_relu,
}


class Module:
    """Something with parameters: `parameters()` and `zero_grad()`."""

    def parameters(self) -> list[Value]:
        """Every trainable Value, in a fixed order."""
        return []

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def set_parameters(self, values: Sequence[Number]) -> None:
        """Overwrite the parameters' data, in the order of `parameters()`."""
        params = self.parameters()
        if len(values) != len(params):
            raise ValueError(f"expected {len(params)} parameter values, got {len(values)}")
        for p, v in zip(params, values):
            p.data = float(v)


class Neuron(Module):
    """σ(w·x + b) for one of ACTIVATIONS; weights given, or uniform in [-1, 1] from `seed`."""

    def __init__(
        self,
        n_inputs: int,
        activation: str = "tanh",
        *,
        weights: Sequence[Number] | None = None,
        bias: Number | None = None,
        seed: int | random.Random | None = None,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        if weights is None:
            weights = [rng.uniform(-1, 1) for _ in range(n_inputs)]
        if len(weights) != n_inputs:
            raise ValueError(f"expected {n_inputs} weights, got {len(weights)}")
        self.w = [Value(w) for w in weights]
        self.b = Value(rng.uniform(-1, 1) if bias is None else bias)
        self.activation = activation

    def __call__(self, x: Sequence[Scalar]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"expected {len(self.w)} inputs, got {len(x)}")
        # The lecture's order: h·w1 + k·w2 + b, summed left to right, then the activation.
        act = self.w[0] * x[0] if isinstance(x[0], Value) else self.w[0] * float(x[0])
        for wi, xi in zip(self.w[1:], x[1:]):
            act = act + wi * xi
        return ACTIVATIONS[self.activation](act + self.b)

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"Neuron({len(self.w)}, activation={self.activation!r})"


class Layer(Module):
    """`n_outputs` neurons that read the same inputs."""

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        activation: str = "tanh",
        *,
        seed: int | random.Random | None = None,
    ) -> None:
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.neurons = [Neuron(n_inputs, activation, seed=rng) for _ in range(n_outputs)]

    def __call__(self, x: Sequence[Scalar]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer([{', '.join(map(repr, self.neurons))}])"


class MLP(Module):
    """Layers in sequence: `MLP(3, [4, 4, 1], activations=["tanh", "tanh", "identity"])`."""

    def __init__(
        self,
        n_inputs: int,
        sizes: Sequence[int],
        activations: str | Sequence[str] = "tanh",
        *,
        seed: int | random.Random | None = None,
    ) -> None:
        if isinstance(activations, str):
            # One name for the hidden layers; the last layer stays linear, as usual for regression.
            activations = [activations] * (len(sizes) - 1) + ["identity"]
        if len(activations) != len(sizes):
            raise ValueError(f"expected {len(sizes)} activations, got {len(activations)}")
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        widths = [n_inputs, *sizes]
        self.layers = [
            Layer(widths[i], widths[i + 1], activations[i], seed=rng) for i in range(len(sizes))
        ]

    def __call__(self, x: Sequence[Scalar]) -> list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP([{', '.join(map(repr, self.layers))}])"


def squared_error(y: Scalar, y_hat: Scalar) -> Value:
    """The lecture's loss for one sample: (y - ŷ)**2."""
    return (y - y_hat) ** 2


def mse_loss(y_hat: Sequence[Scalar], y: Sequence[Scalar]) -> Value:
    """Mean squared error over a batch, as torch's `mse_loss(input, target)`."""
    if not y_hat or len(y_hat) != len(y):
        raise ValueError(f"need two equally long, non-empty batches, got {len(y_hat)} and {len(y)}")
    total = None
    for p, t in zip(y_hat, y):
        term = (p - t) ** 2
        total = term if total is None else total + term
    return total / len(y_hat)


def binary_cross_entropy(p: Sequence[Value], y: Sequence[Number]) -> Value:
    """Mean of -(y·log p + (1 - y)·log(1 - p)), each log clamped at -100, as torch does."""
    if not p or len(p) != len(y):
        raise ValueError(f"need two equally long, non-empty batches, got {len(p)} and {len(y)}")
    total: Value | float = 0.0  # torch's sum starts at +0.0: all terms -0.0 still sum to 0.0
    for pi, yi in zip(p, y):
        total = total + _bce_term(pi, float(yi))
    return total / len(p)


# torch's floor under p·(1 - p) in the derivative: 1e-12 stored as a float32, 9.99999996e-13.
_BCE_EPS = struct.unpack("f", struct.pack("f", 1e-12))[0]


def _bce_term(p: Value, y: float) -> Value:
    """One sample's loss as ONE node, with torch's own forward and derivative formulas.

    torch's binary_cross_entropy is a fused op: log(1 - p) is log1p(-p) (exact for small p, where
    log(1 - p) loses digits), and its derivative is (p - y) / max(p·(1 - p), ε), finite at
    p = 0 or 1. Composed from log and clamp_min, p = 1 would give 0·inf = nan instead.
    """
    x = p.data
    log_p = max(flog(x), -100.0)
    log_q = max(flog1p(-x), -100.0)
    value = (y - 1.0) * log_q - y * log_p
    return Value(value, (p,), ((x - y) / max((1.0 - x) * x, _BCE_EPS),), "binary_cross_entropy")


class SGD:
    """Plain gradient descent: w ← w - lr·dL/dw for every parameter."""

    def __init__(self, params: Sequence[Value], lr: float) -> None:
        self.params = list(params)
        self.lr = float(lr)

    def step(self) -> None:
        """Move every parameter against its gradient."""
        for p in self.params:
            p.data -= self.lr * p.grad

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 before the next backward()."""
        for p in self.params:
            p.grad = 0.0
