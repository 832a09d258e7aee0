"""The layers suite: a tiny fixed case per layer (numbers a person can check), then random
shapes. Every shape is non-square (a transposed gradient cannot pass by luck), batch sizes of
one included, and the upstream gradient is random (never all ones)."""

from __future__ import annotations

import random
from dataclasses import replace

from conformance.cases.generate import sub_seed
from conformance.core.case import Case
from conformance.core.tensors import LAYERS, LayerSpec

__all__ = ["layer_case_count", "layer_cases"]

# Random cases per layer: one for every CASES_PER_LAYER of --cases (2000: 50 a layer).
CASES_PER_LAYER = 40
TRAIN_STEPS = 5  # SGD steps of the two-layer network's training cases
MIN_PER_LAYER = 4


def per_layer(cases: int) -> int:
    """Random cases of each layer for `--cases`."""
    return max(MIN_PER_LAYER, cases // CASES_PER_LAYER)


def layer_case_count(cases: int) -> int:
    """How many cases the suite has for `--cases`."""
    return sum(1 + len(_conventions(layer)) + per_layer(cases) for layer in LAYERS)


def layer_cases(seed: int, cases: int, dtype: str = "float64") -> list[Case]:
    """The suite's cases: each layer's fixed case, then its random ones, layer by layer; in
    `dtype`, the precision the engine computes in."""
    out = []
    for layer in LAYERS:
        out.append(_case(_fixed(layer), dtype))
        out.extend(_case(spec, dtype) for spec in _conventions(layer))
        for i in range(per_layer(cases)):
            rng = random.Random(sub_seed(seed, "layers", layer, i))
            spec = _random(layer, rng, sub_seed(seed, "layer-values", layer, i))
            out.append(_case(spec, dtype))
    return out


def _case(spec: LayerSpec, dtype: str = "float64") -> Case:
    spec = spec if dtype == "float64" else replace(spec, dtype=dtype)
    return Case("layers", spec.case_id(), spec, spec.layer, kind="layer")  # type: ignore[arg-type]


def _distinct(rng: random.Random, count: int, lo: int, hi: int, avoid=()) -> list[int]:
    """`count` different sizes in [lo, hi], none in `avoid`: no square matrix anywhere."""
    choices = [n for n in range(lo, hi + 1) if n not in avoid]
    return rng.sample(choices, count)


def _random(layer: str, rng: random.Random, seed: int) -> LayerSpec:
    n = rng.choice([1, 1, 2, 3, 4, 5, 7])  # batch 1 often: it hides reduction bugs elsewhere
    shapes: dict[str, tuple[int, ...]]
    config: dict = {}
    shift = 0.0
    if layer == "affine":
        if rng.random() < 0.3:  # an image-like input, flattened by the layer
            d1, d2 = _distinct(rng, 2, 2, 4, avoid=(n,))
            m = _distinct(rng, 1, 2, 8, avoid=(n, d1 * d2, d1, d2))[0]
            shapes = {"x": (n, d1, d2), "w": (d1 * d2, m), "b": (m,)}
        else:
            d, m = _distinct(rng, 2, 2, 9, avoid=(n,))
            shapes = {"x": (n, d), "w": (d, m), "b": (m,)}
    elif layer in ("relu", "leaky_relu", "sigmoid", "tanh", "dropout"):
        d = _distinct(rng, 1, 2, 9, avoid=(n,))[0]
        shapes = {"x": (n, d)} if rng.random() < 0.7 else {"x": (n, d, d + 1)}
        if layer == "leaky_relu":
            config = {"alpha": rng.choice([0.01, 0.1, 0.2])}
        if layer == "tanh" or layer == "sigmoid":
            shift = rng.choice([0.0, 0.0, 1.5, -2.0])
        if layer == "dropout":
            n = max(n, 4)  # enough units to tell the keep rate
            shapes = {"x": (n, d + 8)}
            config = {"p": rng.choice([0.5, 0.8, 0.3]), "mode": "train", "seed": seed % 2**31}
    elif layer in ("softmax_loss", "svm_loss", "mse_loss"):
        c = _distinct(rng, 1, 2, 9, avoid=(n,))[0]
        shapes = {"x": (n, c), "y": (n,) if layer != "mse_loss" else (n, c)}
    elif layer in ("batchnorm", "layernorm"):
        n = max(n, 2) if layer == "batchnorm" else n
        d = _distinct(rng, 1, 2, 9, avoid=(n,))[0]
        shapes = {"x": (n, d), "gamma": (d,), "beta": (d,)}
        config = {"eps": 1e-5}
        if layer == "batchnorm":
            config["momentum"] = rng.choice([0.9, 0.99])
        shift = rng.choice([0.0, 3.0, -1.5])
    elif layer == "conv":
        c, f = _distinct(rng, 2, 1, 4)
        hh, ww = _distinct(rng, 2, 1, 3)
        stride, pad = rng.choice([1, 1, 2]), rng.choice([0, 1])
        h, w = _distinct(rng, 2, max(hh, ww) + 1, 7)
        shapes = {"x": (n, c, h, w), "w": (f, c, hh, ww), "b": (f,)}
        config = {"stride": stride, "pad": pad}
    elif layer == "two_layer_net":
        d, h, c = _distinct(rng, 3, 2, 9, avoid=(n,))
        shapes = {"x": (n, d), "y": (n,), "W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
        config = {"reg": rng.choice([0.0, 0.0, 0.1])}
        if seed % 4 == 0:  # a few SGD steps, against torch.optim.SGD on the same network
            config |= {"steps": TRAIN_STEPS, "lr": 0.5}
    elif layer == "max_pool":
        c = rng.randint(1, 3)
        ph, pw = rng.choice([(2, 2), (2, 3), (3, 2)])
        stride = rng.choice([1, 2])
        h, w = _distinct(rng, 2, 4, 8)
        shapes = {"x": (n, c, h, w)}
        config = {"pool_height": ph, "pool_width": pw, "stride": stride}
    else:
        raise ValueError(f"no shapes for layer {layer!r}")
    return LayerSpec(layer, tuple(shapes.items()), tuple(config.items()), seed, shift=shift)


def _conventions(layer: str) -> list[LayerSpec]:
    """Fixed cases where torch's answer is a convention: relu at 0, tied maxima in a pooling
    window, softmax of scores large enough to overflow exp (a precision matter)."""
    if layer in ("relu", "leaky_relu"):
        x = (0.0, -1.0, 2.0, 0.0, 1.5, -0.5)
        config = (("alpha", 0.1),) if layer == "leaky_relu" else ()
        values = (("x", x), ("dout", (1.0, 2.0, -1.0, 0.5, -2.0, 1.0)))
        return [LayerSpec(layer, (("x", (2, 3)),), config, seed=2, values=values)]
    if layer == "max_pool":
        x = tuple(float(v) for v in (1, 3, 2, 2, 3, 0, 2, 1, 0, 1, 4, 4, 1, 0, 4, 4))
        config = (("pool_height", 2), ("pool_width", 2), ("stride", 2))
        return [LayerSpec(layer, (("x", (1, 1, 4, 4)),), config, seed=2, values=(("x", x),))]
    if layer == "softmax_loss":
        x = (1000.0, 990.0, 1010.0, -5.0, 800.0, 2.0)
        values = (("x", x), ("y", (2.0, 1.0)))
        return [LayerSpec(layer, (("x", (2, 3)), ("y", (2,))), seed=2, values=values)]
    return []


def _fixed(layer: str) -> LayerSpec:
    """A tiny case with round numbers: the example to work through by hand."""
    x23 = (1.0, -2.0, 0.5, 3.0, -1.0, 2.5)  # a 2×3 input: no zeros, no ties, no margin of 0
    base: dict = {"x": (2, 3)}
    values: dict = {"x": x23}
    config: dict = {}
    if layer == "affine":
        base |= {"w": (3, 4), "b": (4,)}
        values |= {
            "w": (0.1, 0.2, 0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.9, -1.0, 1.1, -1.2),
            "b": (0.5, -0.5, 1.0, 0.0),
            "dout": (1.0, 2.0, -1.0, 0.5, -2.0, 1.0, 0.5, 3.0),
        }
    elif layer in ("relu", "sigmoid", "tanh", "leaky_relu"):
        values["dout"] = (1.0, 2.0, -1.0, 0.5, -2.0, 1.0)
        if layer == "leaky_relu":
            config = {"alpha": 0.1}
    elif layer == "dropout":
        base = {"x": (4, 5)}
        values = {"x": tuple(float(i + 1) for i in range(20))}
        config = {"p": 0.5, "mode": "train", "seed": 7}
    elif layer in ("softmax_loss", "svm_loss"):
        base = {"x": (2, 3), "y": (2,)}
        values |= {"y": (2.0, 0.0)}
    elif layer == "mse_loss":
        base = {"x": (2, 3), "y": (2, 3)}
        values |= {"y": (0.0, -1.0, 1.0, 2.0, 0.0, 1.0)}
    elif layer in ("batchnorm", "layernorm"):
        base |= {"gamma": (3,), "beta": (3,)}
        values |= {
            "gamma": (1.0, 2.0, 0.5),
            "beta": (0.0, 1.0, -1.0),
            "dout": (1.0, 2.0, -1.0, 0.5, -2.0, 1.0),
            "running_mean": (0.0, 0.0, 0.0),
            "running_var": (1.0, 1.0, 1.0),
        }
        config = {"eps": 1e-5} | ({"momentum": 0.9} if layer == "batchnorm" else {})
    elif layer == "conv":
        base = {"x": (1, 1, 3, 4), "w": (2, 1, 2, 2), "b": (2,)}
        values = {
            "x": tuple(float(v) for v in (1, 2, 0.5, -1, 0, 3, 1, 2, -2, 1, 0.5, 1)),
            "w": (1.0, 0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5),
            "b": (0.5, -1.0),
        }
        config = {"stride": 1, "pad": 0}
    elif layer == "two_layer_net":  # 3 examples of 2 features, 4 hidden units, 3 classes
        base = {"x": (3, 2), "y": (3,), "W1": (2, 4), "b1": (4,), "W2": (4, 3), "b2": (3,)}
        values = {
            "x": (1.0, -1.0, 0.5, 2.0, -1.5, 0.5),
            "y": (0.0, 2.0, 1.0),
            "W1": (0.5, -0.25, 1.0, 0.75, -0.5, 0.25, 0.5, -1.0),
            "b1": (0.1, 0.2, -0.1, 0.3),
            "W2": (1.0, -0.5, 0.25, -0.75, 0.5, 1.0, 0.25, -0.25, 0.5, 0.5, 1.0, -1.0),
            "b2": (0.0, 0.1, -0.1),
        }
        config = {"reg": 0.1, "steps": TRAIN_STEPS, "lr": 0.5}
    elif layer == "max_pool":
        base = {"x": (1, 1, 4, 4)}
        values = {"x": tuple(float((7 * i) % 16) - 8 for i in range(16))}
        config = {"pool_height": 2, "pool_width": 2, "stride": 2}
    return LayerSpec(
        layer,
        tuple(base.items()),
        tuple(config.items()),
        seed=1,
        values=tuple((k, v) for k, v in values.items()),
    )
