"""Image datasets of part III: layouts, dtypes, determinism, and MNIST's IDX parsing (no network)."""
import gzip
import struct

import numpy as np
import pytest

from companion import data
from companion.data import images


def test_digits32_is_nchw_float32_in_unit_range():
    d = data.digits32(seed=0)
    assert d.x_train.shape[1:] == (1, 32, 32) and d.x_train.dtype == np.float32
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == set(range(10))
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.x_train[:, :, :4].max() == 0.0            # a blank margin, like MNIST in LeNet-5
    assert np.array_equal(d.x_test, data.digits32(seed=0).x_test)
    with pytest.raises(ValueError, match="size"):
        data.digits32(size=20)


def test_shapes_dataset_is_balanced_seeded_and_coloured():
    s = data.shapes(400, seed=1)
    assert s.x_train.shape[1:] == (3, 32, 32) and s.x_train.dtype == np.float32
    assert s.y_train.dtype == np.int64
    counts = np.bincount(np.concatenate([s.y_train, s.y_val, s.y_test]))
    assert counts.tolist() == [100] * 4
    assert np.array_equal(s.x_train, data.shapes(400, seed=1).x_train)
    assert not np.array_equal(s.x_train, data.shapes(400, seed=2).x_train)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.shapes(0)
    with pytest.raises(ValueError, match="noise"):
        data.shapes(10, noise=-1.0)


def test_channels_last_transposes_every_part():
    s = data.channels_last(data.shapes(40, seed=0))
    assert s.x_train.shape[1:] == (32, 32, 3) and s.x_test.shape[1:] == (32, 32, 3)
    with pytest.raises(ValueError, match="NCHW"):
        data.channels_last(data.digits(flatten=True))


def _write_idx(path, array: np.ndarray, gz: bool = True):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def test_read_idx_on_small_files(tmp_path):
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    labels = np.array([7, 2, 1])
    _write_idx(tmp_path / "imgs.gz", imgs)
    _write_idx(tmp_path / "labels", labels, gz=False)
    assert np.array_equal(data.read_idx(tmp_path / "imgs.gz"), imgs)
    assert np.array_equal(data.read_idx(tmp_path / "labels"), labels)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rubbish")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    _write_idx(tmp_path / "short", imgs, gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-5])
    with pytest.raises(ValueError, match="header says"):
        data.read_idx(tmp_path / "short")


def test_mnist_from_arrays_pads_scales_and_splits():
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 256, (10, 28, 28))
    s = images.mnist_from_arrays(tr, np.arange(50) % 10, te, np.arange(10), val_size=10)
    assert s.x_train.shape == (40, 1, 32, 32) and s.x_val.shape == (10, 1, 32, 32)
    assert s.x_test.dtype == np.float32 and s.x_test.max() <= 1.0 and s.y_test.dtype == np.int64
    np.testing.assert_allclose(s.x_test[:, 0, 2:30, 2:30], te / 255.0, atol=1e-6)


def test_mnist_verifies_checksums_and_reports_offline(tmp_path, monkeypatch):
    """No network: a cached file with the wrong hash and a failed download both fail clearly."""
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(images.urllib.request, "urlretrieve", offline)
    with pytest.raises(RuntimeError, match="could not download MNIST"):
        data.mnist(cache_dir=tmp_path)
    (tmp_path / "mnist").mkdir(exist_ok=True)
    for name in images.MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(b"not mnist")
    with pytest.raises(RuntimeError, match="wrong SHA-256"):
        data.mnist(cache_dir=tmp_path)
