"""Convolutional networks in PyTorch (part III of the book).

Read side by side with ``companion/keras/cnn.py``: same class names, same
constructor arguments, same layer order. PyTorch images are NCHW:
``(batch, channels, height, width)``; the Keras twins take NHWC.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from companion.checks import (check_choice, check_float, check_image, check_positive_int,
                              check_conv1d_net, check_signal)

# Conv1DNet pads "same" with even kernel widths (the paper's 8) exactly as Keras does;
# PyTorch notes each time that this costs a padded copy of the input.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel",
                        category=UserWarning)

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _check(x: torch.Tensor, channels: int, size, model: str, owner=None) -> None:
    check_image(x.shape, channels, size, "NCHW", model)
    check_float(x.dtype, model, owner)


# ---------------------------------------------------------------- LeNet-5

class LeNet5(nn.Module):
    """LeNet-5 of LeCun et al. (1998) (chapter: LeNet-5).

    ``32x32 -> C1 conv 6@5x5 -> S2 pool -> C3 conv 16@5x5 -> S4 pool ->
    C5 conv 120@5x5 -> F6 84 -> output``. The defaults (``tanh``, average
    pooling) follow the paper; ``activation="relu", pooling="max"`` gives the
    modern variant. Simplifications, stated in the chapter: C3 connects to all
    six S2 maps (the paper used a sparse table), S2/S4 have no trainable
    coefficient, and the output layer is linear (logits), not RBF units.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 activation: str = "tanh", pooling: str = "avg"):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(pooling, POOLINGS, "pooling")
        self.in_channels = in_channels
        act, pool = ACTIVATIONS[activation], POOLINGS[pooling]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), act(),   # C1: 6 maps of 28x28
            pool(2),                               # S2: 6 maps of 14x14
            nn.Conv2d(6, 16, 5), act(),            # C3: 16 maps of 10x10
            pool(2),                               # S4: 16 maps of 5x5
            nn.Conv2d(16, 120, 5), act(),          # C5: 120 maps of 1x1
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84), act(),             # F6
            nn.Linear(84, num_classes),            # output (logits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, 32, "LeNet5", self)
        return self.classifier(self.features(x))


# ---------------------------------------------------------------- AlexNet

class AlexNet(nn.Module):
    """AlexNet of Krizhevsky, Sutskever and Hinton (2012), full size (chapter: AlexNet).

    Input ``(batch, 3, 227, 227)`` (227, not the paper's 224, makes the
    first layer's arithmetic come out at 55x55). ``groups=2`` reproduces the
    original two-GPU split (conv2, conv4 and conv5 see only their own half of
    the channels); ``groups=1`` is the single-tower variant most code uses.
    ``lrn=True`` adds the paper's local response normalization after conv1
    and conv2 (k=2, n=5, alpha=1e-4, beta=0.75).
    """

    def __init__(self, num_classes: int = 1000, groups: int = 1, lrn: bool = True,
                 dropout: float = 0.5):
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        check_choice(groups, (1, 2), "groups")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        # PyTorch divides alpha by the window size n; the paper does not.
        norm = (lambda: nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)) if lrn \
            else nn.Identity
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), norm(),         # 55x55
            nn.MaxPool2d(3, stride=2),                                 # 27x27 (overlapping)
            nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.ReLU(), norm(),
            nn.MaxPool2d(3, stride=2),                                 # 13x13
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=groups), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.ReLU(),
            nn.MaxPool2d(3, stride=2),                                 # 6x6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                              # 256*6*6 = 9216
            nn.Dropout(dropout), nn.Linear(9216, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, 3, 227, "AlexNet", self)
        return self.classifier(self.features(x))


class SmallAlexNet(nn.Module):
    """A scaled-down AlexNet-style network for 32x32 images (chapter: AlexNet).

    Five convolutions, the first with stride 2 (AlexNet's first has stride
    4), max pooling after the second and the fifth, then two hidden fully
    connected layers with dropout, like AlexNet, at a size that trains on a
    CPU. ``width`` is the channel count of the first convolution; later ones
    use 2x and 3x that.
    ``init="he"`` draws every weight from a normal distribution of standard
    deviation ``sqrt(2 / fan_in)`` (He et al., 2015) with zero biases, the
    scale that keeps ReLU activations from shrinking layer after layer;
    ``init="default"`` keeps PyTorch's default (uniform, about ``sqrt(1 / (3 fan_in))``).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 hidden: int = 128, activation: str = "relu", dropout: float = 0.5,
                 init: str = "default"):
        super().__init__()
        check_choice(init, ("default", "he"), "init")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("width", width), ("hidden", hidden)):
            check_positive_int(value, name)
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        act, w = ACTIVATIONS[activation], width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 5, stride=2, padding=2), act(),          # 16x16
            nn.Conv2d(w, 2 * w, 3, padding=1), act(), nn.MaxPool2d(2),        # 8x8
            nn.Conv2d(2 * w, 3 * w, 3, padding=1), act(),
            nn.Conv2d(3 * w, 3 * w, 3, padding=1), act(),
            nn.Conv2d(3 * w, 2 * w, 3, padding=1), act(), nn.MaxPool2d(2),    # 4x4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(2 * w * 16, hidden), act(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), act(),
            nn.Linear(hidden, num_classes),
        )
        if init == "he":
            for layer in self.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, 32, "SmallAlexNet", self)
        return self.classifier(self.features(x))


# ---------------------------------------------------------------- VGG and Inception

class VGGBlock(nn.Module):
    """A VGG block: ``num_convs`` 3x3 convolutions with ReLU, then 2x2 max pooling
    (chapter: Convolutional networks, overview)."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 2):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("num_convs", num_convs)):
            check_positive_int(value, name)
        self.in_channels = in_channels
        layers, c = [], in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, out_channels, 3, padding=1), nn.ReLU()]
            c = out_channels
        layers.append(nn.MaxPool2d(2))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, "VGGBlock", self)
        return self.net(x)


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module (chapter: Convolutional networks, overview).

    Four parallel branches, concatenated along the channel axis: a 1x1
    convolution; 1x1 reduction then 3x3; 1x1 reduction then 5x5; 3x3 max
    pooling (stride 1) then a 1x1 projection. Every convolution is followed
    by ReLU; every branch keeps the height and width.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int,
                 c5_reduce: int, c5: int, pool_proj: int):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("c1", c1), ("c3_reduce", c3_reduce),
                            ("c3", c3), ("c5_reduce", c5_reduce), ("c5", c5),
                            ("pool_proj", pool_proj)):
            check_positive_int(value, name)
        self.in_channels = in_channels
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c3_reduce, c3, 3, padding=1), nn.ReLU())
        self.branch5 = nn.Sequential(nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU())
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, "InceptionModule", self)
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)  # channels: axis 1


# ---------------------------------------------------------------- ResNet

def _bn(channels: int) -> nn.BatchNorm2d:
    # PyTorch's defaults, written out because the Keras twin must match them:
    # running = (1 - momentum) * running + momentum * batch, eps inside the sqrt.
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv-BN layers and a shortcut (chapter: ResNet).

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. The
    shortcut is the identity, or a 1x1 strided conv + BN ("option B") when
    the shape changes. ``residual=False`` drops the shortcut: a plain block.
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 residual: bool = True):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels, self.residual = in_channels, residual
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = _bn(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = None
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                _bn(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, type(self).__name__, self)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block: 1x1 reduce, 3x3, 1x1 expand (x4) (chapter: ResNet).

    ``out_channels`` is the width of the 3x3 layer; the block outputs
    ``4 * out_channels``. The stride sits on the 3x3 convolution, as in
    torchvision (ResNet "v1.5").
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 residual: bool = True):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels, self.residual = in_channels, residual
        out = out_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn1 = _bn(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = _bn(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out, 1, bias=False)
        self.bn3 = _bn(out)
        self.relu = nn.ReLU()
        self.shortcut = None
        if residual and (stride != 1 or in_channels != out):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), _bn(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, "Bottleneck", self)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.relu(out)


class PreActBlock(nn.Module):
    """Pre-activation basic block of He et al. (2016b) (chapter: ResNet).

    ``a = relu(bn1(x))``; ``out = conv2(relu(bn2(conv1(a)))) + shortcut``. The
    shortcut is ``x`` itself, or a 1x1 strided conv (no BN) applied to the
    pre-activated ``a`` when the shape changes. No ReLU follows the addition,
    so stacked identity blocks pass ``x`` on unchanged.
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels = in_channels
        self.bn1 = _bn(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = _bn(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, type(self).__name__, self)
        a = self.relu(self.bn1(x))
        out = self.conv1(a)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + (x if self.shortcut is None else self.shortcut(a))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Residual network (chapter: ResNet).

    ``ResNet("basic", (2, 2, 2, 2))`` is ResNet-18 (11,689,512 parameters
    with 1000 classes), ``("basic", (3, 4, 6, 3))`` ResNet-34 and
    ``("bottleneck", (3, 4, 6, 3))`` ResNet-50. Stage ``i`` has ``layers[i]``
    blocks of width ``width * 2**i``; every stage after the first halves the
    height and width. ``stem="imagenet"`` is the 7x7/2 convolution and 3x3/2
    max pooling of the paper; ``stem="small"`` is a single 3x3/1 convolution
    for small images. ``residual=False`` builds the plain network of the same
    depth (no shortcuts), the paper's control experiment.
    """

    def __init__(self, block: str = "basic", layers=(2, 2, 2, 2), num_classes: int = 1000,
                 in_channels: int = 3, width: int = 64, stem: str = "imagenet",
                 residual: bool = True):
        super().__init__()
        check_choice(block, BLOCKS, "block")
        check_choice(stem, ("imagenet", "small"), "stem")
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("width", width)):
            check_positive_int(value, name)
        for n in layers:
            check_positive_int(n, "every entry of layers")
        self.in_channels = in_channels
        Block = BLOCKS[block]
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                _bn(width), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=1, bias=False), _bn(width), nn.ReLU())
        stages, c = [], width
        for i, n in enumerate(layers):
            out, stride = width * 2 ** i, 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                blocks.append(Block(c, out, stride if j == 0 else 1, residual=residual))
                c = out * Block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.in_channels, None, "ResNet", self)
        return self.head(self.stages(self.stem(x)))


# ---------------------------------------------------------------- 1-D convolutions

class Conv1DNet(nn.Module):
    """A fully convolutional network for signals and sequences (chapter: the CNN overview).

    The time-series classifier of Wang, Yan and Oates (2017): blocks of
    ``Conv1d (padding "same") -> BatchNorm -> ReLU`` with ``channels[i]``
    filters of width ``kernel_sizes[i]`` (the paper: 128, 256, 128 filters of
    widths 8, 5, 3), then global average pooling over time, dropout and a
    linear layer to ``num_classes`` logits. Global pooling makes it accept
    signals of any length. Input ``(batch, in_channels, length)``: PyTorch's
    channels-first layout, as ``nn.Conv1d`` takes it; the Keras twin takes
    ``(batch, length, in_channels)``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2,
                 channels=(128, 256, 128), kernel_sizes=(8, 5, 3), dropout: float = 0.0):
        super().__init__()
        channels, kernel_sizes = check_conv1d_net(in_channels, num_classes, channels,
                                                  kernel_sizes, dropout)
        self.in_channels = in_channels
        blocks, c = [], in_channels
        for out, k in zip(channels, kernel_sizes):
            blocks += [nn.Conv1d(c, out, k, padding="same", bias=False),
                       nn.BatchNorm1d(out, momentum=0.1, eps=1e-5), nn.ReLU()]
            c = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_signal(x.shape, self.in_channels, "NCL", "Conv1DNet")
        check_float(x.dtype, "Conv1DNet", self)
        return self.head(self.features(x).mean(dim=2))   # global average pooling over time

