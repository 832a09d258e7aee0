"""Suite `training`: small networks, each trained K steps by the engine and by torch.optim.SGD."""

from __future__ import annotations

import json
import random

from conformance.cases.generate import sub_seed
from conformance.cases.neurons import (
    Model,
    compile_spec,
    draw_network,
    draw_neuron,
    model_id,
    op_label,
)
from conformance.core.case import Case
from conformance.core.options import DEFAULT_STEPS

__all__ = ["DEFAULT_STEPS", "SHAPES", "TRAINING_CASES", "training", "training_case"]

TRAINING_CASES = 4

# The networks of the suite: small, so that K steps are quick, and with a visible loss curve. The
# relu one needs only + − * ** relu, so a micrograd-style engine is trained too.
SHAPES = (
    {"hidden": (), "activations": (), "loss": "mse"},
    {"hidden": (4,), "activations": ("relu",), "loss": "mse"},
    {"hidden": (4, 3), "activations": ("relu", "sigmoid"), "loss": "bce"},
    {"hidden": (3, 3), "activations": ("leaky_relu", "tanh"), "loss": "mse"},
)


def training_case(model: Model, lr: float, steps: int) -> Case:
    """A case of kind `training`: the model's first step, and the model and steps as payload."""
    payload = json.dumps({"model": model.to_dict(), "steps": steps}, sort_keys=True)
    return Case(
        "training", model_id(model, "t"), compile_spec(model, lr), op_label(model),
        kind="training", payload=payload,
    )  # fmt: skip


def training(seed: int, steps: int = DEFAULT_STEPS) -> list[Case]:
    """TRAINING_CASES small networks (a neuron, then MLPs), each from its own sub-seed."""
    out = []
    for i in range(TRAINING_CASES):
        rng = random.Random(sub_seed(seed, "training", i))
        shape = SHAPES[i % len(SHAPES)]
        model = draw_network_or_neuron(rng, shape)
        out.append(training_case(model, rng.choice((0.1, 0.05)), steps))
    return out


def draw_network_or_neuron(rng: random.Random, shape: dict) -> Model:
    """A model of `shape`: with no hidden layer, a neuron (tanh, mean squared error)."""
    n_inputs, batch = rng.randint(2, 4), rng.randint(4, 8)
    if not shape["hidden"]:
        return draw_neuron(rng, n_inputs=n_inputs, activation="tanh", loss="mse", batch=batch)
    return draw_network(
        rng, n_inputs=n_inputs, hidden=shape["hidden"], activations=shape["activations"],
        loss=shape["loss"], batch=batch,
    )  # fmt: skip
