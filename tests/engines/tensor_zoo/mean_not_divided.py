"""mean's backward forgets to divide by the number of elements averaged."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose mean backpropagates like a sum."""

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The mean over `axis` (all axes for None)."""
        out = type(self)(self.data.mean(axis=axis, keepdims=keepdims), (self,), "mean")

        def _backward() -> None:
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.data.shape)  # no / count

        out._backward = _backward
        return out
