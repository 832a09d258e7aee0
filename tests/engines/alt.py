"""A second correct engine, written differently from refimpl on purpose.

Closures per node (micrograd's style), an explicit-stack post-order toposort, and other but
equivalent derivative formulas: tanh' = 1/cosh², sigmoid' = e^-x / (1 + e^-x)², d(a**b)/da =
b·a**b / a, division by the divisor rather than multiplying by its inverse. Where it disagrees with
torch only by rounding, the suite must not call it wrong.
"""

from __future__ import annotations

import math


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        return math.nan if a == 0 or a != a else math.copysign(math.inf, a) * math.copysign(1, b)


class Value:
    """A scalar with a gradient; each node keeps a closure that pushes its gradient down."""

    def __init__(self, data, _children=(), _backward=None):
        self.data = float(data)
        self.grad = 0.0
        self._children = _children
        self._backward = _backward

    def _lift(self, x):
        return x if isinstance(x, Value) else type(self)(x)

    def __add__(self, other):
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other))

        def back(g):
            self.grad += g
            other.grad += g

        out._backward = back
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def back(g):
            self.grad += g * other.data
            other.grad += g * self.data

        out._backward = back
        return out

    __rmul__ = __mul__

    def __neg__(self):
        out = type(self)(-self.data, (self,))

        def back(g):
            self.grad -= g

        out._backward = back
        return out

    def __sub__(self, other):
        other = self._lift(other)
        out = type(self)(self.data - other.data, (self, other))

        def back(g):
            self.grad += g
            other.grad -= g

        out._backward = back
        return out

    def __rsub__(self, other):
        return self._lift(other) - self

    def __truediv__(self, other):
        other = self._lift(other)
        out = type(self)(_div(self.data, other.data), (self, other))

        def back(g):
            self.grad += _div(g, other.data)
            other.grad -= _div(g * self.data, other.data * other.data)

        out._backward = back
        return out

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def __pow__(self, other):
        if isinstance(other, Value):
            out = type(self)(self.data**other.data, (self, other))

            def back(g):
                self.grad += g * other.data * out.data / self.data
                other.grad += g * out.data * math.log(self.data)

            out._backward = back
            return out
        c = other
        out = type(self)(self.data**c, (self,))

        def back(g):
            self.grad += g * c * self.data ** (c - 1)

        out._backward = back
        return out

    def __rpow__(self, other):
        return self._lift(other) ** self

    def exp(self):
        out = type(self)(_exp(self.data), (self,))

        def back(g):
            self.grad += g * _exp(self.data)

        out._backward = back
        return out

    def log(self):
        out = type(self)(math.log(self.data), (self,))

        def back(g):
            self.grad += g / self.data

        out._backward = back
        return out

    def tanh(self):
        out = type(self)(math.tanh(self.data), (self,))

        def back(g):
            self.grad += g / math.cosh(self.data) ** 2

        out._backward = back
        return out

    def sigmoid(self):
        e = _exp(-self.data)
        out = type(self)(1.0 / (1.0 + e), (self,))

        def back(g):
            self.grad += g * e / (1.0 + e) ** 2

        out._backward = back
        return out

    def relu(self):
        out = type(self)(self.data if self.data > 0 else 0.0, (self,))

        def back(g):
            if self.data > 0:
                self.grad += g

        out._backward = back
        return out

    def leaky_relu(self, slope=0.01):
        out = type(self)(self.data if self.data > 0 else slope * self.data, (self,))

        def back(g):
            self.grad += g if self.data > 0 else slope * g

        out._backward = back
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in node._children if id(c) not in seen)
        for node in order:
            if node._children:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward(node.grad)
