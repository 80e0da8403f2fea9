"""The sentiment study's library code: the tokeniser and vocabulary, TextClassifier in both
frameworks (against torch.nn and NumPy references), its padding and its errors, and the
masked-language-model helpers."""
import numpy as np
import pytest

from companion import parity
from companion.checks import check_token_ids
from companion.text import (CLS, MASK, PAD, SPECIALS, UNK, Vocabulary, chosen_positions,
                            tokenize)


def _ids(batch=4, steps=9, vocab=30, pad_tail=(0, 3, 5, 8), seed=0):
    """Random ids in [1, vocab) with the last pad_tail[i] steps of row i set to [PAD]."""
    ids = np.random.default_rng(seed).integers(1, vocab, size=(batch, steps)).astype(np.int64)
    for row, tail in enumerate(pad_tail[:batch]):
        if tail:
            ids[row, steps - tail:] = PAD
    return ids


# ---------------------------------------------------------------- tokeniser and vocabulary

def test_tokenize_keeps_hashtags_and_replaces_users_and_addresses():
    tokens = tokenize("@united Worst flight EVER!!! #fail http://t.co/x don't")
    assert tokens == ["<user>", "worst", "flight", "ever", "!!!", "#fail", "<url>", "don't"]
    with pytest.raises(ValueError, match="str"):
        tokenize(3)


def test_vocabulary_orders_by_frequency_and_encodes_with_padding():
    vocab = Vocabulary.fit(["good good bad", "good ok", "bad rare"], min_count=2)
    assert vocab.tokens == [*SPECIALS, "good", "bad"]
    ids = vocab.encode(["good unseen bad", "bad"], max_len=5, cls=True)
    good, bad = vocab.index["good"], vocab.index["bad"]
    assert ids.dtype == np.int64
    assert ids.tolist() == [[CLS, good, UNK, bad, PAD], [CLS, bad, PAD, PAD, PAD]]
    assert vocab.encode(["good good good good"], max_len=2).tolist() == [[good, good]]
    assert vocab.decode(ids[0]) == ["[CLS]", "good", "[UNK]", "bad"]
    with pytest.raises(ValueError, match="list of texts"):
        vocab.encode("good", max_len=4)
    with pytest.raises(ValueError, match="ids must be in"):
        vocab.decode([len(vocab)])
    assert len(Vocabulary.fit(["a b c d", "a b c d"], max_size=2)) == len(SPECIALS) + 2


def test_token_id_check_names_the_expected_shape_and_range():
    check_token_ids((2, 3), "int64", np.array([[0, 1, 2]]), 3)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps\)"):
        check_token_ids((2, 3, 1), "int64", None, 3)
    with pytest.raises(ValueError, match="integer token ids"):
        check_token_ids((2, 3), "float32", None, 3)
    with pytest.raises(ValueError, match=r"must be in \[0, 3\)"):
        check_token_ids((1, 2), "int64", np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match=r"steps <= max_len=4"):    # with a position table
        check_token_ids((1, 5), "int64", None, 3, max_len=4)
    check_token_ids((1, 500), "int64", None, 3)                    # without one, any length


def test_chosen_positions_lists_each_rows_scored_tokens():
    labels = np.array([[-100, 7, -100, 9], [-100, -100, -100, -100], [5, -100, -100, -100]])
    positions, targets, weights = chosen_positions(labels)
    assert positions.tolist() == [[1, 3], [0, 0], [0, 0]]
    assert targets.tolist() == [[7, 9], [0, 0], [5, 0]]
    assert weights.tolist() == [[1, 1], [0, 0], [1, 0]]
    with pytest.raises(ValueError, match="integers of shape"):
        chosen_positions(np.zeros(4, dtype=np.int64))


# ---------------------------------------------------------------- TextClassifier, PyTorch

@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_torch_text_classifier_matches_a_torch_nn_reference(cell, pooling):
    """Embedding + nn.LSTM/nn.GRU + masked pooling + Linear, written out with the same weights."""
    import torch

    from companion.torch.text import TextClassifier

    torch.manual_seed(0)
    model = TextClassifier(30, num_classes=3, embedding_size=5, hidden_size=6, cell=cell,
                           pooling=pooling).eval()
    ids = torch.from_numpy(_ids())
    layer = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(5, 6, batch_first=True)
    layer.load_state_dict(model.rnn.state_dict())
    expected = []
    with torch.no_grad():
        for row in ids:
            n = int((row != PAD).sum())            # right-padded: real tokens come first
            states = layer(model.embedding.weight[row[:n]][None])[0][0]
            pooled = states.mean(0) if pooling == "mean" else states[-1]
            expected.append(model.head(pooled))
        out = model(ids)
    np.testing.assert_allclose(out.numpy(), torch.stack(expected).numpy(), atol=1e-6)


def test_torch_padding_does_not_change_the_output():
    import torch

    from companion.torch.text import TextClassifier

    torch.manual_seed(0)
    for pooling in ("mean", "last"):
        model = TextClassifier(20, embedding_size=4, hidden_size=5, cell="gru", pooling=pooling).eval()
        short = torch.tensor([[3, 7, 9]])
        longer = torch.tensor([[3, 7, 9, PAD, PAD, PAD, PAD]])
        with torch.no_grad():
            np.testing.assert_allclose(model(short).numpy(), model(longer).numpy(), atol=1e-6)
    # with pad_id=None the padding is read as tokens, and the answer changes
    model = TextClassifier(20, embedding_size=4, hidden_size=5, pad_id=None).eval()
    with torch.no_grad():
        assert not np.allclose(model(short).numpy(), model(longer).numpy(), atol=1e-6)


def test_torch_all_padding_row_pools_to_zero_and_stays_finite():
    import torch

    from companion.torch.text import TextClassifier

    model = TextClassifier(20, embedding_size=4, hidden_size=5).eval()
    ids = torch.zeros(2, 4, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(model.pool(model.states(ids), ids), torch.zeros(2, 5))
        np.testing.assert_allclose(model(ids).numpy(), model.head.bias.numpy()[None].repeat(2, 0))


def test_torch_lstm_starts_with_an_open_forget_gate():
    from companion.torch.text import TextClassifier

    model = TextClassifier(10, embedding_size=3, hidden_size=4, cell="lstm")
    total = (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach().numpy()
    assert np.allclose(total[4:8], 1.0)


def test_torch_text_classifier_rejects_bad_ids_and_arguments():
    import torch

    from companion.torch.text import TextClassifier

    model = TextClassifier(10, embedding_size=3, hidden_size=4)
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        model(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(batch, steps\)"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        TextClassifier(10, cell="rnn")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        TextClassifier(10, pooling="max")
    with pytest.raises(ValueError, match="pad_id"):
        TextClassifier(10, pad_id=10)
    with pytest.raises(ValueError, match="dropout"):
        TextClassifier(10, dropout=1.0)


def test_torch_text_classifier_learns_a_keyword_task():
    """Label 1 exactly when token 5 occurs: a few epochs learn it, the loss goes down."""
    import torch

    from companion.torch import training
    from companion.torch.text import TextClassifier

    rng = np.random.default_rng(0)
    ids = rng.integers(6, 20, size=(256, 8))
    y = rng.integers(0, 2, size=256)
    ids[y == 1, rng.integers(0, 6, size=(y == 1).sum())] = 5
    ids[:, 6:] = PAD
    torch.manual_seed(0)
    model = TextClassifier(20, embedding_size=8, hidden_size=8, cell="gru")
    history = training.train(model, (ids, y), epochs=15, lr=1e-2, batch_size=32, progress=False)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.95


# ---------------------------------------------------------------- Keras twin

@pytest.mark.keras_backend_agnostic
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_keras_text_classifier_matches_pytorch_after_a_weight_copy(cell, pooling):
    import torch

    from companion.keras.text import TextClassifier as KerasText
    from companion.torch.text import TextClassifier as TorchText

    torch.manual_seed(0)
    kwargs = dict(num_classes=3, embedding_size=5, hidden_size=6, cell=cell, pooling=pooling)
    t_model, k_model = TorchText(30, **kwargs), KerasText(30, **kwargs)
    parity.copy_torch_to_keras(t_model, k_model)
    out_t, out_k = parity.outputs(t_model, k_model, _ids())
    np.testing.assert_allclose(out_t, out_k, atol=1e-5)


@pytest.mark.keras_backend_agnostic
def test_keras_mean_pooling_matches_a_numpy_reference():
    import keras

    from companion.keras.text import TextClassifier

    model = TextClassifier(30, embedding_size=5, hidden_size=6, cell="gru")
    ids = _ids()
    states = keras.ops.convert_to_numpy(model.states(ids))
    mask = (ids != PAD).astype(np.float32)[..., None]
    pooled = (states * mask).sum(1) / mask.sum(1)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.head.weights)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(ids)), pooled @ kernel + bias,
                               atol=1e-5)


@pytest.mark.keras_backend_agnostic
def test_keras_text_classifier_rejects_bad_ids():
    from companion.keras.text import TextClassifier

    model = TextClassifier(10, embedding_size=3, hidden_size=4)
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        model(np.array([[1, 10]], dtype="int32"))
    with pytest.raises(ValueError, match="integer token ids"):
        model(np.zeros((2, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"\(batch, steps\)"):
        model(np.zeros((2, 3, 1), dtype="int32"))
    with pytest.raises(ValueError, match="unknown cell"):
        TextClassifier(10, cell="transformer")


# ---------------------------------------------------------------- masked LM at chosen positions

def test_masked_lm_logits_equal_the_full_logits_at_those_positions():
    import keras
    import torch

    from companion.keras import bert as kb
    from companion.keras.text import masked_lm_logits as keras_logits_at
    from companion.torch import bert as tb
    from companion.torch.text import masked_lm_logits as torch_logits_at

    config = dict(vocab_size=25, max_len=10, d_model=8, heads=2, layers=1, d_ff=16)
    torch.manual_seed(0)
    t_mlm, k_mlm = tb.BERTForMaskedLM(**config).eval(), kb.BERTForMaskedLM(**config)
    parity.copy_torch_to_keras(t_mlm, k_mlm)
    ids = np.random.default_rng(1).integers(4, 25, size=(3, 10))
    ids[:, 0], ids[2, 7:] = CLS, PAD
    ids[0, 4] = MASK
    positions = np.array([[4, 2], [1, 9], [3, 0]])
    with torch.no_grad():
        full = t_mlm(torch.from_numpy(ids)).numpy()
        picked = torch_logits_at(t_mlm, torch.from_numpy(ids), positions).numpy()
    expected = np.take_along_axis(full, positions[..., None], axis=1)
    np.testing.assert_allclose(picked, expected, atol=1e-5)
    k_picked = keras.ops.convert_to_numpy(keras_logits_at(k_mlm, ids.astype("int32"), positions,
                                                          training=False))
    np.testing.assert_allclose(k_picked, expected, atol=1e-4)
    with pytest.raises(ValueError, match="positions must be in"):
        torch_logits_at(t_mlm, torch.from_numpy(ids), positions + 10)
