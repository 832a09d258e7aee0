"""A reverse-mode autodiff engine over numpy arrays: `Tensor`, micrograd made vectorised.

Every operation computes its output array and, side by side, leaves on the output a closure,
`out._backward`, holding the operation's local rule: given `out.grad` (d(loss)/d(out), the same
shape as `out.data`), it adds to each input's `.grad` that input's share, by the chain rule.
`loss.backward()` orders the graph so that every tensor comes after its inputs and runs the
closures from the loss back to the leaves. Three rules carry every backward rule:
- a gradient has the shape of what it is the gradient of (`x.grad.shape == x.data.shape`);
- an input that numpy broadcast in the forward pass (a bias added to every row) receives the
  *sum* of the gradients of all its copies (`_unbroadcast`);
- a tensor used several times receives the sum over its uses: closures add (`+=`), never assign.

Results are built with `type(self)`, so a subclass overriding one operation keeps its class.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Tensor"]


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of a broadcast input: `grad` summed back down to `shape`."""
    # Broadcasting copies an input in two ways. It adds axes in front: a (4,) bias added to a
    # (3, 4) matrix acts as a (1, 4) one. And it repeats axes of size 1: a (3, 1) column added
    # to a (3, 4) matrix is repeated along the 4 columns. Each copy sent a gradient back, and
    # the input's gradient is the sum of them: sum over the axes added in front, then over the
    # axes where the input has size 1, keeping those (keepdims) so the shape is the input's.
    added = grad.ndim - len(shape)
    if added > 0:
        grad = grad.sum(axis=tuple(range(added)))
    repeated = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if repeated:
        grad = grad.sum(axis=repeated, keepdims=True)
    return grad


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along `axis`, without overflow."""
    # Subtracting the maximum changes nothing mathematically (it cancels between the numerator
    # and the sum) but keeps exp() from overflowing: the largest exponent is then 0.
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


class Tensor:
    """A numpy array in a computational graph, with its gradient."""

    # With this, `array + tensor` hands over to Tensor.__radd__ instead of numpy looping over us.
    __array_ufunc__ = None

    def __init__(self, data: object, _prev: tuple[Tensor, ...] = (), _op: str = "") -> None:
        data = np.asarray(data)
        # float32 and float16 stay as they are; everything else, integers too, becomes float64.
        dtype = data.dtype if data.dtype in (np.float32, np.float16) else np.float64
        self.data: np.ndarray = np.array(data, dtype=dtype)  # a copy: the caller keeps theirs
        self.grad: np.ndarray = np.zeros_like(self.data)
        self._prev = _prev  # the tensors this one was computed from
        self._op = _op  # the operation's name, for reading a graph
        self._backward: Callable[[], None] = lambda: None  # a leaf passes nothing on

    def __repr__(self) -> str:
        return f"Tensor(data={self.data!r}, grad={self.grad!r})"

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of `.data` (and of `.grad`)."""
        return self.data.shape

    def _lift(self, other: Tensor | float | np.ndarray) -> Tensor:
        """`other` as a Tensor; a plain number takes our dtype, so `2 * x` keeps x's float32."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            return type(self)(np.asarray(other, dtype=self.data.dtype))
        return type(self)(other)

    # ----- arithmetic: numpy broadcasting forward, _unbroadcast backward -----

    def __add__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __sub__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data - other.data, (self, other), "-")

        def _backward() -> None:  # d(a - b)/da = 1, d(a - b)/db = -1
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(-out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __mul__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(a * b)/da = b, d(a * b)/db = a
            self.grad += _unbroadcast(out.grad * other.data, self.data.shape)
            other.grad += _unbroadcast(out.grad * self.data, other.data.shape)

        out._backward = _backward
        return out

    def __truediv__(self, other: Tensor | float | np.ndarray) -> Tensor:
        other = self._lift(other)
        out = type(self)(self.data / other.data, (self, other), "/")

        def _backward() -> None:  # d(a / b)/da = 1 / b, d(a / b)/db = -a / b**2
            self.grad += _unbroadcast(out.grad / other.data, self.data.shape)
            # -a / b**2 computed as -(a / b) / b, as torch does: b**2 alone may overflow.
            other.grad += _unbroadcast(-out.grad * (out.data / other.data), other.data.shape)

        out._backward = _backward
        return out

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        out = type(self)(a @ b, (self, other), "@")

        def _backward() -> None:
            # For C = A @ B: dA = dC @ B.T and dB = A.T @ dC (check the shapes: (n, k) @ (k, m)).
            # numpy's matmul treats a 1-D left operand as a row and a 1-D right one as a column,
            # then drops that axis; put it back so the same two formulas hold. Stacked (N-D)
            # operands transpose their last two axes, and a broadcast stack is unbroadcast.
            g = out.grad
            a2 = a[np.newaxis, :] if a.ndim == 1 else a
            b2 = b[:, np.newaxis] if b.ndim == 1 else b
            if b.ndim == 1:
                g = np.expand_dims(g, -1)
            if a.ndim == 1:
                g = np.expand_dims(g, -2)
            da = _unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape)
            db = _unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape)
            self.grad += da[0] if a.ndim == 1 else da  # drop the axis put back above
            other.grad += db[:, 0] if b.ndim == 1 else db

        out._backward = _backward
        return out

    def __pow__(self, k: float) -> Tensor:
        out = type(self)(self.data**k, (self,), f"**{k}")

        def _backward() -> None:  # d(x**k)/dx = k * x**(k-1)
            # k == 0 makes a constant: no gradient (and none of 0 * x**-1 = nan at x == 0).
            if k != 0:
                self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    # Compositions of the operations above, with no backward rule of their own.
    def __neg__(self) -> Tensor:
        return self * -1

    def __radd__(self, other: float | np.ndarray) -> Tensor:
        return self + other

    def __rmul__(self, other: float | np.ndarray) -> Tensor:
        return self * other

    def __rsub__(self, other: float | np.ndarray) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other: float | np.ndarray) -> Tensor:
        return self._lift(other) / self

    def __rmatmul__(self, other: np.ndarray) -> Tensor:
        return self._lift(other) @ self

    # ----- elementwise functions: the gradient is out.grad times the derivative -----

    def exp(self) -> Tensor:
        """e**x; its derivative is its own output."""
        out = type(self)(np.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Tensor:
        """Natural logarithm; derivative 1 / x."""
        out = type(self)(np.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Tensor:
        """Hyperbolic tangent; derivative 1 - tanh(x)**2, from the output."""
        out = type(self)(np.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self.grad += out.grad * (1 - out.data**2)

        out._backward = _backward
        return out

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x); derivative s * (1 - s), from the output s."""
        out = type(self)(1 / (1 + np.exp(-self.data)), (self,), "sigmoid")

        def _backward() -> None:
            self.grad += out.data * (1 - out.data) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Tensor:
        """max(x, 0); derivative 1 for x > 0 and 0 for x <= 0."""
        out = type(self)(np.maximum(self.data, 0), (self,), "relu")

        def _backward() -> None:
            # A mask rather than a product: an inf arriving at x <= 0 gives 0, not 0 * inf = nan.
            self.grad += np.where(self.data <= 0, 0, out.grad)

        out._backward = _backward
        return out

    # ----- reductions: each input element gets the gradient of the output it went into -----

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The sum over `axis` (all axes for None)."""
        out = type(self)(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward() -> None:  # every element went in once, with derivative 1
            # sum(axis=1) of a (3, 4) array has shape (3,): put the reduced axis back, as (3, 1),
            # so the gradient lines up with the input and broadcasts along that axis. (A 0-d or
            # keepdims gradient already does.)
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.data.shape)

        out._backward = _backward
        return out

    def mean(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The mean over `axis` (all axes for None)."""
        out = type(self)(self.data.mean(axis=axis, keepdims=keepdims), (self,), "mean")
        count = self.data.size if axis is None else self.data.shape[axis]

        def _backward() -> None:  # like sum, each element weighted 1 / count
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(g, self.data.shape) / count

        out._backward = _backward
        return out

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """The maximum over `axis`; its gradient goes to the first maximum only, as in torch."""
        out = type(self)(self.data.max(axis=axis, keepdims=keepdims), (self,), "max")

        def _backward() -> None:
            # Only the element that was picked influenced the output: it receives the whole
            # gradient and the others nothing. np.argmax picks the first of tied maxima.
            grad = np.zeros_like(self.data)
            if axis is None:
                grad.flat[np.argmax(self.data)] = out.grad.item()
            else:
                first = np.expand_dims(np.argmax(self.data, axis=axis), axis)
                g = out.grad if keepdims else np.expand_dims(out.grad, axis)
                np.put_along_axis(grad, first, g, axis=axis)
            self.grad += grad

        out._backward = _backward
        return out

    # ----- shape: values move, so gradients move back the inverse way -----

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """The same values in another shape: `reshape((2, 3))` or `reshape(2, 3)`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        out = type(self)(self.data.reshape(shape), (self,), "reshape")

        def _backward() -> None:
            self.grad += out.grad.reshape(self.data.shape)

        out._backward = _backward
        return out

    def transpose(self, axes: tuple[int, ...] | None = None) -> Tensor:
        """The axes permuted: output axis i is input axis axes[i]; None reverses them."""
        if axes is None:
            axes = tuple(reversed(range(self.data.ndim)))
        axes = tuple(ax % self.data.ndim for ax in axes)
        out = type(self)(self.data.transpose(axes), (self,), "transpose")

        def _backward() -> None:
            # Undo the permutation: input axis axes[i] is output axis i, i.e. argsort(axes).
            self.grad += out.grad.transpose(np.argsort(axes))

        out._backward = _backward
        return out

    @property
    def T(self) -> Tensor:
        """The axes reversed (the transpose of a matrix)."""
        return self.transpose()

    # ----- softmax family: along one axis, stabilised by subtracting the maximum -----

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along `axis`."""
        e = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        out = type(self)(e / e.sum(axis=axis, keepdims=True), (self,), "softmax")

        def _backward() -> None:
            # ds_i/dx_j = s_i (δij - s_j), so dx_j = s_j (g_j - Σ_i g_i s_i).
            s, g = out.data, out.grad
            self.grad += s * (g - (g * s).sum(axis=axis, keepdims=True))

        out._backward = _backward
        return out

    def log_softmax(self, axis: int = -1) -> Tensor:
        """log(softmax(x)) along `axis`, computed without overflow."""
        out = type(self)(_log_softmax(self.data, axis), (self,), "log_softmax")

        def _backward() -> None:
            # d(log s_i)/dx_j = δij - s_j, so dx_j = g_j - s_j Σ_i g_i.
            g = out.grad
            self.grad += g - np.exp(out.data) * g.sum(axis=axis, keepdims=True)

        out._backward = _backward
        return out

    def cross_entropy(self, labels: np.ndarray) -> Tensor:
        """Mean over the rows of -log_softmax(logits)[i, labels[i]]; self is (N, C) logits."""
        labels = np.asarray(labels)
        rows = np.arange(len(labels))
        logp = _log_softmax(self.data, axis=1)
        out = type(self)(-logp[rows, labels].mean(), (self,), "cross_entropy")

        def _backward() -> None:
            # Per row, d(-log s_y)/dx = softmax - onehot(y); the mean divides each row by N.
            d = np.exp(logp)
            d[rows, labels] -= 1
            self.grad += d * (out.grad / len(labels))

        out._backward = _backward
        return out

    # ----- backpropagation -----

    def backward(self) -> None:
        """Fill `.grad` of every tensor this one-element output depends on (adding to it)."""
        if self.data.size != 1:
            raise ValueError(f"backward() needs a one-element output, not shape {self.shape}")
        order = self._topological_order()
        self.grad = np.ones_like(self.data)  # d(out)/d(out) = 1
        for node in reversed(order):  # from the output back to the leaves
            node._backward()

    def _topological_order(self) -> list[Tensor]:
        """Every tensor this one depends on, each after its inputs; a loop, not recursion."""
        # Depth first with an explicit stack: a node is pushed once to expand its inputs and
        # once more, below them, to be placed in `order` when all of them have been placed.
        order: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev if id(p) not in seen)
        return order
