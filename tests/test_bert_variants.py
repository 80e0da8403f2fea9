"""ALBERT, DistilBERT and RoBERTa: the companion's networks against Hugging Face ``transformers``
(weights copied, random configurations built offline), parameter counts of the published
models from configuration, knowledge distillation against NumPy, and bad input."""
import keras
import numpy as np
import pytest
import torch
from transformers import (AlbertConfig, AlbertModel, BertConfig, DistilBertConfig,
                          DistilBertModel, RobertaConfig, RobertaModel)

from companion import parity
from companion.keras import bert_variants as kv
from companion.keras.bert import count_parameters_abstractly
from companion.numpy import distillation as nd
from companion.torch import bert_variants as tv
from companion.torch.bert import BERT

SMALL = dict(vocab_size=50, max_len=16, d_model=32, heads=4, d_ff=64)


def _ids(seed=0, batch=3, steps=10, vocab=50, pad_tail=(0, 3, 5)):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, size=(batch, steps))
    mask = np.ones((batch, steps), dtype=bool)
    for row, n in enumerate(pad_tail[:batch]):
        if n:
            ids[row, -n:] = 1 if vocab else 0
            mask[row, -n:] = False
    return ids, mask


def _compare(ours, theirs, mask):
    diff = np.abs(ours - theirs)[mask]      # padded positions attend nowhere useful: skip them
    return float(diff.max())


def test_albert_equals_hugging_face():
    torch.manual_seed(0)
    config = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=32, num_attention_heads=4,
                          intermediate_size=64, num_hidden_layers=3, max_position_embeddings=16,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf = AlbertModel(config, add_pooling_layer=True).eval()
    ours = tv.ALBERT(embedding_size=8, layers=3, pad_id=None, **SMALL).eval()
    ours.load_state_dict(tv.state_dict_from_hf(ours, hf.state_dict(), "albert"))
    ids, mask = _ids()
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask).long())
        hidden = ours(torch.tensor(ids), mask=torch.tensor(mask))
        pooled = ours.pool(hidden)
    assert _compare(hidden.numpy(), ref.last_hidden_state.numpy(), mask) < 1e-5
    assert np.abs(pooled.numpy() - ref.pooler_output.numpy()).max() < 1e-5


def test_distilbert_equals_hugging_face():
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=50, dim=32, n_heads=4, hidden_dim=64, n_layers=2,
                              max_position_embeddings=16, dropout=0.0, attention_dropout=0.0)
    hf = DistilBertModel(config).eval()
    ours = tv.DistilBERT(layers=2, pad_id=None, **SMALL).eval()
    ours.load_state_dict(tv.state_dict_from_hf(ours, hf.state_dict(), "distilbert"))
    ids, mask = _ids(1)
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask).long())
        hidden = ours(torch.tensor(ids), mask=torch.tensor(mask))
    assert _compare(hidden.numpy(), ref.last_hidden_state.numpy(), mask) < 1e-5


def test_roberta_is_bert_with_another_recipe():
    """RobertaModel's network is BERT's: copy it into the companion's BERT (position rows
    shifted by padding_idx + 1) and the hidden states agree."""
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=50, hidden_size=32, num_attention_heads=4,
                           intermediate_size=64, num_hidden_layers=2, max_position_embeddings=18,
                           type_vocab_size=1, pad_token_id=1, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0)
    hf = RobertaModel(config).eval()
    ours = BERT(layers=2, type_vocab_size=1, pad_id=1, **SMALL).eval()
    ours.load_state_dict(tv.state_dict_from_hf(ours, hf.state_dict(), "roberta"))
    ids, mask = _ids(2)
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask).long())
        hidden = ours(torch.tensor(ids))         # pad_id=1: the padding mask comes from the ids
    assert _compare(hidden.numpy(), ref.last_hidden_state.numpy(), mask) < 1e-5
    with torch.no_grad():
        pooled = ours.pool(hidden).numpy()
    assert np.abs(pooled - ref.pooler_output.numpy()).max() < 1e-5


def test_a_wrong_mapping_is_caught():
    """The comparisons above can fail: without the position shift RoBERTa disagrees."""
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=50, hidden_size=32, num_attention_heads=4,
                           intermediate_size=64, num_hidden_layers=1, max_position_embeddings=18,
                           type_vocab_size=1, pad_token_id=1)
    hf = RobertaModel(config).eval()
    ours = BERT(layers=1, type_vocab_size=1, pad_id=1, **SMALL).eval()
    state = tv.state_dict_from_hf(ours, hf.state_dict(), "bert")   # no shift
    state["embeddings.position.weight"] = hf.state_dict()["embeddings.position_embeddings.weight"][:16]
    ours.load_state_dict(state)
    ids, mask = _ids(2)
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask).long())
        hidden = ours(torch.tensor(ids))
    assert _compare(hidden.numpy(), ref.last_hidden_state.numpy(), mask) > 1e-3
    with pytest.raises(ValueError, match="kind must be"):
        tv.state_dict_from_hf(ours, hf.state_dict(), "gpt2")


PUBLISHED = [  # (name, torch builder, keras builder, parameters)
    ("ALBERT-base", lambda: tv.ALBERT(30000), (kv.ALBERT, (30000,)), 11_683_584),
    ("DistilBERT", lambda: tv.DistilBERT(30522), (kv.DistilBERT, (30522,)), 66_362_880),
    ("RoBERTa-base", lambda: BERT(50265, max_len=514, type_vocab_size=1, pad_id=1),
     None, 124_645_632),
]


@pytest.mark.parametrize("name, build, keras_build, count", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_parameter_counts_from_configuration(name, build, keras_build, count):
    with torch.device("meta"):                  # shapes only, no memory
        model = build()
    assert sum(p.numel() for p in model.parameters()) == count
    if keras_build is not None:
        cls, args = keras_build
        assert count_parameters_abstractly(cls, *args) == count


def test_hugging_face_counts_the_same():
    with torch.device("meta"):
        albert = AlbertModel(AlbertConfig(hidden_size=768, num_attention_heads=12,
                                          intermediate_size=3072))
        distil = DistilBertModel(DistilBertConfig())
    assert sum(p.numel() for p in albert.parameters()) == 11_683_584
    assert sum(p.numel() for p in distil.parameters()) == 66_362_880


def test_albert_shares_one_layer_across_depth():
    t = tv.ALBERT(layers=6, embedding_size=8, **SMALL)
    deeper = tv.ALBERT(layers=12, embedding_size=8, **SMALL)
    count = lambda m: sum(p.numel() for p in m.parameters())   # noqa: E731
    assert count(t) == count(deeper)        # depth costs computation, not parameters
    ids, _ = _ids()
    _, weights = t.eval()(torch.tensor(ids), return_weights=True)
    assert len(weights) == 6


def test_distillation_loss_matches_numpy_in_both_frameworks():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 4)) * 2, rng.normal(size=(6, 4)) * 2
    y = rng.integers(0, 4, size=6)
    for temperature, alpha, labels in ((1.0, 0.5, y), (4.0, 0.9, y), (2.0, 1.0, None)):
        expected = nd.distillation_loss(s, t, labels, temperature, alpha)
        got_t = tv.distillation_loss(torch.tensor(s), torch.tensor(t), labels, temperature, alpha)
        got_k = kv.distillation_loss(s.astype("float32"), t.astype("float32"), labels,
                                     temperature, alpha)
        assert float(got_t) == pytest.approx(expected, rel=1e-6)
        assert float(keras.ops.convert_to_numpy(got_k)) == pytest.approx(expected, rel=1e-5)
    assert nd.distillation_loss(t, t, None, 3.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        tv.distillation_loss(torch.tensor(s), torch.tensor(t), y, temperature=0.0)
    with pytest.raises(ValueError, match="pass alpha=1.0"):
        kv.distillation_loss(s, t, None, alpha=0.5)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        nd.distillation_loss(s, t, y, alpha=1.5)


def test_soft_targets_get_softer_with_temperature():
    logits = np.array([[4.0, 1.0, 0.0]])
    entropies = [float(-(p * np.log(p)).sum()) for p in
                 (nd.softmax(logits, T)[0] for T in (1.0, 2.0, 5.0))]
    assert entropies[0] < entropies[1] < entropies[2] < np.log(3)


@pytest.mark.parametrize("name", ["ALBERT", "DistilBERT"])
def test_keras_twins_agree_with_a_padding_mask(name):
    torch.manual_seed(0)
    kwargs = dict(layers=2, **SMALL, **({"embedding_size": 8} if name == "ALBERT" else {}))
    t = getattr(tv, name)(**kwargs).eval()
    k = getattr(kv, name)(**kwargs)
    parity.copy_torch_to_keras(t, k)
    ids, mask = _ids(3, vocab=50)
    ids[mask == 0] = 0                           # pad_id=0: the default padding mask
    with torch.no_grad():
        out_t = t(torch.tensor(ids)).numpy()
    out_k = keras.ops.convert_to_numpy(k(ids, training=False))
    assert np.abs(out_t - out_k)[mask].max() < 1e-5


def test_bad_input():
    t = tv.DistilBERT(layers=1, **SMALL)
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 50\)"):
        t(torch.tensor([[3, 50]]))
    with pytest.raises(ValueError, match="max_len=16"):
        t(torch.zeros((1, 17), dtype=torch.long))
    with pytest.raises(ValueError, match="has no token types"):
        t.embeddings(torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 3), dtype=torch.long))
    k = kv.ALBERT(layers=1, embedding_size=8, **SMALL)
    with pytest.raises(ValueError, match="ALBERT expected input of shape \\(batch, steps\\)"):
        k(np.zeros((1, 20), dtype="int32"))
    with pytest.raises(ValueError, match="embedding_size must be a positive integer"):
        tv.ALBERT(embedding_size=0, **SMALL)
    with pytest.raises(ValueError, match="pad_id must be None or in"):
        kv.DistilBERT(pad_id=99, **SMALL)
