"""The scaling arguments of both training loops, data parallelism and the memory table
(appendix "From one device to many")."""
import numpy as np
import pytest

from companion import distributed, engines, scaling

FRAMEWORKS = ("torch", "keras")


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)


def _mlp(framework, dropout=0.0, float64=False):
    """A small MLP, the same initial weights for every call with the same arguments."""
    if framework == "torch":
        import torch
        import companion.torch as ct
        torch.manual_seed(0)
        model = ct.MLP(5, (8,), 3, dropout=dropout)
        return model.double() if float64 else model
    import keras
    import companion.keras as ck
    keras.utils.set_random_seed(0)
    if not float64:
        return ck.MLP(5, (8,), 3, dropout=dropout)
    keras.config.set_floatx("float64")          # every layer created now is float64
    keras.config.set_dtype_policy("float64")
    try:
        return ck.MLP(5, (8,), 3, dropout=dropout)
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


def _train(framework):
    import companion.keras as ck
    import companion.torch as ct
    return {"torch": ct.train, "keras": ck.train}[framework]


def _weights(framework, model):
    if framework == "torch":
        return [p.detach().numpy() for p in model.parameters()]
    import keras
    return [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_accumulation_equals_one_large_batch(framework):
    """k micro-batches of b give the same update as one batch of k * b (float64)."""
    if framework == "keras":
        import keras
        if keras.backend.backend() == "jax":
            pytest.skip("JAX computes in float32 unless jax_enable_x64 is set")
    data = _data()
    micro, whole = _mlp(framework, float64=True), _mlp(framework, float64=True)
    h_micro = _train(framework)(micro, data, epochs=3, batch_size=8, accumulate=4, lr=1e-2,
                                progress=False)
    h_whole = _train(framework)(whole, data, epochs=3, batch_size=32, lr=1e-2, progress=False)
    assert all(w.dtype == np.float64 for m in (micro, whole) for w in _weights(framework, m))
    diff = max(np.abs(a - b).max() for a, b in zip(_weights(framework, micro),
                                                   _weights(framework, whole)))
    assert diff < 1e-6
    np.testing.assert_allclose(h_micro["loss"], h_whole["loss"], atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_resumed_run_equals_uninterrupted_run(framework, tmp_path):
    """Stop after 2 of 4 epochs, resume in a new model: the same losses step for step.

    Dropout, augmentation and a cosine schedule make every random state matter.
    """
    data = _data()

    def augment(x, rng):
        return x + 0.1 * rng.normal(size=x.shape).astype("float32")

    args = dict(epochs=4, schedule="cosine", augment=augment, progress=False, lr=1e-2)
    train = _train(framework)
    dropout = 0.3
    if framework == "keras":
        import keras
        if keras.backend.backend() == "torch":
            dropout = 0.0   # a known limit, stated in companion.keras.train's docstring
    full = train(_mlp(framework, dropout), data, data, checkpoint=tmp_path / "full", **args)
    first = train(_mlp(framework, dropout), data, data, checkpoint=tmp_path / "cut",
                  stop_after=2, **args)
    assert len(first["loss"]) == 2
    resumed_model = _mlp(framework, dropout)
    resumed = train(resumed_model, data, data, checkpoint=tmp_path / "cut", resume=True, **args)
    assert resumed.keys() == full.keys()
    for key in full:
        np.testing.assert_allclose(resumed[key], full[key], atol=1e-6)
    files = scaling.checkpoint_files(tmp_path / "cut")
    if framework == "torch":
        import torch
        state = torch.load(files["torch"], weights_only=True)
        assert state["epoch"] == 4
    else:
        assert files["keras_weights"].exists() and files["keras_state"].exists()


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains(framework, precision):
    data = _data()
    if framework == "keras":
        import companion.keras as ck
        with ck.precision_policy(precision):
            model = _mlp(framework)
        import keras
        assert keras.config.dtype_policy().name == "float32"   # restored afterwards
    else:
        model = _mlp(framework)
    history = _train(framework)(model, data, epochs=3, lr=1e-2, precision=precision,
                                progress=False)
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]


def test_keras_refuses_a_model_built_in_another_precision():
    import companion.keras as ck
    with pytest.raises(ValueError, match="precision_policy"):
        ck.train(_mlp("keras"), _data(), epochs=1, precision="bfloat16", progress=False)


BAD_ARGUMENTS = [
    (dict(accumulate=0), "accumulate"),
    (dict(accumulate=2.0), "accumulate"),
    (dict(precision="float8"), "precision"),
    (dict(precision="half"), "precision"),
    (dict(resume=True), "resume"),
    (dict(checkpoint=3), "checkpoint"),
    (dict(checkpoint="x", stop_after=0), "stop_after"),
    (dict(checkpoint="x", stop_after=5), "stop_after"),
    (dict(stop_after=1), "stop_after"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("kwargs,match", BAD_ARGUMENTS, ids=[m + str(i) for i, (_, m)
                                                           in enumerate(BAD_ARGUMENTS)])
def test_bad_scaling_arguments_are_refused_by_both(framework, kwargs, match, tmp_path):
    kwargs = {k: (tmp_path / v if k == "checkpoint" and isinstance(v, str) else v)
              for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        _train(framework)(_mlp(framework), _data(), epochs=2, progress=False, **kwargs)


def test_torch_ddp_two_processes_equal_one_process():
    result = distributed.run_torch(steps=10)
    assert int(result["world"]) == 2
    assert distributed.first_step_difference(result) < 1e-6
    np.testing.assert_allclose(result["ddp_losses"], result["single_losses"], atol=1e-5)


def test_keras_data_parallel_on_two_jax_devices_equals_one_device():
    pytest.importorskip("jax")
    result = distributed.run_keras(steps=10)
    assert int(result["world"]) == 2
    assert "'batch': 2" in str(result["sharding"])
    assert distributed.first_step_difference(result) < 1e-6
    np.testing.assert_allclose(result["ddp_losses"], result["single_losses"], atol=1e-5)


def test_training_memory_table():
    n = scaling.gpt_parameters(12, 768)
    assert n == 124_439_808          # GPT-2 small
    plain = scaling.training_memory(n, 8, stage=0)
    assert plain["total"] == 16 * n
    assert scaling.training_memory(n, 8, stage=1)["optimizer"] == 12 * n / 8
    assert scaling.training_memory(n, 8, stage=2)["gradients"] == 2 * n / 8
    assert scaling.training_memory(n, 8, stage=3)["total"] == 16 * n / 8
    with pytest.raises(ValueError, match="stage"):
        scaling.training_memory(n, 8, stage=4)


def test_engine_comparison_refuses_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        engines.compare(epochs=1)
    with pytest.raises(ValueError, match="unknown models"):
        engines.compare(models=("mlp", "vgg"))


@pytest.mark.parametrize("model", engines.MODELS)
def test_engine_timers_run_every_model_in_both_frameworks(model):
    x, y = engines.dataset(model, 40)
    for times in (engines.time_torch(model, x, y, 2),
                  engines.time_keras(model, x, y, 2, jit_compile=False)):
        assert len(times) == 2 and all(t > 0 for t in times)
    result = engines.summary([0.5, 0.2, 0.1])
    assert result == pytest.approx({"first": 0.5, "steady": 0.15, "overhead": 0.35})
