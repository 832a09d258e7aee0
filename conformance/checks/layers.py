"""One layer case → rows: the output, each gradient (one row per tensor, shapes first), batch
norm's running statistics, and for each parameter the sign-and-update rows."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from conformance.checks.elements import shape_text, units_text, worst_element
from conformance.core.case import Case, EngineCall
from conformance.core.dtypes import EPSILON, MAX_FINITE, ulps
from conformance.core.numfmt import g as fmt
from conformance.core.numfmt import pair
from conformance.core.records import Record, Status
from conformance.core.tensors import LAYERS, LayerSpec
from conformance.oracles.layers import PARAMS, layer_loss, layer_reference

__all__ = ["check_layer"]

# How many elements a dropout mask may keep beyond its expectation, in standard deviations.
DROPOUT_SIGMAS = 6.0


def check_layer(case: Case, engine: str, result, call: EngineCall) -> list[Record]:
    """The rows of one layer case."""
    spec: LayerSpec = case.spec  # type: ignore[assignment]
    layer = LAYERS[spec.layer]
    if getattr(result, "skip", None):
        return [Record.for_case(case, engine, status=Status.SKIP, detail=result.skip)]
    arrays = spec.arrays()
    out = getattr(result, "out", None)
    rows: list[Record] = []
    mask = None
    if spec.layer == "dropout" and _is_array(out):
        mask, why = _dropout_mask(spec, arrays, out)
        if why:
            rows.append(_row(case, engine, "value", "out", Status.FAIL, detail=why))
    try:
        ref = layer_reference(spec, arrays, mask if mask is not None else _ones(arrays))
    except Exception as exc:  # the oracle cannot run this case: say so, never crash
        detail = f"torch could not compute this case: {type(exc).__name__}: {exc}"
        return [Record.for_case(case, engine, status=Status.ERROR, detail=detail)]
    out_name = "loss" if layer.loss else "out"
    if out is not None and not rows:
        row = _compare(case, engine, "value", out_name, out, ref.out, ref.out_tol, spec)
        if row.status == Status.FAIL:
            row = _overflow(row, spec, out, ref.out, arrays)
        if row.status == Status.FAIL:
            row = _out_of_range(row, spec, out, ref.out, ref.out_tol)
        if row.status == Status.FAIL:
            row = _with_hint(row, _forward_hint(spec, out, arrays))
        if row.status == Status.FAIL and layer.loss and _is_array(out) and out.shape == ():
            n = spec.shape_of("x")[0]
            ratio = float(out) / float(ref.out) if float(ref.out) else 0.0
            if n > 1 and math.isclose(ratio, n, rel_tol=1e-6):
                row = _with_hint(row, f"the loss is N = {n} times too big: average it over the "
                                      "batch (divide the sum by N)")  # fmt: skip
        rows.append(row)
    if getattr(result, "error", None):
        rows.append(Record.for_case(case, engine, status=Status.ERROR, detail=result.error))
        return rows
    for name in ref.grads:
        got = result.grads.get(name)
        row = _compare(case, engine, "grad", name, got, ref.grads[name], ref.tols[name], spec)
        if row.status == Status.FAIL:
            row = _convention(row, spec, name, got, ref, arrays)
        if row.status == Status.FAIL:
            row = _overflow(row, spec, got, ref.grads[name], arrays)
        if row.status == Status.FAIL:
            row = _out_of_range(row, spec, got, ref.grads[name], ref.tols[name])
        if row.status == Status.FAIL and not ref.fd_agrees.get(name, True):
            row = _unverified(row)
        if row.status == Status.FAIL and not row.hint:
            row = _with_hint(row, _value_hint(spec, name, got, ref, arrays, mask))
        rows.append(row)
    rows = _order_hint(rows, spec, result, ref)
    rows += _running_rows(case, engine, spec, result, ref)
    rows += _training_rows(case, engine, spec, result, arrays)
    rows += _sign_and_update(case, engine, spec, result, ref, arrays, mask)
    if any(r.status in (Status.FAIL, Status.DIFFERS) and r.check == "value" for r in rows):
        forward = layer.names(spec.layer)[0]
        first = f"the forward differs from torch's: fix {forward} first"
        rows = [
            replace(r, hint=first + (f" (then: {r.hint})" if r.hint else ""))
            if r.check == "grad" and r.status == Status.FAIL
            else r
            for r in rows
        ]
    return rows


def _row(case: Case, engine: str, check: str, node: str, status: Status, **fields) -> Record:
    return Record.for_case(case, engine, status=status, check=check, node=node, **fields)


def _is_array(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float64


def _ones(arrays: dict) -> np.ndarray:
    return np.ones_like(arrays["x"])


def _compare(case, engine, check, name, got, expected, tol, spec: LayerSpec) -> Record:
    """One row for one tensor: its shape, then its worst element in tolerance units."""
    what = _tensor_name(name)
    if got is None:
        return _row(case, engine, check, name, Status.ERROR, detail=f"no {what} was returned")
    if not _is_array(got):
        detail = f"{what} is {type(got).__name__}, not an array of numbers"
        return _row(case, engine, check, name, Status.ERROR, detail=detail)
    if got.shape != expected.shape:
        detail, hint = _shape_message(spec, name, got.shape, expected.shape)
        return _row(case, engine, check, name, Status.FAIL, detail=detail, hint=hint)
    w = worst_element(got, expected, tol)
    failing, worst, e, a, t, u = w.failing, w.index, w.expected, w.actual, w.tolerance, w.units
    abs_err, rel = w.abs_err, w.rel_err
    where = f"[{', '.join(str(int(i)) for i in worst)}]" if worst else "its one element"
    ga, ge = pair(a, e)
    off = f"{_units(u)} tolerances off" if t > 0 else "exact: no rounding can move it"
    detail = (
        f"{what}, shape {_shape(expected.shape)}: {failing} of {expected.size} elements beyond "
        f"tolerance; the worst, at {where}, is {ga} where torch gives {ge} ({off})"
        if failing
        else f"{what}, shape {_shape(expected.shape)}: every element within tolerance "
        f"(the worst {_units(u)} of one)"
    )
    return _row(
        case, engine, check, name, Status.FAIL if failing else Status.PASS,
        expected=e, actual=a, abs_err=abs_err, rel_err=rel, tolerance=t,
        ulp=ulps(e, abs_err, spec.dtype) if math.isfinite(abs_err) else math.inf,
        detail=detail,
    )  # fmt: skip


_units = units_text
_shape = shape_text


def _tensor_name(name: str) -> str:
    if name in ("out", "loss"):
        return f"the {name}" if name == "loss" else "the output"
    return name


def _shape_message(spec: LayerSpec, name: str, got: tuple, want: tuple) -> tuple[str, str]:
    """A wrong shape in one sentence, and the likely fix."""
    of = name[1:] if name.startswith("d") and name not in ("dout",) else name
    detail = (
        f"{name} has shape {_shape(got)}, but {of} has shape {_shape(want)}: a gradient has "
        "the shape of what it is the gradient of"
        if name not in ("out", "loss")
        else f"{_tensor_name(name)} has shape {_shape(got)}, not {_shape(want)}"
    )
    hint = ""
    n = spec.shape_of("x")[0]
    summed = name in ("db", "dbeta", "dgamma")
    if summed and got == (n, *want) and (n > 1 or spec.layer != "affine"):
        hint = (
            f"{of} was added to every row, so {name} is the sum over the rows "
            "(dout.sum(axis=0)); this one was not summed over the batch"
        )
    elif summed and len(want) == 1 and got == (n,) and n != want[0]:
        hint = (
            f"{name} was summed over the wrong axis: {of} was added to every row, so sum dout "
            "over the rows, dout.sum(axis=0)"
        )
    elif summed and got == (1, *want):
        hint = (
            f"{name} must have {of}'s shape {_shape(want)}: sum over the batch's rows, "
            "dout.sum(axis=0), without keepdims"
        )
    elif got == (1, *want) or got == (*want, 1):
        hint = f"a kept axis: sum without keepdims, or reshape {name} to {_shape(want)}"
    elif tuple(reversed(got)) == want and len(want) == 2:
        hint = f"transposed: {name} must have {of}'s shape (for affine, dw = x.T @ dout)"
    elif (
        name == "dx"
        and spec.layer == "conv"
        and len(got) == 4
        and got[:2] == want[:2]
        and got[2] - want[2] == got[3] - want[3] == 2 * int(dict(spec.config)["pad"]) > 0
    ):
        hint = "dx still has the padding: crop it, dx = dx_padded[:, :, pad:-pad, pad:-pad]"
    elif name == "dx" and int(np.prod(got)) == int(np.prod(want)):
        hint = "dx has x's numbers in another shape: reshape it back to x.shape"
    return detail, hint


def _beyond(got: np.ndarray, want: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """The elements beyond tolerance (a non-finite number where torch's is finite among them)."""
    diff = np.abs(got - want)
    return (diff > tol) | (np.isfinite(want) & ~np.isfinite(got))


def _kinks(spec: LayerSpec, name: str, arrays: dict) -> np.ndarray | None:
    """Where the gradient is a convention, not math: relu's and leaky relu's x = 0, and the
    elements of a pooling window whose maximum is tied."""
    x = arrays["x"]
    if spec.layer in ("relu", "leaky_relu") and name == "dx":
        return x == 0
    if spec.layer == "max_pool" and name == "dx":
        c = dict(spec.config)
        ph, pw, s = int(c["pool_height"]), int(c["pool_width"]), int(c["stride"])
        tied = np.zeros(x.shape, dtype=bool)
        _, _, h_out, w_out = spec.out_shape()
        for i in range(h_out):
            for j in range(w_out):
                window = x[:, :, i * s : i * s + ph, j * s : j * s + pw]
                top = window.max(axis=(2, 3), keepdims=True)
                at_top = window == top
                ties = at_top.sum(axis=(2, 3), keepdims=True) > 1
                tied[:, :, i * s : i * s + ph, j * s : j * s + pw] |= at_top & ties
        return tied
    return None


def _convention(row: Record, spec: LayerSpec, name: str, got, ref, arrays: dict) -> Record:
    """A failing gradient whose every wrong element sits on a kink or a tie differs from torch's
    convention there, and is not wrong math."""
    kinks = _kinks(spec, name, arrays)
    if kinks is None or not _is_array(got) or got.shape != kinks.shape or not kinks.any():
        return row
    bad = _beyond(got, ref.grads[name], ref.tols[name])
    if not bad.any() or (bad & ~kinks).any():
        return row
    what = (
        "at x = 0, where relu's derivative is a convention (torch takes 0)"
        if spec.layer != "max_pool"
        else "at tied maxima: torch sends a window's gradient to one of its equal maxima, "
        "this engine to another or to all of them"
    )
    return replace(
        row, status=Status.DIFFERS.value, kind="ieee",
        detail=f"{row.detail}; every one is {what}",
    )  # fmt: skip


def _overflow(row: Record, spec: LayerSpec, got, want, arrays: dict) -> Record:
    """A loss that overflowed where torch's is finite, on scores large enough to overflow exp
    without the row's max subtracted: precision and IEEE, not wrong math."""
    if spec.layer != "softmax_loss" or not _is_array(got) or got.shape != want.shape:
        return row
    if np.isfinite(got).all() or float(np.abs(arrays["x"]).max()) < 700:
        return row
    return replace(
        row, status=Status.DIFFERS.value, kind="ieee",
        detail=f"{row.detail}: exp overflowed on scores up to {fmt(float(arrays['x'].max()))}",
        hint="subtract each row's max before exp (softmax is unchanged by it)",
    )  # fmt: skip


def _out_of_range(row: Record, spec: LayerSpec, got, want, tol) -> Record:
    """In a narrow dtype, a gradient whose only wrong elements are infinities or nans where
    torch's are finite: an intermediate of the engine's formula left the dtype's range (std⁻³
    in float16, say). The formula is right; the precision is not enough for it."""
    if spec.dtype == "float64" or not _is_array(got) or got.shape != want.shape:
        return row
    bad = _beyond(got, want, tol)
    if not bad.any() or np.isfinite(got[bad]).any():
        return row
    return replace(
        row, status=Status.DIFFERS.value, kind="ieee",
        detail=f"{row.detail}: every one is an infinity or nan where torch's is finite, an "
        f"intermediate past {spec.dtype}'s range (its largest is {fmt(MAX_FINITE[spec.dtype])})",
        hint="rewrite the formula so no intermediate grows past the dtype's range"
        + (" (torch's batch norm backward never forms std⁻³)" if spec.layer == "batchnorm" else ""),
    )  # fmt: skip


def _forward_hint(spec: LayerSpec, out, arrays: dict) -> str:
    """The known forward bug a wrong output looks like."""
    if spec.layer not in ("batchnorm", "layernorm") or not _is_array(out):
        return ""
    x = arrays["x"]
    if out.shape != x.shape:
        return ""
    axis = 1 if spec.layer == "batchnorm" else 0  # the other layer's axis
    xhat = (x - x.mean(axis=axis, keepdims=True)) / np.sqrt(
        x.var(axis=axis, keepdims=True) + float(dict(spec.config).get("eps", 1e-5))
    )
    other = arrays["gamma"] * xhat + arrays["beta"]
    if np.allclose(out, other, rtol=max(1e-9, 64 * EPSILON[spec.dtype]), atol=1e-12):
        per = "feature, over the batch (axis 0)" if axis == 1 else "row, over its features (axis 1)"
        return f"the mean and variance are over the wrong axis: {spec.layer} takes them per {per}"
    return ""


def _order_hint(rows: list[Record], spec: LayerSpec, result, ref) -> list[Record]:
    """Gradients of the wrong shapes that are each other's shapes: returned in another order."""
    names = list(ref.grads)
    got = {n: getattr(result.grads.get(n), "shape", None) for n in names}
    want = {n: ref.grads[n].shape for n in names}
    wrong = [n for n in names if got[n] != want[n]]
    if len(wrong) < 2 or sorted(map(str, (got[n] for n in wrong))) != sorted(
        map(str, (want[n] for n in wrong))
    ):
        return rows
    order = ", ".join(names)
    hint = (
        "the gradients come back in another order: return them as the forward takes its "
        f"inputs ({order})"
    )
    return [replace(r, hint=hint) if r.check == "grad" and r.node in wrong else r for r in rows]


def _with_hint(row: Record, hint: str) -> Record:
    return replace(row, hint=row.hint or hint) if hint else row


def _unverified(row: Record) -> Record:
    return replace(
        row, status=Status.UNVERIFIED.value,
        detail=row.detail + "; torch's gradient disagrees with finite differences here (a kink "
        "or a tie), so the case cannot judge it",
    )  # fmt: skip


def _value_hint(spec: LayerSpec, name: str, got, ref, arrays: dict, mask=None) -> str:
    """The known bug this wrong gradient looks like, where one fits."""
    if not _is_array(got):
        return ""
    want = ref.grads[name]
    tol = ref.tols[name]
    if got.shape != want.shape:
        return ""

    def close(candidate: np.ndarray) -> bool:
        return candidate.shape == got.shape and bool(
            np.all(np.abs(got - candidate) <= tol + 1e-9 * np.abs(candidate))
        )

    if not np.any(got):
        return f"{name} is all zeros: is it returned, or assigned with = where += belongs?"
    for template, hint in _templates(spec, name, want, arrays, mask):
        if close(template):
            return hint
    big = np.abs(want) > 1e3 * tol
    if big.any():
        ratios = got[big] / want[big]
        c = float(np.median(ratios))
        if np.all(np.abs(ratios - c) <= 1e-6 * abs(c)) and c != 0:
            return _ratio_hint(spec, name, c)
    return ""


def _ratio_hint(spec: LayerSpec, name: str, c: float) -> str:
    n = spec.shape_of("x")[0]
    if math.isclose(c, 1, rel_tol=1e-3):  # rounding, not a factor: a narrower dtype's numbers
        return ""
    if math.isclose(c, -1):
        return f"{name} has the wrong sign everywhere"
    if n > 1 and math.isclose(c, n, rel_tol=1e-6):
        return f"{name} is N = {n} times too big: the loss is a mean over the batch, divide by N"
    if n > 1 and math.isclose(c, 1 / n, rel_tol=1e-6):
        return f"{name} is divided by N = {n} once too often"
    return f"{name} is {fmt(c)} times the right gradient: a constant factor is off"


def _templates(spec: LayerSpec, name: str, want: np.ndarray, a: dict, mask=None):
    """Wrong gradients students often write, each with what to fix."""
    layer, x = spec.layer, a["x"]
    dout = a.get("dout")
    if layer == "dropout" and name == "dx" and mask is not None:
        p = float(dict(spec.config)["p"])
        yield dout / p, "the backward must use the forward's mask: keep it in the cache"
        yield dout, "the backward must use the forward's mask (and its 1/p scale)"
        yield dout * (mask != 0), "the backward forgets the 1/p scale the forward applied"
    if layer == "conv" and name == "dx":
        yield (
            _conv_dx_flipped(spec, a),
            (
                "the kernel is flipped in dx: each input gets dout times the filter weight it met "
                "in the forward, w[f, c, i, j], not w[f, c, HH−1−i, WW−1−j]"
            ),
        )
    if layer == "relu" and name == "dx":
        yield dout, "relu passes the gradient only where x > 0: multiply by (x > 0)"
    if layer == "sigmoid" and name == "dx":
        s = 1 / (1 + np.exp(-x))
        yield dout * x * (1 - x), "s·(1−s) takes the output s, not the input x"
        yield dout * s, "sigmoid's derivative is s·(1−s): the (1 − s) factor is missing"
    if layer == "tanh" and name == "dx":
        yield dout * (1 - x * x), "tanh's derivative is 1 − tanh(x)²: use the output, not x"
        yield dout * (1 - np.tanh(x)), "tanh's derivative is 1 − t² (t squared), not 1 − t"
    if layer == "leaky_relu" and name == "dx":
        yield dout * (x > 0), "the negative side's gradient is alpha·dout, not 0"
    if layer in ("batchnorm", "layernorm") and name == "dx":
        axis = 0 if layer == "batchnorm" else 1
        istd = 1 / np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5)
        yield (
            dout * a["gamma"] * istd,
            (
                "the mean and variance depend on x too: dx needs their two terms "
                "(without them it is right only for one row)"
            ),
        )
    if layer == "softmax_loss" and name == "dx":
        n = x.shape[0]
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        yield p / n, "subtract 1 at each row's correct class: dx = (softmax − onehot) / N"
    if layer == "svm_loss" and name == "dx":
        n = x.shape[0]
        rows = np.arange(n)
        y = a["y"]
        m = np.maximum(0, x - x[rows, y][:, None] + 1)
        m[rows, y] = 0
        yield (
            (m > 0) / n,
            (
                "each row's correct class gets minus the number of positive margins: "
                "dx[i, y_i] = −count_i / N"
            ),
        )
    if layer == "two_layer_net" and name in ("dW1", "dW2"):
        reg = float(dict(spec.config).get("reg", 0.0))
        w = a[name[1:]]
        if reg:
            yield want - reg * w, f"the regulariser's gradient, reg·{name[1:]}, is missing"
            yield (
                want + reg * w,
                (
                    f"the regulariser's gradient is 2·reg·{name[1:]}: the loss here has "
                    "0.5·reg·Σ W² (the course convention), whose gradient is reg·W"
                ),
            )
    if layer == "max_pool" and name == "dx":
        c = dict(spec.config)
        ph, pw, s = int(c["pool_height"]), int(c["pool_width"]), int(c["stride"])
        spread = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                spread[:, :, i * s : i * s + ph, j * s : j * s + pw] += dout[:, :, i, j][
                    :, :, None, None
                ]
        yield spread, "only the maximum of each window moved the output: it alone gets dout"


def _conv_dx_flipped(spec: LayerSpec, a: dict) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    c = dict(spec.config)
    x = torch.tensor(a["x"], requires_grad=True)
    w = torch.tensor(a["w"]).flip(2, 3)
    out = F.conv2d(x, w, None, stride=int(c["stride"]), padding=int(c["pad"]))
    return torch.autograd.grad((out * torch.tensor(a["dout"])).sum(), x)[0].numpy()


def _dropout_mask(spec: LayerSpec, arrays: dict, out: np.ndarray):
    """The engine's mask (out / x) and, when it is not a dropout mask, why."""
    x = arrays["x"]
    p = float(dict(spec.config)["p"])
    if out.shape != x.shape:
        return None, f"the output has shape {_shape(out.shape)}, not x's {_shape(x.shape)}"
    mask = out / x
    kept = mask != 0
    if not np.allclose(mask[kept], 1 / p, rtol=max(1e-12, 64 * EPSILON[spec.dtype]), atol=0):
        return None, (
            f"dropout's kept units must be x / p (inverted dropout, p = {fmt(p)} the keep "
            f"probability): the output holds x·{fmt(float(np.median(mask[kept])))}"
        )
    n, k = x.size, int(kept.sum())
    sd = math.sqrt(n * p * (1 - p)) or 1.0
    if abs(k - n * p) > DROPOUT_SIGMAS * sd:
        return None, (
            f"kept {k} of {n} units with p = {fmt(p)}: about {round(n * p)} expected; is p the "
            'keep probability here? (a table can say p = "drop")'
        )
    return np.where(kept, 1 / p, 0.0), ""


def _running_rows(case, engine, spec: LayerSpec, result, ref) -> list[Record]:
    """Batch norm's running mean and variance after one training step, against torch's."""
    if spec.layer != "batchnorm":
        return []
    rows = []
    for name in ("running_mean", "running_var"):
        got = result.extra.get(name)
        want = ref.extra[name]
        tol = 64 * EPSILON[spec.dtype] * (np.abs(want) + 1)
        row = _compare(case, engine, "running", name, got, want, tol, spec)
        if name == "running_var" and row.status == Status.FAIL and _is_array(got):
            n = spec.shape_of("x")[0]
            x = case.spec.arrays()["x"]
            c = dict(spec.config)
            m = float(c.get("momentum", 0.9))
            biased = m * spec.arrays()["running_var"] + (1 - m) * x.var(axis=0)
            if np.allclose(got, biased, rtol=max(1e-9, 64 * EPSILON[spec.dtype]), atol=0):
                row = replace(
                    row, status=Status.DIFFERS.value, kind="statistics",
                    detail=f"running_var keeps the biased batch variance (÷N, numpy's var); "
                    f"torch keeps the unbiased one (÷(N−1), N = {n})",
                )  # fmt: skip
        rows.append(row)
    return rows


# How far a correct engine's loss may drift from torch.optim.SGD's over a few steps, relative to
# 1 + the loss: measured at 3.4e-16 at most for refimpl and the einsum engine over 3 seeds of
# 2,000 cases; 1e-12 leaves a margin of 3,000, and a gradient off by 1e-6 still shows.
TRAINING_ENVELOPE = 1e-12


def torch_trajectory(spec: LayerSpec, arrays: dict, steps: int, lr: float) -> list[float]:
    """The loss after each of `steps` steps of torch.optim.SGD on the two-layer network (its
    update, `sgd_step`, without building the optimizer: that imports torch._dynamo, 1.6 s)."""
    import torch

    from conformance.engines.torch_engine import sgd_step
    from conformance.oracles.layers import forward_on

    params = {k: torch.tensor(arrays[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")}
    fixed = {k: torch.tensor(arrays[k]) for k in ("x", "y")}
    losses = []
    for _ in range(steps):
        for p in params.values():
            p.grad = None
        forward_on(spec, fixed | params).backward()
        sgd_step(list(params.values()), lr)
        with torch.no_grad():
            losses.append(float(forward_on(spec, fixed | params)))
    return losses


def _training_rows(case, engine, spec: LayerSpec, result, arrays: dict) -> list[Record]:
    """A model trained a few SGD steps with its own gradients, against torch.optim.SGD."""
    got = result.extra.get("losses") if isinstance(result.extra, dict) else None
    c = dict(spec.config)
    if got is None or not int(c.get("steps", 0)):
        return []
    steps, lr = int(c["steps"]), float(c.get("lr", 0.1))
    want = torch_trajectory(spec, arrays, steps, lr)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != (steps,):
        detail = f"the training gave {got.size} losses for {steps} steps"
        return [_row(case, engine, "training", "loss", Status.ERROR, detail=detail)]
    gaps = np.abs(got - np.asarray(want))
    scale = EPSILON[spec.dtype] / EPSILON["float64"]  # float32's rounding: 2**29 times wider
    allowed = TRAINING_ENVELOPE * scale * (1 + np.abs(np.asarray(want)))
    gaps = np.where(np.isfinite(got), gaps, np.inf)
    k = int(np.argmax(gaps / allowed))
    ok = bool(np.all(gaps <= allowed))
    ga, ge = pair(float(got[-1]), float(want[-1]))
    detail = (
        f"after {steps} SGD steps (lr {fmt(lr)}) with its own gradients the loss is {ga} "
        f"(torch.optim.SGD: {ge}); the widest gap, after step {k + 1}, is {fmt(float(gaps[k]))} "
        f"of {fmt(float(allowed[k]))} allowed"
    )
    return [_row(
        case, engine, "training", "loss", Status.PASS if ok else Status.FAIL,
        expected=float(want[-1]), actual=float(got[-1]), abs_err=float(gaps[-1]),
        tolerance=float(allowed[-1]), detail=detail,
    )]  # fmt: skip


def _sign_and_update(case, engine, spec, result, ref, arrays, mask) -> list[Record]:
    """For each parameter: how many elements of its gradient point torch's way, and whether
    one SGD step on it alone, with the engine's gradient, lowers the loss."""
    rows = []
    before = layer_loss(spec, arrays, mask if mask is not None else _ones(arrays))
    for param in PARAMS:
        name = f"d{param}"
        got, want = result.grads.get(name), ref.grads.get(name)
        if want is None or not _is_array(got) or got.shape != want.shape:
            continue
        tol = ref.tols[name]
        sure = np.abs(want) > tol  # elements whose sign torch is sure of
        agree = int((np.sign(got[sure]) == np.sign(want[sure])).sum())
        total = int(sure.sum())
        share = agree / total if total else 1.0
        wrong = total - agree
        detail = (
            f"{agree} of {total} elements of {name} have torch's sign: a positive gradient "
            f"means decrease {param} to lower the loss"
            + (f"; {wrong} would move {param} the wrong way" if wrong else "")
        )
        status = Status.PASS if wrong == 0 else Status.FAIL
        rows.append(_row(case, engine, "sign", name, status, expected=1.0, actual=share,
                         detail=detail))  # fmt: skip
        norm = float(np.linalg.norm(got))
        if norm == 0 or not math.isfinite(norm):
            continue
        lr = 1e-3 * max(1.0, float(np.linalg.norm(arrays[param]))) / norm
        stepped = dict(arrays)
        stepped[param] = arrays[param] - lr * got
        after = layer_loss(spec, stepped, mask if mask is not None else _ones(arrays))
        torch_step = dict(arrays)
        torch_step[param] = arrays[param] - lr * want
        expected = layer_loss(spec, torch_step, mask if mask is not None else _ones(arrays))
        lowered = after < before
        detail = (
            f"one SGD step on {param} with the engine's {name} (lr {fmt(lr)}) "
            + ("lowers" if lowered else "does not lower")
            + f" the loss: {fmt(after - before)} (torch's {name}: {fmt(expected - before)})"
        )
        rows.append(_row(
            case, engine, "update", name, Status.PASS if lowered else Status.FAIL,
            expected=expected - before, actual=after - before, detail=detail,
        ))  # fmt: skip
    return rows
