"""A recurrent text classifier in PyTorch (part IX, ``book/applications/sentiment.md``).

Read side by side with ``companion/keras/text.py``: same class name, same
constructor arguments and defaults, same order of weight-carrying sublayers
(embedding, recurrent layer, head), so ``companion.parity.copy_torch_to_keras``
copies one into the other.

``TextClassifier`` reads a batch of token ids ``(batch, steps)``, padded at
the end of each row with ``pad_id``:

1. an embedding table turns every id into a vector of ``embedding_size``;
2. an LSTM (``cell="lstm"``) or a GRU (``cell="gru"``) reads the vectors left
   to right and gives a hidden state of ``hidden_size`` at every step;
3. the states are pooled into one vector per text, over the real tokens only:
   ``pooling="mean"`` averages the states of the non-padding steps,
   ``pooling="last"`` takes the state at the last non-padding step (which the
   padding after it cannot have changed, as the network reads left to right);
4. dropout, then a linear layer gives ``num_classes`` logits.

The Part IV models (``companion.torch.LSTM``, ``GRU``) read float features;
this one reads words.
"""
from __future__ import annotations

import torch
from torch import nn

from companion.checks import check_token_ids
from companion.text import EXPECTED, check_text_arguments
from companion.torch.rnn import _set_forget_bias_


class TextClassifier(nn.Module):
    """Embedding, LSTM or GRU, pooling over the real tokens, dropout, linear head.

    ``forward(ids)`` takes integer ids ``(batch, steps)`` and returns logits
    ``(batch, num_classes)``. ``states(ids)`` returns the hidden state of
    every step ``(batch, steps, hidden_size)`` and ``pool(states, ids)`` the
    pooled vector, so the parts can be inspected (saliency, for example).
    ``pad_id=None`` treats every position as a real token. A row made only of
    padding pools to the zero vector (``"mean"``) or to the first step's
    state (``"last"``). The LSTM's forget-gate bias starts at 1, as in Keras;
    the embedding table starts uniform in [-0.05, 0.05], as in Keras.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, num_classes: int = 2, embedding_size: int = 64,
                 hidden_size: int = 64, cell: str = "lstm", pooling: str = "mean",
                 dropout: float = 0.0, pad_id=0):
        super().__init__()
        check_text_arguments(vocab_size, num_classes, embedding_size, hidden_size, cell,
                             pooling, dropout, pad_id)
        self.vocab_size, self.cell, self.pooling, self.pad_id = vocab_size, cell, pooling, pad_id
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        layer = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = layer(embedding_size, hidden_size, batch_first=True)
        if cell == "lstm":
            _set_forget_bias_(self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def check(self, ids) -> torch.Tensor:
        ids = torch.as_tensor(ids)
        if ids.is_complex():
            raise ValueError(f"TextClassifier expected input of shape {EXPECTED} holding integer "
                             f"token ids, got dtype {ids.dtype}")
        dtype = "bool" if ids.dtype == torch.bool else str(ids.dtype).removeprefix("torch.")
        values = ids.detach().cpu().numpy() if ids.dim() == 2 and "int" in dtype else None
        check_token_ids(tuple(ids.shape), dtype, values, self.vocab_size, model="TextClassifier")
        return ids

    def real_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Boolean ``(batch, steps)``: True where the id is not padding."""
        if self.pad_id is None:
            return torch.ones_like(ids, dtype=torch.bool)
        return ids != self.pad_id

    def states(self, ids) -> torch.Tensor:
        ids = self.check(ids)
        return self.rnn(self.embedding(ids))[0]

    def pool(self, states: torch.Tensor, ids) -> torch.Tensor:
        mask = self.real_tokens(torch.as_tensor(ids, device=states.device))
        if self.pooling == "mean":
            weights = mask.to(states.dtype)[..., None]
            return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        steps = torch.arange(1, mask.shape[1] + 1, device=states.device)
        last = ((mask * steps).amax(1) - 1).clamp(min=0)          # index of the last real token
        return states[torch.arange(states.shape[0], device=states.device), last]

    def forward(self, ids) -> torch.Tensor:
        ids = self.check(ids)
        h = self.rnn(self.embedding(ids))[0]
        return self.head(self.dropout(self.pool(h, ids)))


def masked_lm_logits(model: nn.Module, ids, positions) -> torch.Tensor:
    """A ``BERTForMaskedLM``'s logits at ``positions`` only: ``(batch, k, vocab_size)``.

    The same numbers as ``model(ids)`` at those positions, for a fraction of
    the cost: the output layer (``d_model`` by ``vocab_size``, the largest
    matrix product of a small model with a large vocabulary) runs on the ``k``
    chosen positions of each row instead of all of them
    (``companion.text.chosen_positions`` lists them).
    """
    positions = torch.as_tensor(positions, dtype=torch.long)
    h = model.bert(ids)                                            # (batch, steps, d_model)
    if positions.dim() != 2 or positions.shape[0] != h.shape[0]:
        raise ValueError(f"positions must be (batch, k) with batch={h.shape[0]}, "
                         f"got {tuple(positions.shape)}")
    if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) >= h.shape[1]):
        raise ValueError(f"positions must be in [0, {h.shape[1]})")
    h = torch.gather(h, 1, positions.to(h.device)[..., None].expand(-1, -1, h.shape[-1]))
    h = model.norm(torch.nn.functional.gelu(model.transform(h)))
    return model.decoder(h, model.bert.embeddings.word.weight)
