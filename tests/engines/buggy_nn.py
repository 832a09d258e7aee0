"""Buggy engines for the neuron suites: the correct `alt.Value` with one classic mistake each.

Activations and losses are where a first backprop goes wrong; the optimizer is where a first
training loop does. Each class is importable by name, e.g.
`--engine tests.engines.buggy_nn:SquareForgetsTwo`.
"""

from __future__ import annotations

import math

from tests.engines.alt import Value


class SigmoidDerivativeIsOutput(Value):
    """sigmoid' written as σ(x) instead of σ(x)·(1 − σ(x)): a wrong activation derivative."""

    def sigmoid(self):
        out = type(self)(1.0 / (1.0 + math.exp(-self.data)), (self,))

        def back(g):
            self.grad += g * out.data

        out._backward = back
        return out


class ReluPassesEverything(Value):
    """relu' = 1 everywhere: a unit that is off still passes its gradient down."""

    def relu(self):
        out = type(self)(self.data if self.data > 0 else 0.0, (self,))

        def back(g):
            self.grad += g

        out._backward = back
        return out


class SquareForgetsTwo(Value):
    """d(x²)/dx written as x, not 2x: the squared error's derivative is half what it should be.

    `x ** 2` and the vocabulary's `square` both go through `__pow__`.
    """

    def __pow__(self, other):
        if isinstance(other, Value) or other != 2:
            return super().__pow__(other)
        out = type(self)(self.data * self.data, (self,))

        def back(g):
            self.grad += g * self.data

        out._backward = back
        return out


class LogDerivativeNegated(Value):
    """log'(x) written as −1/x: binary cross-entropy's gradient comes out with the wrong sign."""

    def log(self):
        out = type(self)(math.log(self.data), (self,))

        def back(g):
            self.grad -= g / self.data

        out._backward = back
        return out


class SgdAddsGradient(Value):
    """Correct gradients, and an optimizer that climbs: w ← w + lr·g."""

    @staticmethod
    def sgd_step(params, lr):
        """The engine's own SGD step, with the sign turned around."""
        for p in params:
            p.data += lr * p.grad


class SgdCorrect(Value):
    """Correct gradients and a correct optimizer of its own: w ← w − lr·g."""

    @staticmethod
    def sgd_step(params, lr):
        """The engine's own SGD step."""
        for p in params:
            p.data -= lr * p.grad
