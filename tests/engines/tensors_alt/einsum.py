"""A correct tensor engine through einsum: matmul, sums and their backward are einsum strings.

Each node keeps a `_grad_fn` that returns its inputs' gradients (the engine adds them), the
gradient of a broadcast input is reduced with np.add.reduce over axes worked out from the padded
shapes, and backward walks the graph in Kahn's order: a node runs once every node that used it
has run, counted in a dict keyed by node id.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Tensor"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _reduce_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to the broadcast input shape `shape`."""
    # Pad the input's shape with None in front, aligned to the right as numpy aligns it; every
    # None (an added axis) and every 1 that grew is summed over in a single reduce.
    padded = (None,) * (grad.ndim - len(shape)) + tuple(shape)
    axes = tuple(i for i, n in enumerate(padded) if n is None or (n == 1 and grad.shape[i] != 1))
    return np.add.reduce(grad, axis=axes).reshape(shape)


def _axis_sum(x: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
    """x summed over `axis` (every axis for None), as an einsum."""
    subs = _LETTERS[: x.ndim]
    dropped = range(x.ndim) if axis is None else [axis % x.ndim]
    kept = "".join(c for i, c in enumerate(subs) if i not in dropped)
    out = np.einsum(f"{subs}->{kept}", x)
    if keepdims:
        out = out.reshape([1 if i in dropped else n for i, n in enumerate(x.shape)])
    return out


def _spread(g: np.ndarray, shape: tuple[int, ...], axis: int | None, keepdims: bool) -> np.ndarray:
    """The gradient of a sum over `axis`: `g` copied along the summed axes, as an einsum."""
    ndim = len(shape)
    subs = _LETTERS[:ndim]
    dropped = range(ndim) if axis is None else [axis % ndim]
    if keepdims:
        g = g.reshape([n for i, n in enumerate(g.shape) if i not in dropped])
    kept = "".join(c for i, c in enumerate(subs) if i not in dropped)
    return np.einsum(f"{kept},{subs}->{subs}", g, np.ones(shape, dtype=g.dtype))


def _matmul_specs(a_ndim: int, b_ndim: int) -> tuple[str, str, str]:
    """Einsum strings for C = A @ B, dA and dB (numpy's matmul rules for 1-D operands)."""
    a = "...ij" if a_ndim > 1 else "j"
    b = "...jk" if b_ndim > 1 else "j"
    c = ("...i" if a_ndim > 1 else "...") + ("k" if b_ndim > 1 else "")
    if a_ndim == 1 and b_ndim == 1:
        c = ""
    # dA pairs dC with B, dB pairs A with dC; an operand without "..." is summed over the stack.
    da_out = "...ij" if a_ndim > 1 else "...j"
    db_out = "...jk" if b_ndim > 1 else "...j"
    return f"{a},{b}->{c}", f"{c or '...'},{b}->{da_out}", f"{a},{c or '...'}->{db_out}"


class Tensor:
    """A numpy array in a graph; its gradient functions return the inputs' gradients."""

    __array_ufunc__ = None

    def __init__(self, data: object, _parents: tuple[Tensor, ...] = ()) -> None:
        arr = np.asarray(data)
        keep = arr.dtype == np.float32 or arr.dtype == np.float16
        self.data: np.ndarray = np.array(arr, dtype=arr.dtype if keep else np.float64)
        self.grad: np.ndarray = np.zeros(self.data.shape, dtype=self.data.dtype)
        self._parents = _parents
        self._grad_fn: Callable[[np.ndarray], tuple[np.ndarray, ...]] | None = None

    def _node(self, data: np.ndarray, parents: tuple[Tensor, ...], grad_fn: Callable) -> Tensor:
        out = Tensor(data, parents)
        out._grad_fn = grad_fn
        return out

    def _wrap(self, other: Tensor | float | np.ndarray) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            return Tensor(np.array(other, dtype=self.data.dtype))
        return Tensor(other)

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._wrap(other)
        sa, sb = self.data.shape, o.data.shape
        return self._node(
            self.data + o.data, (self, o), lambda g: (_reduce_to(g, sa), _reduce_to(g, sb))
        )

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._wrap(other)
        sa, sb = self.data.shape, o.data.shape
        return self._node(
            self.data - o.data, (self, o), lambda g: (_reduce_to(g, sa), _reduce_to(-g, sb))
        )

    def __mul__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._wrap(other)
        a, b = self.data, o.data
        return self._node(
            a * b, (self, o), lambda g: (_reduce_to(g * b, a.shape), _reduce_to(g * a, b.shape))
        )

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        o = self._wrap(other)
        a, b = self.data, o.data
        q = a / b

        def grad_fn(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return _reduce_to(g / b, a.shape), _reduce_to(-g * (q / b), b.shape)

        return self._node(q, (self, o), grad_fn)

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        o = self._wrap(other)
        a, b = self.data, o.data
        fwd, dspec_a, dspec_b = _matmul_specs(a.ndim, b.ndim)

        def grad_fn(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            da = np.einsum(dspec_a, g, b)
            db = np.einsum(dspec_b, a, g)
            return _reduce_to(da, a.shape), _reduce_to(db, b.shape)

        return self._node(np.einsum(fwd, a, b), (self, o), grad_fn)

    def __pow__(self, k: float) -> Tensor:
        x = self.data
        return self._node(
            x**k, (self,), lambda g: (g * (k * x ** (k - 1)) if k != 0 else np.zeros_like(x),)
        )

    def __neg__(self) -> Tensor:
        return self._node(-self.data, (self,), lambda g: (-g,))

    def __radd__(self, other: float | np.ndarray) -> Tensor:
        return self._wrap(other) + self

    def __rsub__(self, other: float | np.ndarray) -> Tensor:
        return self._wrap(other) - self

    def __rmul__(self, other: float | np.ndarray) -> Tensor:
        return self._wrap(other) * self

    def __rtruediv__(self, other: float | np.ndarray) -> Tensor:
        return self._wrap(other) / self

    def __rmatmul__(self, other: np.ndarray) -> Tensor:
        return self._wrap(other) @ self

    def exp(self) -> Tensor:
        """e**x."""
        y = np.exp(self.data)
        return self._node(y, (self,), lambda g: (g * y,))

    def log(self) -> Tensor:
        """Natural logarithm."""
        x = self.data
        return self._node(np.log(x), (self,), lambda g: (g / x,))

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        y = np.tanh(self.data)
        return self._node(y, (self,), lambda g: (g * (1 - y * y),))

    def sigmoid(self) -> Tensor:
        """The logistic function."""
        y = 1 / (1 + np.exp(-self.data))
        return self._node(y, (self,), lambda g: (g * (1 - y) * y,))

    def relu(self) -> Tensor:
        """max(x, 0), derivative 0 at x <= 0."""
        x = self.data
        return self._node(np.maximum(x, 0), (self,), lambda g: (np.where(x > 0, g, 0),))

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Sum over an axis or all."""
        shape = self.data.shape
        return self._node(
            _axis_sum(self.data, axis, keepdims),
            (self,),
            lambda g: (_spread(g, shape, axis, keepdims),),
        )

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Mean over an axis or all."""
        shape = self.data.shape
        n = self.data.size if axis is None else shape[axis]
        return self._node(
            _axis_sum(self.data, axis, keepdims) / n,
            (self,),
            lambda g: (_spread(g / n, shape, axis, keepdims),),
        )

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over an axis or all; the gradient goes to the first maximum."""
        x = self.data
        if axis is None:
            onehot = (np.arange(x.size) == np.argmax(x)).reshape(x.shape)
        else:
            ax = axis % x.ndim
            where = [1] * x.ndim
            where[ax] = x.shape[ax]
            positions = np.arange(x.shape[ax]).reshape(where)
            onehot = positions == np.expand_dims(np.argmax(x, axis=ax), ax)

        def grad_fn(g: np.ndarray) -> tuple[np.ndarray]:
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.where(onehot, g, 0),)

        return self._node(x.max(axis=axis, keepdims=keepdims), (self,), grad_fn)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """Same values, another shape."""
        new = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        old = self.data.shape
        return self._node(self.data.reshape(new), (self,), lambda g: (g.reshape(old),))

    def transpose(self, axes: tuple[int, ...] | None = None) -> Tensor:
        """Permute the axes (reverse them for None)."""
        nd = self.data.ndim
        perm = list(range(nd))[::-1] if axes is None else [a % nd for a in axes]
        inverse = [perm.index(i) for i in range(nd)]
        return self._node(
            np.transpose(self.data, perm), (self,), lambda g: (np.transpose(g, inverse),)
        )

    @property
    def T(self) -> Tensor:
        """The axes reversed."""
        return self.transpose()

    def softmax(self, axis: int = -1) -> Tensor:
        """Softmax along an axis."""
        e = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        s = e / _axis_sum(e, axis, True)
        return self._node(s, (self,), lambda g: (s * (g - _axis_sum(g * s, axis, True)),))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """Log-softmax along an axis."""
        z = self.data - self.data.max(axis=axis, keepdims=True)
        y = z - np.log(_axis_sum(np.exp(z), axis, True))
        return self._node(y, (self,), lambda g: (g - np.exp(y) * _axis_sum(g, axis, True),))

    def cross_entropy(self, labels: np.ndarray) -> Tensor:
        """Mean negative log-likelihood of the labels under softmax of (N, C) logits."""
        labels = np.asarray(labels)
        n, c = self.data.shape
        onehot = (labels[:, None] == np.arange(c)[None, :]).astype(self.data.dtype)
        z = self.data - self.data.max(axis=1, keepdims=True)
        logp = z - np.log(_axis_sum(np.exp(z), 1, True))
        loss = -np.einsum("nc,nc->", logp, onehot) / n
        return self._node(loss, (self,), lambda g: (g * (np.exp(logp) - onehot) / n,))

    def backward(self) -> None:
        """Backpropagate from this one-element tensor."""
        if self.data.size != 1:
            raise ValueError("backward needs a one-element tensor")
        nodes: dict[int, Tensor] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if id(node) not in nodes:
                nodes[id(node)] = node
                stack.extend(node._parents)
        users = dict.fromkeys(nodes, 0)  # how many uses of each node are still to run
        for node in nodes.values():
            for p in node._parents:
                users[id(p)] += 1
        self.grad = np.ones_like(self.data)
        ready = [self]
        while ready:
            node = ready.pop()
            if node._grad_fn is not None:
                for p, g in zip(node._parents, node._grad_fn(node.grad)):
                    p.grad += g
            for p in node._parents:
                users[id(p)] -= 1
                if users[id(p)] == 0:
                    ready.append(p)
