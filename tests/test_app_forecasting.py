"""The forecasting study (book/applications/forecasting.md): metrics, baselines, windows,
intervals (companion.forecasting) and the TimeSeriesTransformer twins."""
import math

import keras
import numpy as np
import pytest
import torch

from companion import forecasting as fc
from companion import parity

# ---------------------------------------------------------------- metrics, by hand


def test_mae_and_rmse_match_hand_computed_values():
    actual, forecast = [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]      # errors -1, 0, -2
    assert fc.mae(actual, forecast) == pytest.approx(1.0)
    assert fc.rmse(actual, forecast) == pytest.approx(math.sqrt(5 / 3))
    assert fc.rmse(actual, forecast) >= fc.mae(actual, forecast)


def test_seasonal_naive_scale_and_mase_by_hand():
    train = [1.0, 2.0, 4.0, 7.0, 11.0]                        # lag-2 differences 3, 5, 7
    assert fc.seasonal_naive_scale(train, 2) == pytest.approx(5.0)
    assert fc.seasonal_naive_scale(train, 1) == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert fc.mase([10.0, 20.0], [12.0, 17.0], scale=5.0) == pytest.approx(2.5 / 5.0)


def test_the_seasonal_naive_forecast_has_mase_one_on_its_own_training_data():
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(200) * 2 * np.pi / 12) + rng.normal(0, 0.3, 200) + np.arange(200) * 0.01
    scale = fc.seasonal_naive_scale(y, 12)
    forecast = np.array([fc.seasonal_naive_forecast(y[:t], 1, 12)[0] for t in range(12, 200)])
    assert fc.mase(y[12:], forecast, scale) == pytest.approx(1.0)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        fc.mae([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        fc.rmse([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        fc.mase([1.0], [1.0], scale=0.0)
    with pytest.raises(ValueError, match="undefined"):
        fc.seasonal_naive_scale([1.0, 2.0, 1.0, 2.0], 2)      # perfectly periodic
    with pytest.raises(ValueError, match="more than period"):
        fc.seasonal_naive_scale([1.0, 2.0], 2)


# ---------------------------------------------------------------- baselines and windows

def test_naive_and_seasonal_naive_forecasts_by_hand():
    history = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    np.testing.assert_array_equal(fc.naive_forecast(history, 3), [7.0, 7.0, 7.0])
    np.testing.assert_array_equal(fc.seasonal_naive_forecast(history, 2, 3), [5.0, 6.0])
    # longer than a season: the last season repeats
    np.testing.assert_array_equal(fc.seasonal_naive_forecast(history, 5, 3), [5, 6, 7, 5, 6])
    with pytest.raises(ValueError, match="shorter than one season"):
        fc.seasonal_naive_forecast(history, 2, 8)
    with pytest.raises(ValueError, match="horizon"):
        fc.naive_forecast(history, 0)


def test_windows_and_rolling_origins():
    y = np.arange(20.0)
    origins = fc.rolling_origins(10, 20, 4, every=3)
    np.testing.assert_array_equal(origins, [10, 13, 16])         # 16 + 4 = 20 still fits
    x, t = fc.windows(y, origins, lookback=5, horizon=4)
    assert x.shape == (3, 5) and t.shape == (3, 4)
    np.testing.assert_array_equal(x[1], [8, 9, 10, 11, 12])      # the input ends before the origin
    np.testing.assert_array_equal(t[1], [13, 14, 15, 16])        # the target starts at it
    with pytest.raises(ValueError, match="origins must lie"):
        fc.windows(y, [3], lookback=5, horizon=4)
    with pytest.raises(ValueError, match="origins must lie"):
        fc.windows(y, [18], lookback=5, horizon=4)
    with pytest.raises(ValueError, match="no origin"):
        fc.rolling_origins(18, 20, 4, every=1)


def test_the_real_series_seasonal_naive_scale():
    pytest.importorskip("pmdarima")
    from companion import data

    y = data.electricity_demand().values.astype(np.float64)
    weekly, daily = fc.seasonal_naive_scale(y[:2688], 336), fc.seasonal_naive_scale(y[:2688], 48)
    assert 500 < weekly < 560 and daily > 3 * weekly       # weekends: yesterday is a poor guide


# ---------------------------------------------------------------- intervals

def test_residual_intervals_are_per_step_quantiles_of_absolute_residuals():
    residuals = np.array([[1.0, -10.0], [-2.0, 20.0], [3.0, -30.0], [-4.0, 40.0], [5.0, -50.0]])
    half = fc.residual_intervals(residuals, level=0.5)
    np.testing.assert_allclose(half, [3.0, 30.0])                # medians of |column|
    np.testing.assert_allclose(fc.residual_intervals(residuals, level=0.75), [4.0, 40.0])
    with pytest.raises(ValueError, match="level"):
        fc.residual_intervals(residuals, level=1.0)
    with pytest.raises(ValueError, match="origins, horizon"):
        fc.residual_intervals(np.ones(5))


def test_coverage_by_hand_and_calibrated_intervals_cover_new_data():
    assert fc.coverage([1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 2.0, 4.0], [2.0, 3.0, 3.5, 4.0]) == 0.75
    with pytest.raises(ValueError, match="lower"):
        fc.coverage([1.0], [2.0], [0.0])
    rng = np.random.default_rng(1)
    scale = np.linspace(1, 3, 6)                                # errors grow with the step
    half = fc.residual_intervals(rng.normal(size=(4000, 6)) * scale, level=0.9)
    new = rng.normal(size=(4000, 6)) * scale
    assert abs(fc.coverage(new, -np.broadcast_to(half, new.shape), np.broadcast_to(half, new.shape))
               - 0.9) < 0.01
    assert np.all(np.diff(half) > 0)


# ---------------------------------------------------------------- TimeSeriesTransformer

KWARGS = dict(input_size=3, output_size=2, d_model=8, heads=2, layers=2, d_ff=16, max_len=6)


def _twins(**extra):
    from companion.keras.forecasting import TimeSeriesTransformer as KerasModel
    from companion.torch.forecasting import TimeSeriesTransformer as TorchModel

    torch.manual_seed(0)
    t, k = TorchModel(**KWARGS, **extra).eval(), KerasModel(**KWARGS, **extra)
    parity.copy_torch_to_keras(t, k)
    return t, k


def test_sequence_output_ends_with_the_last_step_output_in_both_frameworks():
    t_last, k_last = _twins()
    t_seq, k_seq = _twins(return_sequences=True)
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    with torch.no_grad():
        last, seq = t_last(torch.from_numpy(x)).numpy(), t_seq(torch.from_numpy(x)).numpy()
    assert last.shape == (4, 2) and seq.shape == (4, 5, 2)
    np.testing.assert_allclose(seq[:, -1], last, atol=1e-6)
    k_out = keras.ops.convert_to_numpy(k_seq(x))
    np.testing.assert_allclose(k_out, seq, atol=1e-5)


def test_positions_make_the_order_of_the_steps_matter():
    model, _ = _twins(return_sequences=True)
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(2, 5, 3)).astype(np.float32))
    perm = torch.tensor([4, 2, 0, 1, 3])
    with torch.no_grad():
        out, permuted = model(x), model(x[:, perm])
        # without the position table, bidirectional attention is permutation-equivariant
        model.positions.zero_()
        plain, plain_permuted = model(x), model(x[:, perm])
    torch.testing.assert_close(plain[:, perm], plain_permuted, atol=1e-5, rtol=1e-5)
    assert (out[:, perm] - permuted).abs().max() > 1e-3


def test_attention_weights_and_input_checks_in_both_frameworks():
    t, k = _twins()
    x = np.zeros((2, 4, 3), dtype=np.float32)
    _, weights = t(torch.from_numpy(x), return_weights=True)
    assert len(weights) == 2 and tuple(weights[0].shape) == (2, 2, 4, 4)
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(2, 2, 4))
    for model, make in ((t, torch.from_numpy), (k, lambda a: a)):
        with pytest.raises(ValueError, match=r"\(batch, steps, 3\).*max_len=6"):
            model(make(np.zeros((2, 7, 3), dtype=np.float32)))
        with pytest.raises(ValueError, match=r"\(batch, steps, 3\)"):
            model(make(np.zeros((2, 4, 4), dtype=np.float32)))
        with pytest.raises(ValueError, match="floating-point"):
            model(make(np.zeros((2, 4, 3), dtype=np.int64)))


def test_bad_constructor_arguments():
    from companion.keras.forecasting import TimeSeriesTransformer as KerasModel
    from companion.torch.forecasting import TimeSeriesTransformer as TorchModel

    for cls in (TorchModel, KerasModel):
        with pytest.raises(ValueError, match="divisible"):
            cls(input_size=3, d_model=10, heads=4)
        with pytest.raises(ValueError, match="dropout"):
            cls(input_size=3, dropout=1.0)
        with pytest.raises(ValueError, match="input_size"):
            cls(input_size=0)


def test_the_transformer_learns_a_seasonal_forecast_in_both_frameworks():
    """A noisy daily pattern laid out as the study does: the loss must fall well below
    that of predicting zero (the mean of the targets)."""
    import companion.keras as ck
    import companion.torch as ct
    from companion.keras.forecasting import TimeSeriesTransformer as KerasModel
    from companion.torch.forecasting import TimeSeriesTransformer as TorchModel

    rng = np.random.default_rng(0)
    period, days = 8, 4
    phase = rng.uniform(0, 2 * np.pi, size=(256, 1))
    t = np.arange(period * (days + 1))
    series = np.sin(2 * np.pi * t / period + phase) + rng.normal(0, 0.1, (256, len(t)))
    past = series[:, :period * days].reshape(256, days, period).transpose(0, 2, 1)
    future = series[:, period * days:][..., None]
    x, y = past.astype(np.float32), future.astype(np.float32)
    baseline = float(np.mean(y ** 2))
    fit = dict(epochs=15, lr=1e-2, batch_size=32, loss="mse", progress=False)
    kwargs = dict(input_size=days, output_size=1, d_model=8, heads=2, layers=1, d_ff=16,
                  max_len=period, return_sequences=True)
    torch.manual_seed(0)
    history = ct.train(TorchModel(**kwargs), (x, y), **fit)
    assert history["loss"][-1] < 0.2 * baseline < history["loss"][0]
    history = ck.train(KerasModel(**kwargs), (x, y), **fit)
    assert history["loss"][-1] < 0.2 * baseline
