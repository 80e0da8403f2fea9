"""Weight initialization schemes from scratch (chapter "Training deep networks").

Every function returns a kernel of shape ``(fan_in, fan_out)``, the layout of
a Keras ``Dense`` kernel; transpose it for a PyTorch ``nn.Linear`` weight,
which is stored as ``(out_features, in_features)``.

The schemes, for a layer with ``fan_in`` inputs and ``fan_out`` outputs:

=================  =====================================  =============================
scheme             variance of each weight                 distribution
=================  =====================================  =============================
Xavier / Glorot    ``2 / (fan_in + fan_out)``              normal, or uniform on
                                                           ``[-a, a]`` with ``a = sqrt(3 var)``
He / Kaiming       ``2 / fan_in``                          normal or uniform, same rule
PyTorch Linear     ``1 / (3 fan_in)``                      uniform on
default                                                    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
=================  =====================================  =============================

A uniform distribution on ``[-a, a]`` has variance ``a**2 / 3``, which is
where the ``sqrt(3 var)`` comes from.
"""
from __future__ import annotations

import math

import numpy as np

SCHEMES = ("xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "torch_default")


def _check_fans(fan_in, fan_out) -> tuple[int, int]:
    for name, value in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(fan_in), int(fan_out)


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    raise ValueError(f"rng must be None, an integer seed or a numpy Generator, got {rng!r}")


def target_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation that ``scheme`` gives every weight of a ``fan_in x fan_out`` layer."""
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    if scheme.startswith("xavier"):
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme.startswith("he"):
        return math.sqrt(2.0 / fan_in)
    if scheme == "torch_default":
        return 1.0 / math.sqrt(3.0 * fan_in)
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {list(SCHEMES)}")


def uniform_limit(scheme: str, fan_in: int, fan_out: int) -> float:
    """The bound ``a`` of the uniform version of ``scheme``: ``a = sqrt(3) * std``."""
    return math.sqrt(3.0) * target_std(scheme, fan_in, fan_out)


def xavier_uniform(fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """Glorot and Bengio (2010): U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))``."""
    a = uniform_limit("xavier_uniform", fan_in, fan_out)
    return _rng(rng).uniform(-a, a, size=(fan_in, fan_out))


def xavier_normal(fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """Glorot and Bengio (2010): N(0, 2 / (fan_in + fan_out)), not truncated."""
    std = target_std("xavier_normal", fan_in, fan_out)
    return _rng(rng).normal(0.0, std, size=(fan_in, fan_out))


def he_uniform(fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """He et al. (2015): U(-a, a) with ``a = sqrt(6 / fan_in)``, for ReLU layers."""
    a = uniform_limit("he_uniform", fan_in, fan_out)
    return _rng(rng).uniform(-a, a, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in), not truncated, for ReLU layers."""
    std = target_std("he_normal", fan_in, fan_out)
    return _rng(rng).normal(0.0, std, size=(fan_in, fan_out))


def torch_default(fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """What ``torch.nn.Linear`` does: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    PyTorch writes it as ``kaiming_uniform_(w, a=sqrt(5))``: the gain for a
    leaky ReLU of slope ``a`` is ``sqrt(2 / (1 + a**2)) = sqrt(1/3)``, and the
    bound ``gain * sqrt(3 / fan_in)`` is then ``1 / sqrt(fan_in)``.
    """
    a = uniform_limit("torch_default", fan_in, fan_out)
    return _rng(rng).uniform(-a, a, size=(fan_in, fan_out))


def normal(fan_in: int, fan_out: int, std: float, rng=None) -> np.ndarray:
    """A fixed-scale N(0, std**2) kernel, ignoring the fans (the "naive" baseline)."""
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    return _rng(rng).normal(0.0, std, size=(fan_in, fan_out))


def initialize(scheme: str, fan_in: int, fan_out: int, rng=None) -> np.ndarray:
    """Dispatch by name: one of ``SCHEMES``."""
    functions = {"xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
                 "he_uniform": he_uniform, "he_normal": he_normal,
                 "torch_default": torch_default}
    if scheme not in functions:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of {list(SCHEMES)}")
    return functions[scheme](fan_in, fan_out, rng)


def mlp_kernels(widths, scheme, rng=None) -> list[np.ndarray]:
    """Kernels for an MLP with layer sizes ``widths`` (e.g. ``[64, 64, 64, 10]``).

    ``scheme`` is a name from ``SCHEMES`` or a float: the standard deviation
    of a fixed-scale normal initialization. One generator is used for all
    layers, so a seed gives the same network every time.
    """
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output size, got {widths}")
    rng = _rng(rng)
    kernels = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        if isinstance(scheme, str):
            kernels.append(initialize(scheme, fan_in, fan_out, rng))
        else:
            kernels.append(normal(fan_in, fan_out, float(scheme), rng))
    return kernels
