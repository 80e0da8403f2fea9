"""Keras 3 implementations of the book's models, and their training via ``fit``.

Only backend-agnostic Keras APIs are used (``keras.layers``, ``keras.ops``,
``keras.random``), so everything runs on the TensorFlow, JAX or PyTorch backend.
"""
from companion.keras.feedforward import MLP
from companion.keras.rnn import (GRU, LSTM, ElmanCell, GRUCell, LSTMCell, PeepholeLSTM,
                                 PeepholeLSTMCell, Seq2Seq, SimpleRNN)
from companion.keras.training import evaluate, gradients, input_gradients, predict, train

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MLP", "ElmanCell", "PeepholeLSTM", "PeepholeLSTMCell",
    "Seq2Seq", "SimpleRNN", "evaluate", "gradients", "input_gradients", "predict", "train",
]
