"""Figures shared by the chapters.

Every figure is drawn on a white background, so it reads the same in the
book's light and dark themes. The two frameworks always get the same colours:
PyTorch orange, Keras blue.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

FRAMEWORK_COLORS = {"PyTorch": "#E4572E", "Keras": "#2E86AB", "NumPy": "#4D4D4D"}

mpl.rcParams.update({
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
})


def _color(label: str, i: int) -> str:
    return FRAMEWORK_COLORS.get(label, f"C{i}")


def plot_history(histories: dict, metrics=("loss", "accuracy"), title: str | None = None):
    """Training (solid) and validation (dashed) curves of several runs on shared axes.

    ``histories`` maps a label ("PyTorch", "Keras", ...) to a history dict as
    returned by ``companion.torch.train`` / ``companion.keras.train``.
    """
    if not histories:
        raise ValueError("histories must map at least one label to a history dict")
    metrics = [m for m in metrics if any(m in h for h in histories.values())]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (label, h) in enumerate(histories.items()):
            color = _color(label, i)
            if metric in h:
                epochs = np.arange(1, len(h[metric]) + 1)
                ax.plot(epochs, h[metric], color=color, label=f"{label} train")
            if f"val_{metric}" in h and h[f"val_{metric}"]:
                epochs = np.arange(1, len(h[f"val_{metric}"]) + 1)
                ax.plot(epochs, h[f"val_{metric}"], color=color, ls="--",
                        label=f"{label} validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_decision_boundary(ax, predict, x, y, title: str = "", resolution: int = 200,
                           margin: float = 0.3):
    """Shade the class that ``predict`` (NumPy in, class scores out) gives each point."""
    x = np.asarray(x)
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[g0.ravel(), g1.ravel()].astype(np.float32)
    scores = np.asarray(predict(grid))
    cls = scores.argmax(-1) if scores.ndim == 2 and scores.shape[1] > 1 else (scores.ravel() > 0)
    ax.contourf(g0, g1, cls.reshape(g0.shape).astype(float), alpha=0.25, cmap="coolwarm",
                levels=np.arange(-0.5, max(2, int(np.max(y)) + 1) + 0.5))
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=10, edgecolors="k", linewidths=0.2)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.grid(False)
    return ax


def draw_network(layer_sizes, ax=None, labels=None, max_units: int = 8):
    """A schematic of a fully connected network (at most ``max_units`` drawn per layer)."""
    if len(layer_sizes) < 2:
        raise ValueError(f"need at least two layer sizes, got {list(layer_sizes)}")
    ax = ax or plt.subplots(figsize=(1.8 * len(layer_sizes), 3.4))[1]
    positions = []
    for i, n in enumerate(layer_sizes):
        shown = min(n, max_units)
        ys = np.linspace(-1, 1, shown) if shown > 1 else np.array([0.0])
        positions.append([(i, yy) for yy in ys])
    for left, right in zip(positions[:-1], positions[1:]):
        for (x0, y0) in left:
            for (x1, y1) in right:
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=0.5, zorder=1)
    for i, (pos, n) in enumerate(zip(positions, layer_sizes)):
        color = "#A0C4FF" if i == 0 else ("#FFADAD" if i == len(layer_sizes) - 1 else "#CAFFBF")
        for (x0, y0) in pos:
            ax.scatter(x0, y0, s=220, color=color, edgecolors="k", zorder=2)
        name = labels[i] if labels else ("input" if i == 0 else
                                         "output" if i == len(layer_sizes) - 1 else f"hidden {i}")
        note = f"{name}\n{n} units" + (" (some shown)" if n > max_units else "")
        ax.text(i, -1.35, note, ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.5, len(layer_sizes) - 0.5)
    ax.set_ylim(-1.9, 1.3)
    ax.axis("off")
    return ax


def plot_confusion_matrices(results: dict, class_names=None):
    """One confusion matrix per label; ``results`` maps label -> (y_true, y_pred)."""
    from sklearn.metrics import confusion_matrix

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.2), squeeze=False)
    for ax, (label, (y_true, y_pred)) in zip(axes[0], results.items()):
        cm = confusion_matrix(y_true, y_pred)
        ax.imshow(cm, cmap="Blues")
        n = cm.shape[0]
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=8,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
        ticks = class_names if class_names is not None else range(n)
        ax.set_xticks(range(n), ticks)
        ax.set_yticks(range(n), ticks)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(label)
        ax.grid(False)
    fig.tight_layout()
    return fig


def image_grid(images, titles=None, ncols: int = 8, cmap: str = "gray_r", size: float = 1.3):
    """Show a batch of 2-D images in a grid, with optional titles."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"image_grid expected images of shape (n, height, width), got {images.shape}")
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def plot_sweep(values, results: dict, xlabel: str, ylabel: str, logx: bool = False, ax=None):
    """A hyperparameter sweep: one line per label over the swept ``values``."""
    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    for i, (label, ys) in enumerate(results.items()):
        ax.plot(values, ys, marker="o", color=_color(label, i), label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax


def timeline(events, ax=None, title: str = ""):
    """A horizontal timeline; ``events`` is a list of ``(year, label)`` pairs."""
    events = sorted(events)
    if not events:
        raise ValueError("timeline needs at least one (year, label) event")
    years = [year for year, _ in events]
    ax = ax or plt.subplots(figsize=(11, 3.6))[1]
    ax.axhline(0, color="0.3", lw=1.5, zorder=1)
    levels = [1.0, -1.0, 1.9, -1.9, 2.8, -2.8]
    for i, (year, label) in enumerate(events):
        level = levels[i % len(levels)]
        ax.plot([year, year], [0, level], color="0.6", lw=0.8, zorder=1)
        ax.scatter([year], [0], color="#2E86AB", zorder=2, s=25)
        ax.text(year, level + (0.12 if level > 0 else -0.12), f"{year}\n{label}" if level > 0 else f"{label}\n{year}",
                ha="center", va="bottom" if level > 0 else "top", fontsize=8)
    span = max(years) - min(years) or 1
    ax.set_xlim(min(years) - 0.06 * span, max(years) + 0.06 * span)
    ax.set_ylim(-4.2, 4.2)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- recurrent networks (part IV)

def _box(ax, x, y, text, color, w=0.7, h=0.5, fontsize=9):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03",
                                facecolor=color, edgecolor="k", linewidth=0.8, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _arrow(ax, x0, y0, x1, y1, color="0.25", style="-|>", rad=0.0):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=10,
                                 color=color, linewidth=1.0, zorder=1,
                                 connectionstyle=f"arc3,rad={rad}"))


_INPUT, _HIDDEN, _OUTPUT = "#A0C4FF", "#CAFFBF", "#FFADAD"


def draw_unrolled_rnn(steps: int = 4, ax=None):
    """An Elman RNN folded (left: one cell with a loop) and unrolled over ``steps`` steps (right).

    The same weights ``W_ih``, ``W_hh`` and ``W_hy`` are used at every step.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    ax = ax or plt.subplots(figsize=(2.6 + 1.5 * steps, 3.2))[1]
    # folded: one cell whose state feeds back into itself
    _box(ax, 0, 0, "$x_t$", _INPUT)
    _box(ax, 0, 1.2, "$h_t$", _HIDDEN)
    _box(ax, 0, 2.4, "$y_t$", _OUTPUT)
    _arrow(ax, 0, 0.25, 0, 0.95)
    _arrow(ax, 0, 1.45, 0, 2.15)
    _arrow(ax, 0.36, 1.4, 0.36, 1.0, rad=-1.6)
    ax.text(0.82, 1.2, "$W_{hh}$", fontsize=8, va="center")
    ax.text(1.45, 1.2, "=", fontsize=16, ha="center", va="center")
    # unrolled: the same cell once per step
    x0 = 2.7
    for k in range(steps):
        x = x0 + 1.5 * k
        label = f"t-{steps - 1 - k}" if k < steps - 1 else "t"
        _box(ax, x, 0, f"$x_{{{label}}}$", _INPUT, w=0.8)
        _box(ax, x, 1.2, f"$h_{{{label}}}$", _HIDDEN, w=0.8)
        _box(ax, x, 2.4, f"$y_{{{label}}}$", _OUTPUT, w=0.8)
        _arrow(ax, x, 0.25, x, 0.95)
        _arrow(ax, x, 1.45, x, 2.15)
        _arrow(ax, x - 1.1 if k else x - 0.85, 1.2, x - 0.4, 1.2)
    ax.text(x0 - 0.95, 1.3, "$h_{t-4}$" if steps == 4 else "", fontsize=8)
    ax.text(x0 + 0.5, 1.3, "$W_{hh}$", fontsize=7)
    ax.text(x0 + 0.05, 0.55, "$W_{ih}$", fontsize=7)
    ax.text(x0 + 0.05, 1.75, "$W_{hy}$", fontsize=7)
    ax.set_xlim(-0.6, x0 + 0.6 + 1.5 * (steps - 1))
    ax.set_ylim(-0.5, 2.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def draw_sequence_shapes():
    """The shapes of sequence tasks: one-to-one, one-to-many, many-to-one, two many-to-many."""
    panels = [
        ("one-to-one\n(no recurrence: an MLP)", [0], [0], 1, False),
        ("one-to-many\n(captioning, generation)", [0], [0, 1, 2, 3], 4, False),
        ("many-to-one\n(classification, forecasting)", [0, 1, 2, 3], [3], 4, False),
        ("many-to-many, aligned\n(tagging, per-step labels)", [0, 1, 2, 3], [0, 1, 2, 3], 4, False),
        ("many-to-many, encoder-decoder\n(translation, reversal)", [0, 1, 2], [3, 4, 5, 6], 7, True),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 3.3),
                             gridspec_kw={"width_ratios": [1, 3, 3, 3, 5]})
    for ax, (title, ins, outs, n, encdec) in zip(axes, panels):
        for k in range(n):
            color = _HIDDEN if not encdec else ("#FDFFB6" if k in ins else _HIDDEN)
            _box(ax, k, 1.0, "", color, w=0.55, h=0.45)
            if k > 0:
                _arrow(ax, k - 0.72, 1.0, k - 0.28, 1.0)
        for k in ins:
            _box(ax, k, 0.0, "", _INPUT, w=0.55, h=0.4)
            _arrow(ax, k, 0.2, k, 0.77)
        for k in outs:
            _box(ax, k, 2.0, "", _OUTPUT, w=0.55, h=0.4)
            _arrow(ax, k, 1.23, k, 1.8)
        if encdec:
            ax.text(1.0, -0.55, "encoder", ha="center", fontsize=8)
            ax.text(4.5, -0.55, "decoder", ha="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(-0.8, 2.5)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.text(0.01, 0.02, "blue: inputs   green (and yellow): hidden states, one per step   "
             "red: outputs   arrows to the right: the recurrent connection", fontsize=8)
    fig.tight_layout()
    return fig


def _gate(ax, x, y, label, color="#FFD6A5"):
    _box(ax, x, y, label, color, w=0.55, h=0.4, fontsize=8)


def _op(ax, x, y, symbol):
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), 0.17, facecolor="white", edgecolor="k", linewidth=0.8, zorder=2))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=9, zorder=3)


LSTM_STAGES = ("forget", "input", "cell", "output")


def draw_lstm_cell(ax=None, peephole: bool = False, upto: str = "output"):
    """The LSTM cell: the cell state runs along the top, the gates sit below it.

    ``upto`` builds the cell up one block at a time, in the order of
    ``LSTM_STAGES``: ``"forget"`` draws the cell state and the forget gate
    ``f_t``, ``"input"`` adds the input gate ``i_t`` and the addition to the
    cell state, ``"cell"`` the candidate ``g_t`` (the cell update is then
    complete), and ``"output"`` (the default, the whole cell) the output gate
    ``o_t`` and the hidden state ``h_t``; any other value raises
    ``ValueError``. With ``peephole=True`` the dashed
    peephole connections from the cell state to the gates drawn so far are
    drawn too.
    """
    if upto not in LSTM_STAGES:
        raise ValueError(f"upto must be one of {LSTM_STAGES}, got {upto!r}")
    shown = set(LSTM_STAGES[:LSTM_STAGES.index(upto) + 1])
    ax = ax or plt.subplots(figsize=(8, 4.2))[1]
    # the cell-state conveyor belt
    _arrow(ax, -0.4, 3, 6.4, 3, color="#2E86AB")
    ax.text(-0.45, 3.15, "$c_{t-1}$", fontsize=10)
    ax.text(6.05, 3.15, "$c_t$", fontsize=10)
    _op(ax, 1.5, 3, "x")
    # gates, in the order of LSTM_STAGES
    gates = [("forget", 1.5, "$f_t$\n$\\sigma$"), ("input", 2.5, "$i_t$\n$\\sigma$"),
             ("cell", 3.5, "$g_t$\ntanh"), ("output", 4.7, "$o_t$\n$\\sigma$")]
    for stage, x, label in gates:
        if stage in shown:
            _gate(ax, x, 1.1, label)
    _arrow(ax, 1.5, 1.32, 1.5, 2.83)
    if "input" in shown:
        _op(ax, 3.0, 3, "+")
        _op(ax, 3.0, 2.1, "x")
        _arrow(ax, 2.5, 1.32, 2.86, 2.0)
        _arrow(ax, 3.0, 2.27, 3.0, 2.83)
    if "cell" in shown:
        _arrow(ax, 3.5, 1.32, 3.14, 2.0)
    # output
    if "output" in shown:
        _box(ax, 4.7, 2.4, "tanh", "#E0E0E0", w=0.5, h=0.3, fontsize=8)
        _arrow(ax, 4.7, 3.0, 4.7, 2.56)
        _op(ax, 5.4, 1.7, "x")
        _arrow(ax, 4.7, 2.24, 5.26, 1.78)
        _arrow(ax, 4.7, 1.32, 5.24, 1.64)
        _arrow(ax, 5.57, 1.7, 6.4, 1.7)
        ax.text(6.05, 1.85, "$h_t$", fontsize=10)
    # inputs to every gate drawn
    last = max(x for stage, x, _ in gates if stage in shown)
    _arrow(ax, -0.4, 0.2, last, 0.2, style="-")
    ax.text(-0.45, 0.3, "$h_{t-1}$, $x_t$", fontsize=10)
    for stage, x, _ in gates:
        if stage in shown:
            _arrow(ax, x, 0.2, x, 0.88)
    if peephole:
        for x0, x1, stage in ((0.85, 1.35, "forget"), (1.15, 2.3, "input")):   # both from c_{t-1}
            if stage in shown:
                _arrow(ax, x0, 2.95, x1, 1.32, color="#9B2226", style="-|>")
        if "output" in shown:
            _arrow(ax, 4.35, 2.95, 4.6, 1.32, color="#9B2226")
        ax.text(0.4, 2.0, "peepholes", color="#9B2226", fontsize=8)
    ax.set_xlim(-0.6, 6.6)
    ax.set_ylim(-0.1, 3.5)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def draw_gru_cell(ax=None):
    """The GRU cell in the frameworks' convention: ``h_t = z * h_{t-1} + (1 - z) * n``."""
    ax = ax or plt.subplots(figsize=(7.5, 4.0))[1]
    _arrow(ax, -0.4, 3, 6.0, 3, color="#2E86AB")
    ax.text(-0.45, 3.15, "$h_{t-1}$", fontsize=10)
    ax.text(5.7, 3.15, "$h_t$", fontsize=10)
    _op(ax, 1.6, 3, "x")
    _op(ax, 4.0, 3, "+")
    _gate(ax, 1.6, 1.1, "$z_t$\n$\\sigma$")
    _gate(ax, 3.0, 1.1, "$r_t$\n$\\sigma$")
    _gate(ax, 4.0, 1.1, "$n_t$\ntanh")
    _box(ax, 2.7, 2.1, "1 - z", "#E0E0E0", w=0.5, h=0.3, fontsize=8)
    _op(ax, 4.0, 2.0, "x")
    _arrow(ax, 1.6, 1.32, 1.6, 2.83)              # z keeps part of the old state
    _arrow(ax, 1.75, 1.3, 2.5, 2.0)
    _arrow(ax, 2.95, 2.1, 3.83, 2.02)             # (1 - z) writes part of the candidate
    _arrow(ax, 4.0, 1.32, 4.0, 1.83)
    _arrow(ax, 4.0, 2.17, 4.0, 2.83)
    _arrow(ax, 3.28, 1.1, 3.72, 1.1)              # the reset gate acts inside the candidate
    _arrow(ax, -0.4, 0.2, 4.0, 0.2, style="-")
    ax.text(-0.45, 0.3, "$h_{t-1}$, $x_t$", fontsize=10)
    for x in (1.6, 3.0, 4.0):
        _arrow(ax, x, 0.2, x, 0.88)
    ax.text(-0.4, 3.4, "z near 1 keeps the past; z near 0 writes the candidate n; "
            "r decides how much of $h_{t-1}$ the candidate sees", fontsize=8, color="0.3")
    ax.set_xlim(-0.6, 6.2)
    ax.set_ylim(-0.1, 3.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def plot_gradient_decay(lags, norms: dict, ax=None, title: str | None = None):
    """Gradient norm against time lag on a log scale, one line per label."""
    ax = ax or plt.subplots(figsize=(6, 3.8))[1]
    for i, (label, values) in enumerate(norms.items()):
        style = "--" if "Keras" in label else "-"
        ax.semilogy(lags, values, style, color=_color(label.split()[0], i), label=label)
    ax.set_xlabel("time lag k (steps between the input and the output)")
    ax.set_ylabel("mean gradient norm")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    return ax


# ---------------------------------------------------------------- convolutional networks (part III)

def plot_filters(kernels, title: str | None = None, ncols: int = 8, size: float = 1.1):
    """Convolution kernels as small images.

    ``kernels`` is ``(out, in, kh, kw)`` (PyTorch's OIHW; transpose a Keras
    HWIO kernel with ``kernel.transpose(3, 2, 0, 1)``). Three input channels
    are shown as colour, each kernel rescaled to [0, 1]; otherwise the first
    input channel is shown on a diverging scale (red positive, blue negative).
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 4:
        raise ValueError(f"plot_filters expected kernels of shape (out, in, kh, kw), got {kernels.shape}")
    n = len(kernels)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        w = kernels[k]
        if w.shape[0] == 3:
            rgb = w.transpose(1, 2, 0)
            rgb = (rgb - rgb.min()) / (np.ptp(rgb) + 1e-12)
            ax.imshow(rgb, interpolation="nearest")
        else:
            lim = np.abs(w[0]).max() + 1e-12
            ax.imshow(w[0], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps, title: str | None = None, ncols: int = 8, size: float = 1.2,
                      cmap: str = "viridis"):
    """The channels of one image's feature maps, ``(channels, height, width)``, in a grid."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps expected maps of shape (channels, height, width), "
                         f"got {maps.shape}")
    fig = image_grid(maps, titles=[f"map {i}" for i in range(len(maps))], ncols=ncols,
                     cmap=cmap, size=size)
    if title:
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def plot_receptive_field(sizes, names=None, ax=None):
    """Receptive-field size after each layer, as bars."""
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    names = names or [f"layer {i + 1}" for i in range(len(sizes))]
    ax.bar(range(len(sizes)), sizes, color="#2E86AB")
    for i, s in enumerate(sizes):
        ax.text(i, s, str(s), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(sizes)), names, rotation=30, ha="right")
    ax.set_ylabel("receptive field (pixels)")
    return ax


# ---------------------------------------------------------------- autoencoders (part V)

def draw_autoencoder(sizes=(64, 128, 2), vae: bool = False, ax=None, title: str | None = None):
    """An autoencoder as a block diagram: encoder funnel, code, mirrored decoder funnel.

    ``sizes`` are the widths from the input to the code (the decoder mirrors
    them). With ``vae=True`` the code is drawn as the VAE's mean and
    log-variance heads, the noise sample and the reparameterised ``z``.
    """
    from matplotlib.patches import Polygon

    if len(sizes) < 2:
        raise ValueError(f"need at least an input size and a code size, got {list(sizes)}")
    ax = ax or plt.subplots(figsize=(9, 3.2))[1]
    span = 3.0 if vae else 1.6                      # horizontal room for the code
    left, right = 0.6, 0.6 + 2.4 + span + 2.4
    for x0, direction, label in ((left, 1, "encoder"), (right, -1, "decoder")):
        tip = x0 + direction * 2.4
        ax.add_patch(Polygon([(x0, -1.1), (x0, 1.1), (tip, 0.45), (tip, -0.45)], closed=True,
                             facecolor=_HIDDEN, edgecolor="k", lw=0.8))
        ax.text((x0 + tip) / 2, 0, label + "\n" + " -> ".join(
            str(s) for s in (sizes[:-1] if direction == 1 else sizes[-2::-1])),
            ha="center", va="center", fontsize=9)
    _box(ax, 0.0, 0, "x\n" + str(sizes[0]), _INPUT, w=0.55, h=1.0)
    _box(ax, right + 0.6, 0, "x̂\n" + str(sizes[0]), _OUTPUT, w=0.55, h=1.0)
    _arrow(ax, 0.28, 0, left, 0)
    _arrow(ax, right, 0, right + 0.33, 0)
    c0 = left + 2.4
    if not vae:
        _box(ax, c0 + span / 2, 0, f"code z\n{sizes[-1]}", "#FFD6A5", w=0.8, h=0.7)
        _arrow(ax, c0, 0, c0 + span / 2 - 0.4, 0)
        _arrow(ax, c0 + span / 2 + 0.4, 0, right - 2.4, 0)
    else:
        _box(ax, c0 + 0.55, 0.45, "μ", "#FFD6A5", w=0.5, h=0.4)
        _box(ax, c0 + 0.55, -0.45, "log σ²", "#FFD6A5", w=0.7, h=0.4)
        _box(ax, c0 + 1.5, -1.15, "ε ~ N(0, I)", "#E0E0E0", w=1.1, h=0.35, fontsize=8)
        _box(ax, c0 + 1.95, 0, f"z = μ + σ ⊙ ε\n{sizes[-1]}", "#FFD6A5", w=1.2, h=0.6, fontsize=8)
        for y in (0.45, -0.45):
            _arrow(ax, c0, y * 0.6, c0 + 0.2, y)
            _arrow(ax, c0 + 0.9 if y < 0 else c0 + 0.8, y, c0 + 1.35, 0.1 * np.sign(y))
        _arrow(ax, c0 + 1.6, -0.97, c0 + 1.8, -0.3)
        _arrow(ax, c0 + 2.55, 0, right - 2.4, 0)
        ax.text(c0 + 0.55, 1.0, "KL(q(z|x) || N(0, I))", ha="center", fontsize=8, color="0.3")
    ax.set_xlim(-0.5, right + 1.1)
    ax.set_ylim(-1.5, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- part VIII: hybrid and advanced

def draw_graph(edge_index, pos, ax=None, node_color="#BBD7EA", labels=True, edge_width=None,
               highlight=(), title: str | None = None, node_size: float = 220, cmap=None):
    """Draw a graph given as an ``edge_index`` (2, edges) and node positions ``pos`` (nodes, 2).

    ``edge_width`` (one number per edge) draws thicker lines for larger values,
    e.g. attention coefficients; ``highlight`` lists nodes circled in black.
    """
    ax = ax or plt.gca()
    pos = np.asarray(pos, dtype=float)
    src, dst = np.asarray(edge_index)
    widths = np.ones(len(src)) if edge_width is None else np.asarray(edge_width, dtype=float)
    for s, d, w in zip(src, dst, widths):
        if s != d:
            ax.plot(*pos[[s, d]].T, color="0.45", lw=0.4 + 3.5 * w, alpha=0.7, zorder=1)
    colors = node_color
    ax.scatter(*pos.T, s=node_size, c=colors, cmap=cmap, edgecolors="0.3", linewidths=0.6, zorder=2)
    for i in highlight:
        ax.scatter(*pos[i], s=node_size * 2.2, facecolors="none", edgecolors="black", lw=1.8, zorder=3)
    if labels:
        for i, (x, y) in enumerate(pos):
            ax.text(x, y, str(i), ha="center", va="center", fontsize=7, zorder=4)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def draw_message_passing(ax=None):
    """One GNN layer seen from node 0: messages from its neighbours, aggregation, update."""
    ax = ax or plt.gca()
    pos = {0: (0, 0), 1: (-1.4, 1.0), 2: (-1.6, -0.8), 3: (0.2, 1.5), 4: (-2.8, 0.2), 5: (-2.9, -1.5)}
    edges = [(1, 0), (2, 0), (3, 0), (4, 1), (5, 2), (4, 2)]
    for s, d in edges:
        near = d == 0
        _arrow(ax, *pos[s], *pos[d], color="#E4572E" if near else "0.6")
    for i, (x, y) in pos.items():
        color = "#FFD6A5" if i == 0 else ("#BBD7EA" if i in (1, 2, 3) else "#E0E0E0")
        ax.scatter(x, y, s=520, c=color, edgecolors="0.3", zorder=3)
        ax.text(x, y, f"$h_{i}$", ha="center", va="center", zorder=4)
    _box(ax, 2.0, 0.0, "aggregate\n(sum, mean,\nmax, attention)", "#FFD6A5", w=1.4, h=0.9, fontsize=8)
    _box(ax, 4.0, 0.0, "update\n$h_0' = \\phi(h_0, m_0)$", "#CDEAC0", w=1.5, h=0.7, fontsize=8)
    _arrow(ax, 0.3, 0, 1.3, 0)
    _arrow(ax, 2.7, 0, 3.25, 0)
    ax.text(-0.5, 1.9, "messages $m_{j \\to 0}$ along the edges into node 0", fontsize=8, color="#E4572E")
    ax.text(-3.3, -2.2, "two layers reach the grey nodes: the receptive field grows by one hop per layer",
            fontsize=8, color="0.3")
    ax.set_xlim(-3.5, 4.9)
    ax.set_ylim(-2.5, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


# ---------------------------------------------------------------- residual networks (part III)

def _block_column(ax, x, layers, label):
    """One residual block drawn bottom to top: ``layers`` boxes, the addition, the shortcut."""
    y = 0.0
    _arrow(ax, x, y, x, y + 0.55)
    ax.text(x - 0.08, y + 0.05, "$\\mathbf{x}$", ha="right", fontsize=10)
    for i, (text, color) in enumerate(layers):
        yy = 0.9 + i * 0.8
        _box(ax, x, yy, text, color, w=1.5, h=0.5, fontsize=8)
        _arrow(ax, x, yy + 0.25, x, yy + 0.55)
    top = 0.9 + len(layers) * 0.8 - 0.1
    ax.add_patch(plt.Circle((x, top), 0.14, facecolor="white", edgecolor="k", zorder=2))
    ax.text(x, top, "+", ha="center", va="center", fontsize=11, zorder=3)
    _box(ax, x, top + 0.6, "ReLU", "#E0E0E0", w=0.8, h=0.35, fontsize=8)
    _arrow(ax, x, top + 0.14, x, top + 0.42)
    _arrow(ax, x, top + 0.78, x, top + 1.15)
    ax.text(x + 0.08, top + 1.05, "$\\mathbf{x} + F(\\mathbf{x})$", fontsize=9)
    # the shortcut: from the input, around the layers, into the addition
    _arrow(ax, x, 0.45, x + 1.05, 0.45, style="-", color="#9B2226")
    _arrow(ax, x + 1.05, 0.45, x + 1.05, top, style="-", color="#9B2226")
    _arrow(ax, x + 1.05, top, x + 0.15, top, color="#9B2226")
    ax.text(x + 1.12, (top + 0.45) / 2, "identity\n(1x1 conv + BN\nwhen the shape\nchanges)",
            fontsize=7, color="#9B2226", va="center")
    ax.text(x, -0.45, label, ha="center", fontsize=10, weight="bold")
    return top + 1.2


def draw_resnet(ax=None):
    """ResNet's two blocks and the ResNet-18 layout, in one figure.

    Left: the basic block (two 3x3 convolutions). Middle: the bottleneck
    block (1x1 down, 3x3, 1x1 up). Right: ResNet-18 for 224 by 224 images,
    a stem, four stages of two basic blocks, global average pooling and
    a fully connected classifier.
    """
    conv, norm = "#A0C4FF", "#CAFFBF"
    if ax is None:
        fig = plt.figure(figsize=(13, 6.2))
        axes = [fig.add_axes([0.0, 0.0, 0.42, 1.0]), fig.add_axes([0.43, 0.0, 0.57, 1.0])]
    else:
        axes = ax
    left = axes[0]
    basic = [("3x3 conv, C", conv), ("BN, ReLU", norm), ("3x3 conv, C", conv), ("BN", norm)]
    bottleneck = [("1x1 conv, C/4", conv), ("BN, ReLU", norm), ("3x3 conv, C/4", conv),
                  ("BN, ReLU", norm), ("1x1 conv, C", conv), ("BN", norm)]
    h1 = _block_column(left, 0.0, basic, "basic block")
    h2 = _block_column(left, 3.7, bottleneck, "bottleneck block")
    left.set_xlim(-1.0, 5.9)
    left.set_ylim(-0.7, max(h1, h2) + 0.2)
    left.set_aspect("equal")
    left.axis("off")

    right = axes[1]
    stages = [("image\n3 x 224 x 224", "#FFFFFF"), ("7x7 conv 64, /2\n112 x 112", conv),
              ("3x3 max pool, /2\n56 x 56", "#E0E0E0"),
              ("stage 1\n2 basic blocks\n64 x 56 x 56", norm),
              ("stage 2\n2 basic blocks, /2\n128 x 28 x 28", norm),
              ("stage 3\n2 basic blocks, /2\n256 x 14 x 14", norm),
              ("stage 4\n2 basic blocks, /2\n512 x 7 x 7", norm),
              ("global average\npool: 512", "#E0E0E0"), ("fully connected\n1000 classes", "#FFADAD")]
    for i, (text, color) in enumerate(stages):
        y = len(stages) - 1 - i
        _box(right, 0, y * 0.95, text, color, w=2.4, h=0.75, fontsize=8)
        if i:
            _arrow(right, 0, y * 0.95 + 0.95 - 0.375, 0, y * 0.95 + 0.375)
    right.text(1.35, 2.85 * 0.95 + 1.5, "each stage: 2 blocks;\nthe first block of stages 2-4\n"
               "halves the resolution\n(stride 2, projection shortcut)", fontsize=8, va="center")
    right.text(0, len(stages) * 0.95 - 0.2, "ResNet-18: 11,689,512 parameters", ha="center",
               fontsize=10, weight="bold")
    right.set_xlim(-1.5, 3.8)
    right.set_ylim(-0.6, len(stages) * 0.95)
    right.set_aspect("equal")
    right.axis("off")
    return axes


# ---------------------------------------------------------------- layer pipelines (parts II and III)

_KIND_COLORS = {"input": "#FFFFFF", "conv": "#A0C4FF", "pool": "#E0E0E0", "norm": "#CAFFBF",
                "dense": "#FFD6A5", "radial": "#CAFFBF", "output": "#FFADAD"}


def draw_pipeline(stages, ax=None, title: str | None = None, note: str | None = None):
    """A network as a row of layer boxes, left to right.

    ``stages`` is a list of ``(name, detail, kind)``: ``name`` in bold,
    ``detail`` (sizes, kernels) underneath, ``kind`` one of ``input``,
    ``conv``, ``pool``, ``norm``, ``dense``, ``radial`` or ``output``, which
    sets the colour (a legend names the kinds used).
    """
    from matplotlib.patches import Patch

    unknown = {kind for _, _, kind in stages} - set(_KIND_COLORS)
    if unknown:
        raise ValueError(f"kind must be one of {sorted(_KIND_COLORS)}, got {sorted(unknown)}")
    ax = ax or plt.subplots(figsize=(1.45 * len(stages) + 0.5, 2.6))[1]
    for i, (name, detail, kind) in enumerate(stages):
        x = 1.45 * i
        bold = name.replace(" ", "\\ ")
        _box(ax, x, 0, f"$\\bf{{{bold}}}$\n{detail}", _KIND_COLORS[kind],
             w=1.2, h=1.15, fontsize=8)
        if i:
            _arrow(ax, x - 1.45 + 0.6, 0, x - 0.6, 0)
    kinds = list(dict.fromkeys(kind for _, _, kind in stages if kind != "input"))
    ax.legend(handles=[Patch(facecolor=_KIND_COLORS[k], edgecolor="k", label=k) for k in kinds],
              loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=len(kinds), frameon=False,
              fontsize=8)
    if note:
        ax.text(1.45 * (len(stages) - 1) / 2, 0.85, note, ha="center", fontsize=8, color="0.3")
    ax.set_xlim(-0.75, 1.45 * (len(stages) - 1) + 0.75)
    ax.set_ylim(-0.75, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- optimizers (part I)

def plot_paths(fn, paths: dict, xlim=(-2, 2), ylim=(-1.3, 1.3), levels=None, title: str = "",
               ax=None):
    """Optimizer trajectories over the contour lines of a 2-D function.

    ``fn`` maps an array of points ``(..., 2)`` to values; ``paths`` maps a
    label to a ``(steps + 1, 2)`` array of iterates. The minimum of the drawn
    grid is marked with a star.
    """
    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    gx, gy = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    values = np.asarray(fn(np.stack([gx, gy], axis=-1)))
    levels = levels if levels is not None else np.geomspace(max(values.min(), 1e-3), values.max(), 12)
    ax.contour(gx, gy, values, levels=levels, colors="0.8")
    for i, (label, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], ".-", color=_color(label, i), lw=1, ms=4, label=label)
    i_min = np.unravel_index(np.argmin(values), values.shape)
    ax.plot(gx[i_min], gy[i_min], "k*", ms=10)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y", title=title)
    ax.legend(fontsize=8, loc="lower right")
    return ax


# ---------------------------------------------------------------- computational graphs (part I)

def draw_computation_graph(ax, nodes, edges, notes=None, backward_y=None):
    """Boxes at nodes[name] = (x, y, label) and arrows along edges.

    notes[name] is a list of (dx, dy, text, color) placed relative to the box (text
    to the left of the box when dx < 0). With backward_y, a dashed red arrow at that
    height shows the direction of the backward pass.
    """
    boxes = {}
    for name, (nx, ny, label) in nodes.items():
        boxes[name] = ax.text(nx, ny, label, ha="center", va="center", fontsize=10, zorder=3,
                              bbox=dict(boxstyle="round,pad=0.35", fc="#F3F3F3", ec="0.3"))
        for dx, dy, text, color in (notes or {}).get(name, []):
            ax.text(nx + dx, ny + dy, text, ha="right" if dx < 0 else "center", va="center",
                    fontsize=9, color=color)
    for start, end in edges:  # arrows clipped to the boxes' outlines
        (x0, y0, _), (x1, y1, _) = nodes[start], nodes[end]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=4,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=3, shrinkB=3,
                                    patchA=boxes[start].get_bbox_patch(),
                                    patchB=boxes[end].get_bbox_patch()))
    if backward_y is not None:
        xs = [nx for nx, _, _ in nodes.values()]
        ax.annotate("", xy=(min(xs), backward_y), xytext=(max(xs), backward_y),
                    arrowprops=dict(arrowstyle="-|>", color="#C0392B", lw=1.5, ls="--"))
        ax.text((min(xs) + max(xs)) / 2, backward_y + 0.08, "backward pass", color="#C0392B",
                ha="center", va="bottom", fontsize=9)
    ax.set_axis_off()


def draw_ode_vs_resnet(f, y0, t1: float = 1.0, depths=(4,), lim: float = 2.2, ax=None, title=None):
    """A 2-D vector field ``f(y)`` (arrows), the exact trajectory from ``y0`` (line) and the
    states of residual networks ``y + (t1 / N) f(y)`` with ``N`` blocks (dots): a ResNet is
    Euler's method, and a neural ODE the limit of ever more, ever smaller blocks."""
    from companion.numpy.ode import euler, rk4

    ax = ax or plt.gca()
    g = np.linspace(-lim, lim, 17)
    xx, yy = np.meshgrid(g, g)
    field = np.array([f(np.array([a, b])) for a, b in zip(xx.ravel(), yy.ravel())])
    norm = np.linalg.norm(field, axis=1, keepdims=True) + 1e-9
    ax.quiver(xx, yy, *(field / norm).T.reshape(2, *xx.shape), norm.reshape(xx.shape),
              cmap="Greys", alpha=0.45, scale=30, width=0.003)
    exact = rk4(lambda t, y: f(y), np.asarray(y0, float), np.linspace(0, t1, 400), 4)
    ax.plot(*exact.T, color="black", lw=1.5, label="ODE solution (continuous depth)")
    colors = ["#E4572E", "#2E86AB", "#76B041", "#9B5DE5"]
    for i, n in enumerate(depths):
        states = euler(lambda t, y: f(y), np.asarray(y0, float), np.linspace(0, t1, n + 1))
        ax.plot(*states.T, "o-", ms=4, lw=0.8, color=colors[i % len(colors)],
                label=f"ResNet with {n} blocks (Euler, step {t1 / n:.3g})")
    ax.scatter(*np.asarray(y0), s=60, color="black", zorder=5)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="$h_1$", ylabel="$h_2$")
    ax.legend(fontsize=8, loc="lower left")
    if title:
        ax.set_title(title)
    return ax


def draw_coatnet(stages=None, ax=None, title: str | None = None):
    """CoAtNet's stages as boxes: convolutional (blue), transformer (orange), head (green).

    ``stages`` is a list of ``(label, kind)`` with kind ``"stem"``, ``"C"``, ``"T"`` or ``"head"``;
    the default is CoAtNet-0 at 224 x 224.
    """
    ax = ax or plt.gca()
    stages = stages or [("S0 stem\n2 conv 3x3\n64 @ 112", "stem"), ("S1 MBConv x2\n96 @ 56", "C"),
                        ("S2 MBConv x3\n192 @ 28", "C"), ("S3 Transformer x5\n384 @ 14", "T"),
                        ("S4 Transformer x2\n768 @ 7", "T"), ("pool + linear\n1000 classes", "head")]
    colors = {"stem": "#E0E0E0", "C": "#BBD7EA", "T": "#FFD6A5", "head": "#CDEAC0"}
    for i, (text, kind) in enumerate(stages):
        ax.add_patch(plt.Rectangle((i * 2.1, 0), 1.8, 1.2, color=colors[kind], ec="0.3"))
        ax.text(i * 2.1 + 0.9, 0.6, text, ha="center", va="center", fontsize=9)
        if i:
            _arrow(ax, i * 2.1 - 0.3, 0.6, i * 2.1, 0.6)
    ax.text(0, -0.35, "convolution: local, translation-equivariant, data-efficient", color="#2E86AB")
    ax.text(6.3, -0.35, "relative attention: global, content-dependent, high capacity", color="#C46900")
    ax.set(xlim=(-0.2, 2.1 * len(stages)), ylim=(-0.6, 1.4))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- part VII: generative models

def draw_cvae(sizes=(64, 128, 8), num_classes: int = 10, ax=None, title: str | None = None):
    """A conditional VAE: the VAE diagram of ``draw_autoencoder`` with the label ``y``
    (a one-hot row of ``num_classes``) fed to both the encoder and the decoder."""
    ax = ax or plt.subplots(figsize=(9, 3.8))[1]
    draw_autoencoder(sizes, vae=True, ax=ax)
    right = 0.6 + 2.4 + 3.0 + 2.4                      # the geometry of draw_autoencoder(vae=True)
    _box(ax, 0.4, 2.0, f"label y\none-hot, {num_classes}", "#CDEAC0", w=1.1, h=0.6, fontsize=8)
    _arrow(ax, 0.45, 1.7, 0.9, 1.0)                    # into the encoder, next to x
    ax.plot([0.95, right - 2.6], [2.0, 2.0], color="0.25", lw=1)
    for text in ax.texts:                              # the posterior now sees the label too
        if text.get_text().startswith("KL("):
            text.set_text("KL(q(z|x, y) || N(0, I))")
    _arrow(ax, right - 2.6, 2.0, right - 2.35, 0.5)    # into the decoder, next to z
    ax.text(0.95, 1.35, "[x, y]", fontsize=8, color="0.3")
    ax.text(right - 2.3, 1.1, "[z, y]", fontsize=8, color="0.3")
    ax.set_ylim(-1.5, 2.5)
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- part VI: the Transformer

def draw_transformer(layers: int = 6, norm_first: bool = False, ax=None, title: str | None = None):
    """The encoder-decoder Transformer: encoder stack (left), decoder stack (right).

    Each sublayer is a box with its residual branch; ``norm_first`` moves the
    LayerNorm boxes in front of the sublayers (pre-LN) and adds the final
    LayerNorm of each stack. ``layers`` is printed as the repeat count.
    """
    ax = ax or plt.gca()
    attn, ffn, norm, emb, out = "#FFD6A5", "#BBD7EA", "#E0E0E0", "#CDEAC0", "#FFADAD"

    def stack(x, rows, y0):
        """Boxes bottom to top; each row is (text, colour, residual?)."""
        y, centres = y0, []
        for text, color, residual in rows:
            if norm_first and residual:
                _box(ax, x, y, "LayerNorm", norm, w=1.9, h=0.32, fontsize=7)
                _arrow(ax, x, y + 0.16, x, y + 0.34)
                y += 0.5
            _box(ax, x, y, text, color, w=2.2, h=0.42, fontsize=7)
            centres.append(y)
            if residual:   # the skip connection around the sublayer, joined by an addition
                _arrow(ax, x, y + 0.21, x, y + 0.44)
                start = y - (0.72 if norm_first else 0.38)
                _arrow(ax, x, start, x - 1.15, start, style="-", color="#9B2226")
                _arrow(ax, x - 1.15, start, x - 1.15, y + 0.55, style="-", color="#9B2226")
                _arrow(ax, x - 1.15, y + 0.55, x - 0.13, y + 0.55, color="#9B2226")
                ax.add_patch(plt.Circle((x, y + 0.55), 0.11, facecolor="white", edgecolor="k",
                                        zorder=2))
                ax.text(x, y + 0.55, "+", ha="center", va="center", fontsize=9, zorder=3)
                y += 0.55
                if not norm_first:
                    _arrow(ax, x, y + 0.11, x, y + 0.27)
                    _box(ax, x, y + 0.43, "LayerNorm", norm, w=1.9, h=0.32, fontsize=7)
                    y += 0.43
                _arrow(ax, x, y + 0.16, x, y + 0.5)
                y += 0.7
        return y, centres

    enc_x, dec_x = 1.5, 5.6
    for x, label in ((enc_x, "source ids"), (dec_x, "target ids (shifted right)")):
        ax.text(x, -0.35, label, ha="center", fontsize=8)
        _box(ax, x, 0.15, "embedding x $\\sqrt{d_{model}}$\n+ sinusoidal positions", emb,
             w=2.1, h=0.55, fontsize=7)
        _arrow(ax, x, 0.43, x, 0.8)
    top_enc, _ = stack(enc_x, [("multi-head self-attention\n(padding mask)", attn, True),
                            ("feed-forward", ffn, True)], 1.0)
    top_dec, dec_centres = stack(dec_x, [("masked multi-head\nself-attention (causal)", attn, True),
                            ("cross-attention\n(queries: decoder)", attn, True),
                            ("feed-forward", ffn, True)], 1.0)
    if norm_first:
        for x, top in ((enc_x, top_enc), (dec_x, top_dec)):
            _box(ax, x, top - 0.2, "final LayerNorm", norm, w=1.9, h=0.32, fontsize=7)
            _arrow(ax, x, top - 0.04, x, top + 0.2)
        top_enc, top_dec = top_enc + 0.4, top_dec + 0.4
    for x, y0, y1 in ((enc_x, 0.8, top_enc - 0.35), (dec_x, 0.8, top_dec - 0.35)):
        ax.add_patch(plt.Rectangle((x - 1.35, y0 - 0.05), 2.6, y1 - y0, fill=False,
                                   ec="0.4", ls="--", lw=0.8))
        ax.text(x + 1.32, y0 + 0.05, f"x {layers}", fontsize=9, ha="left", weight="bold")
    # the encoder output feeds the keys and values of every decoder cross-attention
    cross_y = dec_centres[1]
    _arrow(ax, enc_x, top_enc - 0.35, enc_x, top_enc + 0.15, style="-")
    _arrow(ax, enc_x, top_enc + 0.15, 3.55, top_enc + 0.15, style="-")
    _arrow(ax, 3.55, top_enc + 0.15, 3.55, cross_y, style="-")
    _arrow(ax, 3.55, cross_y, dec_x - 1.1, cross_y)
    ax.text(3.5, (cross_y + top_enc) / 2, "keys,\nvalues", fontsize=7, ha="right")
    _box(ax, dec_x, top_dec + 0.1, "linear (tied to the target\nembedding) + softmax", out,
         w=2.1, h=0.5, fontsize=7)
    _arrow(ax, dec_x, top_dec + 0.35, dec_x, top_dec + 0.65)
    ax.text(dec_x, top_dec + 0.75, "next-token probabilities", ha="center", fontsize=8)
    ax.text(enc_x, top_enc + 0.35, "encoder", ha="center", fontsize=10, weight="bold")
    ax.set(xlim=(-0.1, 7.1), ylim=(-0.6, max(top_dec, top_enc) + 1.1))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- diffusion models (part VII)

def draw_diffusion(ax=None, title: str | None = None, network: str = "noise predictor"):
    """The two chains of a diffusion model and where the network sits.

    Top, left to right: the fixed forward process ``q(x_t | x_{t-1})`` that adds
    noise; bottom, right to left: the learned reverse process
    ``p_theta(x_{t-1} | x_t)``, whose mean comes from the network
    ``eps_theta(x_t, t, y)`` drawn underneath (``network`` names it).
    """
    ax = ax or plt.subplots(figsize=(9, 3.6))[1]
    labels = ["$\\mathbf{x}_0$\ndata", "$\\cdots$", "$\\mathbf{x}_{t-1}$", "$\\mathbf{x}_t$",
              "$\\cdots$", "$\\mathbf{x}_T$\n$\\mathcal{N}(\\mathbf{0}, I)$"]
    xs = [1.5 * i for i in range(len(labels))]
    for x, label in zip(xs, labels):
        dots = label == "$\\cdots$"
        _box(ax, x, 0, label, "#FFFFFF" if dots else _INPUT, w=0.9, h=0.7, fontsize=10)
    for x0, x1 in zip(xs[:-1], xs[1:]):
        _arrow(ax, x0 + 0.3, 0.38, x1 - 0.3, 0.38, color="0.45", rad=-0.45)
        _arrow(ax, x1 - 0.3, -0.38, x0 + 0.3, -0.38, color="#D1495B", rad=-0.45)
    ax.text(xs[-1] / 2, 1.05, "forward process $q(\\mathbf{x}_t \\mid \\mathbf{x}_{t-1})$: "
            "add noise (fixed, no parameters)", ha="center", fontsize=9, color="0.3")
    ax.text(xs[1], -1.0, "reverse process $p_\\theta(\\mathbf{x}_{t-1} \\mid \\mathbf{x}_t)$:\n"
            "denoise (learned)", ha="center", fontsize=9, color="#D1495B")
    mid = (xs[2] + xs[3]) / 2
    _box(ax, mid + 1.2, -1.55, f"$\\boldsymbol{{\\epsilon}}_\\theta(\\mathbf{{x}}_t, t, y)$\n{network}",
         "#FFD6A5", w=2.0, h=0.75, fontsize=9)
    _arrow(ax, xs[3], -0.36, mid + 1.0, -1.15, color="0.25")
    _arrow(ax, mid + 0.25, -1.35, mid, -0.75, color="#D1495B")
    ax.text(mid + 2.35, -1.55, "$t$, label $y$", ha="left", va="center", fontsize=9, color="0.3")
    ax.set(xlim=(-0.7, xs[-1] + 0.8), ylim=(-2.1, 1.3))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- BERT (part VI)

def draw_bert(layers: int = 12, d_model: int = 768, ax=None, title: str | None = None):
    """BERT's architecture: embeddings, a stack of encoder layers, and its two kinds of head.

    Left to right: the token ids of ``[CLS] A [SEP] B [SEP]``, the sum of
    word, position and segment embeddings, ``layers`` post-LN encoder layers
    (drawn as a stack) and the hidden states; then the masked-language-model
    head, which reads every position and whose decoder is the word-embedding
    table (dashed), and the pooler, which reads ``[CLS]`` for sentence tasks.
    """
    ax = ax or plt.subplots(figsize=(10, 3.6))[1]
    _box(ax, 0, 0, "token ids\n[CLS] A [SEP]\nB [SEP]", "#FFFFFF", w=1.3, h=1.0, fontsize=8)
    _box(ax, 1.8, 0, "embeddings\nword + position\n+ segment\nLayerNorm", "#FFD6A5",
         w=1.45, h=1.15, fontsize=8)
    for k in (2, 1):   # the stack: two shadows behind the front layer
        _box(ax, 3.75 + 0.09 * k, 0.09 * k, "", "#A0C4FF", w=1.6, h=1.25)
    _box(ax, 3.75, 0, f"encoder layer x {layers}\nself-attention\n(every pair)\n+ GELU FFN, post-LN",
         "#A0C4FF", w=1.6, h=1.25, fontsize=8)
    _box(ax, 5.75, 0, f"hidden states\n(B, T, {d_model})\none per token", "#CAFFBF",
         w=1.4, h=1.0, fontsize=8)
    _box(ax, 7.95, 0.8, "MLM head\ndense, GELU, LN\nlogits = E h + b\n(B, T, V)", "#FFADAD",
         w=1.6, h=1.1, fontsize=8)
    _box(ax, 7.95, -0.85, "pooler on [CLS]\ntanh(W h + b)\n-> classifier, NSP", "#FFADAD",
         w=1.6, h=1.0, fontsize=8)
    for x0, x1 in ((0.65, 1.07), (2.53, 2.95), (4.6, 5.05)):
        _arrow(ax, x0, 0, x1, 0)
    _arrow(ax, 6.45, 0.2, 7.15, 0.7)
    _arrow(ax, 6.45, -0.2, 7.15, -0.75)
    ax.annotate("", xy=(7.5, 1.37), xytext=(1.8, 0.6),
                arrowprops=dict(arrowstyle="-|>", linestyle="--", color="0.45",
                                connectionstyle="arc3,rad=-0.25"))
    ax.text(4.7, 1.9, "the decoder is the same word table E (tied weights)", ha="center",
            fontsize=8, color="0.35")
    ax.set(xlim=(-0.8, 8.9), ylim=(-1.5, 2.1))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- error analysis (part IX)

def plot_confused_pairs(images, y_true, y_pred, pairs, per_pair: int = 6, class_names=None,
                        size: float = 1.1):
    """The images behind the most-confused pairs: one row per ``(true, predicted, count)``
    of ``pairs`` (e.g. ``companion.numpy.metrics.most_confused``), with up to ``per_pair``
    examples that are of class ``true`` and were predicted ``predicted``.

    ``images`` is ``(n, height, width)``, or one-channel ``(n, 1, h, w)`` / ``(n, h, w, 1)``.
    """
    images = np.asarray(images)
    if images.ndim == 4 and 1 in (images.shape[1], images.shape[-1]):
        images = images.reshape(len(images), *[s for s in images.shape[1:] if s != 1][:2])
    if images.ndim != 3:
        raise ValueError(f"plot_confused_pairs expected images of shape (n, height, width), "
                         f"got {images.shape}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not (len(images) == len(y_true) == len(y_pred)):
        raise ValueError(f"images, y_true and y_pred must have the same length, got "
                         f"{len(images)}, {len(y_true)} and {len(y_pred)}")
    if not pairs:
        raise ValueError("pairs is empty: there is no mistake to show")
    name = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[c]))
    fig, axes = plt.subplots(len(pairs), per_pair, figsize=(size * per_pair + 1.6,
                                                            size * len(pairs) * 1.05),
                             squeeze=False)
    for row, (true, pred, count) in zip(axes, pairs):
        idx = np.flatnonzero((y_true == true) & (y_pred == pred))[:per_pair]
        for k, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if k < len(idx):
                ax.imshow(images[idx[k]], cmap="gray_r")
        row[0].set_ylabel(f"{name(true)} read as {name(pred)}\n({count}x)", rotation=0,
                          ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_token_scores(rows, title: str | None = None, cmap: str = "RdBu_r", limit=None,
                      per_line: int = 12):
    """Words shaded by a score each (saliency, attention): one block of text per example.

    ``rows`` is a list of ``(tokens, scores, caption)``: the tokens of one text,
    one number per token and a caption line above it. Positive scores are
    drawn red and negative blue on a diverging ``cmap`` centred on 0 (pass
    non-negative scores, such as attention weights, with ``cmap="Oranges"``);
    ``limit`` fixes the colour scale's largest magnitude (default: the
    largest over all rows). Long texts wrap after ``per_line`` tokens.
    """
    if not rows:
        raise ValueError("rows must hold at least one (tokens, scores, caption) triple")
    for tokens, scores, _ in rows:
        if len(tokens) != len(scores):
            raise ValueError(f"each token needs one score: {len(tokens)} tokens, "
                             f"{len(scores)} scores")
    diverging = cmap in ("RdBu_r", "RdBu", "coolwarm", "bwr", "PiYG", "PuOr")
    top = limit or max(float(np.max(np.abs(s))) for _, s, _ in rows if len(s)) or 1.0
    norm = mpl.colors.Normalize(-top if diverging else 0.0, top)
    colour = plt.get_cmap(cmap)
    lines = sum(1 + max(1, -(-len(t) // per_line)) for t, _, _ in rows)
    fig, ax = plt.subplots(figsize=(10, 0.38 * lines + 0.3))
    ax.set_axis_off()
    ax.set_xlim(0, per_line)
    ax.set_ylim(lines, 0)
    y = 0
    for tokens, scores, caption in rows:
        ax.text(0, y + 0.5, caption, fontsize=9, va="center", color="0.15", style="italic")
        y += 1
        for i, (token, score) in enumerate(zip(tokens, scores)):
            x, line = i % per_line, i // per_line
            face = colour(norm(float(score)))
            dark = sum(face[:3]) < 1.3
            shown = token[:10].encode("ascii", "replace").decode()   # glyphs every font has
            ax.text(x + 0.05, y + line + 0.5, shown, fontsize=8.5, va="center",
                    color="white" if dark else "0.1",
                    bbox=dict(boxstyle="round,pad=0.2", facecolor=face, edgecolor="none"))
        y += max(1, -(-len(tokens) // per_line))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
