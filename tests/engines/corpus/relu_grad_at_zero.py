"""Scalar reverse-mode autodiff.

Each Var stores its local derivatives (d out / d input) when it is created; backward() multiplies
them along the graph in reverse topological order.
"""

import math


class Var:
    def __init__(self, data, inputs=(), local=()):
        self.data = data
        self.grad = 0.0
        self.inputs = inputs  # the Vars this one was computed from
        self.local = local  # d self / d input, same order as inputs

    def __repr__(self):
        return f"Var({self.data:g})"

    def __add__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        return Var(self.data + other.data, (self, other), (1.0, 1.0))

    def __sub__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        return Var(self.data - other.data, (self, other), (1.0, -1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        return Var(self.data * other.data, (self, other), (other.data, self.data))

    def __truediv__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        a, b = self.data, other.data
        return Var(a / b, (self, other), (1 / b, -a / (b * b)))

    def __pow__(self, n):
        if isinstance(n, Var):
            y = self.data**n.data
            return Var(y, (self, n), (n.data * self.data ** (n.data - 1), y * math.log(self.data)))
        return Var(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __neg__(self):
        return Var(-self.data, (self,), (-1.0,))

    def __radd__(self, other):
        return Var(other) + self

    def __rsub__(self, other):
        return Var(other) - self

    def __rmul__(self, other):
        return Var(other) * self

    def __rtruediv__(self, other):
        return Var(other) / self

    def exp(self):
        e = math.exp(self.data)
        return Var(e, (self,), (e,))

    def log(self):
        return Var(math.log(self.data), (self,), (1 / self.data,))

    def tanh(self):
        t = math.tanh(self.data)
        return Var(t, (self,), (1 - t * t,))

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        return Var(s, (self,), (s * (1 - s),))

    def relu(self):
        x = self.data
        return Var(max(x, 0.0), (self,), (float(x >= 0),))

    def leaky_relu(self, slope=0.01):
        x = self.data
        return Var(x if x > 0 else slope * x, (self,), (1.0 if x > 0 else slope,))

    def backward(self):
        order = []
        seen = set()
        stack = [(self, 0)]
        while stack:
            v, i = stack.pop()
            if i == 0:
                if id(v) in seen:
                    continue
                seen.add(id(v))
            if i < len(v.inputs):
                stack.append((v, i + 1))
                stack.append((v.inputs[i], 0))
            else:
                order.append(v)
        self.grad = 1.0
        for v in reversed(order):
            for inp, d in zip(v.inputs, v.local):
                inp.grad += d * v.grad


EXPECTED = {
    "correct": True,
    "cls": "Var",
    "broken_ops": [],
    "missing_ops": [],
    "conventions": [
        "relu'(0) = 1 at 0 and -0 (x >= 0; torch: 0)",
        "relu'(nan) is 0 (torch: 1)",
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError for x ** 0.5 at 0, on the way forward (torch: inf gradient)",
        "OverflowError for exp(710) and sigmoid(-1000) (torch: inf, 0)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "ValueError for 0 ** y with a Var exponent (log of the base on the way forward)",
        "backward() twice accumulates intermediate gradients",
    ],
    "bug": "",
}
