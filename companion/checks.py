"""Input checks shared by the PyTorch and Keras models.

They work on shapes (tuples) and dtype names so that both frameworks raise
the same ``ValueError`` with the same message.
"""
from __future__ import annotations


def check_features(shape, expected: int, model: str) -> None:
    """Require a 2-D input ``(batch, expected)``."""
    shape = tuple(shape)
    if len(shape) != 2 or (shape[-1] is not None and int(shape[-1]) != expected):
        raise ValueError(
            f"{model} expected input of shape (batch, {expected}), got {shape}"
        )


def check_float(dtype_name: str, model: str, owner=None) -> None:
    """Require a floating-point input (models never silently cast integers).

    With ``owner`` (a PyTorch module), the input must also have the dtype of
    the module's weights: PyTorch does not mix float64 inputs with float32
    weights, and its own error ("mat1 and mat2 must have the same dtype") does
    not say what to do.
    """
    if "float" not in str(dtype_name):
        raise ValueError(
            f"{model} expected a floating-point input (float32), got dtype {dtype_name}"
        )
    weights = next(owner.parameters(), None) if owner is not None else None
    if weights is not None and str(weights.dtype) != str(dtype_name):
        want = str(weights.dtype).replace("torch.", "")
        raise ValueError(
            f"{model} expected a {want} input like its weights, got dtype {dtype_name}: "
            f"convert the input (x.to(torch.{want}), or np.float32 arrays) or the model "
            f"(model.to(torch.float64))"
        )


def check_choice(value, choices, what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(choices)}")


def check_positive_int(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def check_binary_labels(labels, model: str) -> None:
    """Require class labels in {0, 1} (the book's convention for binary tasks)."""
    import numpy as np

    values = np.unique(np.asarray(labels))
    if not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"{model} expects labels in {{0, 1}}, got values {values.tolist()[:10]}"
        )


def check_sequence(shape, features: int, model: str) -> None:
    """Require a 3-D, batch-first input ``(batch, steps, features)`` with at least one step."""
    shape = tuple(shape)
    ok = len(shape) == 3 and (shape[-1] is None or int(shape[-1]) == features)
    if ok and shape[1] is not None and int(shape[1]) < 1:
        ok = False
    if not ok:
        raise ValueError(
            f"{model} expected input of shape (batch, steps, {features}), got {shape}"
        )


LAYOUT_NAMES = {"NCHW": "PyTorch's channels-first NCHW layout",
                "NHWC": "Keras's channels-last NHWC layout",
                "NCL": "PyTorch's channels-first layout (batch, channels, length)",
                "NLC": "Keras's channels-last layout (batch, length, channels)"}


def check_signal(shape, channels: int, layout: str, model: str) -> None:
    """Require a 3-D batch of signals with ``channels`` channels and any length >= 1.

    ``layout`` is ``"NCL"`` (PyTorch's ``nn.Conv1d``) or ``"NLC"`` (Keras's ``Conv1D``).
    """
    shape = tuple(_static_dim(d) for d in shape)
    c_axis, l_axis = (1, 2) if layout == "NCL" else (2, 1)
    ok = len(shape) == 3 and shape[c_axis] in (None, channels) \
        and (shape[l_axis] is None or shape[l_axis] >= 1)
    if not ok:
        dims = f"{channels}, length" if layout == "NCL" else f"length, {channels}"
        hint = ""
        if len(shape) == 3 and shape[l_axis] == channels and shape[c_axis] != channels:
            hint = (" - this looks like the other layout; transpose with "
                    + ("x.transpose(1, 2)" if layout == "NCL" else "x.transpose(0, 2, 1)"))
        raise ValueError(f"{model} expected input of shape (batch, {dims}) in "
                         f"{LAYOUT_NAMES[layout]}, got {shape}{hint}")


def expected_image_dims(channels: int, size, layout: str) -> str:
    """The text ``"3, 32, 32"`` (NCHW) or ``"32, 32, 3"`` (NHWC) of an image shape.

    ``size=None`` means any height and width: ``"3, height, width"``.
    """
    h, w = ("height", "width") if size is None else (size, size)
    dims = (channels, h, w) if layout == "NCHW" else (h, w, channels)
    return ", ".join(str(d) for d in dims)


def _static_dim(d):
    """``int(d)``, or ``None`` for an unknown dimension: ``None``, or a symbolic one
    (JAX traces Keras layers with symbolic sizes that cannot become integers)."""
    if d is None:
        return None
    try:
        return int(d)
    except Exception:  # jax.export's InconclusiveDimensionOperation, and the like
        return None


def check_image(shape, channels: int, size, layout: str, model: str) -> None:
    """Require a 4-D image batch in ``layout`` with ``channels`` channels.

    ``size`` is the required height and width (square), or ``None`` for any
    size. Unknown (``None``) dimensions of a symbolic shape are accepted.
    """
    shape = tuple(_static_dim(d) for d in shape)
    c_axis, spatial = (1, (2, 3)) if layout == "NCHW" else (3, (1, 2))
    ok = len(shape) == 4 and shape[c_axis] in (None, channels)
    if ok and size is not None:
        ok = all(shape[a] in (None, size) for a in spatial)
    if not ok:
        hint = ""
        other = 3 if layout == "NCHW" else 1
        if len(shape) == 4 and shape[other] == channels and shape[c_axis] != channels:
            hint = (" - this looks like the other layout; transpose with "
                    + ("x.permute(0, 3, 1, 2)" if layout == "NCHW" else "x.transpose(0, 2, 3, 1)"))
        raise ValueError(
            f"{model} expected input of shape (batch, {expected_image_dims(channels, size, layout)}) "
            f"in {LAYOUT_NAMES[layout]}, got {shape}{hint}"
        )


def check_code_size(in_features: int, code_size: int, undercomplete: bool, model: str) -> None:
    """An undercomplete autoencoder needs ``code_size <= in_features`` (both frameworks)."""
    check_positive_int(in_features, "in_features")
    check_positive_int(code_size, "code_size")
    if undercomplete and code_size > in_features:
        raise ValueError(
            f"{model}: code_size={code_size} is larger than the input ({in_features} features); "
            "an undercomplete autoencoder needs code_size <= in_features "
            "(pass undercomplete=False for an overcomplete one, with a penalty or noise)")


def check_widths(hidden) -> tuple:
    """Hidden-layer widths as a tuple of positive integers."""
    hidden = tuple(hidden)
    for h in hidden:
        check_positive_int(h, "hidden width")
    return hidden


def check_training_args(*, epochs, lr, batch_size, optimizer, weight_decay, device) -> None:
    """The arguments both frameworks' ``train`` share, checked once, with one outcome.

    Decided for the two loops together (``tests/test_training_arguments.py``):
    ``epochs``, ``batch_size`` positive integers; ``lr`` a positive finite number;
    ``weight_decay`` at least 0 and refused with ``"adam"`` (PyTorch's Adam adds it
    to the gradient as an L2 penalty, Keras's decouples it: use ``"adamw"``);
    ``device`` None, ``"cpu"``, ``"mps"`` or ``"cuda[:n]"``, and ``"cuda"`` only
    when PyTorch sees a CUDA GPU (Keras places itself, but a request it cannot
    honour is refused rather than ignored).
    """
    import numpy as np

    for value, name in ((epochs, "epochs"), (batch_size, "batch_size")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for value, name, low in ((lr, "lr", None), (weight_decay, "weight_decay", 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not np.isfinite(value) or (value <= 0 if low is None else value < low):
            expected = "a positive number" if low is None else "a number >= 0"
            raise ValueError(f"{name} must be {expected}, got {value!r}")
    if weight_decay and optimizer == "adam":
        raise ValueError("weight_decay with 'adam' differs between the frameworks (PyTorch adds "
                         "an L2 penalty to the gradient, Keras decays the weights directly); "
                         "use 'adamw'")
    if device is None:
        return
    name = str(device)
    if not (name in ("cpu", "mps", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ValueError(f"device must be None, 'cpu', 'mps' or 'cuda[:n]', got {device!r}")
    if name.startswith("cuda"):
        from companion.config import _cuda_visible

        if not _cuda_visible():
            raise ValueError(f"device={device!r} but no CUDA GPU is visible; "
                             "use device=None (or 'cpu')")


def check_early_stopping(patience, val_data, checkpoint) -> None:
    """``early_stopping`` is None or a positive number of epochs, and needs ``val_data``."""
    if patience is None:
        return
    check_positive_int(patience, "early_stopping (epochs without a lower val_loss)")
    if val_data is None:
        raise ValueError("early_stopping watches val_loss: pass val_data=(x_val, y_val) "
                         "(companion.data.validation_split makes one)")
    if checkpoint is not None:
        raise ValueError("early_stopping and checkpoint cannot be combined: "
                         "a resumed run would not know the best weights so far")


def training_pair(data, loss: str, what: str = "train_data"):
    """``(x, y)`` as NumPy arrays, checked the same way for both frameworks' ``train``.

    ``data`` must be a pair (``train(model, (x, y))``, not ``train(model, x, y)``)
    with as many labels as examples and finite inputs. For the classification
    losses, labels of shape ``(N, 1)`` are flattened to ``(N,)``; cross-entropy
    labels must be whole numbers >= 0 (returned as int64: float labels are never
    truncated silently), binary cross-entropy labels 0 or 1.
    """
    import numpy as np

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = type(data).__name__ + (f" of length {len(data)}" if isinstance(data, (tuple, list))
                                     else "")
        raise ValueError(f"{what} must be an (x, y) pair of arrays, as in "
                         f"train(model, (x, y), ...); got a {got}")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"{what}: x and y must hold the same number of examples, "
                         f"got shapes {x.shape} and {y.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{what}: x must be numeric, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: x contains NaN or infinite values")
    if loss in ("cross_entropy", "binary_cross_entropy") and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if loss == "cross_entropy":
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) \
                or not np.all(y == np.round(y)) or (y < 0).any():
            raise ValueError(f"{what}: cross_entropy needs class indices, whole numbers 0, 1, "
                             f"2, ...; got values such as {np.unique(y)[:5]}")
        y = y.astype(np.int64)
    elif loss == "binary_cross_entropy":
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{what}: binary_cross_entropy needs labels 0 or 1; got values "
                             f"such as {np.unique(y)[:5]}")
    return x, y


def check_label_range(y, n_outputs: int, what: str = "train_data") -> None:
    """Cross-entropy labels must index the model's outputs: 0 .. n_outputs - 1."""
    top = int(y.max()) if y.size else 0
    if top >= n_outputs:
        raise ValueError(f"{what}: label {top} is out of range for a model with {n_outputs} "
                         f"outputs; class indices must be 0 .. {n_outputs - 1}")


def check_finite_loss(history: dict) -> None:
    """Stop with a clear error when training diverged (a loss that is NaN or infinite)."""
    import math

    for epoch, value in enumerate(history.get("loss", []), start=1):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the training loss became {value} in epoch {epoch}: training diverged; "
                "lower the learning rate, clip the gradients (clip_norm=) or check the data")


def check_conv1d_net(in_channels, num_classes, channels, kernel_sizes, dropout):
    """Validate ``Conv1DNet``'s arguments (both frameworks); returns the two tuples."""
    check_positive_int(in_channels, "in_channels")
    check_positive_int(num_classes, "num_classes")
    channels, kernel_sizes = tuple(channels), tuple(kernel_sizes)
    if not channels or len(channels) != len(kernel_sizes):
        raise ValueError(f"channels and kernel_sizes need the same, non-zero length (one entry "
                         f"per block), got {channels} and {kernel_sizes}")
    for c in channels:
        check_positive_int(c, "every entry of channels")
    for k in kernel_sizes:
        check_positive_int(k, "every entry of kernel_sizes")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return channels, kernel_sizes


def check_token_ids(shape, dtype_name: str, values, vocab_size: int, max_len: int | None = None,
                    past: int = 0, model: str = "GPT") -> None:
    """Token-id input of a language model (both frameworks' twins): integer ids
    ``(batch, steps)`` in ``[0, vocab_size)`` and, for a model with a position
    table of ``max_len`` rows, ``past + steps <= max_len`` (``past``: positions
    already in a key/value cache).

    ``values`` is a NumPy array, or ``None`` when the values are not known (a
    traced graph in Keras); then only the shape and dtype are checked.
    """
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(f"{model} expected input of shape (batch, steps) holding integer token "
                         f"ids, got shape {shape}")
    steps = shape[1]
    if steps is not None and steps < 1:
        raise ValueError(f"{model} expected input of shape (batch, steps) with at least one step, "
                         f"got shape {shape}")
    if max_len is not None and steps is not None and past + steps > max_len:
        where = f" after {past} cached positions" if past else ""
        raise ValueError(f"{model} expected input of shape (batch, steps) with steps <= "
                         f"max_len={max_len - past}{where}: the position table has "
                         f"{max_len} rows, got shape {shape}")
    if "int" not in dtype_name:
        raise ValueError(f"{model} expected input of shape (batch, steps) holding integer token "
                         f"ids, got dtype {dtype_name}")
    if values is not None and values.size and (values.min() < 0 or values.max() >= vocab_size):
        raise ValueError(f"{model}: token ids must be in [0, {vocab_size}) "
                         f"(vocab_size={vocab_size}), got ids from {values.min()} to {values.max()}")
