"""Function engines that compute in float32, as a C `float`, a Rust `f32` or a numpy float32
engine does (and two in float16): every op's value, every local derivative and every step of the
backward pass rounded. `engine` (and `engine16`) is correct; the others carry one small bug each,
a relative error in one local derivative, which float64 tolerances could never tell from
rounding."""

from __future__ import annotations

import struct

from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS


def f32(x: float) -> float:
    """x rounded to float32 (an infinity past its range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def f16(x: float) -> float:
    """x rounded to float16 (an infinity past its range)."""
    try:
        return struct.unpack("<e", struct.pack("<e", x))[0]
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def _run(spec_dict: dict, off: dict[str, float], f32=f32) -> dict:
    """The spec computed with every number rounded by `f32` (float32's rounding, or another)."""
    spec = GraphSpec.from_dict(spec_dict)
    values = {f"x{i}": f32(v) for i, v in enumerate(spec.leaves)}
    values.update((f"c{i}", f32(v)) for i, v in enumerate(spec.consts))
    locals_ = []
    for i, node in enumerate(spec.nodes):
        op = OPS[node.op]
        xs = [values[a] for a in node.args]
        out = f32(op.forward(xs, node.param))
        d = [f32(dj * (1.0 + off.get(node.op, 0.0))) for dj in op.local(xs, out, node.param)]
        values[f"n{i}"] = out
        locals_.append(d)
    grads = dict.fromkeys(values, 0.0)
    grads[spec.output] = f32(spec.upstream)
    for i in range(len(spec.nodes) - 1, -1, -1):
        g = grads[f"n{i}"]
        for arg, dj in zip(spec.nodes[i].args, locals_[i]):
            grads[arg] = f32(grads[arg] + f32(g * dj))
    k = 1 if spec.zero_between else spec.backwards
    return {
        "value": values[spec.output],
        "grads": [k * grads[f"x{i}"] for i in range(len(spec.leaves))],
    }


def engine(spec: dict) -> dict:
    """A correct float32 engine."""
    return _run(spec, {})


def tanh_off_1e3(spec: dict) -> dict:
    """tanh's local derivative off by one part in a thousand."""
    return _run(spec, {"tanh": 1e-3})


def mul_off_1e3(spec: dict) -> dict:
    """The product rule off by one part in a thousand."""
    return _run(spec, {"mul": 1e-3})


def tanh_off_1e4(spec: dict) -> dict:
    """tanh's local derivative off by one part in ten thousand."""
    return _run(spec, {"tanh": 1e-4})


def engine16(spec: dict) -> dict:
    """A correct float16 engine (a GPU's half precision)."""
    return _run(spec, {}, f16)


def mul_off_1e1_f16(spec: dict) -> dict:
    """float16, the product rule off by one part in ten (float16 keeps about three digits, and
    a graph's rounding adds up: 3e-2 hides in it, 1e-1 does not)."""
    return _run(spec, {"mul": 1e-1}, f16)


def declared(spec: dict) -> dict:
    """The correct float32 engine, saying so: its `dtype` attribute, as a Value class may."""
    return _run(spec, {})


declared.dtype = "float32"
