"""The Transformer's building blocks and model against torch.nn, NumPy and the Keras twin.

* ``MultiHeadAttention``, ``EncoderLayer``, ``DecoderLayer`` equal
  ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and
  ``nn.TransformerDecoderLayer`` with copied weights (post-LN and pre-LN,
  causal and padding masks), and a NumPy reference of attention;
* mask polarity: each test fails when the polarity is flipped;
* the KV cache gives the outputs of the full computation;
* Keras twins agree with PyTorch after ``copy_torch_to_keras``;
* bad input raises ``ValueError``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from companion.parity import copy_torch_to_keras
from companion.torch import transformers as T

D, H, F = 16, 4, 32


def _keras():
    from companion.keras import transformers as K
    return K


def _np(tensor):
    """A Keras output as NumPy on any backend (a torch-backend tensor may require grad)."""
    import keras
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def no_fastpath():
    """``nn.TransformerEncoderLayer`` in eval mode takes a fused "fast path" that
    returns zeros at padded positions; the reference comparison uses the slow path."""
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(old)


# ---------------------------------------------------------------- weight copies from torch.nn

def copy_mha(ref: nn.MultiheadAttention, ours: T.MultiHeadAttention) -> None:
    """PyTorch packs the query, key and value projections into one ``in_proj_weight`` (3d, d)."""
    d = ref.embed_dim
    with torch.no_grad():
        for i, lin in enumerate((ours.query, ours.key, ours.value)):
            lin.weight.copy_(ref.in_proj_weight[i * d:(i + 1) * d])
            lin.bias.copy_(ref.in_proj_bias[i * d:(i + 1) * d])
        ours.output.weight.copy_(ref.out_proj.weight)
        ours.output.bias.copy_(ref.out_proj.bias)


def _copy_linear(src: nn.Linear, dst: nn.Linear) -> None:
    with torch.no_grad():
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)


def copy_encoder_layer(ref: nn.TransformerEncoderLayer, ours: T.EncoderLayer) -> None:
    copy_mha(ref.self_attn, ours.attention)
    _copy_linear(ref.linear1, ours.ffn.inner)
    _copy_linear(ref.linear2, ours.ffn.outer)
    ours.norm1.load_state_dict(ref.norm1.state_dict())
    ours.norm2.load_state_dict(ref.norm2.state_dict())


def copy_decoder_layer(ref: nn.TransformerDecoderLayer, ours: T.DecoderLayer) -> None:
    copy_mha(ref.self_attn, ours.self_attention)
    copy_mha(ref.multihead_attn, ours.cross_attention)
    _copy_linear(ref.linear1, ours.ffn.inner)
    _copy_linear(ref.linear2, ours.ffn.outer)
    for i in (1, 2, 3):
        getattr(ours, f"norm{i}").load_state_dict(getattr(ref, f"norm{i}").state_dict())


def _randomise_norms(module: nn.Module) -> None:
    """LayerNorms start at gamma = 1, beta = 0; random values make a mis-copy visible."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)


IDS = np.array([[5, 3, 7, 2, 0, 0], [1, 4, 4, 9, 8, 6], [2, 0, 0, 0, 0, 0]])


# ---------------------------------------------------------------- attention

def numpy_attention(x, ctx, mha: T.MultiHeadAttention, allowed):
    """Multi-head attention written in NumPy from the formula softmax(QK^T / sqrt(d_k)) V."""
    w = {n: (getattr(mha, n).weight.detach().numpy(), getattr(mha, n).bias.detach().numpy())
         for n in ("query", "key", "value", "output")}
    b, tq, d = x.shape
    h, dk = mha.heads, mha.d_head

    def proj(name, a):
        W, bias = w[name]
        return (a @ W.T + bias).reshape(b, -1, h, dk).transpose(0, 2, 1, 3)

    q, k, v = proj("query", x), proj("key", ctx), proj("value", ctx)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dk)
    s = np.where(allowed, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(b, tq, d)
    W, bias = w["output"]
    return o @ W.T + bias


def test_attention_matches_numpy_with_causal_and_padding_masks():
    mha = T.MultiHeadAttention(D, H).eval()
    x = _x((3, 6, D))
    causal = T.causal_mask(6)
    pad = T.padding_mask(torch.from_numpy(IDS))
    for mask, allowed in ((causal, causal.numpy()[None, None]),
                          (pad, pad.numpy()[:, None, None, :])):
        ours = mha(torch.from_numpy(x), mask=mask).detach().numpy()
        ref = numpy_attention(x, x, mha, allowed)
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_attention_matches_torch_multihead_attention():
    ref = nn.MultiheadAttention(D, H, batch_first=True).eval()
    ours = T.MultiHeadAttention(D, H).eval()
    copy_mha(ref, ours)
    x, ctx = torch.from_numpy(_x((3, 5, D))), torch.from_numpy(_x((3, 6, D), 1))
    pad = T.padding_mask(torch.from_numpy(IDS))
    with torch.no_grad():
        # PyTorch's boolean masks mean "ignore": ours are negated for it
        expected, w_ref = ref(x, ctx, ctx, key_padding_mask=~pad, average_attn_weights=False)
        got, w = ours(x, context=ctx, mask=pad, return_weights=True)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(w.numpy(), w_ref.numpy(), atol=1e-6)


def test_mask_polarity_true_means_attend():
    """Weights are exactly zero where the mask is False; flipping the polarity fails this."""
    mha = T.MultiHeadAttention(D, H).eval()
    x = torch.from_numpy(_x((3, 6, D)))
    _, w = mha(x, mask=T.causal_mask(6), return_weights=True)
    causal = T.causal_mask(6).expand_as(w)
    assert torch.all(w[~causal] == 0) and torch.all(w[causal] > 0)
    pad = T.padding_mask(torch.from_numpy(IDS))
    _, w = mha(x, mask=pad, return_weights=True)
    assert torch.all(w[~pad[:, None, None, :].expand_as(w)] == 0)
    # the future cannot change the past under the causal mask
    x2 = x.clone()
    x2[:, 4:] += 5.0
    a, b = mha(x, mask=T.causal_mask(6)), mha(x2, mask=T.causal_mask(6))
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_fully_masked_rows_are_finite_in_both_frameworks():
    K = _keras()
    mha = T.MultiHeadAttention(D, H).eval()
    x = _x((2, 4, D))
    none = np.zeros((4, 4), dtype=bool)
    assert torch.isfinite(mha(torch.from_numpy(x), mask=torch.from_numpy(none))).all()
    kmha = K.MultiHeadAttention(D, H)
    out = _np(kmha(x, mask=none))
    assert np.isfinite(out).all()


@pytest.mark.parametrize("bad", [
    np.ones((6, 6)),                       # not boolean
    np.ones((2, 6), dtype=bool),           # batch 2, not 3
    np.ones((3, 5, 6), dtype=bool),        # Tq 5, not 6
    np.ones((3, 2, 6, 6), dtype=bool),     # 2 heads, not 4
    np.ones((6,), dtype=bool),             # 1-D
])
def test_bad_masks_raise_in_both_frameworks(bad):
    K = _keras()
    x = _x((3, 6, D))
    with pytest.raises(ValueError, match="may attend"):
        T.MultiHeadAttention(D, H)(torch.from_numpy(x), mask=torch.from_numpy(bad))
    with pytest.raises(ValueError, match="may attend"):
        K.MultiHeadAttention(D, H)(x, mask=bad)


def test_ambiguous_two_dimensional_mask_is_refused():
    x = torch.from_numpy(_x((6, 6, D)))
    with pytest.raises(ValueError, match="ambiguous"):
        T.MultiHeadAttention(D, H)(x, mask=T.causal_mask(6))
    T.MultiHeadAttention(D, H)(x, mask=T.causal_mask(6)[None])   # explicit (1, Tq, Tk): fine


def test_heads_must_divide_d_model_in_both_frameworks():
    K = _keras()
    for module in (T, K):
        with pytest.raises(ValueError, match="divisible"):
            module.MultiHeadAttention(10, 4)
        with pytest.raises(ValueError, match="divisible"):
            module.EncoderLayer(10, 3, 20)


def test_kv_cache_reproduces_full_self_attention_in_both_frameworks():
    K = _keras()
    mha = T.MultiHeadAttention(D, H).eval()
    kmha = K.MultiHeadAttention(D, H)
    x = _x((2, 5, D))
    kmha(x)
    copy_torch_to_keras(mha, kmha)
    full = mha(torch.from_numpy(x), mask=T.causal_mask(5)).detach().numpy()
    for module, layer in ((torch, mha), (None, kmha)):
        cache = {}
        # two tokens, then one at a time: the mask covers past + new keys
        first = layer(x[:, :2] if module is None else torch.from_numpy(x[:, :2]),
                      mask=np.tril(np.ones((1, 2, 2), bool)) if module is None else T.causal_mask(2)[None],
                      cache=cache)
        rest = [layer(x[:, i:i + 1] if module is None else torch.from_numpy(x[:, i:i + 1]),
                      cache=cache) for i in range(2, 5)]
        got = np.concatenate([(t.detach().numpy() if module else _np(t)) for t in [first] + rest], 1)
        np.testing.assert_allclose(got, full, atol=1e-5)
        assert tuple(cache["k"].shape) == (2, H, 5, D // H)


def test_feedforward_activations():
    ff = T.FeedForward(D, F, activation="gelu").eval()
    ff_tanh = T.FeedForward(D, F, activation="gelu_tanh").eval()
    ff_tanh.load_state_dict(ff.state_dict())
    x = torch.from_numpy(_x((2, 3, D)) * 3)
    expected = ff.outer(torch.nn.functional.gelu(ff.inner(x)))
    torch.testing.assert_close(ff(x), expected)
    assert 1e-5 < (ff(x) - ff_tanh(x)).abs().max() < 1e-2   # tanh approximation is close, not equal
    with pytest.raises(ValueError, match="activation"):
        T.FeedForward(D, F, activation="swish")


def test_sinusoidal_positions():
    table = T.sinusoidal_positions(50, 8).numpy()
    pos, i = 7, 2   # column 2i = 4 is sin, 2i + 1 = 5 is cos, both at frequency 10000^(-2i/d)
    assert table.dtype == np.float32 and table.shape == (50, 8)
    np.testing.assert_allclose(table[pos, 4], np.sin(pos / 10000 ** (4 / 8)), atol=1e-6)
    np.testing.assert_allclose(table[pos, 5], np.cos(pos / 10000 ** (4 / 8)), atol=1e-6)
    np.testing.assert_allclose(_np(_keras().sinusoidal_positions(50, 8)), table)


# ---------------------------------------------------------------- layers against torch.nn

@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_layer_matches_torch(norm_first, no_fastpath):
    ref = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, batch_first=True,
                                     norm_first=norm_first).eval()
    _randomise_norms(ref)
    ours = T.EncoderLayer(D, H, F, norm_first=norm_first).eval()
    copy_encoder_layer(ref, ours)
    x = torch.from_numpy(_x((3, 6, D)))
    pad = T.padding_mask(torch.from_numpy(IDS))
    with torch.no_grad():
        np.testing.assert_allclose(ours(x, mask=pad).numpy(),
                                   ref(x, src_key_padding_mask=~pad).numpy(), atol=1e-5)
        np.testing.assert_allclose(ours(x, mask=T.causal_mask(6)).numpy(),
                                   ref(x, src_mask=~T.causal_mask(6)).numpy(), atol=1e-5)
        # polarity: passing our mask unchanged (True = ignore for PyTorch) must disagree
        assert not np.allclose(ours(x, mask=pad).numpy(),
                               ref(x, src_key_padding_mask=pad.clone()).numpy(), atol=1e-3)


def test_encoder_fast_path_zeros_padded_positions():
    """The trap the slow path avoids: in eval mode the fused path returns zeros at padding."""
    ref = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, F, batch_first=True),
                                num_layers=1, enable_nested_tensor=True).eval()
    x = torch.from_numpy(_x((3, 6, D)))
    pad = T.padding_mask(torch.from_numpy(IDS))
    with torch.no_grad():
        out = ref(x, src_key_padding_mask=~pad)
    assert torch.all(out[~pad] == 0)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_matches_torch(norm_first):
    ref = nn.TransformerDecoderLayer(D, H, F, dropout=0.0, batch_first=True,
                                     norm_first=norm_first).eval()
    _randomise_norms(ref)
    ours = T.DecoderLayer(D, H, F, norm_first=norm_first).eval()
    copy_decoder_layer(ref, ours)
    y, memory = torch.from_numpy(_x((3, 5, D))), torch.from_numpy(_x((3, 6, D), 1))
    pad = T.padding_mask(torch.from_numpy(IDS))
    causal = T.causal_mask(5)
    with torch.no_grad():
        got = ours(y, memory, self_mask=causal, memory_mask=pad).numpy()
        expected = ref(y, memory, tgt_mask=~causal, memory_key_padding_mask=~pad).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)
        flipped = ref(y, memory, tgt_mask=causal, memory_key_padding_mask=~pad).numpy()
        assert not np.allclose(got, flipped, atol=1e-3)


def test_decoder_layer_cache_matches_full_pass():
    layer = T.DecoderLayer(D, H, F).eval()
    y, memory = torch.from_numpy(_x((2, 5, D))), torch.from_numpy(_x((2, 6, D), 1))
    with torch.no_grad():
        full = layer(y, memory, self_mask=T.causal_mask(5))
        cache = {}
        steps = [layer(y[:, i:i + 1], memory, cache=cache) for i in range(5)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert cache["self"]["k"].shape[2] == 5 and cache["cross"]["k"].shape[2] == 6


# ---------------------------------------------------------------- Keras twins

@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_keras_layers_match_pytorch(norm_first, activation):
    K = _keras()
    x, memory = _x((3, 5, D)), _x((3, 6, D), 1)
    pad = IDS != 0
    t_enc = T.EncoderLayer(D, H, F, activation=activation, norm_first=norm_first).eval()
    _randomise_norms(t_enc)
    k_enc = K.EncoderLayer(D, H, F, activation=activation, norm_first=norm_first)
    k_enc(x)
    copy_torch_to_keras(t_enc, k_enc)
    with torch.no_grad():
        expected = t_enc(torch.from_numpy(x), mask=T.causal_mask(5)).numpy()
    np.testing.assert_allclose(_np(k_enc(x, mask=np.tril(np.ones((5, 5), bool)))),
                               expected, atol=1e-5)

    t_dec = T.DecoderLayer(D, H, F, activation=activation, norm_first=norm_first).eval()
    _randomise_norms(t_dec)
    k_dec = K.DecoderLayer(D, H, F, activation=activation, norm_first=norm_first)
    k_dec(x, memory)
    copy_torch_to_keras(t_dec, k_dec)
    with torch.no_grad():
        expected = t_dec(torch.from_numpy(x), torch.from_numpy(memory),
                         self_mask=T.causal_mask(5), memory_mask=torch.from_numpy(pad)).numpy()
    got = k_dec(x, memory, self_mask=np.tril(np.ones((5, 5), bool)), memory_mask=pad)
    np.testing.assert_allclose(_np(got), expected, atol=1e-5)


# ---------------------------------------------------------------- the whole Transformer

SMALL = dict(src_vocab=13, tgt_vocab=11, d_model=16, heads=4, layers=2, d_ff=32, dropout=0.0,
             max_len=10)
SRC = np.array([[3, 4, 5, 6, 2, 0, 0], [7, 8, 9, 10, 11, 12, 2]])
TGT = np.array([[1, 5, 6, 7, 2], [1, 3, 3, 2, 0]])


def _copy_into_reference(ours: T.MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    """The other direction: our q, k, v projections packed into ``in_proj_weight``."""
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        ref.out_proj.weight.copy_(ours.output.weight)
        ref.out_proj.bias.copy_(ours.output.bias)


def _reference_transformer(model: T.Transformer) -> nn.Transformer:
    """``nn.Transformer`` holding the same weights as ``model`` (embeddings stay outside it)."""
    ref = nn.Transformer(model.d_model, model.encoder[0].attention.heads, len(model.encoder),
                         len(model.decoder), model.encoder[0].ffn.inner.out_features,
                         dropout=0.0, batch_first=True, norm_first=model.norm_first).eval()
    for ours, theirs in zip(model.encoder, ref.encoder.layers):
        _copy_into_reference(ours.attention, theirs.self_attn)
        _copy_linear(ours.ffn.inner, theirs.linear1)
        _copy_linear(ours.ffn.outer, theirs.linear2)
        theirs.norm1.load_state_dict(ours.norm1.state_dict())
        theirs.norm2.load_state_dict(ours.norm2.state_dict())
    for ours, theirs in zip(model.decoder, ref.decoder.layers):
        _copy_into_reference(ours.self_attention, theirs.self_attn)
        _copy_into_reference(ours.cross_attention, theirs.multihead_attn)
        _copy_linear(ours.ffn.inner, theirs.linear1)
        _copy_linear(ours.ffn.outer, theirs.linear2)
        for i in (1, 2, 3):
            getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"norm{i}").state_dict())
    if model.norm_first:
        ref.encoder.norm.load_state_dict(model.encoder_norm.state_dict())
        ref.decoder.norm.load_state_dict(model.decoder_norm.state_dict())
    else:
        # nn.Transformer puts a final LayerNorm after both stacks even in post-LN;
        # the paper (and this model) ends each stack with its last layer's norm2/norm3
        ref.encoder.norm, ref.decoder.norm = None, None
    return ref


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_transformer_matches_nn_transformer(norm_first, no_fastpath):
    torch.manual_seed(0)
    model = T.Transformer(**SMALL, norm_first=norm_first).eval()
    _randomise_norms(model)
    ref = _reference_transformer(model)
    src, tgt = torch.from_numpy(SRC), torch.from_numpy(TGT)
    pad = src != model.pad_id
    with torch.no_grad():
        hidden = ref(model._embed(model.src_embedding, src), model._embed(model.tgt_embedding, tgt),
                     tgt_mask=~T.causal_mask(tgt.shape[1]), src_key_padding_mask=~pad,
                     memory_key_padding_mask=~pad)
        expected = hidden @ model.tgt_embedding.weight.T       # tied output layer
        np.testing.assert_allclose(model(src, tgt).numpy(), expected.numpy(), atol=1e-5)
        # the mask polarity of nn.Transformer, flipped, does not reproduce it
        flipped = ref(model._embed(model.src_embedding, src), model._embed(model.tgt_embedding, tgt),
                      tgt_mask=~T.causal_mask(tgt.shape[1]), src_key_padding_mask=~pad,
                      memory_key_padding_mask=pad) @ model.tgt_embedding.weight.T
    assert not np.allclose(flipped.numpy(), expected.numpy(), atol=1e-3)


def test_teacher_forcing_is_causal_and_padding_is_ignored():
    torch.manual_seed(0)
    model = T.Transformer(**SMALL).eval()
    src, tgt = torch.from_numpy(SRC), torch.from_numpy(TGT)
    with torch.no_grad():
        out = model(src, tgt)
        later = tgt.clone()
        later[:, 3:] = 4                         # change the future targets
        torch.testing.assert_close(model(src, later)[:, :3], out[:, :3])
        longer = torch.cat([src, torch.zeros(2, 2, dtype=src.dtype)], dim=1)   # more padding
        torch.testing.assert_close(model(longer, tgt), out, atol=1e-5, rtol=1e-5)
        changed = src.clone()
        changed[0, 0] = 9                        # a real source token matters
        assert not torch.allclose(model(changed, tgt)[0], out[0])


def test_one_input_call_decodes_the_shifted_source():
    torch.manual_seed(0)
    kwargs = dict(SMALL, tgt_vocab=13)
    model = T.Transformer(**kwargs).eval()
    src = torch.from_numpy(SRC)
    with torch.no_grad():
        torch.testing.assert_close(model(src), model(src, model.shift_right(src)))
    assert model.shift_right(src)[0].tolist() == [1, 3, 4, 5, 6, 2, 0]


@pytest.mark.parametrize("kwargs", [dict(), dict(norm_first=True, tie_output=False),
                                    dict(share_embeddings=True, tgt_vocab=13)],
                         ids=["paper", "pre-LN-untied", "shared"])
def test_keras_transformer_matches_pytorch(kwargs):
    K = _keras()
    config = dict(SMALL, **kwargs)
    torch.manual_seed(0)
    t = T.Transformer(**config).eval()
    _randomise_norms(t)
    k = K.Transformer(**config)
    copy_torch_to_keras(t, k)
    with torch.no_grad():
        expected = t(torch.from_numpy(SRC), torch.from_numpy(TGT)).numpy()
    np.testing.assert_allclose(_np(k(SRC, TGT, training=False)), expected, atol=1e-5)
    assert sum(p.numel() for p in t.parameters()) == k.count_params()
    assert t.greedy_decode(torch.from_numpy(SRC), 6) == k.greedy_decode(SRC, 6)
    assert t.beam_search(torch.from_numpy(SRC), 3, 0.6, 6) == k.beam_search(SRC, 3, 0.6, 6)


def test_cached_decoding_equals_full_decoding():
    torch.manual_seed(0)
    model = T.Transformer(**SMALL).eval()
    src, tgt = torch.from_numpy(SRC), torch.from_numpy(TGT)
    with torch.no_grad():
        memory, mask = model.encode(src), model.source_mask(src)
        full = model.decode(tgt, memory, mask)
        cache = []
        steps = [model.decode(tgt[:, :2], memory, mask, cache=cache)]
        steps += [model.decode(tgt[:, i:i + 1], memory, mask, cache=cache) for i in range(2, 5)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_greedy_and_beam_search_match_the_numpy_reference():
    from companion.numpy import decoding

    torch.manual_seed(3)
    model = T.Transformer(**SMALL).eval()
    src = torch.from_numpy(SRC)
    beams = model.beam_search(src, width=3, alpha=0.6, max_new_tokens=6, return_scores=True)
    greedy = model.greedy_decode(src, 6)
    for i in range(len(SRC)):
        def log_probs(prefix, i=i):
            with torch.no_grad():
                ids = torch.tensor([[model.bos_id, *prefix]])
                return model(src[i:i + 1], ids)[0, -1].log_softmax(-1).double().numpy()

        ref = decoding.beam_search(log_probs, (), 6, 3, eos=model.eos_id, alpha=0.6)
        assert [r[0] for r in beams[i]] == [r[0] for r in ref]
        np.testing.assert_allclose([r[1] for r in beams[i]], [r[1] for r in ref], atol=1e-5)
        assert greedy[i] == T.strip_special(decoding.greedy(log_probs, (), 6, eos=model.eos_id),
                                            model.eos_id)


def test_length_normalisation_changes_the_ranking():
    """alpha = 0 ranks by total log-probability (short wins); alpha = 1 by the mean per token."""
    torch.manual_seed(3)
    model = T.Transformer(**SMALL, tie_output=False).eval()
    with torch.no_grad():
        model.generator.bias[model.eos_id] += 2.5     # make ending plausible at every step
    ranked = model.beam_search(torch.from_numpy(SRC[:1]), 4, 0.0, 6, return_scores=True)[0]
    lengths = {len(t) for t, _, _ in ranked}
    assert len(lengths) > 1
    by_total = max(ranked, key=lambda r: r[2])
    assert ranked[0][0] == by_total[0]
    for tokens, normalised, logp in model.beam_search(torch.from_numpy(SRC[:1]), 4, 1.0, 6,
                                                      return_scores=True)[0]:
        assert np.isclose(normalised, logp / len(tokens))


def _bad_calls(module, framework):
    model = module.Transformer(**SMALL)
    if framework == "torch":
        def as_input(a):
            return torch.from_numpy(np.asarray(a))
    else:
        def as_input(a):
            return np.asarray(a)
    return model, as_input


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_transformer_rejects_bad_input(framework):
    module = T if framework == "torch" else _keras()
    model, as_input = _bad_calls(module, framework)
    with pytest.raises(ValueError, match=r"must lie in \[0, 13\)"):
        model(as_input(np.array([[3, 13, 2]])), as_input(TGT[:1]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 11\)"):
        model(as_input(SRC), as_input(np.array([[1, 11, 2], [1, 2, 0]])))
    with pytest.raises(ValueError, match=r"max_len=10"):
        model(as_input(np.ones((1, 11), dtype=np.int64)), as_input(TGT[:1]))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps\)"):
        model(as_input(SRC[None]), as_input(TGT))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps\)"):
        model(as_input(SRC.astype(np.float32)), as_input(TGT))
    with pytest.raises(ValueError, match=r"negative|must lie in"):
        model(as_input(-SRC), as_input(TGT))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_transformer_rejects_bad_configuration(framework):
    module = T if framework == "torch" else _keras()
    with pytest.raises(ValueError, match="divisible"):
        module.Transformer(**dict(SMALL, d_model=18))
    with pytest.raises(ValueError, match="share_embeddings"):
        module.Transformer(**dict(SMALL, share_embeddings=True))
    with pytest.raises(ValueError, match="bos_id"):
        module.Transformer(**dict(SMALL, bos_id=20))


def test_base_parameter_count_against_the_paper():
    """The base model (d = 512, 6 + 6 layers) from its configuration, on the meta device."""
    with torch.device("meta"):
        reference = nn.Transformer()
        ours = T.Transformer(37000, 37000, share_embeddings=True, max_len=64)
        ours_pre = T.Transformer(37000, 37000, share_embeddings=True, max_len=64, norm_first=True)
        untied = T.Transformer(37000, 37000, tie_output=False, max_len=64)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731 (shared tables count once)
    assert count(reference) == 44_140_544
    embedding = 37000 * 512
    # post-LN has no final LayerNorm after each stack (nn.Transformer adds two: 2 x 1,024)
    assert count(ours) == 44_140_544 - 2 * 1024 + embedding == 63_082_496
    assert count(ours_pre) == 44_140_544 + embedding
    assert count(untied) == 44_140_544 - 2 * 1024 + 3 * embedding + 37000
    assert 60e6 < count(ours) < 65e6          # the paper reports 65M


def test_label_smoothing_matches_torch_and_keras():
    K = _keras()
    logits = torch.from_numpy(_x((2, 5, 11)) * 3)
    targets = torch.from_numpy(TGT)
    expected = nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=0,
                                           label_smoothing=0.1)
    torch.testing.assert_close(T.label_smoothed_cross_entropy(logits, targets, 0.1), expected)
    got = K.label_smoothed_cross_entropy(logits.numpy(), TGT, 0.1)
    np.testing.assert_allclose(float(_np(got)), float(expected), rtol=1e-5)
    plain = T.label_smoothed_cross_entropy(logits, targets, 0.0)
    assert not torch.isclose(plain, expected)


def test_inverse_square_root_schedule():
    K = _keras()
    steps = np.arange(1, 20001)
    lr = T.inverse_sqrt_lr(steps, 512, 4000)
    assert steps[np.argmax(lr)] == 4000                                    # the peak is at warm-up
    np.testing.assert_allclose(lr.max(), 512 ** -0.5 * 4000 ** -0.5)      # about 7.0e-4
    np.testing.assert_allclose(lr[3999] / lr[15999], 2.0)                  # 1/sqrt(step) after it
    keras_lr = [float(_np(K.InverseSqrtSchedule(512, 4000)(s - 1))) for s in (1, 4000, 16000)]
    np.testing.assert_allclose(keras_lr, T.inverse_sqrt_lr(np.array([1, 4000, 16000]), 512, 4000),
                               rtol=1e-5)


def test_a_tiny_transformer_learns_to_copy():
    """A loss that goes down: 100 steps on copying random sequences, well below the
    ln 10 = 2.3 nats of guessing the ten content tokens (the copy needs attention)."""
    torch.manual_seed(0)
    model = T.Transformer(**dict(SMALL, tgt_vocab=13, layers=1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(100):
        src = torch.from_numpy(rng.integers(3, 13, size=(32, 5)))
        tgt = torch.cat([torch.full((32, 1), 1), src, torch.full((32, 1), 2)], dim=1)
        loss = T.label_smoothed_cross_entropy(model(src, tgt[:, :-1]), tgt[:, 1:], 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 1.0 < 2.5 < np.mean(losses[:5])


def test_draw_transformer_shows_both_layer_orders():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from companion import plots

    for norm_first, finals in ((False, 0), (True, 2)):
        fig, ax = plt.subplots()
        plots.draw_transformer(layers=6, norm_first=norm_first, ax=ax)
        texts = [t.get_text() for t in ax.texts]
        assert texts.count("final LayerNorm") == finals
        assert texts.count("LayerNorm") == 5 and "x 6" in texts
        plt.close(fig)
