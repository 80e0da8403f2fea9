"""Procedural graph data sets (part VIII, chapter Graph neural networks), in the book's
graph format: one ``edge_index`` of shape (2, edges) per graph, both directions listed."""
from __future__ import annotations

import numpy as np


def cycle_unions(n_graphs: int, nodes: int = 12, seed: int = 0):
    """Graphs made of disjoint cycles (every node has degree 2), labelled 1 when one of
    the cycles is a triangle. Half the graphs of each class; node ids are shuffled.

    Returns ``(edge_indices, labels, triangles)`` where ``triangles[g]`` counts, for
    every node of graph ``g``, the triangles it belongs to (0 or 1).
    """
    if nodes < 6:
        raise ValueError(f"nodes must be at least 6 (two triangles), got {nodes}")
    rng = np.random.default_rng(seed)
    graphs, labels, triangles = [], [], []
    while len(graphs) < n_graphs:
        want = len(graphs) % 2                      # alternate the classes
        lengths, left = [], nodes
        while left:
            options = [k for k in range(3, left + 1) if left - k == 0 or left - k >= 3]
            k = int(rng.choice(options))
            lengths.append(k)
            left -= k
        if int(3 in lengths) != want:
            continue
        perm = rng.permutation(nodes)
        edges, tri, start = [], np.zeros(nodes), 0
        for k in lengths:
            ring = perm[start:start + k]
            edges += [(ring[i], ring[(i + 1) % k]) for i in range(k)]
            if k == 3:
                tri[ring] = 1
            start += k
        e = np.asarray(edges, dtype=np.int64).T
        graphs.append(np.concatenate([e, e[::-1]], axis=1))
        labels.append(want)
        triangles.append(tri)
    return graphs, np.array(labels), triangles


def disjoint_union(edge_indices):
    """One big graph from several: ``(edge_index, batch)`` where ``batch[i]`` is node i's graph."""
    offsets = np.cumsum([0] + [int(e.max()) + 1 for e in edge_indices[:-1]])
    sizes = [int(e.max()) + 1 for e in edge_indices]
    edge_index = np.concatenate([e + o for e, o in zip(edge_indices, offsets)], axis=1)
    batch = np.repeat(np.arange(len(edge_indices)), sizes)
    return edge_index, batch
