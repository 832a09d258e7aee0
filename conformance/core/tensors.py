"""Tensor cases as plain data: which layer, the inputs' shapes, its settings, and a seed that
gives every input's values (numpy, no torch), so any process rebuilds the same arrays."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LAYERS",
    "LAYER_PREFIX",
    "MODELS",
    "X_DIMS",
    "Layer",
    "LayerSpec",
    "TensorResult",
    "check_x",
    "is_layer_engine",
]

LAYER_PREFIX = "layers:"  # an engine named layers:FILE_OR_MODULE is a module of layer functions


def is_layer_engine(name: str) -> bool:
    """Whether the engine called `name` is a module of layer functions."""
    return name.startswith(LAYER_PREFIX)


@dataclass(frozen=True)
class Layer:
    """What a layer takes and gives: its inputs in the forward's order (x first), the gradients
    its backward returns, the name of its settings dict (None: it takes none), and whether it
    is a loss: `NAME(x, y) -> (loss, dx)` with no separate backward."""

    inputs: tuple[str, ...]
    grads: tuple[str, ...]
    param: str | None = None
    loss: bool = False
    forward: str = ""  # the conventional function names; empty: NAME_forward / NAME_backward
    backward: str = ""

    def names(self, layer: str) -> tuple[str, str]:
        """The conventional (forward, backward) function names; a loss has one function."""
        if self.loss:
            return self.forward or layer, ""
        return self.forward or f"{layer}_forward", self.backward or f"{layer}_backward"


LAYERS: dict[str, Layer] = {
    "affine": Layer(("x", "w", "b"), ("dx", "dw", "db")),
    "relu": Layer(("x",), ("dx",)),
    "leaky_relu": Layer(("x",), ("dx",), "lrelu_param"),
    "sigmoid": Layer(("x",), ("dx",)),
    "tanh": Layer(("x",), ("dx",)),
    "softmax_loss": Layer(("x", "y"), ("dx",), loss=True),
    "svm_loss": Layer(("x", "y"), ("dx",), loss=True),
    "mse_loss": Layer(("x", "y"), ("dx",), loss=True),
    "batchnorm": Layer(("x", "gamma", "beta"), ("dx", "dgamma", "dbeta"), "bn_param"),
    "layernorm": Layer(("x", "gamma", "beta"), ("dx", "dgamma", "dbeta"), "ln_param"),
    "dropout": Layer(("x",), ("dx",), "dropout_param"),
    "conv": Layer(
        ("x", "w", "b"),
        ("dx", "dw", "db"),
        "conv_param",
        forward="conv_forward_naive",
        backward="conv_backward_naive",
    ),
    "max_pool": Layer(
        ("x",),
        ("dx",),
        "pool_param",
        forward="max_pool_forward_naive",
        backward="max_pool_backward_naive",
    ),
    # A whole model: a class with `params` (a dict of arrays) and `loss(X, y) -> (loss, grads)`:
    # affine - relu - affine - softmax, plus 0.5 · reg · (ΣW1² + ΣW2²).
    "two_layer_net": Layer(
        ("x", "y", "W1", "b1", "W2", "b2"),
        ("dW1", "db1", "dW2", "db2"),
        loss=True,
        forward="TwoLayerNet",
    ),
}
MODELS = ("two_layer_net",)  # layers that are whole models (a class, not functions)


@dataclass(frozen=True)
class LayerSpec:
    """One layer case: `shapes` of the inputs, `config` (the settings dict's numbers), and the
    `seed` every value is drawn from; `values` pins some inputs instead (the fixed cases)."""

    layer: str
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    config: tuple[tuple[str, float | int | str], ...] = ()
    seed: int = 0
    values: tuple[tuple[str, tuple[float, ...]], ...] = ()
    shift: float = 0.0  # added to x: batch norm's statistics are not those of N(0, 1)
    dtype: str = "float64"

    def validate(self) -> LayerSpec:
        """This spec, or a ValueError saying in one line what does not fit: a layer, its inputs'
        names and shapes, its settings, the dtype, the seed, pinned values."""
        layer = LAYERS.get(self.layer)
        if layer is None:
            raise ValueError(f"unknown layer {self.layer!r}: one of {', '.join(LAYERS)}")
        names = [n for n, _ in self.shapes]
        if sorted(names) != sorted(layer.inputs):
            raise ValueError(f"{self.layer} takes {', '.join(layer.inputs)}, not {names}")
        for name, shape in self.shapes:
            if not shape or any(not isinstance(n, int) or n < 1 for n in shape):
                raise ValueError(f"{name}'s shape {list(shape)} must be sizes of at least 1")
        if self.dtype not in ("float64", "float32", "float16"):
            raise ValueError(f"dtype {self.dtype!r}: layers take float64, float32 or float16")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed {self.seed} must be from 0 to 2**63 - 1")
        sizes = dict(self.shapes)
        for name, values in self.values:
            if name in sizes and len(values) != math.prod(sizes[name]):
                raise ValueError(f"{len(values)} values for {name} of shape {list(sizes[name])}")
        _check_settings(self.layer, dict(self.config))
        _check_shapes(self.layer, sizes)
        if any(n < 1 for n in self.out_shape()):
            raise ValueError(f"{self.layer}'s output would be empty: {list(self.out_shape())}")
        return self

    def formula(self) -> str:
        """The case in a few words: `affine(x 2×3, w 3×4, b 4)`."""
        shapes = ", ".join(f"{name} {'×'.join(map(str, shape))}" for name, shape in self.shapes)
        return f"{self.layer}({shapes})"

    def shape_of(self, name: str) -> tuple[int, ...]:
        """The shape of input `name`."""
        return dict(self.shapes)[name]

    def settings(self) -> dict:
        """The layer's settings dict, fresh (an engine may write into it)."""
        return dict(self.config)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every input, and `dout` (the upstream gradient, never all ones) for layers that are
        not losses: the same arrays in every process, for the same spec; numbers of the spec's
        dtype (float32 arrays for a float32 engine; the labels stay integers)."""
        import numpy as np  # here: a scalar engine's worker never needs it

        rng = np.random.default_rng(self.seed)
        pinned = dict(self.values)
        out: dict[str, np.ndarray] = {}
        for name, shape in self.shapes:
            if name == "y" and self.layer in ("softmax_loss", "svm_loss", "two_layer_net"):
                classes = self.shape_of("W2" if self.layer in MODELS else "x")[1]
                drawn = rng.integers(0, classes, size=shape)
                out[name] = np.asarray(pinned[name], dtype=np.int64).reshape(shape) if (
                    name in pinned
                ) else drawn  # fmt: skip
                continue
            drawn = rng.standard_normal(shape)
            if name == "x":
                drawn = drawn + self.shift
            if name == "gamma":
                drawn = 1.0 + 0.5 * drawn  # a scale near 1, as trained networks have
            if name in ("W1", "W2"):
                drawn = drawn / np.sqrt(shape[0])  # a network's usual initial scale
            if name in pinned:
                drawn = np.asarray(pinned[name], dtype=np.float64).reshape(shape)
            out[name] = drawn
        if self.layer == "batchnorm":
            d = self.shape_of("x")[1]
            out["running_mean"] = np.asarray(pinned.get("running_mean", rng.standard_normal(d)))
            out["running_var"] = np.asarray(pinned.get("running_var", 1 + rng.random(d)))
        if not LAYERS[self.layer].loss:
            shape = self.out_shape()
            dout = rng.standard_normal(shape)
            out["dout"] = np.asarray(pinned["dout"]).reshape(shape) if "dout" in pinned else dout
        if self.dtype != "float64":
            kind = {"float32": np.float32, "float16": np.float16}.get(self.dtype)
            if kind is None:
                raise ValueError(f"numpy has no {self.dtype}: layers take float64, 32 or 16")
            out = {k: v if v.dtype.kind == "i" else v.astype(kind) for k, v in out.items()}
        return out

    def out_shape(self) -> tuple[int, ...]:
        """The shape of the layer's output."""
        x = self.shape_of("x")
        c = dict(self.config)
        if self.layer == "affine":
            return (x[0], self.shape_of("w")[1])
        if self.layer == "conv":
            f, _, hh, ww = self.shape_of("w")
            s, p = int(c["stride"]), int(c["pad"])
            return (x[0], f, 1 + (x[2] + 2 * p - hh) // s, 1 + (x[3] + 2 * p - ww) // s)
        if self.layer == "max_pool":
            ph, pw, s = int(c["pool_height"]), int(c["pool_width"]), int(c["stride"])
            return (x[0], x[1], 1 + (x[2] - ph) // s, 1 + (x[3] - pw) // s)
        if LAYERS[self.layer].loss:
            return ()
        return x

    def to_dict(self) -> dict:
        """Plain data; `from_dict` reads it back."""
        d: dict = {
            "layer": self.layer,
            "shapes": {name: list(shape) for name, shape in self.shapes},
            "config": dict(self.config),
            "seed": self.seed,
        }
        if self.values:
            d["values"] = {name: list(v) for name, v in self.values}
        if self.shift:
            d["shift"] = self.shift
        if self.dtype != "float64":
            d["dtype"] = self.dtype
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LayerSpec:
        """Read what `to_dict` wrote; ValueError says what is wrong."""
        try:
            layer = str(d["layer"])
            if layer not in LAYERS:
                raise ValueError(f"unknown layer {layer!r}: one of {', '.join(LAYERS)}")
            spec = cls(
                layer=layer,
                shapes=tuple((str(k), tuple(int(n) for n in v)) for k, v in d["shapes"].items()),
                config=tuple((str(k), v) for k, v in d.get("config", {}).items()),
                seed=int(d.get("seed", 0)),
                values=tuple(
                    (str(k), tuple(float(x) for x in v)) for k, v in d.get("values", {}).items()
                ),
                shift=float(d.get("shift", 0.0)),
                dtype=str(d.get("dtype", "float64")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a layer spec: {type(exc).__name__}: {exc}") from None
        return spec.validate()

    def case_id(self) -> str:
        """A stable id: the layer's name and a hash of the canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return f"{self.layer}-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _check_settings(layer: str, c: dict) -> None:
    """The settings a layer needs, each in its range."""

    def whole(key: str, least: int) -> None:
        v = c.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise ValueError(f"{layer}'s {key} must be a whole number of at least {least}")

    def number(key: str, lo: float, hi: float, *, lo_open: bool = False) -> None:
        v = c.get(key)
        if v is None:
            return
        if (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or not ((lo < v if lo_open else lo <= v) and v <= hi)
        ):
            raise ValueError(f"{layer}'s {key} must be a number in {'(' if lo_open else '['}"
                             f"{lo:g}, {hi:g}]")  # fmt: skip

    if layer == "conv":
        whole("stride", 1)
        whole("pad", 0)
    elif layer == "max_pool":
        for key in ("pool_height", "pool_width", "stride"):
            whole(key, 1)
    elif layer == "dropout":
        if "p" not in c:
            raise ValueError("dropout needs p, the keep probability")
        number("p", 0.0, 1.0, lo_open=True)
        if c.get("mode", "train") != "train":
            raise ValueError('dropout is checked in training mode: mode must be "train"')
    elif layer == "leaky_relu":
        number("alpha", -1e6, 1e6)
    elif layer in ("batchnorm", "layernorm"):
        number("eps", 0.0, 1.0, lo_open=True)
        number("momentum", 0.0, 1.0)
    elif layer == "two_layer_net":
        number("reg", 0.0, 1e6)
        number("lr", 0.0, 1e6, lo_open=True)
        if "steps" in c:
            whole("steps", 0)


# How many dimensions each layer's x has (affine: at least 2; the elementwise ones: any).
X_DIMS = {"conv": 4, "max_pool": 4, "batchnorm": 2, "layernorm": 2, "softmax_loss": 2,
          "svm_loss": 2, "mse_loss": 2, "two_layer_net": 2}  # fmt: skip


def check_x(layer: str, x: tuple[int, ...]) -> None:
    """ValueError unless x has the dimensions `layer` takes."""
    if layer in X_DIMS and len(x) != X_DIMS[layer]:
        raise ValueError(f"{layer} takes x of {X_DIMS[layer]} dimensions, not {list(x)}")
    if layer == "affine" and len(x) < 2:
        raise ValueError(f"affine takes x of at least 2 dimensions (N, D, ...), not {list(x)}")


def _check_shapes(layer: str, s: dict) -> None:
    """The inputs' shapes fit the layer and each other."""
    check_x(layer, s["x"])
    x = s["x"]

    def same(name: str, want: tuple) -> None:
        if tuple(s[name]) != tuple(want):
            raise ValueError(f"{layer}: {name} has shape {list(s[name])}, not {list(want)}")

    if layer == "affine":
        same("w", (math.prod(x[1:]), s["w"][-1]))
        same("b", (s["w"][-1],))
    elif layer == "conv":
        if len(s["w"]) != 4:
            raise ValueError(f"conv takes w of 4 dimensions (F, C, HH, WW), not {list(s['w'])}")
        same("w", (s["w"][0], x[1], *s["w"][2:]))
        same("b", (s["w"][0],))
    elif layer in ("batchnorm", "layernorm"):
        same("gamma", (x[1],))
        same("beta", (x[1],))
    elif layer in ("softmax_loss", "svm_loss"):
        same("y", (x[0],))
    elif layer == "mse_loss":
        same("y", x)
    elif layer == "two_layer_net":
        d, h = x[1], s["W1"][-1]
        same("y", (x[0],))
        same("W1", (d, h))
        same("b1", (h,))
        same("W2", (h, s["W2"][-1]))
        same("b2", (s["W2"][-1],))


@dataclass(frozen=True)
class TensorResult:
    """What a layer engine gave for one spec: the output (or the loss), each gradient by name
    (`dx`, `dw`, ...), what it wrote into its settings (`extra`: running statistics), or why
    there is nothing (`error`: it raised or returned garbage; `skip`: the layer is missing)."""

    out: object = None
    grads: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    error: str | None = None
    skip: str | None = None

    def to_dict(self) -> dict:
        """Plain data for the pipe: arrays stay numpy arrays (they pickle)."""
        return {
            "tensor": True,
            "out": self.out,
            "grads": self.grads,
            "extra": self.extra,
            "error": self.error,
            "skip": self.skip,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TensorResult:
        """Read back what `to_dict` wrote."""
        return cls(d.get("out"), d.get("grads") or {}, d.get("extra") or {}, d.get("error"),
                   d.get("skip"))  # fmt: skip
