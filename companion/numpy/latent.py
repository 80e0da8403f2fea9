"""NumPy tools for the latent space of a generator (part VII: the VAE as a generator).

* ``lerp`` and ``slerp``: straight-line and spherical interpolation between codes;
* ``mutual_information``, ``entropy`` and ``mutual_information_gap`` (MIG, Chen et
  al., 2018): how well single code units track single factors of variation;
* ``factor_shapes``: small grey images whose factors (shape, size, horizontal and
  vertical position) are known, the data on which MIG can be measured.

Everything is float64 and framework-free; the tests check it against SciPy and
scikit-learn, and on constructed codes whose answer is known.
"""
from __future__ import annotations

import numpy as np

FACTOR_NAMES = ("shape", "size", "x position", "y position")
SHAPE_NAMES = ("circle", "square", "triangle", "cross")


# ---------------------------------------------------------------- interpolation

def _endpoints(z0, z1, t):
    z0, z1 = np.asarray(z0, dtype=np.float64), np.asarray(z1, dtype=np.float64)
    if z0.shape != z1.shape or z0.ndim != 1 or z0.size == 0:
        raise ValueError(f"expected two codes of the same shape (code_size,), got {z0.shape} "
                         f"and {z1.shape}")
    t = np.asarray(t, dtype=np.float64)
    if t.ndim > 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"expected interpolation weights t of shape (steps,), got {t.shape}")
    return z0, z1, np.atleast_1d(t)


def lerp(z0, z1, t) -> np.ndarray:
    """``(1 - t) z0 + t z1`` for every weight in ``t``: shape ``(steps, code_size)``."""
    z0, z1, t = _endpoints(z0, z1, t)
    return (1.0 - t)[:, None] * z0 + t[:, None] * z1


def slerp(z0, z1, t, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation between two codes: shape ``(steps, code_size)``.

    The direction moves along the great circle through ``z0`` and ``z1`` at
    constant angular speed, ``u(t) = (sin((1-t)W) u0 + sin(tW) u1) / sin W`` with
    ``u0, u1`` the unit vectors and ``W`` the angle between them, and the norm
    moves linearly from ``|z0|`` to ``|z1|``. For codes of equal norm this is
    the familiar ``sin((1-t)W)/sin W * z0 + sin(tW)/sin W * z1``; for unequal
    norms it stays bounded even for nearly opposite codes, where that formula
    blows up. Nearly parallel codes (``sin W < eps``) fall back to ``lerp``;
    exactly opposite codes have no unique great circle and are refused, as is
    a zero code.
    """
    z0, z1, t = _endpoints(z0, z1, t)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 == 0 or n1 == 0:
        raise ValueError("slerp needs two non-zero codes (the angle to a zero code is undefined)")
    u0, u1 = z0 / n0, z1 / n1
    cos = np.clip(np.dot(u0, u1), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < eps:
        if cos < 0:
            raise ValueError("slerp: the codes point in opposite directions; "
                             "no unique great circle joins them")
        return lerp(z0, z1, t)
    direction = (np.sin((1.0 - t) * omega)[:, None] * u0
                 + np.sin(t * omega)[:, None] * u1) / np.sin(omega)
    return ((1.0 - t) * n0 + t * n1)[:, None] * direction


# ---------------------------------------------------------------- information

def _labels(values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of discrete values, got shape {values.shape}")
    return np.unique(values, return_inverse=True)[1]


def entropy(values) -> float:
    """``H(v) = -sum p log p`` in nats of a discrete variable given by its samples."""
    counts = np.bincount(_labels(values, "entropy")).astype(np.float64)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mutual_information(a, b) -> float:
    """``I(a; b) = sum p(a, b) log(p(a, b) / (p(a) p(b)))`` in nats, from paired discrete samples."""
    a, b = _labels(a, "mutual_information"), _labels(b, "mutual_information")
    if len(a) != len(b):
        raise ValueError(f"mutual_information: {len(a)} and {len(b)} samples")
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])))


def discretize(codes, bins: int = 20) -> np.ndarray:
    """Each column of ``codes`` ``(examples, units)`` cut into ``bins`` equal-width bins (ints)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"expected codes of shape (examples, units), got {codes.shape}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mutual_information_matrix(codes, factors, bins: int = 20) -> np.ndarray:
    """``I(z_j; v_k)`` for every code unit ``j`` and factor ``k``: shape ``(units, factors)``.

    The codes are discretised into ``bins`` bins per unit; the factors must be
    discrete already (their distinct values are the classes).
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if factors.ndim != 2 or codes.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"expected codes (examples, units) and factors (examples, factors) with "
                         f"the same number of examples, got {codes.shape} and {factors.shape}")
    binned = discretize(codes, bins)
    return np.array([[mutual_information(binned[:, j], factors[:, k])
                      for k in range(factors.shape[1])] for j in range(codes.shape[1])])


def mutual_information_gap(codes, factors, bins: int = 20):
    """The mutual-information gap (MIG) of Chen et al. (2018), and the gap of each factor.

    For factor ``k``, the two code units with the largest ``I(z_j; v_k)`` are
    found; the gap is the difference of the two, divided by ``H(v_k)`` so that
    it lies in [0, 1]. MIG is the mean gap over factors: 1 when every factor is
    captured fully by one unit and by no other, 0 when the best two units know
    equally much. Returns ``(mig, gaps)``. Needs at least two code units.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"MIG needs codes of shape (examples, units) with at least 2 units, "
                         f"got {codes.shape}")
    info = mutual_information_matrix(codes, factors, bins)
    top = -np.sort(-info, axis=0)
    h = np.array([entropy(factors[:, k]) for k in range(factors.shape[1])])
    if np.any(h == 0):
        raise ValueError("MIG: a factor is constant (zero entropy); drop it")
    gaps = (top[0] - top[1]) / h
    return float(gaps.mean()), gaps


# ---------------------------------------------------------------- images with known factors

def factor_shapes(n: int | None = None, size: int = 16, scales: int = 3, positions: int = 6,
                  seed: int = 0):
    """Grey ``size x size`` images of one white shape on black, with the factors that made them.

    The four factors are independent and discrete: the shape (circle, square,
    triangle, cross, drawn as in ``companion.data.shapes``), its size
    (``scales`` half-sizes from 0.15 to 0.3 of the image) and its horizontal
    and vertical position (``positions`` values each, one pixel apart, the
    shape always fully inside). ``n=None`` returns the full grid of ``4 * scales * positions**2``
    combinations, otherwise ``n`` combinations drawn uniformly (with
    replacement). Returns ``(images (n, size*size) float32 in {0, 1},
    factors (n, 4) int64)``; the columns of ``factors`` are ``FACTOR_NAMES``.
    """
    for value, name in ((size, "size"), (scales, "scales"), (positions, "positions")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    grid = np.stack(np.meshgrid(np.arange(len(SHAPE_NAMES)), np.arange(scales),
                                np.arange(positions), np.arange(positions), indexing="ij"),
                    axis=-1).reshape(-1, 4)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer or None, got {n!r}")
        grid = grid[np.random.default_rng(seed).integers(0, len(grid), size=n)]
    radii = np.linspace(0.15, 0.3, scales) * size if scales > 1 else np.array([0.25 * size])
    centres = (size - positions) / 2 + 0.5 + np.arange(positions)    # one pixel apart
    if radii.max() > centres[0]:
        raise ValueError(f"{positions} positions leave no room for the largest shape in a "
                         f"{size}x{size} image; use at most {int(size - 2 * radii.max())} positions")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    images = np.empty((len(grid), size, size), dtype=np.float32)
    for i, (shape, scale, px, py) in enumerate(grid):
        r = radii[scale]
        dx, dy = xx - centres[px], yy - centres[py]
        if SHAPE_NAMES[shape] == "circle":
            mask = dx ** 2 + dy ** 2 <= r ** 2
        elif SHAPE_NAMES[shape] == "square":
            mask = (np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r)
        elif SHAPE_NAMES[shape] == "triangle":
            mask = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
        else:
            mask = (((np.abs(dx) <= r / 3) | (np.abs(dy) <= r / 3))
                    & (np.abs(dx) <= r) & (np.abs(dy) <= r))
        images[i] = mask
    return images.reshape(len(grid), -1), grid.astype(np.int64)
