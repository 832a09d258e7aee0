"""autograd engine -- my attempt after watching the micrograd video"""

import math


class Node:
    def __init__(self, data, children=(), op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._children = set(children)
        self._op = op

    def __repr__(self):
        return f"Node(data={self.data}, grad={self.grad})"

    @staticmethod
    def _as_node(x):
        return x if isinstance(x, Node) else Node(x)

    def __add__(self, other):
        other = Node._as_node(other)
        out = Node(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Node._as_node(other)
        out = Node(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k):
        assert isinstance(k, (int, float))
        out = Node(self.data**k, (self,), "**")

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other**-1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return Node._as_node(other) - self

    def __rtruediv__(self, other):
        return Node._as_node(other) / self

    def exp(self):
        out = Node(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Node(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = Node(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)

        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


EXPECTED = {
    "correct": False,
    "cls": "Node",
    "broken_ops": [],
    "missing_ops": ["powv", "log", "sigmoid", "leaky_relu"],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "OverflowError for exp(710) (torch: inf)",
        "division as a * b**-1 rounds twice",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
    ],
    "bug": "backward() defines build_topo but never calls it, so it walks an empty list: the "
    "output's grad is 1 and every other gradient stays 0",
}
