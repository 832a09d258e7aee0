"""max's backward sends the gradient to every element equal to the maximum, not to the first
one only: the same as refimpl except on ties."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose max masks with x == max."""

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The maximum over `axis`."""
        out = type(self)(self.data.max(axis=axis, keepdims=keepdims), (self,), "max")

        def _backward() -> None:
            top = self.data.max(axis=axis, keepdims=True)
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += (self.data == top) * g

        out._backward = _backward
        return out
