"""TwoLayerNet.loss adds the regulariser to the loss but not its gradient to dW1 and dW2."""

from refimpl.layers import *  # noqa: F403
from refimpl.layers import TwoLayerNet as _Right


class TwoLayerNet(_Right):
    def loss(self, X, y):
        loss, grads = super().loss(X, y)
        grads["W1"] = grads["W1"] - self.reg * self.params["W1"]
        grads["W2"] = grads["W2"] - self.reg * self.params["W2"]
        return loss, grads
