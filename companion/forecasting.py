"""Forecasting tools in NumPy (Part IX, time-series forecasting study).

Everything a forecasting study needs around its models, with no framework:

* **windows**: ``windows(series, origins, lookback, horizon)`` cuts the input
  window and the target of every forecast origin; ``rolling_origins`` lists
  the origins of a backtest;
* **baselines**: ``naive_forecast`` (the last value, repeated) and
  ``seasonal_naive_forecast`` (the value one season earlier);
* **metrics**: ``mae``, ``rmse`` and ``mase`` (the mean absolute error scaled
  by the in-sample error of the seasonal-naive forecast, Hyndman and Koehler
  2006), computed with ``seasonal_naive_scale``;
* **intervals**: ``residual_intervals`` turns validation residuals into
  per-step interval half-widths, and ``coverage`` checks them on new data.

A forecast *origin* ``t`` is the index of the first value to forecast: the
model may read ``series[:t]`` and forecasts ``series[t:t + horizon]``.
"""
from __future__ import annotations

import numpy as np

from companion.checks import check_positive_int


def _as_series(series, what: str = "series") -> np.ndarray:
    values = np.asarray(series, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"{what} must be a 1-D array of at least 2 values, got shape "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return values


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"actual and forecast must have the same shape, got {actual.shape} "
                         f"and {forecast.shape}")
    if actual.size == 0:
        raise ValueError("actual and forecast are empty")
    if not (np.all(np.isfinite(actual)) and np.all(np.isfinite(forecast))):
        raise ValueError("actual and forecast must be finite numbers (no NaN or inf)")
    return actual, forecast


# ---------------------------------------------------------------- windows

def rolling_origins(start: int, stop: int, horizon: int, every: int) -> np.ndarray:
    """The forecast origins ``start, start + every, ...`` whose horizon ends by ``stop``.

    An origin ``t`` is kept when ``t + horizon <= stop``, so every forecast is
    scored on values in ``[start, stop)``.
    """
    check_positive_int(horizon, "horizon")
    check_positive_int(every, "every")
    if not 0 <= start < stop:
        raise ValueError(f"need 0 <= start < stop, got start={start}, stop={stop}")
    origins = np.arange(start, stop - horizon + 1, every)
    if len(origins) == 0:
        raise ValueError(f"no origin in [{start}, {stop}) leaves room for horizon={horizon}")
    return origins


def windows(series, origins, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``series[t - lookback:t]`` and targets ``series[t:t + horizon]`` for each origin ``t``.

    Returns two float arrays of shapes ``(origins, lookback)`` and
    ``(origins, horizon)``. An origin too early for its input window or too
    late for its target is a ``ValueError``. (``companion.data.windows`` cuts
    *every* window of a series with a one-value target, for training the
    recurrent chapters' models; this one cuts at chosen forecast origins with
    a whole horizon as the target, for backtesting.)
    """
    values = np.asarray(series)
    if values.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {values.shape}")
    check_positive_int(lookback, "lookback")
    check_positive_int(horizon, "horizon")
    origins = np.asarray(origins, dtype=np.int64).reshape(-1)
    if len(origins) == 0:
        raise ValueError("origins is empty")
    if origins.min() < lookback or origins.max() + horizon > len(values):
        raise ValueError(f"origins must lie in [{lookback}, {len(values) - horizon}] for "
                         f"lookback={lookback} and horizon={horizon} on {len(values)} values; "
                         f"got {origins.min()} to {origins.max()}")
    inputs = np.stack([values[t - lookback:t] for t in origins])
    targets = np.stack([values[t:t + horizon] for t in origins])
    return inputs, targets


# ---------------------------------------------------------------- baselines

def naive_forecast(history, horizon: int) -> np.ndarray:
    """The last observed value, repeated ``horizon`` times (the random-walk forecast)."""
    values = _as_series(history, "history")
    check_positive_int(horizon, "horizon")
    return np.full(horizon, values[-1])


def seasonal_naive_forecast(history, horizon: int, period: int) -> np.ndarray:
    """The value one season earlier: step ``h`` (1-based) repeats ``history[-period + (h - 1) % period]``.

    For ``horizon <= period`` it copies the last season's values at the same
    positions; longer horizons repeat the last season.
    """
    values = _as_series(history, "history")
    check_positive_int(horizon, "horizon")
    check_positive_int(period, "period")
    if len(values) < period:
        raise ValueError(f"the history ({len(values)} values) is shorter than one season "
                         f"(period={period})")
    season = values[-period:]
    return season[np.arange(horizon) % period]


# ---------------------------------------------------------------- metrics

def mae(actual, forecast) -> float:
    """Mean absolute error, in the data's unit."""
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual, forecast) -> float:
    """Root mean squared error, in the data's unit (large errors weigh more than in the MAE)."""
    actual, forecast = _pair(actual, forecast)
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def seasonal_naive_scale(train, period: int) -> float:
    """The in-sample MAE of the seasonal-naive forecast: ``mean |y_t - y_{t - period}|`` on ``train``.

    This is the denominator of the MASE (Hyndman and Koehler 2006, with
    ``period = 1`` for the non-seasonal version).
    """
    values = _as_series(train, "train")
    check_positive_int(period, "period")
    if len(values) <= period:
        raise ValueError(f"train needs more than period={period} values, got {len(values)}")
    scale = float(np.mean(np.abs(values[period:] - values[:-period])))
    if scale == 0.0:
        raise ValueError("the seasonal-naive error on train is 0 (a perfectly periodic "
                         "series): the MASE is undefined")
    return scale


def mase(actual, forecast, scale: float) -> float:
    """Mean absolute scaled error: ``mae(actual, forecast) / scale``.

    With ``scale = seasonal_naive_scale(train, period)``, a MASE below 1 means
    the forecast's errors are smaller than those the seasonal-naive method
    made, one season ahead, on the training data.
    """
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    return mae(actual, forecast) / scale


# ---------------------------------------------------------------- intervals

def residual_intervals(residuals, level: float = 0.9) -> np.ndarray:
    """Half-widths of symmetric intervals, one per horizon step, from past residuals.

    ``residuals`` has shape ``(origins, horizon)`` (actual minus forecast, on
    data the model was not fitted to, e.g. the validation split). Step ``h``
    gets the ``level`` quantile of ``|residuals[:, h]|``, so that about a
    ``level`` share of future errors at that step falls inside
    ``forecast +- half_width`` if they behave like the past ones.
    """
    residuals = np.asarray(residuals, dtype=np.float64)
    if residuals.ndim != 2 or residuals.shape[0] < 2:
        raise ValueError(f"residuals must have shape (origins, horizon) with at least 2 "
                         f"origins, got {residuals.shape}")
    if not np.all(np.isfinite(residuals)):
        raise ValueError("residuals hold NaN or infinite values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return np.quantile(np.abs(residuals), level, axis=0)


def coverage(actual, lower, upper) -> float:
    """The share of ``actual`` values that lie in ``[lower, upper]``."""
    actual, lower = _pair(actual, lower)
    _, upper = _pair(actual, upper)
    if np.any(lower > upper):
        raise ValueError("lower must not exceed upper")
    return float(np.mean((actual >= lower) & (actual <= upper)))
