"""From-scratch NumPy versions of the maths the book derives.

They are written for reading, not speed, and serve as test oracles: the
PyTorch and Keras implementations must agree with them.
"""
from companion.numpy.activations import ACTIVATIONS, relu, sigmoid, softmax, tanh
from companion.numpy.cnn import (conv2d, conv_parameter_count, output_size, pool2d,
                                  receptive_field)
from companion.numpy.feedforward import dense, mlp_forward, parameter_count

__all__ = [
    "ACTIVATIONS", "conv2d", "conv_parameter_count", "dense", "mlp_forward", "output_size",
    "parameter_count", "pool2d", "receptive_field", "relu", "sigmoid", "softmax", "tanh",
]
