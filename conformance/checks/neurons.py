"""Suite `neurons` and the fixed case `seed-neuron`: the checker of neuron and network cases.

The engine runs the compiled GraphSpec (its own scalar class, op by op) with one SGD step asked
for; torch builds the same model the idiomatic way (`conformance.oracles.nn`). Rows: the loss, the
prediction ŷ (one-sample cases), the gradient of every parameter and input, then the lecture's
sign-and-update checks of every parameter (`conformance.checks.signs`).

Tolerances: the running error bound of the compiled graph (`oracles.tolerance`, from torch's
node values on that graph) bounds what a correct engine may differ from torch by; the expected
values are the idiomatic build's, whose different summation order the bound's safety factor
covers (measured: the largest error of refimpl and alt is within 4% of the bound over 2,500
cases). Finite differences on the compiled graph check torch's gradients: where they disagree,
the row is `unverified`.
"""

from __future__ import annotations

from conformance.cases.neurons import (
    SEED_CASE_ID,
    model_from_json,
    prediction_nodes,
)
from conformance.checks.compare import (
    agree,
    errors,
    grad_verdict,
    oracles_agree,
    precision_note,
    within_precision,
)
from conformance.checks.signs import StepContext, sign_and_update_rows
from conformance.core.case import Case, EngineCall
from conformance.core.numfmt import g_minus, pair
from conformance.core.records import Record, Status
from conformance.core.result import EngineResult
from conformance.oracles.consult import consult
from conformance.oracles.nn import torch_net
from conformance.oracles.tolerance import bounds

__all__ = ["check_neuron"]

TORCH_LOSS = {"se": "F.mse_loss", "mse": "F.mse_loss", "bce": "F.binary_cross_entropy"}


def _lecture(case: Case) -> dict:
    """The lecture's own numbers for the seed case, for the remarks."""
    if case.case_id != SEED_CASE_ID:
        return {}
    from refimpl.seed import SEED_EXAMPLE as ex

    return {"L": ex.loss, "y_hat": ex.y_hat, **ex.grads}


def check_neuron(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """Loss, ŷ and every gradient against the idiomatic torch build; then the sign rows."""
    spec = case.spec

    def row(check, node, expected, actual, tolerance, status, detail, fd=None) -> Record:
        both = expected is not None and actual is not None
        abs_err, rel_err, ulp = errors(expected, actual) if both else (None, None, None)
        return Record.for_case(
            case, engine, check=check, node=node, expected=expected, actual=actual, fd=fd,
            abs_err=abs_err, rel_err=rel_err, ulp=ulp, tolerance=tolerance, status=status,
            detail=detail, kind="precision" if status == Status.DIFFERS else "",
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
    oracle = consult(spec)
    reference, tol, fd = oracle.reference, oracle.bounds, oracle.fd
    lecture = _lecture(case)

    def said(key: str) -> str:
        return f" (the lecture: {g_minus(lecture[key])})" if key in lecture else ""

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
                        f"L = {g_minus(act)} matches torch's {loss_fn}{said('L')}"))  # fmt: skip
    elif within_precision(exp, act, tol.value, precision().value):
        a, e = pair(act, exp)
        rows.append(row("loss", "L", exp, act, tol.value, "differs",
                        f"L is {a} where torch's {loss_fn} gives {e}"
                        + precision_note(tol.value, precision().value)))  # fmt: skip
    else:
        rows.append(row("loss", "L", exp, act, tol.value, "fail",
                        f"L is {g_minus(act)} but torch's {loss_fn} gives {g_minus(exp)} "
                        f"(error {g_minus(abs(exp - act))} > tolerance "
                        f"{g_minus(tol.value)})"))  # fmt: skip

    if net.batch == 1 and result.node_values is not None:
        i = prediction_nodes(model)[0]
        exp, act, t = torch_side.predictions[0], result.node_values[i], tol.node_values[i]
        ok = act is not None and agree(exp, act, t)
        detail = (f"ŷ = {g_minus(act)} matches torch{said('y_hat')}" if ok
                  else f"ŷ is {g_minus(act)} but torch computes {g_minus(exp)}")  # fmt: skip
        rows.append(row("value", "y_hat", exp, act, t, "pass" if ok else "fail", detail))

    names = [spec.leaf_name(k) for k in range(len(spec.leaves))]
    grads = [0.0 if g is None else g for g in result.grads]
    for k, name in enumerate(names):
        exp, act, t = torch_side.grads[name], grads[k], tol.grads[k]
        verified = oracles_agree(exp, fd, k, t, tol.forward_error, spec, reference)
        wide = None if agree(exp, act, t) else precision().grads[k]
        status, detail = grad_verdict(
            f"dL/d{name}", exp, act, t, fd.grads[k], verified, said(name), fmt=g_minus,
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
