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

A bound must stay a bound where torch's numbers are exact zeros: a first-order term vanishes with
its derivative (`log(x/x)` is exactly 0 in torch, 1.1e-16 in an engine that divides as
`x * x**-1`, and a product of two such gives 1e-32 against torch's 0). So each forward step also
adds each input's error times the local derivative's own error (the `ea·eb` of a product), and
each backward step the arriving error times the local derivative's error.

`precision=True` gives a second, looser bound: the same propagation with each op rounding like a
legitimate textbook formula rather than torch's kernel (tanh as (e^2x − 1)/(e^2x + 1) is off by a
few EPS absolute near 0, where torch is off by a few EPS relative; a power through exp and log by
EPS·|log| relative). An engine between the two bounds computes the right derivatives with a less
precise formula: shown as `precision`, never wrong math. A derivative wrong by 1e-6 is still
millions of times beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.core.dtypes import EPSILON, spacing
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS

__all__ = ["EPS", "PRECISION_ULP", "SAFETY", "Bounds", "bounds"]

EPS = 2.0**-52
SAFETY = 8.0
# The looser rounding of textbook formulas, in EPS (see the docstring): measured worst cases are
# about 4 EPS (the lecture's tanh near 0, division as x * y**-1, x**p as exp(p·log x)).
PRECISION_ULP = 16.0
# Ops whose textbook formulas go through exp, so their error is absolute near 0, not relative.
_ABSOLUTE_NEAR_ZERO = frozenset({"tanh", "sigmoid"})
# Ops whose textbook formulas go through exp(·log): relative error grows with |log(out)|.
_THROUGH_LOG = frozenset({"exp", "powc", "powv", "div", "log"})


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


def _rounding(op_name: str, ulp: float, out: float, precision: bool, eps: float = EPS) -> float:
    """An op's own forward rounding: torch's kernel, or with `precision` a textbook formula's;
    `eps`, the machine epsilon of the engine's dtype."""
    if not precision:
        return ulp * eps * abs(out)
    scale = abs(out)
    if op_name in _ABSOLUTE_NEAR_ZERO:
        scale = max(scale, 1.0)
    elif op_name in _THROUGH_LOG and 0.0 < scale < math.inf:
        scale *= 1.0 + abs(math.log(scale))
    return max(ulp, PRECISION_ULP) * eps * scale


def bounds(spec: GraphSpec, node_values: Sequence[float], precision: bool = False) -> Bounds:
    """Tolerances for `spec`, given the oracle's value of every node (see the module docstring
    for `precision`). Each op rounds at the precision of `spec.dtype`: float64's EPS, or
    float32's 2**-23 for an engine computing in float32 (its inputs are float32 numbers)."""
    eps = EPSILON[spec.dtype]
    # Below the smallest normal number a result rounds to a multiple of the smallest subnormal,
    # half of which is then the error however small the result (float16's 6e-8 is not far from
    # the numbers a graph makes). float64 keeps its bound as it was: the floor is 2**-1075.
    floor = 0.0 if spec.dtype == "float64" else spacing(0.0, spec.dtype) / 2
    value = spec.named(spec.leaves, ())
    fe = dict.fromkeys(value, 0.0)
    locals_: list[tuple[float, ...]] = []
    local_errors: list[tuple[float, ...]] = []
    for i, node in enumerate(spec.nodes):
        op = OPS[node.op]
        xs = [value[a] for a in node.args]
        out = node_values[i]
        d = op.local(xs, out, node.param)
        err_in = [fe[a] for a in node.args]
        fe_out = _rounding(node.op, op.ulp, out, precision, eps) + floor
        fe_out += sum(abs(dj) * e for dj, e in zip(d, err_in))
        ref = f"n{i}"
        ed = _local_error(node, xs, out, d, err_in, _finite(fe_out), precision, eps)
        ed = tuple(e + floor for e in ed) if floor else ed
        # Second order: over the inputs' error interval the derivative moves by up to `ed`.
        fe_out += sum(e * ej for e, ej in zip(err_in, ed) if e)
        value[ref], fe[ref] = out, _finite(fe_out)
        locals_.append(d)
        local_errors.append(ed)

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
            # The arriving error meets the local derivative's error too: b·ej, second order.
            grad_error[arg] += b * (ad + ej) + a * (ej + 2.0 * eps * ad) + 2.0 * floor

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
    node,
    xs: list[float],
    out: float,
    d: tuple[float, ...],
    err_in: list[float],
    err_out: float,
    precision: bool = False,
    eps: float = EPS,
) -> tuple[float, ...]:
    """How far a correct engine's local derivatives may be from `d` (absolute, per input)."""
    op = OPS[node.op]
    p = node.param
    ulp = max(op.ulp, PRECISION_ULP) if precision else op.ulp
    dev = [(ulp + 1.0) * eps * abs(dj) for dj in d]
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
