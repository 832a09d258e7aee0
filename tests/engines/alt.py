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


def _log(x: float) -> float:
    if x > 0 or x != x or x == math.inf:
        return math.log(x) if x == x else x
    return -math.inf if x == 0 else math.nan


def _pow(a: float, c: float) -> float:
    """a**c as torch: sqrt for 0.5, a pole for a zero base and a negative exponent."""
    if c == 0.5:
        return math.sqrt(a) if a >= 0 else math.nan
    try:
        r = a**c
    except ZeroDivisionError:  # 0 ** negative: the pole, signed for odd integer exponents
        odd = float(c).is_integer() and int(c) % 2 == 1
        return math.copysign(math.inf, a) if odd else math.inf
    except OverflowError:
        return math.inf
    return math.nan if isinstance(r, complex) else r


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
            out = type(self)(_pow(self.data, other.data), (self, other))

            def back(g):
                a, b = self.data, other.data
                if a == 0:  # torch: b·a**(b-1) for the base; 0 for the exponent when b >= 0
                    self.grad += g * b * _pow(a, b - 1)
                    other.grad += 0.0 if b >= 0 else g * out.data * _log(a)
                else:
                    self.grad += g * b * out.data / a
                    other.grad += g * out.data * _log(a)

            out._backward = back
            return out
        c = other
        out = type(self)(_pow(self.data, c), (self,))

        def back(g):
            if c == 0.5:  # torch: 0.5 / sqrt(x), +inf at 0
                self.grad += g * _div(0.5, out.data)
            else:
                self.grad += g * c * _pow(self.data, c - 1)

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
        out = type(self)(_log(self.data), (self,))

        def back(g):
            self.grad += _div(g, self.data)

        out._backward = back
        return out

    def tanh(self):
        out = type(self)(math.tanh(self.data), (self,))

        def back(g):
            try:
                self.grad += g / math.cosh(self.data) ** 2
            except OverflowError:  # cosh(±1000) overflows: the derivative is 0
                self.grad += g * 0.0

        out._backward = back
        return out

    def sigmoid(self):
        out = type(self)(1.0 / (1.0 + _exp(-self.data)), (self,))

        def back(g):
            # sigmoid' is even: e^-|x| / (1 + e^-|x|)², which never divides inf by inf.
            e = _exp(-abs(self.data))
            self.grad += g * e / (1.0 + e) ** 2

        out._backward = back
        return out

    def relu(self):
        x = self.data
        # torch: relu(nan) = nan, relu(-0.0) = -0.0, relu'(0) = 0 and nan lets the gradient pass
        out = type(self)(0.0 if x < 0 else x, (self,))

        def back(g):
            if not self.data <= 0:
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
