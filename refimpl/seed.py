"""The lecture's worked example, in one place: its inputs, its expected numbers, and a run of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from refimpl.engine import Value
from refimpl.nn import SGD, Neuron, squared_error

__all__ = ["SEED_EXAMPLE", "SeedExample", "run_seed_example"]


@dataclass(frozen=True)
class SeedExample:
    """ŷ = h·w1 + k·w2 + b (identity activation), L = (y - ŷ)**2, one SGD step with `lr`."""

    inputs: dict = field(default_factory=lambda: {"h": 1.0, "k": -3.0})
    target: float = 10.0
    weights: dict = field(default_factory=lambda: {"w1": 5.0, "w2": -1.0, "b": 3.0})
    lr: float = 0.01
    # What the lecture computes by hand.
    y_hat: float = 11.0
    loss: float = 1.0
    grads: dict = field(
        default_factory=lambda: {"w1": 2.0, "w2": -6.0, "b": 2.0, "h": 10.0, "k": -2.0}
    )
    weights_after_step: dict = field(default_factory=lambda: {"w1": 4.98, "w2": -0.94, "b": 2.98})
    y_hat_after_step: float = 10.78
    loss_after_step: float = 0.6084


SEED_EXAMPLE = SeedExample()


def run_seed_example(example: SeedExample = SEED_EXAMPLE) -> dict:
    """Forward, backward and one SGD step with refimpl; returns every number the lecture shows."""
    h, k = Value(example.inputs["h"]), Value(example.inputs["k"])
    w = example.weights
    neuron = Neuron(2, "identity", weights=[w["w1"], w["w2"]], bias=w["b"])
    y_hat = neuron([h, k])
    loss = squared_error(example.target, y_hat)
    loss.backward()
    w1, w2, b = neuron.parameters()
    grads = {"w1": w1.grad, "w2": w2.grad, "b": b.grad, "h": h.grad, "k": k.grad}
    SGD(neuron.parameters(), lr=example.lr).step()
    y_hat_after = neuron([h, k])
    return {
        "y_hat": y_hat.data,
        "loss": loss.data,
        "grads": grads,
        "weights_after_step": {"w1": w1.data, "w2": w2.data, "b": b.data},
        "y_hat_after_step": y_hat_after.data,
        "loss_after_step": squared_error(example.target, y_hat_after).data,
    }
