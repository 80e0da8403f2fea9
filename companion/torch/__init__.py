"""PyTorch implementations of the book's models, and the training loop."""
from companion.torch.cnn import (AlexNet, BasicBlock, Bottleneck, InceptionModule, LeNet5, ResNet,
                                 SmallAlexNet, VGGBlock)
from companion.torch.feedforward import MLP
from companion.torch.training import evaluate, predict, train

__all__ = ["AlexNet", "BasicBlock", "Bottleneck", "InceptionModule", "LeNet5", "MLP", "ResNet",
           "SmallAlexNet", "VGGBlock", "evaluate", "predict", "train"]
