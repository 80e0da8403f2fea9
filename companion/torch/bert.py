"""BERT in PyTorch (part VI, ``book/transformers/bert.md``).

Read side by side with ``companion/keras/bert.py``: same class names, same
constructor arguments and defaults, same order of weight-carrying sublayers.

* ``BertEmbeddings``: word + position + token-type embeddings, LayerNorm,
  dropout (the ALBERT and DistilBERT chapters reuse it; ``type_vocab_size=0``
  leaves the token-type table out, as DistilBERT does);
* ``BERT``: the embeddings and a stack of post-LN ``EncoderLayer``
  (``companion.torch.transformers``) with exact GELU and LayerNorm epsilon
  1e-12; ``forward`` returns the hidden states ``(batch, steps, d_model)``,
  ``pool(hidden)`` the pooled ``[CLS]`` vector ``tanh(W h_0 + b)``;
* ``BERTForMaskedLM``: BERT and the masked-language-model head (dense, GELU,
  LayerNorm, then a decoder whose weight is the word-embedding table, plus a
  bias of its own);
* ``BERTClassifier``: BERT, the pooled vector, dropout and a linear layer.
  Next-sentence prediction is this classifier with two classes on
  ``[CLS] A [SEP] B [SEP]`` pairs (``companion.numpy.bert.nsp_pairs``).

RoBERTa is this network with another training recipe (no next-sentence
prediction, dynamic masking, bigger batches, more data, a byte-level BPE
vocabulary of 50,265 tokens); it needs no class of its own.

Weights are initialised as in BERT's code: normal with standard deviation
0.02 for every linear layer and embedding table, zero biases, LayerNorm
``(1, 0)``. Unlike Hugging Face's ``BertEmbeddings`` the padding row of the
word table is an ordinary row (no ``padding_idx``), as in the Keras twin.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from companion.checks import check_positive_int
from companion.torch.transformers import EncoderLayer

MASK_EXPECTED = "a boolean mask (True = real token) of shape (batch, steps) or (batch, steps, steps)"


def _unpack(ids, token_type_ids, mask):
    """A tuple ``(ids, token_type_ids[, mask])`` in place of ``ids`` is unpacked (as in Keras,
    whose ``fit`` passes the whole input as one argument)."""
    if isinstance(ids, (tuple, list)):
        if len(ids) not in (1, 2, 3):
            raise ValueError("expected ids, or a tuple (ids, token_type_ids) or "
                             f"(ids, token_type_ids, mask); got a tuple of {len(ids)}")
        parts = list(ids) + [None] * (3 - len(ids))
        ids = parts[0]
        token_type_ids = parts[1] if token_type_ids is None else token_type_ids
        mask = parts[2] if mask is None else mask
    return ids, token_type_ids, mask


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


class BertEmbeddings(nn.Module):
    """``LayerNorm(word[ids] + position[0..T-1] + token_type[types])``, then dropout.

    ``forward(ids, token_type_ids=None)`` with integer ids ``(batch, steps)``,
    ``steps <= max_len``; token types default to 0. Ids outside
    ``[0, vocab_size)``, types outside ``[0, type_vocab_size)`` and sequences
    longer than the position table raise ``ValueError`` (whose message names
    ``owner``, the model that uses the embeddings).
    """

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768,
                 type_vocab_size: int = 2, dropout: float = 0.1, eps: float = 1e-12,
                 owner: str = "BERT"):
        super().__init__()
        for value, what in ((vocab_size, "vocab_size"), (max_len, "max_len"), (d_model, "d_model")):
            check_positive_int(value, what)
        if isinstance(type_vocab_size, bool) or not isinstance(type_vocab_size, int) \
                or type_vocab_size < 0:
            raise ValueError(f"type_vocab_size must be an integer >= 0, got {type_vocab_size!r}")
        _check_dropout(dropout)
        self.vocab_size, self.max_len, self.d_model = vocab_size, max_len, d_model
        self.type_vocab_size, self.owner = type_vocab_size, owner
        self.word = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_len, d_model)
        self.token_type = nn.Embedding(type_vocab_size, d_model) if type_vocab_size else None
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def check_ids(self, ids) -> torch.Tensor:
        ids = torch.as_tensor(ids)
        name, top = self.owner, self.max_len
        if ids.dim() != 2 or ids.shape[1] < 1 or ids.shape[1] > top:
            raise ValueError(f"{name} expected input of shape (batch, steps) with 1 <= steps <= "
                             f"max_len={top}, got {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.is_complex():
            raise ValueError(f"{name} expected input of shape (batch, steps) holding integer "
                             f"token ids, got dtype {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"{name}: token ids must be in [0, {self.vocab_size}) "
                             f"(vocab_size={self.vocab_size}), got ids from {int(ids.min())} "
                             f"to {int(ids.max())}")
        return ids

    def forward(self, ids, token_type_ids=None):
        ids = self.check_ids(ids)
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)[None]
        if self.token_type is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(ids)
            types = torch.as_tensor(token_type_ids, device=ids.device)
            if tuple(types.shape) != tuple(ids.shape) or types.dtype.is_floating_point \
                    or types.dtype == torch.bool:
                raise ValueError(f"{self.owner}: token_type_ids must be integers of the ids' "
                                 f"shape {tuple(ids.shape)}, got {types.dtype} {tuple(types.shape)}")
            if types.numel() and (int(types.min()) < 0 or int(types.max()) >= self.type_vocab_size):
                raise ValueError(f"{self.owner}: token types must be in "
                                 f"[0, {self.type_vocab_size}), got {int(types.min())} to "
                                 f"{int(types.max())}")
            x = x + self.token_type(types)
        elif token_type_ids is not None:
            raise ValueError(f"{self.owner} has no token types (type_vocab_size=0)")
        return self.dropout(self.norm(x))


def _init_bert_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases (LayerNorm keeps 1 and 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class BERT(nn.Module):
    """BERT's encoder (Devlin et al., 2019): ``BertEmbeddings`` and ``layers`` post-LN encoder layers.

    ``forward(ids, token_type_ids=None, mask=None, return_weights=False)``
    returns the hidden states ``(batch, steps, d_model)``, one contextual
    vector per token; with ``return_weights=True`` it returns
    ``(hidden, [attention weights (batch, heads, steps, steps) of each layer])``.
    ``mask`` is boolean, True where a token may be attended to: ``(batch,
    steps)`` (padding) or ``(batch, steps, steps)``. Without one, every token
    whose id is not ``pad_id`` is attended to (``pad_id=None``: every token,
    Hugging Face's default).

    ``pool(hidden)`` gives the pooled output ``tanh(W h_[CLS] + b)``
    ``(batch, d_model)`` that BERT's sentence-level heads read (``pooler=True``).
    BERT-base is ``BERT(30522)``: 109,482,240 parameters, 108,891,648 without
    the pooler; BERT-large is ``d_model=1024, heads=16, layers=24, d_ff=4096``.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 12, d_ff: int = 3072, type_vocab_size: int = 2,
                 dropout: float = 0.1, eps: float = 1e-12, pooler: bool = True, pad_id=0):
        super().__init__()
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        if pad_id is not None and not 0 <= int(pad_id) < vocab_size:
            raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")
        self.pad_id = pad_id
        self.heads, self.d_model = heads, d_model
        self.embeddings = BertEmbeddings(vocab_size, max_len, d_model, type_vocab_size, dropout, eps)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu", eps=eps)
            for _ in range(layers))
        self.pooler = nn.Linear(d_model, d_model) if pooler else None
        self.apply(_init_bert_weights)

    def attention_mask(self, ids, mask=None) -> torch.Tensor | None:
        """The mask the encoder layers get: ``mask`` checked, or the padding mask from ``pad_id``."""
        if mask is None:
            return None if self.pad_id is None else (ids != self.pad_id)[:, None, :]
        mask = torch.as_tensor(mask, device=ids.device)
        b, t = ids.shape
        if mask.dtype != torch.bool:
            raise ValueError(f"BERT expected {MASK_EXPECTED}; got dtype {mask.dtype}")
        if tuple(mask.shape) == (b, t):
            return mask[:, None, :]             # key padding, shared by all queries
        if tuple(mask.shape) == (b, t, t):
            return mask
        raise ValueError(f"BERT expected {MASK_EXPECTED} with batch={b}, steps={t}; "
                         f"got shape {tuple(mask.shape)}")

    def forward(self, ids, token_type_ids=None, mask=None, return_weights=False):
        ids, token_type_ids, mask = _unpack(ids, token_type_ids, mask)
        x = self.embeddings(ids, token_type_ids)
        attend = self.attention_mask(torch.as_tensor(ids), mask)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, mask=attend, return_weights=True)
            weights.append(w)
        return (x, weights) if return_weights else x

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """The pooled output: ``tanh`` of a dense layer on the first (``[CLS]``) position."""
        if self.pooler is None:
            raise ValueError("this BERT was built with pooler=False: it has no pooled output")
        return torch.tanh(self.pooler(hidden[:, 0]))


class TiedDecoder(nn.Module):
    """Output layer whose weight is another layer's table: ``h @ table.T + bias``.

    It owns only the bias ``(vocab_size,)``; the table (the word embeddings)
    is passed in at every call, so the two stay one tensor.
    """

    def __init__(self, vocab_size: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, h, table):
        return F.linear(h, table, self.bias)


class BERTForMaskedLM(nn.Module):
    """BERT with the masked-language-model head; ``forward`` returns logits ``(batch, steps, vocab_size)``.

    Head: ``LayerNorm(gelu(dense(h)))`` then the tied decoder (word embeddings
    transposed, plus a bias). Same arguments as ``BERT``; the pooler is off by
    default because masked language modelling does not read it.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 12, d_ff: int = 3072, type_vocab_size: int = 2,
                 dropout: float = 0.1, eps: float = 1e-12, pooler: bool = False, pad_id=0):
        super().__init__()
        self.bert = BERT(vocab_size, max_len, d_model, heads, layers, d_ff, type_vocab_size,
                         dropout, eps, pooler, pad_id)
        self.transform = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.decoder = TiedDecoder(vocab_size)
        _init_bert_weights(self.transform)

    def forward(self, ids, token_type_ids=None, mask=None):
        h = self.bert(ids, token_type_ids=token_type_ids, mask=mask)
        h = self.norm(F.gelu(self.transform(h)))
        return self.decoder(h, self.bert.embeddings.word.weight)


class BERTClassifier(nn.Module):
    """BERT, its pooled ``[CLS]`` vector, dropout and a linear layer: logits ``(batch, num_classes)``.

    The fine-tuning head of sentence and sentence-pair tasks; with
    ``num_classes=2`` on ``[CLS] A [SEP] B [SEP]`` inputs it is the
    next-sentence-prediction head.
    """

    token_input = True   # integer token ids in (companion's train/predict keep them)

    def __init__(self, vocab_size: int, num_classes: int = 2, max_len: int = 512,
                 d_model: int = 768, heads: int = 12, layers: int = 12, d_ff: int = 3072,
                 type_vocab_size: int = 2, dropout: float = 0.1, eps: float = 1e-12, pad_id=0):
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        self.bert = BERT(vocab_size, max_len, d_model, heads, layers, d_ff, type_vocab_size,
                         dropout, eps, True, pad_id)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_classes)
        _init_bert_weights(self.classifier)

    def forward(self, ids, token_type_ids=None, mask=None):
        pooled = self.bert.pool(self.bert(ids, token_type_ids=token_type_ids, mask=mask))
        return self.classifier(self.dropout(pooled))
