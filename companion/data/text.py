"""Word-level text data from Python's own documentation (``pydoc_data.topics``), offline.

``topic_windows`` turns four help topics into a small sentence-classification
task (which topic does a window of words come from?), with a vocabulary built
from the training part only. Part VI's BERT-variants chapter distils a teacher
into a student on it.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from companion.checks import check_positive_int

SPECIALS = ("[PAD]", "[CLS]", "[MASK]", "[UNK]")   # ids 0, 1, 2, 3
PAD, CLS, MASK, UNK = range(4)
_WORD = re.compile(r"[a-z_]+|\d+|[^\sa-z_\d]")


def words(text: str) -> list[str]:
    """Lower-cased words, numbers and single punctuation marks, in order."""
    return _WORD.findall(text.lower())


@dataclass
class TopicWindows:
    """Token ids ``(n, steps + 1)`` starting with ``[CLS]``, topic labels ``(n,)``, per split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocab: list          # vocab[i] is the word of id i; ids 0-3 are SPECIALS
    topics: tuple        # topics[label] is the help topic's name

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids) -> str:
        return " ".join(self.vocab[int(i)] for i in np.asarray(ids).ravel() if int(i) != PAD)


def topic_windows(topics=("compound", "debugger", "formatstrings", "string-methods"), *,
                  steps: int = 12, per_topic: int = 280, vocab_size: int = 1200,
                  seed: int = 0) -> TopicWindows:
    """Distinct windows of ``steps`` words from each of ``topics`` (Python's help pages).

    ``per_topic`` windows are drawn at random from each topic (so the classes
    are balanced) and split 60/20/20 into train, validation and test. The
    vocabulary holds the four special tokens and the ``vocab_size - 4`` most
    frequent words of the *training* windows; other words become ``[UNK]``.
    """
    from pydoc_data.topics import topics as pages

    for value, what in ((steps, "steps"), (per_topic, "per_topic"), (vocab_size, "vocab_size")):
        check_positive_int(value, what)
    unknown = [t for t in topics if t not in pages]
    if unknown:
        raise ValueError(f"unknown help topics {unknown}; pydoc_data.topics has e.g. "
                         f"{sorted(pages)[:5]}")
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    seen = set()   # repeated windows (rules of "~~~~", boilerplate) would leak across splits
    for label, topic in enumerate(topics):
        tokens = words(pages[topic])
        windows = []
        for i in range(len(tokens) // steps):
            window = tuple(tokens[i * steps:(i + 1) * steps])
            if window not in seen:
                seen.add(window)
                windows.append(list(window))
        if len(windows) < per_topic:
            raise ValueError(f"topic {topic!r} has only {len(windows)} distinct windows of "
                             f"{steps} words; lower per_topic or steps")
        order = rng.permutation(len(windows))[:per_topic]
        cut1, cut2 = int(0.6 * per_topic), int(0.8 * per_topic)
        for name, chosen in (("train", order[:cut1]), ("val", order[cut1:cut2]),
                             ("test", order[cut2:])):
            parts[name] += [(windows[i], label) for i in sorted(chosen)]
    counts = Counter(w for window, _ in parts["train"] for w in window)
    vocab = list(SPECIALS) + [w for w, _ in counts.most_common(vocab_size - len(SPECIALS))]
    index = {w: i for i, w in enumerate(vocab)}

    def encode(rows):
        x = np.array([[CLS] + [index.get(w, UNK) for w in window] for window, _ in rows],
                     dtype=np.int64)
        y = np.array([label for _, label in rows], dtype=np.int64)
        shuffle = rng.permutation(len(x))
        return x[shuffle], y[shuffle]

    return TopicWindows(*encode(parts["train"]), *encode(parts["val"]), *encode(parts["test"]),
                        vocab=vocab, topics=tuple(topics))
