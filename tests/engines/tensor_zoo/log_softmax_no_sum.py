"""log_softmax's backward is g - softmax: the softmax is not multiplied by the sum of g along
the axis (right only where that sum is 1)."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _log_softmax


class Tensor(_Reference):
    """refimpl's Tensor whose log_softmax backward drops g.sum(axis)."""

    def log_softmax(self, axis: int = -1) -> Tensor:
        """log(softmax(x)) along `axis`."""
        out = type(self)(_log_softmax(self.data, axis), (self,), "log_softmax")

        def _backward() -> None:
            self.grad += out.grad - np.exp(out.data)

        out._backward = _backward
        return out
