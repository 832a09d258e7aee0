"""The bug zoo: the correct `alt.Value`, each class with one classic hand-written-backprop bug.

Every class is a real engine (`--engine tests.engines.zoo:NAME`). `ZOO` lists, for each, the op
the suite must blame and the words its hint must contain, where a hint applies.
"""

from __future__ import annotations

import math

from tests.engines.alt import Value, _exp
from tests.engines.buggy import TanhMissingSquare, perturbed


class OverwrittenGrad(Value):
    """mul assigns its gradients (`=`) instead of accumulating them (`+=`): fan-out loses terms."""

    def __mul__(self, other):
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def back(g):
            self.grad = g * other.data
            other.grad = g * self.data

        out._backward = back
        return out

    __rmul__ = __mul__


class SwappedProductRule(Value):
    """d(a·b)/da written as a instead of b."""

    def __mul__(self, other):
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def back(g):
            self.grad += g * self.data
            other.grad += g * other.data

        out._backward = back
        return out

    __rmul__ = __mul__


class MissingChainFactor(Value):
    """exp's backward forgets to multiply by the gradient from above."""

    def exp(self):
        out = type(self)(_exp(self.data), (self,))

        def back(g):
            self.grad += out.data

        out._backward = back
        return out


class ReluGradAtZeroIsOne(Value):
    """relu'(0) = 1 instead of torch's 0 (`>=` for `>`)."""

    def relu(self):
        x = self.data
        out = type(self)(0.0 if x < 0 else x, (self,))

        def back(g):
            if self.data >= 0:
                self.grad += g

        out._backward = back
        return out


class SigmoidMissingOneMinus(Value):
    """sigmoid' = s instead of s·(1 − s)."""

    def sigmoid(self):
        out = type(self)(1.0 / (1.0 + _exp(-self.data)), (self,))

        def back(g):
            self.grad += g * out.data

        out._backward = back
        return out


class DivisorSignFlipped(Value):
    """d(a/b)/db = +a/b² instead of −a/b²."""

    def __truediv__(self, other):
        other = self._lift(other)
        out = type(self)(self.data / other.data, (self, other))

        def back(g):
            self.grad += g / other.data
            other.grad += g * self.data / (other.data * other.data)

        out._backward = back
        return out


class PowerRuleOffByOne(Value):
    """d(x**c)/dx = c·x**c instead of c·x**(c − 1)."""

    def __pow__(self, other):
        if isinstance(other, Value):
            return super().__pow__(other)
        c = other
        out = type(self)(self.data**c, (self,))

        def back(g):
            self.grad += g * c * self.data**c

        out._backward = back
        return out


class ExpDerivativeOfInput(Value):
    """exp' computed from the input, x, instead of exp(x)."""

    def exp(self):
        out = type(self)(_exp(self.data), (self,))

        def back(g):
            self.grad += g * self.data

        out._backward = back
        return out


class LogDerivativeSquared(Value):
    """log' = 1/x² instead of 1/x."""

    def log(self):
        out = type(self)(math.log(self.data), (self,))

        def back(g):
            self.grad += g / (self.data * self.data)

        out._backward = back
        return out


class SubtrahendSignLost(Value):
    """d(a − b)/db = +1 instead of −1."""

    def __sub__(self, other):
        other = self._lift(other)
        out = type(self)(self.data - other.data, (self, other))

        def back(g):
            self.grad += g
            other.grad += g

        out._backward = back
        return out


class NegGradNotNegated(Value):
    """d(−x)/dx = +1."""

    def __neg__(self):
        out = type(self)(-self.data, (self,))

        def back(g):
            self.grad += g

        out._backward = back
        return out


class LeakySlopeEverywhere(Value):
    """leaky_relu' = slope on both sides of 0."""

    def leaky_relu(self, slope=0.01):
        out = type(self)(self.data if self.data > 0 else slope * self.data, (self,))

        def back(g):
            self.grad += slope * g

        out._backward = back
        return out


def _propagate(root: Value, order: list, reset: bool = True) -> None:
    """alt.Value's backward pass over `order` (inputs first): reset intermediates, seed, push."""
    if reset:
        for node in order:
            if node._children:
                node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        if node._backward is not None:
            node._backward(node.grad)


class RecursiveTopoSort(Value):
    """A recursive topological sort, as micrograd's: RecursionError on a deep graph."""

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._children:
                    visit(c)
                order.append(v)

        visit(self)
        _propagate(self, order)


class IntermediatesKeepGrad(Value):
    """backward() never resets intermediate gradients: a second call counts them twice."""

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((c, False) for c in node._children if id(c) not in seen)
        _propagate(self, order, reset=False)  # the bug: intermediates keep last call's gradient


class NodeListedTwice(Value):
    """The topological sort lists a node again each time it is reached: its backward runs twice."""

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) in seen:
                order.append(v)  # the bug: should only return
                return
            seen.add(id(v))
            for c in v._children:
                visit(c)
            order.append(v)

        visit(self)
        _propagate(self, order)


TanhOffByOneInAMillion = perturbed("tanh")

# class -> (the op the suite must blame in some failing row, words the hint must contain or "")
ZOO: dict[type, tuple[str, str]] = {
    OverwrittenGrad: ("mul", "overwritten"),
    SwappedProductRule: ("mul", ""),
    MissingChainFactor: ("exp", "missing chain-rule factor"),
    ReluGradAtZeroIsOne: ("relu", ""),
    SigmoidMissingOneMinus: ("sigmoid", ""),
    DivisorSignFlipped: ("div", ""),
    PowerRuleOffByOne: ("powc", ""),
    ExpDerivativeOfInput: ("exp", ""),
    LogDerivativeSquared: ("log", ""),
    SubtrahendSignLost: ("sub", ""),
    NegGradNotNegated: ("neg", "flipped sign"),
    LeakySlopeEverywhere: ("leaky_relu", ""),
    RecursiveTopoSort: ("chain", ""),
    IntermediatesKeepGrad: ("backward", "carried over"),
    NodeListedTwice: ("", "double counting"),
    TanhMissingSquare: ("tanh", ""),
    TanhOffByOneInAMillion: ("tanh", ""),
}

# The bugs that differ from torch only in a convention (a kink, repeated backward() calls, a
# recursion limit): shown as `differs` by default, caught only under --strict.
CONVENTION_BUGS: dict[type, str] = {
    ReluGradAtZeroIsOne: "ieee",
    RecursiveTopoSort: "limits",
    IntermediatesKeepGrad: "backward-calls",
}
