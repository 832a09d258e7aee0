"""Neuron and network cases: frozen specs, random draws, and their compilation to a GraphSpec.

A neuron is the lecture's ŷ = σ(x1·w1 + ... + xn·wn + b) with a loss over a mini-batch; a network
is a small MLP whose output layer is one unit. The engine under test never sees these specs: the
suite compiles each one to a GraphSpec of vocabulary ops, so any engine that runs graphs (built
op by op from its own scalar class) is checked on neurons too. Names follow the lecture, 1-based:
weights `w1..wn` and bias `b` of a neuron, `l2.n3.w1` (layer 2, unit 3, weight on input 1) and
`l2.n3.b` in a network; inputs `x1..xn` (or the lecture's `h, k`), `x2[3]` for sample 3 of a batch.

Losses, as compiled (targets are constants, so they get no gradient):
- `se`, the lecture's squared error on one sample: (y − ŷ)²;
- `mse`, the mean squared error over the batch: Σ (ŷ − y)² / m, as torch's `mse_loss`;
- `bce`, binary cross-entropy after a sigmoid: Σ (y·log p + (1 − y)·log(1 − p)) / (−m). The
  draws keep p in [0.05, 0.95], so torch's clamp of the logs at −100 never applies.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass

from conformance.cases.generate import sub_seed
from conformance.core.case import Case
from conformance.core.spec import GraphSpec, Node, SpecError, Step, parse_json
from conformance.core.vocabulary import ACTIVATIONS as ACTIVATION_FORMULAS

__all__ = [
    "ACTIVATIONS",
    "KINKED",
    "KINK_MARGIN",
    "LOSSES",
    "LR",
    "MAX_BATCH",
    "MAX_INPUTS",
    "NEURON_KINDS",
    "P_MIN",
    "SEED_CASE_ID",
    "LayerSpec",
    "Model",
    "NetworkSpec",
    "NeuronSpec",
    "compile_spec",
    "draw_network",
    "draw_neuron",
    "model_from_dict",
    "model_from_json",
    "model_id",
    "neuron_at",
    "neuron_case",
    "neuron_count",
    "neurons",
    "op_label",
    "prediction_nodes",
    "random_network",
    "random_neuron",
    "seed_neuron",
    "seed_neuron_case",
]

ACTIVATIONS = tuple(ACTIVATION_FORMULAS)
LOSSES = ("se", "mse", "bce")
# Every activation with every loss it goes with: bce comes after a sigmoid only.
NEURON_KINDS = (*((a, loss) for loss in ("se", "mse") for a in ACTIVATIONS), ("sigmoid", "bce"))
KINKED = ("relu", "leaky_relu")
# Draws keep every relu / leaky relu input this far from the kink at 0, far beyond the nudges of
# the magnitude check (a nudge that crosses it anyway is reported, not judged).
KINK_MARGIN = 0.05
# Draws keep sigmoid and tanh inputs within these bounds: far from saturation.
SATURATION = {"sigmoid": 8.0, "tanh": 4.0}
# Binary cross-entropy: the output probability stays in [P_MIN, 1 - P_MIN].
P_MIN = 0.05
MAX_INPUTS = 16
MAX_BATCH = 8


# ----- specs -----


def _canonical(d: dict) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class LayerSpec:
    """One fully connected layer: weights[unit][input] (torch's Linear.weight), biases[unit]."""

    activation: str
    weights: tuple[tuple[float, ...], ...]
    biases: tuple[float, ...]

    def to_dict(self) -> dict:
        """Plain data."""
        return {
            "activation": self.activation,
            "weights": [list(row) for row in self.weights],
            "biases": list(self.biases),
        }


@dataclass(frozen=True)
class NetworkSpec:
    """An MLP with a loss over a mini-batch: layers (the last has one unit), inputs, targets."""

    layers: tuple[LayerSpec, ...]
    loss: str
    inputs: tuple[tuple[float, ...], ...]  # one row per sample
    targets: tuple[float, ...]
    input_names: tuple[str, ...] = ()  # the features' names; x1..xn when empty

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_inputs(self) -> int:
        """Features per sample."""
        return len(self.inputs[0])

    @property
    def batch(self) -> int:
        """Samples in the mini-batch."""
        return len(self.inputs)

    def param_names(self) -> list[str]:
        """Every parameter's name, in the order of the compiled graph's leaves."""
        if len(self.layers) == 1:  # a neuron: the lecture's w1..wn, b
            return [f"w{i + 1}" for i in range(self.n_inputs)] + ["b"]
        return [
            name
            for k, layer in enumerate(self.layers)
            for u, row in enumerate(layer.weights)
            for name in [*(f"l{k + 1}.n{u + 1}.w{i + 1}" for i in range(len(row))),
                         f"l{k + 1}.n{u + 1}.b"]
        ]  # fmt: skip

    def param_values(self) -> list[float]:
        """Every parameter's value, in the order of `param_names`."""
        return [v for layer in self.layers for row, b in zip(layer.weights, layer.biases)
                for v in (*row, b)]  # fmt: skip

    def input_leaf_names(self) -> list[str]:
        """Every input's name, sample by sample: x1, x2 (one sample) or x1[1], x2[1], x1[2]..."""
        names = self.input_names or tuple(f"x{i + 1}" for i in range(self.n_inputs))
        if self.batch == 1:
            return list(names)
        return [f"{n}[{s + 1}]" for s in range(self.batch) for n in names]

    def with_params(self, values: list[float]) -> NetworkSpec:
        """The same network with new parameter values (in `param_names` order)."""
        it = iter(values)
        layers = []
        for layer in self.layers:
            rows, biases = [], []
            for row in layer.weights:
                rows.append(tuple(float(next(it)) for _ in row))
                biases.append(float(next(it)))
            layers.append(LayerSpec(layer.activation, tuple(rows), tuple(biases)))
        return NetworkSpec(tuple(layers), self.loss, self.inputs, self.targets, self.input_names)

    def to_dict(self) -> dict:
        """Plain data, with `"type": "network"`."""
        d = {
            "type": "network",
            "layers": [layer.to_dict() for layer in self.layers],
            "loss": self.loss,
            "inputs": [list(row) for row in self.inputs],
            "targets": list(self.targets),
        }
        if self.input_names:
            d["input_names"] = list(self.input_names)
        return d

    def to_json(self) -> str:
        """Canonical JSON: the same spec always gives the same text."""
        return _canonical(self.to_dict())

    def network(self) -> NetworkSpec:
        """Itself: a network is its own network."""
        return self


@dataclass(frozen=True)
class NeuronSpec:
    """The lecture's neuron: σ(w·x + b) on each sample of a batch, with a loss."""

    activation: str
    loss: str
    weights: tuple[float, ...]
    bias: float
    inputs: tuple[tuple[float, ...], ...]
    targets: tuple[float, ...]
    input_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.network()  # validates

    def network(self) -> NetworkSpec:
        """The same neuron as a one-layer, one-unit network (the shape everything else takes)."""
        layer = LayerSpec(self.activation, (tuple(self.weights),), (self.bias,))
        return NetworkSpec((layer,), self.loss, self.inputs, self.targets, self.input_names)

    def to_dict(self) -> dict:
        """Plain data, with `"type": "neuron"`."""
        d = {
            "type": "neuron",
            "activation": self.activation,
            "loss": self.loss,
            "weights": list(self.weights),
            "bias": self.bias,
            "inputs": [list(row) for row in self.inputs],
            "targets": list(self.targets),
        }
        if self.input_names:
            d["input_names"] = list(self.input_names)
        return d

    def to_json(self) -> str:
        """Canonical JSON: the same spec always gives the same text."""
        return _canonical(self.to_dict())


Model = NeuronSpec | NetworkSpec


def _floats(xs) -> tuple[float, ...]:
    return tuple(float(x) for x in xs)


def model_from_dict(d: dict) -> Model:
    """Read what `to_dict` wrote; SpecError says what is wrong."""
    try:
        kind = d["type"]
        rows = tuple(_floats(r) for r in d["inputs"])
        names = tuple(str(n) for n in d.get("input_names", ()))
        if kind == "neuron":
            return NeuronSpec(str(d["activation"]), str(d["loss"]), _floats(d["weights"]),
                              float(d["bias"]), rows, _floats(d["targets"]), names)  # fmt: skip
        if kind == "network":
            layers = tuple(
                LayerSpec(
                    str(x["activation"]),
                    tuple(_floats(r) for r in x["weights"]),
                    _floats(x["biases"]),
                )
                for x in d["layers"]
            )
            return NetworkSpec(layers, str(d["loss"]), rows, _floats(d["targets"]), names)
        raise SpecError(f"unknown model type {kind!r}: neuron or network")
    except SpecError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpecError(f"malformed neuron or network: {type(exc).__name__}: {exc}") from None


def model_from_json(text: str) -> Model:
    """Parse JSON text written by `to_json`."""
    return model_from_dict(parse_json(text))


def _validate(net: NetworkSpec) -> None:
    if not net.layers or not net.inputs or len(net.inputs) != len(net.targets):
        raise SpecError("a network needs layers, and one target per sample")
    if net.loss not in LOSSES:
        raise SpecError(f"unknown loss {net.loss!r}; choose from {', '.join(LOSSES)}")
    width = len(net.inputs[0])
    if width < 1 or any(len(row) != width for row in net.inputs):
        raise SpecError("every sample needs the same, non-zero number of inputs")
    if net.input_names and len(net.input_names) != width:
        raise SpecError("input_names must name every input")
    for k, layer in enumerate(net.layers):
        if layer.activation not in ACTIVATIONS:
            raise SpecError(f"layer {k + 1}: unknown activation {layer.activation!r}")
        if not layer.weights or len(layer.weights) != len(layer.biases):
            raise SpecError(f"layer {k + 1}: one row of weights and one bias per unit")
        if any(len(row) != width for row in layer.weights):
            raise SpecError(f"layer {k + 1}: each unit needs {width} weights")
        width = len(layer.weights)
    if width != 1:
        raise SpecError("the last layer must have one unit: the prediction ŷ")
    values = [*net.param_values(), *(x for r in net.inputs for x in r), *net.targets]
    if not all(math.isfinite(v) for v in values):
        raise SpecError("weights, inputs and targets must be finite")
    if net.loss == "se" and net.batch != 1:
        raise SpecError("the squared error `se` is the lecture's loss on one sample")
    if net.loss == "bce":
        if net.layers[-1].activation != "sigmoid":
            raise SpecError("binary cross-entropy comes after a sigmoid output")
        if not all(0.0 <= y <= 1.0 for y in net.targets):
            raise SpecError("binary cross-entropy targets lie in [0, 1]")


def op_label(model: Model) -> str:
    """The `op` column: `neuron:tanh/mse`, or `mlp:relu,tanh/bce` (the hidden activations)."""
    net = model.network()
    if len(net.layers) == 1:
        return f"neuron:{net.layers[0].activation}/{net.loss}"
    hidden = sorted({layer.activation for layer in net.layers[:-1]})
    return f"mlp:{','.join(hidden)}/{net.loss}"


def model_id(model: Model, prefix: str) -> str:
    """A stable case id from the model's content."""
    return f"{prefix}-" + hashlib.sha256(model.to_json().encode()).hexdigest()[:12]


# ----- compilation -----


def compile_spec(model: Model, lr: float | None = None) -> GraphSpec:
    """The loss as a GraphSpec: leaves are the parameters, then the inputs; targets constants.

    With `lr`, the spec asks for one SGD step on the parameters after backward.
    """
    return _compile(model, lr)[0]


def prediction_nodes(model: Model) -> list[int]:
    """The index of each sample's prediction ŷ among the compiled graph's nodes."""
    return [int(ref[1:]) for ref in _compile(model, None)[1]]


def _compile(model: Model, lr: float | None) -> tuple[GraphSpec, list[str]]:
    net = model.network()
    params, inputs = net.param_values(), [x for row in net.inputs for x in row]
    nodes: list[Node] = []
    consts: list[float] = []

    def node(op: str, *args: str) -> str:
        nodes.append(Node(op, args))
        return f"n{len(nodes) - 1}"

    def const(value: float) -> str:
        consts.append(float(value))
        return f"c{len(consts) - 1}"

    width = net.n_inputs
    predictions = []
    for s in range(net.batch):
        acts = [f"x{len(params) + s * width + i}" for i in range(width)]
        leaf = 0
        for layer in net.layers:
            outs = []
            for row in layer.weights:
                # The lecture's order: x1·w1 + x2·w2 + ... + b, summed left to right.
                z = node("mul", acts[0], f"x{leaf}")
                for i in range(1, len(row)):
                    z = node("add", z, node("mul", acts[i], f"x{leaf + i}"))
                z = node("add", z, f"x{leaf + len(row)}")
                leaf += len(row) + 1
                outs.append(z if layer.activation == "identity" else node(layer.activation, z))
            acts = outs
        predictions.append(acts[0])
    _compile_loss(net, predictions, node, const)
    names = (*net.param_names(), *net.input_leaf_names())
    step = None if lr is None else Step(float(lr), tuple(range(len(params))))
    spec = GraphSpec(
        leaves=tuple(params + inputs),
        nodes=tuple(nodes),
        output=f"n{len(nodes) - 1}",
        consts=tuple(consts),
        leaf_names=names,
        step=step,
    )
    return spec, predictions


def _compile_loss(net: NetworkSpec, predictions: list[str], node, const) -> None:
    if net.loss == "se":  # the lecture's (y − ŷ)²
        node("square", node("sub", const(net.targets[0]), predictions[0]))
        return
    terms = []
    for p, y in zip(predictions, net.targets):
        if net.loss == "mse":
            terms.append(node("square", node("sub", p, const(y))))
        elif y == 1.0:
            terms.append(node("log", p))
        elif y == 0.0:
            terms.append(node("log", node("sub", const(1.0), p)))
        else:
            log_p = node("mul", const(y), node("log", p))
            log_q = node("mul", const(1.0 - y), node("log", node("sub", const(1.0), p)))
            terms.append(node("add", log_p, log_q))
    total = terms[0]
    for t in terms[1:]:
        total = node("add", total, t)
    m = float(len(terms))
    node("div", total, const(m if net.loss == "mse" else -m))


# ----- random draws -----


def _activate(name: str, z: float) -> float:
    return ACTIVATION_FORMULAS[name](z)


def _acceptable(name: str, zs: list[float], last_bce: bool) -> bool:
    if last_bce:
        return all(abs(z) <= math.log((1 - P_MIN) / P_MIN) for z in zs)
    if name in KINKED:
        return all(abs(z) >= KINK_MARGIN for z in zs)
    if name in SATURATION:
        return all(abs(z) <= SATURATION[name] for z in zs)
    return all(abs(z) <= 50.0 for z in zs)


def _draw_layer(
    rng: random.Random, acts: list[list[float]], units: int, activation: str, *, last_bce: bool,
    dead: bool = False,
) -> tuple[LayerSpec, list[list[float]]]:  # fmt: skip
    """Weights and biases whose pre-activations, on every sample, sit where the draw wants them."""
    n_in = len(acts[0])
    scale = 1.0 / math.sqrt(n_in)
    rows, biases = [], []
    for _ in range(units):
        for attempt in range(200):
            shrink = 0.5 ** (attempt // 40)  # a saturating draw: smaller weights next time
            row = [rng.uniform(-1.0, 1.0) * scale * shrink for _ in range(n_in)]
            dots = [sum(w * x for w, x in zip(row, a)) for a in acts]
            # dead: a relu that no sample switches on, so its weights get no gradient
            b = -max(dots) - rng.uniform(0.2, 1.0) if dead else rng.uniform(-1.0, 1.0) * shrink
            if _acceptable(activation, [d + b for d in dots], last_bce):
                break
        else:  # pragma: no cover - a zero row always fits
            row, b = [0.0] * n_in, (0.5 if activation in KINKED else 0.0)
        rows.append(tuple(row))
        biases.append(b)
    layer = LayerSpec(activation, tuple(rows), tuple(biases))
    outs = [
        [_activate(activation, sum(w * x for w, x in zip(r, a)) + b) for r, b in zip(rows, biases)]
        for a in acts
    ]
    return layer, outs


def _targets(rng: random.Random, loss: str, activation: str, batch: int) -> tuple[float, ...]:
    if loss == "bce":  # mostly hard labels, sometimes soft ones
        return tuple(
            float(rng.random() < 0.5) if rng.random() < 0.8 else rng.uniform(0.05, 0.95)
            for _ in range(batch)
        )
    low, high = {"sigmoid": (0.05, 0.95), "tanh": (-0.9, 0.9), "relu": (0.0, 2.0),
                 "leaky_relu": (-0.5, 2.0)}.get(activation, (-2.0, 2.0))  # fmt: skip
    return tuple(rng.uniform(low, high) for _ in range(batch))


def _inputs(rng: random.Random, n_inputs: int, batch: int) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(rng.uniform(-2.0, 2.0) for _ in range(n_inputs)) for _ in range(batch))


def draw_neuron(
    rng: random.Random, *, n_inputs: int, activation: str, loss: str, batch: int,
    dead: bool = False,
) -> NeuronSpec:  # fmt: skip
    """A neuron of this shape with values from `rng`; `dead`: a relu off for every sample."""
    if loss == "bce":
        activation = "sigmoid"
    if loss == "se":
        batch = 1
    inputs = _inputs(rng, n_inputs, batch)
    layer, _ = _draw_layer(
        rng, [list(r) for r in inputs], 1, activation, last_bce=loss == "bce",
        dead=dead and activation == "relu",
    )  # fmt: skip
    return NeuronSpec(
        activation, loss, layer.weights[0], layer.biases[0], inputs,
        _targets(rng, loss, activation, batch),
    )  # fmt: skip


def draw_network(
    rng: random.Random, *, n_inputs: int, hidden: tuple[int, ...],
    activations: tuple[str, ...], loss: str, batch: int,
) -> NetworkSpec:  # fmt: skip
    """An MLP of this shape: hidden layers with these activations, one output unit."""
    if loss not in ("mse", "bce"):
        raise ValueError("a network's loss is mse or bce")
    inputs = _inputs(rng, n_inputs, batch)
    acts = [list(r) for r in inputs]
    layers = []
    for units, activation in zip(hidden, activations):
        dead = activation == "relu" and rng.random() < 0.1
        layer, acts = _draw_layer(rng, acts, units, activation, last_bce=False, dead=dead)
        layers.append(layer)
    out_act = "sigmoid" if loss == "bce" else "identity"
    layer, _ = _draw_layer(rng, acts, 1, out_act, last_bce=loss == "bce")
    layers.append(layer)
    return NetworkSpec(tuple(layers), loss, inputs, _targets(rng, loss, out_act, batch))


def random_neuron(
    seed: int, *, activation: str | None = None, loss: str | None = None, dead: bool | None = None
) -> NeuronSpec:
    """A neuron whose values, and whatever of its kind is not given, all come from `seed`."""
    rng = random.Random(seed)
    loss = loss or rng.choice(LOSSES)
    activation = "sigmoid" if loss == "bce" else activation or rng.choice(ACTIVATIONS)
    n_inputs = rng.randint(1, MAX_INPUTS)
    batch = 1 if loss == "se" else rng.randint(2, MAX_BATCH)
    if dead is None:
        dead = activation == "relu" and rng.random() < 0.15
    return draw_neuron(
        rng, n_inputs=n_inputs, activation=activation, loss=loss, batch=batch, dead=dead
    )


def random_network(seed: int, *, max_units: int = 8, max_inputs: int = 8) -> NetworkSpec:
    """An MLP of 1–3 hidden layers of 1–`max_units` units, mixed activations, from `seed`."""
    rng = random.Random(seed)
    depth = rng.randint(1, 3)
    return draw_network(
        rng,
        n_inputs=rng.randint(1, max_inputs),
        hidden=tuple(rng.randint(1, max_units) for _ in range(depth)),
        activations=tuple(rng.choice(ACTIVATIONS) for _ in range(depth)),
        loss=rng.choice(("mse", "bce")),
        batch=rng.randint(1, MAX_BATCH),
    )


def seed_neuron() -> NeuronSpec:
    """The lecture's worked example: h = 1, k = −3, y = 10, w1 = 5, w2 = −1, b = 3."""
    from refimpl.seed import SEED_EXAMPLE as ex

    return NeuronSpec(
        "identity", "se", (ex.weights["w1"], ex.weights["w2"]), ex.weights["b"],
        ((ex.inputs["h"], ex.inputs["k"]),), (ex.target,), tuple(ex.inputs),
    )  # fmt: skip


LR = 0.01  # the lecture's learning rate
SEED_CASE_ID = "seed-neuron"
# Per 100 of --cases, one neuron of every kind (activation and loss); per 30, one network.
# By default: 3 of each of the 11 kinds (the last relu ones dead on every sample), 10 networks.
NEURON_EVERY, NETWORK_EVERY = 100, 30


def neuron_case(suite: str, case_id: str, model: Model, lr: float = LR) -> Case:
    """A case of kind `neuron`: the compiled loss with a step, the model as the payload."""
    spec = compile_spec(model, lr)
    return Case(suite, case_id, spec, op_label(model), kind="neuron", payload=model.to_json())


def seed_neuron_case() -> Case:
    """The lecture's worked example as the fixed case `seed-neuron` of the `examples` suite."""
    from refimpl.seed import SEED_EXAMPLE

    return neuron_case("examples", SEED_CASE_ID, seed_neuron(), SEED_EXAMPLE.lr)


def neurons(seed: int, cases: int) -> list[Case]:
    """Random neurons of every activation and loss, then random networks, each from its own
    sub-seed: the first N cases of a larger run are the cases of a smaller one."""
    return [neuron_at(seed, cases, j) for j in range(neuron_count(cases))]


def neuron_count(cases: int) -> int:
    """How many cases `neurons(seed, cases)` has: single neurons of every kind, then networks."""
    return len(NEURON_KINDS) * max(1, cases // NEURON_EVERY) + cases // NETWORK_EVERY


def neuron_at(seed: int, cases: int, j: int) -> Case:
    """The j-th case of `neurons(seed, cases)`, built alone from its own sub-seeds (a `--jobs`
    checker builds only the cases it checks)."""
    points = max(1, cases // NEURON_EVERY)
    kinds = len(NEURON_KINDS) * points
    if j < kinds:
        (activation, loss), i = NEURON_KINDS[j // points], j % points
        dead = activation == "relu" and i == points - 1  # a dead relu, on purpose
        s = sub_seed(seed, "neuron", activation, loss, i)
        model = random_neuron(s, activation=activation, loss=loss, dead=dead)
        return neuron_case("neurons", model_id(model, "n"), model)
    i = j - kinds
    model = random_network(sub_seed(seed, "network", i))
    lr = random.Random(sub_seed(seed, "network-lr", i)).choice((0.1, 0.01, 0.001))
    return neuron_case("neurons", model_id(model, "m"), model, lr)
