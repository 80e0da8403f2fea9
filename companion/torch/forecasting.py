"""A small transformer for time-series forecasting in PyTorch (Part IX, forecasting study).

Read side by side with ``companion/keras/forecasting.py``: same class name,
same constructor arguments and defaults, same order of weight-carrying
sublayers, so ``companion.parity.copy_torch_to_keras`` copies one into the other.

``TimeSeriesTransformer`` reads a sequence of feature vectors ``(batch, steps,
input_size)``, as the book's recurrent models do. In the forecasting study each
step is a *patch*, a block of consecutive values of the series (one day of 48
half-hours), the idea of PatchTST (Nie et al., 2023): a week becomes 7 tokens
instead of 336, which is cheap to attend over. The model embeds every step with
a linear layer, adds the sinusoidal position table, runs pre-LN encoder layers
(``companion.torch.transformers.EncoderLayer``), normalizes, and a linear head
reads the last step's vector: ``output_size`` numbers, e.g. all the horizon's
values at once (a direct multi-step forecast). With ``return_sequences=True``
the head reads every step instead, ``(batch, steps, output_size)``, as the
recurrent models' argument of the same name does: the forecasting study lays
the week out as 48 steps (the half-hours of the day ahead), each holding the
values at that time of day on the 7 past days, and reads one forecast per step.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.checks import check_float, check_positive_int, check_sequence
from companion.torch.transformers import EncoderLayer, _check_heads, sinusoidal_positions


class TimeSeriesTransformer(nn.Module):
    """Encoder-only transformer over a sequence of feature vectors, read out at the last step.

    ``forward(x)`` takes ``(batch, steps, input_size)`` with ``1 <= steps <=
    max_len`` and returns ``(batch, output_size)``, or ``(batch, steps,
    output_size)`` with ``return_sequences=True``; with ``return_weights=True``
    it also returns the list of every layer's attention weights
    ``(batch, heads, steps, steps)``. Bidirectional attention (no causal mask):
    every step of the input window is in the past of the forecast.
    """

    def __init__(self, input_size: int, output_size: int = 1, d_model: int = 32, heads: int = 4,
                 layers: int = 2, d_ff: int = 64, max_len: int = 64, dropout: float = 0.0,
                 return_sequences: bool = False):
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(output_size, "output_size")
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        check_positive_int(max_len, "max_len")
        _check_heads(d_model, heads)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.max_len = input_size, max_len
        self.return_sequences = bool(return_sequences)
        self.embed = nn.Linear(input_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, heads, d_ff, dropout, norm_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, output_size)

    def _check(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        check_sequence(x.shape, self.input_size, name)
        if x.shape[1] > self.max_len:
            raise ValueError(f"{name} expected input of shape (batch, steps, {self.input_size}) "
                             f"with steps <= max_len={self.max_len}, got {x.shape[1]} steps")
        check_float(x.dtype, name, self)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        self._check(x)
        h = self.dropout(self.embed(x) + self.positions[: x.shape[1]])
        weights = []
        for layer in self.encoder:
            h, w = layer(h, return_weights=True)
            weights.append(w)
        out = self.head(self.norm(h if self.return_sequences else h[:, -1]))
        return (out, weights) if return_weights else out
