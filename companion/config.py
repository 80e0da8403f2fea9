"""Run-time configuration shared by every chapter: profile, seeds, device."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Profile:
    """The active profile.

    ``quick`` runs every notebook in about a minute on a laptop CPU;
    ``full`` trains at the sizes whose numbers the published book prints.
    A chapter states its sizes once, through :meth:`pick`::

        P = companion.profile()
        epochs = P.pick(quick=20, full=100)
    """

    name: str

    def __post_init__(self):
        if self.name not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.name!r}")

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick, full):
        """Return ``quick`` or ``full`` depending on the active profile."""
        return quick if self.quick else full

    def __str__(self) -> str:
        return self.name


def _cuda_visible() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return torch.cuda.is_available()


def profile() -> Profile:
    """The profile chosen by ``COMPANION_PROFILE`` (``quick`` or ``full``).

    Without the variable the default is ``full`` when a CUDA GPU is visible
    and ``quick`` otherwise.
    """
    name = os.environ.get("COMPANION_PROFILE", "").strip().lower()
    if not name:
        name = "full" if _cuda_visible() else "quick"
    if name not in PROFILES:
        raise ValueError(
            f"COMPANION_PROFILE must be one of {PROFILES}, got {name!r}"
        )
    return Profile(name)


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy, PyTorch and Keras so that a rerun prints the same numbers.

    Frameworks that are not installed are skipped. Keras's
    ``set_random_seed`` also seeds the backend (TensorFlow, JAX or PyTorch).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def device() -> str:
    """The best PyTorch device available: ``"cuda"``, ``"mps"`` or ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
