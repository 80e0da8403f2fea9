"""Part III: convolution arithmetic, NumPy references, CNN twins, parameter counts."""
import numpy as np
import pytest

from companion import numpy as cnp
from companion import parity

pytestmark = pytest.mark.keras_backend_agnostic  # every test here also runs on KERAS_BACKEND=torch


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("n, k, s, p, expected", [
    (32, 5, 1, 0, 28), (28, 2, 2, 0, 14), (227, 11, 4, 0, 55), (55, 3, 2, 0, 27),
    (224, 7, 2, 3, 112), (112, 3, 2, 1, 56), (7, 3, 1, 1, 7), (8, 3, 2, 1, 4), (9, 3, 2, 1, 5),
])
def test_output_size_formula(n, k, s, p, expected):
    assert cnp.output_size(n, k, s, p) == expected == (n + 2 * p - k) // s + 1


def test_output_size_matches_both_frameworks_for_many_settings():
    import keras
    import torch

    for n in (7, 8, 13):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                for p in range(0, k // 2 + 1):
                    if n + 2 * p < k:
                        continue
                    out = torch.nn.functional.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k),
                                                     stride=s, padding=p)
                    assert out.shape[-1] == cnp.output_size(n, k, s, p), (n, k, s, p)
                    x = np.zeros((1, n + 2 * p, n + 2 * p, 1), np.float32)  # explicit padding
                    out_k = keras.ops.conv(x, np.zeros((k, k, 1, 1), np.float32), strides=s)
                    assert out_k.shape[1] == cnp.output_size(n, k, s, p)


def test_output_size_rejects_bad_arguments():
    with pytest.raises(ValueError, match="larger than the padded input"):
        cnp.output_size(3, 5)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        cnp.output_size(8, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be a non-negative"):
        cnp.output_size(8, 3, padding=-1)


def test_receptive_field_recursion():
    assert cnp.receptive_field([(3, 1)] * 3) == [3, 5, 7]       # three 3x3 = one 7x7
    assert cnp.receptive_field([(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]) == [5, 6, 14, 16, 32]
    with pytest.raises(ValueError):
        cnp.receptive_field([(0, 1)])


# ---------------------------------------------------------------- NumPy conv vs frameworks

@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (2, 0), (3, 2)])
def test_numpy_conv2d_matches_torch_and_keras(stride, padding):
    import keras
    import torch

    x, w, b = _x((2, 3, 9, 9)), _x((4, 3, 3, 3), 1), _x((4,), 2)
    ref = cnp.conv2d(x, w, b, stride=stride, padding=padding)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                   stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(ref, t, atol=1e-5)
    # Keras: NHWC input, HWIO kernel, explicit symmetric padding then "valid".
    x_k = np.pad(parity.to_channels_last(x), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    k = keras.ops.conv(x_k, w.transpose(2, 3, 1, 0), strides=stride, padding="valid")
    k = parity.to_channels_first(keras.ops.convert_to_numpy(k)) + b[None, :, None, None]
    np.testing.assert_allclose(ref, k, atol=1e-5)


def test_keras_same_padding_is_asymmetric_for_stride_two():
    """Why the Keras twins use ZeroPadding2D: 'same' with stride 2 pads bottom/right only."""
    import keras
    import torch

    x, w = _x((1, 1, 8, 8)), _x((1, 1, 3, 3), 1)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    same = keras.ops.conv(parity.to_channels_last(x), w.transpose(2, 3, 1, 0), strides=2, padding="same")
    same = parity.to_channels_first(keras.ops.convert_to_numpy(same))
    assert same.shape == t.shape and not np.allclose(same, t, atol=1e-3)
    np.testing.assert_allclose(same, cnp.conv2d(np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1))), w,
                                                 stride=2), atol=1e-5)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_numpy_pooling_matches_torch(mode):
    import torch

    x = _x((2, 3, 8, 8))
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    np.testing.assert_allclose(cnp.pool2d(x, 2, mode=mode), pool(torch.from_numpy(x), 2).numpy(), atol=1e-6)
    np.testing.assert_allclose(cnp.pool2d(x, 3, 2, mode=mode), pool(torch.from_numpy(x), 3, 2).numpy(),
                               atol=1e-6)
    with pytest.raises(ValueError, match="unknown pooling mode"):
        cnp.pool2d(x, mode="median")


def test_conv2d_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, channels, height, width\)"):
        cnp.conv2d(np.zeros((3, 8, 8)), np.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="expected w of shape"):
        cnp.conv2d(np.zeros((1, 3, 8, 8)), np.zeros((1, 2, 3, 3)))


# ---------------------------------------------------------------- parity rules

def test_batchnorm_running_statistics_and_momentum_agree():
    """One training-mode batch updates PyTorch's and Keras's moving statistics identically."""
    import keras
    import torch

    from companion.keras import BasicBlock as KBlock
    from companion.torch import BasicBlock as TBlock

    torch.manual_seed(0)
    t, k = TBlock(3, 5, stride=2), KBlock(3, 5, stride=2)
    parity.copy_torch_to_keras(t, k)
    x = _x((8, 3, 10, 10)) * 2 + 1
    t.train()
    out_t = t(torch.from_numpy(x)).detach().numpy()
    out_k = parity.to_channels_first(keras.ops.convert_to_numpy(k(parity.to_channels_last(x), training=True)))
    np.testing.assert_allclose(out_t, out_k, atol=1e-4)          # batch statistics
    for t_layer, k_layer in zip(parity.torch_layers(t), parity.keras_layers(k)):
        if type(t_layer).__name__ == "BatchNorm2d":
            mean, var = (keras.ops.convert_to_numpy(w) for w in k_layer.weights[2:])
            np.testing.assert_allclose(t_layer.running_mean.numpy(), mean, atol=1e-5)
            assert not np.allclose(mean, 0)                        # the update happened
            # The one difference: PyTorch folds the *unbiased* batch variance (divided
            # by m - 1) into its running variance, Keras the biased one (divided by m),
            # m = batch x height x width values per channel. Both start from 1.
            m = x.shape[0] * t_layer_out_hw(t, t_layer)
            np.testing.assert_allclose((t_layer.running_var.numpy() - 0.9) / (var - 0.9),
                                       m / (m - 1), rtol=1e-3)
    # so after training the eval-mode outputs drift apart slightly, until the copy is redone
    assert parity.max_abs_difference(t, k, x, layout="NCHW") > 1e-5
    parity.copy_torch_to_keras(t, k)
    assert parity.max_abs_difference(t, k, x, layout="NCHW") < 1e-4


def t_layer_out_hw(block, bn) -> int:
    """Height x width of the maps a BatchNorm layer of ``block`` normalizes (10x10 in, stride 2)."""
    return 5 * 5


def test_batchnorm_rule_refuses_keras_defaults():
    import keras
    import torch

    bn_t = torch.nn.BatchNorm2d(4)
    bn_k = keras.layers.BatchNormalization()          # momentum 0.99, epsilon 1e-3
    bn_k.build((None, 5, 5, 4))
    with pytest.raises(ValueError, match="momentum"):
        parity.RULES[("BatchNorm2d", "BatchNormalization")](bn_t, bn_k)
    bn_k = keras.layers.BatchNormalization(momentum=0.9)
    bn_k.build((None, 5, 5, 4))
    with pytest.raises(ValueError, match="epsilon"):
        parity.RULES[("BatchNorm2d", "BatchNormalization")](bn_t, bn_k)


def test_conv_rule_refuses_same_padding_with_stride_two():
    import keras
    import torch

    conv_t = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1)
    conv_k = keras.layers.Conv2D(3, 3, strides=2, padding="same")
    conv_k.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match="is not Keras 'same'"):
        parity.RULES[("Conv2d", "Conv2D")](conv_t, conv_k)


def test_outputs_rejects_an_unknown_layout():
    from companion.keras import LeNet5 as K
    from companion.torch import LeNet5 as T

    with pytest.raises(ValueError, match="unknown layout"):
        parity.outputs(T(), K(), _x((1, 1, 32, 32)), layout="NWHC")


@pytest.mark.parametrize("variant", [dict(activation="tanh", pooling="avg"),
                                     dict(activation="relu", pooling="max")])
def test_lenet5_variants_agree(variant):
    import torch

    from companion.keras import LeNet5 as K
    from companion.torch import LeNet5 as T

    torch.manual_seed(0)
    t, k = T(**variant), K(**variant)
    parity.copy_torch_to_keras(t, k)
    assert parity.max_abs_difference(t, k, _x((4, 1, 32, 32)), layout="NCHW") < 1e-5


def test_lenet5_parameter_count():
    from companion.keras import LeNet5 as K
    from companion.torch import LeNet5 as T

    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850
    assert parity.trainable_parameters(T()) == parity.trainable_parameters(K()) == 61_706


def test_resnet18_has_exactly_torchvisions_parameter_count():
    from companion.keras import ResNet as K
    from companion.torch import ResNet as T

    assert parity.trainable_parameters(T("basic", (2, 2, 2, 2), num_classes=1000)) == 11_689_512
    assert parity.trainable_parameters(K("basic", (2, 2, 2, 2), num_classes=1000)) == 11_689_512


def test_resnet50_parameter_count():
    from companion.torch import ResNet as T

    assert parity.trainable_parameters(T("bottleneck", (3, 4, 6, 3), num_classes=1000)) == 25_557_032


def test_resnet_imagenet_stem_parity():
    """The 7x7/2 stem and 3x3/2 max pooling line up despite Keras's asymmetric 'same'."""
    import torch

    from companion.keras import ResNet as K
    from companion.torch import ResNet as T

    torch.manual_seed(0)
    kwargs = dict(block="bottleneck", layers=(1, 1), num_classes=7, width=8, stem="imagenet")
    t, k = T(**kwargs), K(**kwargs)
    parity.copy_torch_to_keras(t, k)
    assert parity.max_abs_difference(t, k, _x((2, 3, 45, 45)), layout="NCHW") < 1e-4


def test_plain_network_has_no_shortcuts():
    from companion.torch import ResNet as T

    plain = T("basic", (2, 2), num_classes=3, width=4, stem="small", residual=False)
    assert all(m.shortcut is None for stage in plain.stages for m in stage)


@pytest.mark.parametrize("groups, expected", [(1, 62_378_344), (2, 60_965_224)])
def test_alexnet_parameter_count_is_within_five_percent_of_the_papers(groups, expected):
    from companion.keras import AlexNet as K
    from companion.torch import AlexNet as T

    t = T(num_classes=1000, groups=groups)
    assert parity.trainable_parameters(t) == expected
    assert abs(expected - 60e6) / 60e6 < 0.05
    assert parity.trainable_parameters(K(num_classes=1000, groups=groups)) == expected


def test_local_response_normalization_follows_the_paper():
    """b = a / (k + alpha * sum of a^2 over n neighbouring channels) ** beta."""
    import keras
    import torch

    from companion.keras.cnn import LocalResponseNormalization

    x = _x((2, 7, 3, 3)) * 3
    sq = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    ref = x / (2.0 + 1e-4 * sum(sq[:, i:i + 7] for i in range(5))) ** 0.75
    k = LocalResponseNormalization()(parity.to_channels_last(x))
    np.testing.assert_allclose(parity.to_channels_first(keras.ops.convert_to_numpy(k)), ref, atol=1e-6)
    t = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(t, ref, atol=1e-6)   # PyTorch's alpha is divided by n = 5


# ---------------------------------------------------------------- training extensions

def test_cosine_schedule_values():
    from companion.schedules import scheduled_lr

    assert scheduled_lr(0.1, 0, 10, "constant") == scheduled_lr(0.1, 9, 10, "constant") == 0.1
    assert scheduled_lr(0.1, 0, 10, "cosine") == pytest.approx(0.1)
    assert scheduled_lr(0.1, 5, 10, "cosine") == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown schedule"):
        scheduled_lr(0.1, 0, 10, "step")


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_training_with_augmentation_and_cosine_schedule(framework):
    import importlib
    from functools import partial

    import companion
    from companion import data

    fw = importlib.import_module(f"companion.{framework}")
    split = data.shapes(160, seed=0)
    if framework == "keras":
        split = data.channels_last(split)
    layout = "NCHW" if framework == "torch" else "NHWC"
    calls = []

    def augment(x, rng):
        calls.append(x.shape)
        return data.random_flip(data.random_shift(x, rng, 1, layout=layout), rng, layout=layout)

    companion.set_seed(0)
    model = fw.SmallAlexNet(width=4, hidden=16, num_classes=4)
    h = fw.train(model, split.train, split.val, epochs=3, batch_size=32, lr=3e-3,
                 augment=augment, schedule="cosine", progress=False)
    assert set(h) == {"loss", "val_loss", "accuracy", "val_accuracy"} and len(h["loss"]) == 3
    assert len(calls) >= 3 * (len(split.y_train) // 32)           # every batch was augmented
    assert all(s[1:] == split.x_train.shape[1:] for s in calls)
    with pytest.raises(ValueError, match="unknown schedule"):
        fw.train(model, split.train, epochs=1, schedule="step", progress=False)


def test_random_shift_and_flip_keep_shapes_and_content():
    from companion import data

    rng = np.random.default_rng(0)
    x = np.zeros((5, 1, 8, 8), np.float32)
    x[:, :, 4, 4] = 1.0
    shifted = data.random_shift(x, rng, max_shift=2)
    assert shifted.shape == x.shape and np.allclose(shifted.sum(axis=(1, 2, 3)), 1.0)
    flipped = data.random_flip(x.transpose(0, 2, 3, 1), rng, layout="NHWC")
    assert flipped.shape == (5, 8, 8, 1) and np.allclose(flipped.sum(axis=(1, 2, 3)), 1.0)
    with pytest.raises(ValueError, match="unknown layout"):
        data.random_shift(x, rng, layout="CHW")


# ---------------------------------------------------------------- AlexNet chapter

@pytest.mark.parametrize("size", [5, 3])
def test_numpy_local_response_norm_matches_torch_and_keras(size):
    """The NumPy reference follows the paper; PyTorch needs alpha * n, Keras does not."""
    import keras
    import torch

    from companion.keras.cnn import LocalResponseNormalization
    from companion.numpy.cnn import local_response_norm

    x = _x((2, 9, 4, 4)) * 20             # large activations, so the normalization matters
    ref = local_response_norm(x, size=size)
    assert not np.allclose(ref, x / 2.0 ** 0.75, atol=1e-3)        # the sum term is active
    t = torch.nn.LocalResponseNorm(size, alpha=size * 1e-4, beta=0.75, k=2.0)(torch.from_numpy(x))
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-5, atol=1e-6)
    wrong = torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=2.0)(torch.from_numpy(x))
    assert not np.allclose(wrong.numpy(), ref, rtol=1e-4)          # forgetting the / n differs
    k = LocalResponseNormalization(size=size)(parity.to_channels_last(x))
    np.testing.assert_allclose(parity.to_channels_first(keras.ops.convert_to_numpy(k)), ref,
                               rtol=1e-5, atol=1e-6)


def test_numpy_local_response_norm_rejects_bad_input():
    from companion.numpy.cnn import local_response_norm

    with pytest.raises(ValueError, match=r"\(batch, channels, height, width\)"):
        local_response_norm(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="size must be a positive integer"):
        local_response_norm(np.zeros((1, 3, 4, 4)), size=0)


def test_alexnet_layer_sizes_by_hand_match_both_frameworks():
    """227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6, and 224 does not give 55."""
    from companion.keras import AlexNet as K
    from companion.torch import AlexNet as T

    steps = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    size, sizes = 227, []
    for k, s, p in steps:
        size = cnp.output_size(size, k, s, p)
        sizes.append(size)
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert cnp.output_size(224, 11, 4) == 54
    t, k = T(num_classes=10, lrn=False), K(num_classes=10, lrn=False)
    assert t.features(__import__("torch").zeros(1, 3, 227, 227)).shape == (1, 256, 6, 6)
    assert tuple(k.features.compute_output_shape((1, 227, 227, 3))) == (1, 6, 6, 256)
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    by_hand = sum(cnp.conv_parameter_count(i, o, k) for i, o, k in convs)
    assert by_hand == sum(p.numel() for p in t.features.parameters()) == 3_747_200


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_small_alexnet_he_initialization(framework):
    import importlib

    import keras

    fw = importlib.import_module(f"companion.{framework}")
    model = fw.SmallAlexNet(in_channels=1, num_classes=10, width=8, hidden=256, init="he")
    if framework == "torch":
        weights = [layer.weight.detach().numpy() for layer in parity.torch_layers(model)]
        biases = [layer.bias.detach().numpy() for layer in parity.torch_layers(model)]
        fan_ins = [w[0].size for w in weights]
    else:
        layers = parity.keras_layers(model)
        weights = [keras.ops.convert_to_numpy(layer.kernel) for layer in layers]
        biases = [keras.ops.convert_to_numpy(layer.bias) for layer in layers]
        fan_ins = [int(np.prod(w.shape[:-1])) for w in weights]
    assert len(weights) == 8
    for w, b, fan_in in zip(weights, biases, fan_ins):
        target = np.sqrt(2.0 / fan_in)
        tolerance = 0.25 if w.size > 2000 else 0.5          # sampling noise of small layers
        assert abs(w.std() / target - 1) < tolerance, (w.shape, w.std(), target)
        assert np.all(b == 0)
    default = fw.SmallAlexNet(in_channels=1, num_classes=10, width=8, hidden=256)
    first = parity.torch_layers(default)[0].weight.detach().numpy() if framework == "torch" \
        else keras.ops.convert_to_numpy(parity.keras_layers(default)[0].kernel)
    assert first.std() < 0.8 * np.sqrt(2.0 / 25)                  # the default scale is smaller
    with pytest.raises(ValueError, match="init"):
        fw.SmallAlexNet(init="xavier")


# ---------------------------------------------------------------- pre-activation block

@pytest.mark.parametrize("in_ch, out_ch, stride", [(4, 4, 1), (4, 6, 2)])
def test_preact_block_matches_hand_composed_order(in_ch, out_ch, stride):
    """BN -> ReLU -> conv -> BN -> ReLU -> conv + (x or 1x1 conv of the pre-activated x)."""
    import torch
    import torch.nn.functional as F

    from companion.torch.cnn import PreActBlock

    torch.manual_seed(0)
    block = PreActBlock(in_ch, out_ch, stride=stride).eval()
    for bn in (block.bn1, block.bn2):           # non-trivial statistics and affine terms
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
    x = torch.from_numpy(_x((3, in_ch, 8, 8)))

    def bn(z, layer):
        return F.batch_norm(z, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                            training=False, eps=1e-5)

    a = F.relu(bn(x, block.bn1))
    h = F.conv2d(a, block.conv1.weight, stride=stride, padding=1)
    h = F.conv2d(F.relu(bn(h, block.bn2)), block.conv2.weight, padding=1)
    if in_ch == out_ch and stride == 1:
        assert block.shortcut is None
        expected = h + x                                        # the identity, untouched
    else:
        assert block.shortcut.weight.shape == (out_ch, in_ch, 1, 1)
        expected = h + F.conv2d(a, block.shortcut.weight, stride=stride)  # from a, not x
    with torch.no_grad():
        out = block(x)
    assert out.shape == (3, out_ch, 8 // stride, 8 // stride)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-5)
    assert (out < 0).any()                                      # no ReLU after the addition


def test_preact_identity_block_passes_x_when_residual_branch_is_zero():
    """With the last conv zeroed, a stack of identity pre-activation blocks is the identity."""
    import keras
    import torch

    from companion.keras.cnn import PreActBlock as KBlock
    from companion.torch.cnn import PreActBlock as TBlock

    torch.manual_seed(0)
    blocks = [TBlock(5, 5).eval() for _ in range(3)]
    for b in blocks:
        torch.nn.init.zeros_(b.conv2.weight)
    x = torch.from_numpy(_x((2, 5, 6, 6)))
    out = x
    with torch.no_grad():
        for b in blocks:
            out = b(out)
    np.testing.assert_array_equal(out.numpy(), x.numpy())        # a post-activation block would clip
    k = KBlock(5, 5)
    parity.copy_torch_to_keras(blocks[0], k)
    y = keras.ops.convert_to_numpy(k(parity.to_channels_last(x.numpy())))
    np.testing.assert_array_equal(parity.to_channels_first(y), x.numpy())
    with pytest.raises(ValueError, match=r"\(batch"):
        blocks[0](torch.zeros(2, 4, 6, 6))
