"""Scalar autodiff (MLP assignment, group 4).

Operands must both be Scalars -- wrap constants: Scalar(2.0) * x.
"""

import math


class Scalar:
    def __init__(self, data, children=()):
        self.data = data
        self.grad = 0
        self.children = children
        self._backward = lambda: None

    def __repr__(self):
        return f"Scalar({self.data:.4f}, grad={self.grad:.4f})"

    def __add__(self, other):
        out = Scalar(self.data + other.data, (self, other))

        def _backward():
            self.grad = out.grad
            other.grad = out.grad

        out._backward = _backward
        return out

    def __sub__(self, other):
        out = Scalar(self.data - other.data, (self, other))

        def _backward():
            self.grad = out.grad
            other.grad = -out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Scalar(self.data * other.data, (self, other))

        def _backward():
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        out = Scalar(self.data / other.data, (self, other))

        def _backward():
            self.grad = (1 / other.data) * out.grad
            other.grad = (-self.data / (other.data * other.data)) * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        out = Scalar(-self.data, (self,))

        def _backward():
            self.grad = -out.grad

        out._backward = _backward
        return out

    def __pow__(self, n):
        # n is a plain number (2, 3, 0.5, ...)
        out = Scalar(self.data**n, (self,))

        def _backward():
            self.grad = n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Scalar(math.exp(self.data), (self,))

        def _backward():
            self.grad = out.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        out = Scalar(math.tanh(self.data), (self,))

        def _backward():
            self.grad = (1 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = Scalar(self.data if self.data > 0 else 0, (self,))

        def _backward():
            self.grad = (1 if self.data > 0 else 0) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        order = []
        seen = set()

        def visit(node):
            if node in seen:
                return
            seen.add(node)
            for c in node.children:
                visit(c)
            order.append(node)

        visit(self)
        self.grad = 1
        for node in reversed(order):
            node._backward()


EXPECTED = {
    "correct": False,
    "cls": "Scalar",
    "broken_ops": [
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "powc",
        "exp",
        "tanh",
        "relu",
        "affine",
        "square",
    ],
    "missing_ops": ["powv", "log", "sigmoid", "leaky_relu"],
    "conventions": [
        "no float coercion: a plain number operand raises AttributeError or TypeError",
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError in backward of x ** 0.5 at 0 (torch: inf)",
        "OverflowError for exp(710) (torch: inf)",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
        "RecursionError on a 5,000-node chain (recursive topological sort)",
    ],
    "bug": "every backward closure assigns (=) instead of accumulating (+=): a value read by "
    "several nodes, or twice by one (a * a), keeps only the last contribution",
}
