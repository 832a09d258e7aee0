"""Tolerances scaled by the conditioning of what is compared, so they neither cry wolf nor sleep.

A plain relative tolerance fails both ways: where terms cancel, two correct engines differ by far
more than a few ULP of the result; where nothing cancels, a derivative wrong by one part in a
million hides under a loose one. So the allowed error is a running error bound for the graph at
hand, computed in floats from torch's node values:

- forward: `fe(v)`, the absolute error a correct float64 engine may have in node v: the op's own
  rounding (`Op.ulp` epsilons of |v|) plus each input's error times |local derivative|;
- local derivatives: `ed`, how far a correct engine's local derivative may be off: its own
  rounding plus how much it moves when its inputs (and output, which tanh and sigmoid reuse)
  move by their forward error;
- backward: over absolute values, `A(v)` bounds the gradient's magnitude along all paths, and
  `B(v)` its error: the error arriving from above times |d|, plus |gradient above| times `ed`,
  plus the rounding of each product and sum.
The tolerance is `SAFETY` times the bound. Where two correct engines differ, both stay within it;
a single op that is wrong by 1e-6 exceeds it by orders of magnitude in a one-op case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.spec import GraphSpec
from conformance.vocabulary import OPS

__all__ = ["EPS", "SAFETY", "Bounds", "bounds"]

EPS = 2.0**-52
SAFETY = 8.0


@dataclass(frozen=True)
class Bounds:
    """Allowed errors: the output value, each leaf gradient, each node value and gradient."""

    value: float
    grads: tuple[float, ...]
    node_values: tuple[float, ...]
    node_grads: tuple[float, ...]
    forward_error: float  # fe of the output, before SAFETY: the finite differences' rounding


def _finite(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def bounds(spec: GraphSpec, node_values: Sequence[float]) -> Bounds:
    """Tolerances for `spec`, given the oracle's value of every node."""
    value = {f"x{i}": x for i, x in enumerate(spec.leaves)}
    value.update((f"c{i}", c) for i, c in enumerate(spec.consts))
    fe = dict.fromkeys(value, 0.0)
    locals_: list[tuple[float, ...]] = []
    local_errors: list[tuple[float, ...]] = []
    for i, node in enumerate(spec.nodes):
        op = OPS[node.op]
        xs = [value[a] for a in node.args]
        out = node_values[i]
        d = op.local(xs, out, node.param)
        err_in = [fe[a] for a in node.args]
        fe_out = op.ulp * EPS * abs(out) + sum(abs(dj) * e for dj, e in zip(d, err_in))
        ref = f"n{i}"
        value[ref], fe[ref] = out, _finite(fe_out)
        locals_.append(d)
        local_errors.append(_local_error(node, xs, out, d, err_in, fe[ref]))

    grad_scale = dict.fromkeys(value, 0.0)  # A
    grad_error = dict.fromkeys(value, 0.0)  # B
    grad_scale[spec.output] = abs(spec.upstream)
    for i in range(len(spec.nodes) - 1, -1, -1):
        ref = f"n{i}"
        a, b = grad_scale[ref], grad_error[ref]
        if a == 0.0 and b == 0.0:
            continue  # does not reach the output
        for arg, dj, ej in zip(spec.nodes[i].args, locals_[i], local_errors[i]):
            if arg[0] == "c":
                continue
            ad = abs(dj)
            grad_scale[arg] += a * ad
            grad_error[arg] += b * ad + a * (ej + 2.0 * EPS * ad)

    def tol(x: float) -> float:
        return SAFETY * _finite(x)

    k = spec.grad_factor  # each backward() adds the same gradient again, rounding included
    return Bounds(
        value=tol(fe[spec.output]),
        grads=tuple(k * tol(grad_error[f"x{i}"]) for i in range(len(spec.leaves))),
        node_values=tuple(tol(fe[f"n{i}"]) for i in range(len(spec.nodes))),
        node_grads=tuple(tol(grad_error[f"n{i}"]) for i in range(len(spec.nodes))),
        forward_error=fe[spec.output],
    )


def _local_error(
    node, xs: list[float], out: float, d: tuple[float, ...], err_in: list[float], err_out: float
) -> tuple[float, ...]:
    """How far a correct engine's local derivatives may be from `d` (absolute, per input)."""
    op = OPS[node.op]
    p = node.param
    dev = [(op.ulp + 1.0) * EPS * abs(dj) for dj in d]
    # Shortcuts with the same result as the general rule below, for the commonest ops.
    if node.op in _CONSTANT_LOCALS:  # derivatives ±1 whatever the inputs: only rounding
        return tuple(dev)
    if node.op == "mul":  # d = (b, a): moving a by ±e moves d[1] by e, each way
        return (_finite(dev[0] + 2.0 * err_in[1]), _finite(dev[1] + 2.0 * err_in[0]))
    for k, e in enumerate(err_in):
        if e == 0.0:
            continue
        for sign in (1.0, -1.0):
            moved = list(xs)
            moved[k] = xs[k] + sign * e
            _add_deviation(dev, d, op.local(moved, out, p))
    if err_out:
        for sign in (1.0, -1.0):
            _add_deviation(dev, d, op.local(xs, out + sign * err_out, p))
    return tuple(_finite(v) for v in dev)


_CONSTANT_LOCALS = frozenset({"add", "sub", "neg"})


def _add_deviation(dev: list[float], d: tuple[float, ...], moved: tuple[float, ...]) -> None:
    # Both signs are tried; adding each deviation keeps the bound on the safe side.
    for j, (dj, mj) in enumerate(zip(d, moved)):
        dev[j] += abs(mj - dj) if math.isfinite(mj) else math.inf
