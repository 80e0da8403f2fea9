"""Words to token ids, with no framework: the tokeniser of the sentiment study (part IX).

``tokenize`` cuts a text into lower-case words, keeping hashtags, mentions
and emoticon-like runs of punctuation as tokens, and replacing web addresses
and user names by placeholders (``<url>``, ``<user>``), which carry no
sentiment of their own and would otherwise each be a rare word.
``Vocabulary`` is a word-level vocabulary learned from training texts: the
special tokens first (``[PAD]`` = 0, ``[UNK]`` = 1, ``[CLS]`` = 2,
``[MASK]`` = 3), then the words seen at least ``min_count`` times, most
frequent first. ``encode`` turns texts into a padded ``(n, max_len)`` int64
array that both frameworks' text models read.

``check_text_arguments`` is the constructor check that the two twins of
``TextClassifier`` (``companion.torch.text``, ``companion.keras.text``)
share, kept here so that neither imports the other framework; their input
check is ``companion.checks.check_token_ids``, as for the GPT.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from companion.checks import check_choice, check_positive_int

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[MASK]")
PAD, UNK, CLS, MASK = range(len(SPECIALS))

_URL = re.compile(r"https?://\S+|www\.\S+")
_USER = re.compile(r"@\w+")
# words (with inner apostrophes), #hashtags, placeholders, numbers, runs of punctuation
_TOKEN = re.compile(r"<url>|<user>|#?[a-z]+(?:'[a-z]+)?|\d+|[^\w\s]+")


def tokenize(text: str) -> list:
    """Lower-case word tokens of ``text``; addresses become ``<url>``, mentions ``<user>``."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    text = _USER.sub(" <user> ", _URL.sub(" <url> ", text.lower()))
    return _TOKEN.findall(text)


class Vocabulary:
    """A word-level vocabulary: ``SPECIALS``, then words by decreasing frequency.

    ``Vocabulary.fit(texts, min_count=2, max_size=None)`` learns it from
    training texts only (words of the validation and test texts that it never
    saw become ``[UNK]``). ``encode(texts, max_len, cls=False)`` returns ids
    ``(n, max_len)``, cut at ``max_len`` and padded with ``[PAD]`` at the end;
    ``cls=True`` starts every row with ``[CLS]`` (for BERT).
    """

    def __init__(self, words):
        words = list(words)
        if len(set(words)) != len(words) or set(words) & set(SPECIALS):
            raise ValueError("words must be distinct and must not repeat the special tokens")
        self.tokens = list(SPECIALS) + words
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(cls, texts, min_count: int = 2, max_size: int | None = None) -> "Vocabulary":
        check_positive_int(min_count, "min_count")
        if max_size is not None:
            check_positive_int(max_size, "max_size")
        counts = Counter(token for text in texts for token in tokenize(text))
        # most frequent first; ties in alphabetical order, so the ids do not depend on dict order
        words = sorted((w for w, c in counts.items() if c >= min_count),
                       key=lambda w: (-counts[w], w))
        return cls(words[:max_size])

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, text: str) -> list:
        """The ids of one text's tokens, unknown words as ``[UNK]`` (no padding, no cut)."""
        return [self.index.get(token, UNK) for token in tokenize(text)]

    def encode(self, texts, max_len: int, cls: bool = False) -> np.ndarray:
        check_positive_int(max_len, "max_len")
        if isinstance(texts, str):
            raise ValueError("encode takes a list of texts; wrap a single text in a list")
        start = [CLS] if cls else []
        if cls and max_len < 2:
            raise ValueError("with cls=True, max_len must be at least 2 ([CLS] and one token)")
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = (start + self.ids(text))[:max_len]
            out[row, :len(ids)] = ids
        return out

    def decode(self, ids, skip_padding: bool = True) -> list:
        """Tokens of one row of ids (``[PAD]`` left out unless ``skip_padding=False``)."""
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must be in [0, {len(self)}), got {ids.min()} to {ids.max()}")
        return [self.tokens[i] for i in ids if not (skip_padding and i == PAD)]


# ------------------------------------------------- checks shared by both TextClassifiers

EXPECTED = "(batch, steps)"
CELLS = ("lstm", "gru")
POOLINGS = ("mean", "last")


def check_text_arguments(vocab_size, num_classes, embedding_size, hidden_size, cell, pooling,
                         dropout, pad_id) -> None:
    """The constructor checks of ``TextClassifier`` (both frameworks)."""
    for value, what in ((vocab_size, "vocab_size"), (num_classes, "num_classes"),
                        (embedding_size, "embedding_size"), (hidden_size, "hidden_size")):
        check_positive_int(value, what)
    check_choice(cell, CELLS, "cell")
    check_choice(pooling, POOLINGS, "pooling")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if pad_id is not None and (isinstance(pad_id, bool) or not isinstance(pad_id, int)
                               or not 0 <= pad_id < vocab_size):
        raise ValueError(f"pad_id must be None or an integer in [0, {vocab_size}), got {pad_id!r}")


# ------------------------------------------------- masked language modelling, chosen positions

def chosen_positions(labels, ignore: int = -100):
    """Where masked-language-model labels score a token: ``(positions, targets, weights)``.

    ``labels`` ``(n, steps)`` holds the original id where a position was chosen
    for prediction and ``ignore`` elsewhere (``companion.numpy.bert.mask_tokens``'s
    format). Each row's chosen positions are listed left to right and padded
    to the longest row's count ``k``: ``positions`` ``(n, k)`` int64 (0 in the
    padding), ``targets`` ``(n, k)`` int64 (0 in the padding) and ``weights``
    ``(n, k)`` float32 (1 for a real position, 0 for padding). BERT's own code
    does the same (``masked_lm_positions``, ``max_predictions_per_seq``), so
    that its output layer runs on the chosen 15 % of the tokens only.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape (n, steps), got {labels.dtype} "
                         f"{labels.shape}")
    chosen = labels != ignore
    k = max(int(chosen.sum(1).max(initial=0)), 1)
    positions = np.zeros((len(labels), k), dtype=np.int64)
    targets = np.zeros((len(labels), k), dtype=np.int64)
    weights = np.zeros((len(labels), k), dtype=np.float32)
    for row in range(len(labels)):
        where = np.flatnonzero(chosen[row])
        positions[row, :len(where)] = where
        targets[row, :len(where)] = labels[row, where]
        weights[row, :len(where)] = 1.0
    return positions, targets, weights
