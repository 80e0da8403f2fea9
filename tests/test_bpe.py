"""Part VI overview: the from-scratch byte-level BPE against tiktoken's trainer and encoder."""
import numpy as np
import pytest

from companion import bpe
from companion.data import char_corpus

tiktoken = pytest.importorskip("tiktoken")
from tiktoken._educational import bpe_train  # noqa: E402

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@pytest.fixture(scope="module")
def text():
    return char_corpus().text


def _tiktoken(ranks):
    return tiktoken.Encoding(name="book-bpe", pat_str=bpe.PATTERN, mergeable_ranks=ranks,
                             special_tokens={})


def test_merges_and_ids_equal_tiktoken(text):
    train, held_out = text[:12000], text[-30000:]
    ours = bpe.train(train, 256 + 150)
    ranks = bpe_train(train, 256 + 150, bpe.PATTERN, visualise=None)
    assert ours.ranks == ranks
    assert ours.encode(held_out) == _tiktoken(ranks).encode(held_out)
    assert ours.decode(ours.encode(held_out)) == held_out


def test_ties_are_broken_like_tiktoken():
    # many pairs occur equally often: the first one met in the text must win
    text = "ab cd ef ab cd ef gh gh xy zz zz xy a b ba ab " * 3
    ours = bpe.train(text, 256 + 12)
    assert ours.ranks == bpe_train(text, 256 + 12, bpe.PATTERN, visualise=None)


def test_pattern_cuts_ascii_text_like_gpt2s(text):
    regex = pytest.importorskip("regex")
    assert regex.findall(GPT2_PATTERN, text[:100000]) == bpe.pieces(text[:100000])
    assert "".join(bpe.pieces(text[:100000])) == text[:100000]          # nothing is dropped


def test_any_text_round_trips_and_unicode_is_bytes():
    enc = bpe.train("the theme of the thesis is the theory " * 20, 270)
    sample = "Thé théorie ✓ — naïve 東京 the\n\ttheme"
    ids = enc.encode(sample)
    assert enc.decode(ids) == sample and max(ids) < enc.vocab_size
    assert enc.encode("the") == [enc.ranks[b"the"]]
    assert enc.decode(enc.encode("✓")[:1]) == "\ufffd"       # a cut through a character
    with pytest.raises(UnicodeDecodeError):
        enc.decode(enc.encode("✓")[:1], errors="strict")


def test_bpe_compresses_better_than_bytes_and_like_hugging_face(text):
    tokenizers = pytest.importorskip("tokenizers")
    train, held_out = text[:150000], text[-40000:]
    ours = bpe.train(train, 512)
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[], show_progress=False)
    hf.train_from_iterator([train], trainer)
    assert hf.get_vocab_size() == 512
    ours_cpt = bpe.chars_per_token(ours.encode, held_out)
    hf_cpt = bpe.chars_per_token(lambda s: hf.encode(s).ids, held_out)
    assert ours_cpt > 2.0 and abs(ours_cpt - hf_cpt) / hf_cpt < 0.15, (ours_cpt, hf_cpt)


def test_bpe_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 256"):
        bpe.train("hello", 100)
    with pytest.raises(ValueError, match="non-empty str"):
        bpe.train(b"hello", 300)
    with pytest.raises(ValueError, match="no pair left"):
        bpe.train("ab", 300)
    enc = bpe.train("hello hello", 258)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 258\)"):
        enc.decode([5, 258])
    with pytest.raises(ValueError, match="text must be a str"):
        enc.encode(np.array([1, 2]))
