"""Layer functions in numpy, each forward beside its backward: the vectorised reference.

The convention is the one of most course assignments: `NAME_forward(inputs..., [param])`
returns `(out, cache)`, and `NAME_backward(dout, cache)` returns the gradient of each input, in
order. `dout` is d(loss)/d(out), the gradient that flows in from above; the backward pass turns it
into d(loss)/d(input) by the chain rule, one matrix or elementwise product at a time. Losses take
the scores and the labels and return `(loss, dx)` at once.

Two rules carry every backward pass here:
- a gradient has the shape of what it is the gradient of (`dw.shape == w.shape`);
- an input that was broadcast in the forward (a bias added to every row) gets the *sum* of the
  gradients of every place it went.

This module uses numpy; the scalar engine (`refimpl.engine`) needs only the standard library.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TwoLayerNet",
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward_naive",
    "conv_forward_naive",
    "dropout_backward",
    "dropout_forward",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool_backward_naive",
    "max_pool_forward_naive",
    "mse_loss",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
]


# --- affine: out = x @ w + b, x of any shape (N, d1, ..., dk) seen as N rows of D = d1···dk ------


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b, with w of shape (D, M) and b of shape (M,)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    """dx = dout @ w.T (in x's shape), dw = x.T @ dout, db = dout summed over the batch."""
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)  # b was added to every row: its gradient is the sum over the rows
    return dx, dw, db


# --- activations: elementwise, so dx = dout * f'(x) ----------------------------------------------


def relu_forward(x):
    """out = max(x, 0)."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0 (at x == 0 too, as torch does)."""
    x = cache
    return dout * (x > 0)


def leaky_relu_forward(x, lrelu_param):
    """out = x where x > 0, else alpha·x; `lrelu_param["alpha"]` (0.01 when absent)."""
    alpha = lrelu_param.get("alpha", 0.01)
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout, cache):
    """dx = dout where x > 0, else alpha·dout."""
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def sigmoid_forward(x):
    """out = 1 / (1 + exp(-x)), computed without overflow for large negative x."""
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout · s·(1 − s): the derivative is written with the output s itself."""
    s = cache
    return dout * s * (1 - s)


def tanh_forward(x):
    """out = tanh(x)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dx = dout · (1 − t²), with t the output."""
    t = cache
    return dout * (1 - t * t)


# --- losses: (scores, labels) -> (loss, dloss/dscores), averaged over the N rows ---------------


def softmax_loss(x, y):
    """Cross-entropy of softmax(x) against the integer labels y; dx = (softmax − onehot) / N."""
    n = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # exp never overflows; softmax is unchanged
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(n), y].mean()
    dx = np.exp(log_p)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def svm_loss(x, y):
    """Multiclass hinge loss: Σ_{j≠y} max(0, x_j − x_y + 1), averaged over the rows."""
    n = x.shape[0]
    correct = x[np.arange(n), y][:, None]
    margins = np.maximum(0, x - correct + 1)
    margins[np.arange(n), y] = 0
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)
    # Each positive margin pushes its class up and the correct class down by the same amount.
    positive[np.arange(n), y] = -positive.sum(axis=1)
    return loss, positive / n


def mse_loss(x, y):
    """Mean squared error over every element: mean((x − y)²); dx = 2(x − y) / x.size."""
    diff = x - y
    return (diff * diff).mean(), 2 * diff / x.size


# --- normalisation: statistics over the batch (batch norm) or over the features (layer norm) -----


def batchnorm_forward(x, gamma, beta, bn_param):
    """Training mode: normalise each feature over the batch, then scale and shift; keeps the
    running mean and variance in `bn_param` (momentum 0.9, the unbiased variance, as torch)."""
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    n, d = x.shape
    mean = x.mean(axis=0)
    var = x.var(axis=0)  # biased: the normalisation divides by N
    istd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * istd
    out = gamma * xhat + beta
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var * n / (n - 1)
    return out, (xhat, gamma, istd)


def batchnorm_backward(dout, cache):
    """dx in one line: xhat depends on x through the mean and the variance too, hence the two
    terms subtracted (without them dx is right only for a batch of one row)."""
    xhat, gamma, istd = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = istd / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Normalise each row over its features, then scale and shift per feature."""
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    istd = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * istd
    return gamma * xhat + beta, (xhat, gamma, istd)


def layernorm_backward(dout, cache):
    """Batch norm's backward with the roles of the axes swapped: the statistics are per row."""
    xhat, gamma, istd = cache
    d = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (
        istd
        / d
        * (
            d * dxhat
            - dxhat.sum(axis=1, keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)
        )
    )
    return dx, dgamma, dbeta


# --- dropout (inverted): keep each unit with probability p, and scale the kept ones by 1/p -------


def dropout_forward(x, dropout_param):
    """Training mode: out = x · mask / p, the mask drawn from `dropout_param["seed"]`."""
    p = dropout_param["p"]
    if dropout_param.get("mode", "train") != "train":
        return x, (None, dropout_param)
    rng = np.random.default_rng(dropout_param.get("seed"))
    mask = (rng.random(x.shape) < p) / p
    return x * mask, (mask, dropout_param)


def dropout_backward(dout, cache):
    """dx = dout · mask / p: the same mask and scale as the forward."""
    mask, _ = cache
    return dout if mask is None else dout * mask


# --- convolution and max pooling, as loops a person can follow ----------------------------------


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), filters w (F, C, HH, WW), b (F,); zero padding `pad`, step `stride`."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _, h, wid = x.shape
    f, _, hh, ww = w.shape
    h_out, w_out = 1 + (h + 2 * pad - hh) // stride, 1 + (wid + 2 * pad - ww) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, f, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * stride : i * stride + hh, j * stride : j * stride + ww]
            # every filter against this window, for every image at once
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, conv_param)


def conv_backward_naive(dout, cache):
    """Each output position sent its window and its filter the same upstream gradient: each
    receives the other one times it, summed over every position that used them."""
    x, w, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = slice(i * stride, i * stride + hh), slice(j * stride, j * stride + ww)
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
    dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_naive(x, pool_param):
    """The maximum of each `pool_height` × `pool_width` window, windows `stride` apart."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, wid = x.shape
    h_out, w_out = 1 + (h - ph) // stride, 1 + (wid - pw) // stride
    out = np.zeros((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Only the maximum of each window moved the output: it alone receives the gradient."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, _, _ = x.shape
    _, _, h_out, w_out = dout.shape
    dx = np.zeros_like(x)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            flat = window.reshape(n, c, -1)
            first = flat.argmax(axis=2)  # the first maximum of a tie, as torch picks one too
            r, s = np.unravel_index(first, (ph, pw))
            ni, ci = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
            dx[ni, ci, i * stride + r, j * stride + s] += dout[:, :, i, j]
    return dx


# --- a whole model: the layers above, chained, with the loss and every gradient at once ----------


class TwoLayerNet:
    """affine - relu - affine - softmax, with L2 regularisation 0.5 · reg · (ΣW1² + ΣW2²).

    `params` holds W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); `loss(X, y)` returns the loss and a
    dict of gradients with the same keys: the forward pass keeps each layer's cache, and the
    backward pass hands each layer the gradient of the layer after it.
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0, seed=0):  # fmt: skip
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.params = {
            "W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y):
        """(loss, grads) for a batch X of N rows and its integer labels y."""
        p = self.params
        hidden, cache1 = affine_forward(X, p["W1"], p["b1"])
        hidden, cache_relu = relu_forward(hidden)
        scores, cache2 = affine_forward(hidden, p["W2"], p["b2"])
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
        dhidden, dw2, db2 = affine_backward(dscores, cache2)
        dhidden = relu_backward(dhidden, cache_relu)
        _, dw1, db1 = affine_backward(dhidden, cache1)
        # The regulariser's gradient: d(0.5 · reg · ΣW²)/dW = reg · W.
        grads = {"W1": dw1 + self.reg * p["W1"], "b1": db1, "W2": dw2 + self.reg * p["W2"]}
        grads["b2"] = db2
        return loss, grads
