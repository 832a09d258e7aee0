"""Shrink a failing graph to a minimal one that still fails the same way, within a budget.

Greedy and deterministic: cut the graph after an earlier node (the smallest prefix that still
fails), bypass nodes one at a time (a node's readers read its first input instead), drop what no
longer reaches the output, and round the numbers. Each candidate costs one engine call.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.core.spec import GraphSpec, Node, SpecError

__all__ = ["collect_garbage", "shrink"]

DEFAULT_BUDGET = 60


def collect_garbage(spec: GraphSpec) -> GraphSpec:
    """The same graph without the nodes, leaves and constants the output does not read."""
    needed = {spec.output}
    for i in range(len(spec.nodes) - 1, -1, -1):
        if f"n{i}" in needed:
            needed.update(spec.nodes[i].args)
    rename: dict[str, str] = {}
    leaves, names = [], []
    for i, x in enumerate(spec.leaves):
        if f"x{i}" in needed:
            rename[f"x{i}"] = f"x{len(leaves)}"
            leaves.append(x)
            names.append(spec.leaf_name(i))
    if not leaves:  # keep one leaf: a graph needs one
        rename["x0"], leaves, names = "x0", [spec.leaves[0]], [spec.leaf_name(0)]
    consts = []
    for i, c in enumerate(spec.consts):
        if f"c{i}" in needed:
            rename[f"c{i}"] = f"c{len(consts)}"
            consts.append(c)
    nodes: list[Node] = []
    for i, node in enumerate(spec.nodes):
        if f"n{i}" in needed:
            rename[f"n{i}"] = f"n{len(nodes)}"
            nodes.append(Node(node.op, tuple(rename[a] for a in node.args), node.param))
    return GraphSpec(
        leaves=tuple(leaves),
        nodes=tuple(nodes),
        output=rename.get(spec.output, spec.output),
        consts=tuple(consts),
        upstream=spec.upstream,
        leaf_names=tuple(names) if spec.leaf_names else (),
        backwards=spec.backwards,
        zero_between=spec.zero_between,
        dtype=spec.dtype,
    )


def _with(spec: GraphSpec, **changes) -> GraphSpec | None:
    fields = {
        "leaves": spec.leaves, "nodes": spec.nodes, "output": spec.output, "consts": spec.consts,
        "upstream": spec.upstream, "leaf_names": spec.leaf_names, "backwards": spec.backwards,
        "zero_between": spec.zero_between,
    }  # fmt: skip
    fields.update(changes)
    try:  # a simpler number is still one of the engine's dtype
        return collect_garbage(GraphSpec(**fields).in_dtype(spec.dtype))
    except SpecError:
        return None


def _bypass(spec: GraphSpec, k: int) -> GraphSpec | None:
    """Node k removed: whatever read n_k reads n_k's first non-constant input instead."""
    node = spec.nodes[k]
    target = next((a for a in node.args if a[0] != "c"), None)
    if target is None or spec.output == f"n{k}":
        return None
    ref = f"n{k}"
    nodes = tuple(
        Node(n.op, tuple(target if a == ref else a for a in n.args), n.param) for n in spec.nodes
    )
    return _with(spec, nodes=nodes)


def _round(x: float) -> float:
    return float(f"{x:.2g}")


def _candidates(spec: GraphSpec):
    # 1. The shortest prefix: the graph cut after node j, which becomes the output.
    for j in range(len(spec.nodes) - 1):
        yield _with(spec, output=f"n{j}")
    # 2. Bypass single nodes, the latest first.
    for k in range(len(spec.nodes) - 1, -1, -1):
        yield _bypass(spec, k)
    # 3. Round numbers to two digits, and a plain upstream.
    yield _with(spec, leaves=tuple(_round(x) for x in spec.leaves))
    yield _with(spec, consts=tuple(_round(c) for c in spec.consts))
    if spec.upstream != 2.0:
        yield _with(spec, upstream=2.0)


def shrink(
    spec: GraphSpec, still_fails: Callable[[GraphSpec], bool], budget: int = DEFAULT_BUDGET
) -> GraphSpec:
    """The smallest graph found that still fails; at most `budget` calls of `still_fails`."""
    current = collect_garbage(spec)
    calls = 0
    improved = True
    while improved and calls < budget:
        improved = False
        for candidate in _candidates(current):
            if candidate is None or candidate == current:
                continue
            if calls >= budget:
                break
            calls += 1
            if still_fails(candidate):
                current, improved = candidate, True
                break
    return current
