"""Sequence data for part IV (recurrent networks): memory tasks, real time series, real text.

Every array is laid out *batch first*: inputs are ``(examples, steps, features)``,
as both ``torch.nn.RNN(batch_first=True)`` and Keras's recurrent layers expect.

* procedural tasks that isolate memory: :func:`adding_problem`, :func:`reversal`,
  :func:`sine_windows`;
* real time series that ship inside statsmodels: :func:`sunspots`, :func:`co2`,
  cut into windows by :func:`forecasting_split`;
* real English prose that ships with Python (``pydoc_data.topics``, the text of
  Python's interactive help): :func:`char_corpus`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from companion.checks import check_positive_int
from companion.data.core import Split


# ---------------------------------------------------------------- memory tasks

def adding_problem(n: int = 1000, steps: int = 50, seed: int = 0):
    """The adding problem, in the form of Le, Jaitly and Hinton (2015).

    A variant of Hochreiter and Schmidhuber's (1997) task, whose values lie on
    [-1, 1], whose first marker falls among the first ten steps and whose
    target is scaled to 0.5 + (x1 + x2) / 4. Each example is a sequence of ``steps`` pairs ``(value, marker)``: values
    are uniform on [0, 1]; exactly two markers are 1, one in the first half of
    the sequence and one in the second half. The target is the sum of the two
    marked values, read at the end of the sequence, so the model must keep the
    first marked value in memory for up to ``steps - 1`` steps. Predicting the
    mean (1.0) every time gives a mean squared error of 1/6, about 0.167.

    Returns ``x`` of shape ``(n, steps, 2)`` and ``y`` of shape ``(n,)``, float32.
    """
    check_positive_int(n, "n")
    check_positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (one marker in each half), got {steps}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, steps))
    first = rng.integers(0, steps // 2, size=n)
    second = rng.integers(steps // 2, steps, size=n)
    markers = np.zeros((n, steps))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return x, y


def reversal(n: int = 1000, length: int = 6, vocab: int = 8, seed: int = 0):
    """Sequence reversal, the toy task of the encoder-decoder section.

    Each input is ``length`` random symbols out of ``vocab``, one-hot encoded;
    the target is the same symbols in reverse order, as integer labels. Every
    output step depends on a different input step, so the whole input must be
    remembered.

    Returns ``x`` of shape ``(n, length, vocab)`` (float32) and ``y`` of shape
    ``(n, length)`` (int64).
    """
    check_positive_int(n, "n")
    check_positive_int(length, "length")
    check_positive_int(vocab, "vocab")
    if vocab < 2:
        raise ValueError(f"vocab must be at least 2, got {vocab}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(n, length))
    x = np.eye(vocab, dtype=np.float32)[tokens]
    return x, tokens[:, ::-1].astype(np.int64).copy()


def sine_windows(n: int = 500, steps: int = 40, noise: float = 0.1, seed: int = 0):
    """Noisy sine waves with random frequency and phase; the target is the next clean value.

    ``x[i, t, 0] = sin(w_i t + phi_i) + noise``; ``y[i] = sin(w_i * steps + phi_i)``
    (no noise). Frequencies are drawn from [0.1, 0.4] radians per step, so a
    window holds between half a period and about two and a half periods.

    Returns ``x`` of shape ``(n, steps, 1)`` and ``y`` of shape ``(n,)``, float32.
    """
    check_positive_int(n, "n")
    check_positive_int(steps, "steps")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise!r}")
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.4, size=(n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    t = np.arange(steps + 1)[None, :]
    clean = np.sin(freq * t + phase)
    x = clean[:, :steps] + rng.normal(0.0, noise, size=(n, steps))
    return x[..., None].astype(np.float32), clean[:, steps].astype(np.float32)


# ---------------------------------------------------------------- real time series

@dataclass(frozen=True)
class Series:
    """A real, regularly sampled time series."""

    values: np.ndarray   # float32, shape (length,)
    time: np.ndarray     # float64 (decimal years), shape (length,)
    name: str
    unit: str

    def __len__(self) -> int:
        return len(self.values)


def sunspots() -> Series:
    """Yearly mean sunspot numbers, 1700 to 2008 (309 values), from statsmodels.

    The series has a cycle of about 11 years whose height changes from cycle
    to cycle, so it is neither periodic nor stationary in any simple sense.
    """
    from statsmodels.datasets import sunspots as dataset

    frame = dataset.load_pandas().data
    return Series(frame["SUNACTIVITY"].to_numpy(np.float32), frame["YEAR"].to_numpy(np.float64),
                  "yearly sunspot number", "sunspots")


def co2() -> Series:
    """Monthly mean atmospheric CO2 at Mauna Loa, January 1965 to December 2001, from statsmodels.

    statsmodels ships weekly readings (ppm) from March 1958. Five months before
    1965 have no reading at all, so the series starts in January 1965 rather
    than filling them in; from then on every month has readings (444 months),
    and the monthly mean averages the weeks that were measured.
    """
    from statsmodels.datasets import co2 as dataset

    weekly = dataset.load_pandas().data["co2"]
    weekly = weekly[weekly.index.year >= 1965]
    monthly = weekly.groupby([weekly.index.year, weekly.index.month]).mean()
    if monthly.isna().any() or len(monthly) != 444:
        raise ValueError("the CO2 record in statsmodels is not the one this loader expects")
    years = np.array([y + (m - 0.5) / 12 for y, m in monthly.index], dtype=np.float64)
    return Series(monthly.to_numpy(np.float32), years, "monthly mean CO2 at Mauna Loa", "ppm")


def windows(values, lookback: int, horizon: int = 1):
    """Cut a 1-D series into (past ``lookback`` values, value ``horizon`` steps later) pairs.

    Returns ``x`` of shape ``(n, lookback, 1)`` and ``y`` of shape ``(n,)``.
    """
    values = np.asarray(values, dtype=np.float32)
    check_positive_int(lookback, "lookback")
    check_positive_int(horizon, "horizon")
    if values.ndim != 1:
        raise ValueError(f"windows expected a 1-D series, got shape {values.shape}")
    n = len(values) - lookback - horizon + 1
    if n < 1:
        raise ValueError(
            f"a series of length {len(values)} is too short for lookback {lookback} "
            f"and horizon {horizon}"
        )
    idx = np.arange(lookback)[None, :] + np.arange(n)[:, None]
    return values[idx][..., None], values[lookback + horizon - 1:][:n].copy()


@dataclass(frozen=True, repr=False)
class SeriesSplit(Split):
    """A chronological split of windows cut from one series, standardized.

    ``mean`` and ``std`` come from the training part only; ``unscale``
    maps standardized values back to the series' units. ``t_val`` and
    ``t_test`` are the times of the targets.
    """

    mean: float = 0.0
    std: float = 1.0
    t_val: np.ndarray | None = None
    t_test: np.ndarray | None = None

    def unscale(self, values):
        return np.asarray(values) * self.std + self.mean


def forecasting_split(series: Series, lookback: int, *, val_size: float = 0.15,
                      test_size: float = 0.15, horizon: int = 1) -> SeriesSplit:
    """Windows of ``series`` split in time order: train on the past, test on the future.

    The *targets* are split chronologically (the last ``test_size`` of them
    form the test set, the ``val_size`` before them the validation set); the
    input window of a validation or test target may reach back into earlier
    parts, which is what a forecaster sees in practice. Nothing is shuffled.
    """
    for name, frac in (("val_size", val_size), ("test_size", test_size)):
        if not 0.0 < frac < 1.0:
            raise ValueError(f"{name} must be a fraction in (0, 1), got {frac!r}")
    if val_size + test_size >= 1.0:
        raise ValueError(f"val_size + test_size must be below 1, got {val_size} + {test_size}")
    x, y = windows(series.values, lookback, horizon)
    target_time = series.time[lookback + horizon - 1:][:len(y)]
    n_test, n_val = int(round(len(y) * test_size)), int(round(len(y) * val_size))
    n_train = len(y) - n_val - n_test
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"only {len(y)} windows: too few for a train/validation/test split")
    # Standardize with statistics of the values the training windows can see.
    seen = series.values[:n_train + lookback + horizon - 1]
    mean, std = float(seen.mean()), float(seen.std())
    x, y = (x - mean) / std, (y - mean) / std
    a, b = n_train, n_train + n_val
    return SeriesSplit(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], mean=mean, std=std,
                       t_val=target_time[a:b], t_test=target_time[b:])


# ---------------------------------------------------------------- real text

# Typographic characters of the help text mapped to plain ASCII.
_ASCII = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
          "\u2014": "-", "\u2013": "-"}


@dataclass(frozen=True)
class CharCorpus:
    """A text and its alphabet, for character-level language models.

    ``encode`` maps characters to integer ids, ``decode`` maps them back.
    :meth:`sequences` cuts the text into (input, next-character target) pairs.
    """

    text: str
    chars: str   # the alphabet, sorted; a character's id is its index here

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters outside the alphabet: {unknown}")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def one_hot(self, ids) -> np.ndarray:
        return np.eye(self.vocab_size, dtype=np.float32)[np.asarray(ids)]

    def sequences(self, steps: int, start: float = 0.0, stop: float = 1.0):
        """Non-overlapping windows of ``steps`` characters from a slice of the text.

        ``start`` and ``stop`` are fractions of the text (for a train/validation
        split that keeps the two parts apart). Returns one-hot inputs ``x`` of
        shape ``(n, steps, vocab_size)`` (float32) and targets ``y`` of shape
        ``(n, steps)`` (int64): ``y[i, t]`` is the character after ``x[i, t]``.
        """
        check_positive_int(steps, "steps")
        if not 0.0 <= start < stop <= 1.0:
            raise ValueError(f"need 0 <= start < stop <= 1, got start={start}, stop={stop}")
        ids = self.encode(self.text[int(start * len(self.text)):int(stop * len(self.text))])
        n = (len(ids) - 1) // steps
        if n < 1:
            raise ValueError(f"the slice holds {len(ids)} characters: too few for steps={steps}")
        inputs = ids[:n * steps].reshape(n, steps)
        targets = ids[1:n * steps + 1].reshape(n, steps)
        return self.one_hot(inputs), targets


def char_corpus(max_chars: int | None = None) -> CharCorpus:
    """The text of Python's interactive help (``pydoc_data.topics``) as a character corpus.

    About 460,000 characters of English technical prose with code examples,
    shipped with every Python installation. Typographic quotes and dashes are
    mapped to ASCII and any other non-ASCII character is dropped, leaving an
    alphabet of about 95 characters. ``max_chars`` keeps only the beginning.
    The exact text depends on the Python version.
    """
    from pydoc_data.topics import topics

    if max_chars is not None:
        check_positive_int(max_chars, "max_chars")
    text = "\n".join(topics[key].strip("\n") for key in sorted(topics))
    text = "".join(_ASCII.get(c, c) for c in text)
    text = "".join(c for c in text if c == "\n" or " " <= c <= "~")
    if max_chars is not None:
        text = text[:max_chars]
    return CharCorpus(text, "".join(sorted(set(text))))
