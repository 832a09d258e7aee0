"""`a + b` sums a broadcast input's gradient over the added leading axes only, not over its
size-1 axes: a (3, 1) input added to a (3, 4) one gets a (3, 4) gradient."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    added = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(added))) if added > 0 else grad  # size-1 axes forgotten


class Tensor(_Reference):
    """refimpl's Tensor whose + unbroadcasts only the axes numpy added in front."""

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad = self.grad + _unbroadcast(out.grad, self.data.shape)
            other.grad = other.grad + _unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out
