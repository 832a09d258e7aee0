"""Suite `training`: the same small network trained by the engine and by torch.optim.SGD.

Both start from the same weights, see the same batch, and take `--steps K` steps of plain SGD
(the engine's own optimizer, refimpl's `SGD` for refimpl; w ← w − lr·g applied by the suite for an
engine without one). Every step gives two rows: `loss` (the engine's loss against torch's) and
`trajectory` (the largest difference between the engine's parameters and torch's).

What rounding explains is measured, not guessed: torch trains the network again, RUNS times, with
every parameter nudged by 1 ULP (random signs) at the start and after every step, which is about
what a correct engine's different rounding does to each step. The envelope at step k is the
largest distance of those runs from torch's own; a correct engine stays within ENVELOPE times it
(plus the loss's own rounding bound for the loss). A wrong derivative, or an optimizer that
climbs, leaves it by orders of magnitude within a few steps.
"""

from __future__ import annotations

import json
import math
import random

import pandas as pd

from conformance.cases.generate import sub_seed
from conformance.cases.neurons import (
    Model,
    compile_spec,
    model_from_dict,
)
from conformance.checks.compare import errors
from conformance.core.case import Case, EngineCall
from conformance.core.numfmt import g_minus
from conformance.core.records import Record
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.oracles.nn import Trajectory, torch_training
from conformance.oracles.tolerance import bounds

__all__ = [
    "ENVELOPE",
    "RUNS",
    "check_training",
    "envelope",
    "training_table",
]

RUNS = 3  # torch runs with 1-ULP nudges that measure the envelope
ENVELOPE = 16.0  # a correct engine's drift stays within this many times the envelope


def _nudger(seed: int):
    """Move every parameter by 1 ULP, up or down at random: the rounding a step may differ by."""
    rng = random.Random(seed)

    def nudge(k: int, values: list[float]) -> list[float]:
        return [math.nextafter(v, math.inf if rng.random() < 0.5 else -math.inf) for v in values]

    return nudge


def envelope(model: Model, lr: float, steps: int, reference: Trajectory, seed: int):
    """Per step, the largest parameter and loss distance of the 1-ULP-nudged torch runs."""
    params = [0.0] * (steps + 1)
    losses = [0.0] * (steps + 1)
    for r in range(RUNS):
        run = torch_training(model, lr, steps, _nudger(sub_seed(seed, "envelope", r)))
        for k in range(steps + 1):
            d = max(abs(a - b) for a, b in zip(run.params[k], reference.params[k]))
            params[k] = max(params[k], d)
            losses[k] = max(losses[k], abs(run.losses[k] - reference.losses[k]))
    return params, losses


def _loss_bound(spec: GraphSpec) -> float:
    """The running error bound of the loss, from node values computed in plain floats."""
    nodes = spec.walk(spec.leaves, lambda node, args: OPS[node.op].forward(args, node.param))
    return bounds(spec, nodes).value


def check_training(case: Case, engine: str, result: EngineResult, call: EngineCall) -> list[Record]:
    """Train with the engine and with torch.optim.SGD; a loss and a trajectory row per step."""
    payload = json.loads(case.payload)
    model, steps = model_from_dict(payload["model"]), int(payload["steps"])
    net = model.network()
    lr, n = case.spec.step.lr, len(case.spec.step.params)
    names = net.param_names()

    def row(check, node, expected, actual, tolerance, status, detail) -> Record:
        both = expected is not None and actual is not None
        abs_err, rel_err, ulp = errors(expected, actual) if both else (None, None, None)
        return Record.for_case(
            case, engine, check=check, node=node, expected=expected, actual=actual,
            abs_err=abs_err, rel_err=rel_err, ulp=ulp, tolerance=tolerance, status=status,
            detail=detail,
        )  # fmt: skip

    reference = torch_training(model, lr, steps)
    drift, loss_drift = envelope(model, lr, steps, reference, sub_seed(case.case_id))
    rows: list[Record] = []
    params = list(net.param_values())
    who = f"{engine}'s SGD" if result.stepped is not None else "the suite's w ← w − lr·g"
    for k in range(steps + 1):
        if not all(math.isfinite(w) for w in params):
            why = f"after {k} steps the engine's parameters are no longer finite: training diverged"
            return [*rows, row("trajectory", f"step {k}", None, None, None, "fail", why)]
        spec = case.spec if k == 0 else compile_spec(net.with_params(params), lr)
        if k > 0:
            result = call(spec)
        if result.skip or result.error:
            status = "skip" if result.skip else "error"
            why = f"skipped: {result.skip}" if result.skip else f"the engine {result.error}"
            return [*rows, row("run", f"step {k}", None, None, None, status, why)]
        # The parameters: a trajectory row compares those that step k started from.
        want = reference.params[k]
        j = max(range(n), key=lambda i: abs(params[i] - want[i]))
        diff, allowed = abs(params[j] - want[j]), ENVELOPE * drift[k]
        status = "pass" if diff <= allowed else "fail"
        if k == 0:
            detail = f"both start from the same {n} parameters"
        else:
            detail = (
                f"after {k} step{'s' * (k > 1)} of lr = {lr:g} ({who}), the largest parameter "
                "difference from "
                f"torch.optim.SGD is {g_minus(diff)} ({names[j]}), "
                + ("within" if status == "pass" else "outside")
                + f" {ENVELOPE:g}× the rounding envelope ({g_minus(drift[k])}: torch against "
                "itself, every weight nudged by 1 ULP at every step)"
            )
        rows.append(row("trajectory", f"step {k}", want[j], params[j], allowed, status, detail))
        exp, act = reference.losses[k], result.value
        # The loss's own rounding, at the engine's parameters while they agree with torch's, else
        # at torch's: parameters gone astray must not widen the allowance.
        at = spec if status == "pass" else compile_spec(net.with_params(list(want)))
        allowed = ENVELOPE * loss_drift[k] + _loss_bound(at)
        ok = abs(exp - act) <= allowed
        detail = (
            f"step {k}: L = {g_minus(act)}, torch {g_minus(exp)}, "
            + ("within" if ok else "outside")
            + f" what rounding explains ({g_minus(allowed)})"
        )
        rows.append(row("loss", f"step {k}", exp, act, allowed, "pass" if ok else "fail", detail))
        if k == steps:
            break
        if result.stepped is not None:
            params = list(result.stepped)
        else:
            params = [w - lr * (g or 0.0) for w, g in zip(params, result.grads[:n])]
    return rows


def training_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The loss curves of the training suite, one line per case and step, from the records."""
    columns = ["case", "op", "step", "engine_loss", "torch_loss", "max_param_diff", "envelope",
               "status"]  # fmt: skip
    rows = frame[(frame["suite"] == "training") & frame["check"].isin(["loss", "trajectory"])]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(step=rows["node"].str.removeprefix("step ").astype(int))
    loss = rows[rows["check"] == "loss"].set_index(["case", "step"])
    traj = rows[rows["check"] == "trajectory"].set_index(["case", "step"])
    table = pd.DataFrame(
        {
            "op": loss["op"],
            "engine_loss": loss["actual"],
            "torch_loss": loss["expected"],
            "max_param_diff": traj["abs_err"],
            "envelope": traj["tolerance"],
        }
    )
    # A step's status: fail if its loss or its trajectory fails, else its loss row's.
    both = pd.concat([loss["status"], traj["status"]])
    failing = (both == "fail").groupby(level=[0, 1]).any()
    table["status"] = both.groupby(level=[0, 1]).first().where(~failing, "fail")
    order = list(dict.fromkeys(rows["case"]))
    table = table.reset_index()
    table["case"] = pd.Categorical(table["case"], order)
    table = table.sort_values(["case", "step"]).astype({"case": str})
    return table[columns].reset_index(drop=True)
