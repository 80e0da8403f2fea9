"""From-scratch NumPy versions of the maths the book derives.

They are written for reading, not speed, and serve as test oracles: the
PyTorch and Keras implementations must agree with them.
"""
from companion.numpy.activations import ACTIVATIONS, relu, sigmoid, softmax, tanh
from companion.numpy.feedforward import dense, mlp_forward, parameter_count

__all__ = [
    "ACTIVATIONS", "dense", "mlp_forward", "parameter_count", "relu", "sigmoid",
    "softmax", "tanh",
]
