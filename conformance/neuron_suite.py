"""Suite `neurons` and the fixed case `seed-neuron`: the checker of neuron and network cases.

The engine runs the compiled GraphSpec (its own scalar class, op by op) with one SGD step asked
for; torch builds the same model the idiomatic way (`conformance.nn_oracle`). Rows: the loss, the
prediction ŷ (one-sample cases), the gradient of every parameter and input, then the lecture's
sign-and-update checks of every parameter (`conformance.signs`).

Tolerances: the running error bound of the compiled graph (`conformance.tolerance`, from torch's
node values on that graph) bounds what a correct engine may differ from torch by; the expected
values are the idiomatic build's, whose different summation order the bound's safety factor
covers (measured: the largest error of refimpl and alt is within 4% of the bound over 2,500
cases). Finite differences on the compiled graph check torch's gradients: where they disagree,
the row is `unverified`.
"""

from __future__ import annotations

import random

from conformance.checkers import EngineCall, checker
from conformance.compare import (
    Case,
    agree,
    errors,
    grad_verdict,
    oracles_agree,
    precision_note,
    within_precision,
)
from conformance.engines.result import EngineResult
from conformance.generate import sub_seed
from conformance.neurons import (
    NEURON_KINDS,
    Model,
    compile_spec,
    model_from_json,
    model_id,
    op_label,
    prediction_nodes,
    random_network,
    random_neuron,
    seed_neuron,
)
from conformance.nn_oracle import torch_net
from conformance.numfmt import pair
from conformance.oracle import finite_differences, torch_reference
from conformance.records import Record
from conformance.signs import StepContext, sign_and_update_rows
from conformance.tolerance import bounds

__all__ = ["LR", "SEED_CASE_ID", "check_neuron", "neuron_case", "neurons", "seed_neuron_case"]

LR = 0.01  # the lecture's learning rate
SEED_CASE_ID = "seed-neuron"
# Per 100 of --cases, one neuron of every kind (activation and loss); per 30, one network.
# By default: 3 of each of the 11 kinds (the last relu ones dead on every sample), 10 networks.
NEURON_EVERY, NETWORK_EVERY = 100, 30
TORCH_LOSS = {"se": "F.mse_loss", "mse": "F.mse_loss", "bce": "F.binary_cross_entropy"}


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
    out = []
    points = max(1, cases // NEURON_EVERY)
    for activation, loss in NEURON_KINDS:
        for i in range(points):
            dead = activation == "relu" and i == points - 1  # a dead relu, on purpose
            s = sub_seed(seed, "neuron", activation, loss, i)
            model = random_neuron(s, activation=activation, loss=loss, dead=dead)
            out.append(neuron_case("neurons", model_id(model, "n"), model))
    for i in range(cases // NETWORK_EVERY):
        model = random_network(sub_seed(seed, "network", i))
        lr = random.Random(sub_seed(seed, "network-lr", i)).choice((0.1, 0.01, 0.001))
        out.append(neuron_case("neurons", model_id(model, "m"), model, lr))
    return out


def _g(x: float) -> str:
    return f"{x:.6g}".replace("-", "−")


def _lecture(case: Case) -> dict:
    """The lecture's own numbers for the seed case, for the remarks."""
    if case.case_id != SEED_CASE_ID:
        return {}
    from refimpl.seed import SEED_EXAMPLE as ex

    return {"L": ex.loss, "y_hat": ex.y_hat, **ex.grads}


@checker("neuron")
def check_neuron(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """Loss, ŷ and every gradient against the idiomatic torch build; then the sign rows."""
    spec = case.spec

    def row(check, node, expected, actual, tolerance, status, detail, fd=None) -> Record:
        both = expected is not None and actual is not None
        abs_err, rel_err, ulp = errors(expected, actual) if both else (None, None, None)
        return Record(
            case.suite, case.case_id, engine, check, node, case.op, expected, actual, fd,
            abs_err, rel_err, ulp, tolerance, status, detail, case.reproduce,
            kind="precision" if status == "differs" else "",
        )  # fmt: skip

    if result.skip:
        return [row("run", "", None, None, None, "skip", f"skipped: {result.skip}")]
    if result.error:
        return [row("run", "", None, None, None, "error", f"the engine {result.error}")]
    if len(result.grads) != len(spec.leaves):
        why = f"returned {len(result.grads)} gradients for {len(spec.leaves)} leaves"
        return [row("run", "", None, None, None, "error", f"the engine {why}")]

    model = model_from_json(case.payload)
    net = model.network()
    lr = spec.step.lr
    torch_side = torch_net(model, lr)
    reference = torch_reference(spec)
    tol = bounds(spec, reference.node_values)
    fd = finite_differences(spec)
    lecture = _lecture(case)

    def said(key: str) -> str:
        return f" (the lecture: {_g(lecture[key])})" if key in lecture else ""

    rows = []
    loss_fn = TORCH_LOSS[net.loss]
    exp, act = torch_side.loss, result.value
    loose: list = []  # the precision bound, only when a row needs it

    def precision():
        if not loose:
            loose.append(bounds(spec, reference.node_values, precision=True))
        return loose[0]

    if agree(exp, act, tol.value):
        rows.append(row("loss", "L", exp, act, tol.value, "pass",
                        f"L = {_g(act)} matches torch's {loss_fn}{said('L')}"))  # fmt: skip
    elif within_precision(exp, act, tol.value, precision().value):
        a, e = pair(act, exp)
        rows.append(row("loss", "L", exp, act, tol.value, "differs",
                        f"L is {a} where torch's {loss_fn} gives {e}"
                        + precision_note(tol.value, precision().value)))  # fmt: skip
    else:
        rows.append(row("loss", "L", exp, act, tol.value, "fail",
                        f"L is {_g(act)} but torch's {loss_fn} gives {_g(exp)} (error "
                        f"{_g(abs(exp - act))} > tolerance {_g(tol.value)})"))  # fmt: skip

    if net.batch == 1 and result.node_values is not None:
        i = prediction_nodes(model)[0]
        exp, act, t = torch_side.predictions[0], result.node_values[i], tol.node_values[i]
        ok = act is not None and agree(exp, act, t)
        detail = (f"ŷ = {_g(act)} matches torch{said('y_hat')}" if ok
                  else f"ŷ is {_g(act)} but torch computes {_g(exp)}")  # fmt: skip
        rows.append(row("value", "y_hat", exp, act, t, "pass" if ok else "fail", detail))

    names = [spec.leaf_name(k) for k in range(len(spec.leaves))]
    grads = [0.0 if g is None else g for g in result.grads]
    for k, name in enumerate(names):
        exp, act, t = torch_side.grads[name], grads[k], tol.grads[k]
        verified = oracles_agree(exp, fd, k, t, tol.forward_error, spec, reference)
        wide = None if agree(exp, act, t) else precision().grads[k]
        status, detail = grad_verdict(
            f"dL/d{name}", exp, act, t, fd.grads[k], verified, said(name), fmt=_g,
            loose_tolerance=wide,
        )  # fmt: skip
        rows.append(row("grad", name, exp, act, t, status, detail, fd.grads[k]))

    n = len(spec.step.params)
    ctx = StepContext(
        model=model,
        names=tuple(names[:n]),
        values=spec.leaves[:n],
        engine_grads=tuple(grads[:n]),
        torch_grads=tuple(torch_side.grads[name] for name in names[:n]),
        grad_tols=tol.grads[:n],
        stepped=result.stepped,
        lr=lr,
        noise=2.0 * tol.value,
        optimizer=f"{engine}'s SGD" if result.stepped is not None else "the suite's w ← w − lr·g",
    )
    return rows + sign_and_update_rows(ctx, row)
