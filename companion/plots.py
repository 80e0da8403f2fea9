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
