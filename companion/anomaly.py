"""Anomaly scores, their ranking metrics and alarm thresholds, in NumPy (Part IX).

An anomaly detector gives every row a *score*, higher meaning more unusual;
an *alarm* is raised when the score exceeds a threshold. This module holds
what the anomaly-detection study needs around the detectors themselves:

* (how well the scores rank the anomalies above the normal rows, at every
  threshold at once, is ``companion.numpy.metrics.roc_auc`` and
  ``average_precision``, called with the labels first as scikit-learn's are);
* ``threshold_for_false_alarm_rate``: the threshold that raises an alarm on
  at most a given share of normal rows (chosen on a validation split);
* ``alarm_report``: what a threshold gives on labelled rows (recall,
  precision, false-alarm rate, number of alarms);
* ``symlog`` and ``distance_from_mean``: a transform that tames heavy-tailed
  sensors, and the naive score, the distance from the training mean in
  standard units.

Labels are 0 (normal) and 1 (anomaly) throughout.
"""
from __future__ import annotations

import math

import numpy as np


def _scores(scores, what: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array of shape (batch,), "
                         f"got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{what} must be finite numbers; found NaN or infinity")
    return s


def _labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape (batch,) = ({n},) like the scores, "
                         f"got shape {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 (normal) or 1 (anomaly), got values "
                         f"{sorted(set(np.unique(y).tolist()))[:5]}")
    return y.astype(np.int64)


def threshold_for_false_alarm_rate(normal_scores, rate: float) -> float:
    """The lowest threshold among the normal scores whose false-alarm rate is at most ``rate``.

    An alarm is ``score > threshold``. With ``n`` normal scores at most
    ``m = floor(rate * n)`` of them may raise an alarm, so the threshold is
    the ``(m + 1)``-th largest normal score: any lower one of them would
    alarm on ``m + 1`` rows or more. ``rate=0`` gives the largest normal score.
    """
    s = _scores(normal_scores, "normal_scores")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
    allowed = int(math.floor(rate * len(s) + 1e-9))
    return float(np.sort(s)[::-1][allowed])


def alarm_report(scores, labels, threshold: float) -> dict:
    """Alarms ``score > threshold`` against the labels.

    Returns ``{"recall", "precision", "false alarm rate", "alarms"}``: the share
    of anomalies caught, the share of alarms that are anomalies (0 when there
    is no alarm), the share of normal rows that raise one, and their number.
    """
    s = _scores(scores)
    y = _labels(labels, len(s))
    if not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    alarm = s > threshold
    tp = int(np.sum(alarm & (y == 1)))
    fp = int(np.sum(alarm & (y == 0)))
    anomalies, normal = int(y.sum()), int(len(y) - y.sum())
    return {"recall": tp / anomalies if anomalies else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "false alarm rate": fp / normal if normal else 0.0,
            "alarms": tp + fp}


def symlog(x) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: linear near 0, logarithmic in the tails (float32 out)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.log1p(np.abs(x))).astype(np.float32)


def distance_from_mean(train, x) -> np.ndarray:
    """The naive score: Euclidean distance of each row of ``x`` from the mean of ``train``.

    Both are ``(batch, features)``; every feature is measured in standard
    units of ``train`` (a constant feature keeps unit scale).
    """
    train, x = np.asarray(train, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if train.ndim != 2 or x.ndim != 2 or train.shape[1] != x.shape[1] or len(train) < 2:
        raise ValueError("train and x must be (batch, features) arrays with the same number "
                         f"of features and at least 2 training rows, got {train.shape} "
                         f"and {x.shape}")
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return np.linalg.norm((x - mean) / std, axis=1)
