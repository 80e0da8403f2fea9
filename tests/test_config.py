import numpy as np
import pytest

import companion
from companion.config import Profile


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert companion.profile().name == "full"
    monkeypatch.setenv("COMPANION_PROFILE", " Quick ")
    assert companion.profile().quick


def test_profile_default_follows_cuda(monkeypatch):
    import torch

    monkeypatch.delenv("COMPANION_PROFILE", raising=False)
    expected = "full" if torch.cuda.is_available() else "quick"
    assert companion.profile().name == expected


def test_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick.*full"):
        companion.profile()
    with pytest.raises(ValueError):
        Profile("medium")


def test_pick():
    assert Profile("quick").pick(quick=1, full=2) == 1
    assert Profile("full").pick(quick=1, full=2) == 2


def test_set_seed_makes_numpy_and_torch_repeat():
    import torch

    companion.set_seed(7)
    a = (np.random.rand(3), torch.rand(3))
    companion.set_seed(7)
    b = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])


@pytest.mark.keras_backend_agnostic
def test_set_seed_makes_keras_repeat():
    import keras

    companion.set_seed(3)
    a = keras.ops.convert_to_numpy(keras.random.normal((4,)))
    companion.set_seed(3)
    b = keras.ops.convert_to_numpy(keras.random.normal((4,)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        companion.set_seed(bad)


def test_device_is_a_known_torch_device():
    import torch

    name = companion.device()
    assert name in {"cuda", "mps", "cpu"}
    torch.zeros(1, device=name)  # usable
