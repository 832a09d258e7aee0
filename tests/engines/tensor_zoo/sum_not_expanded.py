"""sum(axis)'s backward multiplies the reduced gradient by ones without putting the reduced axis
back: numpy then lines it up with the last axis (right for axis 0 of a matrix, wrong or an error
for the others)."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose sum spreads its gradient without np.expand_dims."""

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The sum over `axis` (all axes for None)."""
        out = type(self)(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward() -> None:
            self.grad += out.grad * np.ones_like(self.data)

        out._backward = _backward
        return out
