"""A correct tensor engine that adds in other orders than numpy's: the suite must not mind.

`sum` adds each slice exactly (math.fsum, rounded once); the other sums (mean, softmax's
normaliser, a broadcast input's gradient) run over reversed slices, and matmul reverses its inner
index. Backward closures return their contributions instead of adding them: each tensor collects
them in a list and adds them, last first, when its turn comes, in order of height (the longest
path down to a leaf), tallest first. max finds its first maximum with a running count of ties
rather than argmax, and log_softmax is x - max - log(sum(exp(x - max))).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["Tensor"]

Axes = int | tuple[int, ...] | None


def _fsum(values: np.ndarray) -> float:
    """The exactly rounded sum; numpy's where fsum cannot (inf, nan, overflow on the way)."""
    if np.isfinite(values).all():
        try:
            return math.fsum(values.tolist())
        except OverflowError:
            pass
    return float(np.sum(values))


def _exact_sum(x: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
    """x summed over `axis` (all for None), each slice with math.fsum."""
    if axis is None:
        total = np.asarray(_fsum(x.ravel()), dtype=x.dtype)
        return total.reshape((1,) * x.ndim) if keepdims else total
    out = np.apply_along_axis(_fsum, axis, x).astype(x.dtype) if x.size else x.sum(axis=axis)
    return np.expand_dims(out, axis) if keepdims else out


def _reversed_sum(x: np.ndarray, axis: Axes, keepdims: bool = True) -> np.ndarray:
    """x summed over `axis` with each slice taken back to front."""
    return np.flip(x, axis=axis).sum(axis=axis, keepdims=keepdims)


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lead = g.ndim - len(shape)
    grown = [lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1]
    axes = tuple(range(lead)) + tuple(grown)
    return _reversed_sum(g, axes).reshape(shape) if axes else g


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for stacks of matrices, adding the products over the inner index back to front."""
    return np.matmul(a[..., ::-1], b[..., ::-1, :])


class Tensor:
    """A numpy array in a graph; contributions to its gradient are added when it is reached."""

    __array_ufunc__ = None

    def __init__(self, data: object, parents: tuple[Tensor, ...] = ()) -> None:
        arr = np.asarray(data)
        self.data: np.ndarray = arr.astype(
            arr.dtype if arr.dtype in (np.float16, np.float32) else np.float64, copy=True
        )
        self.grad: np.ndarray = np.zeros_like(self.data)
        self._parents = parents
        self._height = 1 + max((p._height for p in parents), default=-1)
        # Given this tensor's gradient: a list of (input, contribution to its gradient).
        self._contributions: Callable[[np.ndarray], list[tuple[Tensor, np.ndarray]]] = lambda g: []

    def _coerce(self, x: Tensor | float | np.ndarray) -> Tensor:
        if isinstance(x, Tensor):
            return x
        if isinstance(x, (int, float)):
            return Tensor(np.array(x, dtype=self.data.dtype))
        return Tensor(x)

    def _result(self, data: np.ndarray, parents: tuple[Tensor, ...], fn: Callable) -> Tensor:
        out = Tensor(data, parents)
        out._contributions = fn
        return out

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._coerce(other)
        return self._result(
            o.data + self.data,
            (self, o),
            lambda g: [(o, _unbroadcast(g, o.data.shape)), (self, _unbroadcast(g, self.shape))],
        )

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._coerce(other)
        return self._result(
            self.data - o.data,
            (self, o),
            lambda g: [(o, -_unbroadcast(g, o.data.shape)), (self, _unbroadcast(g, self.shape))],
        )

    def __mul__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._coerce(other)
        a, b = self.data, o.data
        return self._result(
            b * a,
            (self, o),
            lambda g: [(o, _unbroadcast(a * g, b.shape)), (self, _unbroadcast(b * g, a.shape))],
        )

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._coerce(other)
        a, b = self.data, o.data
        q = a / b
        return self._result(
            q,
            (self, o),
            lambda g: [
                (o, _unbroadcast(-(q / b) * g, b.shape)),
                (self, _unbroadcast(g / b, a.shape)),
            ],
        )

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        o = self._coerce(other)
        a2 = self.data.reshape(1, -1) if self.data.ndim == 1 else self.data
        b2 = o.data.reshape(-1, 1) if o.data.ndim == 1 else o.data
        full = _matmul(a2, b2)
        # numpy drops the axis a 1-D operand was given: -2 for the left one, -1 for the right.
        dropped = (-2,) * (self.data.ndim == 1) + (-1,) * (o.data.ndim == 1)

        def fn(g: np.ndarray) -> list[tuple[Tensor, np.ndarray]]:
            g = g.reshape(full.shape)
            db = _matmul(np.swapaxes(a2, -1, -2), g)
            da = _matmul(g, np.swapaxes(b2, -1, -2))
            return [
                (o, _unbroadcast(db, b2.shape).reshape(o.data.shape)),
                (self, _unbroadcast(da, a2.shape).reshape(self.data.shape)),
            ]

        return self._result(np.squeeze(full, axis=dropped), (self, o), fn)

    def __pow__(self, k: float) -> Tensor:
        x = self.data
        return self._result(
            x**k, (self,), lambda g: [(self, (k * x ** (k - 1)) * g)] if k != 0 else []
        )

    def __neg__(self) -> Tensor:
        return self._result(-self.data, (self,), lambda g: [(self, -g)])

    def __radd__(self, other: float | np.ndarray) -> Tensor:
        return self._coerce(other) + self

    def __rsub__(self, other: float | np.ndarray) -> Tensor:
        return self._coerce(other) - self

    def __rmul__(self, other: float | np.ndarray) -> Tensor:
        return self._coerce(other) * self

    def __rtruediv__(self, other: float | np.ndarray) -> Tensor:
        return self._coerce(other) / self

    def __rmatmul__(self, other: np.ndarray) -> Tensor:
        return self._coerce(other) @ self

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.data.shape

    def exp(self) -> Tensor:
        """e**x."""
        y = np.exp(self.data)
        return self._result(y, (self,), lambda g: [(self, y * g)])

    def log(self) -> Tensor:
        """Natural logarithm."""
        x = self.data
        return self._result(np.log(x), (self,), lambda g: [(self, g / x)])

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        y = np.tanh(self.data)
        return self._result(y, (self,), lambda g: [(self, (1 - y**2) * g)])

    def sigmoid(self) -> Tensor:
        """The logistic function."""
        y = 1 / (1 + np.exp(-self.data))
        return self._result(y, (self,), lambda g: [(self, y * (1 - y) * g)])

    def relu(self) -> Tensor:
        """max(x, 0)."""
        x = self.data
        return self._result(np.maximum(x, 0), (self,), lambda g: [(self, np.where(x > 0, g, 0))])

    def _spread(self, g: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g, self.data.shape)

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Sum over an axis or all, each slice summed exactly."""
        return self._result(
            _exact_sum(self.data, axis, keepdims),
            (self,),
            lambda g: [(self, self._spread(g, axis, keepdims))],
        )

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Mean over an axis or all."""
        n = self.data.size if axis is None else self.data.shape[axis]
        return self._result(
            _reversed_sum(self.data, axis, keepdims) / n,
            (self,),
            lambda g: [(self, self._spread(g, axis, keepdims) / n)],
        )

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over an axis or all; the gradient goes to the first maximum."""
        x = self.data
        top = x.max(axis=axis, keepdims=True)
        tied = x == top
        # The first maximum is the tie whose running count of ties reaches 1 there.
        if axis is None:
            first = tied & (np.cumsum(tied.ravel()).reshape(x.shape) == 1)
        else:
            first = tied & (np.cumsum(tied, axis=axis) == 1)
        value = top if keepdims else x.max(axis=axis)
        return self._result(
            value,
            (self,),
            lambda g: [(self, np.where(first, self._spread(g, axis, keepdims), 0))],
        )

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """Same values, another shape."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.data.shape
        return self._result(self.data.reshape(shape), (self,), lambda g: [(self, g.reshape(old))])

    def transpose(self, axes: tuple[int, ...] | None = None) -> Tensor:
        """Permute the axes (reverse them for None)."""
        nd = self.data.ndim
        perm = tuple(range(nd))[::-1] if axes is None else tuple(a % nd for a in axes)
        inverse = tuple(int(i) for i in np.argsort(perm))
        return self._result(
            self.data.transpose(perm), (self,), lambda g: [(self, g.transpose(inverse))]
        )

    @property
    def T(self) -> Tensor:
        """The axes reversed."""
        return self.transpose()

    def softmax(self, axis: int = -1) -> Tensor:
        """Softmax along an axis."""
        e = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        s = e / _reversed_sum(e, axis)
        return self._result(s, (self,), lambda g: [(self, s * (g - _reversed_sum(g * s, axis)))])

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - max - log(sum(exp(x - max))) along an axis."""
        x = self.data
        m = x.max(axis=axis, keepdims=True)
        y = x - m - np.log(_reversed_sum(np.exp(x - m), axis))
        return self._result(y, (self,), lambda g: [(self, g - np.exp(y) * _reversed_sum(g, axis))])

    def cross_entropy(self, labels: np.ndarray) -> Tensor:
        """Mean over rows of -log softmax(logits)[i, labels[i]]."""
        labels = np.asarray(labels)
        x = self.data
        n = x.shape[0]
        m = x.max(axis=1, keepdims=True)
        logp = x - m - np.log(_reversed_sum(np.exp(x - m), 1))
        loss = np.asarray(-_fsum(logp[np.arange(n), labels]) / n, dtype=x.dtype)

        def fn(g: np.ndarray) -> list[tuple[Tensor, np.ndarray]]:
            d = np.exp(logp)
            d[np.arange(n), labels] -= 1
            return [(self, d * (g / n))]

        return self._result(loss, (self,), fn)

    def backward(self) -> None:
        """Backpropagate from this one-element tensor."""
        if self.data.size != 1:
            raise ValueError("backward needs a one-element tensor")
        reached = {id(self): self}
        stack = [self]
        while stack:
            for p in stack.pop()._parents:
                if id(p) not in reached:
                    reached[id(p)] = p
                    stack.append(p)
        # A tensor is taller than each of its inputs, so tallest first puts every tensor after
        # all the tensors that use it.
        order = sorted(reached.values(), key=lambda t: t._height, reverse=True)
        pending: dict[int, list[np.ndarray]] = {id(t): [] for t in order}
        for node in order:
            if node is self:
                node.grad = np.ones_like(node.data)
            elif pending[id(node)]:
                parts = pending.pop(id(node))
                total = parts[-1]
                for part in reversed(parts[:-1]):
                    total = total + part
                node.grad += total
            for parent, contribution in node._contributions(node.grad):
                pending[id(parent)].append(contribution)
