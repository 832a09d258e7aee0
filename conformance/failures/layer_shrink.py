"""Shrinking a failing layer case to the smallest shapes that still fail the same way.

A layer's sizes are named dimensions (a batch N, features D, outputs M, ...), each the length of
one or more axes of its inputs (affine's D is x's second axis and w's first). Each dimension is
tried smaller, one at a time, the inputs drawn again from the case's seed, and kept while the
engine still fails that way; until no dimension can shrink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from conformance.core.tensors import LayerSpec

__all__ = ["dimensions", "shrink_layer"]

MAX_TRIES = 60  # engine calls one shrink may make
# Sizes a dimension keeps at least: batch norm's statistics need two rows in training mode.
_LEAST = {("batchnorm", "N"): 2}

# Each layer's dimensions: a name and the (input, axis) pairs whose length it is.
_GROUPS: dict[str, dict[str, tuple[tuple[str, int], ...]]] = {
    "affine": {"N": (("x", 0),), "D": (("x", 1), ("w", 0)), "M": (("w", 1), ("b", 0))},
    "softmax_loss": {"N": (("x", 0), ("y", 0)), "C": (("x", 1),)},
    "svm_loss": {"N": (("x", 0), ("y", 0)), "C": (("x", 1),)},
    "mse_loss": {"N": (("x", 0), ("y", 0)), "C": (("x", 1), ("y", 1))},
    "batchnorm": {"N": (("x", 0),), "D": (("x", 1), ("gamma", 0), ("beta", 0))},
    "layernorm": {"N": (("x", 0),), "D": (("x", 1), ("gamma", 0), ("beta", 0))},
    "conv": {
        "N": (("x", 0),),
        "C": (("x", 1), ("w", 1)),
        "H": (("x", 2),),
        "W": (("x", 3),),
        "F": (("w", 0), ("b", 0)),
        "HH": (("w", 2),),
        "WW": (("w", 3),),
    },
    "max_pool": {"N": (("x", 0),), "C": (("x", 1),), "H": (("x", 2),), "W": (("x", 3),)},
    "two_layer_net": {
        "N": (("x", 0), ("y", 0)),
        "D": (("x", 1), ("W1", 0)),
        "H": (("W1", 1), ("b1", 0), ("W2", 0)),
        "C": (("W2", 1), ("b2", 0)),
    },
}


def dimensions(spec: LayerSpec) -> dict[str, tuple[tuple[str, int], ...]]:
    """The spec's named dimensions; elementwise layers (and a flattened affine input) get one
    per axis of x."""
    x = spec.shape_of("x")
    if spec.layer == "affine" and len(x) > 2:  # D = d1·d2 is w's first axis: keep it as it is
        return {"N": (("x", 0),), "M": (("w", 1), ("b", 0))}
    if spec.layer in _GROUPS:
        return _GROUPS[spec.layer]
    return {f"x{i}": (("x", i),) for i in range(len(x))}


def _resized(spec: LayerSpec, axes: tuple[tuple[str, int], ...], size: int) -> LayerSpec | None:
    shapes = {name: list(shape) for name, shape in spec.shapes}
    for name, axis in axes:
        shapes[name][axis] = size
    new = replace(spec, shapes=tuple((k, tuple(v)) for k, v in shapes.items()))
    return new if _fits(new) else None


def _fits(spec: LayerSpec) -> bool:
    """Whether the layer can run on these shapes at all (an output of at least one element)."""
    try:
        out = spec.out_shape()
    except (KeyError, ValueError):
        return False
    return all(n >= 1 for n in out)


def _smaller(size: int) -> list[int]:
    return sorted({s for s in (1, 2, size // 2, size - 1) if 1 <= s < size})


def shrink_layer(spec: LayerSpec, still_fails: Callable[[LayerSpec], bool]) -> LayerSpec:
    """The smallest shapes found that still fail; `spec` itself when none is smaller, or when
    its values are pinned (a fixed case)."""
    if spec.values:
        return spec
    tries = 0
    changed = True
    while changed and tries < MAX_TRIES:
        changed = False
        for dim, axes in dimensions(spec).items():
            size = spec.shape_of(axes[0][0])[axes[0][1]]
            least = _LEAST.get((spec.layer, dim), 1)
            for smaller in (s for s in _smaller(size) if s >= least):
                candidate = _resized(spec, axes, smaller)
                if candidate is None:
                    continue
                tries += 1
                if still_fails(candidate):
                    spec, changed = candidate, True
                    break
                if tries >= MAX_TRIES:
                    return spec
    return spec
