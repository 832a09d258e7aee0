"""max_pool_backward_naive sends the gradient to every element equal to the window's maximum."""

import numpy as np

from refimpl.layers import *  # noqa: F403


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    _, _, h_out, w_out = dout.shape
    dx = np.zeros_like(x)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            top = window == window.max(axis=(2, 3), keepdims=True)
            g = dout[:, :, i, j][:, :, None, None]
            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += top * g
    return dx
