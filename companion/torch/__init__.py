"""PyTorch implementations of the book's models, and the training loops."""
from companion.torch.feedforward import (MLP, ExtremeLearningMachine, FunctionalLinkNet,
                                         HighwayLayer, HighwayNetwork, Perceptron, RBFLayer,
                                         RBFNetwork, TrigExpansion)
from companion.torch.training import evaluate, predict, train, train_perceptron

__all__ = [
    "MLP", "ExtremeLearningMachine", "FunctionalLinkNet", "HighwayLayer", "HighwayNetwork",
    "Perceptron", "RBFLayer", "RBFNetwork", "TrigExpansion", "evaluate", "predict", "train", "train_perceptron",
]
