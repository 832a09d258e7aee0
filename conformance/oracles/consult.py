"""What a graph is judged by (torch.autograd, finite differences and the error bounds), worked out
once per graph in a process.

Engines checked one after another in a process (`grade`, a test suite) run the same cases when
they support the same op forms (the random graphs avoid what an engine lacks), and a case's
oracles are the same for all of them. So they are kept, most recently used first, up to a budget
of graph nodes, and an equal graph reuses them.
Equal means equal field by field, and the same sign of every zero among the numbers: -0.0 == 0.0
in Python, but 1/x is -inf at one and +inf at the other.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.oracles.autograd import FiniteDifferences, finite_differences, torch_reference
from conformance.oracles.tolerance import Bounds, bounds

__all__ = ["Oracle", "consult"]

# Graph nodes (leaves and op nodes) whose oracles are kept: about 375 bytes a node, so 60 MB at
# most. The default run's graphs hold 112,000: engines of the same forms share all of theirs.
BUDGET = 160_000


@dataclass(frozen=True)
class Oracle:
    """What the two oracles say about one graph, and the tolerances that follow."""

    reference: EngineResult
    fd: FiniteDifferences
    bounds: Bounds


_kept: OrderedDict[tuple, tuple[Oracle, int]] = OrderedDict()
_size = 0
_lock = threading.Lock()


def _zero_signs(spec: GraphSpec) -> tuple[float, ...]:
    numbers = [*spec.leaves, *spec.consts, spec.upstream]
    numbers += [n.param for n in spec.nodes if n.param is not None]
    return tuple(math.copysign(1.0, x) for x in numbers if x == 0)


def _consulted(spec: GraphSpec) -> Oracle:
    reference = torch_reference(spec)
    return Oracle(reference, finite_differences(spec), bounds(spec, reference.node_values))


def consult(spec: GraphSpec) -> Oracle:
    """torch.autograd, finite differences and the tolerances for `spec` (kept for the next
    equal graph)."""
    global _size
    size = len(spec.leaves) + len(spec.nodes)
    if size > BUDGET:  # a million-node chain: not kept, nor hashed
        return _consulted(spec)
    key = (spec, _zero_signs(spec))
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
            return kept[0]
    oracle = _consulted(spec)
    with _lock:
        if key not in _kept:
            _kept[key] = (oracle, size)
            _size += size
        while _size > BUDGET:
            _, (_, dropped) = _kept.popitem(last=False)
            _size -= dropped
    return oracle
