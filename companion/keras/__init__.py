"""Keras 3 implementations of the book's models, and their training via ``fit``.

Only backend-agnostic Keras APIs are used (``keras.layers``, ``keras.ops``,
``keras.random``), so everything runs on the TensorFlow, JAX or PyTorch backend.
"""
from companion.keras.feedforward import (MLP, ExtremeLearningMachine, FunctionalLinkNet,
                                         HighwayLayer, HighwayNetwork, Perceptron, RBFLayer,
                                         RBFNetwork, TrigExpansion)
from companion.keras.training import evaluate, predict, train, train_perceptron

__all__ = [
    "MLP", "ExtremeLearningMachine", "FunctionalLinkNet", "HighwayLayer", "HighwayNetwork",
    "Perceptron", "RBFLayer", "RBFNetwork", "TrigExpansion", "evaluate", "predict", "train", "train_perceptron",
]
