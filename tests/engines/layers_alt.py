"""Correct layer functions written another way: einsum, explicit loops, the staged batch-norm
backward of the course notes (through dvar and dmean), a softmax with log-sum-exp, and the
running variance kept as numpy's (biased) var, as many assignments do."""

import numpy as np


def affine_forward(x, w, b):
    xf = x.reshape(x.shape[0], -1)
    return np.einsum("nd,dm->nm", xf, w) + b[None, :], (x, w)


def affine_backward(dout, cache):
    x, w = cache
    xf = x.reshape(x.shape[0], -1)
    dx = np.einsum("nm,dm->nd", dout, w).reshape(x.shape)
    dw = np.zeros_like(w)
    for i in range(xf.shape[0]):  # one outer product a row, summed in row order
        dw += np.outer(xf[i], dout[i])
    db = np.zeros(dout.shape[1])
    for row in dout[::-1]:  # another summation order
        db += row
    return dx, dw, db


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, x):
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def leaky_relu_forward(x, param):
    a = param.get("alpha", 0.01)
    return np.maximum(x, 0) + a * np.minimum(x, 0), (x, a)


def leaky_relu_backward(dout, cache):
    x, a = cache
    return dout * ((x > 0) + a * (x <= 0))


def sigmoid_forward(x):
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1 + ex)
    return out, out


def sigmoid_backward(dout, s):
    return dout * (s - s * s)


def tanh_forward(x):
    t = np.tanh(x)
    return t, t


def tanh_backward(dout, t):
    return dout - dout * t**2


def softmax_loss(x, y):
    n = x.shape[0]
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    loss = float(np.sum(lse[:, 0] - x[np.arange(n), y])) / n
    p = np.exp(x - lse)
    onehot = np.eye(x.shape[1])[y]
    return loss, (p - onehot) / n


def svm_loss(x, y):
    n, c = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(n):  # the loop version of the notes
        for j in range(c):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / n, dx / n


def mse_loss(x, y):
    d = x - y
    return float(np.sum(d**2)) / d.size, d * (2.0 / d.size)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mu
    bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var
    return gamma * xhat + beta, (xc, std, xhat, gamma)


def batchnorm_backward(dout, cache):
    xc, std, xhat, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xc, axis=0) * -0.5 * std**-3
    dmean = -np.sum(dxhat / std, axis=0) + dvar * np.mean(-2 * xc, axis=0)
    dx = dxhat / std + dvar * 2 * xc / n + dmean / n
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    xhat = np.empty_like(x)
    istd = np.empty(x.shape[0])
    for i, row in enumerate(x):  # one row at a time
        c = row - row.sum() / row.size
        istd[i] = 1 / np.sqrt(np.dot(c, c) / row.size + eps)
        xhat[i] = c * istd[i]
    return xhat * gamma + beta, (xhat, istd, gamma)


def layernorm_backward(dout, cache):
    xhat, istd, gamma = cache
    d = xhat.shape[1]
    dxhat = dout * gamma
    dx = np.empty_like(dout)
    for i in range(dout.shape[0]):
        g, h = dxhat[i], xhat[i]
        dx[i] = (g - g.mean() - h * np.dot(g, h) / d) * istd[i]
    return dx, np.einsum("nd,nd->d", dout, xhat), dout.sum(axis=0)


def dropout_forward(x, param):
    p = param["p"]
    rng = np.random.default_rng(param.get("seed"))
    keep = rng.random(x.shape) < p
    return np.where(keep, x / p, 0.0), keep / p


def dropout_backward(dout, scale):
    return dout * scale


def conv_forward_naive(x, w, b, conv_param):
    s, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    f, _, hh, ww = w.shape
    n = x.shape[0]
    ho, wo = 1 + (xp.shape[2] - hh) // s, 1 + (xp.shape[3] - ww) // s
    out = np.zeros((n, f, ho, wo))
    for k in range(n):
        for g in range(f):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[k, :, i * s : i * s + hh, j * s : j * s + ww]
                    out[k, g, i, j] = np.sum(patch * w[g]) + b[g]
    return out, (x, w, conv_param)


def conv_backward_naive(dout, cache):
    x, w, conv_param = cache
    s, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    f, _, hh, ww = w.shape
    n, _, ho, wo = dout.shape
    for k in range(n):
        for g in range(f):
            for i in range(ho):
                for j in range(wo):
                    d = dout[k, g, i, j]
                    dw[g] += d * xp[k, :, i * s : i * s + hh, j * s : j * s + ww]
                    dxp[k, :, i * s : i * s + hh, j * s : j * s + ww] += d * w[g]
    h, wid = x.shape[2], x.shape[3]
    return dxp[:, :, pad : pad + h, pad : pad + wid], dw, np.einsum("nfij->f", dout)


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    ho, wo = 1 + (h - ph) // s, 1 + (w - pw) // s
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s : i * s + ph, j * s : j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for k in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    win = x[k, ch, i * s : i * s + ph, j * s : j * s + pw]
                    r, q = np.unravel_index(np.argmax(win), win.shape)
                    dx[k, ch, i * s + r, j * s + q] += dout[k, ch, i, j]
    return dx


class TwoLayerNet:
    """The network in one function: einsum, the softmax from log-sum-exp, the regulariser's
    gradient added first."""

    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {}

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        pre = np.einsum("nd,dh->nh", X, W1) + b1
        h = pre * (pre > 0)
        scores = np.einsum("nh,hc->nc", h, W2) + b2
        loss, dscores = softmax_loss(scores, y)
        loss += self.reg * 0.5 * (np.einsum("ij,ij->", W1, W1) + np.einsum("ij,ij->", W2, W2))
        grads = {"W2": self.reg * W2, "W1": self.reg * W1}
        grads["W2"] = grads["W2"] + np.einsum("nh,nc->hc", h, dscores)
        grads["b2"] = dscores.sum(axis=0)
        dh = np.einsum("nc,hc->nh", dscores, W2) * (pre > 0)
        grads["W1"] = grads["W1"] + np.einsum("nd,nh->dh", X, dh)
        grads["b1"] = np.einsum("nh->h", dh)
        return loss, grads
