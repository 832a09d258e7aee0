"""Neuron and network cases: specs, their compilation, the idiomatic torch side, the checker.

The checker must pass correct engines (refimpl, torch, alt, and alt with an optimizer of its own)
on every neuron and network it is given, and fail engines with a wrong activation or loss
derivative, naming the activation or loss in the failing rows' op.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings

from conformance.cases.neurons import (
    KINK_MARGIN,
    NEURON_KINDS,
    P_MIN,
    NetworkSpec,
    NeuronSpec,
    compile_spec,
    model_from_json,
    neuron_case,
    neurons,
    op_label,
    random_network,
    seed_neuron,
    seed_neuron_case,
)
from conformance.cases.strategies import network_specs, neuron_specs
from conformance.checks.neurons import check_neuron
from conformance.core.spec import GraphSpec, SpecError
from conformance.engines import load_engine
from conformance.oracles.nn import torch_net
from conformance.run.pipeline import run_in_process
from refimpl import Value
from refimpl.nn import MLP, SGD, binary_cross_entropy, mse_loss, squared_error
from refimpl.seed import SEED_EXAMPLE
from tests.engines import buggy_nn
from tests.engines.alt import Value as AltValue
from tests.floatcmp import assert_close
from tests.helpers import scalar_engine, sized

CORRECT = {
    "refimpl": lambda: load_engine("refimpl"),
    "torch": lambda: load_engine("torch"),
    "alt": lambda: scalar_engine(AltValue, "alt"),
    "alt+sgd": lambda: scalar_engine(buggy_nn.SgdCorrect, "alt+sgd"),
}


def judge(engine, case) -> list:
    """The rows of one neuron case for an engine object, in process."""
    call = functools.partial(run_in_process, engine)
    return check_neuron(case, engine.name, call(case.spec), call)


def _pre_activations(net: NetworkSpec) -> list[tuple[str, list[float]]]:
    """(activation, every pre-activation on every sample) per layer, in plain floats."""
    out, acts = [], [list(r) for r in net.inputs]
    f = {
        "identity": lambda z: z,
        "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
        "tanh": math.tanh,
        "relu": lambda z: max(z, 0.0),
        "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    }
    for layer in net.layers:
        zs = [[sum(w * x for w, x in zip(r, a)) + b for r, b in zip(layer.weights, layer.biases)]
              for a in acts]  # fmt: skip
        out.append((layer.activation, [z for row in zs for z in row]))
        acts = [[f[layer.activation](z) for z in row] for row in zs]
    return out


# ----- specs -----


@given(neuron_specs())
def test_neuron_specs_round_trip_through_json(spec: NeuronSpec) -> None:
    assert model_from_json(spec.to_json()) == spec
    assert model_from_json(spec.to_json()).to_json() == spec.to_json()


@given(network_specs())
def test_network_specs_round_trip_through_json(spec: NetworkSpec) -> None:
    assert model_from_json(spec.to_json()) == spec


def test_specs_are_frozen() -> None:
    spec = seed_neuron()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.bias = 0.0  # type: ignore[misc]


@given(neuron_specs())
def test_neuron_draws_stay_in_sensible_ranges(spec: NeuronSpec) -> None:
    assert 1 <= len(spec.weights) <= 16
    assert 1 <= len(spec.inputs) <= 8
    if spec.loss == "se":
        assert len(spec.inputs) == 1
    for activation, zs in _pre_activations(spec.network()):
        if activation in ("relu", "leaky_relu"):
            assert all(abs(z) >= KINK_MARGIN for z in zs)  # never at a kink
        if spec.loss == "bce":
            assert all(P_MIN <= 1 / (1 + math.exp(-z)) <= 1 - P_MIN for z in zs)  # no clamping


@given(network_specs())
def test_network_draws_have_the_promised_shape(spec: NetworkSpec) -> None:
    hidden = spec.layers[:-1]
    assert 1 <= len(hidden) <= 3
    assert all(1 <= len(layer.weights) <= 8 for layer in hidden)
    assert len(spec.layers[-1].weights) == 1
    assert spec.layers[-1].activation == ("sigmoid" if spec.loss == "bce" else "identity")
    for activation, zs in _pre_activations(spec)[:-1]:
        if activation in ("relu", "leaky_relu"):
            assert all(abs(z) >= KINK_MARGIN for z in zs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"loss": "bce"}, "after a sigmoid"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"activation": "softplus"}, "unknown activation"),
        ({"inputs": ((1.0, 2.0), (3.0, 4.0)), "targets": (1.0, 2.0)}, "on one sample"),
        ({"weights": (1.0,)}, "needs 2 weights"),
        ({"targets": (math.nan,)}, "finite"),
        ({"input_names": ("h",)}, "name every input"),
    ],
)
def test_bad_neuron_specs_say_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        dataclasses.replace(seed_neuron(), **change)


def test_a_network_must_end_in_one_unit() -> None:
    net = random_network(3)
    wide = dataclasses.replace(net.layers[-1], weights=net.layers[-1].weights * 2,
                               biases=net.layers[-1].biases * 2)  # fmt: skip
    with pytest.raises(SpecError, match="one unit"):
        dataclasses.replace(net, layers=(*net.layers[:-1], wide))


def test_op_labels_are_short_and_groupable() -> None:
    assert op_label(seed_neuron()) == "neuron:identity/se"
    for seed in range(20):
        label = op_label(random_network(seed))
        kind, rest = label.split(":")
        assert kind == "mlp"
        activations, loss = rest.split("/")
        assert loss in ("mse", "bce")
        assert activations.split(",") == sorted(set(activations.split(",")))


# ----- compilation -----


def test_the_seed_compiles_to_the_lecture_graph() -> None:
    spec = compile_spec(seed_neuron(), lr=0.01)
    assert spec.leaf_names == ("w1", "w2", "b", "h", "k")
    assert spec.leaves == (5.0, -1.0, 3.0, 1.0, -3.0)
    assert spec.formula() == "(10.0 - (((h * w1) + (k * w2)) + b)) ** 2"
    assert spec.step is not None and spec.step.params == (0, 1, 2)
    assert GraphSpec.from_json(spec.to_json()) == spec


def test_network_leaves_are_named_parameters_then_inputs() -> None:
    net = random_network(5)
    names = compile_spec(net).leaf_names
    n_params = len(net.param_values())
    assert names[:n_params] == tuple(net.param_names())
    assert names[0] == "l1.n1.w1" and names[n_params - 1] == f"l{len(net.layers)}.n1.b"
    assert names[n_params:] == tuple(net.input_leaf_names())
    if net.batch > 1:
        assert names[n_params] == "x1[1]" and names[-1] == f"x{net.n_inputs}[{net.batch}]"


# ----- every activation and loss against torch -----


def _refimpl_nn(model) -> tuple[float, list[float], list[float], list[float]]:
    """refimpl.nn's own MLP, losses and SGD, in process: loss, parameter and input gradients,
    and the parameters after one step."""
    net = model.network()
    mlp = MLP(net.n_inputs, [len(layer.weights) for layer in net.layers],
              [layer.activation for layer in net.layers], seed=0)  # fmt: skip
    mlp.set_parameters(net.param_values())
    xs = [[Value(x) for x in row] for row in net.inputs]
    y_hat = [mlp(row)[0] for row in xs]
    if net.loss == "se":
        loss = squared_error(net.targets[0], y_hat[0])
    elif net.loss == "mse":
        loss = mse_loss(y_hat, list(net.targets))
    else:
        loss = binary_cross_entropy(y_hat, list(net.targets))
    loss.backward()
    grads = [p.grad for p in mlp.parameters()]
    input_grads = [x.grad for row in xs for x in row]
    SGD(mlp.parameters(), lr=0.01).step()
    return loss.data, grads, input_grads, [p.data for p in mlp.parameters()]


@pytest.mark.parametrize(("activation", "loss"), NEURON_KINDS)
def test_every_activation_and_loss_against_torch(activation: str, loss: str) -> None:
    """refimpl.nn (its own Neuron, loss and SGD) and the compiled graph, both against torch."""
    from conformance.cases.neurons import random_neuron

    engine = load_engine("refimpl")
    for seed in range(8):
        model = random_neuron(seed, activation=activation, loss=loss)
        want = torch_net(model, 0.01)
        names = model.network().param_names()
        got_loss, grads, input_grads, stepped = _refimpl_nn(model)
        assert_close(got_loss, want.loss, ulps=64, what="loss")
        for name, g in zip(names + model.network().input_leaf_names(), grads + input_grads):
            assert math.isclose(g, want.grads[name], rel_tol=1e-12, abs_tol=1e-15), name
        for a, b in zip(stepped, want.stepped):
            assert math.isclose(a, b, rel_tol=1e-13, abs_tol=1e-15)
        rows = judge(engine, neuron_case("neurons", "t", model))
        assert {r.status for r in rows} == {"pass"}, [r.detail for r in rows if r.status != "pass"]


@given(network_specs())
@settings(max_examples=25)
def test_refimpl_nn_mlps_match_idiomatic_torch(model: NetworkSpec) -> None:
    want = torch_net(model, 0.01)
    got_loss, grads, input_grads, stepped = _refimpl_nn(model)
    assert math.isclose(got_loss, want.loss, rel_tol=1e-12, abs_tol=1e-15)
    for name, g in zip(model.param_names() + model.input_leaf_names(), grads + input_grads):
        assert math.isclose(g, want.grads[name], rel_tol=1e-9, abs_tol=1e-14), name
    for a, b in zip(stepped, want.stepped):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-14)


def test_the_compiled_graph_and_idiomatic_torch_are_independent() -> None:
    """A compilation mistake shows: the graph of one model judged against another's torch."""
    model = seed_neuron()
    other = dataclasses.replace(model, targets=(9.0,))
    case = dataclasses.replace(neuron_case("examples", "x", model), payload=other.to_json())
    rows = judge(load_engine("refimpl"), case)
    assert any(r.check == "loss" and r.status == "fail" for r in rows)


# ----- the seed case -----


def test_the_seed_case_shows_the_lecture_numbers() -> None:
    rows = judge(load_engine("refimpl"), seed_neuron_case())
    by = {(r.check, r.node): r for r in rows}
    assert all(r.status == "pass" for r in rows), [r.detail for r in rows if r.status != "pass"]
    assert (by["value", "y_hat"].expected, by["value", "y_hat"].actual) == (11.0, 11.0)
    assert (by["loss", "L"].expected, by["loss", "L"].actual) == (1.0, 1.0)
    for name, g in SEED_EXAMPLE.grads.items():
        assert (by["grad", name].expected, by["grad", name].actual) == (g, g)
        assert "(the lecture:" in by["grad", name].detail
    for name, w in SEED_EXAMPLE.weights_after_step.items():
        assert math.isclose(by["sign", name].actual, w, rel_tol=1e-12)
    assert by["sign", "w2"].detail.startswith("dL/dw2 = −6 < 0: increase w2;")
    assert by["sign", "w1"].detail.startswith("dL/dw1 = 2 > 0: decrease w1;")
    assert "a step of lr = 0.01 on w2 alone took L from 1 to 0.6724" in by["descent", "w2"].detail
    assert "took L from 1 to 0.6084" in by["descent", "all"].detail  # the lecture's step
    assert (
        "|dL/dw2| = 6 > |dL/dw1| = 2, and its change is larger too" in by["magnitude", "w2"].detail
    )
    assert [r.case for r in rows] == ["seed-neuron"] * len(rows)


def test_the_seed_case_leads_the_examples_suite() -> None:
    from conformance.cases.suites import SUITES, SuiteOptions

    cases = SUITES["examples"](SuiteOptions(seed=0, cases=0, max_nodes=1))
    assert cases[0].case_id == "seed-neuron" and cases[0].kind == "neuron"


# ----- correct engines pass, buggy ones are caught -----


@pytest.mark.parametrize("engine", sorted(CORRECT))
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_engines_pass_every_neuron_and_network(engine: str, seed: int) -> None:
    eng = CORRECT[engine]()
    counts: Counter = Counter()
    cases = neurons(seed, sized(120, 300))
    for case in cases:
        rows = judge(eng, case)
        bad = [r.detail for r in rows if r.status in ("fail", "error")]
        assert not bad, (case.case_id, bad[:3])
        counts.update(r.status for r in rows)
    assert counts["pass"] > 10 * len(cases)
    assert counts["unverified"] <= counts["pass"] // 200


@pytest.mark.slow
@pytest.mark.parametrize("engine", sorted(CORRECT))
def test_correct_engines_pass_thousands_of_neurons_and_networks(engine: str) -> None:
    eng = CORRECT[engine]()
    for seed in (21, 22, 23):
        for case in neurons(seed, 3000):  # 330 neurons and 100 networks a seed
            bad = [r.detail for r in judge(eng, case) if r.status in ("fail", "error")]
            assert not bad, (case.case_id, bad[:3])


BUGGY = {
    # engine class -> the ops (activation or loss) whose cases must fail
    "SigmoidDerivativeIsOutput": {"neuron:sigmoid/se", "neuron:sigmoid/mse", "neuron:sigmoid/bce"},
    "ReluPassesEverything": {"neuron:relu/mse"},
    "SquareForgetsTwo": {f"neuron:{a}/{loss}" for a, loss in NEURON_KINDS if loss != "bce"},
    "LogDerivativeNegated": {"neuron:sigmoid/bce"},
}


@pytest.mark.parametrize("bug", sorted(BUGGY))
def test_wrong_activation_and_loss_derivatives_are_caught(bug: str) -> None:
    eng = scalar_engine(getattr(buggy_nn, bug), bug)
    failing: Counter = Counter()
    for case in neurons(0, 300):
        rows = judge(eng, case)
        failing.update(r.op for r in rows if r.status == "fail" and r.check == "grad")
    neuron_ops = {op for op in failing if op.startswith("neuron:")}
    assert BUGGY[bug] <= neuron_ops, (bug, failing)
    # Only the neurons with the guilty activation or loss fail.
    guilty = {"SigmoidDerivativeIsOutput": "sigmoid", "ReluPassesEverything": "relu",
              "SquareForgetsTwo": "se|mse", "LogDerivativeNegated": "bce"}[bug]  # fmt: skip
    for op in neuron_ops:
        activation, loss = op.removeprefix("neuron:").split("/")
        assert activation in guilty.split("|") or loss in guilty.split("|"), op


def test_a_wrong_loss_derivative_fails_the_seed_case() -> None:
    rows = judge(scalar_engine(buggy_nn.SquareForgetsTwo), seed_neuron_case())
    by = {(r.check, r.node): r for r in rows}
    assert by["grad", "w2"].status == "fail" and by["grad", "w2"].actual == -3.0
    assert "torch computes −6" in by["grad", "w2"].detail
    assert by["magnitude", "w2"].status == "fail"
    assert by["loss", "L"].status == "pass"  # the forward pass is right


def test_engine_errors_and_skips_are_one_row() -> None:
    from tests.engines.hostile import RaisesInTanh

    case = neuron_case("neurons", "t", dataclasses.replace(seed_neuron(), activation="tanh"))
    (row,) = judge(scalar_engine(RaisesInTanh), case)
    assert row.status == "error" and "tanh is not implemented yet" in row.detail

    class NoTanh:
        def __init__(self, x):
            self.data, self.grad = float(x), 0.0

    (row,) = judge(scalar_engine(NoTanh), case)
    assert row.status == "skip"


def test_idiomatic_torch_uses_torchs_own_functions() -> None:
    """The torch side is F.linear and friends: spot-check it against a hand-written nn.Linear."""
    model = random_network(11)
    want = torch_net(model, 0.01)
    layers = []
    for layer in model.layers:
        lin = torch.nn.Linear(len(layer.weights[0]), len(layer.weights), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.weights, dtype=torch.float64))
            lin.bias.copy_(torch.tensor(layer.biases, dtype=torch.float64))
        layers.append(lin)
    x = torch.tensor(model.inputs, dtype=torch.float64)
    acts = {"identity": torch.nn.Identity(), "sigmoid": torch.nn.Sigmoid(),
            "tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU(),
            "leaky_relu": torch.nn.LeakyReLU(0.01)}  # fmt: skip
    for lin, layer in zip(layers, model.layers):
        x = acts[layer.activation](lin(x))
    y = torch.tensor(model.targets, dtype=torch.float64)
    loss_fn = torch.nn.BCELoss() if model.loss == "bce" else torch.nn.MSELoss()
    loss = loss_fn(x.squeeze(-1), y)
    loss.backward()
    assert loss.item() == want.loss
    assert layers[0].weight.grad[0, 0].item() == want.grads["l1.n1.w1"]


@given(neuron_specs())
@settings(max_examples=30)
def test_refimpl_passes_drawn_neurons(model: NeuronSpec) -> None:
    rows = judge(load_engine("refimpl"), neuron_case("neurons", "n", model))
    assert not [r.detail for r in rows if r.status in ("fail", "error")]


@given(network_specs(max_units=4, max_inputs=4, max_batch=4))
@settings(max_examples=20)
def test_refimpl_passes_drawn_networks(model: NetworkSpec) -> None:
    rows = judge(load_engine("refimpl"), neuron_case("neurons", "m", model))
    assert not [r.detail for r in rows if r.status in ("fail", "error")]


def test_the_oracles_sgd_step_is_torch_optim_sgd_bit_for_bit() -> None:
    """nn_oracle.sgd_step applies torch.optim.SGD's own update without building the optimizer."""
    import torch

    from conformance.engines.torch_engine import sgd_step

    gen = torch.Generator().manual_seed(3)
    for lr in (0.01, 0.5, 1e-7):
        a = [torch.randn(5, 3, dtype=torch.float64, generator=gen) for _ in range(3)]
        b = [t.clone() for t in a]
        for ta, tb in zip(a, b):
            ta.grad = torch.randn(ta.shape, dtype=torch.float64, generator=gen)
            tb.grad = ta.grad.clone()
        sgd_step(a, lr)
        torch.optim.SGD(b, lr=lr).step()
        assert all(torch.equal(ta, tb) for ta, tb in zip(a, b))
