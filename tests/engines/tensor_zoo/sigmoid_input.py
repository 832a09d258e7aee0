"""sigmoid's backward writes s * (1 - s) with the input x where the output s belongs."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose sigmoid derivative uses x for s."""

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x)."""
        out = type(self)(1 / (1 + np.exp(-self.data)), (self,), "sigmoid")

        def _backward() -> None:
            self.grad += self.data * (1 - self.data) * out.grad

        out._backward = _backward
        return out
