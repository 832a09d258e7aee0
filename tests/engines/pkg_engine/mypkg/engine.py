"""A micrograd-style Value that imports from its own package, absolutely and relatively."""

from __future__ import annotations

import math

from mypkg.topo import build_topo

from . import topo

assert topo.build_topo is build_topo  # one module, whichever way it was imported


class Value:
    """A scalar with + * ** exp tanh relu and backward()."""

    def __init__(self, data: float, _prev: tuple = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._backward = lambda: None

    def _lift(self, other) -> Value:
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other) -> Value:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other))

        def back() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = back
        return out

    def __mul__(self, other) -> Value:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def back() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = back
        return out

    def __pow__(self, k: float) -> Value:
        out = type(self)(self.data**k, (self,))

        def back() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = back
        return out

    def exp(self) -> Value:
        out = type(self)(math.exp(self.data), (self,))

        def back() -> None:
            self.grad += out.data * out.grad

        out._backward = back
        return out

    def tanh(self) -> Value:
        out = type(self)(math.tanh(self.data), (self,))

        def back() -> None:
            self.grad += (1 - out.data**2) * out.grad

        out._backward = back
        return out

    def relu(self) -> Value:
        out = type(self)(max(self.data, 0.0), (self,))

        def back() -> None:
            self.grad += (self.data > 0) * out.grad

        out._backward = back
        return out

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other) -> Value:
        return self + (-self._lift(other))

    def __rsub__(self, other) -> Value:
        return self._lift(other) - self

    def __truediv__(self, other) -> Value:
        return self * self._lift(other) ** -1

    def __rtruediv__(self, other) -> Value:
        return self._lift(other) * self**-1

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self) -> None:
        """Gradients of every node that reaches this one; this one's is 1."""
        order = build_topo(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
