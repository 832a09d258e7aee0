"""Function engines: `f(spec) -> value and gradients`, the form of a tape or a graph compiler."""

from __future__ import annotations

from refimpl import Value
from refimpl.engine import grad as refimpl_grad


def _build(spec: dict) -> tuple[list[Value], Value]:
    decode = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
    num = lambda v: decode.get(v, v) if isinstance(v, str) else v  # noqa: E731
    leaves = [Value(num(v)) for v in spec["leaves"]]
    env = {f"x{i}": v for i, v in enumerate(leaves)}
    env.update((f"c{i}", num(c)) for i, c in enumerate(spec["consts"]))
    ops = {
        "add": lambda a, p: a[0] + a[1], "sub": lambda a, p: a[0] - a[1],
        "mul": lambda a, p: a[0] * a[1], "div": lambda a, p: a[0] / a[1],
        "neg": lambda a, p: -a[0], "powc": lambda a, p: a[0] ** p,
        "powv": lambda a, p: a[0] ** a[1],
        "exp": lambda a, p: a[0].exp(), "log": lambda a, p: a[0].log(),
        "tanh": lambda a, p: a[0].tanh(), "sigmoid": lambda a, p: a[0].sigmoid(),
        "relu": lambda a, p: a[0].relu(), "leaky_relu": lambda a, p: a[0].leaky_relu(0.01),
        "affine": lambda a, p: a[0] * a[1] - a[2], "square": lambda a, p: a[0] ** 2,
    }  # fmt: skip
    for i, node in enumerate(spec["nodes"]):
        env[f"n{i}"] = ops[node["op"]]([env[a] for a in node["args"]], node.get("param"))
    return leaves, env[spec["output"]]


def engine(spec: dict) -> dict:
    """A correct function engine: refimpl's functional grad() on the spec."""
    leaves, out = _build(spec)
    grads = refimpl_grad(out, leaves, spec["upstream"])
    k = 1 if spec.get("zero_between") else spec.get("backwards", 1)
    return {"value": out.data, "grads": [g * k for g in grads]}


def pair_engine(spec: dict) -> tuple:
    """The same, answering with a (value, grads) pair and declaring the ops it supports."""
    answer = engine(spec)
    return answer["value"], answer["grads"]


pair_engine.ops = ["add", "sub", "mul", "neg", "relu"]


def wrong_shape(spec: dict) -> dict:
    """Garbage: one gradient too many."""
    answer = engine(spec)
    return {"value": answer["value"], "grads": [*answer["grads"], 0.0]}
