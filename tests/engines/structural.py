"""Engines whose every op is right and whose backward() is wrong as a whole: the structure.

Each is `alt.Value` with one classic mistake in `backward()`, so no single op is to blame.
"""

from __future__ import annotations

from tests.engines.alt import Value


class ClosuresNeverCalled(Value):
    """backward() orders the graph and seeds the output, but never calls a node's backward."""

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((c, False) for c in node._children)
        for node in order:
            if node._children:
                node.grad = 0.0
        self.grad = 1.0  # the bug: the loop that calls each node's _backward is missing


class BackwardDoesNothing(Value):
    """backward() is an empty stub: not even the output's gradient is set."""

    def backward(self):
        pass


class NoVisitedSet(Value):
    """The topological order has no visited set: a node is listed once per path to the output,
    so its backward runs once per path (and a graph of diamonds takes exponential time)."""

    def backward(self):
        order, stack = [], [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in node._children)  # the bug: no `seen` check
        for node in order:
            if node._children:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward(node.grad)


class RecursiveNoVisitedSet(Value):
    """micrograd's recursive build_topo without its `visited` set."""

    def backward(self):
        topo = []

        def build_topo(v):
            for child in v._children:
                build_topo(child)
            topo.append(v)

        build_topo(self)
        for node in topo:
            if node._children:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(topo):
            if node._backward is not None:
                node._backward(node.grad)
