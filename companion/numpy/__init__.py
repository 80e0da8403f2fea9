"""From-scratch NumPy versions of the maths the book derives.

They are written for reading, not speed, and serve as test oracles: the
PyTorch and Keras implementations must agree with them.
"""
from companion.numpy import (backprop, initialization, losses, metrics, neuron,  # Part I modules
                             normalization, optimizers, regularization)
from companion.numpy import autoencoders  # Part V
from companion.numpy.activations import (ACTIVATIONS, derivative, elu, gelu, gelu_tanh,
                                         leaky_relu, relu, sigmoid, sigmoid_with_temperature,
                                         softmax, softmax_jacobian, step, tanh)
from companion.numpy.cnn import (conv2d, conv_parameter_count, output_size, pool2d,
                                  receptive_field)
from companion.numpy.feedforward import (dense, highway_layer, least_squares, mlp_forward,
                                         parameter_count, rbf_features, train_perceptron,
                                         trig_expansion)
from companion.numpy.rnn import (gru_forward, lstm_forward, recurrent_parameter_count,
                                 rnn_backward, rnn_forward)

__all__ = [
    "autoencoders", "backprop", "initialization", "losses", "metrics", "neuron", "normalization",
    "optimizers",
    "regularization", "derivative", "elu", "gelu", "gelu_tanh", "leaky_relu",
    "sigmoid_with_temperature", "softmax_jacobian", "step",
    "ACTIVATIONS", "conv2d", "conv_parameter_count", "output_size", "pool2d",
    "receptive_field", "dense", "gru_forward", "highway_layer", "least_squares", "lstm_forward",
    "mlp_forward", "parameter_count", "rbf_features", "recurrent_parameter_count", "relu",
    "rnn_backward", "rnn_forward", "sigmoid", "softmax", "tanh", "train_perceptron",
    "trig_expansion",
]
