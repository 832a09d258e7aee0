"""The topological order, in a module of its own as a student's package might keep it."""

from __future__ import annotations


def build_topo(root) -> list:
    """Every node that `root` reads, each after its parents (an explicit stack, no recursion)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._prev)
    return order
