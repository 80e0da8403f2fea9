"""Keras 3 implementations of the book's models, and their training via ``fit``.

Only backend-agnostic Keras APIs are used (``keras.layers``, ``keras.ops``,
``keras.random``), so everything runs on the TensorFlow, JAX or PyTorch backend.
"""
from companion.keras.cnn import (AlexNet, BasicBlock, Bottleneck, InceptionModule, LeNet5, ResNet,
                                 SmallAlexNet, VGGBlock)
from companion.keras.feedforward import MLP
from companion.keras.training import evaluate, predict, train

__all__ = ["AlexNet", "BasicBlock", "Bottleneck", "InceptionModule", "LeNet5", "MLP", "ResNet",
           "SmallAlexNet", "VGGBlock", "evaluate", "predict", "train"]
