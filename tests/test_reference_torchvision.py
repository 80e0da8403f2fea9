"""The book's ResNet-18 and AlexNet against the field's reference code, torchvision.

Parity tests prove that the PyTorch and Keras twins compute the same function.
These tests prove more: that ``companion.torch`` builds the *same network* as
``torchvision.models``, by copying torchvision's weights into the companion's
model (a readable key mapping, below) and comparing the outputs in eval mode.

Where the tests run:

* **Everywhere (CPU included):** the recorded reference numbers. torchvision's
  key names and tensor shapes are written out below from its source
  (``torchvision/models/resnet.py``, ``alexnet.py``), and the mapping must
  cover every key with matching shapes, so a mistake in the mapping fails
  without torchvision installed.
* **Where torchvision imports (the GPU workflow, ``.github/workflows/gpu.yml``):**
  the live weight copy. PyPI's ``torchvision`` wheel is built against PyPI's
  CUDA ``torch``; beside the CPU build of torch that the book installs
  (``torch==2.13.0+cpu``) it fails to load its compiled operators, and its
  presence breaks ``transformers``' imports. So it is kept out of the CPU
  environment and these tests say so when they skip. ``REQUIRE_TORCHVISION=1``
  (set by the GPU workflow) turns the skip into a failure.
"""
from __future__ import annotations

import os
import re

import pytest
import torch

from companion import parity

SKIP_REASON = (
    "torchvision is not installed: PyPI's torchvision does not load beside the CPU build "
    "of torch used here (and breaks transformers' imports), so the live comparison with "
    "torchvision.models runs in the GPU workflow (.github/workflows/gpu.yml), which installs "
    "matching CUDA builds of torch and torchvision"
)

# Recorded from torchvision (weights=None, 1000 classes): sum(p.numel() for p in m.parameters()).
TORCHVISION_RESNET18_PARAMETERS = 11_689_512
TORCHVISION_RESNET50_PARAMETERS = 25_557_032
TORCHVISION_ALEXNET_PARAMETERS = 61_100_840


def _torchvision():
    """Import torchvision, or skip with the reason (fail under REQUIRE_TORCHVISION=1)."""
    if os.environ.get("REQUIRE_TORCHVISION") == "1":
        import torchvision  # an ImportError here fails the test, as it should on the GPU runner

        return torchvision
    try:
        return pytest.importorskip("torchvision", reason=SKIP_REASON)
    except (ImportError, RuntimeError, OSError) as exc:  # installed, but built for another torch
        pytest.skip(f"{SKIP_REASON} (it is installed but failed to import: {exc})")


# ---------------------------------------------------------------- torchvision's names, recorded

def _bn(prefix: str, channels: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,),
            f"{prefix}.running_mean": (channels,), f"{prefix}.running_var": (channels,),
            f"{prefix}.num_batches_tracked": ()}


def torchvision_resnet18_shapes() -> dict[str, tuple]:
    """torchvision's ``resnet18().state_dict()`` key names and shapes.

    torchvision names the stem ``conv1``/``bn1``, the four stages ``layer1`` to
    ``layer4`` (two BasicBlocks each, with ``conv1, bn1, conv2, bn2`` and, when
    the shape changes, ``downsample.0`` (1x1 conv) and ``downsample.1`` (BN)),
    and the classifier ``fc``.
    """
    shapes = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    c_in = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (c, c_in, 3, 3)
            shapes.update(_bn(f"{p}.bn1", c))
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            shapes.update(_bn(f"{p}.bn2", c))
            if c_in != c:
                shapes[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", c))
            c_in = c
    shapes["fc.weight"], shapes["fc.bias"] = (1000, 512), (1000,)
    return shapes


# torchvision's ``alexnet().state_dict()``: the "one weird trick" variant
# (Krizhevsky 2014), features at indices 0, 3, 6, 8, 10 and Linear layers at
# classifier.1, .4, .6 (classifier.0 and .3 are Dropout).
TORCHVISION_ALEXNET_SHAPES = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}


# ---------------------------------------------------------------- the mappings

def resnet_key_to_torchvision(key: str) -> str:
    """companion.torch.ResNet state-dict key -> torchvision.models.resnet key.

    ``stem.0`` conv -> ``conv1``; ``stem.1`` BN -> ``bn1``;
    ``stages.i.j.<name>`` -> ``layer{i+1}.j.<name>`` (block attributes
    ``conv1, bn1, conv2, bn2, conv3, bn3`` have the same names);
    ``stages.i.j.shortcut.k`` -> ``layer{i+1}.j.downsample.k``; ``head.2`` -> ``fc``.
    """
    rules = [
        (r"^stem\.0\.", "conv1."),
        (r"^stem\.1\.", "bn1."),
        (r"^head\.2\.", "fc."),
        (r"^stages\.(\d+)\.(\d+)\.shortcut\.", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample."),
        (r"^stages\.(\d+)\.(\d+)\.", lambda m: f"layer{int(m[1]) + 1}.{m[2]}."),
    ]
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"no torchvision name for the companion key {key!r}")


# The companion's AlexNet (lrn=True) has, in features: conv 0, relu, LRN, pool,
# conv 4, relu, LRN, pool, conv 8, relu, conv 10, relu, conv 12, relu, pool;
# in classifier: Flatten 0, Dropout, Linear 2, ReLU, Dropout, Linear 5, ReLU, Linear 7.
ALEXNET_LAYERS = {"features.0": "features.0", "features.4": "features.3",
                  "features.8": "features.6", "features.10": "features.8",
                  "features.12": "features.10", "classifier.2": "classifier.1",
                  "classifier.5": "classifier.4", "classifier.7": "classifier.6"}


def alexnet_key_to_torchvision(key: str) -> str:
    """companion.torch.AlexNet (lrn=True) state-dict key -> torchvision.models.alexnet key."""
    layer, _, tensor = key.rpartition(".")
    return f"{ALEXNET_LAYERS[layer]}.{tensor}"


def from_torchvision(model: torch.nn.Module, reference_state: dict, key_map) -> None:
    """Load a torchvision state dict into a companion model; every key used exactly once."""
    own = model.state_dict()
    names = {key: key_map(key) for key in own}
    assert sorted(names.values()) == sorted(reference_state), "the mapping must be one-to-one"
    model.load_state_dict({key: reference_state[name] for key, name in names.items()}, strict=True)


def _resnet18():
    from companion.torch import ResNet

    return ResNet("basic", (2, 2, 2, 2), num_classes=1000)


def _alexnet():
    from companion.torch import AlexNet

    return AlexNet(num_classes=1000, groups=1)   # the single tower


def _count(model_or_shapes) -> int:
    if isinstance(model_or_shapes, dict):   # recorded shapes: learned tensors only
        return sum(torch.Size(s).numel() for k, s in model_or_shapes.items()
                   if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    return sum(p.numel() for p in model_or_shapes.parameters())


# ---------------------------------------------------------------- on every machine

def test_resnet18_mapping_covers_every_torchvision_key_with_matching_shapes():
    model = _resnet18()
    mapped = {resnet_key_to_torchvision(k): tuple(v.shape) for k, v in model.state_dict().items()}
    assert mapped == torchvision_resnet18_shapes()
    assert _count(torchvision_resnet18_shapes()) == TORCHVISION_RESNET18_PARAMETERS


def test_resnet18_parameter_count_equals_torchvisions():
    assert _count(_resnet18()) == parity.trainable_parameters(_resnet18()) \
        == TORCHVISION_RESNET18_PARAMETERS


def test_resnet_mapping_rejects_unknown_keys():
    with pytest.raises(KeyError, match="no torchvision name"):
        resnet_key_to_torchvision("body.0.weight")


def test_alexnet_is_the_papers_network_not_torchvisions_variant():
    """Why the single-tower AlexNet has 62,378,344 parameters and torchvision's 61,100,840.

    torchvision implements the "one weird trick" AlexNet (Krizhevsky 2014,
    arXiv:1404.5997), not the 2012 paper's: its five convolutions have 64,
    192, 384, 256, 256 filters (the paper: 96, 256, 384, 384, 256), its first
    convolution pads by 2 (input 224), it has no local response normalization
    (LRN has no parameters, so that does not change the count) and it puts an
    AdaptiveAvgPool2d((6, 6)) before the classifier (also parameter-free, and
    the identity on the 6x6 maps that both networks produce). The fully
    connected classifier, 58,631,144 of the parameters, is the same layer for
    layer; the whole difference, 1,277,504 parameters, is in the convolutions.
    So the companion's AlexNet cannot load torchvision's weights as a whole;
    the live test below copies and compares the classifier, which is shared.
    """
    model = _alexnet()
    mapped = {alexnet_key_to_torchvision(k): tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(mapped) == sorted(TORCHVISION_ALEXNET_SHAPES)      # one layer for each layer
    weights = {k for k in mapped if k.endswith(".weight")}
    same = {k for k in weights if mapped[k] == TORCHVISION_ALEXNET_SHAPES[k]}
    assert same == {k for k in weights if k.startswith("classifier.")}   # all three Linear layers
    assert {k for k in weights - same} == {f"features.{i}.weight" for i in (0, 3, 6, 8, 10)}

    def count(shapes, part):
        return sum(torch.Size(s).numel() for k, s in shapes.items() if k.startswith(part))

    assert _count(TORCHVISION_ALEXNET_SHAPES) == TORCHVISION_ALEXNET_PARAMETERS
    assert count(mapped, "classifier") == count(TORCHVISION_ALEXNET_SHAPES, "classifier") \
        == 58_631_144
    assert count(mapped, "features") == 3_747_200
    assert count(TORCHVISION_ALEXNET_SHAPES, "features") == 2_469_696
    assert _count(model) == 62_378_344 == TORCHVISION_ALEXNET_PARAMETERS + 1_277_504


# ---------------------------------------------------------------- live, where torchvision imports

def _randomize_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics, so that a swapped BN layer cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("name, block, layers, expected", [
    ("resnet18", "basic", (2, 2, 2, 2), TORCHVISION_RESNET18_PARAMETERS),
    ("resnet50", "bottleneck", (3, 4, 6, 3), TORCHVISION_RESNET50_PARAMETERS),
])
def test_resnet_equals_torchvision_with_copied_weights(name, block, layers, expected):
    tv = _torchvision()
    from companion.torch import ResNet

    torch.manual_seed(0)
    reference = getattr(tv.models, name)(weights=None).eval()
    _randomize_batch_norm(reference)
    model = ResNet(block, layers, num_classes=1000).eval()
    assert _count(model) == _count(reference) == expected
    if name == "resnet18":
        assert {k: tuple(v.shape) for k, v in reference.state_dict().items()} \
            == torchvision_resnet18_shapes()          # the recorded names are still torchvision's
    from_torchvision(model, reference.state_dict(), resnet_key_to_torchvision)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-5)


def test_alexnet_classifier_equals_torchvisions_with_copied_weights():
    tv = _torchvision()

    torch.manual_seed(0)
    reference = tv.models.alexnet(weights=None).eval()
    model = _alexnet().eval()
    assert _count(reference) == TORCHVISION_ALEXNET_PARAMETERS
    assert {k: tuple(v.shape) for k, v in reference.state_dict().items()} \
        == TORCHVISION_ALEXNET_SHAPES
    classifier = {k: v for k, v in reference.state_dict().items() if k.startswith("classifier.")}
    own = {k: classifier[alexnet_key_to_torchvision(k)]
           for k in model.state_dict() if k.startswith("classifier.")}
    model.load_state_dict(own, strict=False)
    # Both feature extractors end in 256 maps of 6x6 (torchvision from 224, the paper from 227).
    x224 = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    x227 = torch.randn(2, 3, 227, 227, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert reference.features(x224).shape == model.features(x227).shape == (2, 256, 6, 6)
        maps = torch.randn(2, 256, 6, 6, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(reference.avgpool(maps), maps)   # identity at 6x6
        expected = reference.classifier(torch.flatten(reference.avgpool(maps), 1))
        torch.testing.assert_close(model.classifier(maps), expected, rtol=0, atol=1e-5)
