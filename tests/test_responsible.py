"""companion.responsible: fairness gaps, membership inference, DP-GD and energy, against references."""
import math

import numpy as np
import pytest
import torch
from scipy import optimize
from sklearn.metrics import roc_auc_score

from companion import responsible as R


# ------------------------------------------------------------------ fairness

def test_fill_templates_puts_every_term_in_every_template():
    sentences, t_idx, w_idx = R.fill_templates(["{} flies", "I met {}"], ["my wife", "my son"])
    assert sentences == ["my wife flies", "I met my wife", "my son flies", "I met my son"]
    assert t_idx.tolist() == [0, 1, 0, 1] and w_idx.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("templates, terms", [(["no slot"], ["a"]), (["{} and {}"], ["a"]),
                                              ([], ["a"]), (["{}"], [""])])
def test_fill_templates_rejects_bad_templates_and_terms(templates, terms):
    with pytest.raises(ValueError):
        R.fill_templates(templates, terms)


def test_bootstrap_interval_of_a_mean_matches_the_normal_approximation():
    x = np.random.default_rng(1).normal(3.0, 2.0, 400)
    iv = R.bootstrap_interval(np.mean, x, n_boot=3000, seed=0)
    half = 1.96 * x.std() / math.sqrt(len(x))
    assert iv.estimate == pytest.approx(x.mean())
    assert iv.low < x.mean() < iv.high
    assert (iv.high - iv.low) / 2 == pytest.approx(half, rel=0.1)
    assert iv.excludes_zero()


def test_bootstrap_is_reproducible_and_resamples_rows_together():
    x = np.arange(50.0)
    a = R.bootstrap_interval(lambda u, v: np.mean(u - v), x, x, n_boot=200, seed=3)
    assert (a.estimate, a.low, a.high) == (0.0, 0.0, 0.0)   # paired rows: the difference is 0
    b = R.bootstrap_interval(np.mean, x, n_boot=200, seed=3)
    assert b == R.bootstrap_interval(np.mean, x, n_boot=200, seed=3)


def test_bootstrap_interval_rejects_bad_arguments():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="n_boot"):
        R.bootstrap_interval(np.mean, x, n_boot=10)
    with pytest.raises(ValueError, match="level"):
        R.bootstrap_interval(np.mean, x, level=1.0)
    with pytest.raises(ValueError, match="same length"):
        R.bootstrap_interval(lambda a, b: 0.0, x, x[:5])
    with pytest.raises(ValueError, match="too small"):   # a group that resampling often empties
        R.bootstrap_interval(lambda g: g[g == 1].mean(), np.r_[np.zeros(29), 1], n_boot=200)


def test_paired_gap_is_the_mean_difference():
    a, b = np.array([0.5, 0.6, 0.7, 0.9]), np.array([0.4, 0.6, 0.5, 0.8])
    gap = R.paired_gap(a, b, n_boot=500)
    assert gap.estimate == pytest.approx(0.1)
    assert gap.low >= 0.0 and gap.high <= 0.2
    with pytest.raises(ValueError, match="same length"):
        R.paired_gap(a, b[:3])
    with pytest.raises(ValueError, match="finite"):
        R.paired_gap(a, np.array([0.1, np.nan, 0.2, 0.3]))


def test_group_rates_and_gaps_on_a_hand_counted_example():
    y = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0])
    p = np.array([1, 0, 1, 0, 1, 1, 1, 0, 0, 0])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    rates = R.group_rates(y, p, g)
    assert rates[0] == {"n": 4, "positive_rate": 0.5, "tpr": 0.5, "fpr": 0.5}
    assert rates[1] == {"n": 6, "positive_rate": 0.5, "tpr": 1.0, "fpr": 0.0}
    assert R.demographic_parity_difference(p, g) == 0.0           # parity holds ...
    assert R.equalized_odds_difference(y, p, g) == (0.5, -0.5)    # ... equalised odds does not


def test_fairness_metrics_reject_bad_inputs():
    with pytest.raises(ValueError, match="0 and 1"):
        R.group_rates([0, 2], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="both 0 and 1"):
        R.demographic_parity_difference([0, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="same length"):
        R.equalized_odds_difference([0, 1], [0, 1, 1], [0, 1])
    assert R.demographic_parity_difference(np.array([True, False]), np.array([True, False])) == 1.0


# ------------------------------------------------------------------ privacy

def test_per_example_cross_entropy_matches_pytorch():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(0, 30, (64, 3)), rng.integers(0, 3, 64)
    want = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels),
                                             reduction="none").numpy()
    np.testing.assert_allclose(R.per_example_cross_entropy(logits, labels), want, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("logits, labels, match", [
    (np.zeros((3,)), np.zeros(3, int), "batch, classes"),
    (np.zeros((3, 2)), np.zeros(3), "integers"),
    (np.zeros((3, 2)), np.array([0, 1, 2]), r"\[0, 2\)")])
def test_per_example_cross_entropy_rejects_bad_inputs(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        R.per_example_cross_entropy(logits, labels)


def test_membership_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(2)
    members = np.round(rng.exponential(0.5, 300), 1)      # rounding makes many ties
    others = np.round(rng.exponential(1.0, 200), 1)
    truth = np.r_[np.ones(300), np.zeros(200)]
    want = roc_auc_score(truth, -np.r_[members, others])
    assert R.membership_auc(members, others) == pytest.approx(want, abs=1e-12)
    assert R.membership_auc(np.zeros(5), np.ones(5)) == 1.0
    assert R.membership_auc(np.ones(5), np.ones(5)) == 0.5


def test_membership_advantage_is_the_best_threshold():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(0.3, 100), rng.exponential(1.0, 80)
    best = max(max((a <= c).mean() - (b <= c).mean() for c in np.r_[a, b]), 0.0)
    assert R.membership_advantage(a, b) == pytest.approx(best)
    with pytest.raises(ValueError, match="non-empty"):
        R.membership_advantage([], b)


def test_dp_epsilon_is_the_minimum_over_renyi_orders():
    noise, steps, delta = 4.0, 150, 1e-5

    def eps(order):
        return steps * order / (2 * noise ** 2) + math.log(1 / delta) / (order - 1)

    numeric = optimize.minimize_scalar(eps, bounds=(1.0001, 1e4), method="bounded").fun
    assert R.dp_epsilon(noise, steps, delta) == pytest.approx(numeric, rel=1e-6)
    assert R.dp_epsilon(8.0, steps, delta) < R.dp_epsilon(4.0, steps, delta)
    assert R.dp_epsilon(4.0, 2 * steps, delta) > R.dp_epsilon(4.0, steps, delta)
    for bad in (dict(noise_multiplier=0.0), dict(steps=0), dict(delta=1.0)):
        with pytest.raises(ValueError):
            R.dp_epsilon(**{"noise_multiplier": 1.0, "steps": 10, "delta": 1e-5, **bad})


def _reference_dp_gd(x, y, clip, steps, lr):
    """Per-example loop: gradient of the log loss, clipped, summed, averaged (no noise)."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        total = np.zeros(x.shape[1] + 1)
        for xi, yi in zip(x, y):
            p = 1 / (1 + np.exp(-(xi @ w + b)))
            g = (p - yi) * np.r_[xi, 1.0]
            total += g * min(1.0, clip / max(np.linalg.norm(g), 1e-12))
        w -= lr * total[:-1] / len(x)
        b -= lr * total[-1] / len(x)
    return w, b


@pytest.mark.parametrize("clip", [0.05, 100.0])
def test_dp_logistic_regression_clips_each_example_like_a_loop(clip):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    w, b = R.dp_logistic_regression(x, y, clip=clip, steps=25, lr=0.5)
    w_ref, b_ref = _reference_dp_gd(x, y, clip, 25, 0.5)
    np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)
    assert b == pytest.approx(b_ref, rel=1e-10, abs=1e-12)


def test_dp_logistic_regression_learns_and_noise_costs_accuracy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 5))
    y = (x @ np.array([2.0, -1.0, 0.5, 0.0, 0.0]) > 0).astype(int)

    def log_loss(w, b):
        return np.logaddexp(0, -(x @ w + b) * (2 * y - 1)).mean()

    w, b = R.dp_logistic_regression(x, y, steps=100, lr=1.0)
    assert log_loss(w, b) < 0.5 * math.log(2)          # the loss went down from log 2
    assert ((x @ w + b > 0) == y).mean() > 0.95
    noisy = [R.dp_logistic_regression(x, y, noise_multiplier=50.0, steps=100, lr=1.0, seed=s)
             for s in (0, 1)]
    assert not np.allclose(noisy[0][0], noisy[1][0])   # the noise depends on the seed
    assert np.mean([((x @ w_ + b_ > 0) == y).mean() for w_, b_ in noisy]) < 0.95


def test_dp_logistic_regression_rejects_bad_inputs():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="batch, features"):
        R.dp_logistic_regression(np.zeros(4), y)
    with pytest.raises(ValueError, match="0 and 1"):
        R.dp_logistic_regression(x, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="clip"):
        R.dp_logistic_regression(x, y, clip=0.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        R.dp_logistic_regression(x, y, noise_multiplier=-1.0)


# ------------------------------------------------------------------ energy

def test_dense_training_flops_counts_six_per_weight_per_example():
    assert R.dense_training_flops((100, 32, 2), examples=10, epochs=3) == 6 * (3200 + 64) * 30
    with pytest.raises(ValueError, match="layer_sizes"):
        R.dense_training_flops((100,), examples=10)
    with pytest.raises(ValueError, match="examples"):
        R.dense_training_flops((100, 2), examples=0)


def test_dense_training_flops_matches_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model = torch.nn.Sequential(torch.nn.Linear(50, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    x = torch.randn(8, 50)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    counted = counter.get_total_flops()        # matrix products only; the first layer's input
    # gradient is not needed (x does not require grad), so torch counts 2 x 50 x 16 less
    estimate = R.dense_training_flops((50, 16, 2), examples=8)
    assert counted == pytest.approx(estimate - 2 * 8 * 50 * 16)


def test_energy_estimate_with_stated_constants():
    e = R.energy_estimate(3600.0, watts_per_core=10.0, pue=1.5, grams_per_kwh=400.0)
    assert e["kwh"] == pytest.approx(0.015) and e["joules"] == pytest.approx(54_000)
    assert e["grams_co2e"] == pytest.approx(6.0)
    default = R.energy_estimate(1.0)
    assert default["joules"] == pytest.approx(R.WATTS_PER_CORE * R.PUE)
    with_memory = R.energy_estimate(3600.0, pue=1.0, memory_gb=8.0)
    assert with_memory["kwh"] == pytest.approx((R.WATTS_PER_CORE + 8 * R.WATTS_PER_GB) / 1000)


@pytest.mark.parametrize("kwargs", [dict(cpu_seconds=-1.0), dict(cpu_seconds=float("nan")),
                                    dict(cpu_seconds=1.0, pue=0.9),
                                    dict(cpu_seconds=1.0, watts_per_core=0.0),
                                    dict(cpu_seconds=1.0, memory_gb=-1.0)])
def test_energy_estimate_rejects_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        R.energy_estimate(**kwargs)


# ------------------------------------------------------------------ watermarking

def test_green_mask_is_a_keyed_gamma_share_of_the_vocabulary():
    a = R.green_mask(5, 1000, gamma=0.25, key=1)
    assert a.dtype == bool and a.sum() == 250
    assert np.array_equal(a, R.green_mask(5, 1000, gamma=0.25, key=1))   # recomputable
    assert not np.array_equal(a, R.green_mask(6, 1000, gamma=0.25, key=1))
    assert not np.array_equal(a, R.green_mask(5, 1000, gamma=0.25, key=2))
    with pytest.raises(ValueError, match="gamma"):
        R.green_mask(5, 1000, gamma=1.0)
    with pytest.raises(ValueError, match="previous"):
        R.green_mask(1000, 1000)


def test_watermark_z_score_is_standard_normal_without_watermark_and_large_with_it():
    vocab = 200
    logits = np.random.default_rng(0).normal(0, 1, (vocab, vocab))   # a random bigram model
    plain = [R.watermark_z_score(R.sample_with_watermark(lambda p: logits[p], 0, 100, vocab,
                                                         bias=0.0, seed=s), vocab)
             for s in range(40)]
    assert abs(np.mean(plain)) < 0.5 and 0.6 < np.std(plain) < 1.5
    marked = R.sample_with_watermark(lambda p: logits[p], 0, 100, vocab, bias=4.0, key=3)
    assert R.watermark_z_score(marked, vocab, key=3) > 6
    assert abs(R.watermark_z_score(marked, vocab, key=4)) < 3          # the wrong key sees nothing


def test_watermark_z_score_counts_green_tokens_by_hand():
    vocab, gamma = 10, 0.5
    tokens = [0]
    for _ in range(8):                 # always step to the first green token: all green
        tokens.append(int(np.flatnonzero(R.green_mask(tokens[-1], vocab, gamma))[0]))
    t = len(tokens) - 1
    assert R.watermark_z_score(tokens, vocab, gamma=gamma) == pytest.approx(
        (t - gamma * t) / math.sqrt(t * gamma * (1 - gamma)))
    with pytest.raises(ValueError, match="at least 2"):
        R.watermark_z_score([3], vocab)


def test_sample_with_watermark_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        R.sample_with_watermark(lambda p: np.zeros(5), 0, 3, 10)
    with pytest.raises(ValueError, match="bias"):
        R.sample_with_watermark(lambda p: np.zeros(10), 0, 3, 10, bias=-1.0)
    with pytest.raises(ValueError, match="steps"):
        R.sample_with_watermark(lambda p: np.zeros(10), 0, 0, 10)
