"""softmax_loss without the row's max subtracted: exp overflows on large scores."""

import numpy as np

from refimpl.layers import *  # noqa: F403


def softmax_loss(x, y):
    n = x.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n
