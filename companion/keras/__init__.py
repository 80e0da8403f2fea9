"""Keras 3 implementations of the book's models, and their training via ``fit``.

Only backend-agnostic Keras APIs are used (``keras.layers``, ``keras.ops``,
``keras.random``), so everything runs on the TensorFlow, JAX or PyTorch backend.
"""
from companion.keras.feedforward import MLP
from companion.keras.training import evaluate, predict, train

__all__ = ["MLP", "evaluate", "predict", "train"]
