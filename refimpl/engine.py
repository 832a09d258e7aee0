"""A scalar reverse-mode autodiff engine: `Value`, `backward()` and the functional `grad()`.

Every primitive computes its forward value and its local derivatives side by side and stores them
on the new node: `_prev` holds the inputs, `_local` the derivative of the output with respect to
each input. Backpropagation then needs only one rule, the chain rule: a node hands each input its
own gradient times the local derivative, and an input used several times receives the sum.

Numbers follow torch's float64 semantics rather than Python's exceptions (`exp(1000)` is `inf`,
`log(0)` is `-inf`, `0/0` is `nan`); `refimpl.floatops` holds those helpers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import count
from operator import attrgetter

from refimpl.floatops import fdiv, fexp, flog, fpow, fpow_scalar, fsigmoid

__all__ = ["Value", "grad", "topological_order"]

# A local derivative of None means "masked": the input receives nothing, not even nan or inf from
# above. torch does this where its backward formula is a `where(...)`: relu for x <= 0, and `x**c`
# for c == 0.
MASKED = None

_creation = count()
_by_creation = attrgetter("_id")


class Value:
    """A scalar in a computational graph, with its gradient."""

    __slots__ = ("_id", "_local", "_op", "_prev", "data", "grad")

    def __init__(self, data: float, _prev: tuple = (), _local: tuple = (), _op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._local = _local
        self._op = _op
        # Creation order is a topological order: a node is always made after its inputs.
        self._id = next(_creation)

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ----- primitives: forward value and local derivatives together -----

    def __add__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")
        return Value(self.data + other, (self,), (1.0,), "+")

    def __sub__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")
        return Value(self.data - other, (self,), (1.0,), "-")

    def __rsub__(self, other: float) -> Value:
        return Value(other - self.data, (self,), (-1.0,), "-")

    def __mul__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data), "*")
        return Value(self.data * other, (self,), (float(other),), "*")

    def __truediv__(self, other: Value | float) -> Value:
        # A primitive, not self * other**-1: 1e-300 / 1e-310 is 1e10, but 1e-310**-1 overflows
        # to inf first. torch divides directly too.
        a = self.data
        if isinstance(other, Value):
            b = other.data
            out = fdiv(a, b)
            # torch: grad_a = g / b, grad_b = -g * (a / b) / b
            return Value(out, (self, other), (fdiv(1.0, b), -fdiv(out, b)), "/")
        b = float(other)
        return Value(fdiv(a, b), (self,), (fdiv(1.0, b),), "/")

    def __rtruediv__(self, other: float) -> Value:
        b = self.data
        out = fdiv(other, b)
        return Value(out, (self,), (-fdiv(out, b),), "/")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __pow__(self, other: Value | float) -> Value:
        a = self.data
        if isinstance(other, Value):
            b = other.data
            out = fpow(a, b)
            # torch: d/da = b * a**(b-1), masked where b == 0; d/db = out * log(a), but 0 where
            # a == 0 and b >= 0: a plain zero, not a mask (torch multiplies it by the incoming
            # gradient, so an inf from above still gives nan).
            da = MASKED if b == 0 else b * fpow(a, b - 1.0)
            db = 0.0 if (a == 0 and b >= 0) else out * flog(a)
            return Value(out, (self, other), (da, db), "**")
        c = float(other)
        # fpow_scalar computes x**c as torch does (x*x for 2, sqrt for 0.5, ...), for the value and
        # for the derivative's x**(c-1): the derivative of x**-1 is -1 * (1 / (x*x)), as in torch.
        da = MASKED if c == 0 else c * fpow_scalar(a, c - 1.0)
        return Value(fpow_scalar(a, c), (self,), (da,), f"**{other!r}")

    def __rpow__(self, other: float) -> Value:
        a, b = float(other), self.data
        out = fpow(a, b)
        db = 0.0 if (a == 0 and b >= 0) else out * flog(a)  # a zero, not a mask: see __pow__
        return Value(out, (self,), (db,), "**")

    def exp(self) -> Value:
        """e**x; the derivative is the output itself."""
        out = fexp(self.data)
        return Value(out, (self,), (out,), "exp")

    def log(self) -> Value:
        """Natural logarithm: -inf at 0, nan below."""
        return Value(flog(self.data), (self,), (fdiv(1.0, self.data),), "log")

    def tanh(self) -> Value:
        """Hyperbolic tangent; derivative 1 - tanh(x)**2."""
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self) -> Value:
        """1 / (1 + exp(-x)); derivative s * (1 - s), exactly 0 where s saturates."""
        s = fsigmoid(self.data)
        return Value(s, (self,), ((1.0 - s) * s,), "sigmoid")

    def relu(self) -> Value:
        """max(x, 0), with torch's conventions relu'(0) = 0, relu(-0.0) = -0.0, relu(nan) = nan."""
        x = self.data
        if x <= 0:
            return Value(0.0 if x < 0 else x, (self,), (MASKED,), "relu")
        return Value(x, (self,), (1.0,), "relu")

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        """x for x > 0, else slope * x; at 0 the derivative is the slope, as in torch."""
        x = self.data
        if x > 0:
            return Value(x, (self,), (1.0,), "leaky_relu")
        return Value(x * negative_slope, (self,), (negative_slope,), "leaky_relu")

    def clamp_min(self, low: float) -> Value:
        """max(x, low); below `low` and at nan the input gets no gradient (torch's clamp_min)."""
        x = self.data
        if x >= low:
            return Value(x, (self,), (1.0,), "clamp_min")
        # torch passes nan through but masks its gradient (its backward is where(x >= low, g, 0)).
        return Value(x if x != x else float(low), (self,), (MASKED,), "clamp_min")

    # ----- compositions: no derivative of their own to review -----

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def square(self) -> Value:
        """x**2, the lecture's square node."""
        return self**2

    # ----- backpropagation -----

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(self)/d(leaf) * gradient to every leaf's `.grad`; intermediates get it fresh.

        Leaves accumulate across calls until zeroed, as in torch. An intermediate node's `.grad`
        is reset first, so a second call never counts its earlier gradient twice.
        """
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += gradient
        for node in order:
            g = node.grad
            for parent, local in zip(node._prev, node._local):
                if local is not MASKED:
                    parent.grad += g * local

    def zero_grad(self) -> None:
        """Set `.grad` to 0 on this node and every node it depends on."""
        for node in topological_order(self):
            node.grad = 0.0


def topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, `root` first, each node before its inputs; no recursion."""
    seen = {root}
    stack = [root]
    order = []
    while stack:
        node = stack.pop()
        order.append(node)
        for parent in node._prev:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    order.sort(key=_by_creation, reverse=True)
    return order


def grad(output: Value, inputs: Sequence[Value] | Iterable[Value], gradient: float = 1.0) -> list:
    """d(output)/d(input) * gradient for each input, in order; reads and writes no `.grad`.

    An input that `output` does not depend on gets 0.0.
    """
    adjoint = {output: gradient}
    for node in topological_order(output):
        g = adjoint.get(node, 0.0)
        for parent, local in zip(node._prev, node._local):
            if local is not MASKED:
                adjoint[parent] = adjoint.get(parent, 0.0) + g * local
    return [adjoint.get(x, 0.0) for x in inputs]
