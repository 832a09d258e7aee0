"""Tensor engines of unusual shapes, for the adapter's tests: one with few ops, one whose ops
exist but raise, one spelling the reduction keywords as torch does (found by its signature, with
no table), and a function engine."""

from __future__ import annotations

import numpy as np

from refimpl.tensor import Tensor as _Reference
from refimpl.tensor import _unbroadcast


class Few:
    """Only +, * and a sum over everything: every other op is missing."""

    def __init__(self, data) -> None:
        self.data = np.array(data, dtype=float)
        self.grad = np.zeros_like(self.data)
        self._back = lambda: None
        self._prev: tuple = ()

    def __add__(self, other: Few) -> Few:
        out = Few(self.data + other.data)
        out._prev = (self, other)

        def back() -> None:
            self.grad += _unbroadcast(out.grad, self.data.shape)
            other.grad += _unbroadcast(out.grad, other.data.shape)

        out._back = back
        return out

    def __mul__(self, other: Few) -> Few:
        out = Few(self.data * other.data)
        out._prev = (self, other)

        def back() -> None:
            self.grad += _unbroadcast(out.grad * other.data, self.data.shape)
            other.grad += _unbroadcast(out.grad * self.data, other.data.shape)

        out._back = back
        return out

    def sum(self) -> Few:
        out = Few(self.data.sum())
        out._prev = (self,)

        def back() -> None:
            self.grad += np.broadcast_to(out.grad, self.data.shape)

        out._back = back
        return out

    def backward(self) -> None:
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            t, done = stack.pop()
            if done:
                order.append(t)
            elif id(t) not in seen:
                seen.add(id(t))
                stack.append((t, True))
                stack.extend((p, False) for p in t._prev)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._back()


class Breaks(_Reference):
    """refimpl's Tensor whose exp raises, and whose log fails inside with a TypeError (a bug in
    the op, not a missing op)."""

    def exp(self) -> Breaks:
        raise ValueError("exp is not finished")

    def log(self) -> Breaks:
        return type(self)(np.log(self.data) + None)  # type: ignore[operator]


class Dims(_Reference):
    """refimpl's Tensor with torch's keywords: sum(dim=, keepdim=); no table needed."""

    def sum(self, dim=None, keepdim=False):  # type: ignore[override]
        return super().sum(axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):  # type: ignore[override]
        return super().mean(axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim=False):  # type: ignore[override]
        return super().max(axis=dim, keepdims=keepdim)


def function_engine(spec: dict) -> dict:
    """A function engine: the graph as plain data in, the loss and gradients out (refimpl's
    Tensor doing the work)."""
    import refimpl.tensor
    from conformance.core.tensor_graph import TensorGraph
    from conformance.engines.tensor_class import TensorEngine

    graph = TensorGraph.from_dict({k: v for k, v in spec.items() if k != "arrays"})
    result = TensorEngine(refimpl.tensor, {}, "inner").run(graph)
    return {"value": result.out, "grads": {k: v for k, v in result.grads.items()}}


function_engine.ops = ["add", "mul", "sum", "matmul", "tanh", "exp"]


class LastTie(_Reference):
    """refimpl's Tensor whose max sends the gradient to the last of tied maxima."""

    def max(self, axis=None, keepdims=False):  # type: ignore[override]
        flipped = np.flip(self.data, axis=axis)
        out = type(self)(self.data.max(axis=axis, keepdims=keepdims), (self,), "max")

        def _backward() -> None:
            grad = np.zeros_like(self.data)
            if axis is None:
                flat = self.data.reshape(-1)
                grad.flat[flat.size - 1 - np.argmax(flat[::-1])] = out.grad.item()
            else:
                last = self.data.shape[axis] - 1 - np.argmax(flipped, axis=axis)
                g = out.grad if keepdims else np.expand_dims(out.grad, axis)
                np.put_along_axis(grad, np.expand_dims(last, axis), g, axis=axis)
            self.grad += grad

        out._backward = _backward
        return out


class NeedsGrad(_Reference):
    """refimpl's Tensor whose backward takes the loss's gradient, as some engines' do."""

    def backward(self, grad) -> None:  # type: ignore[override]
        assert np.all(np.asarray(grad) == 1)
        super().backward()


class Whole(_Reference):
    """A Tensor that casts its data to int: every number it is given is cut to a whole one."""

    def __init__(self, data, _prev=(), _op="") -> None:
        super().__init__(np.asarray(data).astype(int), _prev, _op)
