"""`x ** k`'s backward adds the local derivative k * x**(k-1) without multiplying it by the
output's gradient."""

from __future__ import annotations

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose pow forgets the chain rule."""

    def __pow__(self, k: float) -> Tensor:
        out = type(self)(self.data**k, (self,), f"**{k}")

        def _backward() -> None:
            if k != 0:
                self.grad += k * self.data ** (k - 1)  # times out.grad forgotten

        out._backward = _backward
        return out
