"""softmax_loss returns functions, which cannot leave the engine's process."""

from refimpl.layers import *  # noqa: F403


def softmax_loss(x, y):
    return (lambda: 0.0), (lambda: 1.0)
