"""Real datasets that ship inside scikit-learn (no download)."""
from __future__ import annotations

import numpy as np

from companion.data.core import Split, split


def digits(*, val_size: float = 0.2, test_size: float = 0.2, flatten: bool = True,
           seed: int = 0) -> Split:
    """The UCI handwritten digits: 1,797 greyscale images of 8x8 pixels, 10 classes.

    Pixel values (0 to 16) are scaled to [0, 1]. With ``flatten=True`` each image
    is a vector of 64 features (for an MLP); otherwise ``(n, 8, 8)``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    if flatten:
        x = x.reshape(len(x), -1)
    return split(x, bunch.target.astype(np.int64), val_size=val_size,
                 test_size=test_size, seed=seed)
