"""Feedforward networks in PyTorch (part II of the book).

Read side by side with ``companion/keras/feedforward.py``: same class names,
same constructor arguments, same layer order.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.checks import check_choice, check_features, check_float, check_positive_int

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,  # exact (erf) form, like keras.activations.gelu
}


def _lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    return nn.init.normal_(weight, 0.0, weight.shape[1] ** -0.5)


INITS = {"default": None,
         "he": lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
         "xavier": nn.init.xavier_uniform_,
         "lecun": _lecun_normal_}


class MLP(nn.Module):
    """Multilayer perceptron (chapter: Multilayer Perceptron).

    ``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``. Every
    hidden layer is Linear, activation, then (optionally) Dropout; the output
    layer is linear and returns logits, so pair it with a loss that takes
    logits (``nn.CrossEntropyLoss``) rather than adding a softmax here.

    ``init`` draws the weights of every layer the same way in both
    frameworks: ``"he"`` (normal, variance ``2 / fan_in``, for ReLU),
    ``"xavier"`` (uniform, variance ``2 / (fan_in + fan_out)``, for tanh),
    ``"lecun"`` (normal, variance ``1 / fan_in``), all with zero biases; or
    ``"default"``, each framework's own (PyTorch: uniform with variance
    ``1 / (3 fan_in)`` for weights and biases; Keras: Glorot uniform, zero
    biases), so that two untouched twins start differently.
    """

    def __init__(self, in_features: int, hidden=(64,), out_features: int = 10,
                 activation: str = "relu", dropout: float = 0.0, init: str = "default"):
        super().__init__()
        check_choice(init, INITS, "init")
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        for width in hidden:
            check_positive_int(width, "every hidden width")
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_features = in_features

        layers, width_in = [], in_features
        for width in hidden:
            layers += [nn.Linear(width_in, width), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, out_features))
        self.net = nn.Sequential(*layers)
        if init != "default":
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    INITS[init](layer.weight)
                    nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "MLP")
        check_float(x.dtype, "MLP", self)
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations: what the output layer sees."""
        check_features(x.shape, self.in_features, "MLP")
        return self.net[:-1](x)


# ----------------------------------------------------------------------------
# Single-layer perceptron


class Perceptron(nn.Module):
    """Rosenblatt's perceptron (chapter: Single-Layer Perceptron).

    One linear unit followed by the Heaviside step: the model predicts class 1
    when the score ``w . x + b`` is at least 0, class 0 otherwise. ``forward``
    returns the score; ``classify`` applies the step. Train it with
    ``companion.torch.train_perceptron`` (Rosenblatt's error-driven rule), not
    with gradient descent: the step has no useful gradient.
    """

    def __init__(self, in_features: int):
        super().__init__()
        check_positive_int(in_features, "in_features")
        self.in_features = in_features
        self.linear = nn.Linear(in_features, 1)
        nn.init.zeros_(self.linear.weight)  # the classical start: all weights zero
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "Perceptron")
        check_float(x.dtype, "Perceptron", self)
        return self.linear(x).squeeze(-1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Labels in {0, 1}: the Heaviside step of the score."""
        return (self(x) >= 0).long()


# ----------------------------------------------------------------------------
# Output weights by least squares (RBF networks, extreme learning machines)


def fit_linear_least_squares(layer: nn.Linear, features: torch.Tensor, targets: torch.Tensor,
                             ridge: float = 1e-6) -> None:
    """Set ``layer`` to the ridge-regression solution from ``features`` to ``targets``.

    Solves ``(A^T A + ridge I) W = A^T Y``, where ``A`` holds the hidden
    activations and a column of ones for the bias, in float64 for accuracy,
    and writes the result into the layer.
    """
    h = torch.cat([features, torch.ones(len(features), 1, device=features.device)], dim=1).double()
    y = targets.double().reshape(len(targets), -1)
    if y.shape[1] != layer.out_features:
        raise ValueError(f"targets must have {layer.out_features} columns, got {y.shape[1]}")
    gram = h.T @ h + ridge * torch.eye(h.shape[1], dtype=h.dtype, device=h.device)
    solution = torch.linalg.solve(gram, h.T @ y)          # (features + 1, outputs)
    with torch.no_grad():
        layer.weight.copy_(solution[:-1].T.float())
        layer.bias.copy_(solution[-1].float())


# ----------------------------------------------------------------------------
# Radial basis function network


class RBFLayer(nn.Module):
    """Gaussian radial basis functions (chapter: Radial Basis Function Network).

    Unit ``j`` responds with ``exp(-||x - c_j||^2 / (2 sigma_j^2))``: 1 at its
    centre ``c_j``, falling to 0 with distance at a rate set by its width
    ``sigma_j``. Widths are stored as ``log_sigma`` so that gradient descent
    keeps them positive.
    """

    def __init__(self, in_features: int, n_centers: int):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(n_centers, "n_centers")
        self.centers = nn.Parameter(torch.randn(n_centers, in_features))
        self.log_sigma = nn.Parameter(torch.zeros(n_centers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sq_dist = ((x[:, None, :] - self.centers[None, :, :]) ** 2).sum(dim=-1)  # (batch, centers)
        return torch.exp(-sq_dist / (2 * torch.exp(2 * self.log_sigma)))


class RBFNetwork(nn.Module):
    """RBF network: Gaussian hidden layer, linear output layer (logits or values)."""

    def __init__(self, in_features: int, n_centers: int, out_features: int = 1):
        super().__init__()
        check_positive_int(out_features, "out_features")
        self.in_features = in_features
        self.rbf = RBFLayer(in_features, n_centers)
        self.linear = nn.Linear(n_centers, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "RBFNetwork")
        check_float(x.dtype, "RBFNetwork", self)
        return self.linear(self.rbf(x))

    def set_centers(self, centers, sigmas) -> None:
        """Place the hidden units (e.g. at k-means centroids) with the given widths."""
        centers = torch.as_tensor(centers, dtype=torch.float32)
        sigmas = torch.as_tensor(sigmas, dtype=torch.float32).expand(len(centers))
        if centers.shape != self.rbf.centers.shape:
            raise ValueError(f"centers must have shape {tuple(self.rbf.centers.shape)}, "
                             f"got {tuple(centers.shape)}")
        if (sigmas <= 0).any():
            raise ValueError("every width sigma must be positive")
        with torch.no_grad():
            self.rbf.centers.copy_(centers)
            self.rbf.log_sigma.copy_(torch.log(sigmas))

    @torch.no_grad()
    def fit_output(self, x, targets, ridge: float = 1e-6) -> None:
        """Output weights by (ridge) least squares, with the hidden layer fixed."""
        x = torch.as_tensor(x, dtype=torch.float32)
        check_features(x.shape, self.in_features, "RBFNetwork")
        fit_linear_least_squares(self.linear, self.rbf(x), torch.as_tensor(targets), ridge)


# ----------------------------------------------------------------------------
# Short variants of the family overview


class ExtremeLearningMachine(nn.Module):
    """Extreme learning machine (family overview): a random hidden layer that is
    never trained, and output weights solved by least squares in one step."""

    def __init__(self, in_features: int, hidden: int, out_features: int,
                 activation: str = "tanh"):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(hidden, "hidden")
        check_positive_int(out_features, "out_features")
        check_choice(activation, ACTIVATIONS, "activation")
        self.in_features = in_features
        self.hidden = nn.Linear(in_features, hidden).requires_grad_(False)
        self.activation = ACTIVATIONS[activation]()
        self.output_layer = nn.Linear(hidden, out_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "ExtremeLearningMachine")
        check_float(x.dtype, "ExtremeLearningMachine", self)
        return self.activation(self.hidden(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.features(x))

    @torch.no_grad()
    def fit_output(self, x, targets, ridge: float = 1e-3) -> None:
        x = torch.as_tensor(x, dtype=torch.float32)
        fit_linear_least_squares(self.output_layer, self.features(x), torch.as_tensor(targets), ridge)


class TrigExpansion(nn.Module):
    """Functional-link expansion: ``[x, sin(k pi x), cos(k pi x) for k = 1..order]``."""

    def __init__(self, order: int = 2):
        super().__init__()
        check_positive_int(order, "order")
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x]
        for k in range(1, self.order + 1):
            parts += [torch.sin(k * torch.pi * x), torch.cos(k * torch.pi * x)]
        return torch.cat(parts, dim=-1)


class FunctionalLinkNet(nn.Module):
    """Functional link neural network (family overview): a fixed nonlinear
    expansion of the inputs followed by a single trainable linear layer."""

    def __init__(self, in_features: int, out_features: int, order: int = 2):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.in_features = in_features
        self.expand = TrigExpansion(order)
        self.linear = nn.Linear(in_features * (1 + 2 * order), out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "FunctionalLinkNet")
        check_float(x.dtype, "FunctionalLinkNet", self)
        return self.linear(self.expand(x))


class HighwayLayer(nn.Module):
    """One highway layer (Srivastava et al., 2015).

    ``y = gate(x) * transform(x) + (1 - gate(x)) * x``, where ``transform`` is a
    ReLU layer and ``gate`` a sigmoid *transform gate* (the paper's H and T).
    The gate's bias starts negative (``gate_bias``), so at first the layer
    mostly carries its input through unchanged and a deep stack starts close
    to the identity.
    """

    def __init__(self, width: int, gate_bias: float = -2.0):
        super().__init__()
        check_positive_int(width, "width")
        self.transform = nn.Linear(width, width)
        self.gate = nn.Linear(width, width)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.transform(x))
        t = torch.sigmoid(self.gate(x))
        return t * h + (1 - t) * x


class HighwayNetwork(nn.Module):
    """Input projection, ``depth`` highway layers, linear output (family overview)."""

    def __init__(self, in_features: int, width: int, depth: int, out_features: int,
                 gate_bias: float = -2.0):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(depth, "depth")
        self.in_features = in_features
        self.project = nn.Linear(in_features, width)
        self.highway = nn.Sequential(*[HighwayLayer(width, gate_bias) for _ in range(depth)])
        self.output_layer = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x.shape, self.in_features, "HighwayNetwork")
        check_float(x.dtype, "HighwayNetwork", self)
        return self.output_layer(self.highway(torch.relu(self.project(x))))
