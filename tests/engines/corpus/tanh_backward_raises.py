"""0-d "tensor" with autograd, for the deep learning course project."""

import math


def _wrap(x):
    return x if isinstance(x, Tensor0) else Tensor0(x)


class Tensor0:
    def __init__(self, data, prev=(), name=""):
        self.data = data
        self.grad = 0.0
        self.prev = prev
        self.name = name
        self.backward_fn = None

    def __repr__(self):
        return f"Tensor0({self.data!r})"

    def _make(self, data, prev, fn):
        t = Tensor0(data, prev)
        t.backward_fn = fn
        return t

    def __add__(self, o):
        o = _wrap(o)

        def fn(g):
            self.grad += g
            o.grad += g

        return self._make(self.data + o.data, (self, o), fn)

    def __sub__(self, o):
        o = _wrap(o)

        def fn(g):
            self.grad += g
            o.grad -= g

        return self._make(self.data - o.data, (self, o), fn)

    def __mul__(self, o):
        o = _wrap(o)

        def fn(g):
            self.grad += o.data * g
            o.grad += self.data * g

        return self._make(self.data * o.data, (self, o), fn)

    def __truediv__(self, o):
        o = _wrap(o)

        def fn(g):
            self.grad += g / o.data
            o.grad += -self.data / (o.data * o.data) * g

        return self._make(self.data / o.data, (self, o), fn)

    def __pow__(self, p):
        if isinstance(p, Tensor0):
            y = self.data**p.data

            def fn(g):
                self.grad += p.data * self.data ** (p.data - 1) * g
                p.grad += y * math.log(self.data) * g

            return self._make(y, (self, p), fn)

        def fn(g):
            self.grad += p * self.data ** (p - 1) * g

        return self._make(self.data**p, (self,), fn)

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, o):
        return _wrap(o) - self

    def __rtruediv__(self, o):
        return _wrap(o) / self

    def __neg__(self):
        return self * -1.0

    def exp(self):
        y = math.exp(self.data)

        def fn(g):
            self.grad += y * g

        return self._make(y, (self,), fn)

    def log(self):
        def fn(g):
            self.grad += g / self.data

        return self._make(math.log(self.data), (self,), fn)

    def tanh(self):
        def fn(g):
            self.grad += (1 - math.tanh(self) ** 2) * g

        return self._make(math.tanh(self.data), (self,), fn)

    def sigmoid(self):
        s = 1.0 / (1.0 + math.exp(-self.data))

        def fn(g):
            self.grad += s * (1 - s) * g

        return self._make(s, (self,), fn)

    def relu(self):
        def fn(g):
            self.grad += g if self.data > 0 else 0.0

        return self._make(self.data if self.data > 0 else 0.0, (self,), fn)

    def leaky_relu(self, a=0.01):
        def fn(g):
            self.grad += g if self.data > 0 else a * g

        return self._make(self.data if self.data > 0 else a * self.data, (self,), fn)

    def backward(self):
        order, seen, stack = [], set(), [(self, iter(self.prev))]
        seen.add(id(self))
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                order.append(node)
            elif id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child.prev)))
        self.grad = 1.0
        for node in reversed(order):
            if node.backward_fn:
                node.backward_fn(node.grad)


EXPECTED = {
    "correct": False,
    "cls": "Tensor0",
    "broken_ops": ["tanh"],
    "missing_ops": [],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError in backward of x ** 0.5 at 0 (torch: inf)",
        "OverflowError for exp(710) and sigmoid(-1000) (torch: inf, 0)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "ValueError in backward of 0 ** y with a Tensor0 exponent (log(0))",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
        "backward() twice accumulates intermediate gradients",
    ],
    "bug": "tanh's backward calls math.tanh(self) on the Tensor0 instead of self.data: "
    "TypeError, but only during backward()",
}
