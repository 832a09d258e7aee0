"""Shrink a failing tensor graph to a smaller one that fails the same way, within a budget.

Greedy and deterministic. First every leaf's values are pinned (so removing one leaf leaves the
others' numbers as they were); then the graph is cut after an earlier node (the smallest prefix
that still fails), nodes are bypassed one at a time (a node's readers read its first input
instead, where the shapes still fit), leaves nobody reads are dropped, and each leaf's axes are
cut down, one element at a time, while the shapes fit. Each candidate costs one engine call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from conformance.core.tensor_graph import TensorGraph, TNode

__all__ = ["pinned", "shrink_tensor_graph"]

DEFAULT_BUDGET = 60


def pinned(graph: TensorGraph) -> TensorGraph:
    """The same graph with every leaf's values written out (and the weight's)."""
    arrays = graph.arrays()
    values = tuple(
        (name, tuple(float(x) for x in np.asarray(arrays[name], dtype=np.float64).reshape(-1)))
        for name in [n for n, _ in graph.leaves] + ["weight"]
    )
    return replace(graph, values=values)


def _valid(graph: TensorGraph) -> TensorGraph | None:
    try:
        return graph.validate()
    except (ValueError, KeyError, IndexError):
        return None


def _tidy(graph: TensorGraph) -> TensorGraph:
    """Without the leaves no node reads, its nodes renumbered n1, n2, ..."""
    last = graph.names[-1]
    needed = {last}
    for name, node in reversed(list(zip(graph.names, graph.nodes))):
        if name in needed:
            needed.update(node.args)
    rename: dict[str, str] = {}
    nodes: list[TNode] = []
    for name, node in zip(graph.names, graph.nodes):
        if name in needed:
            rename[name] = f"n{len(nodes) + 1}"
            nodes.append(TNode(node.op, tuple(rename.get(a, a) for a in node.args), node.settings))
    leaves = tuple((n, s) for n, s in graph.leaves if n in needed) or graph.leaves[:1]
    kept = {n for n, _ in leaves}
    values = tuple((n, v) for n, v in graph.values if n in kept or n == "weight")
    if rename.get(last) != f"n{len(nodes)}" or len(nodes) != len(graph.nodes):
        values = tuple((n, v) for n, v in values if n != "weight")
    return replace(
        graph, leaves=leaves, nodes=tuple(nodes), values=values,
        positive=tuple(p for p in graph.positive if p in kept),
    )  # fmt: skip


def _prefix(graph: TensorGraph, k: int) -> TensorGraph:
    """The graph up to node k (1-based), the weight drawn again for its new last node."""
    values = tuple((n, v) for n, v in graph.values if n != "weight")
    return _tidy(replace(graph, nodes=graph.nodes[:k], values=values))


def _bypass(graph: TensorGraph, i: int) -> TensorGraph | None:
    """Node i (0-based) removed, its readers reading its first input."""
    gone, instead = graph.names[i], graph.nodes[i].args[0]
    nodes = []
    for j, node in enumerate(graph.nodes):
        if j == i:
            continue
        nodes.append(TNode(node.op, tuple(instead if a == gone else a for a in node.args),
                           node.settings))  # fmt: skip
    if not nodes:
        return None
    # Names after i shift down by one.
    rename = {graph.names[j]: f"n{j}" for j in range(i + 1, len(graph.nodes))}
    nodes = [TNode(n.op, tuple(rename.get(a, a) for a in n.args), n.settings) for n in nodes]
    values = tuple((n, v) for n, v in graph.values if n != "weight")
    return _valid(_tidy(replace(graph, nodes=tuple(nodes), values=values)))


def _smaller_leaf(graph: TensorGraph, leaf: str, axis: int) -> TensorGraph | None:
    """`leaf` with its last element along `axis` cut off (its pinned values sliced)."""
    shapes = dict(graph.leaves)
    shape = shapes[leaf]
    if shape[axis] <= 1:
        return None
    new_shape = tuple(n - 1 if i == axis else n for i, n in enumerate(shape))
    values = dict(graph.values)
    if leaf in values:
        a = np.asarray(values[leaf]).reshape(shape)
        values[leaf] = tuple(
            float(x) for x in np.take(a, range(new_shape[axis]), axis=axis).reshape(-1)
        )
    values.pop("weight", None)
    leaves = tuple((n, new_shape if n == leaf else s) for n, s in graph.leaves)
    nodes = tuple(_fit_labels(node, new_shape, axis, leaf) for node in graph.nodes)
    return _valid(replace(graph, leaves=leaves, nodes=nodes, values=tuple(values.items())))


def _fit_labels(node: TNode, shape: tuple, axis: int, leaf: str) -> TNode:
    """A cross-entropy reading `leaf` directly keeps one label per row."""
    if node.op != "cross_entropy" or node.args[0] != leaf:
        return node
    labels = tuple(node.get("labels"))[: shape[0]] if axis == 0 else node.get("labels")
    return TNode(node.op, node.args, (("labels", tuple(labels)),))


def shrink_tensor_graph(
    graph: TensorGraph, still_fails: Callable[[TensorGraph], bool], budget: int = DEFAULT_BUDGET
) -> TensorGraph:
    """The smallest graph found, within `budget` calls of `still_fails`, that still fails."""
    calls = 0
    best = pinned(graph)

    def tries(candidate: TensorGraph | None) -> bool:
        nonlocal calls, best
        if candidate is None or candidate == best or calls >= budget:
            return False
        calls += 1
        if still_fails(candidate):
            best = candidate
            return True
        return False

    for k in range(1, len(best.nodes)):  # the smallest prefix first
        if tries(_valid(_prefix(best, k))):
            break
    changed = True
    while changed and calls < budget:
        changed = False
        for i in range(len(best.nodes)):
            if i < len(best.nodes) and tries(_bypass(best, i)):
                changed = True
                break
    for leaf, shape in list(best.leaves):
        for axis in range(len(shape)):
            while calls < budget and tries(_smaller_leaf(best, leaf, axis)):
                pass
    return best


def size(graph: TensorGraph) -> tuple[int, int]:
    """(nodes, elements of the leaves): how big a graph is."""
    return len(graph.nodes), sum(math.prod(s) for _, s in graph.leaves)
