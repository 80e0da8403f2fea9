"""Convolution, pooling and their arithmetic, from scratch in NumPy (part III).

Arrays follow PyTorch's NCHW layout: ``(batch, channels, height, width)`` for
images and ``(out_channels, in_channels, kernel_h, kernel_w)`` for kernels.
Like every deep-learning framework, ``conv2d`` computes a *cross-correlation*
(the kernel is not flipped); the chapters explain why the name stuck.
"""
from __future__ import annotations

import numpy as np


def _pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{what} must be an int or a pair, got {value!r}")
        pair = tuple(int(v) for v in value)
    else:
        pair = (int(value), int(value))
    return pair


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                dilation: int = 1) -> int:
    """Length of a convolution's or pooling's output along one axis.

    ``floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``;
    with ``dilation=1`` this is the familiar ``floor((n + 2p - k) / s) + 1``.
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride),
                        ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"the kernel (span {span}) is larger than the padded input ({size} + 2*{padding})")
    return (size + 2 * padding - span) // stride + 1


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
           padding=0) -> np.ndarray:
    """2-D convolution (cross-correlation) of NCHW ``x`` with OIHW kernels ``w``.

    ``out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * xpad[n, c, i*s + u, j*s + v]``,
    written as explicit loops over the output positions so it reads like the formula.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"conv2d expected x of shape (batch, channels, height, width), got {x.shape}")
    if w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(
            f"conv2d expected w of shape (out_channels, {x.shape[1]}, kh, kw), got {w.shape}")
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(wd, kw, sw, pw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (n, c, kh, kw)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def pool2d(x: np.ndarray, size: int = 2, stride: int | None = None, mode: str = "max") -> np.ndarray:
    """Max or average pooling of NCHW ``x`` over ``size x size`` windows (no padding)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"pool2d expected x of shape (batch, channels, height, width), got {x.shape}")
    if mode not in ("max", "avg"):
        raise ValueError(f"unknown pooling mode {mode!r}; expected one of ['avg', 'max']")
    stride = stride or size
    oh, ow = output_size(x.shape[2], size, stride), output_size(x.shape[3], size, stride)
    reduce = np.max if mode == "max" else np.mean
    out = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


def receptive_field(layers) -> list[int]:
    """Receptive-field size (in input pixels) after each layer of a stack.

    ``layers`` is a sequence of ``(kernel, stride)`` pairs (convolutions and
    poolings alike). The recursion is ``r_l = r_{l-1} + (k_l - 1) * j_{l-1}``,
    where the *jump* ``j_l = j_{l-1} * s_l`` is the distance in input pixels
    between neighbouring units of layer ``l`` (``r_0 = j_0 = 1``).
    """
    r, jump, sizes = 1, 1, []
    for kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(f"kernel and stride must be positive, got ({kernel}, {stride})")
        r += (kernel - 1) * jump
        jump *= stride
        sizes.append(r)
    return sizes


def conv_parameter_count(in_channels: int, out_channels: int, kernel: int,
                         bias: bool = True) -> int:
    """Weights of one convolution layer: ``out * in * k * k`` (+ ``out`` biases)."""
    return out_channels * in_channels * kernel * kernel + (out_channels if bias else 0)


def local_response_norm(x: np.ndarray, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 2.0) -> np.ndarray:
    """AlexNet's local response normalization across channels, NCHW (chapter: AlexNet).

    ``b[:, c] = a[:, c] / (k + alpha * sum_{c'} a[:, c']**2) ** beta``, the sum
    running over the ``size`` channels centred on ``c`` (cut at the first and
    last channel), exactly as Krizhevsky et al. (2012) write it. PyTorch's
    ``nn.LocalResponseNorm`` divides ``alpha`` by ``size``; pass it
    ``alpha * size`` to get this function.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"local_response_norm expected x of shape (batch, channels, height, "
                         f"width), got {x.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    channels = x.shape[1]
    out = np.empty_like(x)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)
        total = np.sum(x[:, lo:hi] ** 2, axis=1)
        out[:, c] = x[:, c] / (k + alpha * total) ** beta
    return out
