"""Feedforward networks in Keras 3 (part II of the book).

Read side by side with ``companion/torch/feedforward.py``: same class names,
same constructor arguments, same layer order.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from companion.checks import check_choice, check_features, check_float, check_positive_int
from companion.keras.saving import serializable

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu")  # keras.activations names


def create_weights(model: keras.Model, in_features: int) -> None:
    """Create every weight now, as PyTorch does, by calling the model once on zeros.

    Keras otherwise creates weights on the first call, and a weight copy or a
    parameter count before that would find nothing.
    """
    model(np.zeros((1, in_features), dtype="float32"))


INITS = {  # the same distributions as companion.torch.feedforward.INITS (plain, not truncated)
    "default": lambda: "glorot_uniform",
    "he": lambda: keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal"),
    "xavier": lambda: "glorot_uniform",
    "lecun": lambda: keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal"),
}


@serializable
class MLP(keras.Model):
    """Multilayer perceptron (chapter: Multilayer Perceptron).

    ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``. Every
    hidden layer is Dense, Activation, then (optionally) Dropout; the output
    layer is linear and returns logits, so compile it with a loss created
    with ``from_logits=True``.

    ``init``: ``"he"``, ``"xavier"``, ``"lecun"`` (zero biases) draw the
    weights as the PyTorch twin does; ``"default"`` keeps Keras's Glorot
    uniform kernels (see ``companion.torch.MLP``).
    """

    def __init__(self, in_features: int, hidden=(64,), out_features: int = 10,
                 activation: str = "relu", dropout: float = 0.0, init: str = "default",
                 **kwargs):
        super().__init__(**kwargs)
        check_choice(init, INITS, "init")
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        for width in hidden:
            check_positive_int(width, "every hidden width")
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_features = in_features

        def dense(units):
            return layers.Dense(units, kernel_initializer=INITS[init]())

        stack = [keras.Input((in_features,))]
        for width in hidden:
            stack += [dense(width), layers.Activation(activation)]
            if dropout > 0:
                stack.append(layers.Dropout(dropout))
        stack.append(dense(out_features))
        self.net = keras.Sequential(stack)
        create_weights(self, in_features)

    def call(self, x, training=False):
        check_features(x.shape, self.in_features, "MLP")
        check_float(x.dtype, "MLP")
        return self.net(x, training=training)

    def features(self, x, training=False):
        """The last hidden layer's activations: what the output layer sees."""
        check_features(x.shape, self.in_features, "MLP")
        for layer in self.net.layers[:-1]:
            x = layer(x, training=training)
        return x


# ----------------------------------------------------------------------------
# Single-layer perceptron


@serializable
class Perceptron(keras.Model):
    """Rosenblatt's perceptron (chapter: Single-Layer Perceptron).

    One linear unit followed by the Heaviside step: the model predicts class 1
    when the score ``w . x + b`` is at least 0, class 0 otherwise. ``call``
    returns the score; ``classify`` applies the step. Train it with
    ``companion.keras.train_perceptron`` (Rosenblatt's error-driven rule), not
    with gradient descent: the step has no useful gradient.
    """

    def __init__(self, in_features: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        self.in_features = in_features
        self.linear = layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")
        create_weights(self, in_features)

    def call(self, x):
        check_features(x.shape, self.in_features, "Perceptron")
        check_float(x.dtype, "Perceptron")
        return ops.squeeze(self.linear(x), axis=-1)

    def classify(self, x):
        """Labels in {0, 1}: the Heaviside step of the score."""
        return ops.cast(self(x) >= 0, "int64")


# ----------------------------------------------------------------------------
# Output weights by least squares (RBF networks, extreme learning machines)


def fit_linear_least_squares(layer: layers.Dense, features, targets, ridge: float = 1e-6) -> None:
    """Set ``layer`` to the ridge-regression solution from ``features`` to ``targets``.

    Solves ``(A^T A + ridge I) W = A^T Y``, where ``A`` holds the hidden
    activations and a column of ones for the bias, in float64 for accuracy,
    and writes the result into the layer.
    """
    features = ops.cast(features, "float64")
    h = ops.concatenate([features, ops.ones((ops.shape(features)[0], 1), dtype="float64")], axis=1)
    y = ops.reshape(ops.cast(targets, "float64"), (ops.shape(features)[0], -1))
    if y.shape[1] != layer.units:
        raise ValueError(f"targets must have {layer.units} columns, got {y.shape[1]}")
    # A^T A and A^T Y with einsum: on the torch backend ops.matmul may return float32.
    gram = ops.einsum("ni,nj->ij", h, h) + ridge * ops.eye(h.shape[1], dtype="float64")
    solution = ops.solve(gram, ops.einsum("ni,nj->ij", h, y))    # (features + 1, outputs)
    layer.kernel.assign(ops.cast(solution[:-1], "float32"))          # Keras kernels are (in, out)
    layer.bias.assign(ops.cast(solution[-1], "float32"))


# ----------------------------------------------------------------------------
# Radial basis function network


class RBFLayer(layers.Layer):
    """Gaussian radial basis functions (chapter: Radial Basis Function Network).

    Unit ``j`` responds with ``exp(-||x - c_j||^2 / (2 sigma_j^2))``: 1 at its
    centre ``c_j``, falling to 0 with distance at a rate set by its width
    ``sigma_j``. Widths are stored as ``log_sigma`` so that gradient descent
    keeps them positive.
    """

    def __init__(self, in_features: int, n_centers: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(n_centers, "n_centers")
        self.centers = self.add_weight(shape=(n_centers, in_features), name="centers",
                                       initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.log_sigma = self.add_weight(shape=(n_centers,), name="log_sigma", initializer="zeros")

    def call(self, x):
        diff = ops.expand_dims(x, 1) - ops.expand_dims(self.centers, 0)
        sq_dist = ops.sum(ops.square(diff), axis=-1)                         # (batch, centers)
        return ops.exp(-sq_dist / (2 * ops.exp(2 * self.log_sigma)))


@serializable
class RBFNetwork(keras.Model):
    """RBF network: Gaussian hidden layer, linear output layer (logits or values)."""

    def __init__(self, in_features: int, n_centers: int, out_features: int = 1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(out_features, "out_features")
        self.in_features = in_features
        self.rbf = RBFLayer(in_features, n_centers)
        self.linear = layers.Dense(out_features)
        create_weights(self, in_features)

    def call(self, x):
        check_features(x.shape, self.in_features, "RBFNetwork")
        check_float(x.dtype, "RBFNetwork")
        return self.linear(self.rbf(x))

    def set_centers(self, centers, sigmas) -> None:
        """Place the hidden units (e.g. at k-means centroids) with the given widths."""
        centers = np.asarray(centers, dtype="float32")
        sigmas = np.broadcast_to(np.asarray(sigmas, dtype="float32"), (len(centers),))
        if centers.shape != tuple(self.rbf.centers.shape):
            raise ValueError(f"centers must have shape {tuple(self.rbf.centers.shape)}, "
                             f"got {centers.shape}")
        if (sigmas <= 0).any():
            raise ValueError("every width sigma must be positive")
        self.rbf.centers.assign(centers)
        self.rbf.log_sigma.assign(np.log(sigmas))

    def fit_output(self, x, targets, ridge: float = 1e-6) -> None:
        """Output weights by (ridge) least squares, with the hidden layer fixed."""
        x = np.asarray(x, dtype="float32")
        check_features(x.shape, self.in_features, "RBFNetwork")
        fit_linear_least_squares(self.linear, self.rbf(x), np.asarray(targets), ridge)


# ----------------------------------------------------------------------------
# Short variants of the family overview


@serializable
class ExtremeLearningMachine(keras.Model):
    """Extreme learning machine (family overview): a random hidden layer that is
    never trained, and output weights solved by least squares in one step."""

    def __init__(self, in_features: int, hidden: int, out_features: int,
                 activation: str = "tanh", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(hidden, "hidden")
        check_positive_int(out_features, "out_features")
        check_choice(activation, ACTIVATIONS, "activation")
        self.in_features = in_features
        self.hidden = layers.Dense(hidden, trainable=False)
        self.activation = layers.Activation(activation)
        self.output_layer = layers.Dense(out_features)
        create_weights(self, in_features)

    def features(self, x):
        check_features(x.shape, self.in_features, "ExtremeLearningMachine")
        check_float(x.dtype, "ExtremeLearningMachine")
        return self.activation(self.hidden(x))

    def call(self, x):
        return self.output_layer(self.features(x))

    def fit_output(self, x, targets, ridge: float = 1e-3) -> None:
        x = np.asarray(x, dtype="float32")
        fit_linear_least_squares(self.output_layer, self.features(x), np.asarray(targets), ridge)


class TrigExpansion(layers.Layer):
    """Functional-link expansion: ``[x, sin(k pi x), cos(k pi x) for k = 1..order]``."""

    def __init__(self, order: int = 2, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(order, "order")
        self.order = order

    def call(self, x):
        parts = [x]
        for k in range(1, self.order + 1):
            parts += [ops.sin(k * np.pi * x), ops.cos(k * np.pi * x)]
        return ops.concatenate(parts, axis=-1)


@serializable
class FunctionalLinkNet(keras.Model):
    """Functional link neural network (family overview): a fixed nonlinear
    expansion of the inputs followed by a single trainable linear layer."""

    def __init__(self, in_features: int, out_features: int, order: int = 2, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.in_features = in_features
        self.expand = TrigExpansion(order)
        self.linear = layers.Dense(out_features)
        create_weights(self, in_features)

    def call(self, x):
        check_features(x.shape, self.in_features, "FunctionalLinkNet")
        check_float(x.dtype, "FunctionalLinkNet")
        return self.linear(self.expand(x))


class HighwayLayer(layers.Layer):
    """One highway layer (Srivastava et al., 2015).

    ``y = gate(x) * transform(x) + (1 - gate(x)) * x``, where ``transform`` is a
    ReLU layer and ``gate`` a sigmoid *transform gate* (the paper's H and T).
    The gate's bias starts negative (``gate_bias``), so at first the layer
    mostly carries its input through unchanged and a deep stack starts close
    to the identity.
    """

    def __init__(self, width: int, gate_bias: float = -2.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(width, "width")
        self.transform = layers.Dense(width)
        self.gate = layers.Dense(width, bias_initializer=keras.initializers.Constant(gate_bias))

    def call(self, x):
        h = ops.relu(self.transform(x))
        t = ops.sigmoid(self.gate(x))
        return t * h + (1 - t) * x


@serializable
class HighwayNetwork(keras.Model):
    """Input projection, ``depth`` highway layers, linear output (family overview)."""

    def __init__(self, in_features: int, width: int, depth: int, out_features: int,
                 gate_bias: float = -2.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(depth, "depth")
        self.in_features = in_features
        self.project = layers.Dense(width)
        self.highway = [HighwayLayer(width, gate_bias) for _ in range(depth)]
        self.output_layer = layers.Dense(out_features)
        create_weights(self, in_features)

    def call(self, x):
        check_features(x.shape, self.in_features, "HighwayNetwork")
        check_float(x.dtype, "HighwayNetwork")
        x = ops.relu(self.project(x))
        for layer in self.highway:
            x = layer(x)
        return self.output_layer(x)
