"""Autodiff on 0-d tensors (just floats, really). Ops know their own backward rule."""

import math


class Tensor0:
    def __init__(self, data, op=None, args=()):
        self.data = data
        self.grad = 0.0
        self.op = op
        self.args = args

    def __repr__(self):
        return f"Tensor0({self.data}, grad={self.grad})"

    # ---- forward ----
    def _binary(self, other, op, value):
        other = other if isinstance(other, Tensor0) else Tensor0(other)
        return Tensor0(value(self.data, other.data), op, (self, other))

    def __add__(self, o):
        return self._binary(o, "add", lambda a, b: a + b)

    def __sub__(self, o):
        return self._binary(o, "sub", lambda a, b: a - b)

    def __mul__(self, o):
        return self._binary(o, "mul", lambda a, b: a * b)

    def __truediv__(self, o):
        return self._binary(o, "div", lambda a, b: a / b)

    def __pow__(self, o):
        if isinstance(o, Tensor0):
            return self._binary(o, "powv", lambda a, b: a**b)
        out = Tensor0(self.data**o, "powc", (self,))
        out.k = o
        return out

    def __radd__(self, o):
        return Tensor0(o) + self

    def __rsub__(self, o):
        return Tensor0(o) - self

    def __rmul__(self, o):
        return Tensor0(o) * self

    def __rtruediv__(self, o):
        return Tensor0(o) / self

    def __neg__(self):
        return Tensor0(-self.data, "neg", (self,))

    def exp(self):
        return Tensor0(math.exp(self.data), "exp", (self,))

    def log(self):
        return Tensor0(math.log(self.data), "log", (self,))

    def tanh(self):
        return Tensor0(math.tanh(self.data), "tanh", (self,))

    # ---- backward ----
    def _push(self):
        g = self.grad
        a = self.args[0] if self.args else None
        b = self.args[1] if len(self.args) > 1 else None
        if self.op == "add":
            a.grad += g
            b.grad += g
        elif self.op == "sub":
            a.grad += g
            b.grad -= g
        elif self.op == "mul":
            a.grad += g * b.data
            b.grad += g * a.data
        elif self.op == "div":
            a.grad += g / b.data
            b.grad -= g * a.data / (b.data * b.data)
        elif self.op == "powv":
            a.grad += g * b.data * a.data ** (b.data - 1)
            b.grad += g * self.data * math.log(a.data)
        elif self.op == "powc":
            a.grad += g * self.k * a.data ** (self.k - 1)
        elif self.op == "neg":
            a.grad -= g
        elif self.op == "exp":
            a.grad += g * a.data
        elif self.op == "log":
            a.grad += g / a.data
        elif self.op == "tanh":
            a.grad += g * (1 - self.data**2)

    def backward(self):
        topo, seen = [], set()
        stack = [self]
        while stack:
            t = stack.pop()
            if isinstance(t, tuple):  # ("done", node): all inputs are in topo already
                topo.append(t[1])
            elif id(t) not in seen:
                seen.add(id(t))
                stack.append(("done", t))
                stack.extend(t.args)
        self.grad = 1.0
        for t in reversed(topo):
            t._push()


EXPECTED = {
    "correct": False,
    "cls": "Tensor0",
    "broken_ops": ["exp"],
    "missing_ops": ["sigmoid", "relu", "leaky_relu"],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError in backward of x ** 0.5 at 0 (torch: inf)",
        "OverflowError for exp(710) (torch: inf)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "ValueError in backward of 0 ** y with a Tensor0 exponent (log(0))",
        "backward() twice accumulates intermediate gradients",
    ],
    "bug": "exp's backward multiplies by the input x instead of exp(x)",
}
