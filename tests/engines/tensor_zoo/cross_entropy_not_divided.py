"""cross_entropy's forward takes the mean over the rows, its backward forgets the 1/N."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _log_softmax


class Tensor(_Reference):
    """refimpl's Tensor whose cross-entropy gradient is N times too large."""

    def cross_entropy(self, labels: np.ndarray) -> Tensor:
        """Mean over the rows of -log_softmax(logits)[i, labels[i]]."""
        labels = np.asarray(labels)
        rows = np.arange(len(labels))
        logp = _log_softmax(self.data, axis=1)
        out = type(self)(-logp[rows, labels].mean(), (self,), "cross_entropy")

        def _backward() -> None:
            d = np.exp(logp)
            d[rows, labels] -= 1
            self.grad += d * out.grad

        out._backward = _backward
        return out
