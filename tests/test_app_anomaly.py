"""Tests of companion.anomaly (Part IX, anomaly detection): scikit-learn references and errors."""
import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, confusion_matrix, precision_score,
                             recall_score, roc_auc_score)
from sklearn.preprocessing import StandardScaler

from companion import anomaly
from companion.numpy import metrics


def _ranking(seed, n=300, share=0.1, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(int)
    y[:2] = [0, 1]                                  # both classes present
    s = rng.normal(size=n) + 1.5 * y
    if ties:
        s = np.round(s, 1)                          # many tied scores
    return s, y


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_ranking_metrics_equal_scikit_learn(seed, ties):
    s, y = _ranking(seed, ties=ties)
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_ranking_metrics_at_their_extremes():
    y = np.array([0, 0, 0, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert metrics.roc_auc(y, perfect) == 1.0 and metrics.average_precision(y, perfect) == 1.0
    assert metrics.roc_auc(y, -perfect) == 0.0
    constant = np.zeros(5)                          # one tie: AUC 1/2, AP = share of anomalies
    assert metrics.roc_auc(y, constant) == 0.5
    assert metrics.average_precision(y, constant) == pytest.approx(0.4)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.1, 0.29, 0.5])
def test_threshold_is_the_lowest_normal_score_within_the_budget(rate):
    rng = np.random.default_rng(3)
    normal = rng.normal(size=100)
    tau = anomaly.threshold_for_false_alarm_rate(normal, rate)
    assert tau in normal
    assert np.mean(normal > tau) <= rate + 1e-12
    lower = normal[normal < tau]
    if lower.size:                                  # the next lower candidate breaks the budget
        assert np.mean(normal > lower.max()) > rate
    # rate * n is an integer for these rates: the budget is used exactly
    assert np.sum(normal > tau) == int(round(rate * 100))


def test_alarm_report_equals_scikit_learn():
    s, y = _ranking(7)
    tau = anomaly.threshold_for_false_alarm_rate(s[y == 0], 0.05)
    report = anomaly.alarm_report(s, y, tau)
    alarm = (s > tau).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, alarm).ravel()
    assert report["recall"] == pytest.approx(recall_score(y, alarm))
    assert report["precision"] == pytest.approx(precision_score(y, alarm))
    assert report["false alarm rate"] == pytest.approx(fp / (fp + tn))
    assert report["alarms"] == tp + fp
    assert report["false alarm rate"] <= 0.05


def test_alarm_report_without_alarms_or_anomalies():
    report = anomaly.alarm_report([0.1, 0.2], [0, 0], 1.0)
    assert report == {"recall": 0.0, "precision": 0.0, "false alarm rate": 0.0, "alarms": 0}


def test_symlog_and_distance_from_mean():
    x = np.array([-1000.0, -1.0, 0.0, 0.5, 1e4])
    out = anomaly.symlog(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.sign(x) * np.log1p(np.abs(x)), rtol=1e-6)
    rng = np.random.default_rng(0)
    train, x = rng.normal(3, 2, size=(50, 4)), rng.normal(size=(7, 4))
    want = np.linalg.norm(StandardScaler().fit(train).transform(x), axis=1)
    np.testing.assert_allclose(anomaly.distance_from_mean(train, x), want, rtol=1e-10)
    train[:, 1] = 5.0                               # a constant feature keeps unit scale
    assert np.all(np.isfinite(anomaly.distance_from_mean(train, x)))


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.roc_auc([0, 1], [[0.1, 0.2]]), "same length"),
    (lambda: metrics.roc_auc([0, 1], [0.1, np.nan]), "finite"),
    (lambda: metrics.roc_auc([0, 1], [0.1, 0.2, 0.3]), "same length"),
    (lambda: metrics.roc_auc([0, 2], [0.1, 0.2]), r"labels in \{0, 1\}"),
    (lambda: metrics.average_precision([1, 1], [0.1, 0.2]), "both classes"),
    (lambda: anomaly.threshold_for_false_alarm_rate([0.1, 0.2], 1.0), r"\[0, 1\)"),
    (lambda: anomaly.threshold_for_false_alarm_rate([], 0.1), "non-empty"),
    (lambda: anomaly.alarm_report([0.1, 0.2], [0, 1], float("nan")), "finite"),
    (lambda: anomaly.distance_from_mean(np.ones((5, 3)), np.ones((2, 4))), r"\(batch, features\)"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_autoencoder_learns_the_normal_shuttle_rows():
    """A small autoencoder's loss goes down on normal rows, and its error flags the anomalies."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("river")
    import companion
    import companion.torch as ct
    from companion import data

    torch.set_num_threads(1)
    x, y = data.shuttle(max_rows=2000, seed=1)
    normal = x[y == 0]
    train, held_out = normal[:1000], np.concatenate([normal[1000:], x[y == 1]])
    held_labels = np.r_[np.zeros(len(normal) - 1000, int), np.ones(int(y.sum()), int)]
    mean, std = train.mean(0), train.std(0)
    f_train = anomaly.symlog((train - mean) / std)
    f_held = anomaly.symlog((held_out - mean) / std)
    companion.set_seed(0)
    model = ct.Autoencoder(9, 3, hidden=(16,))
    history = ct.train(model, (f_train, f_train), epochs=15, lr=3e-3, batch_size=64,
                       loss="mse", progress=False)
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    scores = ((ct.predict(model, f_held) - f_held) ** 2).sum(1)
    assert metrics.roc_auc(held_labels, scores) > 0.95
