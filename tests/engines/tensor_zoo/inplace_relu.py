"""relu clamps its input's array in place: the input's `.data` changes after the fact, and every
operation that saved it (a product that used x before the relu) backpropagates with the clamped
values."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose relu writes into its input's array."""

    def relu(self) -> Tensor:
        """max(x, 0), computed in place."""
        np.maximum(self.data, 0, out=self.data)  # saves a copy, and overwrites x
        out = type(self)(self.data, (self,), "relu")

        def _backward() -> None:
            self.grad += np.where(self.data <= 0, 0, out.grad)

        out._backward = _backward
        return out
