"""`a + b` reduces a broadcast input's size-1 axes by summing over axis 0 every time, then
reshapes to the input's shape: right for a (1, 4) bias, wrong values for a (3, 1) column added
to a (3, 3) matrix (column sums where row sums belong), and a reshape error for (3, 1) + (3, 4)."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=0, keepdims=True)  # the bias habit: axis 0, where axis i belongs
    return grad.reshape(shape)


class Tensor(_Reference):
    """refimpl's Tensor whose + sums a broadcast input's gradient over axis 0 only."""

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out
