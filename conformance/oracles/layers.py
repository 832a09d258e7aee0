"""What a layer should give: torch.autograd in float64, finite differences along a random
direction (gradcheck's fast mode), and each element's tolerance from a running error bound.

The bound: every element of a layer's output or gradient is a sum of products. Computed in any
order, its rounding error is at most about (terms + a few) · eps · Σ|each product|. The sum of
absolute values is the "absolute-value pass": for a bilinear layer (affine, convolution) it is
the same layer on |x|, |w| and |dout|; for the others it is written out below, beside torch's
formula. So a correct engine that sums in another order (einsum, blocked loops, a loop per row)
never fails, and a wrong local derivative, even 1e-6 of one element, does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from conformance.core.dtypes import EPSILON, spacing
from conformance.core.tensors import LAYERS, LayerSpec

__all__ = ["PARAMS", "LayerReference", "forward_on", "layer_loss", "layer_reference"]

# Inputs that are parameters (sign-and-update rows), as opposed to data (x) and labels (y).
PARAMS = ("w", "b", "gamma", "beta", "W1", "b1", "W2", "b2")
# The bound's constant factor, and the rounding steps each element may add beyond its terms
# (a division, a square root, an exp inside a formula).
SLACK = 4.0
EXTRA_STEPS = 16
FD_STEP = 1e-6  # relative to the direction's size; central differences, float64


@dataclass
class LayerReference:
    """torch's output and gradients for one case, each with its tolerance per element."""

    out: np.ndarray
    out_tol: np.ndarray
    grads: dict[str, np.ndarray]
    tols: dict[str, np.ndarray]
    fd_agrees: dict[str, bool] = field(default_factory=dict)  # torch's gradient vs differences
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # running statistics


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    t = torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)
    return t.requires_grad_(grad)


def _forward(spec: LayerSpec, t: dict[str, torch.Tensor], mask: np.ndarray | None = None):
    """The layer in torch, on tensors `t` (x, w, ...)."""
    c = dict(spec.config)
    x = t["x"]
    layer = spec.layer
    if layer == "affine":
        return x.reshape(x.shape[0], -1) @ t["w"] + t["b"]
    if layer == "relu":
        return torch.relu(x)
    if layer == "leaky_relu":
        return F.leaky_relu(x, float(c.get("alpha", 0.01)))
    if layer == "sigmoid":
        return torch.sigmoid(x)
    if layer == "tanh":
        return torch.tanh(x)
    if layer == "softmax_loss":
        return F.cross_entropy(x, t["y"].long())
    if layer == "svm_loss":
        n = x.shape[0]
        rows = torch.arange(n)
        y = t["y"].long()
        margins = torch.clamp(x - x[rows, y].unsqueeze(1) + 1, min=0)
        keep = torch.ones_like(x)
        keep[rows, y] = 0
        return (margins * keep).sum() / n
    if layer == "mse_loss":
        return F.mse_loss(x, t["y"])
    if layer == "batchnorm":
        rm, rv = t["running_mean"].detach().clone(), t["running_var"].detach().clone()
        out = F.batch_norm(
            x, rm, rv, t["gamma"], t["beta"], training=True,
            momentum=1 - float(c.get("momentum", 0.9)), eps=float(c.get("eps", 1e-5)),
        )  # fmt: skip
        t["_running_mean"], t["_running_var"] = rm, rv
        return out
    if layer == "layernorm":
        return F.layer_norm(x, (x.shape[1],), t["gamma"], t["beta"], float(c.get("eps", 1e-5)))
    if layer == "dropout":
        return x * _t(mask)
    if layer == "conv":
        return F.conv2d(x, t["w"], t["b"], stride=int(c["stride"]), padding=int(c["pad"]))
    if layer == "max_pool":
        kernel = (int(c["pool_height"]), int(c["pool_width"]))
        return F.max_pool2d(x, kernel, stride=int(c["stride"]))
    if layer == "two_layer_net":
        scores = torch.relu(x @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
        reg = float(c.get("reg", 0.0))
        penalty = 0.5 * reg * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
        return F.cross_entropy(scores, t["y"].long()) + penalty
    raise ValueError(f"unknown layer {layer!r}")


def forward_on(spec: LayerSpec, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """The layer in torch on tensors the caller holds (a training loop's parameters)."""
    return _forward(spec, t)


def differentiable(spec: LayerSpec) -> tuple[str, ...]:
    """The inputs that get a gradient (the labels do not; a model's data does not either)."""
    return tuple(g[1:] for g in LAYERS[spec.layer].grads)


def layer_loss(spec: LayerSpec, arrays: dict, mask: np.ndarray | None = None) -> float:
    """The scalar the gradients are of: the loss, or Σ out · dout for a layer."""
    t = {k: _t(v) for k, v in arrays.items()}
    with torch.no_grad():
        out = _forward(spec, t, mask)
        value = out if LAYERS[spec.layer].loss else (out * t["dout"]).sum()
    return float(value)


def layer_reference(spec: LayerSpec, arrays: dict, mask: np.ndarray | None = None):
    """torch's output and gradients for `spec` at `arrays`, with tolerances."""
    names = differentiable(spec)
    t = {k: _t(v, k in names) for k, v in arrays.items()}
    out = _forward(spec, t, mask)
    scalar = out if LAYERS[spec.layer].loss else (out * t["dout"]).sum()
    grads = torch.autograd.grad(scalar, [t[n] for n in names])
    ref_grads = {f"d{n}": g.detach().numpy() for n, g in zip(names, grads)}
    out_np = out.detach().numpy()
    wide = {k: v if v.dtype.kind == "i" else v.astype(np.float64) for k, v in arrays.items()}
    out_scale, scales = _scales(spec, wide, out_np, ref_grads, mask)  # the sizes, in float64
    terms = max(int(np.prod(a.shape)) for a in arrays.values()) + EXTRA_STEPS
    eps = EPSILON[spec.dtype]
    bound = SLACK * terms * eps
    # Below the smallest normal number a narrower dtype rounds to multiples of its smallest
    # subnormal: each of the terms may lose half of one, however small the result.
    floor = 0.0 if spec.dtype == "float64" else SLACK * terms * spacing(0.0, spec.dtype) / 2
    ref = LayerReference(
        out=out_np,
        out_tol=bound * out_scale + floor,
        grads=ref_grads,
        tols={k: bound * s + floor for k, s in scales.items()},
    )
    ref.fd_agrees = {f"d{n}": _fd_agrees(spec, arrays, n, ref_grads[f"d{n}"], mask) for n in names}
    if spec.layer == "batchnorm":
        ref.extra = {
            "running_mean": t["_running_mean"].numpy(),
            "running_var": t["_running_var"].numpy(),
        }
    return ref


def _fd_agrees(spec: LayerSpec, arrays: dict, name: str, grad: np.ndarray, mask) -> bool:
    """Whether torch's gradient of `name` matches central differences of torch's own forward
    along a random direction: False at a kink or a tie (relu at 0, two equal maxima)."""
    rng = np.random.default_rng(spec.seed + 7919)
    v = rng.standard_normal(arrays[name].shape)
    h = FD_STEP * max(1.0, float(np.abs(arrays[name]).max()))
    plus, minus = dict(arrays), dict(arrays)
    plus[name] = arrays[name] + h * v
    minus[name] = arrays[name] - h * v
    fd = (layer_loss(spec, plus, mask) - layer_loss(spec, minus, mask)) / (2 * h)
    exact = float((grad * v).sum())
    scale = float((np.abs(grad) * np.abs(v)).sum()) + 1e-300
    return abs(fd - exact) <= 1e-5 * scale + 1e-9 * abs(layer_loss(spec, arrays, mask)) / h


def _scales(spec: LayerSpec, a: dict, out: np.ndarray, grads: dict, mask):
    """Σ|products| for the output and for each gradient, element by element."""
    layer = spec.layer
    dout = a.get("dout")
    if layer in ("affine", "conv"):  # bilinear: the same layer on absolute values
        t = {k: _t(np.abs(v), k in ("x", "w", "b")) for k, v in a.items()}
        o = _forward(spec, t)
        g = torch.autograd.grad((o * t["dout"]).sum(), [t["x"], t["w"], t["b"]])
        return o.detach().numpy(), {
            "dx": g[0].numpy(), "dw": g[1].numpy(), "db": g[2].numpy()
        }  # fmt: skip
    if layer in ("relu", "leaky_relu", "sigmoid", "tanh"):
        # dx = dout · f'(x); f'(x) itself is a short formula (1 − t², s − s²) whose rounding is
        # at most a few eps of its terms, each at most 1: hence |f'| + 1.
        x = _t(a["x"], True)
        fprime = torch.autograd.grad(_forward(spec, {"x": x}).sum(), x)[0].numpy()
        # tanh and sigmoid written through exp ((e^x − e^−x)/(e^x + e^−x)) round a few eps
        # absolute near 0, not relative: a floor of 1 in their output's scale.
        floor = 1.0 if layer in ("tanh", "sigmoid") else 0.0
        out_scale = np.abs(out) + np.abs(a["x"] * fprime) + floor
        return out_scale, {"dx": np.abs(dout) * (np.abs(fprime) + 1)}
    if layer == "dropout":
        return np.abs(out), {"dx": np.abs(dout * mask)}
    if layer == "max_pool":  # dx routes dout to the maxima, summing where windows overlap
        x = _t(a["x"], True)
        o = _forward(spec, {"x": x})
        return np.abs(out), {"dx": torch.autograd.grad((o * _t(np.abs(dout))).sum(), x)[0].numpy()}
    if layer == "softmax_loss":
        x = a["x"]
        n, classes = x.shape
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        onehot = np.zeros_like(x)
        onehot[np.arange(n), a["y"]] = 1
        loss = float(np.mean(2 * np.abs(x).max(axis=1) + math.log(classes)))
        # exp(x − lse): the exponent rounds relative to |x| + |lse|, and p with it.
        exponent = 1 + np.abs(x) + np.abs(x).max(axis=1, keepdims=True)
        return np.asarray(loss), {"dx": (p * exponent + onehot) / n}
    if layer == "svm_loss":
        x = a["x"]
        n, classes = x.shape
        return np.asarray((np.abs(x) + 1).sum() * 2 / n), {"dx": np.full(x.shape, classes / n)}
    if layer == "mse_loss":
        s = np.abs(a["x"]) + np.abs(a["y"])
        return np.asarray((s * s).mean()), {"dx": 2 * s / s.size}
    if layer in ("batchnorm", "layernorm"):
        return _norm_scales(a, axis=0 if layer == "batchnorm" else 1)
    if layer == "two_layer_net":
        return _net_scales(spec, a)
    raise ValueError(f"no bound for layer {layer!r}")


def _norm_scales(a: dict, axis: int):
    """Batch norm (statistics over axis 0) and layer norm (axis 1), from
    dx = istd/n · (n·dxhat − Σ dxhat − xhat · Σ dxhat·xhat), dxhat = dout · gamma."""
    x, gamma, beta, dout = a["x"], a["gamma"], a["beta"], a["dout"]
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    istd = 1 / np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5)
    xabs = (np.abs(x) + np.abs(mu)) * istd  # x − mean rounds relative to |x| + |mean|
    dxhat = np.abs(dout * gamma)
    s1 = dxhat.sum(axis=axis, keepdims=True)
    s2 = (dxhat * xabs).sum(axis=axis, keepdims=True)
    dx = istd / n * (n * dxhat + s1 + xabs * s2)
    return np.abs(gamma) * xabs + np.abs(beta), {
        "dx": dx,
        "dgamma": (np.abs(dout) * xabs).sum(axis=0),
        "dbeta": np.abs(dout).sum(axis=0),
    }


def _net_scales(spec: LayerSpec, a: dict):
    """The two-layer network, backward with absolute values: each product's size, summed."""
    x, w1, b1, w2, b2, y = a["x"], a["W1"], a["b1"], a["W2"], a["b2"], a["y"]
    reg = float(dict(spec.config).get("reg", 0.0))
    n = x.shape[0]
    pre = x @ w1 + b1
    hidden = np.maximum(pre, 0)
    h_abs = (np.abs(x) @ np.abs(w1) + np.abs(b1)) * (pre > 0)
    scores = hidden @ w2 + b2
    s_abs = h_abs @ np.abs(w2) + np.abs(b2)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(scores)
    onehot[np.arange(n), y] = 1
    exponent = 1 + s_abs + s_abs.max(axis=1, keepdims=True)
    dscores = (p * exponent + onehot) / n
    dh = (dscores @ np.abs(w2).T) * (pre > 0)
    penalty = 0.5 * reg * ((w1**2).sum() + (w2**2).sum())
    loss = float(np.mean(2 * s_abs.max(axis=1) + math.log(scores.shape[1]))) + penalty
    return np.asarray(loss), {
        "dW1": np.abs(x).T @ dh + reg * np.abs(w1),
        "db1": dh.sum(axis=0),
        "dW2": h_abs.T @ dscores + reg * np.abs(w2),
        "db2": dscores.sum(axis=0),
    }
