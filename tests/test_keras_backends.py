"""The Keras code is backend-agnostic: its tests also pass on the PyTorch backend.

(The JAX run is in ``test_keras_backend_jax.py``, so that each xdist worker takes one.)
"""
from tests.keras_backends import active_backend, run_agnostic_tests


def test_keras_tests_pass_with_the_torch_backend():
    run_agnostic_tests("torch")


def test_the_subprocess_really_uses_the_torch_backend():
    assert active_backend("torch").splitlines()[0].endswith("torch")
