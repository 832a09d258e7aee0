"""`A @ B` computes dB as dC.T @ A, where A.T @ dC belongs: B's gradient comes out transposed
(numpy raises when B is not square)."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _unbroadcast


class Tensor(_Reference):
    """refimpl's Tensor whose matmul multiplies dC and A the wrong way round for dB."""

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        out = type(self)(a @ b, (self, other), "@")

        def _backward() -> None:
            g = out.grad
            a2 = a[np.newaxis, :] if a.ndim == 1 else a
            b2 = b[:, np.newaxis] if b.ndim == 1 else b
            if b.ndim == 1:
                g = np.expand_dims(g, -1)
            if a.ndim == 1:
                g = np.expand_dims(g, -2)
            da = _unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape)
            db = _unbroadcast(g.swapaxes(-1, -2) @ a2, b2.shape)  # (m, n) @ (n, k): B.T's shape
            self.grad += da[0] if a.ndim == 1 else da  # drop the axis put back above
            other.grad += db[:, 0] if b.ndim == 1 else db

        out._backward = _backward
        return out
