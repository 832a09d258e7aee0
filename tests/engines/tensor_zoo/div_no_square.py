"""`a / b` gives b the gradient -g * a / b, where -g * a / b**2 belongs."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _unbroadcast


class Tensor(_Reference):
    """refimpl's Tensor whose division derivative in b misses a factor 1 / b."""

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data / other.data, (self, other), "/")

        def _backward() -> None:
            self.grad += _unbroadcast(out.grad / other.data, self.data.shape)
            other.grad += _unbroadcast(-out.grad * self.data / other.data, other.data.shape)

        out._backward = _backward
        return out
