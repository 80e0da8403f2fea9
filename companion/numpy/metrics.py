"""Evaluation metrics written out in NumPy (chapter: Evaluating a model).

Each function computes one metric from its definition, so that a reader can
check what a library call does. ``tests/test_metrics.py`` compares every one
with scikit-learn (and the perplexity with both frameworks' cross-entropy).

Conventions: class labels are integers ``0 .. n_classes - 1``; in binary
tasks class 1 is the *positive* class; a confusion matrix has the true class
in rows and the predicted class in columns, as in scikit-learn.
"""
from __future__ import annotations

import numpy as np

from companion.checks import check_binary_labels, check_choice
from companion.numpy import losses
from companion.numpy.losses import log_softmax  # noqa: F401  (re-exported: one implementation)

AVERAGES = ("macro", "micro", "weighted")


def _labels(y, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array of labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"{what} must hold non-negative integer class labels, got dtype {y.dtype}")
    return y


def _pair(y_true, y_other, other: str):
    y_true = np.asarray(y_true)
    y_other = np.asarray(y_other)
    if y_true.shape != y_other.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and {other} must be non-empty 1-D arrays of the same length, "
                         f"got shapes {y_true.shape} and {y_other.shape}")
    return y_true, y_other


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``."""
    y_true, y_pred = _pair(_labels(y_true, "y_true"), _labels(y_pred, "y_pred"), "y_pred")
    k = int(max(y_true.max(), y_pred.max())) + 1 if n_classes is None else n_classes
    if k <= max(y_true.max(), y_pred.max()):
        raise ValueError(f"n_classes={n_classes} is too small for labels up to "
                         f"{max(y_true.max(), y_pred.max())}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)  # one count per (true, predicted) pair
    return cm


def most_confused(y_true, y_pred, top: int = 3) -> list:
    """The ``top`` off-diagonal cells of the confusion matrix as (true, predicted, count),
    largest count first (ties in class order); empty cells are left out.

    The pairs are ordered: "a 4 read as a 9" and "a 9 read as a 4" are two
    cells, two different mistakes.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    cm = confusion_matrix(y_true, y_pred)
    np.fill_diagonal(cm, 0)
    n = len(cm)
    cells = [divmod(int(i), n) for i in np.argsort(-cm, axis=None, kind="stable")[:top]]
    return [(a, b, int(cm[a, b])) for a, b in cells if cm[a, b] > 0]


def binary_report(y_true, y_pred) -> dict:
    """TP, FP, FN, TN and the rates built from them, for labels in {0, 1}.

    A rate whose denominator is zero (no predicted positives, say) is 0, as
    in scikit-learn with ``zero_division=0``.
    """
    check_binary_labels(y_true, "binary_report")
    check_binary_labels(y_pred, "binary_report")
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, n_classes=2)

    def ratio(a, b):
        return float(a / b) if b else 0.0

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,                      # = sensitivity = true positive rate
        "specificity": ratio(tn, tn + fp),     # = true negative rate = 1 - FPR
        "f1": ratio(2 * tp, 2 * tp + fp + fn),  # harmonic mean of precision and recall
    }


def precision_recall_f1(y_true, y_pred, average: str | None = "macro",
                        n_classes: int | None = None):
    """Multi-class precision, recall and F1 (one-versus-rest per class).

    ``average=None`` returns three arrays, one value per class. ``"macro"``
    averages the per-class values (every class counts the same); ``"weighted"``
    weights them by each class's number of true examples (its *support*);
    ``"micro"`` pools the counts of all classes first, which for single-label
    classification makes all three equal to the accuracy.
    """
    if average is not None:
        check_choice(average, AVERAGES, "average")
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp     # predicted as the class, but of another class
    fn = cm.sum(axis=1) - tp     # of the class, but predicted as another
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    if average in (None, "micro"):
        return (precision, recall, f1) if average is None else (float(precision), float(recall),
                                                                float(f1))
    support = cm.sum(axis=1)
    weights = support / support.sum() if average == "weighted" else np.full(len(cm), 1 / len(cm))
    return tuple(float(np.sum(weights * m)) for m in (precision, recall, f1))


def _ranked_counts(y_true, scores, what: str):
    """True positives and predictions at each distinct threshold, highest score first.

    Sorting by decreasing score and lowering the threshold past one distinct
    score at a time adds the examples with that score to the predicted
    positives (tied scores move together). Returns ``(tp, predicted, y)``.
    """
    y_true, scores = _pair(y_true, scores, "scores")
    check_binary_labels(y_true, what)
    if not np.isfinite(scores.astype(float)).all():
        raise ValueError(f"{what}: scores must be finite numbers; found NaN or infinity")
    if y_true.min() == y_true.max():
        raise ValueError(f"{what} needs both classes in y_true (the rates divide by their counts)")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order].astype(float), y_true[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return np.cumsum(y)[last_of_each_score], last_of_each_score + 1, y, s[last_of_each_score]


def roc_curve(y_true, scores):
    """False and true positive rates at every distinct threshold of ``scores``.

    Returns ``(fpr, tpr, thresholds)``; the first point is ``(0, 0)`` with
    threshold ``+inf`` (nothing predicted positive).
    """
    tp, predicted, y, thresholds = _ranked_counts(y_true, scores, "roc_curve")
    fp = predicted - tp
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (len(y) - y.sum())]
    return fpr, tpr, np.r_[np.inf, thresholds]


def average_precision(y_true, scores) -> float:
    """Area under the precision-recall curve as a step sum (the PR AUC):
    ``sum_n (R_n - R_{n-1}) P_n`` over the distinct scores taken as thresholds
    from the highest down, as scikit-learn's ``average_precision_score``."""
    tp, predicted, y, _ = _ranked_counts(y_true, scores, "average_precision")
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / predicted))


def auc(x, y) -> float:
    """Area under the curve through the points ``(x, y)`` by the trapezoid rule."""
    x, y = _pair(x, y, "y")
    if len(x) < 2 or (np.diff(x) < 0).any():
        raise ValueError("auc needs at least two points with x sorted in increasing order")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: the probability that a random positive scores
    above a random negative (ties count one half)."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return auc(fpr, tpr)


def regression_report(y_true, y_pred) -> dict:
    """MSE, RMSE, MAE and the coefficient of determination R^2.

    R^2 = 1 - SSE / SST compares the model with the constant prediction
    ``mean(y_true)``: it is 1 for a perfect fit, 0 for the constant, and
    negative for a model worse than the constant (it is not bounded below).
    """
    y_true, y_pred = _pair(np.asarray(y_true, dtype=float).ravel(),
                           np.asarray(y_pred, dtype=float).ravel(), "y_pred")
    err = y_pred - y_true
    mse = float(np.mean(err ** 2))
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    if sst == 0:
        raise ValueError("R^2 is undefined when y_true is constant")
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err ** 2)) / sst}


def cross_entropy(logits, labels) -> float:
    """Mean cross-entropy in nats of integer ``labels`` under softmax(``logits``).

    ``logits`` may have any leading shape, ``(..., n_classes)`` (one row per
    token of a sequence, say), with one label per row; the loss itself is
    ``companion.numpy.losses.cross_entropy``.
    """
    logits = np.asarray(logits, dtype=float)
    labels = _labels(np.asarray(labels).ravel(), "labels")
    if logits.ndim < 2 or logits.reshape(-1, logits.shape[-1]).shape[0] != len(labels):
        raise ValueError(f"expected logits of shape (n, n_classes) with one label per row, "
                         f"got logits {logits.shape} and {len(labels)} labels")
    if labels.max() >= logits.shape[-1]:
        raise ValueError(f"label {labels.max()} is out of range for {logits.shape[-1]} classes")
    return float(losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels))


def perplexity(logits, labels) -> float:
    """``exp`` of the mean cross-entropy in nats: the effective number of equally
    likely choices the model hesitates between (1 is perfect; a uniform guess
    over ``K`` classes gives ``K``)."""
    return float(np.exp(cross_entropy(logits, labels)))


def calibration_bins(y_true, prob, n_bins: int = 10):
    """Reliability-diagram data for binary probabilities.

    Splits ``[0, 1]`` into ``n_bins`` equal bins and returns, for every
    non-empty bin, the mean predicted probability, the observed fraction of
    positives and the count, plus the expected calibration error (ECE): the
    count-weighted mean gap between the two.
    """
    y_true, prob = _pair(y_true, prob, "prob")
    check_binary_labels(y_true, "calibration_bins")
    prob = prob.astype(float)
    if (prob < 0).any() or (prob > 1).any():
        raise ValueError("prob must hold probabilities in [0, 1]")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], prob)  # bin i holds (edge_i, edge_i+1]
    counts = np.bincount(which, minlength=n_bins)
    mean_prob = np.bincount(which, weights=prob, minlength=n_bins)
    frac_pos = np.bincount(which, weights=y_true, minlength=n_bins)
    keep = counts > 0
    mean_prob, frac_pos, counts = mean_prob[keep] / counts[keep], frac_pos[keep] / counts[keep], counts[keep]
    ece = float(np.sum(counts * np.abs(frac_pos - mean_prob)) / counts.sum())
    return mean_prob, frac_pos, counts, ece
