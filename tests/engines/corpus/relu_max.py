"""Tiny autograd engine (homework 2): scalars only, reverse mode.

Supports + - * / ** (number or Value exponent), exp, log, tanh, sigmoid, relu, leaky_relu.
Numbers are turned into Values on both sides, so 2 * x and 1 - x work too.
"""

import math


class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = _children
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad -= self.data / other.data**2 * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other):
        if isinstance(other, Value):
            out = Value(self.data**other.data, (self, other), "**")

            def _backward():
                self.grad += other.data * self.data ** (other.data - 1) * out.grad
                if self.data > 0:  # log only defined for a positive base
                    other.grad += math.log(self.data) * out.data * out.grad

        else:
            out = Value(self.data**other, (self,), f"**{other}")

            def _backward():
                self.grad += other * self.data ** (other - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return Value(other) - self

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return Value(other) / self

    def __rpow__(self, other):
        return Value(other) ** self

    def _unary(self, y, dy, name):
        # y = f(x), dy = f'(x) as a number
        out = Value(y, (self,), name)

        def _backward():
            self.grad += dy * out.grad

        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self):
        return self._unary(math.log(self.data), 1 / self.data, "log")

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t, "tanh")

    def sigmoid(self):
        x = self.data
        if x >= 0:
            s = 1 / (1 + math.exp(-x))
        else:  # avoid exp overflow for very negative x
            e = math.exp(x)
            s = e / (1 + e)
        return self._unary(s, s * (1 - s), "sigmoid")

    def relu(self):
        out = self._unary(max(0, self.data), 0.0, "relu")

        def _backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def leaky_relu(self, slope=0.01):
        if self.data > 0:
            return self._unary(self.data, 1.0, "leaky_relu")
        return self._unary(slope * self.data, slope, "leaky_relu")

    def backward(self):
        # iterative post-order DFS so deep graphs don't hit the recursion limit
        topo, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            for child in node._prev:
                if child not in visited:
                    stack.append((child, False))

        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


EXPECTED = {
    "correct": True,
    "cls": "Value",
    "broken_ops": [],
    "missing_ops": [],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError in backward of x ** 0.5 at 0 (torch: inf)",
        "OverflowError for exp(710) (torch: inf)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "relu(-0.0) is +0.0 (max(0, x))",
        "relu(nan) is 0 and relu'(nan) is 0 (max(0, nan); torch: nan and 1)",
        "backward() twice accumulates intermediate gradients",
    ],
    "bug": "",
}
