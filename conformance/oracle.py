"""The two oracles: torch.autograd (float64) and central finite differences, batched in torch.

Finite differences use torch's forward only, never its backward formulas, so they check torch's
gradients independently. All perturbed points of a case go through one vectorised forward pass:
each leaf becomes a 1-D tensor over (centre, ±h, ±h/2 for every leaf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from conformance.engines.result import EngineResult
from conformance.engines.torch_engine import DTYPE, TorchEngine, evaluate
from conformance.spec import GraphSpec

__all__ = ["FiniteDifferences", "finite_differences", "torch_reference"]

_TORCH = TorchEngine()
# Relative step: balances truncation (h**2) against rounding (eps / h) for smooth functions.
STEP = 1e-5


def torch_reference(spec: GraphSpec) -> EngineResult:
    """torch.autograd's value, leaf gradients, node values and node gradients for `spec`."""
    return _TORCH.run(spec)


@dataclass(frozen=True)
class FiniteDifferences:
    """A Richardson-extrapolated central difference per leaf, with an estimate of its error."""

    grads: tuple[float, ...]
    truncation: tuple[float, ...]  # |D(h) - D(h/2)|: how much the step still matters
    steps: tuple[float, ...]


def finite_differences(spec: GraphSpec) -> FiniteDifferences:
    """d(upstream * output)/d(leaf) by central differences, all points in one torch pass."""
    n = len(spec.leaves)
    centre = torch.tensor(spec.leaves, dtype=DTYPE)
    steps = []
    columns = [centre]
    for j in range(n):
        x = spec.leaves[j]
        h = STEP * max(1.0, abs(x))
        for delta in (h, -h, h / 2, -h / 2):
            col = centre.clone()
            col[j] = x + delta
            columns.append(col)
        steps.append(h)
    points = torch.stack(columns, dim=1)  # leaf j -> row j, one column per point
    with torch.no_grad():
        leaves = [points[j] for j in range(n)]
        nodes = evaluate(spec, leaves)
        out = _output(spec, leaves, nodes) * spec.upstream
    f = out.tolist() if out.dim() else [out.item()] * (1 + 4 * n)
    grads, trunc, used = [], [], []
    for j in range(n):
        x = spec.leaves[j]
        fp, fm, fp2, fm2 = f[1 + 4 * j : 5 + 4 * j]
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


def _output(spec: GraphSpec, leaves: list, nodes: list) -> torch.Tensor:
    kind, index = spec.output[0], int(spec.output[1:])
    return leaves[index] if kind == "x" else nodes[index]
