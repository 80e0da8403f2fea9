"""Pieces of the convolution-attention hybrids computed by hand (part VIII, chapter CoAtNet)."""
from __future__ import annotations

import numpy as np


def relative_position_index(size: int) -> np.ndarray:
    """``(size*size, size*size)`` index into a ``((2 size - 1)^2, heads)`` bias table.

    Tokens are the pixels of a ``size x size`` map in row-major order; the entry
    for tokens ``p`` and ``q`` depends only on their offset ``p - q``, which is
    what makes the bias translation-equivariant, like a convolution kernel.
    """
    coords = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij")).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :] + size - 1          # (2, N, N), in [0, 2s-2]
    return (rel[0] * (2 * size - 1) + rel[1]).astype(np.int64)


def relative_attention(tokens, Wqkv, bqkv, table, heads: int, size: int):
    """Single-example relative self-attention: ``softmax(Q K^T / sqrt(d) + B) V`` per head.

    ``tokens`` is ``(N, c)``; ``Wqkv`` is PyTorch's ``(3 out, c)`` weight. Returns
    ``(N, out)`` (before the output projection) and the attention ``(heads, N, N)``.
    """
    n = len(tokens)
    qkv = (tokens @ Wqkv.T + bqkv).reshape(n, 3, heads, -1).transpose(1, 2, 0, 3)
    q, k, v = qkv
    bias = table[relative_position_index(size)].transpose(2, 0, 1)
    logits = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1]) + bias
    logits -= logits.max(-1, keepdims=True)
    attn = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return (attn @ v).transpose(1, 0, 2).reshape(n, -1), attn
