"""reshape's backward reshapes the gradient to the output's shape, which it already has, instead
of back to the input's."""

from __future__ import annotations

from refimpl.tensor import Tensor as _Reference


class Tensor(_Reference):
    """refimpl's Tensor whose reshape does not undo itself in the backward pass."""

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """The same values in another shape."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        out = type(self)(self.data.reshape(shape), (self,), "reshape")

        def _backward() -> None:
            self.grad += out.grad.reshape(out.data.shape)

        out._backward = _backward
        return out
