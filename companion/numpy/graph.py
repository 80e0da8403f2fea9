"""Graph neural networks by hand: message passing, GCN, GraphSAGE, GAT, 1-WL (part VIII).

The book's one graph format, in NumPy, PyTorch and Keras alike:

* node features ``x`` of shape ``(nodes, features)``, one row per node;
* an ``edge_index`` of shape ``(2, edges)`` with integer node ids, row 0 the
  *source* and row 1 the *target* of each directed edge (PyTorch Geometric's
  convention: a message flows from ``edge_index[0, e]`` to ``edge_index[1, e]``).
  An undirected graph lists each edge in both directions.

:func:`check_graph` raises a ``ValueError`` for node ids out of range and for
a feature matrix whose row count does not match the graph;
:func:`edge_index_from_adjacency` for an adjacency matrix that is not square.
"""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- the graph format

def check_graph(edge_index, num_nodes: int, model: str = "graph") -> np.ndarray:
    """Validate an ``edge_index`` for a graph of ``num_nodes`` nodes; return it as int64."""
    e = np.asarray(edge_index)
    if e.ndim != 2 or e.shape[0] != 2:
        raise ValueError(f"{model} expected edge_index of shape (2, edges), got {e.shape}")
    if e.size and not np.issubdtype(e.dtype, np.integer):
        raise ValueError(f"{model} expected integer node ids in edge_index, got dtype {e.dtype}")
    e = e.astype(np.int64)
    if e.size and (e.min() < 0 or e.max() >= num_nodes):
        raise ValueError(
            f"{model}: edge_index refers to node {int(e.max()) if e.max() >= num_nodes else int(e.min())}, "
            f"but the graph has {num_nodes} nodes (valid ids are 0 to {num_nodes - 1})"
        )
    return e


def check_node_features(shape, in_features: int, num_nodes: int | None, model: str) -> None:
    """Require ``x`` of shape ``(nodes, in_features)`` with one row per node of the graph."""
    shape = tuple(None if d is None else int(d) for d in shape)
    if len(shape) != 2 or shape[1] not in (None, in_features):
        raise ValueError(f"{model} expected input of shape (nodes, {in_features}), got {shape}")
    if num_nodes is not None and shape[0] is not None and shape[0] != num_nodes:
        raise ValueError(
            f"{model} expected input of shape (nodes, {in_features}) with one row per node: "
            f"the graph has {num_nodes} nodes, the feature matrix {shape[0]} rows"
        )


def edge_index_from_adjacency(adjacency) -> np.ndarray:
    """The ``edge_index`` of a (dense) adjacency matrix: one edge per non-zero entry ``A[i, j]``, i -> j."""
    a = np.asarray(adjacency)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"an adjacency matrix must be square (nodes, nodes), got shape {a.shape}")
    src, dst = np.nonzero(a)
    return np.stack([src, dst]).astype(np.int64)


def adjacency(edge_index, num_nodes: int) -> np.ndarray:
    """Dense adjacency ``A[target, source]`` counting edges (so ``A @ x`` sums incoming messages)."""
    e = check_graph(edge_index, num_nodes)
    a = np.zeros((num_nodes, num_nodes))
    np.add.at(a, (e[1], e[0]), 1.0)
    return a


def undirected(edges) -> np.ndarray:
    """``edge_index`` with both directions of every pair in ``edges`` (a list of (u, v))."""
    e = np.asarray(list(edges), dtype=np.int64).reshape(-1, 2)
    return np.concatenate([e.T, e.T[::-1]], axis=1)


def add_self_loops(edge_index, num_nodes: int) -> np.ndarray:
    e = check_graph(edge_index, num_nodes)
    loops = np.arange(num_nodes, dtype=np.int64)
    return np.concatenate([e, np.stack([loops, loops])], axis=1)


# ---------------------------------------------------------------- message passing

def message_passing(x, edge_index, message=None, aggregate: str = "sum"):
    """One round of message passing: each node collects ``message(x_source, x_target)``
    over its incoming edges and aggregates them (``"sum"``, ``"mean"`` or ``"max"``).

    The default message is the source's features. Nodes without incoming edges get zeros.
    """
    x = np.asarray(x, dtype=float)
    e = check_graph(edge_index, len(x))
    src, dst = e
    msgs = x[src] if message is None else np.asarray(message(x[src], x[dst]), dtype=float)
    out = np.zeros((len(x),) + msgs.shape[1:])
    if aggregate == "sum" or aggregate == "mean":
        np.add.at(out, dst, msgs)
        if aggregate == "mean":
            count = np.bincount(dst, minlength=len(x)).astype(float)
            out /= np.maximum(count, 1.0).reshape((-1,) + (1,) * (out.ndim - 1))
    elif aggregate == "max":
        out[:] = -np.inf
        np.maximum.at(out, dst, msgs)
        out[np.isinf(out)] = 0.0
    else:
        raise ValueError(f"unknown aggregate {aggregate!r}; expected one of ['max', 'mean', 'sum']")
    return out


def gcn_norm_adjacency(edge_index, num_nodes: int) -> np.ndarray:
    """Kipf and Welling's propagation matrix ``D^-1/2 (A + I) D^-1/2`` (dense, rows = targets)."""
    a = adjacency(edge_index, num_nodes) + np.eye(num_nodes)
    d = a.sum(axis=1)
    inv_sqrt = 1.0 / np.sqrt(d)
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


def gcn_edge_weights(edge_index, num_nodes: int):
    """The same normalisation edge by edge: ``(edge_index with self-loops, weights)`` where
    an edge j -> i has weight ``1 / sqrt(deg(i) deg(j))`` and degrees count the self-loop."""
    e = add_self_loops(edge_index, num_nodes)
    deg = np.bincount(e[1], minlength=num_nodes).astype(float)
    w = 1.0 / np.sqrt(deg[e[0]] * deg[e[1]])
    return e, w


def gcn_layer(x, edge_index, W, b=None):
    """A GCN layer: ``D^-1/2 (A+I) D^-1/2 X W^T + b`` (``W`` in PyTorch's (out, in) layout)."""
    x = np.asarray(x, dtype=float)
    out = gcn_norm_adjacency(edge_index, len(x)) @ x @ np.asarray(W).T
    return out if b is None else out + b


def sage_layer(x, edge_index, W_neigh, b_neigh, W_self):
    """GraphSAGE with the mean aggregator: ``W_neigh mean_{j in N(i)} x_j + b + W_self x_i``."""
    x = np.asarray(x, dtype=float)
    return message_passing(x, edge_index, aggregate="mean") @ np.asarray(W_neigh).T + b_neigh \
        + x @ np.asarray(W_self).T


def gat_attention(x, edge_index, W, att_src, att_dst, negative_slope: float = 0.2):
    """GAT's attention coefficients: ``(edge_index with self-loops, alpha of shape (edges, heads))``.

    ``e_ij = LeakyReLU(a_src . W x_j + a_dst . W x_i)``, normalised by a softmax
    over the incoming edges of each target ``i``.
    """
    x = np.asarray(x, dtype=float)
    heads, out = np.asarray(att_src).shape
    h = (x @ np.asarray(W).T).reshape(len(x), heads, out)
    e = add_self_loops(edge_index, len(x))
    src, dst = e
    score = (h[src] * att_src).sum(-1) + (h[dst] * att_dst).sum(-1)
    score = np.where(score > 0, score, negative_slope * score)
    alpha = np.zeros_like(score)
    for i in range(len(x)):
        mask = dst == i
        s = score[mask] - score[mask].max(axis=0)
        alpha[mask] = np.exp(s) / np.exp(s).sum(axis=0)
    return e, alpha


def gat_layer(x, edge_index, W, att_src, att_dst, bias=None, concat: bool = True):
    """A GAT layer: attention-weighted sum of ``W x_j`` per head, heads concatenated (or averaged)."""
    x = np.asarray(x, dtype=float)
    heads, out = np.asarray(att_src).shape
    h = (x @ np.asarray(W).T).reshape(len(x), heads, out)
    (src, dst), alpha = gat_attention(x, edge_index, W, att_src, att_dst)
    res = np.zeros((len(x), heads, out))
    np.add.at(res, dst, alpha[..., None] * h[src])
    res = res.reshape(len(x), heads * out) if concat else res.mean(axis=1)
    return res if bias is None else res + bias


# ---------------------------------------------------------------- diagnostics

def dirichlet_energy(x, edge_index) -> float:
    """``(1/2) sum over edges (i, j) of ||x_i - x_j||^2`` divided by the number of nodes:
    zero when every connected node carries the same features (over-smoothing)."""
    x = np.asarray(x, dtype=float)
    src, dst = check_graph(edge_index, len(x))
    return float(0.5 * ((x[src] - x[dst]) ** 2).sum() / len(x))


def mean_pairwise_distance(x) -> float:
    """Mean Euclidean distance between all pairs of rows of ``x`` (the embeddings' spread)."""
    x = np.asarray(x, dtype=float)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def wl_colors(edge_index, num_nodes: int, iterations: int = 3) -> list[tuple]:
    """The 1-Weisfeiler-Leman colour refinement: the sorted colour histogram after each round.

    Every node starts with the same colour; each round a node's new colour is
    its old colour together with the multiset of its neighbours' colours. Two
    graphs with different histograms are certainly not isomorphic; equal
    histograms prove nothing.
    """
    src, dst = check_graph(edge_index, num_nodes)
    colors = [0] * num_nodes
    history = []
    for _ in range(iterations):
        signatures = [(colors[i], tuple(sorted(colors[s] for s, d in zip(src, dst) if d == i)))
                      for i in range(num_nodes)]
        colors = [hash(sig) for sig in signatures]
        history.append(tuple(sorted(signatures)))
    return history
