"""relu_backward lets the gradient through where x >= 0: relu'(0) = 1, a convention."""

from refimpl.layers import *  # noqa: F403


def relu_backward(dout, cache):
    return dout * (cache >= 0)
