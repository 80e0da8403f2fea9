"""Companion package of the executable deep-learning textbook.

Every model of the book exists twice, with the same class name, the same
constructor arguments and the same layer order:

* ``companion.torch``  - PyTorch implementations and a readable training loop;
* ``companion.keras``  - Keras 3 implementations (backend-agnostic) and ``fit``;
* ``companion.numpy``  - from-scratch NumPy references used as test oracles;
* ``companion.data``   - every dataset the book uses, as NumPy arrays, offline;
* ``companion.parity`` - copies weights from a PyTorch model to its Keras twin;
  ``companion.trainable_parameters(model)`` counts a model's trainable
  parameters the same way in both frameworks (Keras's ``count_params()``
  also counts BatchNorm's moving statistics);
* ``companion.results`` - the results table of the application studies (Part IX);
* ``companion.plots``  - shared figures;
* ``companion.registry`` - the list of models that the tests iterate over;
* ``companion.scaling``, ``companion.distributed``, ``companion.engines`` - the
  checks, the data-parallel workers and the engine timings of the appendix
  *From one device to many*.

The frameworks are imported lazily: ``import companion`` alone pulls in neither.
"""
import os

# Quieten TensorFlow's C++ start-up logging before any chapter imports Keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO off; warnings and errors stay
# The chapters check that PyTorch, Keras and NumPy agree to float32 precision.
# On NVIDIA GPUs from Ampere on, TensorFlow (and cuDNN) default to TF32 tensor
# cores, which round matrix-product inputs to 10 mantissa bits; this NVIDIA
# variable turns that off for every framework in the process (no effect on CPUs).
os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")

from companion.config import Profile, device, profile, set_seed
from companion.parity import trainable_parameters

__all__ = ["Profile", "device", "profile", "set_seed", "trainable_parameters"]
__version__ = "0.2.0"   # also in CITATION.cff, CHANGELOG.md and book/intro.md (tests/test_release.py)
