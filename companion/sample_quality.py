"""Sample quality for Part VII (generative models): NumPy, SciPy and scikit-learn only.

One yardstick for every generator of the book, so that the VAE, GAN and diffusion
chapters report comparable numbers:

* ``digits_classifier()`` - a small MLP trained once per process on the digits
  training split; its penultimate layer is the feature space of the measures below;
* ``frechet_distance(features_a, features_b)`` and ``frechet_distance_gaussians`` - the
  Frechet (2-Wasserstein) distance between Gaussians fitted to two feature sets;
* ``digits_fd(x_a, x_b)`` - that distance in the classifier's feature space, the
  *Frechet digits distance* (FDD) of the book. It is built like the FID of Heusel et
  al. (2017) but it is NOT the FID of the papers, which uses Inception-v3 features of
  ImageNet-sized images; FDD values are only comparable with other FDD values;
* ``precision_recall(real_features, fake_features, k=3)`` - the k-nearest-neighbour
  precision and recall of Kynkaanniemi et al. (2019): precision is the share of
  generated samples that fall on the real data's manifold ("looks real"), recall the
  share of real samples that fall on the generated manifold ("covers the data").

Digits are scikit-learn's 8x8 digits scaled to [0, 1], as ``companion.data.digits()``
returns them. Two helpers, ``blur_digits`` and ``drop_classes``, make the degraded sets
that the generative overview uses to show what each measure sees.
"""
# API READY
from __future__ import annotations

import functools

import numpy as np

__all__ = ["DigitsClassifier", "digits_classifier", "frechet_distance",
           "frechet_distance_gaussians", "digits_fd", "precision_recall",
           "blur_digits", "drop_classes"]

_SHAPES = "(N, 64), (N, 8, 8), (N, 1, 8, 8) or (N, 8, 8, 1)"
_RANGE_TOL = 1e-4   # generators in float32 may overshoot [0, 1] by rounding; not by more


def _as_digit_vectors(x, what: str = "digits") -> np.ndarray:
    """Return ``x`` as float64 vectors ``(N, 64)`` after checking shape, dtype and range."""
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating)
                                 or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{what}: expected a numeric array of shape {_SHAPES}, "
                         f"got dtype {x.dtype}")
    shape = x.shape
    if x.ndim == 2 and shape[1] == 64:
        flat = x
    elif x.ndim == 3 and shape[1:] == (8, 8):
        flat = x.reshape(len(x), 64)
    elif x.ndim == 4 and shape[1:] in ((1, 8, 8), (8, 8, 1)):
        flat = x.reshape(len(x), 64)
    else:
        raise ValueError(f"{what}: expected 8x8 digits of shape {_SHAPES} "
                         f"(batch first), got {shape}")
    if len(flat) == 0:
        raise ValueError(f"{what}: expected at least one image of shape {_SHAPES}, got {shape}")
    flat = flat.astype(np.float64)
    if not np.isfinite(flat).all():
        raise ValueError(f"{what}: expected finite pixel values in [0, 1], got NaN or inf")
    lo, hi = float(flat.min()), float(flat.max())
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        raise ValueError(f"{what}: expected pixel values in [0, 1] (pixels / 16; clip "
                         f"generated images first), got values in [{lo:.3g}, {hi:.3g}]")
    return np.clip(flat, 0.0, 1.0)


class DigitsClassifier:
    """A scikit-learn MLP (64 -> 64 -> 32 -> 10, ReLU) for 8x8 digits.

    Trained on ``companion.data.digits(seed=0)``'s training split (1,077 images).
    Its test accuracy is about 0.96 (0.961 measured with scikit-learn 1.x, seed 0),
    stored in ``test_accuracy``. ``features`` returns the 32 ReLU activations of the
    last hidden layer: the feature space of ``digits_fd`` and ``precision_recall``.
    """

    def __init__(self, seed: int = 0):
        from sklearn.neural_network import MLPClassifier

        from companion.data import digits

        data = digits(seed=0)   # the book's fixed split; ``seed`` only seeds the weights
        self.seed = seed
        self.mlp = MLPClassifier(hidden_layer_sizes=(64, 32), alpha=1e-3, max_iter=400,
                                 random_state=seed)
        from threadpoolctl import threadpool_limits

        # Small matrices: one BLAS thread is fastest, and several fight over a busy CPU
        # (measured: 2 s with one thread, 17 to 38 s with two on a loaded 2-core machine).
        with threadpool_limits(1):
            self.mlp.fit(data.x_train, data.y_train)
        self.test_accuracy = float(self.mlp.score(data.x_test, data.y_test))
        self.feature_dim = int(self.mlp.coefs_[-2].shape[1])

    def features(self, x) -> np.ndarray:
        """Penultimate-layer activations ``(N, 32)`` of digits ``x`` (values in [0, 1])."""
        h = _as_digit_vectors(x)
        for w, b in zip(self.mlp.coefs_[:-1], self.mlp.intercepts_[:-1]):
            h = np.maximum(h @ w + b, 0.0)
        return h

    def predict(self, x) -> np.ndarray:
        """Digit labels ``(N,)`` (int64) of digits ``x``."""
        return self.mlp.predict(_as_digit_vectors(x)).astype(np.int64)

    def __repr__(self) -> str:
        return (f"DigitsClassifier(seed={self.seed}, features={self.feature_dim}, "
                f"test_accuracy={self.test_accuracy:.3f})")


@functools.lru_cache(maxsize=None)
def digits_classifier(seed: int = 0) -> DigitsClassifier:
    """The fitted ``DigitsClassifier`` for ``seed``, trained once per process (cached).

    Test accuracy about 0.96 on the digits test split (360 images).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return DigitsClassifier(int(seed))


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2.0)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _check_mean_cov(mu, cov, what: str):
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    d = mu.shape[0]
    if mu.ndim != 1 or cov.shape != (d, d):
        raise ValueError(f"{what}: expected a mean of shape (d,) and a covariance of shape "
                         f"(d, d), got {mu.shape} and {cov.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise ValueError(f"{what}: expected finite mean and covariance")
    if not np.allclose(cov, cov.T, atol=1e-8 * max(1.0, float(np.abs(cov).max()))):
        raise ValueError(f"{what}: the covariance must be symmetric")
    return mu, cov


def frechet_distance_gaussians(mu1, cov1, mu2, cov2) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2).

    ``||mu1 - mu2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``. The trace of the matrix
    square root is computed as ``Tr((A^(1/2) cov2 A^(1/2))^(1/2))`` with ``A = cov1``, which
    has the same eigenvalues, is symmetric, and stays real for singular covariances.
    """
    mu1, cov1 = _check_mean_cov(mu1, cov1, "first Gaussian")
    mu2, cov2 = _check_mean_cov(mu2, cov2, "second Gaussian")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians must have the same dimension, got "
                         f"{mu1.shape[0]} and {mu2.shape[0]}")
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    dist = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)
    return max(dist, 0.0)   # rounding can give -1e-15 for identical Gaussians


def _check_features(f, what: str) -> np.ndarray:
    f = np.asarray(f)
    if f.ndim != 2 or not (np.issubdtype(f.dtype, np.floating)
                           or np.issubdtype(f.dtype, np.integer)):
        raise ValueError(f"{what}: expected numeric features of shape (N, F), got "
                         f"shape {f.shape} and dtype {f.dtype}")
    if len(f) < 2:
        raise ValueError(f"{what}: expected at least 2 samples of shape (N, F), got {f.shape}")
    f = f.astype(np.float64)
    if not np.isfinite(f).all():
        raise ValueError(f"{what}: features contain NaN or inf")
    return f


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``.

    Means and (unbiased) covariances are estimated from the samples, so the value of two
    finite samples of one distribution is above zero and falls as N grows: compare
    values computed from sets of the same size only.
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same width F in (N, F), "
                         f"got {a.shape} and {b.shape}")
    return frechet_distance_gaussians(a.mean(0), np.cov(a, rowvar=False),
                                      b.mean(0), np.cov(b, rowvar=False))


def digits_fd(x_a, x_b, seed: int = 0) -> float:
    """Frechet digits distance (FDD) between two sets of 8x8 digits with values in [0, 1].

    The Frechet distance of the ``digits_classifier(seed)`` features. Not the FID of the
    papers (Inception-v3 features of ImageNet-sized images). For reference, with the
    digits split of ``companion.data.digits()``: real test (360) vs real train (1,077)
    about 0.7; the value depends on the sample sizes.
    """
    clf = digits_classifier(seed)
    fa = clf.features(_as_digit_vectors(x_a, "x_a"))
    fb = clf.features(_as_digit_vectors(x_b, "x_b"))
    return frechet_distance(fa, fb)


def _kth_neighbour_radii(f: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``f`` to its k-th nearest other row."""
    from scipy.spatial.distance import cdist

    d = cdist(f, f)
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def _coverage_share(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``points`` inside at least one ball (centre, radius)."""
    from scipy.spatial.distance import cdist

    inside = np.zeros(len(points), dtype=bool)
    for start in range(0, len(points), 1024):   # bounded memory for large sets
        d = cdist(points[start:start + 1024], centres)
        inside[start:start + 1024] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real_features, fake_features, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019) from k-NN manifolds.

    Each sample set approximates its manifold by balls around its points, of radius the
    distance to the k-th nearest neighbour in the same set. Precision: the share of fake
    samples inside the real manifold. Recall: the share of real samples inside the fake
    manifold. Both lie in [0, 1]. A generator that drops modes keeps its precision and
    loses recall; one that makes implausible samples loses precision.
    """
    real = _check_features(real_features, "real_features")
    fake = _check_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features must have the same width F in (N, F), "
                         f"got {real.shape} and {fake.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= min(len(real), len(fake)):
        raise ValueError(f"k must be below the number of samples in each set, got k={k} "
                         f"with {len(real)} real and {len(fake)} fake samples")
    precision = _coverage_share(fake, real, _kth_neighbour_radii(real, k))
    recall = _coverage_share(real, fake, _kth_neighbour_radii(fake, k))
    return precision, recall


def blur_digits(x, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur of each 8x8 digit (std ``sigma`` pixels); returns ``(N, 64)`` float32."""
    from scipy.ndimage import gaussian_filter

    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
        raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
    img = _as_digit_vectors(x).reshape(-1, 8, 8)
    out = gaussian_filter(img, sigma=(0, sigma, sigma), mode="constant")
    return out.reshape(len(img), 64).astype(np.float32)


def drop_classes(x, y, keep, n=None, seed: int = 0) -> np.ndarray:
    """A mode-dropped set: digits of the classes in ``keep`` only, resampled to ``n`` images.

    ``n`` defaults to ``len(x)``, so the set has as many images as the full one but
    covers fewer modes (what a collapsed GAN produces). Images are drawn without
    repetition while the kept classes have enough. Returns ``(n, 64)`` float32.
    """
    x = _as_digit_vectors(x)
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one label per image, shape ({len(x)},), got {y.shape}")
    pool = np.flatnonzero(np.isin(y, list(keep)))
    if len(pool) == 0:
        raise ValueError(f"no image has a label in keep={list(keep)}")
    n = len(x) if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    # Distinct images while the pool lasts; repeats only when n exceeds it (repeats shrink
    # the k-NN radii of the set, so keep n <= the pool for precision and recall).
    pick = np.concatenate([rng.permutation(pool) for _ in range(-(-n // len(pool)))])[:n]
    return x[pick].astype(np.float32)
