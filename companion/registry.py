"""The registry of the book's models: every model, where it lives, how to build it.

Tests iterate over ``MODELS`` (parity, bad input, chapter structure), so a
model that is added to ``companion`` and registered here is checked
automatically. Classes are named as ``"module:Class"`` strings so that reading
the registry imports neither framework.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str                 # class name, identical in both frameworks
    family: str               # feedforward, cnn, rnn, autoencoders, transformers, ...
    chapter: str              # the chapter's source file, relative to the repository
    module: str               # module name inside companion.torch / companion.keras
    kwargs: dict = field(default_factory=dict)   # a small configuration for tests
    input_shape: tuple = ()   # a valid input shape (PyTorch's layout for images)
    bad_input_shape: tuple = ()  # an input shape the model must reject
    in_depth: bool = True     # False: a short variant in a family overview (no ten lenses)
    # The shape the error message names, when it is not simply input_shape with
    # "batch" first: a recurrent model takes any number of steps, so it says
    # "(batch, steps, 3)" rather than "(batch, 6, 3)".
    expected_shape: str = ""
    layout: str = "features"  # "features": (batch, n), same in both; "NCHW": images;
    #                           "NCL": signals, (batch, channels, length) in PyTorch and
    #                           (batch, length, channels) in Keras
    any_size: bool = False    # images: the model accepts any height and width
    parity_atol: float = 1e-5  # float32 tolerance of the parity test (deep nets: 1e-4)
    # "float": the input is real-valued (normal noise in tests); "tokens": the
    # input is integer token ids in [0, vocab_size) (language models, Part VI).
    input_kind: str = "float"
    vocab_size: int = 0

    def __post_init__(self):
        if self.layout not in ("features", "NCHW", "NCL"):
            raise ValueError(f"{self.name}: layout must be 'features', 'NCHW' or 'NCL', "
                             f"got {self.layout!r}")
        if self.input_kind not in ("float", "tokens"):
            raise ValueError(f"{self.name}: input_kind must be 'float' or 'tokens', got {self.input_kind!r}")
        if self.input_kind == "tokens" and self.vocab_size < 2:
            raise ValueError(f"{self.name}: a token model needs vocab_size >= 2")

    def example_input(self, framework: str = "torch", shape: tuple | None = None, seed: int = 0):
        """A NumPy input of ``shape`` (default ``input_shape``) in the framework's layout:
        float32 normal noise, or int64 token ids below ``vocab_size`` for token models."""
        import numpy as np

        shape = self.input_shape_for(framework, shape)
        rng = np.random.default_rng(seed)
        if self.input_kind == "tokens":
            return rng.integers(0, self.vocab_size, size=shape).astype(np.int64)
        return rng.normal(size=shape).astype(np.float32)

    def input_shape_for(self, framework: str, shape: tuple | None = None) -> tuple:
        """``input_shape`` (or ``shape``) in the framework's layout.

        Images are NCHW in PyTorch and NHWC in Keras, signals NCL and NLC;
        feature vectors are the same.
        """
        shape = tuple(self.input_shape if shape is None else shape)
        if self.layout == "NCHW" and framework == "keras":
            n, c, h, w = shape
            return (n, h, w, c)
        if self.layout == "NCL" and framework == "keras":
            n, c, length = shape
            return (n, length, c)
        return shape

    def expected_dims(self, framework: str) -> str:
        """What the model's error message must name after its opening ``(batch,``."""
        dims = self.input_shape_for(framework)[1:]
        if self.layout == "NCHW" and self.any_size:
            channels = self.input_shape[1]
            dims = (channels, "height", "width") if framework == "torch" else ("height", "width", channels)
        if self.layout == "NCL":        # signals of any length
            channels = self.input_shape[1]
            dims = (channels, "length") if framework == "torch" else ("length", channels)
        return ", ".join(str(d) for d in dims)

    def expected(self, framework: str = "torch") -> str:
        """The ``(batch, ...)`` text that the model's bad-input error must contain."""
        if self.expected_shape:
            return self.expected_shape
        return f"(batch, {self.expected_dims(framework)})"

    def _load(self, framework: str):
        module = importlib.import_module(f"companion.{framework}.{self.module}")
        return getattr(module, self.name)

    def torch_class(self):
        return self._load("torch")

    def keras_class(self):
        return self._load("keras")


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="MLP", family="feedforward", chapter="book/feedforward/mlp.md",
        module="feedforward",
        kwargs=dict(in_features=12, hidden=(16, 8), out_features=5, activation="tanh"),
        input_shape=(7, 12), bad_input_shape=(7, 11),
    ),
    ModelSpec(
        name="Perceptron", family="feedforward", chapter="book/feedforward/perceptron.md",
        module="feedforward", kwargs=dict(in_features=3),
        input_shape=(7, 3), bad_input_shape=(7, 2),
    ),
    ModelSpec(
        name="RBFNetwork", family="feedforward", chapter="book/feedforward/rbf.md",
        module="feedforward", kwargs=dict(in_features=2, n_centers=6, out_features=3),
        input_shape=(7, 2), bad_input_shape=(7, 3),
    ),
    ModelSpec(
        name="ExtremeLearningMachine", family="feedforward", chapter="book/feedforward/index.md",
        module="feedforward", in_depth=False, kwargs=dict(in_features=6, hidden=10, out_features=3),
        input_shape=(7, 6), bad_input_shape=(7, 5),
    ),
    ModelSpec(
        name="FunctionalLinkNet", family="feedforward", chapter="book/feedforward/index.md",
        module="feedforward", in_depth=False, kwargs=dict(in_features=2, out_features=2, order=3),
        input_shape=(7, 2), bad_input_shape=(7, 4),
    ),
    ModelSpec(
        name="HighwayNetwork", family="feedforward", chapter="book/feedforward/index.md",
        module="feedforward", in_depth=False, kwargs=dict(in_features=8, width=6, depth=3, out_features=4),
        input_shape=(7, 8), bad_input_shape=(7, 6),
    ),
    # Part IV: recurrent networks. Inputs are (batch, steps, features).
    ModelSpec(
        name="SimpleRNN", family="rnn", chapter="book/rnn/simple_rnn.md", module="rnn",
        kwargs=dict(input_size=3, hidden_size=5, output_size=2),
        input_shape=(4, 6, 3), bad_input_shape=(4, 6, 2), expected_shape="(batch, steps, 3)",
    ),
    ModelSpec(
        name="LSTM", family="rnn", chapter="book/rnn/lstm.md", module="rnn",
        kwargs=dict(input_size=3, hidden_size=5, output_size=2, return_sequences=True),
        input_shape=(4, 6, 3), bad_input_shape=(4, 6), expected_shape="(batch, steps, 3)",
    ),
    ModelSpec(
        name="PeepholeLSTM", family="rnn", chapter="book/rnn/lstm.md", module="rnn",
        kwargs=dict(input_size=3, hidden_size=5, output_size=2),
        input_shape=(4, 6, 3), bad_input_shape=(4, 6, 4), expected_shape="(batch, steps, 3)",
    ),
    ModelSpec(
        name="GRU", family="rnn", chapter="book/rnn/gru.md", module="rnn",
        kwargs=dict(input_size=3, hidden_size=5, output_size=2),
        input_shape=(4, 6, 3), bad_input_shape=(4, 3), expected_shape="(batch, steps, 3)",
    ),
    ModelSpec(
        name="Seq2Seq", family="rnn", chapter="book/rnn/index.md", module="rnn",
        kwargs=dict(input_size=4, hidden_size=6, output_size=4, output_steps=5),
        input_shape=(3, 7, 4), bad_input_shape=(3, 7, 5), expected_shape="(batch, steps, 4)",
    ),
    # ---- part III: convolutional networks (images are NCHW in PyTorch, NHWC in Keras)
    ModelSpec(
        name="LeNet5", family="cnn", chapter="book/cnn/lenet5.md", module="cnn",
        kwargs=dict(in_channels=1, num_classes=10),
        input_shape=(3, 1, 32, 32), bad_input_shape=(3, 1, 28, 28), layout="NCHW",
    ),
    ModelSpec(
        name="ResNet", family="cnn", chapter="book/cnn/resnet.md", module="cnn",
        kwargs=dict(block="basic", layers=(1, 1, 1), num_classes=5, in_channels=3, width=4),
        input_shape=(2, 3, 32, 32), bad_input_shape=(2, 1, 32, 32), layout="NCHW",
        any_size=True, parity_atol=1e-4,
    ),
    ModelSpec(
        name="BasicBlock", family="cnn", chapter="book/cnn/resnet.md", module="cnn",
        kwargs=dict(in_channels=4, out_channels=8, stride=2),
        input_shape=(2, 4, 9, 9), bad_input_shape=(2, 5, 9, 9), layout="NCHW",
        any_size=True,
    ),
    ModelSpec(
        name="PreActBlock", family="cnn", chapter="book/cnn/resnet.md", module="cnn",
        kwargs=dict(in_channels=4, out_channels=8, stride=2),
        input_shape=(2, 4, 9, 9), bad_input_shape=(2, 5, 9, 9), layout="NCHW",
        any_size=True,
    ),
    ModelSpec(
        name="Bottleneck", family="cnn", chapter="book/cnn/resnet.md", module="cnn",
        kwargs=dict(in_channels=8, out_channels=4, stride=2),
        input_shape=(2, 8, 6, 6), bad_input_shape=(2, 4, 6, 6), layout="NCHW",
        any_size=True,
    ),
    ModelSpec(
        # Full size (about 58 million parameters with 10 classes): the generic
        # tests build it a dozen times, a few seconds in all.
        name="AlexNet", family="cnn", chapter="book/cnn/alexnet.md", module="cnn",
        kwargs=dict(num_classes=10, groups=2),
        input_shape=(1, 3, 227, 227), bad_input_shape=(1, 3, 224, 224), layout="NCHW",
        parity_atol=1e-4,
    ),
    ModelSpec(
        name="SmallAlexNet", family="cnn", chapter="book/cnn/alexnet.md", module="cnn",
        kwargs=dict(in_channels=3, num_classes=4, width=4, hidden=16),
        input_shape=(2, 3, 32, 32), bad_input_shape=(2, 3, 28, 28), layout="NCHW",
    ),
    ModelSpec(
        name="VGGBlock", family="cnn", chapter="book/cnn/index.md", module="cnn",
        kwargs=dict(in_channels=3, out_channels=6, num_convs=2),
        input_shape=(2, 3, 8, 10), bad_input_shape=(2, 4, 8, 10), layout="NCHW", any_size=True,
    ),
    ModelSpec(
        name="InceptionModule", family="cnn", chapter="book/cnn/index.md", module="cnn",
        kwargs=dict(in_channels=5, c1=4, c3_reduce=3, c3=6, c5_reduce=2, c5=3, pool_proj=2),
        input_shape=(2, 5, 7, 7), bad_input_shape=(2, 3, 7, 7), layout="NCHW", any_size=True,
    ),
    # ---- part V: autoencoders
    ModelSpec(
        name="Autoencoder", family="autoencoders", chapter="book/autoencoders/autoencoder.md",
        module="autoencoders", kwargs=dict(in_features=12, code_size=3, hidden=(8,)),
        input_shape=(5, 12), bad_input_shape=(5, 10),
    ),
    ModelSpec(
        name="DenoisingAutoencoder", family="autoencoders", chapter="book/autoencoders/denoising.md",
        module="autoencoders", kwargs=dict(in_features=12, code_size=16, hidden=(8,), noise=0.2),
        input_shape=(5, 12), bad_input_shape=(5, 11),
    ),
    ModelSpec(
        name="ConvAutoencoder", family="autoencoders", chapter="book/autoencoders/index.md",
        module="autoencoders", in_depth=False,
        kwargs=dict(in_channels=1, size=8, channels=(4, 6)),
        input_shape=(3, 1, 8, 8), bad_input_shape=(3, 1, 12, 12), layout="NCHW",
    ),
    ModelSpec(
        name="VAE", family="autoencoders", chapter="book/autoencoders/vae.md",
        module="autoencoders", kwargs=dict(in_features=12, code_size=2, hidden=(8,)),
        input_shape=(5, 12), bad_input_shape=(5, 13),
    ),

    # ---- part VIII: hybrid and advanced. Graph models are bound to a small graph
    # (a 5-ring with a pendant node 5) so that model(x) takes node features alone
    # (edges listed in both directions, companion.numpy.graph's format).
    *(
        ModelSpec(
            name=name, family="hybrid", chapter="book/hybrid/gnn.md", module="hybrid",
            kwargs=dict(in_features=3, hidden=(4,), out_features=2, heads=2,
                        edge_index=((0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 0, 5),
                                    (1, 0, 2, 1, 3, 2, 4, 3, 0, 4, 5, 0)),
                        num_nodes=6),
            input_shape=(6, 3), bad_input_shape=(6, 4), expected_shape="(nodes, 3)",
        )
        for name in ("GCN", "GraphSAGE", "GAT")
    ),
    ModelSpec(
        name="MBConv", family="hybrid", chapter="book/hybrid/coatnet.md", module="hybrid",
        kwargs=dict(in_channels=4, out_channels=8, stride=2),
        input_shape=(2, 4, 8, 8), bad_input_shape=(2, 3, 8, 8), layout="NCHW", any_size=True,
    ),
    ModelSpec(
        name="TransformerBlock", family="hybrid", chapter="book/hybrid/coatnet.md",
        module="hybrid", kwargs=dict(in_channels=8, out_channels=16, size=4, heads=2, downsample=True),
        input_shape=(2, 8, 4, 4), bad_input_shape=(2, 8, 6, 6), layout="NCHW",
    ),
    ModelSpec(
        name="CoAtNet", family="hybrid", chapter="book/hybrid/coatnet.md", module="hybrid",
        kwargs=dict(in_channels=3, num_classes=5, image_size=16, layout="CCT",
                    channels=(8, 8, 16), depths=(1, 1, 2), stem_channels=8,
                    head_dim=8, stem_stride=1),
        input_shape=(2, 3, 16, 16), bad_input_shape=(2, 3, 32, 32), layout="NCHW",
    ),
    ModelSpec(
        name="VisionTransformer", family="hybrid", chapter="book/hybrid/coatnet.md",
        module="hybrid", kwargs=dict(in_channels=3, num_classes=4, image_size=8, patch_size=2,
                                     dim=8, depth=2, heads=2),
        input_shape=(2, 3, 8, 8), bad_input_shape=(2, 1, 8, 8), layout="NCHW",
    ),
    # -- part VI (transformers): specs go here --
    ModelSpec(
        # GPT-2's layout at toy size: logits (batch, steps, vocab_size) for token ids.
        name="GPT", family="transformers", chapter="book/transformers/gpt.md", module="gpt",
        kwargs=dict(vocab_size=11, max_len=8, d_model=8, heads=2, layers=2),
        input_shape=(3, 6), bad_input_shape=(3, 6, 2), expected_shape="(batch, steps)",
        input_kind="tokens", vocab_size=11,
    ),
    # The encoder-decoder Transformer takes ONE input here: model(src_ids) decodes the
    # source shifted right behind bos_id (BART's convention when no target is given).
    ModelSpec(
        name="Transformer", family="transformers", chapter="book/transformers/transformer.md",
        module="transformers",
        kwargs=dict(src_vocab=13, tgt_vocab=13, d_model=16, heads=4, layers=2, d_ff=32,
                    max_len=12),
        input_shape=(2, 7), bad_input_shape=(2, 3, 7), expected_shape="(batch, steps)",
        input_kind="tokens", vocab_size=13,
    ),
    # ALBERT and DistilBERT (book/transformers/bert_variants.md): BERT's parts, shared or halved.
    *(
        ModelSpec(
            name=name, family="transformers", chapter="book/transformers/bert_variants.md",
            module="bert_variants", kwargs=dict(vocab_size=40, max_len=12, d_model=16, heads=2,
                                                layers=2, d_ff=32, **extra),
            input_shape=(2, 9), bad_input_shape=(2, 14), expected_shape="(batch, steps)",
            input_kind="tokens", vocab_size=40,
        )
        for name, extra in (("ALBERT", {"embedding_size": 8}), ("DistilBERT", {}),
                            ("DistilBERTClassifier", {"num_classes": 3}))
    ),
    # BERT (book/transformers/bert.md): token ids in, hidden states / logits out; the bad
    # input is longer than the position table (max_len=12).
    *(
        ModelSpec(
            name=name, family="transformers", chapter="book/transformers/bert.md",
            module="bert", kwargs=dict(vocab_size=40, max_len=12, d_model=16, heads=2,
                                       layers=2, d_ff=32, **extra),
            input_shape=(2, 9), bad_input_shape=(2, 14), expected_shape="(batch, steps)",
            input_kind="tokens", vocab_size=40,
        )
        for name, extra in (("BERT", {}), ("BERTForMaskedLM", {}),
                            ("BERTClassifier", {"num_classes": 3}))
    ),
    # -- part VII (generative): specs go here --
    # Diffusion noise predictors: model(x, t=None, labels=None); the generic tests call
    # model(x), which is t = 0 and (NoisePredictor) the null class of classifier-free guidance.
    ModelSpec(
        name="NoiseMLP", family="generative", chapter="book/generative/diffusion.md",
        module="diffusion", kwargs=dict(dim=2, hidden=8, depth=2, time_features=4, x_frequencies=2),
        input_shape=(5, 2), bad_input_shape=(5, 3),
    ),
    ModelSpec(
        name="NoisePredictor", family="generative", chapter="book/generative/diffusion.md",
        module="diffusion", kwargs=dict(in_features=12, num_classes=3, hidden=8, depth=2,
                                        time_features=4, label_features=3),
        input_shape=(5, 12), bad_input_shape=(5, 13),
    ),
    ModelSpec(
        # model(x) is z; model(x, return_log_det=True) is (z, log |det dz/dx|)
        name="RealNVP", family="generative", chapter="book/generative/index.md",
        module="flows", in_depth=False, kwargs=dict(dim=2, hidden=8, layers=4),
        input_shape=(5, 2), bad_input_shape=(5, 3),
    ),
    ModelSpec(
        name="EnergyMLP", family="generative", chapter="book/generative/index.md",
        module="flows", in_depth=False, kwargs=dict(dim=2, hidden=8),
        input_shape=(5, 2), bad_input_shape=(5, 3),
    ),
    ModelSpec(
        name="Generator", family="generative", chapter="book/generative/gan.md", module="gan",
        kwargs=dict(latent_dim=3, out_features=2, hidden=(8, 6)),
        input_shape=(5, 3), bad_input_shape=(5, 4),
    ),
    ModelSpec(
        name="Discriminator", family="generative", chapter="book/generative/gan.md", module="gan",
        kwargs=dict(in_features=2, hidden=(8, 6)),
        input_shape=(5, 2), bad_input_shape=(5, 3),
    ),
    ModelSpec(
        # the noise as a 1x1 image with latent_dim channels (flat (batch, 6) noise works too)
        name="DCGenerator", family="generative", chapter="book/generative/gan.md", module="gan",
        kwargs=dict(latent_dim=6, channels=(8, 4), size=8),
        input_shape=(3, 6, 1, 1), bad_input_shape=(3, 5, 1, 1), layout="NCHW",
    ),
    ModelSpec(
        name="DCDiscriminator", family="generative", chapter="book/generative/gan.md", module="gan",
        kwargs=dict(in_channels=1, size=8, channels=(4, 6)),
        input_shape=(3, 1, 8, 8), bad_input_shape=(3, 1, 6, 6), layout="NCHW",
    ),
    ModelSpec(
        # forward takes the input with its label's one-hot row appended: 12 + 3 numbers
        name="ConditionalVAE", family="generative", chapter="book/generative/vae_generation.md",
        module="autoencoders", kwargs=dict(in_features=12, num_classes=3, code_size=2, hidden=(8,)),
        input_shape=(5, 15), bad_input_shape=(5, 12),
    ),
    ModelSpec(
        name="NeuralODE", family="hybrid", chapter="book/hybrid/neural_ode.md", module="hybrid",
        kwargs=dict(dim=2, hidden=8, steps=4), input_shape=(5, 2), bad_input_shape=(5, 3),
    ),
    ModelSpec(
        # signals: (batch, channels, length) in PyTorch, (batch, length, channels) in Keras
        name="Conv1DNet", family="cnn", chapter="book/cnn/index.md", module="cnn",
        in_depth=False, kwargs=dict(in_channels=2, num_classes=3, channels=(4, 6, 4),
                                    kernel_sizes=(8, 5, 3)),
        input_shape=(3, 2, 11), bad_input_shape=(3, 3, 11), layout="NCL",
    ),
    # -- part IX (applications): specs go here --
    ModelSpec(
        # patches of a series as tokens: (batch, steps, input_size) -> (batch, output_size)
        name="TimeSeriesTransformer", family="transformers",
        chapter="book/applications/forecasting.md", module="forecasting", in_depth=False,
        kwargs=dict(input_size=6, output_size=4, d_model=8, heads=2, layers=2, d_ff=16,
                    max_len=5),
        input_shape=(3, 5, 6), bad_input_shape=(3, 5, 7), expected_shape="(batch, steps, 6)",
    ),
    # Sentiment study (book/applications/sentiment.md): embedding + LSTM/GRU over word ids,
    # pooled over the non-padding tokens; the bad input is 3-D (a float sequence, as Part IV's).
    ModelSpec(
        name="TextClassifier", family="rnn", chapter="book/applications/sentiment.md",
        module="text", in_depth=False,
        kwargs=dict(vocab_size=30, num_classes=3, embedding_size=8, hidden_size=6, cell="lstm"),
        input_shape=(3, 7), bad_input_shape=(3, 7, 2), expected_shape="(batch, steps)",
        input_kind="tokens", vocab_size=30,
    ),
)


def get(name: str) -> ModelSpec:
    for spec in MODELS:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown model {name!r}; registered: {[m.name for m in MODELS]}")
