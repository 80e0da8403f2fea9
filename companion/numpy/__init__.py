"""From-scratch NumPy versions of the maths the book derives.

They are written for reading, not speed, and serve as test oracles: the
PyTorch and Keras implementations must agree with them.
"""
from companion.numpy.activations import ACTIVATIONS, relu, sigmoid, softmax, tanh
from companion.numpy.cnn import (conv2d, conv_parameter_count, output_size, pool2d,
                                  receptive_field)
from companion.numpy.feedforward import (dense, highway_layer, least_squares, mlp_forward,
                                         parameter_count, rbf_features, train_perceptron,
                                         trig_expansion)
from companion.numpy.rnn import (gru_forward, lstm_forward, recurrent_parameter_count,
                                 rnn_backward, rnn_forward)

__all__ = [
    "ACTIVATIONS", "conv2d", "conv_parameter_count", "output_size", "pool2d",
    "receptive_field", "dense", "gru_forward", "highway_layer", "least_squares", "lstm_forward",
    "mlp_forward", "parameter_count", "rbf_features", "recurrent_parameter_count", "relu",
    "rnn_backward", "rnn_forward", "sigmoid", "softmax", "tanh", "train_perceptron",
    "trig_expansion",
]
