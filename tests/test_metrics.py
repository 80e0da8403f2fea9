"""The NumPy evaluation metrics (companion.numpy.metrics) against scikit-learn,
and the perplexity against both frameworks' cross-entropy."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from companion.numpy import metrics as M


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=300)
    # a noisy classifier that is right about 60 % of the time, biased towards class 0
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.choice(4, size=300, p=[.5, .2, .2, .1]))
    return y_true, y_pred


@pytest.fixture
def binary_scores():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.3).astype(np.int64)
    scores = y * 1.0 + rng.normal(0, 1.0, size=400)
    scores = np.round(scores, 1)  # rounding creates tied scores, which the ROC must group
    return y, scores


def test_confusion_matrix_matches_sklearn(multiclass):
    y_true, y_pred = multiclass
    np.testing.assert_array_equal(M.confusion_matrix(y_true, y_pred),
                                  skm.confusion_matrix(y_true, y_pred))
    # n_classes adds rows and columns for classes that never occur
    cm = M.confusion_matrix([0, 1], [1, 1], n_classes=3)
    np.testing.assert_array_equal(cm, [[0, 1, 0], [0, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_precision_recall_f1_match_sklearn(multiclass, average):
    y_true, y_pred = multiclass
    ours = M.precision_recall_f1(y_true, y_pred, average=average)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=average,
                                                 zero_division=0)[:3]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_micro_average_equals_accuracy_and_macro_differs(multiclass):
    y_true, y_pred = multiclass
    p, r, f = M.precision_recall_f1(y_true, y_pred, average="micro")
    acc = np.mean(y_true == y_pred)
    assert p == pytest.approx(acc) and r == pytest.approx(acc) and f == pytest.approx(acc)
    assert M.precision_recall_f1(y_true, y_pred, average="macro")[2] != pytest.approx(acc)


def test_binary_report_matches_sklearn(binary_scores):
    y, scores = binary_scores
    pred = (scores > 0.5).astype(np.int64)
    rep = M.binary_report(y, pred)
    assert rep["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert rep["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert rep["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    # specificity is the recall of the negative class
    assert rep["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert rep["tp"] + rep["fp"] + rep["fn"] + rep["tn"] == len(y)


def test_binary_report_zero_division_is_zero():
    rep = M.binary_report([0, 1, 1], [0, 0, 0])  # nothing predicted positive
    assert rep["precision"] == 0.0 and rep["recall"] == 0.0 and rep["f1"] == 0.0
    assert rep["specificity"] == 1.0


def test_roc_curve_and_auc_match_sklearn(binary_scores):
    y, scores = binary_scores
    fpr, tpr, thr = M.roc_curve(y, scores)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert M.roc_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert M.auc(fpr, tpr) == pytest.approx(skm.auc(fpr, tpr))


def test_auc_is_the_probability_a_positive_outranks_a_negative(binary_scores):
    y, scores = binary_scores
    pos, neg = scores[y == 1], scores[y == 0]
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert M.roc_auc(y, scores) == pytest.approx(wins, abs=1e-12)


def test_roc_auc_extremes():
    y = np.array([0, 0, 1, 1])
    assert M.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert M.roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert M.roc_auc(y, np.zeros(4)) == 0.5  # a constant score ranks nothing


def test_regression_report_matches_sklearn_and_r2_can_be_negative():
    rng = np.random.default_rng(2)
    y = rng.normal(size=100)
    pred = y + rng.normal(0, 0.5, size=100)
    rep = M.regression_report(y, pred)
    assert rep["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert rep["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert rep["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert rep["r2"] == pytest.approx(skm.r2_score(y, pred))
    bad = M.regression_report(y, -y)  # worse than predicting the mean
    assert bad["r2"] < 0 and bad["r2"] == pytest.approx(skm.r2_score(y, -y))
    assert M.regression_report(y, np.full_like(y, y.mean()))["r2"] == pytest.approx(0.0)


def test_perplexity_against_sklearn_and_both_frameworks():
    import keras
    import torch

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, size=(50, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=50)
    ce = M.cross_entropy(logits, labels)
    probs = np.exp(M.log_softmax(logits))
    assert ce == pytest.approx(skm.log_loss(labels, probs, labels=range(7)), rel=1e-6)
    ce_torch = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    ce_keras = float(keras.ops.convert_to_numpy(keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)(labels, logits)))
    assert ce == pytest.approx(ce_torch, rel=1e-5)
    assert ce == pytest.approx(ce_keras, rel=1e-5)
    assert M.perplexity(logits, labels) == pytest.approx(np.exp(ce_torch), rel=1e-5)
    # a uniform model over K classes has perplexity K
    assert M.perplexity(np.zeros((10, 7)), labels[:10]) == pytest.approx(7.0)


def test_calibration_bins_match_sklearn(binary_scores):
    y, scores = binary_scores
    prob = 1 / (1 + np.exp(-scores))
    mean_prob, frac_pos, counts, ece = M.calibration_bins(y, prob, n_bins=8)
    sk_true, sk_pred = calibration_curve(y, prob, n_bins=8)
    np.testing.assert_allclose(mean_prob, sk_pred)
    np.testing.assert_allclose(frac_pos, sk_true)
    assert counts.sum() == len(y)
    assert ece == pytest.approx(np.sum(counts * np.abs(frac_pos - mean_prob)) / len(y))
    assert M.calibration_bins([0, 1], [0.0, 1.0], n_bins=4)[3] == 0.0  # perfectly calibrated


@pytest.mark.parametrize("call, message", [
    (lambda: M.confusion_matrix([0, 1], [0]), "same length"),
    (lambda: M.confusion_matrix([0.5, 1.0], [0, 1]), "integer class labels"),
    (lambda: M.confusion_matrix([0, 3], [0, 1], n_classes=2), "too small"),
    (lambda: M.precision_recall_f1([0, 1], [0, 1], average="mean"), "unknown average"),
    (lambda: M.binary_report([0, 2], [0, 1]), "labels in"),
    (lambda: M.roc_curve(np.array([1, 1]), np.array([0.2, 0.3])), "both classes"),
    (lambda: M.auc(np.array([1.0, 0.0]), np.array([0.0, 1.0])), "sorted"),
    (lambda: M.regression_report([1.0, 1.0], [0.0, 2.0]), "constant"),
    (lambda: M.cross_entropy(np.zeros((3, 2)), [0, 1]), "one label per row"),
    (lambda: M.cross_entropy(np.zeros((2, 2)), [0, 2]), "out of range"),
    (lambda: M.calibration_bins([0, 1], [0.2, 1.5]), r"\[0, 1\]"),
    (lambda: M.calibration_bins([0, 1], [0.2, 0.5], n_bins=0), "n_bins"),
])
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
