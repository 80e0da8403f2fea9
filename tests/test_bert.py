"""BERT (book/transformers/bert.md): the companion's model against Hugging Face, its twins,
its size, the masked-LM and next-sentence data, and its refusals of bad input."""
import numpy as np
import pytest

from companion import parity
from companion.numpy import bert as ref

V, T_MAX, D, HEADS, LAYERS, D_FF = 50, 20, 16, 2, 2, 32
SMALL = dict(vocab_size=V, max_len=T_MAX, d_model=D, heads=HEADS, layers=LAYERS, d_ff=D_FF)


# ---------------------------------------------------------------- Hugging Face reference

def _hf_config():
    from transformers import BertConfig

    return BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, intermediate_size=D_FF,
                      max_position_embeddings=T_MAX, type_vocab_size=2, layer_norm_eps=1e-12,
                      hidden_act="gelu", hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1)


def _copy_encoder(hf_bert, ours) -> None:
    """Hugging Face's ``BertModel`` parameters into ``companion.torch.bert.BERT``.

    Both register their parameters in the same order (word, position, type
    embeddings, LayerNorm; per layer query, key, value, attention output,
    LayerNorm, intermediate, output, LayerNorm; pooler), which the names confirm.
    """
    import torch

    theirs, mine = list(hf_bert.named_parameters()), list(ours.named_parameters())
    assert len(theirs) == len(mine), (len(theirs), len(mine))
    suffixes = {"query", "key", "value", "weight", "bias"}
    with torch.no_grad():
        for (name_t, p_t), (name_m, p_m) in zip(theirs, mine):
            assert p_t.shape == p_m.shape, (name_t, name_m)
            assert name_t.split(".")[-1] == name_m.split(".")[-1] in suffixes, (name_t, name_m)
            p_m.copy_(p_t)


def _inputs(seed=0, batch=3, steps=11):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, V, size=(batch, steps))          # no padding id: HF attends everywhere
    types = np.zeros_like(ids)
    types[:, steps // 2:] = 1
    return ids, types


@pytest.fixture(scope="module")
def hf_and_ours():
    import torch
    from transformers import BertModel

    from companion.torch.bert import BERT

    torch.manual_seed(0)
    hf = BertModel(_hf_config()).eval()
    with torch.no_grad():              # HF starts LayerNorms at (1, 0): perturb them too
        for name, p in hf.named_parameters():
            if "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    ours = BERT(**SMALL).eval()
    _copy_encoder(hf, ours)
    return hf, ours


@pytest.mark.parametrize("padded", [False, True])
def test_hidden_states_and_pooled_output_equal_hugging_face(hf_and_ours, padded):
    import torch

    hf, ours = hf_and_ours
    ids, types = _inputs()
    real = np.ones_like(ids, dtype=bool)
    if padded:
        real[1, 7:] = False
        real[2, 4:] = False
    with torch.no_grad():
        expected = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types),
                      attention_mask=torch.from_numpy(real.astype(np.int64)))
        hidden = ours(torch.from_numpy(ids), torch.from_numpy(types),
                      mask=torch.from_numpy(real) if padded else None)
        pooled = ours.pool(hidden)
    np.testing.assert_allclose(hidden.numpy(), expected.last_hidden_state.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(pooled.numpy(), expected.pooler_output.numpy(), atol=1e-5, rtol=0)
    # the test can fail: another mask gives other states at the real positions
    if padded:
        with torch.no_grad():
            unmasked = ours(torch.from_numpy(ids), torch.from_numpy(types)).numpy()
        assert np.abs(unmasked - hidden.numpy())[1, :7].max() > 1e-3


def test_padding_id_gives_the_padding_mask(hf_and_ours):
    """Without ``mask``, tokens equal to ``pad_id`` are not attended to (HF needs attention_mask)."""
    import torch

    hf, ours = hf_and_ours
    ids, types = _inputs(seed=1)
    ids[0, 8:] = 0
    with torch.no_grad():
        expected = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types),
                      attention_mask=torch.from_numpy((ids != 0).astype(np.int64)))
        hidden = ours(torch.from_numpy(ids), torch.from_numpy(types))
    np.testing.assert_allclose(hidden.numpy(), expected.last_hidden_state.numpy(), atol=1e-5, rtol=0)


def test_keras_twin_equals_hugging_face(hf_and_ours):
    import keras
    import torch

    from companion.keras.bert import BERT as KerasBERT

    hf, ours = hf_and_ours
    keras_bert = KerasBERT(**SMALL)
    parity.copy_torch_to_keras(ours, keras_bert)
    ids, types = _inputs(seed=2)
    real = np.ones_like(ids, dtype=bool)
    real[0, 5:] = False
    with torch.no_grad():
        expected = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types),
                      attention_mask=torch.from_numpy(real.astype(np.int64)))
    hidden = keras_bert(ids, token_type_ids=types, mask=real)
    pooled = keras.ops.convert_to_numpy(keras_bert.pool(hidden))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(hidden),
                               expected.last_hidden_state.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(pooled, expected.pooler_output.numpy(), atol=1e-5, rtol=0)


def test_masked_lm_head_equals_hugging_face():
    import keras
    import torch
    from transformers import BertForMaskedLM

    from companion.keras.bert import BERTForMaskedLM as KerasMLM
    from companion.torch.bert import BERTForMaskedLM

    torch.manual_seed(1)
    hf = BertForMaskedLM(_hf_config()).eval()
    with torch.no_grad():
        hf.cls.predictions.bias.add_(torch.randn(V))
        hf.cls.predictions.transform.LayerNorm.weight.add_(0.1 * torch.randn(D))
    ours = BERTForMaskedLM(**SMALL).eval()
    _copy_encoder(hf.bert, ours.bert)
    head = hf.cls.predictions
    with torch.no_grad():
        ours.transform.weight.copy_(head.transform.dense.weight)
        ours.transform.bias.copy_(head.transform.dense.bias)
        ours.norm.weight.copy_(head.transform.LayerNorm.weight)
        ours.norm.bias.copy_(head.transform.LayerNorm.bias)
        ours.decoder.bias.copy_(head.bias)
    assert head.decoder.weight.data_ptr() == hf.bert.embeddings.word_embeddings.weight.data_ptr()
    ids, types = _inputs(seed=3)
    with torch.no_grad():
        expected = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types)).logits
        logits = ours(torch.from_numpy(ids), torch.from_numpy(types))
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), atol=1e-5, rtol=0)
    keras_mlm = KerasMLM(**SMALL)
    parity.copy_torch_to_keras(ours, keras_mlm)
    keras_logits = keras.ops.convert_to_numpy(keras_mlm(ids, token_type_ids=types))
    np.testing.assert_allclose(keras_logits, expected.numpy(), atol=1e-5, rtol=0)


def test_classifier_equals_hugging_face_sequence_classification():
    import torch
    from transformers import BertForSequenceClassification

    from companion.torch.bert import BERTClassifier

    config = _hf_config()
    config.num_labels = 3
    torch.manual_seed(2)
    hf = BertForSequenceClassification(config).eval()
    ours = BERTClassifier(num_classes=3, **SMALL).eval()
    _copy_encoder(hf.bert, ours.bert)
    with torch.no_grad():
        ours.classifier.weight.copy_(hf.classifier.weight)
        ours.classifier.bias.copy_(hf.classifier.bias.add_(0.5))
    ids, types = _inputs(seed=4)
    with torch.no_grad():
        expected = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types)).logits
        logits = ours(torch.from_numpy(ids), torch.from_numpy(types))
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- the decoder is tied

def test_decoder_shares_the_word_embeddings_in_both_frameworks():
    import torch

    from companion.keras.bert import BERT as KerasBERT
    from companion.keras.bert import BERTForMaskedLM as KerasMLM
    from companion.torch.bert import BERT, BERTForMaskedLM

    mlm = BERTForMaskedLM(**SMALL)
    extra = sum(p.numel() for p in mlm.parameters()) - sum(
        p.numel() for p in BERT(**SMALL, pooler=False).parameters())
    assert extra == D * D + D + 2 * D + V          # transform, LayerNorm, bias: no (V, d) copy
    assert KerasMLM(**SMALL).count_params() - KerasBERT(**SMALL, pooler=False).count_params() == extra
    ids = torch.randint(1, V, (2, 6))
    mlm(ids).sum().backward()
    grad = mlm.bert.embeddings.word.weight.grad
    assert grad is not None and grad[0].abs().sum() > 0   # row 0 only reached through the decoder


# ---------------------------------------------------------------- NumPy reference and twins

def test_numpy_forward_equals_both_frameworks():
    import keras
    import torch

    from companion.keras.bert import BERT as KerasBERT
    from companion.torch.bert import BERT

    torch.manual_seed(3)
    t = BERT(**SMALL).eval()
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.05 * torch.randn_like(p))
    k = KerasBERT(**SMALL)
    parity.copy_torch_to_keras(t, k)
    ids, types = _inputs(seed=5, batch=2, steps=9)
    real = np.ones_like(ids, dtype=bool)
    real[1, 6:] = False
    params = {name: v.numpy() for name, v in t.state_dict().items()}
    expected, weights = ref.bert_forward(ids, params, HEADS, LAYERS, types, real, return_weights=True)
    with torch.no_grad():
        hidden, t_weights = t(torch.from_numpy(ids), torch.from_numpy(types),
                              mask=torch.from_numpy(real), return_weights=True)
    np.testing.assert_allclose(hidden.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(t_weights[1].numpy(), weights[1], atol=1e-5)
    assert np.all(weights[0][1, :, :, 6:] == 0)          # padding gets no attention
    k_hidden = keras.ops.convert_to_numpy(k(ids, token_type_ids=types, mask=real))
    np.testing.assert_allclose(k_hidden, expected, atol=1e-5)


def test_keras_and_pytorch_heads_agree_with_token_types_and_masks():
    import keras
    import torch

    from companion.keras import bert as kb
    from companion.torch import bert as tb

    ids, types = _inputs(seed=6)
    real = np.ones_like(ids, dtype=bool)
    real[2, 3:] = False
    for name, extra in (("BERTForMaskedLM", {}), ("BERTClassifier", {"num_classes": 4})):
        torch.manual_seed(4)
        t = getattr(tb, name)(**SMALL, **extra).eval()
        k = getattr(kb, name)(**SMALL, **extra)
        parity.copy_torch_to_keras(t, k)
        with torch.no_grad():
            out_t = t(torch.from_numpy(ids), torch.from_numpy(types), mask=torch.from_numpy(real))
            as_tuple = t((torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(real)))
        np.testing.assert_array_equal(out_t.numpy(), as_tuple.numpy())
        out_k = keras.ops.convert_to_numpy(k((ids, types, real)))     # fit's tuple form
        np.testing.assert_allclose(out_t.numpy(), out_k, atol=1e-5, rtol=0, err_msg=name)


def test_embeddings_without_token_types_for_distilbert():
    import keras
    import torch

    from companion.keras.bert import BertEmbeddings as KerasEmbeddings
    from companion.torch.bert import BertEmbeddings

    t = BertEmbeddings(V, T_MAX, D, type_vocab_size=0, dropout=0.0, owner="DistilBERT").eval()
    k = KerasEmbeddings(V, T_MAX, D, type_vocab_size=0, dropout=0.0, owner="DistilBERT")
    assert sum(p.numel() for p in t.parameters()) == k.count_params() == (V + T_MAX) * D + 2 * D
    parity.copy_torch_to_keras(t, k)
    ids, _ = _inputs(seed=7)
    with torch.no_grad():
        out_t = t(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(out_t, keras.ops.convert_to_numpy(k(ids)), atol=1e-6)
    with pytest.raises(ValueError, match="DistilBERT expected input of shape"):
        t(torch.zeros(1, T_MAX + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="no token types"):
        t(torch.from_numpy(ids), torch.zeros(3, 11, dtype=torch.long))


# ---------------------------------------------------------------- size without allocation

BASE = 109_482_240
BASE_NO_POOLER = 108_891_648
LARGE = 335_141_888
SIZES = [({}, BASE), ({"pooler": False}, BASE_NO_POOLER),
         ({"d_model": 1024, "heads": 16, "layers": 24, "d_ff": 4096}, LARGE)]


@pytest.mark.parametrize("size, expected", SIZES, ids=["base", "base-no-pooler", "large"])
def test_parameter_counts_on_the_meta_device(size, expected):
    import torch

    from companion.torch.bert import BERT

    with torch.device("meta"):
        model = BERT(30522, **size)
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == expected
    kwargs = {k: v for k, v in size.items() if k != "heads"}
    assert ref.parameter_count(30522, **kwargs) == expected


def test_parameter_counts_match_hugging_face_from_configuration():
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        base = BertModel(BertConfig())
        bare = BertModel(BertConfig(), add_pooling_layer=False)
    assert sum(p.numel() for p in base.parameters()) == BASE
    assert sum(p.numel() for p in bare.parameters()) == BASE_NO_POOLER


@pytest.mark.parametrize("size, expected", SIZES, ids=["base", "base-no-pooler", "large"])
def test_keras_parameter_counts_without_allocating(size, expected):
    import time

    from keras.src.backend.common import global_state

    from companion.keras.bert import BERT, count_parameters_abstractly

    pending = len(global_state.get_global_attribute("uninitialized_variables", []) or [])
    start = time.perf_counter()
    assert count_parameters_abstractly(BERT, 30522, **size) == expected
    # nothing was allocated, and nothing is left waiting to be allocated later
    assert time.perf_counter() - start < 30
    assert len(global_state.get_global_attribute("uninitialized_variables", []) or []) == pending


def test_twins_have_equal_counts():
    from companion.keras import bert as kb
    from companion.torch import bert as tb

    for name, extra in (("BERT", {}), ("BERTForMaskedLM", {}), ("BERTClassifier", {"num_classes": 3})):
        t = getattr(tb, name)(**SMALL, **extra)
        k = getattr(kb, name)(**SMALL, **extra)
        assert sum(p.numel() for p in t.parameters()) == k.count_params(), name


# ---------------------------------------------------------------- masked-LM data: 80/10/10

SPECIAL = (0, 1, 2)   # [PAD], [CLS], [SEP]; [MASK] = 3


def test_mask_tokens_has_the_80_10_10_proportions():
    ids = np.random.default_rng(0).integers(0, V, size=(1000, 1000))
    inputs, labels = ref.mask_tokens(ids, V, 3, special_ids=SPECIAL, seed=0, random_low=4)
    eligible = ~np.isin(ids, SPECIAL + (3,))
    chosen = labels != ref.IGNORE
    assert not chosen[~eligible].any()
    assert abs(chosen.sum() / eligible.sum() - 0.15) < 0.002
    assert (labels[chosen] == ids[chosen]).all() and (inputs[~chosen] == ids[~chosen]).all()
    masked = inputs[chosen] == 3
    kept = inputs[chosen] == ids[chosen]
    other = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.005
    # a random replacement draws the original token 1 time in 46 (ids 4..49)
    assert abs(other.mean() - 0.1 * 45 / 46) < 0.005
    assert abs(kept.mean() - (0.1 + 0.1 / 46)) < 0.005
    assert (inputs[chosen][other] >= 4).all()             # never a special token


def test_mask_tokens_is_reproducible_and_dynamic_with_a_generator():
    ids = np.random.default_rng(1).integers(4, V, size=(64, 32))
    a = ref.mask_tokens(ids, V, 3, seed=5)
    b = ref.mask_tokens(ids, V, 3, seed=5)
    assert all((x == y).all() for x, y in zip(a, b))
    rng = np.random.default_rng(5)
    first, second = ref.mask_tokens(ids, V, 3, seed=rng), ref.mask_tokens(ids, V, 3, seed=rng)
    assert (first[1] != second[1]).any()               # RoBERTa's dynamic masking: new masks


def test_mask_tokens_rejects_bad_input():
    with pytest.raises(ValueError, match="integer token ids"):
        ref.mask_tokens(np.zeros((2, 3)), V, 3)
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 50\)"):
        ref.mask_tokens(np.full((2, 3), V), V, 3)
    with pytest.raises(ValueError, match="mask_prob"):
        ref.mask_tokens(np.ones((2, 3), dtype=int), V, 3, mask_prob=0.0)


def test_masked_accuracy_scores_only_labelled_positions():
    logits = np.zeros((1, 3, 4))
    logits[0, 0, 2] = logits[0, 1, 1] = logits[0, 2, 3] = 1
    assert ref.masked_accuracy(logits, np.array([[2, ref.IGNORE, 0]])) == 0.5
    with pytest.raises(ValueError, match="no position"):
        ref.masked_accuracy(logits, np.full((1, 3), ref.IGNORE))


# ---------------------------------------------------------------- next-sentence pairs

def test_nsp_pairs_are_half_true_continuations_with_segment_types():
    segments = [np.arange(10 * i, 10 * i + 6) + 4 for i in range(40)]   # segment i holds 10i+4..
    ids, types, is_next = ref.nsp_pairs(segments, 2000, cls_id=1, sep_id=2, max_len=16, seed=0)
    assert ids.shape == types.shape == (2000, 16) and abs(is_next.mean() - 0.5) < 0.03
    for row, t, label in zip(ids[:200], types[:200], is_next[:200]):
        assert row[0] == 1 and row[7] == 2 and row[14] == 2 and row[15] == 0
        assert (t[:8] == 0).all() and (t[8:15] == 1).all() and t[15] == 0
        a, b = (row[1] - 4) // 10, (row[8] - 4) // 10
        assert (b == a + 1) == bool(label)


def test_pack_pair_truncates_the_longer_segment():
    ids, types = ref.pack_pair(np.arange(10, 20), np.arange(30, 33), 1, 2, max_len=10)
    assert ids.tolist() == [1, 10, 11, 12, 13, 2, 30, 31, 32, 2]
    assert types.tolist() == [0] * 6 + [1] * 4


def test_code_and_prose_lines_finds_both_kinds():
    from companion import data

    lines, labels = ref.code_and_prose_lines(data.char_corpus().text)
    assert len(lines) == len(labels) and 300 < labels.sum() < len(labels) / 2
    code = [line for line, y in zip(lines, labels) if y == 1]
    assert sum(line.startswith(">>>") for line in code) > 50
    assert all(not line.startswith(" ") for line in lines)


# ---------------------------------------------------------------- bad input

def _bad_inputs():
    ok = np.ones((2, 5), dtype=np.int64)
    return [
        ("ids above the vocabulary", dict(ids=np.full((2, 5), V)), r"token ids must be in \[0, 50\)"),
        ("negative ids", dict(ids=-ok), r"token ids must be in \[0, 50\)"),
        ("too long", dict(ids=np.ones((2, T_MAX + 1), dtype=np.int64)),
         r"expected input of shape \(batch, steps\) with 1 <= steps <= max_len=20"),
        ("three dimensions", dict(ids=np.ones((2, 5, 1), dtype=np.int64)),
         r"expected input of shape \(batch, steps\)"),
        ("float ids", dict(ids=ok.astype(np.float32)), "integer token ids"),
        ("integer mask", dict(ids=ok, mask=np.ones((2, 5), dtype=np.int64)), "boolean mask"),
        ("mask of the wrong shape", dict(ids=ok, mask=np.ones((2, 4), dtype=bool)),
         r"shape \(batch, steps\) or \(batch, steps, steps\)"),
        ("token type out of range", dict(ids=ok, token_type_ids=2 * ok), r"token types must be in \[0, 2\)"),
        ("token types of another shape", dict(ids=ok, token_type_ids=np.zeros((2, 4), dtype=np.int64)),
         "token_type_ids must be integers of the ids' shape"),
    ]


@pytest.mark.parametrize("case, inputs, message", _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_bert_rejects_bad_input_in_both_frameworks(case, inputs, message):
    import torch

    from companion.keras.bert import BERT as KerasBERT
    from companion.torch.bert import BERT

    t = BERT(**SMALL)
    with pytest.raises(ValueError, match=message):
        t(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    k = KerasBERT(**SMALL)
    with pytest.raises(ValueError, match=message):
        k(**inputs)


def test_bad_configurations_and_missing_pooler():
    import torch

    from companion.keras.bert import BERT as KerasBERT
    from companion.torch.bert import BERT

    for cls in (BERT, KerasBERT):
        with pytest.raises(ValueError, match="divisible"):
            cls(V, d_model=10, heads=4)
        with pytest.raises(ValueError, match="pad_id"):
            cls(V, pad_id=V)
        with pytest.raises(ValueError, match="dropout"):
            cls(V, dropout=1.0)
    model = BERT(**SMALL, pooler=False)
    with pytest.raises(ValueError, match="pooler=False"):
        model.pool(model(torch.ones(1, 3, dtype=torch.long)))


# ---------------------------------------------------------------- it learns

def test_masked_lm_loss_goes_down_in_both_frameworks():
    import keras
    import torch
    import torch.nn.functional as F

    from companion.keras.bert import BERTForMaskedLM as KerasMLM
    from companion.torch.bert import BERTForMaskedLM

    rng = np.random.default_rng(0)
    ids = np.concatenate([np.ones((32, 1), dtype=np.int64),
                          np.tile(np.arange(4, 14), (32, 1))], axis=1)   # one repeated sequence
    inputs, labels = ref.mask_tokens(ids, V, 3, special_ids=SPECIAL, seed=rng, mask_prob=0.3)
    torch.manual_seed(0)
    model = BERTForMaskedLM(**SMALL, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(torch.from_numpy(inputs)).reshape(-1, V),
                               torch.from_numpy(labels).reshape(-1), ignore_index=ref.IGNORE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    k = KerasMLM(**SMALL, dropout=0.0)
    k.compile(optimizer=keras.optimizers.Adam(3e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = k.fit(inputs, np.maximum(labels, 0), sample_weight=(labels >= 0).astype("float32"),
                    batch_size=32, epochs=40, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
