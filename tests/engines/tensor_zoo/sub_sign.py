"""`a - b` gives b the gradient +g: the minus sign of d(a - b)/db = -1 is lost."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _unbroadcast


class Tensor(_Reference):
    """refimpl's Tensor whose subtraction backpropagates like an addition."""

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data - other.data, (self, other), "-")

        def _backward() -> None:
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out
