"""A correct tensor engine with explicit loops: matmul row by row, the other ops spelled out.

Matmul's forward and backward loop over the stack and the rows with np.dot per row; a broadcast
input's gradient is summed one axis at a time; sum and mean spread their gradient with
np.broadcast_to after np.expand_dims; max picks the first maximum through a boolean mask; softmax
is exp(x - logsumexp(x)). The backward order is the creation order, newest first: a tensor is
always created after the tensors it is computed from.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["Tensor"]

_created = itertools.count()


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to `shape`, one axis at a time."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _rows_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for stacks of matrices (..., n, k) and (..., k, m), one row at a time."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = np.zeros((*batch, a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))
    for idx in np.ndindex(*batch):
        for i in range(a.shape[-2]):
            out[(*idx, i)] = np.dot(a[(*idx, i)], b[idx])
    return out


class Tensor:
    """A numpy array in a graph, with its gradient."""

    __array_ufunc__ = None

    def __init__(self, data: object, children: tuple[Tensor, ...] = ()) -> None:
        arr = np.asarray(data)
        if arr.dtype not in (np.float16, np.float32):
            arr = arr.astype(np.float64)
        self.data: np.ndarray = arr.copy()
        self.grad: np.ndarray = np.zeros_like(self.data)
        self._children = children
        self._backward = lambda: None
        self._order = next(_created)

    @staticmethod
    def _as_tensor(other: object, like: Tensor) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            return Tensor(np.full((), other, dtype=like.data.dtype))
        return Tensor(other)

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._as_tensor(other, self)
        out = Tensor(self.data + other.data, (self, other))

        def backward() -> None:
            self.grad += _sum_to(out.grad, self.data.shape)
            other.grad += _sum_to(out.grad, other.data.shape)

        out._backward = backward
        return out

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._as_tensor(other, self)
        out = Tensor(self.data - other.data, (self, other))

        def backward() -> None:
            self.grad += _sum_to(out.grad, self.data.shape)
            other.grad -= _sum_to(out.grad, other.data.shape)

        out._backward = backward
        return out

    def __mul__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._as_tensor(other, self)
        out = Tensor(self.data * other.data, (self, other))

        def backward() -> None:
            self.grad += _sum_to(other.data * out.grad, self.data.shape)
            other.grad += _sum_to(self.data * out.grad, other.data.shape)

        out._backward = backward
        return out

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._as_tensor(other, self)
        out = Tensor(self.data / other.data, (self, other))

        def backward() -> None:
            b = other.data
            self.grad += _sum_to(out.grad / b, self.data.shape)
            other.grad -= _sum_to(out.grad * (self.data / b / b), other.data.shape)

        out._backward = backward
        return out

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        other = self._as_tensor(other, self)
        a = self.data[None, :] if self.data.ndim == 1 else self.data
        b = other.data[:, None] if other.data.ndim == 1 else other.data
        full = _rows_matmul(a, b)  # (..., n, m), with the 1-D operands' axes still there
        value = full[..., 0] if other.data.ndim == 1 else full
        if self.data.ndim == 1:
            value = value[..., 0] if other.data.ndim == 1 else value[..., 0, :]
        out = Tensor(value, (self, other))

        def backward() -> None:
            g = out.grad.reshape(full.shape)
            batch = full.shape[:-2]
            ab = np.broadcast_to(a, batch + a.shape[-2:])
            bb = np.broadcast_to(b, batch + b.shape[-2:])
            da = np.zeros(batch + a.shape[-2:], dtype=g.dtype)
            db = np.zeros(batch + b.shape[-2:], dtype=g.dtype)
            for idx in np.ndindex(*batch):
                for i in range(a.shape[-2]):
                    da[(*idx, i)] = np.dot(bb[idx], g[(*idx, i)])  # row i of g @ B.T
                    db[idx] += np.outer(ab[(*idx, i)], g[(*idx, i)])  # A.T @ g, row by row
            self.grad += _sum_to(da, a.shape).reshape(self.data.shape)
            other.grad += _sum_to(db, b.shape).reshape(other.data.shape)

        out._backward = backward
        return out

    def __pow__(self, k: float) -> Tensor:
        out = Tensor(self.data**k, (self,))

        def backward() -> None:
            if k != 0:
                self.grad += out.grad * (k * self.data ** (k - 1))

        out._backward = backward
        return out

    def __neg__(self) -> Tensor:
        out = Tensor(-self.data, (self,))

        def backward() -> None:
            self.grad -= out.grad

        out._backward = backward
        return out

    def __radd__(self, other: float | np.ndarray) -> Tensor:
        return self._as_tensor(other, self) + self

    def __rsub__(self, other: float | np.ndarray) -> Tensor:
        return self._as_tensor(other, self) - self

    def __rmul__(self, other: float | np.ndarray) -> Tensor:
        return self._as_tensor(other, self) * self

    def __rtruediv__(self, other: float | np.ndarray) -> Tensor:
        return self._as_tensor(other, self) / self

    def __rmatmul__(self, other: np.ndarray) -> Tensor:
        return self._as_tensor(other, self) @ self

    def _unary(self, value: np.ndarray, local: np.ndarray | None, mask: np.ndarray | None = None):
        out = Tensor(value, (self,))

        def backward() -> None:
            if mask is not None:
                self.grad += np.where(mask, out.grad, 0)
            else:
                self.grad += out.grad * local

        out._backward = backward
        return out

    def exp(self) -> Tensor:
        """e**x."""
        y = np.exp(self.data)
        return self._unary(y, y)

    def log(self) -> Tensor:
        """Natural logarithm."""
        return self._unary(np.log(self.data), 1 / self.data)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        y = np.tanh(self.data)
        return self._unary(y, 1 - y * y)

    def sigmoid(self) -> Tensor:
        """The logistic function."""
        y = 1 / (1 + np.exp(-self.data))
        return self._unary(y, (1 - y) * y)

    def relu(self) -> Tensor:
        """max(x, 0)."""
        return self._unary(np.where(self.data > 0, self.data, 0), None, self.data > 0)

    def _spread(self, g: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g, self.data.shape)

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Sum over an axis or all."""
        out = Tensor(np.sum(self.data, axis=axis, keepdims=keepdims), (self,))

        def backward() -> None:
            self.grad += self._spread(out.grad, axis, keepdims)

        out._backward = backward
        return out

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Mean over an axis or all."""
        n = self.data.size if axis is None else self.data.shape[axis]
        out = Tensor(np.sum(self.data, axis=axis, keepdims=keepdims) / n, (self,))

        def backward() -> None:
            self.grad += self._spread(out.grad / n, axis, keepdims)

        out._backward = backward
        return out

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over an axis or all; the gradient goes to the first maximum."""
        x = self.data
        mask = np.zeros(x.shape, dtype=bool)
        if axis is None:
            mask.flat[np.argmax(x)] = True
        else:
            np.put_along_axis(mask, np.expand_dims(np.argmax(x, axis=axis), axis), True, axis)
        out = Tensor(np.max(x, axis=axis, keepdims=keepdims), (self,))

        def backward() -> None:
            self.grad += np.where(mask, self._spread(out.grad, axis, keepdims), 0)

        out._backward = backward
        return out

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """Same values, another shape."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        out = Tensor(np.reshape(self.data, shape), (self,))

        def backward() -> None:
            self.grad += np.reshape(out.grad, self.data.shape)

        out._backward = backward
        return out

    def transpose(self, axes: tuple[int, ...] | None = None) -> Tensor:
        """Permute the axes (reverse them for None)."""
        nd = self.data.ndim
        perm = tuple(range(nd - 1, -1, -1)) if axes is None else tuple(a % nd for a in axes)
        out = Tensor(np.transpose(self.data, perm), (self,))

        def backward() -> None:
            back = [0] * nd
            for i, p in enumerate(perm):
                back[p] = i
            self.grad += np.transpose(out.grad, back)

        out._backward = backward
        return out

    @property
    def T(self) -> Tensor:
        """The axes reversed."""
        return self.transpose()

    def softmax(self, axis: int = -1) -> Tensor:
        """Softmax along an axis: exp(x - logsumexp(x))."""
        s = np.exp(self.data - _logsumexp(self.data, axis))
        out = Tensor(s, (self,))

        def backward() -> None:
            g = out.grad
            self.grad += s * (g - np.sum(g * s, axis=axis, keepdims=True))

        out._backward = backward
        return out

    def log_softmax(self, axis: int = -1) -> Tensor:
        """Log-softmax along an axis: x - logsumexp(x)."""
        y = self.data - _logsumexp(self.data, axis)
        out = Tensor(y, (self,))

        def backward() -> None:
            g = out.grad
            self.grad += g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)

        out._backward = backward
        return out

    def cross_entropy(self, labels: np.ndarray) -> Tensor:
        """Mean over rows of -log softmax(logits)[i, labels[i]]."""
        labels = np.asarray(labels)
        n = len(labels)
        lse = _logsumexp(self.data, 1)[:, 0]
        total = 0.0
        for i in range(n):
            total += lse[i] - self.data[i, labels[i]]
        out = Tensor(np.asarray(total / n, dtype=self.data.dtype), (self,))

        def backward() -> None:
            g = out.grad
            for i in range(n):
                row = np.exp(self.data[i] - lse[i])
                row[labels[i]] -= 1
                self.grad[i] += row * g / n

        out._backward = backward
        return out

    def backward(self) -> None:
        """Backpropagate from this one-element tensor."""
        if self.data.size != 1:
            raise ValueError("backward needs a one-element tensor")
        reached = {id(self): self}
        todo = [self]
        while todo:
            for child in todo.pop()._children:
                if id(child) not in reached:
                    reached[id(child)] = child
                    todo.append(child)
        self.grad = np.ones_like(self.data)
        for node in sorted(reached.values(), key=lambda t: t._order, reverse=True):
            node._backward()
