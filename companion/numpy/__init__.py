"""From-scratch NumPy versions of the maths the book derives.

They are written for reading, not speed, and serve as test oracles: the
PyTorch and Keras implementations must agree with them.
"""
from companion.numpy.activations import ACTIVATIONS, relu, sigmoid, softmax, tanh
from companion.numpy.feedforward import (dense, highway_layer, least_squares, mlp_forward,
                                         parameter_count, rbf_features, train_perceptron,
                                         trig_expansion)

__all__ = [
    "ACTIVATIONS", "dense", "highway_layer", "least_squares", "mlp_forward", "parameter_count",
    "rbf_features", "relu", "sigmoid", "softmax", "tanh", "train_perceptron", "trig_expansion",
]
