"""Hybrid and advanced models in PyTorch (part VIII of the book).

Read side by side with ``companion/keras/hybrid.py``: same class names, same
constructor arguments, same layer order, so ``companion.parity`` copies the
weights one layer at a time.

* Graph neural networks (chapter: Graph neural networks): ``GCNConv``,
  ``SAGEConv``, ``GATConv`` and the two-or-more-layer models ``GCN``,
  ``GraphSAGE``, ``GAT``. A graph is node features ``x`` of shape
  ``(nodes, features)`` plus an ``edge_index`` of shape ``(2, edges)``
  (row 0 sources, row 1 targets; see ``companion.numpy.graph``). A model may
  be *bound* to one graph at construction (``edge_index=..., num_nodes=...``),
  the transductive setting of node classification; then ``model(x)`` uses it.
* Convolution-attention hybrids (chapter: CoAtNet): ``MBConv``,
  ``RelativeAttention``, ``TransformerBlock``, ``CoAtNet`` and a small
  ``VisionTransformer``.
* Neural ODEs (chapter: Neural ODEs): ``ODEFunc`` and ``NeuralODE``, integrated
  with the classical Runge-Kutta method written in tensor operations (the
  chapter also uses ``torchdiffeq``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from companion.checks import check_choice, check_float, check_image, check_positive_int
from companion.numpy.coatnet import relative_position_index
from companion.numpy.graph import check_graph, check_node_features


# ================================================================ graph neural networks

def _edges(edge_index, num_nodes: int, model: str) -> torch.Tensor:
    e = edge_index.detach().cpu().numpy() if torch.is_tensor(edge_index) else edge_index
    return torch.as_tensor(check_graph(e, num_nodes, model))


def _sum_into(messages: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sum the messages arriving at each node (``index_add``: a segment sum)."""
    out = messages.new_zeros((num_nodes,) + messages.shape[1:])
    return out.index_add(0, dst, messages)


def with_self_loops(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    loops = torch.arange(num_nodes, dtype=edge_index.dtype)
    return torch.cat([edge_index, torch.stack([loops, loops])], dim=1)


class GCNConv(nn.Module):
    """Kipf and Welling's graph convolution ``D^-1/2 (A+I) D^-1/2 X W^T + b``.

    The normalised neighbourhood sum comes first and the linear map after it
    (the two commute), so the layer is one ``nn.Linear`` with its bias.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.lin = nn.Linear(in_features, out_features)

    def forward(self, x, edge_index):
        n = x.shape[0]
        src, dst = with_self_loops(edge_index, n)
        deg = torch.bincount(dst, minlength=n).to(x.dtype)
        weight = deg[src].rsqrt() * deg[dst].rsqrt()
        return self.lin(_sum_into(x[src] * weight[:, None], dst, n))


class SAGEConv(nn.Module):
    """GraphSAGE with the mean aggregator: ``W_neigh mean_{j in N(i)} x_j + b + W_self x_i``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.lin_neigh = nn.Linear(in_features, out_features)
        self.lin_self = nn.Linear(in_features, out_features, bias=False)

    def forward(self, x, edge_index):
        n = x.shape[0]
        src, dst = edge_index
        count = torch.bincount(dst, minlength=n).clamp(min=1).to(x.dtype)
        mean = _sum_into(x[src], dst, n) / count[:, None]
        return self.lin_neigh(mean) + self.lin_self(x)


class GATAttention(nn.Module):
    """GAT's attention vectors and bias; weighs and sums the projected messages.

    ``alpha_ij = softmax_j LeakyReLU(a_src . h_j + a_dst . h_i)`` over the
    incoming edges of ``i`` (self-loop included). The last coefficients are
    kept in ``self.attention`` (edges with self-loops, ``(edges, heads)``).
    """

    def __init__(self, heads: int, out_features: int, concat: bool = True,
                 negative_slope: float = 0.2):
        super().__init__()
        self.heads, self.out_features, self.concat = heads, out_features, concat
        self.negative_slope = negative_slope
        self.att_src = nn.Parameter(torch.empty(heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(heads, out_features))
        self.bias = nn.Parameter(torch.zeros(heads * out_features if concat else out_features))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        self.attention = None

    def forward(self, h, edge_index):
        n = h.shape[0]
        h = h.view(n, self.heads, self.out_features)
        edges = with_self_loops(edge_index, n)
        src, dst = edges
        score = (h * self.att_src).sum(-1)[src] + (h * self.att_dst).sum(-1)[dst]
        score = F.leaky_relu(score, self.negative_slope)                       # (edges, heads)
        top = score.new_full((n, self.heads), -math.inf).scatter_reduce(
            0, dst[:, None].expand_as(score), score, reduce="amax")
        weight = (score - top[dst]).exp()
        alpha = weight / _sum_into(weight, dst, n)[dst]
        self.attention = (edges, alpha.detach())
        out = _sum_into(alpha[..., None] * h[src], dst, n)                    # (n, heads, out)
        out = out.reshape(n, -1) if self.concat else out.mean(dim=1)
        return out + self.bias


class GATConv(nn.Module):
    """Graph attention layer of Velickovic et al.: a shared linear map, then attention."""

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("heads", heads)):
            check_positive_int(value, name)
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.attend = GATAttention(heads, out_features, concat)

    def forward(self, x, edge_index):
        return self.attend(self.lin(x), edge_index)


class _GraphNet(nn.Module):
    """Layers of one graph convolution, ReLU (and dropout) between them.

    ``hidden`` lists the hidden widths. ``residual=True`` adds each hidden
    layer's input to its output where the widths agree. ``edge_index`` and
    ``num_nodes`` bind the model to one graph (``model(x)`` then uses it).
    """

    def _conv(self, i: int, fan_in: int, fan_out: int, last: bool) -> nn.Module:
        raise NotImplementedError

    def __init__(self, in_features: int, hidden=(16,), out_features: int = 2,
                 dropout: float = 0.0, residual: bool = False, edge_index=None,
                 num_nodes: int | None = None, heads: int = 1):
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        check_positive_int(heads, "heads")
        for h in hidden:
            check_positive_int(h, "every hidden width")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features, self.dropout, self.residual, self.heads = in_features, dropout, residual, heads
        widths = [in_features, *hidden, out_features]
        self.convs = nn.ModuleList()
        fan_in = in_features
        for i, width in enumerate(widths[1:]):
            last = i == len(widths) - 2
            self.convs.append(self._conv(i, fan_in, width, last))
            fan_in = width if last else width * self._multiplier()
        self.num_nodes = None
        if edge_index is not None:
            self.num_nodes = int(num_nodes) if num_nodes is not None else int(np.max(edge_index)) + 1
            self.register_buffer("edge_index", _edges(np.asarray(edge_index), self.num_nodes,
                                                      type(self).__name__), persistent=False)
        else:
            self.edge_index = None

    def _multiplier(self) -> int:
        return 1

    def _graph(self, x, edge_index):
        name = type(self).__name__
        if edge_index is None:
            if self.edge_index is None:
                raise ValueError(f"{name} is not bound to a graph: call model(x, edge_index)")
            check_node_features(tuple(x.shape), self.in_features, self.num_nodes, name)
            return self.edge_index
        check_node_features(tuple(x.shape), self.in_features, None, name)
        return _edges(edge_index, x.shape[0], name)

    def embed(self, x, edge_index=None):
        """Node representations after every layer: a list of ``(nodes, width)`` tensors."""
        check_float(str(x.dtype), type(self).__name__, self)
        edge_index = self._graph(x, edge_index)
        states = []
        for i, conv in enumerate(self.convs):
            last = i == len(self.convs) - 1
            h = conv(F.dropout(x, self.dropout, self.training), edge_index)
            if not last:
                h = F.relu(h)
                if self.residual and h.shape == x.shape:
                    h = h + x
            states.append(h)
            x = h
        return states

    def forward(self, x, edge_index=None):
        return self.embed(x, edge_index)[-1]


class GCN(_GraphNet):
    """A graph convolutional network (chapter: Graph neural networks)."""

    def _conv(self, i, fan_in, fan_out, last):
        return GCNConv(fan_in, fan_out)


class GraphSAGE(_GraphNet):
    """GraphSAGE with mean aggregation (chapter: Graph neural networks)."""

    def _conv(self, i, fan_in, fan_out, last):
        return SAGEConv(fan_in, fan_out)


class GAT(_GraphNet):
    """A graph attention network: hidden layers with ``heads`` heads concatenated,
    a one-head output layer (chapter: Graph neural networks)."""

    def _multiplier(self):
        return self.heads

    def _conv(self, i, fan_in, fan_out, last):
        return GATConv(fan_in, fan_out, heads=1 if last else self.heads)


# ================================================================ convolution-attention hybrids

class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation, pre-norm (chapter: CoAtNet).

    ``x + project(SE(GELU(BN(depthwise(GELU(BN(expand(BN(x))))))))``; with
    ``stride=2`` or a change of width the shortcut is a 2x2 max-pool and a 1x1
    convolution, as in CoAtNet's downsampling blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expansion: int = 4, se_ratio: float = 0.25):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(expansion, "expansion")
        check_choice(stride, (1, 2), "stride")
        hidden, squeezed = in_channels * expansion, max(1, int(in_channels * se_ratio))
        self.in_channels = in_channels
        self.norm = nn.BatchNorm2d(in_channels)
        self.expand = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.se_reduce = nn.Linear(hidden, squeezed)
        self.se_expand = nn.Linear(squeezed, hidden)
        self.project = nn.Conv2d(hidden, out_channels, 1)
        self.shortcut = None
        if stride == 2 or in_channels != out_channels:
            pool = nn.MaxPool2d(2) if stride == 2 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x):
        check_image(tuple(x.shape), self.in_channels, None, "NCHW", "MBConv")
        check_float(str(x.dtype), "MBConv", self)
        h = F.gelu(self.bn1(self.expand(self.norm(x))))
        h = F.gelu(self.bn2(self.depthwise(h)))
        s = F.gelu(self.se_reduce(h.mean(dim=(2, 3))))
        h = h * torch.sigmoid(self.se_expand(s))[:, :, None, None]
        return self.project(h) + (x if self.shortcut is None else self.shortcut(x))


class RelativePositionBias(nn.Module):
    """A learned scalar per head and per 2-D offset, added to the attention logits."""

    def __init__(self, size: int, heads: int):
        super().__init__()
        self.table = nn.Parameter(torch.randn((2 * size - 1) ** 2, heads) * 0.02)
        self.register_buffer("index", torch.from_numpy(relative_position_index(size)),
                             persistent=False)

    def matrix(self):
        """The bias of every token pair, ``(heads, N, N)``."""
        return self.table[self.index].permute(2, 0, 1)                     # (heads, N, N)


class RelativeAttention(nn.Module):
    """Multi-head self-attention over a ``size x size`` grid of tokens with a relative
    position bias: ``softmax(Q K^T / sqrt(d) + B) V`` (CoAtNet's pre-softmax relative attention)."""

    def __init__(self, in_features: int, out_features: int, heads: int, size: int):
        super().__init__()
        if out_features % heads:
            raise ValueError(f"out_features={out_features} must be divisible by heads={heads}")
        self.heads, self.size = heads, size
        self.qkv = nn.Linear(in_features, 3 * out_features)
        self.bias = RelativePositionBias(size, heads)
        self.proj = nn.Linear(out_features, out_features)
        self.attention = None

    def forward(self, tokens):
        b, n, _ = tokens.shape
        q, k, v = self.qkv(tokens).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + self.bias.matrix()
        attn = logits.softmax(dim=-1)                                        # (b, heads, n, n)
        self.attention = attn.detach()
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1))


class TransformerBlock(nn.Module):
    """A pre-norm transformer block on a feature map (chapter: CoAtNet).

    Input and output are images (NCHW); inside, every pixel is a token. With
    ``downsample=True`` the map is max-pooled by 2 first and the shortcut is a
    linear projection, CoAtNet's ``Proj(Pool(x)) + Attention(Norm(Pool(x)))``.
    ``size`` is the input's height and width.
    """

    def __init__(self, in_channels: int, out_channels: int, size: int, heads: int = 1,
                 downsample: bool = False, mlp_ratio: int = 4):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("size", size), ("heads", heads), ("mlp_ratio", mlp_ratio)):
            check_positive_int(value, name)
        if downsample and size % 2:
            raise ValueError(f"downsampling needs an even size, got {size}")
        self.in_channels, self.size, self.downsample = in_channels, size, downsample
        self.grid = size // 2 if downsample else size
        self.norm1 = nn.LayerNorm(in_channels)
        self.attn = RelativeAttention(in_channels, out_channels, heads, self.grid)
        self.shortcut = nn.Linear(in_channels, out_channels) \
            if downsample or in_channels != out_channels else None
        self.norm2 = nn.LayerNorm(out_channels)
        self.mlp = nn.Sequential(nn.Linear(out_channels, mlp_ratio * out_channels), nn.GELU(),
                                 nn.Linear(mlp_ratio * out_channels, out_channels))

    def forward(self, x):
        check_image(tuple(x.shape), self.in_channels, self.size, "NCHW", "TransformerBlock")
        check_float(str(x.dtype), "TransformerBlock", self)
        if self.downsample:
            x = F.max_pool2d(x, 2)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)                                # (b, h*w, c)
        y = tokens if self.shortcut is None else self.shortcut(tokens)
        y = y + self.attn(self.norm1(tokens))
        y = y + self.mlp(self.norm2(y))
        return y.transpose(1, 2).reshape(b, -1, h, w)


class CoAtNet(nn.Module):
    """CoAtNet of Dai et al. (2021): a convolutional stem, then stages of MBConv
    (``"C"``) and transformer (``"T"``) blocks, each stage halving the resolution.

    ``layout="CCTT"`` with ``channels=(96, 192, 384, 768)``, ``depths=(2, 3, 5, 2)``,
    ``stem_channels=64``, ``image_size=224`` is CoAtNet-0. ``layout="CCCC"`` is a
    pure convolutional network of the same shape. Heads have ``head_dim`` channels.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1000, image_size: int = 224,
                 layout: str = "CCTT", channels=(96, 192, 384, 768), depths=(2, 3, 5, 2),
                 stem_channels: int = 64, head_dim: int = 32, stem_stride: int = 2):
        super().__init__()
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
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels), nn.GELU(),
            nn.Conv2d(stem_channels, stem_channels, 3, padding=1))
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
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        check_image(tuple(x.shape), self.in_channels, self.image_size, "NCHW", "CoAtNet")
        check_float(str(x.dtype), "CoAtNet", self)
        h = self.blocks(self.stem(x))
        return self.head(self.norm(h.mean(dim=(2, 3))))


class VisionTransformer(nn.Module):
    """A small vision transformer: non-overlapping patches embedded by a strided
    convolution, ``depth`` transformer blocks (relative position bias instead of
    ViT's learned absolute embeddings), mean pooling, a linear head (chapter: CoAtNet)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 patch_size: int = 4, dim: int = 64, depth: int = 4, heads: int = 2):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be divisible by patch_size {patch_size}")
        self.in_channels, self.image_size = in_channels, image_size
        grid = image_size // patch_size
        self.patches = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, dim, grid, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        check_image(tuple(x.shape), self.in_channels, self.image_size, "NCHW", "VisionTransformer")
        check_float(str(x.dtype), "VisionTransformer", self)
        h = self.blocks(self.patches(x))
        return self.head(self.norm(h.mean(dim=(2, 3))))


# ================================================================ neural ODEs

class ODEFunc(nn.Module):
    """The learned vector field ``f(t, y) = W2 tanh(W1 g(y) + b1) + b2`` (chapter: Neural ODEs).

    ``cubic=True`` feeds ``y**3`` (the features of Chen et al.'s spiral demo).
    ``nfe`` counts the evaluations, which an adaptive solver decides.
    """

    def __init__(self, dim: int = 2, hidden: int = 50, cubic: bool = False):
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(hidden, "hidden")
        self.dim, self.cubic, self.nfe = dim, cubic, 0
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t, y):
        self.nfe += 1
        return self.net(y ** 3 if self.cubic else y)


def rk4_trajectory(func, y0, times, steps_per_interval: int = 1):
    """States at ``times`` (a 1-D tensor or list), RK4 with fixed steps: ``(len(times),) + y0.shape``."""
    times = torch.as_tensor(times, dtype=y0.dtype)
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
    return torch.stack(out)


class NeuralODE(nn.Module):
    """``y(t1) = y(0) + integral of f(t, y) dt``, by ``steps`` RK4 steps (chapter: Neural ODEs).

    ``model(y0)`` returns the final state ``(batch, dim)``; with ``times`` given,
    ``(batch, len(times), dim)``: the states at those times (``steps`` RK4
    steps between consecutive times).
    """

    def __init__(self, dim: int = 2, hidden: int = 50, cubic: bool = False, t1: float = 1.0,
                 steps: int = 10, times=None):
        super().__init__()
        check_positive_int(steps, "steps")
        self.dim, self.steps = dim, steps
        self.times = [0.0, float(t1)] if times is None else [float(t) for t in times]
        self.return_trajectory = times is not None
        self.func = ODEFunc(dim, hidden, cubic)

    def forward(self, y0):
        if y0.ndim != 2 or y0.shape[1] != self.dim:
            raise ValueError(f"NeuralODE expected input of shape (batch, {self.dim}), got {tuple(y0.shape)}")
        check_float(str(y0.dtype), "NeuralODE", self)
        ys = rk4_trajectory(self.func, y0, self.times, self.steps)
        return ys.transpose(0, 1) if self.return_trajectory else ys[-1]
