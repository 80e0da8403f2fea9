"""Keras 3 implementations of the book's models, and their training via ``fit``.

Only backend-agnostic Keras APIs are used (``keras.layers``, ``keras.ops``,
``keras.random``), so everything runs on the TensorFlow, JAX or PyTorch backend.
"""
from companion.keras.cnn import (AlexNet, BasicBlock, Bottleneck, Conv1DNet, InceptionModule,
                                 LeNet5, PreActBlock, ResNet, SmallAlexNet, VGGBlock)
from companion.keras.feedforward import (MLP, ExtremeLearningMachine, FunctionalLinkNet,
                                         HighwayLayer, HighwayNetwork, Perceptron, RBFLayer,
                                         RBFNetwork, TrigExpansion)
from companion.keras.rnn import (GRU, LSTM, ElmanCell, GRUCell, LSTMCell, PeepholeLSTM,
                                 PeepholeLSTMCell, Seq2Seq, SimpleRNN)
from companion.keras.training import (evaluate, gradients, input_gradients, precision_policy,
                                      predict, train, train_perceptron)

__all__ = [
    "AlexNet", "BasicBlock", "Bottleneck", "Conv1DNet", "InceptionModule", "LeNet5", "PreActBlock",
    "ResNet",
    "SmallAlexNet", "VGGBlock",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MLP", "ElmanCell", "ExtremeLearningMachine",
    "FunctionalLinkNet", "HighwayLayer", "HighwayNetwork", "PeepholeLSTM", "PeepholeLSTMCell",
    "Perceptron", "RBFLayer", "RBFNetwork", "Seq2Seq", "SimpleRNN", "TrigExpansion",
    "evaluate", "gradients", "input_gradients", "precision_policy", "predict", "train",
    "train_perceptron",
]
from companion.keras.autoencoders import (VAE, Autoencoder, ConvAutoencoder,  # noqa: E402  (part V)
                                      DenoisingAutoencoder)

__all__ += ["Autoencoder", "ConvAutoencoder", "DenoisingAutoencoder", "VAE"]
from companion.keras.forecasting import TimeSeriesTransformer  # noqa: E402  (part IX)
from companion.keras.text import TextClassifier  # noqa: E402  (part IX)

__all__ += ["TextClassifier", "TimeSeriesTransformer"]
