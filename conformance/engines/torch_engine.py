"""torch.autograd in float64: the oracle, and an engine under test ("torch checked by itself")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec, Node
from conformance.core.vocabulary import OPS

__all__ = ["TorchEngine", "evaluate", "sgd_step"]

DTYPE = torch.float64


def evaluate(spec: GraphSpec, leaves: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Every node's value, torch ops on `leaves` (0-d or 1-d: a batch of points at once)."""
    return spec.walk(leaves, _torch_op)


def _torch_op(node: Node, args: list) -> torch.Tensor:
    return OPS[node.op].torch(args, node.param)


class TorchEngine:
    """Runs a spec with torch autograd and reports every node's value and gradient; in float64,
    or in another dtype (`torch.float32`, ...) for that precision's conventions."""

    name = "torch"

    def __init__(self, dtype: torch.dtype = DTYPE) -> None:
        self.dtype = dtype

    def run(self, spec: GraphSpec) -> EngineResult:
        """Forward, backward from upstream * output, with retain_grad on every node.

        With `spec.backwards` > 1 the node gradients accumulate too (retain_grad's semantics);
        the leaves' are what is compared then.
        """
        leaves = [torch.tensor(x, dtype=self.dtype, requires_grad=True) for x in spec.leaves]
        nodes = evaluate(spec, leaves)
        for n in nodes:
            if n.requires_grad:
                n.retain_grad()
        output = spec.resolve(spec.output, leaves, nodes)
        scaled = output if spec.upstream == 1.0 else output * spec.upstream
        for call in range(spec.backwards):
            if call and spec.zero_between:
                for leaf in leaves:
                    leaf.grad = None  # optimizer.zero_grad(set_to_none=True)
            scaled.backward(retain_graph=True)
        stepped = None
        if spec.step is not None:  # torch's SGD update; a leaf without a gradient stays put
            params = [leaves[i] for i in spec.step.params]
            sgd_step([p for p in params if p.grad is not None], spec.step.lr)
            stepped = tuple(p.item() for p in params)
        return EngineResult(
            value=output.item(),
            grads=tuple(_grad(leaf) for leaf in leaves),
            node_values=tuple(n.item() for n in nodes),
            node_grads=tuple(_grad(n) for n in nodes),
            stepped=stepped,
        )


def sgd_step(params: list[torch.Tensor], lr: float) -> None:
    """One step of plain SGD: the update `torch.optim.SGD.step` makes without momentum or weight
    decay (its single-tensor path: `param.add_(grad, alpha=-lr)`; tests/test_neurons.py checks the
    two agree bit for bit). Building the optimizer object imports torch._dynamo on first use,
    most of a second per process, for the same arithmetic."""
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-lr)


def _grad(t: torch.Tensor) -> float:
    # A node the output does not depend on has no gradient in torch: it is 0 for the comparison.
    return 0.0 if t.grad is None else t.grad.item()
