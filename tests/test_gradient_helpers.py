"""``companion.torch.gradients`` and ``companion.keras.gradients`` measure the same thing:
inference mode (moving batch-norm statistics, no dropout) and no side effects."""
import keras
import numpy as np
import torch

from companion import parity
from companion.keras import cnn as kc
from companion.keras.training import gradients as keras_gradients
from companion.torch import cnn as tc
from companion.torch.training import gradients as torch_gradients


def _twins():
    torch.manual_seed(0)
    t, k = tc.BasicBlock(4, 4), kc.BasicBlock(4, 4)
    x = np.random.default_rng(0).normal(size=(3, 4, 6, 6)).astype(np.float32)
    k(parity.to_channels_last(x))
    with torch.no_grad():                  # moving statistics far from a batch's own
        for m in t.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    parity.copy_torch_to_keras(t, k)
    return t, k, x


def test_batchnorm_model_gradients_agree_and_leave_the_model_unchanged():
    t, k, x = _twins()
    y = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    g_t = torch_gradients(t, (x, y))
    before = [keras.ops.convert_to_numpy(w).copy() for w in k.weights]
    out_before = keras.ops.convert_to_numpy(k(parity.to_channels_last(x), training=False))
    g_k = keras_gradients(k, (parity.to_channels_last(x), parity.to_channels_last(y)))
    after = [keras.ops.convert_to_numpy(w) for w in k.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "moving statistics moved"
    out_after = keras.ops.convert_to_numpy(k(parity.to_channels_last(x), training=False))
    assert np.array_equal(out_before, out_after)
    conv_t = g_t["conv1.weight"].transpose(2, 3, 1, 0)          # (out, in, kh, kw) -> Keras
    conv_k, gamma_k = list(g_k.values())[:2]    # conv1's kernel, bn1's gamma (creation order)
    scale = np.abs(conv_t).max()
    assert np.abs(conv_t - conv_k).max() < 1e-4 * scale + 1e-6
    assert np.allclose(g_t["bn1.weight"], gamma_k, rtol=1e-3, atol=1e-5)


def test_training_mode_gradients_would_differ():
    """The check above can fail: batch statistics give another gradient."""
    t, _, x = _twins()
    y = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    inference = torch_gradients(t, (x, y))["conv1.weight"]
    t.train()
    loss = torch.nn.functional.mse_loss(t(torch.from_numpy(x)), torch.from_numpy(y))
    (training,) = torch.autograd.grad(loss, [t.conv1.weight])
    assert np.abs(training.numpy() - inference).max() > 1e-3
    assert np.allclose(torch_gradients(t, (x, y), training=True)["conv1.weight"],
                       training.numpy(), atol=1e-6)
    assert t.training, "the helper leaves the model in the mode it found it in"


def test_training_mode_gradients_agree_and_leave_the_model_unchanged():
    t, k, x = _twins()
    y = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    stats = {n: b.clone() for n, b in t.named_buffers()}
    g_t = torch_gradients(t, (x, y), training=True)
    assert all(torch.equal(b, stats[n]) for n, b in t.named_buffers()), "running statistics moved"
    before = [keras.ops.convert_to_numpy(w).copy() for w in k.weights]
    g_k = keras_gradients(k, (parity.to_channels_last(x), parity.to_channels_last(y)), training=True)
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(before, k.weights))
    conv_t = g_t["conv1.weight"].transpose(2, 3, 1, 0)
    conv_k = list(g_k.values())[0]
    assert np.abs(conv_t - conv_k).max() < 1e-4 * np.abs(conv_t).max() + 1e-6
    assert np.abs(conv_t - torch_gradients(t, (x, y))["conv1.weight"].transpose(2, 3, 1, 0)).max() > 1e-3
