"""PyTorch and Keras twins compute the same function, and take the same training step."""
import numpy as np
import pytest

from companion import parity, registry

pytestmark = pytest.mark.keras_backend_agnostic
SPECS = registry.MODELS
ids = [s.name for s in SPECS]


def _randomized_torch(spec, seed=0):
    """A PyTorch model whose every parameter gets random noise, so that no test can
    pass because both twins start from the same constants (zeros, ones).

    The noise is scaled to each tensor's own magnitude (0.1 for all-zero
    tensors), so that deep networks keep activations of a sensible size.
    """
    import torch

    torch.manual_seed(seed)
    t = spec.torch_class()(**spec.kwargs)
    with torch.no_grad():
        for p in t.parameters():
            scale = float(p.abs().mean()) or 0.1
            p.add_(torch.randn_like(p) * scale)
    return t


def _pair(spec, seed=0):
    t = _randomized_torch(spec, seed)
    k = spec.keras_class()(**spec.kwargs)
    parity.copy_torch_to_keras(t, k)
    return t, k


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_forward_outputs_agree(spec):
    t, k = _pair(spec)
    x = spec.example_input("torch")
    out_t, out_k = parity.outputs(t, k, x, layout=spec.layout)
    assert out_t.shape == out_k.shape
    np.testing.assert_allclose(out_t, out_k, atol=spec.parity_atol, rtol=0)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_outputs_differ_without_the_copy(spec):
    """Guard against a vacuous parity check: untied twins must disagree."""
    t = _randomized_torch(spec)
    k = spec.keras_class()(**spec.kwargs)
    x = spec.example_input("torch")
    assert parity.max_abs_difference(t, k, x, layout=spec.layout) > 1e-3


def test_mlp_parity_for_every_activation():
    for activation in ("relu", "tanh", "sigmoid", "elu", "gelu"):
        spec = registry.get("MLP")
        kwargs = dict(spec.kwargs, activation=activation)
        import torch

        from companion.keras import MLP as KerasMLP
        from companion.torch import MLP as TorchMLP

        torch.manual_seed(1)
        t, k = TorchMLP(**kwargs), KerasMLP(**kwargs)
        parity.copy_torch_to_keras(t, k)
        x = np.random.default_rng(1).normal(size=spec.input_shape).astype(np.float32) * 3
        assert parity.max_abs_difference(t, k, x) < 1e-5, activation


def test_one_sgd_step_gives_the_same_weights():
    """Same weights, same batch, same loss, one SGD step: the same new weights."""
    import keras
    import torch

    from companion.keras import MLP as KerasMLP
    from companion.torch import MLP as TorchMLP

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12)).astype(np.float32)
    y = rng.integers(0, 5, size=16)
    torch.manual_seed(0)
    t = TorchMLP(12, (16, 8), 5, activation="tanh")
    k = KerasMLP(12, (16, 8), 5, activation="tanh")
    parity.copy_torch_to_keras(t, k)

    before = [p.detach().clone() for p in t.parameters()]
    opt = torch.optim.SGD(t.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(t(torch.from_numpy(x)), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()

    k.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_loss = k.train_on_batch(x, y)
    assert abs(float(keras_loss) - loss.item()) < 1e-5  # the loss before the step

    for t_layer, k_layer in zip(parity.torch_layers(t), parity.keras_layers(k)):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in k_layer.weights)
        np.testing.assert_allclose(t_layer.weight.detach().numpy().T, kernel, atol=1e-6)
        np.testing.assert_allclose(t_layer.bias.detach().numpy(), bias, atol=1e-6)
    # the step really moved the weights: the test does not compare two copies of the start
    assert max((p.detach() - b).abs().max().item() for p, b in zip(t.parameters(), before)) > 1e-3


def test_copy_refuses_models_that_do_not_line_up():
    from companion.keras import MLP as KerasMLP
    from companion.torch import MLP as TorchMLP

    with pytest.raises(ValueError, match="do not line up"):
        parity.copy_torch_to_keras(TorchMLP(4, (3, 3), 2), KerasMLP(4, (3,), 2))
    with pytest.raises(ValueError, match="not compatible|shape"):
        parity.copy_torch_to_keras(TorchMLP(4, (3,), 2), KerasMLP(4, (5,), 2))


def test_a_weight_copy_is_not_a_view_of_the_pytorch_tensor():
    """On JAX (tests/test_keras_backends.py runs this file there), a Keras variable
    assigned from a NumPy view kept sharing PyTorch's memory: an in-place optimizer
    step on the PyTorch model then changed the Keras twin too."""
    import numpy as np
    import torch

    from companion import parity
    from companion.keras import MLP as KerasMLP
    from companion.torch import MLP as TorchMLP

    t, k = TorchMLP(4, (3,), 2), KerasMLP(4, (3,), 2)
    parity.copy_torch_to_keras(t, k)
    x = np.ones((1, 4), np.float32)
    before = parity.outputs(t, k, x)[1]
    with torch.no_grad():
        for p in t.parameters():
            p.add_(1.0)                      # in place, as an optimizer step is
    np.testing.assert_array_equal(parity.outputs(t, k, x)[1], before)


def test_batchnorm_twins_drift_apart_after_training_steps_as_documented():
    """The limit of the parity claim (companion/parity.py): equal after the copy, but
    PyTorch updates the running variance with the unbiased batch variance and Keras
    with the biased one, so evaluation outputs differ after training-mode batches."""
    import torch

    from companion.keras import Bottleneck as KerasBottleneck
    from companion.torch import Bottleneck as TorchBottleneck

    torch.manual_seed(0)
    t, k = TorchBottleneck(16, 4), KerasBottleneck(16, 4)
    parity.copy_torch_to_keras(t, k)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16, 6, 6)).astype(np.float32)
    assert parity.max_abs_difference(t, k, x, layout="NCHW") < 1e-5
    for _ in range(3):
        batch = rng.normal(size=(4, 16, 6, 6)).astype(np.float32)
        t.train()
        t(torch.from_numpy(batch))
        k(parity.to_channels_last(batch), training=True)
    assert parity.max_abs_difference(t, k, x, layout="NCHW") > 1e-4   # measured 3.9e-4
