"""Hybrid and advanced models in Keras 3 (part VIII of the book).

Read side by side with ``companion/torch/hybrid.py``: same class names, same
constructor arguments, same layer order. Only ``keras.layers`` and
``keras.ops`` are used. Graphs use the book's one format (node features
``(nodes, features)`` and an ``edge_index`` ``(2, edges)``, see
``companion.numpy.graph``); neighbourhood sums are ``keras.ops.segment_sum``
over the targets. Images are NHWC. Details that make the twins equal:
``LayerNormalization(epsilon=1e-5)`` and ``BatchNormalization(momentum=0.9,
epsilon=1e-5)`` (PyTorch's defaults), exact GELU (``Activation("gelu")``),
explicit zero padding before a strided 3x3 convolution.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from companion.checks import check_choice, check_float, check_image, check_positive_int
from companion.keras.saving import serializable
from companion.numpy.graph import check_graph, check_node_features
from companion.numpy.coatnet import relative_position_index


# ================================================================ graph neural networks

def _edges(edge_index, num_nodes: int, model: str) -> np.ndarray:
    return check_graph(np.asarray(ops.convert_to_numpy(edge_index)), num_nodes, model)


def _numpy_edges(edge_index) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(edge_index)).astype(np.int64)


def with_self_loops(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    loops = np.arange(num_nodes, dtype=np.int64)
    return np.concatenate([np.asarray(edge_index), np.stack([loops, loops])], axis=1)


def _sum_into(messages, dst, num_nodes: int):
    """Sum the messages arriving at each node (a segment sum over the targets)."""
    return ops.segment_sum(messages, dst, num_segments=num_nodes)


def _gelu(x):
    return keras.activations.gelu(x, approximate=False)     # exact, like torch's nn.GELU


class GCNConv(layers.Layer):
    """Kipf and Welling's graph convolution ``D^-1/2 (A+I) D^-1/2 X W + b``."""

    def __init__(self, in_features: int, out_features: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.lin = layers.Dense(out_features)
        self.lin.build((None, in_features))
        self.built = True

    def call(self, x, edge_index, num_nodes):
        return self.propagate(x, _numpy_edges(edge_index), int(num_nodes))

    def propagate(self, x, edge_index, num_nodes):
        src, dst = with_self_loops(edge_index, num_nodes)
        deg = np.bincount(dst, minlength=num_nodes).astype("float32")
        weight = ops.convert_to_tensor((1.0 / np.sqrt(deg[src] * deg[dst]))[:, None], dtype=x.dtype)
        return self.lin(_sum_into(ops.take(x, src, axis=0) * weight, dst, num_nodes))


class SAGEConv(layers.Layer):
    """GraphSAGE with the mean aggregator: ``mean_{j in N(i)} x_j W_neigh + b + x_i W_self``."""

    def __init__(self, in_features: int, out_features: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.lin_neigh = layers.Dense(out_features)
        self.lin_self = layers.Dense(out_features, use_bias=False)
        self.lin_neigh.build((None, in_features))
        self.lin_self.build((None, in_features))
        self.built = True

    def call(self, x, edge_index, num_nodes):
        return self.propagate(x, _numpy_edges(edge_index), int(num_nodes))

    def propagate(self, x, edge_index, num_nodes):
        src, dst = edge_index
        count = np.maximum(np.bincount(dst, minlength=num_nodes), 1)[:, None]
        mean = _sum_into(ops.take(x, src, axis=0), dst, num_nodes) / ops.convert_to_tensor(count, dtype=x.dtype)
        return self.lin_neigh(mean) + self.lin_self(x)


class GATAttention(layers.Layer):
    """GAT's attention vectors and bias (same shapes as the PyTorch twin's)."""

    def __init__(self, heads: int, out_features: int, concat: bool = True,
                 negative_slope: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.out_features, self.concat = heads, out_features, concat
        self.negative_slope = negative_slope
        self.att_src = self.add_weight(shape=(heads, out_features), initializer="glorot_uniform",
                                       name="att_src")
        self.att_dst = self.add_weight(shape=(heads, out_features), initializer="glorot_uniform",
                                       name="att_dst")
        self.bias = self.add_weight(shape=(heads * out_features if concat else out_features,),
                                    initializer="zeros", name="bias")
        self.attention = None
        self.built = True

    def call(self, h, edge_index, num_nodes):
        return self.propagate(h, _numpy_edges(edge_index), int(num_nodes))

    def propagate(self, h, edge_index, num_nodes):
        h = ops.reshape(h, (num_nodes, self.heads, self.out_features))
        edges = with_self_loops(edge_index, num_nodes)
        src, dst = edges
        score = ops.take(ops.sum(h * self.att_src, -1), src, axis=0) \
            + ops.take(ops.sum(h * self.att_dst, -1), dst, axis=0)
        score = ops.leaky_relu(score, self.negative_slope)                  # (edges, heads)
        top = ops.segment_max(score, dst, num_segments=num_nodes)
        weight = ops.exp(score - ops.take(top, dst, axis=0))
        alpha = weight / ops.take(_sum_into(weight, dst, num_nodes), dst, axis=0)
        self.attention = (edges, alpha)
        out = _sum_into(alpha[..., None] * ops.take(h, src, axis=0), dst, num_nodes)
        out = ops.reshape(out, (num_nodes, -1)) if self.concat else ops.mean(out, axis=1)
        return out + self.bias


class GATConv(layers.Layer):
    """Graph attention layer of Velickovic et al.: a shared linear map, then attention."""

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("heads", heads)):
            check_positive_int(value, name)
        self.lin = layers.Dense(heads * out_features, use_bias=False)
        self.lin.build((None, in_features))
        self.attend = GATAttention(heads, out_features, concat)
        self.built = True

    def call(self, x, edge_index, num_nodes):
        return self.propagate(x, _numpy_edges(edge_index), int(num_nodes))

    def propagate(self, x, edge_index, num_nodes):
        return self.attend.propagate(self.lin(x), edge_index, num_nodes)


class _GraphNet(keras.Model):
    """Layers of one graph convolution, ReLU (and dropout) between them; see the PyTorch twin."""

    def _conv(self, i, fan_in, fan_out, last):
        raise NotImplementedError

    def _multiplier(self) -> int:
        return 1

    def __init__(self, in_features: int, hidden=(16,), out_features: int = 2,
                 dropout: float = 0.0, residual: bool = False, edge_index=None,
                 num_nodes: int | None = None, heads: int = 1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        check_positive_int(heads, "heads")
        for h in hidden:
            check_positive_int(h, "every hidden width")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features, self.residual, self.heads = in_features, residual, heads
        widths = [in_features, *hidden, out_features]
        self.convs = []
        fan_in = in_features
        for i, width in enumerate(widths[1:]):
            last = i == len(widths) - 2
            self.convs.append(self._conv(i, fan_in, width, last))
            fan_in = width if last else width * self._multiplier()
        self.drop = layers.Dropout(dropout)
        self.num_nodes = None
        self.graph = None
        if edge_index is not None:
            self.num_nodes = int(num_nodes) if num_nodes is not None else int(np.max(edge_index)) + 1
            self.graph = _edges(np.asarray(edge_index), self.num_nodes, type(self).__name__)
        self.built = True   # every layer was built with its known width

    def _graph(self, x, edge_index):
        name = type(self).__name__
        if edge_index is None:
            if self.graph is None:
                raise ValueError(f"{name} is not bound to a graph: call model(x, edge_index)")
            check_node_features(tuple(x.shape), self.in_features, self.num_nodes, name)
            return self.graph, self.num_nodes
        check_node_features(tuple(x.shape), self.in_features, None, name)
        return _edges(edge_index, int(x.shape[0]), name), int(x.shape[0])

    def embed(self, x, edge_index=None, training=False):
        """Node representations after every layer: a list of ``(nodes, width)`` tensors."""
        x = ops.convert_to_tensor(x)
        check_float(str(x.dtype), type(self).__name__)
        edge_index, n = self._graph(x, edge_index)
        states = []
        for i, conv in enumerate(self.convs):
            last = i == len(self.convs) - 1
            # propagate, not __call__: Keras would turn the NumPy edge_index into a tensor
            h = conv.propagate(self.drop(x, training=training), edge_index, n)
            if not last:
                h = ops.relu(h)
                if self.residual and tuple(h.shape) == tuple(x.shape):
                    h = h + x
            states.append(h)
            x = h
        return states

    def call(self, x, edge_index=None, training=False):
        return self.embed(x, edge_index, training=training)[-1]


@serializable
class GCN(_GraphNet):
    """A graph convolutional network (chapter: Graph neural networks)."""

    def _conv(self, i, fan_in, fan_out, last):
        return GCNConv(fan_in, fan_out)


@serializable
class GraphSAGE(_GraphNet):
    """GraphSAGE with mean aggregation (chapter: Graph neural networks)."""

    def _conv(self, i, fan_in, fan_out, last):
        return SAGEConv(fan_in, fan_out)


@serializable
class GAT(_GraphNet):
    """A graph attention network (chapter: Graph neural networks)."""

    def _multiplier(self):
        return self.heads

    def _conv(self, i, fan_in, fan_out, last):
        return GATConv(fan_in, fan_out, heads=1 if last else self.heads)


# ================================================================ convolution-attention hybrids

def _bn() -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


def _ln() -> layers.LayerNormalization:
    return layers.LayerNormalization(epsilon=1e-5)


@serializable
class MBConv(keras.Model):
    """Mobile inverted bottleneck with squeeze-excitation, pre-norm (chapter: CoAtNet)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expansion: int = 4, se_ratio: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(expansion, "expansion")
        check_choice(stride, (1, 2), "stride")
        hidden, squeezed = in_channels * expansion, max(1, int(in_channels * se_ratio))
        self.in_channels, self.stride = in_channels, stride
        self.norm = _bn()
        self.expand = layers.Conv2D(hidden, 1, use_bias=False)
        self.bn1 = _bn()
        self.pad = layers.ZeroPadding2D(1)
        self.depthwise = layers.DepthwiseConv2D(3, strides=stride, padding="valid", use_bias=False)
        self.bn2 = _bn()
        self.se_reduce = layers.Dense(squeezed)
        self.se_expand = layers.Dense(hidden)
        self.project = layers.Conv2D(out_channels, 1)
        self.shortcut = None
        if stride == 2 or in_channels != out_channels:
            pool = [layers.MaxPooling2D(2)] if stride == 2 else []
            self.shortcut = keras.Sequential([*pool, layers.Conv2D(out_channels, 1)])
        self.build((None, None, None, in_channels))

    def build(self, input_shape):
        c, hidden = input_shape[-1], self.expand.filters
        self.norm.build(input_shape)
        self.expand.build(input_shape)
        self.bn1.build((None, None, None, hidden))
        self.depthwise.build((None, None, None, hidden))
        self.bn2.build((None, None, None, hidden))
        self.se_reduce.build((None, hidden))
        self.se_expand.build((None, self.se_reduce.units))
        self.project.build((None, None, None, hidden))
        if self.shortcut is not None:
            self.shortcut.build((None, 8, 8, c))
        self.built = True

    def call(self, x, training=False):
        check_image(tuple(x.shape), self.in_channels, None, "NHWC", "MBConv")
        check_float(str(x.dtype), "MBConv")
        h = _gelu(self.bn1(self.expand(self.norm(x, training=training)), training=training))
        h = _gelu(self.bn2(self.depthwise(self.pad(h)), training=training))
        s = _gelu(self.se_reduce(ops.mean(h, axis=(1, 2))))
        h = h * ops.sigmoid(self.se_expand(s))[:, None, None, :]
        return self.project(h) + (x if self.shortcut is None else self.shortcut(x))


class RelativePositionBias(layers.Layer):
    """A learned scalar per head and per 2-D offset, added to the attention logits."""

    def __init__(self, size: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.table = self.add_weight(shape=((2 * size - 1) ** 2, heads),
                                     initializer=keras.initializers.RandomNormal(stddev=0.02),
                                     name="table")
        self.index = relative_position_index(size)
        self.built = True

    def matrix(self):
        """The bias of every token pair, ``(heads, N, N)``."""
        return ops.transpose(ops.take(self.table, self.index, axis=0), (2, 0, 1))


class RelativeAttention(layers.Layer):
    """Multi-head self-attention with a relative position bias (see the PyTorch twin)."""

    def __init__(self, in_features: int, out_features: int, heads: int, size: int, **kwargs):
        super().__init__(**kwargs)
        if out_features % heads:
            raise ValueError(f"out_features={out_features} must be divisible by heads={heads}")
        self.heads, self.size, self.out_features = heads, size, out_features
        self.qkv = layers.Dense(3 * out_features)
        self.bias = RelativePositionBias(size, heads)
        self.proj = layers.Dense(out_features)
        self.qkv.build((None, None, in_features))
        self.proj.build((None, None, out_features))
        self.attention = None
        self.built = True

    def call(self, tokens):
        n = self.size * self.size
        qkv = ops.reshape(self.qkv(tokens), (-1, n, 3, self.heads, self.out_features // self.heads))
        q, k, v = (ops.transpose(qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(q.shape[-1]) + self.bias.matrix()
        attn = ops.softmax(logits, axis=-1)
        self.attention = attn
        out = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (-1, n, self.out_features))
        return self.proj(out)


@serializable
class TransformerBlock(keras.Model):
    """A pre-norm transformer block on a feature map (NHWC); see the PyTorch twin."""

    def __init__(self, in_channels: int, out_channels: int, size: int, heads: int = 1,
                 downsample: bool = False, mlp_ratio: int = 4, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("size", size), ("heads", heads), ("mlp_ratio", mlp_ratio)):
            check_positive_int(value, name)
        if downsample and size % 2:
            raise ValueError(f"downsampling needs an even size, got {size}")
        self.in_channels, self.size, self.downsample = in_channels, size, downsample
        self.out_channels = out_channels
        self.grid = size // 2 if downsample else size
        self.pool = layers.MaxPooling2D(2)
        self.norm1 = _ln()
        self.attn = RelativeAttention(in_channels, out_channels, heads, self.grid)
        self.shortcut = layers.Dense(out_channels) \
            if downsample or in_channels != out_channels else None
        self.norm2 = _ln()
        self.mlp = keras.Sequential([layers.Dense(mlp_ratio * out_channels),
                                     layers.Activation("gelu"), layers.Dense(out_channels)])
        self.norm1.build((None, None, in_channels))
        if self.shortcut is not None:
            self.shortcut.build((None, None, in_channels))
        self.norm2.build((None, None, out_channels))
        self.mlp.build((None, None, out_channels))
        self.built = True

    def call(self, x, training=False):
        check_image(tuple(x.shape), self.in_channels, self.size, "NHWC", "TransformerBlock")
        check_float(str(x.dtype), "TransformerBlock")
        if self.downsample:
            x = self.pool(x)
        g = self.grid
        tokens = ops.reshape(x, (-1, g * g, self.in_channels))             # row-major, like torch
        y = tokens if self.shortcut is None else self.shortcut(tokens)
        y = y + self.attn(self.norm1(tokens))
        y = y + self.mlp(self.norm2(y))
        return ops.reshape(y, (-1, g, g, self.out_channels))


@serializable
class CoAtNet(keras.Model):
    """CoAtNet of Dai et al. (2021); see the PyTorch twin for the arguments."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1000, image_size: int = 224,
                 layout: str = "CCTT", channels=(96, 192, 384, 768), depths=(2, 3, 5, 2),
                 stem_channels: int = 64, head_dim: int = 32, stem_stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        if len(layout) != len(channels) or len(layout) != len(depths) or set(layout) - set("CT"):
            raise ValueError(f"layout {layout!r} must be a string of 'C' and 'T' with one letter "
                             f"per entry of channels {channels} and depths {depths}")
        check_choice(stem_stride, (1, 2), "stem_stride")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("image_size", image_size), ("stem_channels", stem_channels)):
            check_positive_int(value, name)
        self.in_channels, self.image_size = in_channels, image_size
        size = image_size // stem_stride
        if image_size % (stem_stride * 2 ** len(layout)):
            raise ValueError(f"image_size {image_size} must be divisible by "
                             f"{stem_stride * 2 ** len(layout)} for this layout")
        first = [layers.ZeroPadding2D(1), layers.Conv2D(stem_channels, 3, strides=stem_stride,
                                                        use_bias=False)]
        self.stem = keras.Sequential([
            keras.Input((image_size, image_size, in_channels)), *first, _bn(),
            layers.Activation("gelu"), layers.Conv2D(stem_channels, 3, padding="same")])
        blocks, c = [], stem_channels
        for kind, width, depth in zip(layout, channels, depths):
            for j in range(depth):
                if kind == "C":
                    blocks.append(MBConv(c, width, stride=2 if j == 0 else 1))
                else:
                    blocks.append(TransformerBlock(c, width, size, heads=max(1, width // head_dim),
                                                   downsample=j == 0))
                if j == 0:
                    size //= 2
                c = width
        self.blocks = keras.Sequential(blocks)
        self.norm = _ln()
        self.head = layers.Dense(num_classes)
        self.blocks.build((None, image_size // stem_stride, image_size // stem_stride, stem_channels))
        self.norm.build((None, c))
        self.head.build((None, c))
        self.built = True

    def call(self, x, training=False):
        check_image(tuple(x.shape), self.in_channels, self.image_size, "NHWC", "CoAtNet")
        check_float(str(x.dtype), "CoAtNet")
        h = self.blocks(self.stem(x, training=training), training=training)
        return self.head(self.norm(ops.mean(h, axis=(1, 2))))


@serializable
class VisionTransformer(keras.Model):
    """A small vision transformer (see the PyTorch twin)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 patch_size: int = 4, dim: int = 64, depth: int = 4, heads: int = 2, **kwargs):
        super().__init__(**kwargs)
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be divisible by patch_size {patch_size}")
        self.in_channels, self.image_size = in_channels, image_size
        grid = image_size // patch_size
        self.patches = layers.Conv2D(dim, patch_size, strides=patch_size)
        self.blocks = keras.Sequential([TransformerBlock(dim, dim, grid, heads) for _ in range(depth)])
        self.norm = _ln()
        self.head = layers.Dense(num_classes)
        self.patches.build((None, image_size, image_size, in_channels))
        self.blocks.build((None, grid, grid, dim))
        self.norm.build((None, dim))
        self.head.build((None, dim))
        self.built = True

    def call(self, x, training=False):
        check_image(tuple(x.shape), self.in_channels, self.image_size, "NHWC", "VisionTransformer")
        check_float(str(x.dtype), "VisionTransformer")
        h = self.blocks(self.patches(x), training=training)
        return self.head(self.norm(ops.mean(h, axis=(1, 2))))


# ================================================================ neural ODEs

class ODEFunc(layers.Layer):
    """The learned vector field ``f(t, y) = tanh(g(y) W1 + b1) W2 + b2`` (chapter: Neural ODEs)."""

    def __init__(self, dim: int = 2, hidden: int = 50, cubic: bool = False, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        self.dim, self.cubic = dim, cubic
        self.net = keras.Sequential([layers.Dense(hidden, activation="tanh"), layers.Dense(dim)])
        self.net.build((None, dim))
        self.built = True

    def call(self, y, t=None):
        # Keras layers take tensors positionally, so the state comes first here;
        # the solvers below call ``f(t, y)`` and the NeuralODE adapts.
        return self.net(y ** 3 if self.cubic else y)


def rk4_trajectory(func, y0, times, steps_per_interval: int = 1):
    """States at ``times`` by fixed-step RK4 in ``keras.ops``: ``(len(times),) + y0.shape``."""
    y, out = y0, [y0]
    for a, b in zip(times[:-1], times[1:]):
        h = (b - a) / steps_per_interval
        for k in range(steps_per_interval):
            t = a + k * h
            k1 = func(t, y)
            k2 = func(t + h / 2, y + h / 2 * k1)
            k3 = func(t + h / 2, y + h / 2 * k2)
            k4 = func(t + h, y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return ops.stack(out)


@serializable
class NeuralODE(keras.Model):
    """``y(t1)`` from ``y(0)`` by ``steps`` RK4 steps (see the PyTorch twin)."""

    def __init__(self, dim: int = 2, hidden: int = 50, cubic: bool = False, t1: float = 1.0,
                 steps: int = 10, times=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(steps, "steps")
        self.dim, self.steps = dim, steps
        self.times = [0.0, float(t1)] if times is None else [float(t) for t in times]
        self.return_trajectory = times is not None
        self.func = ODEFunc(dim, hidden, cubic)
        self.built = True

    def call(self, y0, training=False):
        if len(y0.shape) != 2 or y0.shape[1] != self.dim:
            raise ValueError(f"NeuralODE expected input of shape (batch, {self.dim}), got {tuple(y0.shape)}")
        y0 = ops.convert_to_tensor(y0)
        check_float(str(y0.dtype), "NeuralODE")
        ys = rk4_trajectory(lambda t, y: self.func(y, t=t), y0, self.times, self.steps)
        return ops.transpose(ys, (1, 0, 2)) if self.return_trajectory else ys[-1]
