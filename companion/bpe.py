"""Byte-level byte-pair encoding (BPE) from scratch, in pure Python (part VI overview).

Byte-pair encoding (Gage, 1994; Sennrich, Haddow and Birch, 2016) builds a
vocabulary bottom-up: start from the 256 byte values, then repeatedly make the
most frequent adjacent pair of tokens in the training text a new token. Byte-level
BPE, as in GPT-2, works on UTF-8 bytes, so any text can be encoded and no token is
ever unknown. Before counting, the text is cut into pieces by a regular
expression (words with their leading space, numbers, punctuation, whitespace), so
no token crosses a piece boundary.

This implementation follows tiktoken's educational trainer exactly (the same
pieces, the same tie-breaking: among equally frequent pairs, the one that occurs
first in the text wins), so its ``mergeable_ranks`` give ``tiktoken.Encoding``
the same token ids; ``tests/test_bpe.py`` checks it. Training counts pair
frequencies once and then updates only the pieces a merge touches.
"""
from __future__ import annotations

import re
from collections import defaultdict

# GPT-2's split pattern written for Python's ``re`` (no ``regex`` module needed):
# on ASCII text it cuts exactly where GPT-2's \p{L} / \p{N} pattern cuts.
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def pieces(text: str, pattern: str = PATTERN) -> list:
    """The pre-tokenisation pieces of ``text`` (no token crosses their borders)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return re.findall(pattern, text)


def _merge_word(word: list, pair: tuple, new: bytes) -> list:
    """Replace non-overlapping occurrences of ``pair`` in ``word``, left to right."""
    out, i = [], 0
    while i < len(word):
        if i < len(word) - 1 and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _pairs(word: list) -> dict:
    counts = defaultdict(int)
    for pair in zip(word, word[1:]):
        counts[pair] += 1
    return counts


class BytePairEncoding:
    """A trained byte-level BPE: ``encode`` text to ids, ``decode`` ids to text.

    ``ranks`` maps each token's bytes to its id (ids 0 to 255 are the single
    bytes, then one id per merge in the order they were learned), the format of
    tiktoken's ``mergeable_ranks``. ``merges`` lists the learned pairs.
    """

    def __init__(self, ranks: dict, merges: list | None = None, pattern: str = PATTERN):
        if sorted(ranks.values()) != list(range(len(ranks))):
            raise ValueError("ranks must map token bytes to the ids 0, 1, ..., len(ranks) - 1")
        if any(bytes([b]) not in ranks for b in range(256)):
            raise ValueError("ranks must contain all 256 single bytes (byte-level BPE)")
        self.ranks = dict(ranks)
        self.merges = list(merges or [])
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self._tokens = {i: b for b, i in self.ranks.items()}
        self._cache: dict = {}

    @property
    def vocab_size(self) -> int:
        return len(self.ranks)

    def _encode_piece(self, piece: bytes) -> list:
        if piece in self.ranks:            # tiktoken's shortcut: a whole piece that is a token
            return [self.ranks[piece]]
        parts = [bytes([b]) for b in piece]
        while len(parts) > 1:
            # merge the adjacent pair whose concatenation has the lowest id (leftmost on ties)
            best, where = None, None
            for i in range(len(parts) - 1):
                rank = self.ranks.get(parts[i] + parts[i + 1])
                if rank is not None and (best is None or rank < best):
                    best, where = rank, i
            if best is None:
                break
            parts[where:where + 2] = [parts[where] + parts[where + 1]]
        return [self.ranks[p] for p in parts]

    def encode(self, text: str) -> list:
        """Token ids of ``text``."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        ids = []
        for piece in self._regex.findall(text):
            if piece not in self._cache:
                self._cache[piece] = self._encode_piece(piece.encode("utf-8"))
            ids.extend(self._cache[piece])
        return ids

    def decode_bytes(self, ids) -> bytes:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {bad[:5]}")
        return b"".join(self._tokens[i] for i in ids)

    def decode(self, ids, errors: str = "replace") -> str:
        """The text of ``ids``. A cut through a multi-byte character decodes to U+FFFD
        (``errors="replace"``, as tiktoken does) or raises (``errors="strict"``)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_strings(self, ids) -> list:
        """Each id's bytes as readable text (for printing a segmentation)."""
        return [self._tokens[int(i)].decode("utf-8", errors="replace") for i in ids]


def train(text: str, vocab_size: int, pattern: str = PATTERN) -> BytePairEncoding:
    """Learn ``vocab_size - 256`` merges from ``text``.

    Identical, merge for merge, to ``tiktoken._educational.bpe_train`` with the
    same ``pattern``: each step merges the most frequent adjacent pair inside
    the pieces, and among equally frequent pairs the one that appears first
    when the pieces are read in order.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty str")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an integer >= 256 (the byte alphabet), got {vocab_size!r}")
    ranks = {bytes([b]): b for b in range(256)}
    # Unique pieces in order of first appearance, with their frequencies: reading
    # them in this order meets every pair first where the full text does.
    freq: dict = {}
    for piece in re.findall(pattern, text):
        freq[piece] = freq.get(piece, 0) + 1
    words = [[bytes([b]) for b in piece.encode("utf-8")] for piece in freq]
    counts = list(freq.values())
    pair_count: dict = defaultdict(int)
    pair_words: dict = defaultdict(set)
    for w, (word, n) in enumerate(zip(words, counts)):
        for pair, k in _pairs(word).items():
            pair_count[pair] += k * n
            pair_words[pair].add(w)
    merges = []
    while len(ranks) < vocab_size:
        if not pair_count:
            raise ValueError(f"the text allows only {len(ranks)} tokens (no pair left to merge); "
                             f"ask for a smaller vocab_size or give more text")
        top = max(pair_count.values())
        tied = [p for p, c in pair_count.items() if c == top]
        if len(tied) == 1:
            best = tied[0]
        else:   # the tied pair met first when reading the pieces in order
            first = min(min(pair_words[p]) for p in tied)
            word, tied = words[first], set(tied)
            best = next(p for p in zip(word, word[1:]) if p in tied)
        new = best[0] + best[1]
        ranks[new] = len(ranks)
        merges.append(best)
        for w in list(pair_words[best]):
            old_word, n = words[w], counts[w]
            new_word = _merge_word(old_word, best, new)
            old_pairs, new_pairs = _pairs(old_word), _pairs(new_word)
            for pair, k in old_pairs.items():
                pair_count[pair] -= k * n
                if pair not in new_pairs:
                    pair_words[pair].discard(w)
            for pair, k in new_pairs.items():
                pair_count[pair] += k * n
                pair_words[pair].add(w)
            words[w] = new_word
        for pair in [p for p, c in pair_count.items() if c == 0]:
            del pair_count[pair]
            pair_words.pop(pair, None)
    return BytePairEncoding(ranks, merges, pattern)


def chars_per_token(encode, text: str) -> float:
    """Characters of ``text`` per token of ``encode(text)``: the compression a tokeniser achieves."""
    n = len(encode(text))
    if n == 0:
        raise ValueError("the text encodes to no tokens")
    return len(text) / n
