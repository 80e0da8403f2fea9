"""PyTorch implementations of the book's models, and the training loop."""
from companion.torch.feedforward import MLP
from companion.torch.training import evaluate, predict, train

__all__ = ["MLP", "evaluate", "predict", "train"]
