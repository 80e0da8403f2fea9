"""The real-data loaders of Part IX read files that installed packages ship (no download)."""
import builtins

import numpy as np
import pytest

from companion import data


def test_mnist5k_is_500_real_digits_per_class_split_three_ways():
    s = data.mnist5k(seed=0)
    assert s.x_train.shape == (3000, 1, 28, 28) and s.x_test.shape == (1000, 1, 28, 28)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    assert 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    labels = np.concatenate([s.y_train, s.y_val, s.y_test])
    assert np.bincount(labels).tolist() == [500] * 10
    # a real digit has ink in the middle and none in the corners
    mean = s.x_train.mean(axis=0)[0]
    assert mean[10:18, 10:18].mean() > 0.2 and mean[:3, :3].max() == 0.0
    flat = data.mnist5k(flatten=True, seed=0)
    np.testing.assert_array_equal(flat.x_train, s.x_train.reshape(3000, 784))


def test_tweets_first_rows_and_label_mapping():
    t = data.tweets()
    assert t.classes == ("negative", "positive") and set(np.unique(t.labels)) == {0, 1}
    assert t.texts[0].startswith("I just don't trust my life in google") and t.labels[0] == 0
    assert len(set(t.texts)) == len(t)                    # repeated texts kept once
    three = data.tweets(data.TWEET_CLASSES)
    assert set(np.unique(three.labels)) == {0, 1, 2} and len(three) > len(t)
    swapped = data.tweets(("positive", "negative"))
    assert swapped.labels[0] == 1                         # the order of classes sets the ids
    confident = data.tweets(min_confidence=0.9)
    assert len(confident) < len(t) and confident.confidence.min() >= 0.9
    assert "negative" in repr(t)


@pytest.mark.parametrize("bad", [("negative",), ("negative", "angry"), ("positive", "positive")])
def test_tweets_rejects_unknown_or_too_few_classes(bad):
    with pytest.raises(ValueError, match="classes must be"):
        data.tweets(bad)


def test_electricity_demand_has_a_daily_and_weekly_cycle():
    s = data.electricity_demand()
    assert len(s) == 4032 and s.values.dtype == np.float32 and s.unit == "MW"
    assert s.values[:3].tolist() == [22262.0, 21756.0, 22247.0]
    assert s.time[48] == 1.0
    x = s.values - s.values.mean()
    day = np.corrcoef(x[:-48], x[48:])[0, 1]
    half_day = np.corrcoef(x[:-24], x[24:])[0, 1]
    assert day > 0.8 and half_day < day


def test_shuttle_has_nine_sensors_and_seven_percent_anomalies():
    x, y = data.shuttle()
    assert x.shape == (49097, 9) and x.dtype == np.float32 and y.sum() == 3511
    sub_x, sub_y = data.shuttle(max_rows=2000, seed=1)
    assert sub_x.shape == (2000, 9) and 0.06 < sub_y.mean() < 0.08
    again_x, _ = data.shuttle(max_rows=2000, seed=1)
    np.testing.assert_array_equal(sub_x, again_x)
    with pytest.raises(ValueError, match="max_rows"):
        data.shuttle(max_rows=1)


def test_a_missing_package_names_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_river(name, *args, **kwargs):
        if name.startswith("river"):
            raise ImportError("No module named 'river'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_river)
    import sys
    for mod in [m for m in sys.modules if m == "river" or m.startswith("river.")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(ImportError, match="pip install river"):
        data.shuttle()
