"""Measuring what a model does besides being accurate (appendix: Responsible use and outlook).

Four small toolkits, all in NumPy, each checked against a reference in
``tests/test_responsible.py``:

* **Fairness.** ``fill_templates`` builds probe sentences that differ only in
  one term; ``group_rates`` gives each group's positive rate, true- and
  false-positive rates; ``demographic_parity_difference`` and
  ``equalized_odds_difference`` turn them into gaps; ``bootstrap_interval``
  puts a percentile bootstrap interval on any such statistic.
* **Privacy.** ``per_example_cross_entropy`` and ``membership_auc`` measure a
  loss-threshold membership-inference attack; ``dp_logistic_regression``
  trains with clipped, noised full-batch gradients (DP-GD), and
  ``dp_epsilon`` gives its privacy budget from the Renyi-DP bound of the
  Gaussian mechanism.
* **Energy.** ``dense_training_flops`` counts the arithmetic of training a
  stack of dense layers, and ``energy_estimate`` turns CPU time into energy
  and CO2-equivalent with stated constants (the Green Algorithms method of
  Lannelongue et al., 2021).
* **Watermarking.** ``green_mask``, ``sample_with_watermark`` and
  ``watermark_z_score`` implement the green-list watermark of Kirchenbauer
  et al. (2023) for any next-token model.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from companion.numpy.losses import log_softmax
from companion.numpy.metrics import roc_auc

# Stated constants of the energy estimate (see ``energy_estimate``).
WATTS_PER_CORE = 12.0      # Green Algorithms' default power draw of one busy CPU core ("Any" CPU)
WATTS_PER_GB = 0.3725      # Green Algorithms' power draw of one GB of memory
PUE = 1.67                 # Green Algorithms' default power usage effectiveness (world average)
GRAMS_PER_KWH = 436.0      # world average carbon intensity of electricity in 2022 (Ember, 2023)


# ----------------------------------------------------------------------------- helpers

def _vector(values, what: str, *, dtype=float) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array, got shape {array.shape}")
    if dtype is float:
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise ValueError(f"{what} must hold finite numbers")
        return array.astype(np.float64)
    return array


def _binary(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.int64)
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{what} must hold only 0 and 1 (or booleans), got values "
                         f"{np.unique(array)[:10].tolist()}")
    return array.astype(np.int64)


def _same_length(*arrays_and_names) -> None:
    lengths = {name: len(a) for a, name in arrays_and_names}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the arrays must have the same length, got {lengths}")


def _positive(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- fairness

def fill_templates(templates, terms) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every template with every term put in its ``{}`` slot.

    Returns ``(sentences, template_index, term_index)``: sentence ``k`` is
    ``templates[template_index[k]].format(terms[term_index[k]])``. Templates
    vary fastest within a term, so ``sentences`` is ordered term by term. A
    template without exactly one ``{}`` raises ``ValueError``.
    """
    templates, terms = list(templates), list(terms)
    if not templates or not terms:
        raise ValueError("fill_templates needs at least one template and one term")
    for t in templates:
        if not isinstance(t, str) or t.count("{}") != 1:
            raise ValueError(f"every template must be a string with exactly one '{{}}' slot, "
                             f"got {t!r}")
    for term in terms:
        if not isinstance(term, str) or not term.strip():
            raise ValueError(f"every term must be a non-empty string, got {term!r}")
    sentences, t_idx, w_idx = [], [], []
    for j, term in enumerate(terms):
        for i, template in enumerate(templates):
            sentences.append(template.format(term))
            t_idx.append(i)
            w_idx.append(j)
    return sentences, np.array(t_idx), np.array(w_idx)


@dataclass(frozen=True)
class Interval:
    """A statistic and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def bootstrap_interval(statistic, *arrays, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``statistic(*arrays)``.

    The arrays are resampled together, row by row (rows are the units that
    were drawn independently: a template pair, a tweet), ``n_boot`` times.
    Resamples where the statistic is not finite (a group left empty) are
    dropped; if more than 10% are, ``ValueError`` says the groups are too
    small for a bootstrap.
    """
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one array to resample")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer of at least 100, got {n_boot!r}")
    if not 0.5 <= level < 1:
        raise ValueError(f"level must be in [0.5, 1), got {level!r}")
    arrays = [np.asarray(a) for a in arrays]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("every array must have at least one dimension (rows to resample)")
    _same_length(*[(a, f"array {i}") for i, a in enumerate(arrays)])
    n = len(arrays[0])
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 rows, got {n}")
    estimate = float(statistic(*arrays))
    if not math.isfinite(estimate):
        raise ValueError(f"the statistic is not finite on the data itself ({estimate})")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an empty group's mean: dropped below
        for b in range(n_boot):
            rows = rng.integers(0, n, n)
            values[b] = statistic(*[a[rows] for a in arrays])
    finite = values[np.isfinite(values)]
    if len(finite) < 0.9 * n_boot:
        raise ValueError("the statistic was undefined in more than 10% of the resamples: "
                         "a group is too small for a bootstrap")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), level)


def paired_gap(scores_a, scores_b, **kwargs) -> Interval:
    """Mean of ``scores_a - scores_b`` over pairs, with a bootstrap interval over the pairs.

    For counterfactual probes: ``scores_a[k]`` and ``scores_b[k]`` are the
    model's scores for the same sentence with the two groups' terms.
    Keyword arguments go to ``bootstrap_interval``.
    """
    a = _vector(scores_a, "scores_a")
    b = _vector(scores_b, "scores_b")
    _same_length((a, "scores_a"), (b, "scores_b"))
    return bootstrap_interval(lambda d: d.mean(), a - b, **kwargs)


def group_rates(y_true, y_pred, group) -> dict:
    """Per group (0 and 1): size, positive-prediction rate, TPR and FPR.

    ``y_true``, ``y_pred`` and ``group`` are 0/1 (or boolean) arrays of the
    same length. A rate with no example to measure it on is NaN.
    """
    y = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    g = _binary(group, "group")
    _same_length((y, "y_true"), (p, "y_pred"), (g, "group"))
    out = {}
    with np.errstate(invalid="ignore"):
        for value in (0, 1):
            m = g == value
            out[value] = {"n": int(m.sum()),
                          "positive_rate": p[m].mean() if m.any() else np.nan,
                          "tpr": p[m & (y == 1)].mean() if (m & (y == 1)).any() else np.nan,
                          "fpr": p[m & (y == 0)].mean() if (m & (y == 0)).any() else np.nan}
    return out


def demographic_parity_difference(y_pred, group) -> float:
    """``P(y_hat = 1 | group 1) - P(y_hat = 1 | group 0)``: zero under demographic parity."""
    p = _binary(y_pred, "y_pred")
    g = _binary(group, "group")
    _same_length((p, "y_pred"), (g, "group"))
    if g.all() or not g.any():
        raise ValueError("group must contain both 0 and 1")
    return float(p[g == 1].mean() - p[g == 0].mean())


def equalized_odds_difference(y_true, y_pred, group) -> tuple[float, float]:
    """``(TPR gap, FPR gap)``, group 1 minus group 0: both zero under equalised odds."""
    rates = group_rates(y_true, y_pred, group)
    return (float(rates[1]["tpr"] - rates[0]["tpr"]), float(rates[1]["fpr"] - rates[0]["fpr"]))


# ----------------------------------------------------------------------------- privacy

def per_example_cross_entropy(logits, labels) -> np.ndarray:
    """The cross-entropy loss of every example, from logits ``(batch, classes)``."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (batch, classes) with at least 2 classes, "
                         f"got {z.shape}")
    y = np.asarray(labels)
    if y.shape != (len(z),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape (batch,) = ({len(z)},), "
                         f"got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be in [0, {z.shape[1]}), got {y.min()}..{y.max()}")
    return -log_softmax(z, axis=1)[np.arange(len(y)), y]


def membership_auc(member_losses, nonmember_losses) -> float:
    """ROC AUC of the attack "the lower the loss, the likelier a training example".

    The probability that a random training example (member) has a lower loss
    than a random held-out one, ties counting one half (the Mann-Whitney
    statistic). 0.5: the attacker learns nothing from the losses; 1: every
    member is recognised.
    """
    a = _vector(member_losses, "member_losses")
    b = _vector(nonmember_losses, "nonmember_losses")
    is_member = np.r_[np.ones(len(a), np.int64), np.zeros(len(b), np.int64)]
    return roc_auc(is_member, -np.concatenate([a, b]))   # the attack's score: minus the loss


def membership_advantage(member_losses, nonmember_losses) -> float:
    """Best ``TPR - FPR`` of a loss threshold (Yeom et al.'s membership advantage)."""
    a = _vector(member_losses, "member_losses")
    b = _vector(nonmember_losses, "nonmember_losses")
    thresholds = np.unique(np.concatenate([a, b]))
    tpr = (a[None, :] <= thresholds[:, None]).mean(axis=1)
    fpr = (b[None, :] <= thresholds[:, None]).mean(axis=1)
    return float(max(0.0, (tpr - fpr).max()))


def dp_epsilon(noise_multiplier: float, steps: int, delta: float) -> float:
    """Privacy budget of ``steps`` full-batch Gaussian-mechanism steps (DP-GD).

    Each step adds ``N(0, (noise_multiplier * clip)^2)`` to a sum of gradients
    clipped to norm ``clip``, so one example moves the sum by at most
    ``clip``: a Gaussian mechanism whose Renyi-DP of order ``a`` is
    ``a / (2 noise_multiplier^2)``. ``steps`` of them compose to ``steps``
    times that, and the conversion to ``(epsilon, delta)``-DP,
    ``epsilon = rdp(a) + log(1 / delta) / (a - 1)``, minimised over ``a``,
    gives ``steps / (2 s^2) + sqrt(2 steps log(1 / delta)) / s`` with
    ``s = noise_multiplier`` (Mironov, 2017). No subsampling is assumed:
    minibatch DP-SGD needs an accountant for its amplification.
    """
    s = _positive(noise_multiplier, "noise_multiplier")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    return steps / (2 * s * s) + math.sqrt(2 * steps * math.log(1 / delta)) / s


def dp_logistic_regression(x, y, *, clip: float = 1.0, noise_multiplier: float = 0.0,
                           steps: int = 100, lr: float = 1.0, seed: int = 0):
    """Logistic regression by full-batch gradient descent, differentially private if noised.

    Every step computes each example's gradient of the log loss, clips it to
    norm ``clip`` (weights and bias together), sums the clipped gradients,
    adds Gaussian noise of standard deviation ``noise_multiplier * clip`` to
    the sum and divides by the number of examples: DP-SGD (Abadi et al.,
    2016) with the whole training set as the batch. ``noise_multiplier=0``
    gives the same clipped gradient descent without privacy, the fair
    baseline. Returns ``(w, b)``; the budget is ``dp_epsilon(noise_multiplier,
    steps, delta)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must have shape (batch, features), got {x.shape}")
    y = _binary(y, "y").astype(np.float64)
    _same_length((x, "x"), (y, "y"))
    clip = _positive(clip, "clip")
    lr = _positive(lr, "lr")
    if isinstance(noise_multiplier, bool) or not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    rng = np.random.default_rng(seed)
    n, d = x.shape
    w, b = np.zeros(d), 0.0
    input_norms = np.sqrt((x * x).sum(axis=1) + 1.0)   # the norm of (x, 1), fixed
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        r = p - y                                       # d loss / d score, per example
        norms = np.abs(r) * input_norms
        scale = np.minimum(1.0, clip / np.maximum(norms, 1e-12))
        rs = r * scale                                  # clipped per-example gradients: rs * (x, 1)
        g_w, g_b = x.T @ rs, rs.sum()
        if noise_multiplier > 0:
            g_w = g_w + rng.normal(0.0, noise_multiplier * clip, d)
            g_b = g_b + rng.normal(0.0, noise_multiplier * clip)
        w -= lr * g_w / n
        b -= lr * g_b / n
    return w, float(b)


# ----------------------------------------------------------------------------- energy

def dense_training_flops(layer_sizes, examples: int, epochs: int = 1) -> float:
    """Floating-point operations of training a stack of dense layers.

    ``layer_sizes = (d, n_1, ..., K)``. One multiply-add (two FLOPs) per
    weight per example forward; the backward pass costs about twice the
    forward (gradients with respect to the inputs and to the weights), so a
    training step is about ``6 * weights`` FLOPs per example. Biases,
    activations, the loss and the optimizer are left out (a few percent for
    the book's MLPs).
    """
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes must be at least two positive widths, got {layer_sizes!r}")
    for value, what in ((examples, "examples"), (epochs, "epochs")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 6.0 * weights * examples * epochs


def energy_estimate(cpu_seconds: float, *, watts_per_core: float = WATTS_PER_CORE,
                    pue: float = PUE, grams_per_kwh: float = GRAMS_PER_KWH,
                    memory_gb: float = 0.0, watts_per_gb: float = WATTS_PER_GB) -> dict:
    """Energy (kWh, joules) and emissions (grams CO2e) of ``cpu_seconds`` of busy cores.

    The Green Algorithms method (Lannelongue et al., 2021): energy = time x
    (cores x power per core + memory x power per GB) x PUE, and emissions =
    energy x the grid's carbon intensity. ``cpu_seconds`` is CPU time summed
    over cores (``time.process_time``), so it already counts the cores in use.
    The constants are assumptions, stated at the top of this module: change
    them for your hardware, data centre and grid.
    """
    if isinstance(cpu_seconds, bool) or not isinstance(cpu_seconds, (int, float)) \
            or not cpu_seconds >= 0 or not math.isfinite(cpu_seconds):
        raise ValueError(f"cpu_seconds must be a non-negative number, got {cpu_seconds!r}")
    watts_per_core = _positive(watts_per_core, "watts_per_core")
    grams_per_kwh = _positive(grams_per_kwh, "grams_per_kwh")
    if not pue >= 1:
        raise ValueError(f"pue (power usage effectiveness) must be at least 1, got {pue!r}")
    if not memory_gb >= 0:
        raise ValueError(f"memory_gb must be >= 0, got {memory_gb!r}")
    joules = cpu_seconds * (watts_per_core + memory_gb * watts_per_gb) * pue
    kwh = joules / 3.6e6
    return {"joules": joules, "kwh": kwh, "grams_co2e": kwh * grams_per_kwh}


# ----------------------------------------------------------------------------- watermarking

def green_mask(previous: int, vocab_size: int, gamma: float = 0.25, key: int = 0) -> np.ndarray:
    """The "green list" that follows token ``previous``: a boolean mask over the vocabulary.

    A pseudo-random ``gamma`` share of the vocabulary, drawn from a generator
    seeded with the secret ``key`` and the previous token, so that whoever
    knows the key can recompute it from the text alone (Kirchenbauer et al.,
    2023).
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer of at least 2, got {vocab_size!r}")
    if not 0 < gamma < 1:
        raise ValueError(f"gamma (the green share of the vocabulary) must be in (0, 1), "
                         f"got {gamma!r}")
    if not 0 <= int(previous) < vocab_size:
        raise ValueError(f"previous must be a token id in [0, {vocab_size}), got {previous!r}")
    size = max(1, int(round(gamma * vocab_size)))
    order = np.random.default_rng([int(key), int(previous)]).permutation(vocab_size)
    mask = np.zeros(vocab_size, dtype=bool)
    mask[order[:size]] = True
    return mask


def sample_with_watermark(next_logits, start: int, steps: int, vocab_size: int, *,
                          bias: float = 2.0, gamma: float = 0.25, key: int = 0,
                          seed: int = 0) -> np.ndarray:
    """Sample ``steps`` tokens after ``start``, adding ``bias`` to the green tokens' logits.

    ``next_logits(previous_token)`` returns the model's logits ``(vocab_size,)``
    for the next token. ``bias=0`` samples the model unchanged. Returns the
    token ids, ``start`` first. Kirchenbauer et al. (2023) call the bias
    ``delta``.
    """
    if not bias >= 0:
        raise ValueError(f"bias must be >= 0, got {bias!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    rng = np.random.default_rng(seed)
    tokens = [int(start)]
    for _ in range(steps):
        logits = np.asarray(next_logits(tokens[-1]), dtype=np.float64)
        if logits.shape != (vocab_size,):
            raise ValueError(f"next_logits must return shape ({vocab_size},), got {logits.shape}")
        if bias > 0:
            logits = logits + bias * green_mask(tokens[-1], vocab_size, gamma, key)
        p = np.exp(logits - logits.max())
        tokens.append(int(rng.choice(vocab_size, p=p / p.sum())))
    return np.array(tokens)


def watermark_z_score(tokens, vocab_size: int, *, gamma: float = 0.25, key: int = 0) -> float:
    """How many standard deviations more green tokens ``tokens`` holds than chance.

    Without the watermark, each token after the first is green with
    probability ``gamma``, so the count of green tokens among ``T`` is
    binomial: ``z = (count - gamma T) / sqrt(T gamma (1 - gamma))``.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) < 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be a 1-D array of at least 2 token ids, got "
                         f"{tokens.dtype} {tokens.shape}")
    green = sum(green_mask(prev, vocab_size, gamma, key)[tok]
                for prev, tok in zip(tokens[:-1], tokens[1:]))
    t = len(tokens) - 1
    return float((green - gamma * t) / math.sqrt(t * gamma * (1 - gamma)))
