"""The two oracles: torch.autograd (float64) and central finite differences, batched in torch.

Finite differences use torch's forward only, never its backward formulas, so they check torch's
gradients independently. The perturbed points of a case go through one vectorised forward pass
(several for big graphs): each leaf becomes a 1-D tensor over (centre, ±h, ±h/2 for every leaf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.engines.torch_engine import DTYPE, TorchEngine, evaluate

__all__ = ["FiniteDifferences", "finite_differences", "torch_in_dtype", "torch_reference"]

_TORCH = TorchEngine()
# Relative step: balances truncation (h**2) against rounding (eps / h) for smooth functions.
STEP = 1e-5
# Most numbers (leaves and nodes, times points) one finite-difference pass holds: 2**24 float64
# is 128 MB. Perturbing all n leaves at once took n x 4n numbers: 1.28 GB for a 20 KB spec.
PASS_ELEMENTS = 2**24


def torch_reference(spec: GraphSpec) -> EngineResult:
    """torch.autograd's value, leaf gradients, node values and node gradients for `spec`."""
    return _TORCH.run(spec)


def torch_in_dtype(spec: GraphSpec) -> EngineResult:
    """torch.autograd computing in `spec.dtype` itself: that precision's conventions (where exp
    overflows, what underflows to 0), as opposed to the truth, which is float64's."""
    if spec.dtype == "float64":
        return _TORCH.run(spec)
    return TorchEngine(getattr(torch, spec.dtype)).run(spec)


@dataclass(frozen=True)
class FiniteDifferences:
    """A Richardson-extrapolated central difference per leaf, with an estimate of its error."""

    grads: tuple[float, ...]
    truncation: tuple[float, ...]  # |D(h) - D(h/2)|: how much the step still matters
    steps: tuple[float, ...]


def finite_differences(spec: GraphSpec) -> FiniteDifferences:
    """d(upstream * output)/d(leaf) by central differences, in as few torch passes as fit."""
    n = len(spec.leaves)
    steps = [STEP * max(1.0, abs(x)) for x in spec.leaves]
    per_pass = _leaves_per_pass(spec)
    f: list[float] = []
    for first in range(0, n, per_pass):
        f.extend(_perturbed_outputs(spec, steps, first, min(n, first + per_pass)))
    grads, trunc, used = [], [], []
    for j in range(n):
        x = spec.leaves[j]
        fp, fm, fp2, fm2 = f[4 * j : 4 + 4 * j]
        h = (x + steps[j]) - x  # the step actually taken, after rounding
        h2 = (x + steps[j] / 2) - x
        hm = x - (x - steps[j])
        hm2 = x - (x - steps[j] / 2)
        d1 = (fp - fm) / (h + hm)
        d2 = (fp2 - fm2) / (h2 + hm2)
        grads.append((4.0 * d2 - d1) / 3.0)
        trunc.append(abs(d2 - d1) if math.isfinite(d2 - d1) else math.inf)
        used.append(h2 + hm2)
    k = spec.grad_factor  # backward() called k times without zeroing: k times the gradient
    return FiniteDifferences(tuple(g * k for g in grads), tuple(t * k for t in trunc), tuple(used))


def _leaves_per_pass(spec: GraphSpec) -> int:
    """How many leaves one pass perturbs: every one when the points fit in PASS_ELEMENTS (every
    generated case), fewer for big graphs, so memory grows with the graph, not its square."""
    values = len(spec.leaves) + len(spec.nodes)  # each holds one number per point
    return max(1, min(len(spec.leaves), (PASS_ELEMENTS // values - 1) // 4))


def _perturbed_outputs(spec: GraphSpec, steps: list[float], first: int, end: int) -> list[float]:
    """f at (x_j + h, x_j - h, x_j + h/2, x_j - h/2) for each leaf j in [first, end), in order."""
    n, width = len(spec.leaves), 1 + 4 * (end - first)
    # Leaf j -> row j, one column per point: the centre, then 4 per perturbed leaf.
    points = torch.tensor(spec.leaves, dtype=DTYPE).unsqueeze(1).repeat(1, width)
    moved, rows = [], []  # the perturbed points, set in one assignment (not 4 per leaf)
    for j in range(first, end):
        x, h = spec.leaves[j], steps[j]
        moved += (x + h, x + -h, x + h / 2, x + -h / 2)
        rows += (j, j, j, j)
    points[rows, torch.arange(1, width)] = torch.tensor(moved, dtype=DTYPE)
    with torch.no_grad():
        leaves = [points[j] for j in range(n)]
        nodes = evaluate(spec, leaves)
        out = _output(spec, leaves, nodes) * spec.upstream
    f = out.tolist() if out.dim() else [out.item()] * width
    return f[1:]


def _output(spec: GraphSpec, leaves: list, nodes: list) -> torch.Tensor:
    kind, index = spec.output[0], int(spec.output[1:])
    return leaves[index] if kind == "x" else nodes[index]
