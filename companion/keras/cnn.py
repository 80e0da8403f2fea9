"""Convolutional networks in Keras 3 (part III of the book).

Read side by side with ``companion/torch/cnn.py``: same class names, same
constructor arguments, same layer order. Keras images are NHWC (channels
last): ``(batch, height, width, channels)``, the Keras default; the PyTorch
twins take NCHW. Three details make the twins compute exactly the same
function (``companion.parity`` copies the weights):

* padding: PyTorch's symmetric ``padding=p`` equals Keras's ``"same"`` for
  an odd kernel with stride 1. With stride 2 (a 3x3 or 7x7 convolution on an
  even-sized input, say) Keras's ``"same"`` pads more on the bottom and right, so
  :func:`conv` writes an explicit ``ZeroPadding2D`` followed by ``"valid"``;
* flattening: before a ``Flatten`` that feeds a ``Dense`` layer the maps are
  permuted to channels-first, so the flat vector has PyTorch's order;
* batch normalization: ``momentum=0.9`` (Keras weighs the *old* statistics,
  PyTorch's ``momentum=0.1`` weighs the new batch) and ``epsilon=1e-5``
  (Keras's default is 1e-3).
"""
from __future__ import annotations

import keras
from keras import layers, ops

from companion.checks import (check_choice, check_float, check_image, check_positive_int,
                              check_conv1d_net, check_signal)
from companion.keras.saving import serializable

ACTIVATIONS = ("relu", "tanh")
POOLINGS = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}


def _check(x, channels: int, size, model: str) -> None:
    check_image(x.shape, channels, size, "NHWC", model)
    check_float(x.dtype, model)


def conv(filters: int, kernel: int, stride: int = 1, padding: int = 0, use_bias: bool = True,
         groups: int = 1, kernel_initializer="glorot_uniform") -> list:
    """The Keras layers equal to ``nn.Conv2d(..., kernel, stride, padding)``."""
    args = dict(strides=stride, use_bias=use_bias, groups=groups,
                kernel_initializer=kernel_initializer)
    if padding == 0:
        return [layers.Conv2D(filters, kernel, padding="valid", **args)]
    if stride == 1 and kernel % 2 == 1 and padding == kernel // 2:
        return [layers.Conv2D(filters, kernel, padding="same", **args)]  # symmetric here
    return [layers.ZeroPadding2D(padding), layers.Conv2D(filters, kernel, padding="valid", **args)]


def flatten_channels_first() -> list:
    """``Flatten`` in PyTorch's (channels, height, width) order."""
    return [layers.Permute((3, 1, 2)), layers.Flatten()]


# ---------------------------------------------------------------- LeNet-5

@serializable
class LeNet5(keras.Model):
    """LeNet-5 of LeCun et al. (1998) (chapter: LeNet-5).

    ``32x32 -> C1 conv 6@5x5 -> S2 pool -> C3 conv 16@5x5 -> S4 pool ->
    C5 conv 120@5x5 -> F6 84 -> output``; the defaults (``tanh``, average
    pooling) follow the paper, ``activation="relu", pooling="max"`` gives the
    modern variant. Same simplifications as the PyTorch twin.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 activation: str = "tanh", pooling: str = "avg", **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        check_choice(activation, ACTIVATIONS, "activation")
        check_choice(pooling, POOLINGS, "pooling")
        self.in_channels = in_channels
        pool = POOLINGS[pooling]
        self.features = keras.Sequential([
            keras.Input((32, 32, in_channels)),
            layers.Conv2D(6, 5), layers.Activation(activation),     # C1: 28x28x6
            pool(2),                                                # S2: 14x14x6
            layers.Conv2D(16, 5), layers.Activation(activation),    # C3: 10x10x16
            pool(2),                                                # S4: 5x5x16
            layers.Conv2D(120, 5), layers.Activation(activation),   # C5: 1x1x120
        ])
        self.classifier = keras.Sequential([
            keras.Input((1, 1, 120)),
            *flatten_channels_first(),
            layers.Dense(84), layers.Activation(activation),        # F6
            layers.Dense(num_classes),                              # output (logits)
        ])
        self.build((None, 32, 32, in_channels))  # create the weights now, as PyTorch does

    def call(self, x, training=False):
        _check(x, self.in_channels, 32, "LeNet5")
        return self.classifier(self.features(x, training=training), training=training)


# ---------------------------------------------------------------- AlexNet

class LocalResponseNormalization(layers.Layer):
    """AlexNet's local response normalization across channels (NHWC).

    ``b_c = a_c / (k + alpha * sum_{c' near c} a_{c'}^2) ** beta``, the sum
    over a window of ``size`` channels centred on ``c`` (the paper's formula;
    PyTorch's ``nn.LocalResponseNorm`` divides ``alpha`` by ``size``).
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        squared = ops.pad(ops.square(x), [[0, 0], [0, 0], [0, 0],
                                          [self.size // 2, (self.size - 1) // 2]])
        channels = x.shape[-1]
        window = sum(squared[..., i:i + channels] for i in range(self.size))
        return x / ops.power(self.k + self.alpha * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape                      # a per-position rescaling keeps the shape


@serializable
class AlexNet(keras.Model):
    """AlexNet of Krizhevsky, Sutskever and Hinton (2012), full size (chapter: AlexNet).

    Input ``(batch, 227, 227, 3)``. ``groups=2`` is the original two-GPU
    split, ``groups=1`` the single-tower variant; ``lrn=True`` adds local
    response normalization after conv1 and conv2.
    """

    def __init__(self, num_classes: int = 1000, groups: int = 1, lrn: bool = True,
                 dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(num_classes, "num_classes")
        check_choice(groups, (1, 2), "groups")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        norm = (lambda: [LocalResponseNormalization()]) if lrn else (lambda: [])
        self.features = keras.Sequential([
            keras.Input((227, 227, 3)),
            *conv(96, 11, stride=4), layers.Activation("relu"), *norm(),
            layers.MaxPooling2D(3, strides=2),
            *conv(256, 5, padding=2, groups=groups), layers.Activation("relu"), *norm(),
            layers.MaxPooling2D(3, strides=2),
            *conv(384, 3, padding=1), layers.Activation("relu"),
            *conv(384, 3, padding=1, groups=groups), layers.Activation("relu"),
            *conv(256, 3, padding=1, groups=groups), layers.Activation("relu"),
            layers.MaxPooling2D(3, strides=2),
        ])
        self.classifier = keras.Sequential([
            keras.Input((6, 6, 256)),
            *flatten_channels_first(),
            layers.Dropout(dropout), layers.Dense(4096), layers.Activation("relu"),
            layers.Dropout(dropout), layers.Dense(4096), layers.Activation("relu"),
            layers.Dense(num_classes),
        ])
        self.build((None, 227, 227, 3))

    def call(self, x, training=False):
        _check(x, 3, 227, "AlexNet")
        return self.classifier(self.features(x, training=training), training=training)


@serializable
class SmallAlexNet(keras.Model):
    """A scaled-down AlexNet-style network for 32x32 images (chapter: AlexNet).

    The same layers as the PyTorch twin: a 5x5 convolution with stride 2, four
    3x3 convolutions (max pooling after the second and the fifth), and two
    hidden fully connected layers with dropout.

    ``init="he"`` uses ``he_normal`` kernels (a normal of standard deviation
    ``sqrt(2 / fan_in)``, truncated at two standard deviations) and zero
    biases; ``init="default"`` keeps Keras's ``glorot_uniform``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 hidden: int = 128, activation: str = "relu", dropout: float = 0.5,
                 init: str = "default", **kwargs):
        super().__init__(**kwargs)
        check_choice(init, ("default", "he"), "init")
        ki = "he_normal" if init == "he" else "glorot_uniform"
        dense = lambda units: layers.Dense(units, kernel_initializer=ki)  # noqa: E731
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("width", width), ("hidden", hidden)):
            check_positive_int(value, name)
        check_choice(activation, ACTIVATIONS, "activation")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        w, act = width, (lambda: layers.Activation(activation))
        self.features = keras.Sequential([
            keras.Input((32, 32, in_channels)),
            *conv(w, 5, stride=2, padding=2, kernel_initializer=ki), act(),          # 16x16
            *conv(2 * w, 3, padding=1, kernel_initializer=ki), act(), layers.MaxPooling2D(2),
            *conv(3 * w, 3, padding=1, kernel_initializer=ki), act(),
            *conv(3 * w, 3, padding=1, kernel_initializer=ki), act(),
            *conv(2 * w, 3, padding=1, kernel_initializer=ki), act(), layers.MaxPooling2D(2),
        ])
        self.classifier = keras.Sequential([
            keras.Input((4, 4, 2 * w)),
            *flatten_channels_first(),
            layers.Dropout(dropout), dense(hidden), act(),
            layers.Dropout(dropout), dense(hidden), act(),
            dense(num_classes),
        ])
        self.build((None, 32, 32, in_channels))

    def call(self, x, training=False):
        _check(x, self.in_channels, 32, "SmallAlexNet")
        return self.classifier(self.features(x, training=training), training=training)


# ---------------------------------------------------------------- VGG and Inception

@serializable
class VGGBlock(keras.Model):
    """A VGG block: ``num_convs`` 3x3 convolutions with ReLU, then 2x2 max pooling
    (chapter: Convolutional networks, overview)."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 2, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("num_convs", num_convs)):
            check_positive_int(value, name)
        self.in_channels = in_channels
        stack = [keras.Input((None, None, in_channels))]
        for _ in range(num_convs):
            stack += [*conv(out_channels, 3, padding=1), layers.Activation("relu")]
        stack.append(layers.MaxPooling2D(2))
        self.net = keras.Sequential(stack)
        self.build((None, None, None, in_channels))

    def call(self, x, training=False):
        _check(x, self.in_channels, None, "VGGBlock")
        return self.net(x, training=training)


@serializable
class InceptionModule(keras.Model):
    """GoogLeNet's Inception module (chapter: Convolutional networks, overview).

    Four parallel branches concatenated along the channel axis (the last
    axis in NHWC). The pooling branch's ``"same"`` max pooling ignores the
    padded border, like PyTorch's ``MaxPool2d(3, 1, padding=1)``.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int,
                 c5_reduce: int, c5: int, pool_proj: int, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("in_channels", in_channels), ("c1", c1), ("c3_reduce", c3_reduce),
                            ("c3", c3), ("c5_reduce", c5_reduce), ("c5", c5),
                            ("pool_proj", pool_proj)):
            check_positive_int(value, name)
        self.in_channels = in_channels
        relu = lambda: layers.Activation("relu")  # noqa: E731
        inp = lambda: keras.Input((None, None, in_channels))  # noqa: E731
        self.branch1 = keras.Sequential([inp(), *conv(c1, 1), relu()])
        self.branch3 = keras.Sequential([inp(), *conv(c3_reduce, 1), relu(),
                                         *conv(c3, 3, padding=1), relu()])
        self.branch5 = keras.Sequential([inp(), *conv(c5_reduce, 1), relu(),
                                         *conv(c5, 5, padding=2), relu()])
        self.branch_pool = keras.Sequential([inp(), layers.MaxPooling2D(3, strides=1, padding="same"),
                                             *conv(pool_proj, 1), relu()])
        self.build((None, None, None, in_channels))

    def call(self, x, training=False):
        _check(x, self.in_channels, None, "InceptionModule")
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return ops.concatenate([b(x, training=training) for b in branches], axis=-1)


# ---------------------------------------------------------------- ResNet

def _bn() -> layers.BatchNormalization:
    # Same statistics as PyTorch's BatchNorm2d(momentum=0.1, eps=1e-5):
    # Keras keeps moving = momentum * moving + (1 - momentum) * batch.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


@serializable
class BasicBlock(keras.Model):
    """ResNet's basic block: two 3x3 conv-BN layers and a shortcut (chapter: ResNet).

    Built at construction, so its weights exist before the first call (the
    PyTorch twin's do too).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 residual: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels, self.residual = in_channels, residual
        self.conv1 = keras.Sequential(conv(out_channels, 3, stride, padding=1, use_bias=False))
        self.bn1 = _bn()
        self.conv2 = keras.Sequential(conv(out_channels, 3, padding=1, use_bias=False))
        self.bn2 = _bn()
        self.shortcut = None
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = keras.Sequential([*conv(out_channels, 1, stride, use_bias=False), _bn()])
        self.build((None, None, None, in_channels))

    def build(self, input_shape):
        self.conv1.build(input_shape)
        inner = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(inner)
        self.conv2.build(inner)
        self.bn2.build(inner)
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

    def call(self, x, training=False):
        _check(x, self.in_channels, None, type(self).__name__)
        out = ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x, training=training))
        return ops.relu(out)


@serializable
class Bottleneck(keras.Model):
    """ResNet's bottleneck block: 1x1 reduce, 3x3 (strided), 1x1 expand x4 (chapter: ResNet)."""

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 residual: bool = True, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels, self.residual = in_channels, residual
        out = out_channels * self.expansion
        self.conv1 = keras.Sequential(conv(out_channels, 1, use_bias=False))
        self.bn1 = _bn()
        self.conv2 = keras.Sequential(conv(out_channels, 3, stride, padding=1, use_bias=False))
        self.bn2 = _bn()
        self.conv3 = keras.Sequential(conv(out, 1, use_bias=False))
        self.bn3 = _bn()
        self.shortcut = None
        if residual and (stride != 1 or in_channels != out):
            self.shortcut = keras.Sequential([*conv(out, 1, stride, use_bias=False), _bn()])
        self.build((None, None, None, in_channels))

    def build(self, input_shape):
        self.conv1.build(input_shape)
        mid = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(mid)
        self.conv2.build(mid)
        mid = self.conv2.compute_output_shape(mid)
        self.bn2.build(mid)
        self.conv3.build(mid)
        self.bn3.build(self.conv3.compute_output_shape(mid))
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

    def call(self, x, training=False):
        _check(x, self.in_channels, None, "Bottleneck")
        out = ops.relu(self.bn1(self.conv1(x), training=training))
        out = ops.relu(self.bn2(self.conv2(out), training=training))
        out = self.bn3(self.conv3(out), training=training)
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x, training=training))
        return ops.relu(out)


@serializable
class PreActBlock(keras.Model):
    """Pre-activation basic block of He et al. (2016b) (chapter: ResNet).

    BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv3x3, plus the identity or a
    1x1 strided conv applied to the pre-activated input; no ReLU after the sum.
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_choice(stride, (1, 2), "stride")
        self.in_channels = in_channels
        self.bn1 = _bn()
        self.conv1 = keras.Sequential(conv(out_channels, 3, stride, padding=1, use_bias=False))
        self.bn2 = _bn()
        self.conv2 = keras.Sequential(conv(out_channels, 3, padding=1, use_bias=False))
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = keras.Sequential(conv(out_channels, 1, stride, use_bias=False))
        self.build((None, None, None, in_channels))

    def build(self, input_shape):
        self.bn1.build(input_shape)
        self.conv1.build(input_shape)
        inner = self.conv1.compute_output_shape(input_shape)
        self.bn2.build(inner)
        self.conv2.build(inner)
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

    def call(self, x, training=False):
        _check(x, self.in_channels, None, type(self).__name__)
        a = ops.relu(self.bn1(x, training=training))
        out = self.conv1(a)
        out = self.conv2(ops.relu(self.bn2(out, training=training)))
        return out + (x if self.shortcut is None else self.shortcut(a))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


@serializable
class ResNet(keras.Model):
    """Residual network (chapter: ResNet); see the PyTorch twin for the arguments.

    The ImageNet stem's 3x3/2 max pooling pads with zeros, which equals
    PyTorch's padding with minus infinity because it follows a ReLU (every
    value is already at least 0).
    """

    def __init__(self, block: str = "basic", layers=(2, 2, 2, 2), num_classes: int = 1000,
                 in_channels: int = 3, width: int = 64, stem: str = "imagenet",
                 residual: bool = True, **kwargs):
        super().__init__(**kwargs)
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
            stem_layers = [*conv(width, 7, 2, padding=3, use_bias=False), _bn(),
                           keras.layers.Activation("relu"),
                           keras.layers.ZeroPadding2D(1), keras.layers.MaxPooling2D(3, strides=2)]
        else:
            stem_layers = [*conv(width, 3, padding=1, use_bias=False), _bn(),
                           keras.layers.Activation("relu")]
        self.stem = keras.Sequential([keras.Input((None, None, in_channels)), *stem_layers])
        stages, c = [], width
        for i, n in enumerate(layers):
            out, stride = width * 2 ** i, 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                blocks.append(Block(c, out, stride if j == 0 else 1, residual=residual))
                c = out * Block.expansion
            stages.append(keras.Sequential(blocks))
        self.stages = keras.Sequential([keras.Input((None, None, width)), *stages])
        self.head = keras.Sequential([keras.Input((None, None, c)),
                                      keras.layers.GlobalAveragePooling2D(),
                                      keras.layers.Dense(num_classes)])
        self.build((None, None, None, in_channels))

    def call(self, x, training=False):
        _check(x, self.in_channels, None, "ResNet")
        x = self.stem(x, training=training)
        return self.head(self.stages(x, training=training), training=training)


# ---------------------------------------------------------------- 1-D convolutions

@serializable
class Conv1DNet(keras.Model):
    """A fully convolutional network for signals and sequences (chapter: the CNN overview).

    Wang, Yan and Oates (2017): blocks of ``Conv1D ("same") -> BatchNorm ->
    ReLU``, global average pooling over time, dropout, a dense layer to
    ``num_classes`` logits. Input ``(batch, length, in_channels)``, Keras's
    channels-last layout; the PyTorch twin takes ``(batch, in_channels,
    length)``. Both pad "same" alike for even kernel widths too (the extra
    zero goes after the signal in both).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2,
                 channels=(128, 256, 128), kernel_sizes=(8, 5, 3), dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        channels, kernel_sizes = check_conv1d_net(in_channels, num_classes, channels,
                                                  kernel_sizes, dropout)
        self.in_channels = in_channels
        blocks = [keras.Input((None, in_channels))]
        for out, k in zip(channels, kernel_sizes):
            blocks += [layers.Conv1D(out, k, padding="same", use_bias=False), _bn(),
                       layers.Activation("relu")]
        self.features = keras.Sequential(blocks)
        self.head = keras.Sequential([keras.Input((channels[-1],)), layers.Dropout(dropout),
                                      layers.Dense(num_classes)])
        self.build((None, None, in_channels))   # create the weights now, as PyTorch does

    def call(self, x, training=False):
        check_signal(x.shape, self.in_channels, "NLC", "Conv1DNet")
        check_float(x.dtype, "Conv1DNet")
        h = ops.mean(self.features(x, training=training), axis=1)   # global average pooling
        return self.head(h, training=training)
