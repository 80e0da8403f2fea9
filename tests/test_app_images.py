"""The image-classification study (book/applications/image_classification.md): the
most-confused pairs, their picture, and the transfer-learning helpers of both frameworks."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

import keras  # noqa: E402

import companion  # noqa: E402
import companion.keras as ck  # noqa: E402
import companion.torch as ct  # noqa: E402
from companion import plots  # noqa: E402
from companion.numpy import metrics  # noqa: E402
from companion.keras import hybrid as kh  # noqa: E402
from companion.keras import transfer as ktransfer  # noqa: E402
from companion.torch import hybrid as th  # noqa: E402
from companion.torch import transfer as ttransfer  # noqa: E402

LENET = dict(in_channels=1, num_classes=5, activation="relu", pooling="max")
RESNET = dict(block="basic", layers=(1, 1), width=4, in_channels=1, num_classes=5, stem="small")


def _images(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 32, 32), dtype=np.float32), rng.integers(0, 5, n)


# ------------------------------------------------------------------ most-confused pairs

def test_most_confused_matches_the_confusion_matrix_of_scikit_learn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 6, 300))
    cm = confusion_matrix(y_true, y_pred, labels=range(6))
    np.fill_diagonal(cm, 0)
    pairs = metrics.most_confused(y_true, y_pred, top=5)
    assert [c for _, _, c in pairs] == sorted(cm.ravel(), reverse=True)[:5]
    for a, b, count in pairs:
        assert a != b and cm[a, b] == count


def test_most_confused_orders_ties_by_class_and_leaves_out_empty_cells():
    y_true = np.array([4, 4, 9, 9, 7, 1, 1])
    y_pred = np.array([9, 9, 4, 4, 7, 7, 1])
    assert metrics.most_confused(y_true, y_pred, top=10) == [(4, 9, 2), (9, 4, 2), (1, 7, 1)]
    assert metrics.most_confused(y_true, y_true) == []


@pytest.mark.parametrize("y_true, y_pred, top, message", [
    ([0, 1], [0, 1, 1], 3, "same length"),
    ([0.0, 1.0], [0, 1], 3, "integer"),
    ([0, -1], [0, 1], 3, "non-negative"),
    ([[0, 1]], [[0, 1]], 3, "1-D"),
    ([0, 1], [1, 0], 0, "positive integer"),
])
def test_most_confused_rejects_bad_input(y_true, y_pred, top, message):
    with pytest.raises(ValueError, match=message):
        metrics.most_confused(np.array(y_true), np.array(y_pred), top=top)


def test_plot_confused_pairs_shows_one_row_per_pair_with_the_right_images():
    images = np.zeros((6, 1, 8, 8), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(6)                 # a tag pixel per image
    y_true, y_pred = np.array([4, 4, 7, 4, 7, 1]), np.array([9, 4, 1, 9, 1, 1])
    pairs = metrics.most_confused(y_true, y_pred)
    fig = plots.plot_confused_pairs(images, y_true, y_pred, pairs, per_pair=3)
    axes = np.array(fig.axes).reshape(len(pairs), 3)
    shown = [[int(ax.images[0].get_array()[0, 0]) for ax in row if ax.images] for row in axes]
    assert pairs == [(4, 9, 2), (7, 1, 2)] and shown == [[0, 3], [2, 4]]
    assert "4 read as 9" in axes[0, 0].get_ylabel()
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="pairs is empty"):
        plots.plot_confused_pairs(images, y_true, y_true, [])
    with pytest.raises(ValueError, match="same length"):
        plots.plot_confused_pairs(images[:3], y_true, y_pred, pairs)


# ------------------------------------------------------------------ transfer, PyTorch

@pytest.mark.parametrize("make, head", [
    (lambda: ct.LeNet5(**LENET), lambda m: m.classifier[-1]),
    (lambda: ct.ResNet(**RESNET), lambda m: m.head[-1]),
    (lambda: th.CoAtNet(1, 5, 16, "CT", (8, 16), (1, 1), 8, 8, 1), lambda m: m.head),
])
def test_torch_output_layer_is_the_classifier_head(make, head):
    model = make()
    assert ttransfer.output_layer(model) is head(model)


def test_torch_copy_body_copies_everything_but_the_head():
    torch.manual_seed(0)
    source, target = ct.ResNet(**dict(RESNET, num_classes=10)), ct.ResNet(**RESNET)
    source.train()
    with torch.no_grad():                             # give BN non-default running statistics
        source(torch.randn(8, 1, 12, 12) * 3 + 1)
    head_before = target.head[-1].weight.detach().clone()
    assert ttransfer.copy_body(source, target) == len(source.state_dict()) - 2
    src, tgt = source.state_dict(), target.state_dict()
    for key in src:
        if not key.startswith("head."):
            assert torch.equal(src[key], tgt[key]), key
    assert torch.equal(target.head[-1].weight, head_before)
    x = torch.randn(3, 1, 12, 12)
    source.eval(), target.eval()
    with torch.no_grad():                             # the same features under both heads
        torch.testing.assert_close(source.head[:-1](source.stages(source.stem(x))),
                                   target.head[:-1](target.stages(target.stem(x))))


def test_torch_copy_body_refuses_different_bodies():
    with pytest.raises(ValueError, match="shape"):
        ttransfer.copy_body(ct.ResNet(**RESNET), ct.ResNet(**dict(RESNET, width=8)))
    with pytest.raises(ValueError, match="bodies differ"):
        ttransfer.copy_body(ct.ResNet(**RESNET), ct.ResNet(**dict(RESNET, layers=(1, 1, 1))))
    with pytest.raises(ValueError, match="nn.Linear"):
        ttransfer.output_layer(torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="torch.nn.Module"):
        ttransfer.output_layer(ck.LeNet5())


def test_torch_freeze_body_trains_only_the_head_and_the_loss_goes_down():
    x, y = _images()
    companion.set_seed(0)
    model = ct.LeNet5(**LENET)
    assert ttransfer.freeze_body(model) == 84 * 5 + 5
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("classifier.3")}
    head = model.classifier[3].weight.detach().clone()
    history = ct.train(model, (x, y), epochs=15, lr=1e-2, batch_size=10, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    for key, value in body.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert not torch.equal(model.classifier[3].weight, head)
    assert ttransfer.unfreeze(model) == sum(p.numel() for p in model.parameters()) == 61281


# ------------------------------------------------------------------ transfer, Keras

@pytest.mark.parametrize("make, head", [
    (lambda: ck.LeNet5(**LENET), lambda m: m.classifier.layers[-1]),
    (lambda: ck.ResNet(**RESNET), lambda m: m.head.layers[-1]),
    (lambda: kh.CoAtNet(1, 5, 16, "CT", (8, 16), (1, 1), 8, 8, 1), lambda m: m.head),
])
def test_keras_output_layer_is_the_classifier_head(make, head):
    model = make()
    assert ktransfer.output_layer(model) is head(model)


def test_keras_copy_body_copies_everything_but_the_head_with_bn_statistics():
    companion.set_seed(0)
    source, target = ck.ResNet(**dict(RESNET, num_classes=10)), ck.ResNet(**RESNET)
    source(np.random.default_rng(0).normal(1, 3, (8, 12, 12, 1)).astype("float32"), training=True)
    head_before = keras.ops.convert_to_numpy(ktransfer.output_layer(target).kernel).copy()
    assert ktransfer.copy_body(source, target) == len(source.weights) - 2
    head_ids = {id(w) for w in ktransfer.output_layer(source).weights}
    body = [w for w in source.weights if id(w) not in head_ids]
    moving = [w for w in body if "moving" in w.path]
    assert moving and not all(np.allclose(keras.ops.convert_to_numpy(w), 0) for w in moving)
    tgt_body = [w for w in target.weights if id(w) not in
                {id(v) for v in ktransfer.output_layer(target).weights}]
    for s, t in zip(body, tgt_body):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(s), keras.ops.convert_to_numpy(t))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ktransfer.output_layer(target).kernel),
                                  head_before)


def test_keras_copy_body_refuses_different_bodies():
    with pytest.raises(ValueError, match="shape"):
        ktransfer.copy_body(ck.ResNet(**RESNET), ck.ResNet(**dict(RESNET, width=8)))
    with pytest.raises(ValueError, match="bodies differ"):
        ktransfer.copy_body(ck.ResNet(**RESNET), ck.ResNet(**dict(RESNET, layers=(1, 1, 1))))
    with pytest.raises(ValueError, match="keras.Model"):
        ktransfer.output_layer(ct.LeNet5())


def test_keras_freeze_body_trains_only_the_head_and_the_loss_goes_down():
    x, y = _images()
    x = x.transpose(0, 2, 3, 1)
    companion.set_seed(0)
    model = ck.LeNet5(**LENET)
    assert ktransfer.freeze_body(model) == 84 * 5 + 5
    head = ktransfer.output_layer(model)
    body = [(w, keras.ops.convert_to_numpy(w).copy()) for w in model.weights
            if id(w) not in {id(v) for v in head.weights}]
    head_before = keras.ops.convert_to_numpy(head.kernel).copy()
    history = ck.train(model, (x, y), epochs=15, lr=1e-2, batch_size=10, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    for w, value in body:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), value, err_msg=w.path)
    assert not np.allclose(keras.ops.convert_to_numpy(head.kernel), head_before)
    assert ktransfer.unfreeze(model) == 61281


def test_keras_unfreeze_leaves_batch_norm_statistics_alone():
    model = ck.ResNet(**RESNET)
    trainable = len(model.trainable_weights)
    ktransfer.freeze_body(model)
    assert len(model.trainable_weights) == 2
    ktransfer.unfreeze(model)
    assert len(model.trainable_weights) == trainable
    assert all(not w.trainable for w in model.weights if "moving" in w.path)


def test_both_frameworks_freeze_and_copy_the_same_amount():
    pairs = [(ct.LeNet5(**LENET), ck.LeNet5(**LENET)), (ct.ResNet(**RESNET), ck.ResNet(**RESNET))]
    for t, k in pairs:
        assert ttransfer.freeze_body(t) == ktransfer.freeze_body(k)
        assert ttransfer.unfreeze(t) == ktransfer.unfreeze(k)
