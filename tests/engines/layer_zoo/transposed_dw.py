"""affine_backward computes dw as dout.T @ x: w's transpose."""

from refimpl.layers import *  # noqa: F403


def affine_backward(dout, cache):
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = dout.T @ x.reshape(x.shape[0], -1)
    return dx, dw, dout.sum(axis=0)
