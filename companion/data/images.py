"""Image datasets for the convolutional chapters (part III), as NumPy arrays.

Images come in PyTorch's NCHW layout, ``(n, channels, height, width)``,
float32 in [0, 1], with int64 labels; :func:`channels_last` converts a whole
split to Keras's NHWC layout.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from companion.checks import check_positive_int
from companion.data.core import Split, split


def channels_last(data: Split) -> Split:
    """The same split with every image array transposed from NCHW to NHWC."""
    t = lambda x: np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # noqa: E731
    for name in ("x_train", "x_val", "x_test"):
        if getattr(data, name).ndim != 4:
            raise ValueError(f"channels_last expected NCHW images, got {name} of shape "
                             f"{getattr(data, name).shape}")
    return Split(t(data.x_train), data.y_train, t(data.x_val), data.y_val,
                 t(data.x_test), data.y_test)


def digits32(*, size: int = 32, val_size: float = 0.2, test_size: float = 0.2,
             seed: int = 0) -> Split:
    """scikit-learn's 8x8 digits, enlarged and padded to ``size x size`` (NCHW, 1 channel).

    Each image is upsampled 3x with bilinear interpolation (8x8 -> 24x24) and
    centred on a blank ``size x size`` canvas, like MNIST's digits sit inside
    LeNet-5's 32x32 input with a margin of blank pixels.
    """
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    if isinstance(size, bool) or not isinstance(size, int) or size < 24:
        raise ValueError(f"size must be an integer of at least 24, got {size!r}")
    bunch = load_digits()
    small = (bunch.images / 16.0).astype(np.float32)
    big = np.clip(zoom(small, (1, 3, 3), order=1), 0.0, 1.0)       # (n, 24, 24)
    lo = (size - 24) // 2
    x = np.zeros((len(big), 1, size, size), dtype=np.float32)
    x[:, 0, lo:lo + 24, lo:lo + 24] = big
    return split(x, bunch.target.astype(np.int64), val_size=val_size, test_size=test_size,
                 seed=seed)


SHAPES = ("circle", "square", "triangle", "cross")


def shapes(n: int = 2000, *, size: int = 32, noise: float = 0.1, val_size: float = 0.2,
           test_size: float = 0.2, seed: int = 0) -> Split:
    """Procedural colour images of four shapes (circle, square, triangle, cross), NCHW.

    Every image has a random background colour, one shape of random colour,
    size and position, and Gaussian pixel noise; the label is the shape, so
    colour and position are nuisances the network must learn to ignore.
    """
    check_positive_int(n, "n")
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer of at least 16, got {size!r}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    x = np.empty((n, 3, size, size), dtype=np.float32)
    y = np.arange(n) % len(SHAPES)
    rng.shuffle(y)
    for i, label in enumerate(y):
        r = rng.uniform(0.18, 0.32) * size                     # half-size of the shape
        cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
        dx, dy = xx - cx, yy - cy
        if SHAPES[label] == "circle":
            mask = dx ** 2 + dy ** 2 <= r ** 2
        elif SHAPES[label] == "square":
            mask = (np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r)
        elif SHAPES[label] == "triangle":                      # apex up
            mask = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
        else:                                                  # cross
            mask = ((np.abs(dx) <= r / 3) | (np.abs(dy) <= r / 3)) & \
                   (np.abs(dx) <= r) & (np.abs(dy) <= r)
        background, colour = rng.uniform(0, 1, size=3), rng.uniform(0, 1, size=3)
        while np.abs(colour - background).sum() < 0.6:         # keep the shape visible
            colour = rng.uniform(0, 1, size=3)
        img = np.where(mask[None], colour[:, None, None], background[:, None, None])
        x[i] = img + rng.normal(0.0, noise, size=img.shape)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return split(x, y.astype(np.int64), val_size=val_size, test_size=test_size, seed=seed)


# ---------------------------------------------------------------- MNIST (full profile)

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_FILES = {  # file name -> SHA-256 of the gzip file
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise ValueError(f"{path}: header says {dims} items of {dtype}, "
                         f"but the file holds {len(body)} bytes of data")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(name: str, cache: Path) -> Path:
    target = cache / name
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            urllib.request.urlretrieve(MNIST_URL + name, target.with_suffix(".part"))
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(
                f"could not download MNIST's {name} from {MNIST_URL} ({exc}). MNIST is only "
                f"used in the full profile; without a network, use the quick profile "
                f"(COMPANION_PROFILE=quick, scikit-learn's digits) or copy the four files "
                f"into {cache}") from exc
        target.with_suffix(".part").rename(target)
    if sha256(target) != MNIST_FILES[name]:
        raise RuntimeError(f"{target} has the wrong SHA-256 (corrupted or partial download); "
                           f"delete it and try again")
    return target


def mnist(*, val_size: int = 10_000, pad_to: int = 32, cache_dir=None, seed: int = 0) -> Split:
    """MNIST (60,000 training + 10,000 test digits), NCHW float32, padded to ``pad_to``.

    Downloaded once into ``cache_dir`` (default ``$COMPANION_DATA`` or
    ``~/.cache/companion/mnist``) and checked against SHA-256 sums. The last
    ``val_size`` training images (after a seeded shuffle) form the validation set.
    """
    if pad_to < 28:
        raise ValueError(f"pad_to must be at least 28, got {pad_to}")
    if not 0 < val_size < 60_000:
        raise ValueError(f"val_size must be between 1 and 59,999, got {val_size}")
    cache = Path(cache_dir or os.environ.get("COMPANION_DATA",
                                             Path.home() / ".cache" / "companion")) / "mnist"
    arrays = {name: read_idx(_fetch(name, cache)) for name in MNIST_FILES}
    return mnist_from_arrays(arrays["train-images-idx3-ubyte.gz"],
                             arrays["train-labels-idx1-ubyte.gz"],
                             arrays["t10k-images-idx3-ubyte.gz"],
                             arrays["t10k-labels-idx1-ubyte.gz"],
                             val_size=val_size, pad_to=pad_to, seed=seed)


def mnist_from_arrays(train_images, train_labels, test_images, test_labels, *,
                      val_size: int, pad_to: int = 32, seed: int = 0) -> Split:
    """Scale, pad and split raw MNIST arrays (uint8 images, labels) into a Split."""
    def prepare(images):
        images = np.asarray(images, dtype=np.float32) / 255.0
        pad = (pad_to - images.shape[-1]) // 2
        images = np.pad(images, ((0, 0), (pad, pad_to - images.shape[-1] - pad),
                                 (pad, pad_to - images.shape[-2] - pad)))
        return images[:, None]                      # add the channel axis: NCHW

    x, y = prepare(train_images), np.asarray(train_labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return Split(x[:-val_size], y[:-val_size], x[-val_size:], y[-val_size:],
                 prepare(test_images), np.asarray(test_labels, dtype=np.int64))


# ---------------------------------------------------------------- augmentation

def _axes(layout: str) -> tuple[int, int]:
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"unknown layout {layout!r}; expected one of ['NCHW', 'NHWC']")
    return (2, 3) if layout == "NCHW" else (1, 2)


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 2,
                 layout: str = "NCHW") -> np.ndarray:
    """Shift every image by up to ``max_shift`` pixels in each direction, filling with zeros."""
    h_axis, w_axis = _axes(layout)
    x = np.asarray(x)
    out = np.zeros_like(x)
    pad = [(0, 0)] * x.ndim
    pad[h_axis] = pad[w_axis] = (max_shift, max_shift)
    padded = np.pad(x, pad)
    h, w = x.shape[h_axis], x.shape[w_axis]
    for i, (dy, dx) in enumerate(rng.integers(0, 2 * max_shift + 1, size=(len(x), 2))):
        window = [slice(None)] * (x.ndim - 1)
        window[h_axis - 1], window[w_axis - 1] = slice(dy, dy + h), slice(dx, dx + w)
        out[i] = padded[i][tuple(window)]
    return out


def random_flip(x: np.ndarray, rng: np.random.Generator, layout: str = "NCHW") -> np.ndarray:
    """Mirror a random half of the images left to right."""
    _, w_axis = _axes(layout)
    x = np.array(x, copy=True)
    flip = rng.random(len(x)) < 0.5
    x[flip] = np.flip(x[flip], axis=w_axis)
    return x
