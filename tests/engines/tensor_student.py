"""A first tensor engine as a student writes it after the micrograd lecture: the lecture's tanh
formula, no float coercion, .grad None until a gradient arrives, a recursive topological sort,
sub and div composed from other ops. Correct, if imprecise; `Overwrites` is the same with = for
+= when a gradient arrives twice."""

import numpy as np


class Tensor:
    """A numpy array with its gradient."""

    def __init__(self, data, _children=(), _op=""):
        self.data = np.array(data)
        self.grad = None
        self._backward = lambda: None
        self._prev = set(_children)

    def _add_grad(self, g):
        # sum over broadcast axes
        while g.ndim > self.data.ndim:
            g = g.sum(axis=0)
        for i, n in enumerate(self.data.shape):
            if n == 1:
                g = g.sum(axis=i, keepdims=True)
        if self.grad is None:
            self.grad = g
        else:
            self.grad = self.grad + g

    def __add__(self, other):
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self._add_grad(out.grad)
            other._add_grad(out.grad)

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data * other.data, (self, other), "*")

        def _backward():
            self._add_grad(other.data * out.grad)
            other._add_grad(self.data * out.grad)

        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __pow__(self, k):
        out = Tensor(self.data**k, (self,), f"**{k}")

        def _backward():
            self._add_grad(k * self.data ** (k - 1) * out.grad)

        out._backward = _backward
        return out

    def __truediv__(self, other):
        return self * other**-1

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward():
            self._add_grad(out.grad @ other.data.T)
            other._add_grad(self.data.T @ out.grad)

        out._backward = _backward
        return out

    def tanh(self):
        t = (np.exp(2 * self.data) - 1) / (np.exp(2 * self.data) + 1)
        out = Tensor(t, (self,), "tanh")

        def _backward():
            self._add_grad((1 - t**2) * out.grad)

        out._backward = _backward
        return out

    def exp(self):
        out = Tensor(np.exp(self.data), (self,), "exp")

        def _backward():
            self._add_grad(out.data * out.grad)

        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), (self,), "relu")

        def _backward():
            self._add_grad((self.data > 0) * out.grad)

        out._backward = _backward
        return out

    def sum(self, axis=None, keepdims=False):
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward():
            g = out.grad
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            self._add_grad(np.ones_like(self.data) * g)

        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build(v):
            if v not in visited:
                visited.add(v)
                for c in v._prev:
                    build(c)
                topo.append(v)

        build(self)
        self.grad = np.ones_like(self.data, dtype=float)
        for v in reversed(topo):
            if v.grad is not None:
                v._backward()


class Overwrites(Tensor):
    """The same engine keeping only the last gradient a tensor receives."""

    def _add_grad(self, g):
        while g.ndim > self.data.ndim:
            g = g.sum(axis=0)
        for i, n in enumerate(self.data.shape):
            if n == 1:
                g = g.sum(axis=i, keepdims=True)
        self.grad = g
