"""Part VI overview: attention in NumPy against PyTorch, Keras and Hugging Face.

The mask tests pin down each API's polarity: ``to_api_mask`` must give
``nn.MultiheadAttention`` True = do not attend and the other two True = attend;
flipping any of them makes ``test_masks_have_each_apis_polarity`` fail
(``test_a_flipped_mask_is_caught`` shows that the comparison would notice).
"""
import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.numpy import attention as att

pytestmark = pytest.mark.keras_backend_agnostic

B, T, D, H = 2, 5, 8, 2


def _qkv(seed=0, shape=(B, T, D)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(3)]


def _masks():
    padding = att.padding_mask(np.array([5, 3]), T)
    return {"none": None,
            "causal": att.combine_masks(causal=att.causal_mask(T)),
            "padding": att.combine_masks(padding=padding),
            "both": att.combine_masks(padding=padding, causal=att.causal_mask(T))}


# ---------------------------------------------------------------- scaled dot-product

@pytest.mark.parametrize("kind", ["none", "causal", "padding", "both"])
def test_sdpa_matches_torch_functional(kind):
    q, k, v = _qkv()
    mask = _masks()[kind]
    ours, weights = att.scaled_dot_product_attention(q, k, v, mask)
    api_mask = None if mask is None else torch.from_numpy(
        att.to_api_mask(mask, "torch.nn.functional.scaled_dot_product_attention"))
    theirs = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), attn_mask=api_mask)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
    if mask is not None:
        assert (weights[~np.broadcast_to(mask, weights.shape)] == 0).all()


@pytest.mark.parametrize("kind", ["none", "causal", "both"])
def test_sdpa_matches_keras_ops(kind):
    q, k, v = _qkv(1)
    mask = _masks()[kind]
    ours, _ = att.scaled_dot_product_attention(q, k, v, mask)
    # keras.ops.dot_product_attention wants (batch, steps, heads, dim) and a (batch, heads, Tq, Tk) mask
    api = None if mask is None else att.to_api_mask(mask, "keras.layers.MultiHeadAttention")[:, None]
    theirs = keras.ops.dot_product_attention(*(x[:, :, None] for x in (q, k, v)), mask=api)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs)[:, :, 0], atol=2e-6)


def test_scaling_makes_logit_variance_one():
    rng = np.random.default_rng(0)
    for d in (16, 256):
        q, k = rng.normal(size=(2, 4000, d))
        raw = (q * k).sum(-1)
        assert abs(raw.var() / d - 1) < 0.1 and abs((raw / np.sqrt(d)).var() - 1) < 0.1


def test_attention_errors_name_what_was_expected():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"q \(\.\.\., Tq, d_k\)"):
        att.scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="boolean"):
        att.scaled_dot_product_attention(q, k, v, mask=np.ones((T, T)))
    with pytest.raises(ValueError, match="every key masked"):
        att.scaled_dot_product_attention(q, k, v, mask=np.zeros((T, T), dtype=bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        att.scaled_dot_product_attention(q, k, v, mask=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="unknown api"):
        att.to_api_mask(att.causal_mask(3), "jax")
    with pytest.raises(ValueError, match=r"lengths must lie|every length"):
        att.padding_mask(np.array([0, 3]), 4)
    with pytest.raises(ValueError, match="positive integer"):
        att.causal_mask(0)


# ---------------------------------------------------------------- multi-head attention and masks

def _torch_mha(seed=0):
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


def _keras_mha(params):
    mha = keras.layers.MultiHeadAttention(num_heads=H, key_dim=D // H)
    x = np.zeros((1, T, D), np.float32)
    mha(x, x)
    mha.set_weights(att.keras_mha_weights(params, H))
    return mha


def _params(mha):
    return att.params_from_torch(*(p.detach().numpy() for p in
                                   (mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight,
                                    mha.out_proj.bias)))


def _outputs(mha_t, mha_k, x, mask, flip=False):
    """NumPy, PyTorch and Keras outputs of self-attention with an attend-mask (flip: wrong polarity)."""
    params = _params(mha_t)
    ref, _ = att.multi_head_attention(x, x, x, params, H, mask)
    tm = None if mask is None else att.to_api_mask(mask, "torch.nn.MultiheadAttention")
    km = None if mask is None else att.to_api_mask(mask, "keras.layers.MultiHeadAttention")
    if flip and mask is not None:
        tm, km = ~tm, ~km
    xt = torch.from_numpy(x)
    with torch.no_grad():
        t_out = mha_t(xt, xt, xt, attn_mask=None if tm is None else torch.from_numpy(
            np.repeat(np.broadcast_to(tm, (B, T, T)), H, axis=0)), need_weights=False)[0].numpy()
    k_out = keras.ops.convert_to_numpy(mha_k(x, x, attention_mask=km))
    return ref, t_out, k_out


def test_weight_layouts_and_the_mapping_rule():
    mha_t = _torch_mha()
    assert tuple(mha_t.in_proj_weight.shape) == (3 * D, D)
    mha_k = _keras_mha(_params(mha_t))
    assert [tuple(w.shape) for w in mha_k.get_weights()] == [
        (D, H, D // H), (H, D // H)] * 3 + [(H, D // H, D), (D,)]
    x, _, _ = _qkv(3)
    ref, t_out, k_out = _outputs(mha_t, mha_k, x, None)
    np.testing.assert_allclose(t_out, ref, atol=1e-5)
    np.testing.assert_allclose(k_out, ref, atol=1e-5)


@pytest.mark.parametrize("kind", ["causal", "padding", "both"])
def test_masks_have_each_apis_polarity(kind):
    """Fails if ``to_api_mask`` gives any of the APIs the wrong polarity."""
    mha_t = _torch_mha(1)
    mha_k = _keras_mha(_params(mha_t))
    x, _, _ = _qkv(4)
    ref, t_out, k_out = _outputs(mha_t, mha_k, x, _masks()[kind])
    np.testing.assert_allclose(t_out, ref, atol=1e-5)
    np.testing.assert_allclose(k_out, ref, atol=1e-5)
    q, k, v = _qkv(5)
    sdpa = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), attn_mask=torch.from_numpy(
        att.to_api_mask(_masks()[kind], "torch.nn.functional.scaled_dot_product_attention")))
    np.testing.assert_allclose(sdpa.numpy(), att.scaled_dot_product_attention(q, k, v, _masks()[kind])[0],
                               atol=2e-6)


def test_a_flipped_mask_is_caught():
    mha_t = _torch_mha(1)
    mha_k = _keras_mha(_params(mha_t))
    x, _, _ = _qkv(4)
    ref, t_out, k_out = _outputs(mha_t, mha_k, x, _masks()["causal"], flip=True)
    # PyTorch: the last query may attend to nothing -> NaN; Keras: attends to the future
    assert np.isnan(t_out).any() or not np.allclose(t_out, ref, atol=1e-3)
    assert not np.allclose(k_out, ref, atol=1e-3)
    assert att.API_MASK_POLARITY["torch.nn.MultiheadAttention"].startswith("True = do not")


# ---------------------------------------------------------------- recurrent attention scores

def test_additive_and_multiplicative_scores_by_hand():
    rng = np.random.default_rng(0)
    s, h = rng.normal(size=(3, 4)), rng.normal(size=(6, 5))
    wq, wk, v, w = rng.normal(size=(4, 7)), rng.normal(size=(5, 7)), rng.normal(size=7), rng.normal(size=(4, 5))
    loop = np.array([[v @ np.tanh(s[i] @ wq + h[j] @ wk) for j in range(6)] for i in range(3)])
    np.testing.assert_allclose(att.additive_scores(s, h, wq, wk, v), loop, atol=1e-12)
    np.testing.assert_allclose(att.multiplicative_scores(s, h, w), s @ w @ h.T, atol=1e-12)
    np.testing.assert_allclose(att.multiplicative_scores(s, h[:, :4]), s @ h[:, :4].T)
    # batched, against torch
    sb, hb = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 6, 5))
    ref = (torch.tanh(torch.from_numpy(sb @ wq)[:, :, None] + torch.from_numpy(hb @ wk)[:, None])
           @ torch.from_numpy(v)).numpy()
    np.testing.assert_allclose(att.additive_scores(sb, hb, wq, wk, v), ref, atol=1e-12)
    with pytest.raises(ValueError, match=r"w_query \(d_q, d_a\)"):
        att.additive_scores(s, h, wk, wq, v)
    with pytest.raises(ValueError, match=r"weight must be \(d_q, d_k\)"):
        att.multiplicative_scores(s, h, w.T)


# ---------------------------------------------------------------- positions

def test_sinusoidal_table_values_and_linear_shift():
    pe = att.sinusoidal_table(50, 16)
    assert pe.shape == (50, 16)
    np.testing.assert_allclose(pe[0, 0::2], 0) and np.testing.assert_allclose(pe[0, 1::2], 1)
    np.testing.assert_allclose(pe[7, 2], np.sin(7 / 10000 ** (2 / 16)))
    # PE[p + k] = R_k PE[p] for a fixed rotation R_k, whatever p
    k = 5
    r, *_ = np.linalg.lstsq(pe[:40], pe[k:40 + k], rcond=None)
    np.testing.assert_allclose(pe[:45] @ r, pe[k:50], atol=1e-8)
    with pytest.raises(ValueError, match="even"):
        att.sinusoidal_table(10, 7)


def test_relative_attention_by_hand_and_shift_invariance():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 6, 4))
    rel_k, rel_v = rng.normal(size=(2, 5, 4))              # K = 2
    out, w = att.relative_attention(q, k, v, rel_k, rel_v)
    idx = lambda i, j: np.clip(j - i, -2, 2) + 2
    e = np.array([[q[i] @ (k[j] + rel_k[idx(i, j)]) / 2 for j in range(6)] for i in range(6)])
    w_ref = np.exp(e) / np.exp(e).sum(1, keepdims=True)
    z = np.array([sum(w_ref[i, j] * (v[j] + rel_v[idx(i, j)]) for j in range(6)) for i in range(6)])
    np.testing.assert_allclose(out, z, atol=1e-12)
    # with equal contents, the position terms depend on j - i only: shifting changes nothing
    same = np.tile(rng.normal(size=4), (6, 1))
    _, w_same = att.relative_attention(same, same, same, rel_k)
    logw = np.log(w_same)
    np.testing.assert_allclose(logw[1, 0:3] - logw[1, 0], logw[2, 1:4] - logw[2, 1], atol=1e-12)
    np.testing.assert_allclose(logw[3, 0:5] - logw[3, 0], logw[4, 1:6] - logw[4, 1], atol=1e-12)


def test_rope_depends_only_on_the_offset_and_matches_hugging_face():
    rng = np.random.default_rng(2)
    q, k = rng.normal(size=(2, 16))
    dots = {}
    for m in range(12):
        for n in range(12):
            qm = att.rope(q[None], positions=np.array([m]))[0]
            kn = att.rope(k[None], positions=np.array([n]))[0]
            dots.setdefault(m - n, []).append(qm @ kn)
    assert max(np.ptp(v) for v in dots.values()) < 1e-10
    assert np.ptp([v[0] for v in dots.values()]) > 0.1          # but it does depend on m - n
    x = rng.normal(size=(1, 2, 9, 16))
    np.testing.assert_allclose(np.linalg.norm(att.rope(x), axis=-1), np.linalg.norm(x, axis=-1))
    # Hugging Face Llama pairs feature i with i + d/2: permute the features to compare
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    perm = np.concatenate([np.arange(0, 16, 2), np.arange(1, 16, 2)])
    freqs = np.arange(9)[:, None] * 10000.0 ** (-np.arange(0, 16, 2) / 16)
    emb = torch.from_numpy(np.concatenate([freqs, freqs], -1))[None]
    xt = torch.from_numpy(x[..., perm])
    hf_q, _ = apply_rotary_pos_emb(xt, xt, emb.cos(), emb.sin())
    np.testing.assert_allclose(hf_q.numpy(), att.rope(x)[..., perm], atol=1e-12)
    with pytest.raises(ValueError, match="even"):
        att.rope(np.ones((3, 5)))


def test_attention_cost_formula():
    flops, nbytes = att.attention_flops_and_bytes(1024, 64, heads=4)
    assert flops == 2 * 4 * 1024 * 1024 * 16 and nbytes == 4 * 1024 * 1024 * 4
