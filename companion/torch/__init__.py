"""PyTorch implementations of the book's models, and the training loops."""
from companion.torch.cnn import (AlexNet, BasicBlock, Bottleneck, Conv1DNet, InceptionModule,
                                 LeNet5, PreActBlock, ResNet, SmallAlexNet, VGGBlock)
from companion.torch.feedforward import (MLP, ExtremeLearningMachine, FunctionalLinkNet,
                                         HighwayLayer, HighwayNetwork, Perceptron, RBFLayer,
                                         RBFNetwork, TrigExpansion)
from companion.torch.rnn import (GRU, LSTM, ElmanCell, GRUCell, LSTMCell, PeepholeLSTM,
                                 PeepholeLSTMCell, Seq2Seq, SimpleRNN, Unroll)
from companion.torch.training import (evaluate, gradients, input_gradients, predict, train,
                                      train_perceptron)

__all__ = [
    "AlexNet", "BasicBlock", "Bottleneck", "Conv1DNet", "InceptionModule", "LeNet5", "PreActBlock",
    "ResNet",
    "SmallAlexNet", "VGGBlock",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MLP", "ElmanCell", "ExtremeLearningMachine",
    "FunctionalLinkNet", "HighwayLayer", "HighwayNetwork", "PeepholeLSTM", "PeepholeLSTMCell",
    "Perceptron", "RBFLayer", "RBFNetwork", "Seq2Seq", "SimpleRNN", "TrigExpansion", "Unroll",
    "evaluate", "gradients", "input_gradients", "predict", "train", "train_perceptron",
]
from companion.torch.autoencoders import (VAE, Autoencoder, ConvAutoencoder,  # noqa: E402  (part V)
                                      DenoisingAutoencoder)

__all__ += ["Autoencoder", "ConvAutoencoder", "DenoisingAutoencoder", "VAE"]
from companion.torch.forecasting import TimeSeriesTransformer  # noqa: E402  (part IX)
from companion.torch.text import TextClassifier  # noqa: E402  (part IX)

__all__ += ["TextClassifier", "TimeSeriesTransformer"]
