"""Wengert-list autodiff: every operation is written on a tape as it happens, and backward()
just plays the tape in reverse. No graph search needed: an operation always comes after its
inputs on the tape."""

import math

TAPE = []  # every non-leaf Var, in the order it was computed


class Var:
    def __init__(self, data, parents=()):
        # parents: list of (input Var, d self / d input), computed on the way forward
        self.data = data
        self.grad = 0.0
        self.parents = parents
        if parents:
            self.pos = len(TAPE)
            self.start = min(p.start for p, _ in parents)
            TAPE.append(self)
        else:
            self.pos = None
            self.start = len(TAPE)  # anything computed from me is written after this point

    def __repr__(self):
        return f"Var({self.data}, grad={self.grad})"

    @staticmethod
    def _v(x):
        return x if isinstance(x, Var) else Var(x)

    def __add__(self, other):
        other = Var._v(other)
        return Var(self.data + other.data, [(self, 1.0), (other, 1.0)])

    def __sub__(self, other):
        other = Var._v(other)
        return Var(self.data - other.data, [(self, 1.0), (other, -1.0)])

    def __mul__(self, other):
        other = Var._v(other)
        return Var(self.data * other.data, [(self, other.data), (other, self.data)])

    def __truediv__(self, other):
        other = Var._v(other)
        q = self.data / other.data
        return Var(q, [(self, 1.0 / other.data), (other, -q / other.data)])

    def __pow__(self, other):
        if isinstance(other, Var):
            y = self.data**other.data
            dbase = other.data * self.data ** (other.data - 1)
            return Var(y, [(self, dbase), (other, y * math.log(self.data))])
        return Var(self.data**other, [(self, other * self.data ** (other - 1))])

    def __radd__(self, other):
        return Var._v(other) + self

    def __rsub__(self, other):
        return Var._v(other) - self

    def __rmul__(self, other):
        return Var._v(other) * self

    def __rtruediv__(self, other):
        return Var._v(other) / self

    def __rpow__(self, other):
        return Var._v(other) ** self

    def __neg__(self):
        return Var(-self.data, [(self, -1.0)])

    def exp(self):
        e = math.exp(self.data)
        return Var(e, [(self, e)])

    def log(self):
        return Var(math.log(self.data), [(self, 1.0 / self.data)])

    def tanh(self):
        t = math.tanh(self.data)
        return Var(t, [(self, 1.0 - t * t)])

    def sigmoid(self):
        x = self.data
        e = math.exp(-abs(x))  # never overflows
        s = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
        return Var(s, [(self, s * (1.0 - s))])

    def relu(self):
        if self.data > 0:
            return Var(self.data, [(self, 1.0)])
        return Var(0.0, [(self, 0.0)])

    def backward(self):
        if self.pos is None:  # a leaf: d self / d self
            self.grad += 1.0
            return
        # only the part of the tape since this graph's first input was made
        section = TAPE[self.start : self.pos + 1]
        for v in section:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(section):
            for p, d in v.parents:
                p.grad += d * v.grad


EXPECTED = {
    "correct": True,
    "cls": "Var",
    "broken_ops": [],
    "missing_ops": ["leaky_relu"],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError for x ** 0.5 at 0, on the way forward (torch: inf gradient)",
        "OverflowError for exp(710) (torch: inf)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "ValueError for 0 ** y with a Var exponent (log of the base on the way forward)",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
    ],
    "bug": "",
}
