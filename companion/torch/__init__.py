"""PyTorch implementations of the book's models, and the training loop."""
from companion.torch.feedforward import MLP
from companion.torch.rnn import (GRU, LSTM, ElmanCell, GRUCell, LSTMCell, PeepholeLSTM,
                                 PeepholeLSTMCell, Seq2Seq, SimpleRNN, Unroll)
from companion.torch.training import evaluate, gradients, input_gradients, predict, train

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MLP", "ElmanCell", "PeepholeLSTM", "PeepholeLSTMCell",
    "Seq2Seq", "SimpleRNN", "Unroll", "evaluate", "gradients", "input_gradients", "predict",
    "train",
]
