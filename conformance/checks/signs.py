"""The lecture's three sentences about gradients, as checks on every parameter of a case.

1. `sign`: a positive gradient means the weight must decrease to reduce the loss, a negative one
   that it must increase. One SGD step (the engine's own optimizer, else w ← w − lr·g applied by
   the suite) must move each weight that way, and land where `torch.optim.SGD` lands from the
   same gradient (within 1 ULP of the new weight, plus 1 ULP of lr·g where the two cancel).
2. `descent`: a step on one weight against its gradient lowers the loss, and so does the step on
   all of them: the Armijo condition L(w − t·g) ≤ L(w) − c·t·g², halving t from lr until it
   holds. A step whose required decrease is below the loss's rounding cannot be judged.
3. `magnitude`: nudging each weight by the same δ changes the loss by about g·δ, and a weight with
   a larger |gradient| changes it more. The first-order prediction is checked against the change
   torch measures, with what torch's own prediction misses (curvature) as the allowance; the
   order is checked only for neighbours in the ranking whose gap in |gradient| exceeds that.

Losses away from the engine (the loss after a step, after a nudge) are torch's, from the
idiomatic build: the question is whether the engine's gradient points the true loss downhill.
Zero gradients (a dead relu) and kinks get verdicts of their own, never a pass by accident.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from conformance.cases.neurons import KINKED, Model
from conformance.core.numfmt import g_minus, pair_minus
from conformance.core.records import Record
from conformance.core.vocabulary import ACTIVATIONS
from conformance.oracles.nn import DTYPE, batched_losses, torch_sgd

__all__ = ["ARMIJO_C", "DELTA", "HALVINGS", "StepContext", "sign_and_update_rows"]

ARMIJO_C = 1e-4  # the textbook sufficient-decrease constant
HALVINGS = 24  # backtracking: t = lr, lr/2, ..., lr/2**24
DELTA = 1e-4  # the nudge of the magnitude check, the same for every weight
MOVE = 0.1  # the longest move of one weight that descent tries when lr is too small to show

Row = Callable[..., Record]  # row(check, node, expected, actual, tolerance, status, detail)


@dataclass(frozen=True)
class StepContext:
    """What the sign-and-update checks know about one case."""

    model: Model
    names: tuple[str, ...]  # the parameters
    values: tuple[float, ...]
    engine_grads: tuple[float, ...]
    torch_grads: tuple[float, ...]
    grad_tols: tuple[float, ...]
    stepped: tuple[float, ...] | None  # the engine optimizer's new weights; None: the suite's
    lr: float
    noise: float  # how far two evaluations of the loss may differ by rounding alone
    optimizer: str  # who took the step, for the remarks: "refimpl's SGD", "w ← w − lr·g"


def _from_to(a: float, b: float) -> str:
    sa, sb = pair_minus(a, b)
    return f"from {sa} to {sb}"


def _lr(x: float) -> str:
    return f"{x:g}"


def _dir(g: float) -> str:
    return "decrease" if g > 0 else "increase"


def _sign_text(name: str, g: float) -> str:
    return f"dL/d{name} = {g_minus(g)} {'>' if g > 0 else '<'} 0: {_dir(g)} {name}"


@dataclass(frozen=True)
class _Nudge:
    change: float  # L(w + δ) − L(w), torch
    predicted: float  # g·δ with the engine's gradient
    remainder: float  # what torch's own first-order prediction misses
    curvature: float  # |L(w + δ) − 2 L(w) + L(w − δ)| / 2
    flat: bool  # neither nudge moved L beyond rounding


def sign_and_update_rows(ctx: StepContext, row: Row) -> list[Record]:
    """The sign, descent and magnitude rows of every parameter, and the descent of all at once."""
    n = len(ctx.names)
    new = ctx.stepped
    if new is None:
        new = tuple(w - ctx.lr * g for w, g in zip(ctx.values, ctx.engine_grads))
    steps, losses = _descents(ctx, new)
    base = losses[0][0]
    nudges, crossed = _nudges(ctx)
    torch_new = torch_sgd(ctx.model, ctx.engine_grads, ctx.lr)
    ranks = sorted(range(n), key=lambda j: -abs(ctx.engine_grads[j]))
    below = {ranks[i]: ranks[i + 1] for i in range(n - 1)}
    rows = [_sign_row(ctx, j, new[j], torch_new[j], row) for j in range(n)]
    for j in range(n):
        rows.append(_descent_row(ctx, j, base, steps[j], losses[j][1:], nudges[j], row))
    rows.append(_descent_all_row(ctx, new, base, steps[n], losses[n][1:], row))
    for j in range(n):
        rows.append(_magnitude_row(ctx, j, nudges, below.get(j), crossed[j], row))
    return rows


def _descents(ctx: StepContext, new: tuple[float, ...]) -> tuple[list, list]:
    """Step sizes and torch's losses along each descent direction: weight j alone against its
    gradient (j < n), then all weights along the engine's step (per unit of lr). The first step
    of every direction goes in one batched pass; the halvings only where that one fails."""
    n = len(ctx.names)
    w0 = torch.tensor(ctx.values, dtype=DTYPE)
    directions = torch.zeros(n + 1, n, dtype=DTYPE)
    directions[torch.arange(n), torch.arange(n)] = -torch.tensor(ctx.engine_grads, dtype=DTYPE)
    directions[n] = (torch.tensor(new, dtype=DTYPE) - w0) / ctx.lr
    slopes = [g * g for g in ctx.engine_grads] + [sum(g * g for g in ctx.engine_grads)]
    starts = [_first_step(ctx, g) for g in ctx.engine_grads] + [ctx.lr]
    first = w0 + torch.tensor(starts, dtype=DTYPE).unsqueeze(1) * directions
    got = batched_losses(ctx.model, torch.cat([w0.unsqueeze(0), first]))[0].tolist()
    base = got[0]
    steps = [[t] for t in starts]
    losses = [[base, x] for x in got[1:]]
    retry = [
        d for d in range(n + 1)
        if slopes[d] > 0 and _armijo(base, steps[d], losses[d][1:], slopes[d], ctx.noise)[0] is None
    ]  # fmt: skip
    if retry:
        halve = 0.5 ** torch.arange(1, HALVINGS + 1, dtype=DTYPE)
        ts = torch.tensor([starts[d] for d in retry], dtype=DTYPE).unsqueeze(1) * halve
        moved = w0 + ts.reshape(-1, 1) * directions[retry].repeat_interleave(HALVINGS, 0)
        more = batched_losses(ctx.model, torch.cat([w0.unsqueeze(0), moved]))[0].tolist()
        for i, d in enumerate(retry):  # relative to this pass's own start, reported from `base`
            chunk = more[1 + i * HALVINGS : 1 + (i + 1) * HALVINGS]
            steps[d] += ts[i].tolist()
            losses[d] += [base + (x - more[0]) for x in chunk]
    return steps, losses


def _nudges(ctx: StepContext) -> tuple[list[_Nudge], list[str]]:
    """Each weight nudged by +δ and by −δ: torch's loss changes, and any kink crossed."""
    n = len(ctx.names)
    w0 = torch.tensor(ctx.values, dtype=DTYPE)
    nudged = w0.repeat(2 * n, 1)
    nudged[torch.arange(2 * n), torch.arange(n).repeat(2)] += torch.tensor(
        [DELTA] * n + [-DELTA] * n, dtype=DTYPE
    )
    losses, sides = batched_losses(ctx.model, torch.cat([w0.unsqueeze(0), nudged]))
    got = losses.tolist()
    base, plus, minus = got[0], got[1 : n + 1], got[n + 1 :]
    moved = (sides[1:] != sides[0]).tolist() if sides.shape[1] else [[]] * (2 * n)
    nudges = []
    for j in range(n):
        change = plus[j] - base
        nudges.append(_Nudge(
            change=change,
            predicted=ctx.engine_grads[j] * DELTA,
            remainder=abs(change - ctx.torch_grads[j] * DELTA),
            curvature=abs(plus[j] - 2.0 * base + minus[j]) / 2.0,
            flat=max(abs(plus[j] - base), abs(minus[j] - base)) <= ctx.noise,
        ))  # fmt: skip
    crossed = [_kink_text(ctx.model, moved[j], moved[n + j]) for j in range(n)]
    return nudges, crossed


# ----- 1. sign -----


def _not_a_number(ctx: StepContext, j: int, check: str, row: Row, new: float = 0.0) -> Record:
    """The row of a parameter whose gradient or new value is nan or infinite in the engine."""
    name, g = ctx.names[j], ctx.engine_grads[j]
    what = f"dL/d{name} = {g}" if not math.isfinite(g) else f"the step took {name} to {new}"
    detail = f"{what} in the engine: no rule about signs or steps can hold for it"
    return row(check, name, ctx.torch_grads[j], g, None, "fail", detail)


def _sign_row(ctx: StepContext, j: int, new: float, torch_new: float, row: Row) -> Record:
    name, w, g, gt = ctx.names[j], ctx.values[j], ctx.engine_grads[j], ctx.torch_grads[j]
    if not (math.isfinite(g) and math.isfinite(new)):
        return _not_a_number(ctx, j, "sign", row, new)
    allowed = math.ulp(torch_new) + math.ulp(ctx.lr * g)
    moved = f"{ctx.optimizer} (lr = {_lr(ctx.lr)}) moved it from {g_minus(w)} to {g_minus(new)}"
    kept = f"{ctx.optimizer} left it at {g_minus(new)}"
    vs_torch = f"torch.optim.SGD from the same gradient: {g_minus(torch_new)}"
    status = "pass"
    if gt == 0.0:
        why = _zero_reason(ctx.model, name)
        if new == w:
            detail = f"dL/d{name} = 0 ({why}): no direction to move, and {kept}, as it should"
        else:
            status = "fail"
            detail = (
                f"dL/d{name} = 0 ({why}), so {name} must stay, but the engine's gradient is "
                f"{g_minus(g)} and {moved}"
            )
    elif abs(gt) <= ctx.grad_tols[j]:
        detail = (
            f"dL/d{name} = {g_minus(gt)} is within rounding of 0, so its sign is not determined; "
            f"{moved if new != w else kept} ({vs_torch})"
        )
    elif new == w:
        if g == 0.0:
            status = "fail"
            detail = f"{_sign_text(name, gt)}; but the engine's gradient is 0 and {kept}"
        else:
            detail = (
                f"{_sign_text(name, gt)}; lr·g = {g_minus(ctx.lr * g)} is below the rounding of "
                f"{g_minus(w)}, so {kept} ({vs_torch})"
            )
    elif (new < w) == (gt > 0):
        detail = f"{_sign_text(name, gt)}; {moved} ({vs_torch})"
    else:
        status = "fail"
        detail = (
            f"dL/d{name} = {g_minus(gt)} {'>' if gt > 0 else '<'} 0: {name} must {_dir(gt)}, but "
            f"{moved}: uphill ({vs_torch})"
        )
    if status == "pass" and abs(new - torch_new) > allowed:
        status = "fail"
        detail = (
            f"dL/d{name} = {g_minus(g)}: {moved if new != w else kept}, but {vs_torch} (off by "
            f"{g_minus(abs(new - torch_new))} > {g_minus(allowed)}, 1 ULP): "
            "the update is not w ← w − lr·g"
        )
    return row("sign", name, torch_new, new, allowed, status, detail)


# ----- 2. descent -----


def _first_step(ctx: StepContext, g: float) -> float:
    """lr, unless a step of lr on this weight alone is too small to show in L: then the step
    that moves the weight by MOVE (backtracking shortens it from there)."""
    if g == 0.0 or ARMIJO_C * ctx.lr * g * g > ctx.noise:
        return ctx.lr
    return max(ctx.lr, MOVE / abs(g))


def _armijo(
    base: float, ts: list[float], after: list[float], slope: float, noise: float
) -> tuple[int | None, bool]:
    """The first step index meeting the Armijo condition (with a decrease rounding cannot
    explain), and whether any step's required decrease was above the rounding at all."""
    resolvable = False
    for i, (t, value) in enumerate(zip(ts, after)):
        need = ARMIJO_C * t * slope
        resolvable = resolvable or need > noise
        if value <= base - need and base - value > noise:
            return i, True
    return None, resolvable


def _descent_row(
    ctx: StepContext, j: int, base: float, ts: list[float], after: list[float], nudge: _Nudge,
    row: Row,
) -> Record:  # fmt: skip
    name, g, gt = ctx.names[j], ctx.engine_grads[j], ctx.torch_grads[j]
    if not math.isfinite(g):
        return _not_a_number(ctx, j, "descent", row)
    if g == 0.0:
        if gt != 0.0 and abs(gt) > ctx.grad_tols[j]:
            detail = (
                f"the engine's dL/d{name} is 0, so it sees no way to lower L by moving {name}, "
                f"but torch's is {g_minus(gt)}: L does depend on {name} here"
            )
            return row("descent", name, base, base, ctx.noise, "fail", detail)
        why = _zero_reason(ctx.model, name) if gt == 0.0 else "within rounding of 0 in torch"
        after_nudge = base + nudge.change
        if nudge.flat:
            detail = (
                f"dL/d{name} = 0 ({why}): no step on {name} lowers L; nudged by ±{g_minus(DELTA)}, "
                f"L stays at {g_minus(base)}: this weight cannot learn from this batch"
            )
            return row("descent", name, base, after_nudge, ctx.noise, "pass", detail)
        detail = (
            f"dL/d{name} = 0, yet nudging {name} by {g_minus(DELTA)} changes L by "
            f"{g_minus(nudge.change)}: a kink within the nudge; not judged"
        )
        return row("descent", name, base, after_nudge, ctx.noise, "unverified", detail)
    hit, resolvable = _armijo(base, ts, after, g * g, ctx.noise)
    if hit is not None:
        took = f"took L {_from_to(base, after[hit])}"
        if ts[0] != ctx.lr:
            detail = (
                f"{_sign_text(name, g)}; a step of lr = {_lr(ctx.lr)} changes L by less than its "
                f"rounding, but moving {name} alone by {g_minus(-ts[hit] * g)} "
                f"(t = {g_minus(ts[hit])}) {took}"
            )
        elif hit == 0:
            detail = f"{_sign_text(name, g)}; a step of lr = {_lr(ctx.lr)} on {name} alone {took}"
        else:
            detail = (
                f"{_sign_text(name, g)}; a step of lr = {_lr(ctx.lr)} overshoots (L = "
                f"{g_minus(after[0])}), but halving it {hit} times, a step of "
                f"{g_minus(ts[hit])} on {name} alone {took}"
            )
        return row("descent", name, base, after[hit], ctx.noise, "pass", detail)
    if not resolvable:
        detail = (
            f"dL/d{name} = {g_minus(g)}: L changes by less than its rounding "
            f"({g_minus(ctx.noise)}) for every step from {g_minus(ts[0])} down: too flat to judge"
        )
        return row("descent", name, base, after[-1], ctx.noise, "unverified", detail)
    detail = (
        f"{_sign_text(name, g)}; but a step against this gradient took L from {g_minus(base)} to "
        f"{g_minus(after[0])} (lr = {_lr(ctx.lr)}) and to {g_minus(after[-1])} at "
        f"{g_minus(ts[-1])}: no step size lowers L (torch: dL/d{name} = {g_minus(gt)})"
    )
    return row("descent", name, base, after[-1], ctx.noise, "fail", detail)


def _descent_all_row(
    ctx: StepContext, new: tuple[float, ...], base: float, ts: list[float],
    after: list[float], row: Row,
) -> Record:  # fmt: skip
    n = len(ctx.names)
    every = {1: "the parameter", 2: "both parameters"}.get(n, f"all {n} parameters")
    slope = sum(g * g for g in ctx.engine_grads)
    if not (math.isfinite(slope) and all(math.isfinite(w) for w in new)):
        detail = f"the engine's gradients or its step are not finite: the step on {every} is lost"
        return row("descent", "all", base, None, ctx.noise, "fail", detail)
    if slope == 0.0:
        still = all(a == b for a, b in zip(new, ctx.values))
        detail = f"every gradient is 0: no step lowers L, and {ctx.optimizer} " + (
            "moved nothing, as it should" if still else "still moved the weights"
        )
        return row("descent", "all", base, after[0], ctx.noise, "pass" if still else "fail",
                   detail)  # fmt: skip
    hit, resolvable = _armijo(base, ts, after, slope, ctx.noise)
    step = f"a step of lr = {_lr(ctx.lr)} on {every} ({ctx.optimizer})"
    if hit == 0:
        detail = f"{step} took L {_from_to(base, after[0])}"
        return row("descent", "all", base, after[0], ctx.noise, "pass", detail)
    if hit is not None:
        detail = (
            f"{step} overshoots (L {_from_to(base, after[0])}); {hit} halvings later, "
            f"{g_minus(ts[hit] / ctx.lr)} of it took L {_from_to(base, after[hit])}"
        )
        return row("descent", "all", base, after[hit], ctx.noise, "pass", detail)
    if not resolvable:
        detail = f"{step}: L changes by less than its rounding at every step size; not judged"
        return row("descent", "all", base, after[-1], ctx.noise, "unverified", detail)
    detail = (
        f"{step} took L from {g_minus(base)} up to {g_minus(after[0])}, and no shorter step "
        f"along it lowers L (down to {g_minus(ts[-1] / ctx.lr)} of it): the step goes uphill"
    )
    return row("descent", "all", base, after[-1], ctx.noise, "fail", detail)


# ----- 3. magnitude -----


def _magnitude_row(
    ctx: StepContext, j: int, nudges: list[_Nudge], k: int | None, kink: str, row: Row
) -> Record:
    name, g = ctx.names[j], ctx.engine_grads[j]
    if not math.isfinite(g):
        return _not_a_number(ctx, j, "magnitude", row)
    nu = nudges[j]
    allowed = 2.0 * max(nu.remainder, nu.curvature) + ctx.grad_tols[j] * DELTA + ctx.noise
    said = (
        f"nudging {name} by δ = {g_minus(DELTA)} changed L by {g_minus(nu.change)}; "
        f"dL/d{name}·δ = {g_minus(nu.predicted)}"
    )
    if kink:
        detail = f"{said}, but the nudge moves {kink}: first order does not hold across a kink"
        return row("magnitude", name, nu.change, nu.predicted, allowed, "unverified", detail)
    if abs(nu.change - nu.predicted) > allowed:
        detail = (
            f"{said}: the first-order prediction misses by "
            f"{g_minus(abs(nu.change - nu.predicted))}, more than the curvature explains "
            f"({g_minus(allowed)})"
        )
        return row("magnitude", name, nu.change, nu.predicted, allowed, "fail", detail)
    if g == 0.0 and ctx.torch_grads[j] == 0.0:
        detail = f"{said}: with a gradient of 0 ({_zero_reason(ctx.model, name)}), L does not move"
        return row("magnitude", name, nu.change, nu.predicted, allowed, "pass", detail)
    if nu.remainder > 0.5 * abs(ctx.torch_grads[j] * DELTA) + ctx.noise:
        detail = (
            f"{said}: at this δ the change is mostly curvature ({g_minus(nu.curvature)}), so the "
            "first-order prediction says little; not judged"
        )
        return row("magnitude", name, nu.change, nu.predicted, allowed, "unverified", detail)
    detail = f"{said}, as first order predicts"
    status = "pass"
    if k is not None:
        order, ok = _order(ctx, j, k, nudges)
        detail += f"; {order}"
        status = "pass" if ok else "fail"
    return row("magnitude", name, nu.change, nu.predicted, allowed, status, detail)


def _order(ctx: StepContext, j: int, k: int, nudges: list[_Nudge]) -> tuple[str, bool]:
    """The ranking remark for `j` against `k`, the next smaller |gradient|, and whether it holds."""
    a, b = ctx.names[j], ctx.names[k]
    ga, gb = abs(ctx.engine_grads[j]), abs(ctx.engine_grads[k])
    gap = (ga - gb - ctx.grad_tols[j] - ctx.grad_tols[k]) * DELTA
    slack = 2.0 * (nudges[j].remainder + nudges[k].remainder) + 2.0 * ctx.noise
    ca, cb = abs(nudges[j].change), abs(nudges[k].change)
    pair = f"|dL/d{a}| = {g_minus(ga)} > |dL/d{b}| = {g_minus(gb)}"
    if gap <= slack:
        return (
            f"|dL/d{a}| = {g_minus(ga)} and |dL/d{b}| = {g_minus(gb)} are too close to order",
            True,
        )
    if ca > cb:
        return (
            f"{pair}, and its change is larger too ({g_minus(ca)} > {g_minus(cb)})",
            True,
        )
    return (
        f"{pair}, yet nudging {a} changed L less ({g_minus(ca)} ≤ {g_minus(cb)})",
        False,
    )


# ----- zero gradients and kinks -----


def _unit_of(model: Model, name: str) -> tuple[int, int] | None:
    """(layer, unit), 0-based, of a parameter name."""
    net = model.network()
    if len(net.layers) == 1:
        return 0, 0
    layer, unit = name.split(".")[:2]
    return int(layer[1:]) - 1, int(unit[1:]) - 1


def _dead_units(model: Model) -> set[tuple[int, int]]:
    """(layer, unit), 0-based, of every relu whose input is below 0 on every sample."""
    net = model.network()
    dead, acts = set(), [list(row) for row in net.inputs]
    for k, layer in enumerate(net.layers):
        units = list(zip(layer.weights, layer.biases))
        zs = [[sum(w * x for w, x in zip(row, a)) + b for row, b in units] for a in acts]
        if layer.activation == "relu":
            dead |= {(k, u) for u in range(len(layer.weights)) if all(z[u] <= 0 for z in zs)}
        acts = [[ACTIVATIONS[layer.activation](v) for v in z] for z in zs]
    return dead


def _zero_reason(model: Model, name: str) -> str:
    """Why a parameter's gradient is exactly 0, in words."""
    net = model.network()
    k, u = _unit_of(model, name)
    dead = _dead_units(model)
    if (k, u) in dead:
        where = "the neuron" if len(net.layers) == 1 else f"unit l{k + 1}.n{u + 1}"
        return f"a dead relu: {where} is off for every sample"
    last = name.rsplit(".", 1)[-1]
    if k > 0 and last.startswith("w") and (k - 1, int(last[1:]) - 1) in dead:
        return f"its input l{k}.n{last[1:]} is a dead relu, 0 on every sample"
    return "every path from it to L passes through a relu that is off"


def _kink_text(model: Model, plus: list[bool], minus: list[bool]) -> str:
    """Which relu input a nudge moves across 0, or ""."""
    net = model.network()
    where = [(k, len(layer.weights)) for k, layer in enumerate(net.layers)
             if layer.activation in KINKED]  # fmt: skip
    for flags in (plus, minus):
        for i, flag in enumerate(flags):
            if not flag:
                continue
            for k, units in where:
                size = units * net.batch
                if i < size:
                    s, u = divmod(i, units)
                    act = net.layers[k].activation.replace("_", " ")
                    unit = "the neuron" if len(net.layers) == 1 else f"unit l{k + 1}.n{u + 1}"
                    return f"the {act} input of {unit} on sample {s + 1} across 0"
                i -= size
    return ""
