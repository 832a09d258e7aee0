"""transpose(axes)'s backward applies the permutation `axes` again instead of its inverse,
np.argsort(axes): the same for 2-D (a swap is its own inverse), wrong for a 3-D cycle such as
(1, 2, 0)."""

from __future__ import annotations

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose transpose permutes the gradient forward again."""

    def transpose(self, axes: tuple[int, ...] | None = None) -> Tensor:
        """The axes permuted; None reverses them."""
        if axes is None:
            axes = tuple(reversed(range(self.data.ndim)))
        axes = tuple(ax % self.data.ndim for ax in axes)
        out = type(self)(self.data.transpose(axes), (self,), "transpose")

        def _backward() -> None:
            self.grad += out.grad.transpose(axes)

        out._backward = _backward
        return out
