"""BERT's data and maths in NumPy (part VI, ``book/transformers/bert.md``).

* ``mask_tokens``: the masked-language-model corruption with BERT's 80/10/10
  rule (of the positions chosen for prediction, 80 % become ``[MASK]``, 10 %
  a random token, 10 % stay as they are);
* ``nsp_pairs`` and ``pack_pair``: next-sentence-prediction examples,
  ``[CLS] A [SEP] B [SEP]`` with token types 0 for A and 1 for B;
* ``parameter_count``: BERT's parameters from its configuration, by formula;
* ``bert_forward``: the encoder's forward pass written out, reading the
  weights from a PyTorch ``state_dict`` converted to NumPy arrays (a test
  oracle and the worked example of the chapter's section 4).

RoBERTa (Liu et al., 2019) is this same network trained with another recipe:
no next-sentence prediction, masks drawn anew every time a sequence is seen
(``mask_tokens`` called once per epoch rather than once for the data set),
bigger batches, more data and a byte-level BPE vocabulary.
"""
from __future__ import annotations

import numpy as np

from companion.numpy.activations import gelu
from companion.numpy.attention import scaled_dot_product_attention, merge_heads, split_heads
from companion.numpy.normalization import layer_norm

IGNORE = -100   # label of a position that is not predicted (PyTorch's ignore_index default)


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ================================================================ masked language modelling

def mask_tokens(ids, vocab_size: int, mask_id: int, special_ids=(), mask_prob: float = 0.15,
                seed=0, random_low: int = 0):
    """BERT's masked-language-model corruption of a batch of token ids.

    Every position whose id is not in ``special_ids`` (``[CLS]``, ``[SEP]``,
    padding ...) is chosen for prediction with probability ``mask_prob``. A
    chosen position is replaced by ``mask_id`` with probability 0.8, by a
    token drawn uniformly from ``[random_low, vocab_size)`` (skipping the
    special ids) with probability 0.1, and left unchanged with probability 0.1.

    Returns ``(inputs, labels)``, both int64 of the shape of ``ids``:
    ``labels`` holds the original id at chosen positions and ``IGNORE``
    (-100) everywhere else, so a cross-entropy with ``ignore_index=-100``
    scores only the chosen positions. ``seed`` is an integer or a
    ``numpy.random.Generator`` (pass one generator and call again every epoch
    for RoBERTa's dynamic masking).
    """
    ids = np.asarray(ids)
    if ids.ndim < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"mask_tokens expected integer token ids of shape (batch, steps), "
                         f"got {ids.dtype} of shape {ids.shape}")
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must be in [0, {vocab_size}), got [{ids.min()}, {ids.max()}]")
    special = np.asarray(sorted(set(int(s) for s in special_ids) | {int(mask_id)}), dtype=np.int64)
    ordinary = np.setdiff1d(np.arange(random_low, vocab_size), special)
    if ordinary.size == 0:
        raise ValueError("no ordinary token is left to draw random replacements from")
    rng = _rng(seed)
    eligible = ~np.isin(ids, special)
    chosen = eligible & (rng.random(ids.shape) < mask_prob)
    action = rng.random(ids.shape)                    # one draw decides mask / random / keep
    inputs = ids.astype(np.int64).copy()
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    inputs[to_mask] = mask_id
    inputs[to_random] = rng.choice(ordinary, size=int(to_random.sum()))
    labels = np.where(chosen, ids, IGNORE).astype(np.int64)
    return inputs, labels


def masked_accuracy(logits, labels) -> float:
    """Share of the predicted positions (``labels != IGNORE``) whose arg-max is the label."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    chosen = labels != IGNORE
    if not chosen.any():
        raise ValueError("no position is labelled: nothing to score")
    return float((logits.argmax(-1)[chosen] == labels[chosen]).mean())


# ================================================================ next-sentence prediction

def pack_pair(a, b, cls_id: int, sep_id: int, max_len: int, pad_id: int = 0):
    """``[CLS] a [SEP] b [SEP]`` padded to ``max_len``; returns ``(ids, token_types)``.

    Token type 0 covers ``[CLS]``, ``a`` and the first ``[SEP]``, type 1 covers
    ``b`` and the last ``[SEP]``; padding gets type 0, as in BERT's code. The
    longer segment is cut from its end until the pair fits.
    """
    a, b = list(np.asarray(a).ravel()), list(np.asarray(b).ravel())
    if max_len < 5:
        raise ValueError(f"max_len={max_len} leaves no room for two segments and three specials")
    while len(a) + len(b) + 3 > max_len:
        (a if len(a) >= len(b) else b).pop()
    ids = [cls_id, *a, sep_id, *b, sep_id]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = max_len - len(ids)
    return (np.asarray(ids + [pad_id] * pad, dtype=np.int64),
            np.asarray(types + [0] * pad, dtype=np.int64))


def nsp_pairs(segments, n: int, cls_id: int, sep_id: int, max_len: int, pad_id: int = 0,
              seed=0):
    """``n`` next-sentence-prediction examples from ``segments`` in reading order.

    For each example a segment A is drawn at random; half of the time B is the
    segment that follows A (label 1, "is next"), otherwise a random segment
    that does not follow it (label 0). Returns ``(ids, token_types, is_next)``
    with shapes ``(n, max_len)``, ``(n, max_len)``, ``(n,)``. (Hugging Face's
    ``next_sentence_label`` uses the opposite coding: 0 = is next.)
    """
    if len(segments) < 3:
        raise ValueError("need at least three segments to draw random non-neighbours")
    rng = _rng(seed)
    ids, types, labels = [], [], []
    for _ in range(n):
        i = int(rng.integers(0, len(segments) - 1))
        if rng.random() < 0.5:
            j, label = i + 1, 1
        else:
            j = int(rng.integers(0, len(segments) - 1))
            while j == i + 1:
                j = int(rng.integers(0, len(segments)))
            label = 0
        x, t = pack_pair(segments[i], segments[j], cls_id, sep_id, max_len, pad_id)
        ids.append(x), types.append(t), labels.append(label)
    return np.stack(ids), np.stack(types), np.asarray(labels, dtype=np.int64)


# ================================================================ size

def parameter_count(vocab_size: int, max_len: int = 512, d_model: int = 768, layers: int = 12,
                    d_ff: int = 3072, type_vocab_size: int = 2, pooler: bool = True) -> int:
    """BERT's number of parameters, by formula.

    Embeddings ``(V + max_len + types) d`` and a LayerNorm ``2d``; per layer
    four ``d x d`` projections with biases, two LayerNorms and the
    feed-forward ``d -> d_ff -> d``; the pooler ``d x d + d``. BERT-base
    (V = 30,522): 109,482,240 with the pooler, 108,891,648 without.
    """
    d = d_model
    embeddings = (vocab_size + max_len + type_vocab_size) * d + 2 * d
    per_layer = 4 * (d * d + d) + 2 * (2 * d) + (d * d_ff + d_ff) + (d_ff * d + d)
    return embeddings + layers * per_layer + (d * d + d if pooler else 0)


# ================================================================ forward pass

def bert_forward(ids, params: dict, heads: int, layers: int, token_type_ids=None, mask=None,
                 eps: float = 1e-12, return_weights: bool = False):
    """BERT's encoder, written out, with the companion's PyTorch parameter names.

    ``params`` maps names to NumPy arrays, as
    ``{k: v.numpy() for k, v in model.state_dict().items()}`` gives them for a
    ``companion.torch.bert.BERT``: ``embeddings.word.weight``,
    ``encoder.0.attention.query.weight`` and so on (linear weights are
    ``(out, in)``, so a layer is ``x @ W.T + b``). ``mask`` is a boolean
    ``(batch, steps)`` array, True at real tokens. Returns the hidden states
    ``(batch, steps, d)`` in float64, and the attention weights of every layer
    with ``return_weights=True``.
    """
    ids = np.asarray(ids)
    batch, steps = ids.shape
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)

    def linear(x, name):
        return x @ params[name + ".weight"].T + params[name + ".bias"]

    def norm(x, name):
        return layer_norm(x, params[name + ".weight"], params[name + ".bias"], eps)

    x = params["embeddings.word.weight"][ids] + params["embeddings.position.weight"][:steps]
    if "embeddings.token_type.weight" in params:
        x = x + params["embeddings.token_type.weight"][types]
    x = norm(x, "embeddings.norm")
    attend = None if mask is None else np.asarray(mask, dtype=bool)[:, None, None, :]
    all_weights = []
    for i in range(layers):
        p = f"encoder.{i}."
        q, k, v = (split_heads(linear(x, p + "attention." + n), heads)
                   for n in ("query", "key", "value"))
        context, weights = scaled_dot_product_attention(q, k, v, attend)
        x = norm(x + linear(merge_heads(context), p + "attention.output"), p + "norm1")
        h = gelu(linear(x, p + "ffn.inner"))
        x = norm(x + linear(h, p + "ffn.outer"), p + "norm2")
        all_weights.append(weights)
    return (x, all_weights) if return_weights else x


# ================================================================ a labelled task for fine-tuning

def code_and_prose_lines(text: str, min_chars: int = 12):
    """Lines of Python's help text labelled 1 (code example) or 0 (English prose).

    The label comes from the layout, not from the words: in ``pydoc_data``'s
    text a code block is a paragraph indented further than the paragraph
    before it, which ends with a colon ("... for example:"). Such lines are
    code; lines of paragraphs that do not follow a colon are prose. Table
    rows, short lines and lines after a bare "Note:" are left out. Lines are
    returned stripped of their indentation, so a model must tell code from
    prose by what the line says. Returns ``(lines, labels)``.
    """
    paragraphs, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)

    def indent(paragraph):
        return min(len(line) - len(line.lstrip(" ")) for line in paragraph)

    lines, labels = [], []
    for before, paragraph in zip(paragraphs, paragraphs[1:]):
        last = before[-1].strip()
        if last.endswith(":") and len(last.split()) > 2 and indent(paragraph) > indent(before):
            label = 1
        elif not last.endswith(":"):
            label = 0
        else:
            continue
        for line in paragraph:
            line = line.strip()
            if len(line) >= min_chars and not line.startswith(("|", "+-", "+=")):
                lines.append(line)
                labels.append(label)
    return lines, np.asarray(labels, dtype=np.int64)
