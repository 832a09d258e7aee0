"""scalar autograd -- lab 3"""

import math


class Scalar:
    def __init__(self, data, parents=(), op=""):
        self.data = data
        self.grad = 0.0
        self.parents = parents
        self.op = op
        self._grad_fn = None

    def __repr__(self):
        return f"Scalar(data={self.data}, grad={self.grad}, op={self.op!r})"

    @classmethod
    def lift(cls, x):
        if isinstance(x, Scalar):
            return x
        return cls(float(x))

    def __add__(self, other):
        other = Scalar.lift(other)
        out = Scalar(self.data + other.data, (self, other), "+")

        def grad_fn():
            self.grad += out.grad
            other.grad += out.grad

        out._grad_fn = grad_fn
        return out

    def __sub__(self, other):
        other = Scalar.lift(other)
        out = Scalar(self.data - other.data, (self, other), "-")

        def grad_fn():
            self.grad += out.grad
            other.grad -= out.grad

        out._grad_fn = grad_fn
        return out

    def __mul__(self, other):
        other = Scalar.lift(other)
        out = Scalar(self.data * other.data, (self, other), "*")

        def grad_fn():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._grad_fn = grad_fn
        return out

    def __truediv__(self, other):
        other = Scalar.lift(other)
        out = Scalar(self.data / other.data, (self, other), "/")

        def grad_fn():
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / other.data**2

        out._grad_fn = grad_fn
        return out

    def __pow__(self, other):
        # x ** y, both Scalars: d/dx = y x^(y-1), d/dy = x^y ln x
        out = Scalar(self.data**other.data, (self, other), "**")

        def grad_fn():
            self.grad += other.data * self.data ** (other.data - 1) * out.grad
            other.grad += out.data * math.log(self.data) * out.grad

        out._grad_fn = grad_fn
        return out

    def __radd__(self, other):
        return Scalar.lift(other) + self

    def __rsub__(self, other):
        return Scalar.lift(other) - self

    def __rmul__(self, other):
        return Scalar.lift(other) * self

    def __rtruediv__(self, other):
        return Scalar.lift(other) / self

    def __rpow__(self, other):
        return Scalar.lift(other) ** self

    def __neg__(self):
        out = Scalar(-self.data, (self,), "neg")

        def grad_fn():
            self.grad -= out.grad

        out._grad_fn = grad_fn
        return out

    def _fn(self, value, deriv, op):
        out = Scalar(value, (self,), op)

        def grad_fn():
            self.grad += deriv * out.grad

        out._grad_fn = grad_fn
        return out

    def exp(self):
        e = math.exp(self.data)
        return self._fn(e, e, "exp")

    def log(self):
        return self._fn(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self):
        t = math.tanh(self.data)
        return self._fn(t, 1.0 - t**2, "tanh")

    def sigmoid(self):
        s = 1.0 / (1.0 + math.exp(-self.data))
        return self._fn(s, s * (1.0 - s), "sigmoid")

    def relu(self):
        x = self.data
        return self._fn(x if x > 0 else 0.0, 1.0 if x > 0 else 0.0, "relu")

    def leaky_relu(self, slope=0.01):
        x = self.data
        return self._fn(x if x > 0 else slope * x, 1.0 if x > 0 else slope, "lrelu")

    def backward(self):
        topo, done = [], set()
        stack = [self]
        while stack:
            node = stack[-1]
            todo = [p for p in node.parents if p not in done]
            if todo:
                stack.extend(todo)
            else:
                stack.pop()
                if node not in done:
                    done.add(node)
                    topo.append(node)
        self.grad = 1.0
        for node in reversed(topo):
            if node._grad_fn is not None:
                node._grad_fn()


EXPECTED = {
    "correct": False,
    "cls": "Scalar",
    "broken_ops": ["powc", "square", "powv"],
    "missing_ops": [],
    "conventions": [
        "ZeroDivisionError for division by zero (torch: inf or nan)",
        "OverflowError for exp(710) and sigmoid(-1000) (torch: inf, 0)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "ValueError in backward of 0 ** y with a Scalar exponent (log(0))",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
        "backward() twice accumulates intermediate gradients",
    ],
    "bug": "__pow__ reads other.data without wrapping a plain number: x ** 2 (or any number "
    "exponent) raises AttributeError, while x ** Scalar(2.0) works",
}
