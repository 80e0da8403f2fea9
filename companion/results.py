"""The results table of an application study (Part IX): model x metric x framework x seconds.

Every application ends on one table that the notebook fills as it trains:
baselines (framework ``"scikit-learn"``, ``"statsmodels"``, ``"NumPy"``, ...)
and the book's models in PyTorch and Keras, each with its metrics on the test
split and its training time in seconds::

    table = Results(["accuracy", "macro F1"])
    with timed() as clock:
        model.fit(x, y)
    table.add("logistic regression", "scikit-learn", clock.seconds, accuracy=0.91,
              **{"macro F1": 0.90})
    table.frame()           # a pandas DataFrame, one row per (model, framework)
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager


class _Clock:
    seconds: float = float("nan")


@contextmanager
def timed():
    """Measure the wall-clock seconds of a ``with`` block (in ``clock.seconds``)."""
    clock, start = _Clock(), time.perf_counter()
    try:
        yield clock
    finally:
        clock.seconds = time.perf_counter() - start


class Results:
    """Rows of (model, framework, training seconds, metrics), with checks on what goes in."""

    def __init__(self, metrics, *, lower_is_better=()):
        metrics = list(metrics)
        if not metrics or not all(isinstance(m, str) and m for m in metrics):
            raise ValueError(f"metrics must be a non-empty list of names, got {metrics!r}")
        unknown = set(lower_is_better) - set(metrics)
        if unknown:
            raise ValueError(f"lower_is_better names {sorted(unknown)}, which are not among "
                             f"the metrics {metrics}")
        self.metrics = metrics
        self.lower_is_better = set(lower_is_better)
        self.rows: list[dict] = []

    def add(self, model: str, framework: str, seconds: float, **metrics) -> None:
        """Record one trained model; every metric of the table must be given, as a number."""
        missing = [m for m in self.metrics if m not in metrics]
        extra = [m for m in metrics if m not in self.metrics]
        if missing or extra:
            raise ValueError(f"{model} ({framework}): expected the metrics {self.metrics}; "
                             f"missing {missing}, unexpected {extra}")
        if any((r["model"], r["framework"]) == (model, framework) for r in self.rows):
            raise ValueError(f"{model} ({framework}) is already in the table")
        values = {}
        for name in self.metrics:
            value = float(metrics[name])
            if not math.isfinite(value):
                raise ValueError(f"{model} ({framework}): {name} is {value}, not a finite number")
            values[name] = value
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"{model} ({framework}): seconds must be a finite number >= 0, "
                             f"got {seconds}")
        self.rows.append({"model": model, "framework": framework, **values,
                          "training seconds": float(seconds)})

    def value(self, model: str, framework: str, metric: str) -> float:
        for row in self.rows:
            if (row["model"], row["framework"]) == (model, framework):
                return row[metric]
        raise KeyError(f"no row for {model} ({framework}); the table has "
                       f"{[(r['model'], r['framework']) for r in self.rows]}")

    def best(self, metric: str, *, frameworks=None) -> dict:
        """The row with the best value of ``metric`` (optionally among some frameworks)."""
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; the table has {self.metrics}")
        rows = [r for r in self.rows if frameworks is None or r["framework"] in frameworks]
        if not rows:
            raise ValueError(f"no rows for the frameworks {frameworks}")
        sign = -1.0 if metric in self.lower_is_better else 1.0
        return max(rows, key=lambda r: sign * r[metric])

    def frame(self, digits: int = 3):
        """The table as a pandas DataFrame, rounded for reading."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=["model", "framework", *self.metrics,
                                                 "training seconds"])
        return frame.round({**{m: digits for m in self.metrics}, "training seconds": 1})

    def __len__(self) -> int:
        return len(self.rows)
