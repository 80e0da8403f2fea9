"""GPT (book/transformers/gpt.md): Hugging Face GPT-2 as the reference, the loader, the KV cache."""
import numpy as np
import pytest
import torch

from companion import parity

transformers = pytest.importorskip("transformers")

VOCAB, POSITIONS, WIDTH, LAYERS, HEADS = 61, 12, 24, 2, 3
GPT2_SMALL = 124_439_808   # GPT-2 small, tied embeddings, 1024 positions


def _hf_gpt2(tie=True, seed=0, **overrides):
    """A small GPT-2 with random weights (no download).

    GPT-2's own initialisation (std 0.02, zero biases, unit norms) keeps every
    pre-activation so close to 0 that the exact and the tanh GELU agree to
    1e-6 in the logits; weights of std 0.2 and random biases and norms make the
    comparison sensitive to such mistakes (the exact GELU then misses by 9e-4).
    """
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=POSITIONS, n_embd=WIDTH,
                                     n_layer=LAYERS, n_head=HEADS, tie_word_embeddings=tie,
                                     bos_token_id=0, eos_token_id=0, **overrides)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:   # GPT-2 starts with zero biases and (1, 0) LayerNorms
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.2)
    return model


def _ids(batch=3, steps=POSITIONS, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, steps))


def _hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.from_numpy(ids)).logits.numpy()


def _torch_logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(ids)).numpy()


def _keras_logits(model, ids):
    import keras

    return keras.ops.convert_to_numpy(model(ids, training=False))


# ---------------------------------------------------------------- Hugging Face reference

@pytest.mark.parametrize("tie", [True, False])
def test_torch_gpt_equals_hugging_face_gpt2(tie):
    from companion.torch.gpt import GPT

    hf = _hf_gpt2(tie=tie)
    model = GPT.from_hf_gpt2(hf)
    assert model.tie_weights == tie
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in hf.parameters())
    ids = _ids()
    np.testing.assert_allclose(_torch_logits(model, ids), _hf_logits(hf, ids), atol=1e-5, rtol=0)


@pytest.mark.parametrize("tie", [True, False])
def test_keras_gpt_equals_hugging_face_gpt2(tie):
    from companion.keras.gpt import GPT

    hf = _hf_gpt2(tie=tie)
    model = GPT.from_hf_gpt2(hf)
    assert model.count_params() == sum(p.numel() for p in hf.parameters())
    ids = _ids()
    np.testing.assert_allclose(_keras_logits(model, ids), _hf_logits(hf, ids), atol=1e-5, rtol=0)


def test_the_comparison_is_sensitive():
    """Guard against a vacuous comparison: another seed, or the exact GELU, gives other logits."""
    from companion.torch.gpt import GPT

    ids = _ids()
    expected = _hf_logits(_hf_gpt2(), ids)
    assert np.abs(_torch_logits(GPT.from_hf_gpt2(_hf_gpt2(seed=1)), ids) - expected).max() > 1e-2
    exact = GPT.from_hf_gpt2(_hf_gpt2())
    for block in exact.blocks:
        block.ffn.activation = "gelu"
    assert np.abs(_torch_logits(exact, ids) - expected).max() > 1e-4


def test_loader_reads_a_saved_checkpoint_directory_and_a_state_dict(tmp_path):
    from companion.keras.gpt import GPT as KerasGPT
    from companion.torch.gpt import GPT as TorchGPT

    hf = _hf_gpt2()
    hf.save_pretrained(tmp_path)                     # config.json + model.safetensors
    assert (tmp_path / "model.safetensors").exists()
    ids = _ids(seed=2)
    expected = _hf_logits(hf, ids)
    np.testing.assert_allclose(_torch_logits(TorchGPT.from_hf_gpt2(tmp_path), ids), expected,
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(_keras_logits(KerasGPT.from_hf_gpt2(str(tmp_path)), ids), expected,
                               atol=1e-5, rtol=0)
    from_state = TorchGPT.from_hf_gpt2(hf.transformer.state_dict(), hf.config)   # GPT2Model keys
    np.testing.assert_allclose(_torch_logits(from_state, ids), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs its configuration"):
        TorchGPT.from_hf_gpt2(hf.state_dict())
    with pytest.raises(ValueError, match="config.json"):
        TorchGPT.from_hf_gpt2(tmp_path / "missing")


def test_loader_refuses_a_checkpoint_with_another_activation():
    from companion.torch.gpt import GPT

    hf = _hf_gpt2(activation_function="relu")
    with pytest.raises(ValueError, match="tanh GELU"):
        GPT.from_hf_gpt2(hf)


def test_gpt2_small_parameter_count_without_allocating():
    from companion.keras.gpt import abstract_parameter_count as keras_count
    from companion.torch.gpt import GPT, abstract_parameter_count as torch_count

    assert torch_count(50257) == GPT2_SMALL
    assert keras_count(50257) == GPT2_SMALL
    with torch.device("meta"):          # Hugging Face's count, also without memory
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config())
        model = GPT(50257)
    assert sum(p.numel() for p in hf.parameters()) == GPT2_SMALL
    assert model.token_embedding.weight.is_meta
    # untied: one more (vocabulary x width) matrix
    assert torch_count(50257, tie_weights=False) == GPT2_SMALL + 50257 * 768


# ---------------------------------------------------------------- the two frameworks

def _twins(tie=True, seed=0):
    import keras

    from companion.keras.gpt import GPT as KerasGPT
    from companion.torch.gpt import GPT as TorchGPT

    torch.manual_seed(seed)
    t = TorchGPT(VOCAB, POSITIONS, WIDTH, HEADS, LAYERS, tie_weights=tie)
    keras.utils.set_random_seed(seed + 1)
    k = KerasGPT(VOCAB, POSITIONS, WIDTH, HEADS, LAYERS, tie_weights=tie)
    parity.copy_torch_to_keras(t, k)
    return t.eval(), k


@pytest.mark.parametrize("tie", [True, False])
def test_keras_equals_pytorch(tie):
    t, k = _twins(tie)
    ids = _ids(seed=3)
    np.testing.assert_allclose(_keras_logits(k, ids), _torch_logits(t, ids), atol=1e-5, rtol=0)


def test_both_frameworks_generate_the_same_tokens():
    t, k = _twins()
    prompt = _ids(batch=2, steps=3, seed=4)
    for options in (dict(greedy=True), dict(temperature=0.8, top_k=5, seed=7),
                    dict(temperature=1.2, top_p=0.9, seed=8)):
        a = t.generate(torch.from_numpy(prompt), 8, **options).numpy()
        b = k.generate(prompt, 8, **options)
        np.testing.assert_array_equal(a, b, err_msg=str(options))
        assert a.shape == (2, 11) and (a[:, :3] == prompt).all()


def test_initialisation_follows_gpt2_in_both_frameworks():
    import keras

    from companion.keras.gpt import GPT as KerasGPT
    from companion.torch.gpt import GPT as TorchGPT

    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    t, k = TorchGPT(500, 64, 64, 4, 8), KerasGPT(500, 64, 64, 4, 8)
    residual = 0.02 / np.sqrt(2 * 8)
    assert abs(t.token_embedding.weight.std().item() - 0.02) < 1e-3
    assert abs(t.blocks[0].ffn.outer.weight.std().item() - residual) < 2e-4
    assert t.blocks[0].ffn.inner.bias.abs().max().item() == 0
    kernel = keras.ops.convert_to_numpy(k.blocks[0].ffn.outer.kernel)
    assert abs(kernel.std() - residual) < 2e-4
    assert abs(keras.ops.convert_to_numpy(k.token_embedding.embeddings).std() - 0.02) < 1e-3


# ---------------------------------------------------------------- causality and the KV cache

def test_the_future_does_not_change_the_past():
    t, k = _twins()
    ids = _ids(batch=2, seed=5)
    changed = ids.copy()
    changed[:, 7:] = (changed[:, 7:] + 1) % VOCAB
    for logits in (_torch_logits, lambda m, x: _keras_logits(k, x)):
        a, b = logits(t, ids), logits(t, changed)
        np.testing.assert_allclose(a[:, :7], b[:, :7], atol=1e-6)
        assert np.abs(a[:, 7:] - b[:, 7:]).max() > 1e-3


def test_cached_forward_equals_the_full_forward():
    t, k = _twins()
    ids = _ids(batch=2, seed=6)
    full_t, full_k = _torch_logits(t, ids), _keras_logits(k, ids)
    cache_t, cache_k, parts_t, parts_k = t.new_cache(), k.new_cache(), [], []
    with torch.no_grad():
        for a, b in ((0, 5), (5, 6), (6, 12)):        # a prompt, then one step, then several
            parts_t.append(t(torch.from_numpy(ids[:, a:b]), cache=cache_t).numpy())
            parts_k.append(np.asarray(k.call(ids[:, a:b], cache=cache_k, training=False)))
    np.testing.assert_allclose(np.concatenate(parts_t, axis=1), full_t, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.concatenate(parts_k, axis=1), full_k, atol=1e-5, rtol=0)
    assert t.cached_steps(cache_t) == 12 and tuple(cache_t[0]["k"].shape) == (2, HEADS, 12, WIDTH // HEADS)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_cached_generation_equals_recomputation(framework):
    t, k = _twins()
    model = t if framework == "torch" else k
    prompt = _ids(batch=2, steps=4, seed=9)
    x = torch.from_numpy(prompt) if framework == "torch" else prompt
    # 20 new tokens run past max_len = 12: the sliding window takes over in both paths
    for options in (dict(greedy=True), dict(seed=3, temperature=1.5)):
        cached = np.asarray(model.generate(x, 20, use_cache=True, **options))
        recomputed = np.asarray(model.generate(x, 20, use_cache=False, **options))
        np.testing.assert_array_equal(cached, recomputed)
        assert cached.shape == (2, 24)
    again = np.asarray(model.generate(x, 6, seed=3))
    np.testing.assert_array_equal(again, np.asarray(model.generate(x, 6, seed=3)))


# ---------------------------------------------------------------- sampling

def test_sample_next_filters():
    from companion.keras.gpt import sample_next as keras_sample
    from companion.torch.gpt import sample_next

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 30)) * 3
    best = logits.argmax(axis=-1)
    np.testing.assert_array_equal(sample_next(logits, rng, greedy=True), best)
    np.testing.assert_array_equal(sample_next(logits, rng, top_k=1), best)
    np.testing.assert_array_equal(sample_next(logits, rng, top_p=1e-6), best)
    draws = np.stack([sample_next(logits, rng, top_k=3) for _ in range(200)])
    top3 = np.argsort(logits, axis=-1)[:, -3:]
    assert all(np.isin(draws[:, i], top3[i]).all() for i in range(4))
    # frequencies follow the softmax at temperature 2
    row = np.array([[0.0, 1.0, 2.0, 3.0]])
    counts = np.bincount(np.concatenate([sample_next(np.repeat(row, 500, 0), rng, temperature=2.0)
                                         for _ in range(20)]), minlength=4) / 10_000
    p = np.exp(row[0] / 2) / np.exp(row[0] / 2).sum()
    np.testing.assert_allclose(counts, p, atol=0.02)
    # the twins' samplers are the same function
    np.testing.assert_array_equal(sample_next(logits, np.random.default_rng(5), top_p=0.8),
                                  keras_sample(logits, np.random.default_rng(5), top_p=0.8))


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_bad_inputs_raise_value_errors(framework):
    t, k = _twins()
    model = t if framework == "torch" else k

    def call(ids):
        x = torch.from_numpy(np.asarray(ids)) if framework == "torch" else np.asarray(ids)
        return model(x)

    with pytest.raises(ValueError, match=r"token ids must be in \[0, 61\)"):
        call(np.full((2, 3), VOCAB))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 61\)"):
        call(np.array([[0, -1, 2]]))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps\) with steps <= max_len=12"):
        call(np.zeros((1, POSITIONS + 1), dtype=np.int64))
    with pytest.raises(ValueError, match="integer token ids, got dtype"):
        call(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, steps\)"):
        call(np.zeros((2, 3, 4), dtype=np.int64))
    cache = model.new_cache()
    first = np.zeros((1, 10), dtype=np.int64)
    with torch.no_grad():
        model(torch.from_numpy(first) if framework == "torch" else first, cache=cache)
        with pytest.raises(ValueError, match="after 10 cached positions"):
            more = np.zeros((1, 3), dtype=np.int64)
            model(torch.from_numpy(more) if framework == "torch" else more, cache=cache)
    prompt = np.zeros((1, 2), dtype=np.int64)
    prompt = torch.from_numpy(prompt) if framework == "torch" else prompt
    for bad in (dict(temperature=0.0), dict(top_p=0.0), dict(top_k=0)):
        with pytest.raises(ValueError):
            model.generate(prompt, 3, **bad)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model.generate(prompt, 0)


def test_bad_configurations():
    from companion.keras.gpt import GPT as KerasGPT
    from companion.torch.gpt import GPT as TorchGPT

    for cls in (TorchGPT, KerasGPT):
        with pytest.raises(ValueError, match="divisible by heads"):
            cls(10, 8, d_model=10, heads=3, layers=1)
        with pytest.raises(ValueError, match="dropout"):
            cls(10, 8, d_model=8, heads=2, layers=1, dropout=1.0)
        with pytest.raises(ValueError, match="vocab_size"):
            cls(0)


# ---------------------------------------------------------------- learning

def test_both_frameworks_learn_a_repeating_text():
    import keras

    from companion.keras.gpt import GPT as KerasGPT
    from companion.torch.gpt import GPT as TorchGPT

    period = np.array([1, 4, 2, 7, 3, 3, 5, 0, 6])    # the next id follows from the last two
    stream = np.tile(period, 40)
    starts = np.random.default_rng(0).integers(0, len(stream) - 11, size=64)
    x = np.stack([stream[s:s + 10] for s in starts])
    y = np.stack([stream[s + 1:s + 11] for s in starts])

    torch.manual_seed(0)
    t = TorchGPT(8, 16, 32, 2, 2, dropout=0.0)
    opt = torch.optim.AdamW(t.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(t(torch.from_numpy(x)).reshape(-1, 8),
                                                 torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]

    keras.utils.set_random_seed(0)
    k = KerasGPT(8, 16, 32, 2, 2, dropout=0.0)
    k.compile(optimizer=keras.optimizers.AdamW(3e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = k.fit(x, y, batch_size=64, epochs=60, verbose=0).history["loss"]
    assert history[-1] < 0.1 * history[0]
