"""Loss functions in NumPy, written for reading and used as test oracles.

Chapter: "Loss functions" (``book/foundations/losses.md``).

Conventions, the same as PyTorch's and Keras's defaults:

* the first argument is the model's output (prediction, probability or
  logit), the second the target; Keras's loss objects take them the other
  way round, ``loss(y_true, y_pred)``;
* every function returns the mean over the examples (``reduction="mean"``);
  ``reduction="sum"`` or ``"none"`` (one value per example) on request;
* classification losses that take logits are computed in their stable form
  (log-sum-exp with the maximum subtracted, ``log1p(exp(-|z|))``), so no
  logit is too large.
"""
from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------

def _floats(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{what} must be an array of real numbers, got dtype {a.dtype}")
    return a.astype(float)


def _same_shape(pred, target, what: str):
    pred, target = _floats(pred, "prediction"), _floats(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"{what} expects prediction and target of the same shape, "
                         f"got {pred.shape} and {target.shape}")
    return pred, target


def _reduce(per_example: np.ndarray, reduction: str):
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {list(REDUCTIONS)}")
    if reduction == "mean":
        return float(per_example.mean())
    if reduction == "sum":
        return float(per_example.sum())
    return per_example


def _positive(value, what: str) -> float:
    if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _class_labels(labels, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"sparse labels must be integers (class indices), got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"class indices must lie in [0, {n_classes - 1}], "
                         f"got values from {labels.min()} to {labels.max()}")
    return labels


# --------------------------------------------------------------------------
# Regression: the loss as a function of the residual r = prediction - target
# --------------------------------------------------------------------------

def mse(pred, target, reduction: str = "mean"):
    """Mean squared error, ``mean((pred - target)^2)``."""
    pred, target = _same_shape(pred, target, "mse")
    return _reduce((pred - target) ** 2, reduction)


def mae(pred, target, reduction: str = "mean"):
    """Mean absolute error, ``mean(|pred - target|)``."""
    pred, target = _same_shape(pred, target, "mae")
    return _reduce(np.abs(pred - target), reduction)


def huber(pred, target, delta: float = 1.0, reduction: str = "mean"):
    """Huber loss: ``r^2 / 2`` for ``|r| <= delta``, ``delta (|r| - delta / 2)`` beyond.

    Quadratic near zero, linear in the tails, with matching value and slope at
    ``|r| = delta``. The same as ``torch.nn.HuberLoss(delta=delta)`` and
    ``keras.losses.Huber(delta=delta)``.
    """
    delta = _positive(delta, "delta")
    pred, target = _same_shape(pred, target, "huber")
    r = np.abs(pred - target)
    return _reduce(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)), reduction)


def smooth_l1(pred, target, beta: float = 1.0, reduction: str = "mean"):
    """PyTorch's ``SmoothL1Loss(beta)``: ``r^2 / (2 beta)`` for ``|r| < beta``, ``|r| - beta / 2`` beyond.

    It equals ``huber(pred, target, delta=beta) / beta``: the same shape with
    slope 1 in the tails (Huber's tails have slope ``delta``).
    """
    beta = _positive(beta, "beta")
    pred, target = _same_shape(pred, target, "smooth_l1")
    r = np.abs(pred - target)
    return _reduce(np.where(r < beta, 0.5 * r**2 / beta, r - 0.5 * beta), reduction)


# --------------------------------------------------------------------------
# Binary classification
# --------------------------------------------------------------------------

def _binary_targets(target, what: str) -> np.ndarray:
    target = _floats(target, "target")
    if target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError(f"{what} expects targets in [0, 1] (probabilities or labels {{0, 1}}), "
                         f"got values from {target.min()} to {target.max()}")
    return target


def binary_cross_entropy(prob, target, epsilon: float | None = None, reduction: str = "mean"):
    """``-[y log p + (1 - y) log(1 - p)]`` from probabilities ``p``.

    ``epsilon`` clips ``p`` to ``[epsilon, 1 - epsilon]`` first, as Keras does
    with ``epsilon = keras.config.epsilon() = 1e-7``; PyTorch's ``BCELoss``
    instead clamps each logarithm at -100. With ``epsilon=None`` a probability
    of exactly 0 or 1 on the wrong side gives ``inf``.
    """
    prob, target = _same_shape(prob, target, "binary_cross_entropy")
    target = _binary_targets(target, "binary_cross_entropy")
    if prob.size and (prob.min() < 0 or prob.max() > 1):
        raise ValueError("binary_cross_entropy expects probabilities in [0, 1]; "
                         "for raw scores use binary_cross_entropy_with_logits")
    if epsilon is not None:
        prob = np.clip(prob, epsilon, 1.0 - epsilon)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = -(np.where(target > 0, target * np.log(prob), 0.0)
                + np.where(target < 1, (1 - target) * np.log1p(-prob), 0.0))
    return _reduce(per, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean"):
    """Binary cross-entropy of ``sigmoid(logits)``, computed from the logits.

    ``max(z, 0) - z y + log(1 + exp(-|z|))`` equals
    ``-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]`` and never overflows.
    Its gradient with respect to ``z`` is ``sigmoid(z) - y``.
    """
    z, target = _same_shape(logits, target, "binary_cross_entropy_with_logits")
    target = _binary_targets(target, "binary_cross_entropy_with_logits")
    return _reduce(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z))), reduction)


# --------------------------------------------------------------------------
# Multi-class classification
# --------------------------------------------------------------------------

def _logits_2d(logits) -> np.ndarray:
    z = _floats(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"expected logits of shape (batch, classes), got shape {z.shape}")
    return z


def log_softmax(logits, axis: int = -1) -> np.ndarray:
    """``z - logsumexp(z)``, with the maximum subtracted first: finite for any finite logits."""
    z = _floats(logits, "logits")
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _targets_as_distribution(target, n_classes: int, batch: int) -> np.ndarray:
    """Integer labels (sparse) become one-hot rows; rows of probabilities are checked."""
    target = np.asarray(target)
    if target.ndim == 1:
        labels = _class_labels(target, n_classes)
        if len(labels) != batch:
            raise ValueError(f"expected {batch} labels, got {len(labels)}")
        return np.eye(n_classes)[labels]
    target = _floats(target, "target")
    if target.shape != (batch, n_classes):
        raise ValueError(f"expected integer labels of shape ({batch},) or one-hot / probability "
                         f"rows of shape ({batch}, {n_classes}), got shape {target.shape}")
    if target.min() < 0 or not np.allclose(target.sum(axis=1), 1.0):
        raise ValueError("each row of target must be a probability distribution (>= 0, sums to 1)")
    return target


def cross_entropy(logits, target, reduction: str = "mean"):
    """Softmax cross-entropy ``-sum_k y_k log softmax(z)_k`` from logits.

    ``target`` is either integer class labels of shape ``(batch,)`` (the
    *sparse* form: PyTorch's ``CrossEntropyLoss``, Keras's
    ``SparseCategoricalCrossentropy``) or one-hot / probability rows of shape
    ``(batch, classes)`` (Keras's ``CategoricalCrossentropy``; PyTorch's
    ``CrossEntropyLoss`` accepts them too).
    """
    z = _logits_2d(logits)
    y = _targets_as_distribution(target, z.shape[1], z.shape[0])
    return _reduce(-(y * log_softmax(z)).sum(axis=1), reduction)


def cross_entropy_grad(logits, target) -> np.ndarray:
    """The gradient of the *mean* softmax cross-entropy with respect to the logits.

    ``(softmax(z) - y) / batch``: predicted minus true distribution, row by row.
    """
    z = _logits_2d(logits)
    y = _targets_as_distribution(target, z.shape[1], z.shape[0])
    return (np.exp(log_softmax(z)) - y) / len(z)


def naive_cross_entropy(logits, target, reduction: str = "mean"):
    """``-log(softmax(z)[y])`` computed the naive way, with ``exp`` of the raw logits.

    Only for the chapter's demonstration of why this fails: ``exp`` overflows
    for logits above about 709 in float64 (88 in float32) and a probability
    that underflows to 0 gives ``log 0 = -inf``.
    """
    z = _logits_2d(logits)
    y = _targets_as_distribution(target, z.shape[1], z.shape[0])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        per = -(np.where(y > 0, y * np.log(p), 0.0)).sum(axis=1)
    return _reduce(per, reduction)


# --------------------------------------------------------------------------
# Margin losses
# --------------------------------------------------------------------------

def hinge(scores, target, margin: float = 1.0, reduction: str = "mean"):
    """The binary (SVM) hinge loss ``max(0, margin - y s)`` for labels ``y`` in {-1, +1}.

    ``s`` is a raw score (no sigmoid). Labels {0, 1} are refused here on
    purpose: Keras's ``Hinge`` converts them to {-1, +1} silently, but only
    when *every* label in the batch is 0 or 1.
    """
    margin = _positive(margin, "margin")
    s, y = _same_shape(scores, target, "hinge")
    if y.size and not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError(f"hinge expects labels in {{-1, +1}}, got values {np.unique(y).tolist()[:10]}; "
                         "map labels {0, 1} with 2 * y - 1")
    return _reduce(np.maximum(0.0, margin - y * s), reduction)


def multiclass_hinge(scores, labels, margin: float = 1.0, reduction: str = "mean"):
    """Crammer-Singer hinge: ``max(0, margin + max_{j != y} s_j - s_y)``.

    The largest wrong score must trail the right one by ``margin``. This is
    ``keras.losses.CategoricalHinge`` (one-hot targets, margin 1).
    """
    margin = _positive(margin, "margin")
    s = _logits_2d(scores)
    y = _class_labels(labels, s.shape[1])
    right = s[np.arange(len(s)), y]
    wrong = np.where(np.eye(s.shape[1], dtype=bool)[y], -np.inf, s).max(axis=1)
    return _reduce(np.maximum(0.0, margin + wrong - right), reduction)


def multi_margin(scores, labels, margin: float = 1.0, reduction: str = "mean"):
    """Weston-Watkins hinge as ``torch.nn.MultiMarginLoss``: ``sum_{j != y} max(0, margin - s_y + s_j) / C``.

    Every wrong class that comes within ``margin`` of the right one is
    penalized (not only the largest), and the sum is divided by the number of
    classes ``C``.
    """
    margin = _positive(margin, "margin")
    s = _logits_2d(scores)
    y = _class_labels(labels, s.shape[1])
    right = s[np.arange(len(s)), y][:, None]
    terms = np.maximum(0.0, margin - right + s)
    terms[np.arange(len(s)), y] = 0.0
    return _reduce(terms.sum(axis=1) / s.shape[1], reduction)


# --------------------------------------------------------------------------
# Distributions and embeddings
# --------------------------------------------------------------------------

def kl_divergence(p, q, reduction: str = "mean"):
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` for rows of probabilities.

    ``p`` is the target distribution, ``q`` the model's. Terms with
    ``p_k = 0`` contribute 0. The mean is over rows (examples), which is
    Keras's ``KLDivergence()(p, q)`` and PyTorch's
    ``KLDivLoss(reduction="batchmean")(log q, p)``.
    """
    p, q = _same_shape(p, q, "kl_divergence")
    if p.ndim != 2:
        raise ValueError(f"kl_divergence expects rows of probabilities (batch, classes), got shape {p.shape}")
    for name, a in (("p", p), ("q", q)):
        if a.min() < 0 or not np.allclose(a.sum(axis=1), 1.0):
            raise ValueError(f"each row of {name} must be a probability distribution (>= 0, sums to 1)")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return _reduce(terms.sum(axis=1), reduction)


def contrastive(first, second, similar, margin: float = 1.0, reduction: str = "mean"):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006) on pairs of embeddings.

    With ``d = ||first - second||`` (Euclidean, per row), a similar pair
    (``similar == 1``) costs ``d**2 / 2`` and a dissimilar one (``similar == 0``)
    ``max(0, margin - d)**2 / 2``: similar pairs are pulled together, dissimilar
    ones pushed at least ``margin`` apart. (The paper writes the label the other
    way round, 0 for similar.) Neither framework has it built in.
    """
    margin = _positive(margin, "margin")
    a, b = _same_shape(first, second, "contrastive")
    similar = np.asarray(similar)
    if similar.shape != a.shape[:-1] or not np.isin(similar, (0, 1)).all():
        raise ValueError(f"contrastive expects one label per pair, 1 (similar) or 0 "
                         f"(dissimilar), of shape {a.shape[:-1]}; got {similar.shape} "
                         f"with values {np.unique(similar)[:5]}")
    d = np.linalg.norm(a - b, axis=-1)
    per_pair = np.where(similar == 1, d**2, np.maximum(0.0, margin - d) ** 2) / 2
    return _reduce(per_pair, reduction)


def triplet(anchor, positive, negative, margin: float = 1.0, reduction: str = "mean"):
    """``max(0, ||a - p|| - ||a - n|| + margin)`` with Euclidean distances (FaceNet-style).

    The anchor must be closer to the positive than to the negative by at least
    ``margin``. PyTorch's ``TripletMarginLoss`` adds ``eps = 1e-6`` to the
    differences before taking the norm; Keras has no built-in triplet loss.
    """
    margin = _positive(margin, "margin")
    a, p = _same_shape(anchor, positive, "triplet")
    a, n = _same_shape(anchor, negative, "triplet")
    d_pos = np.linalg.norm(a - p, axis=-1)
    d_neg = np.linalg.norm(a - n, axis=-1)
    return _reduce(np.maximum(0.0, d_pos - d_neg + margin), reduction)
