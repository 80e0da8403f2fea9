"""GPT, a decoder-only transformer language model, in PyTorch (part VI, ``book/transformers/gpt.md``).

Read side by side with ``companion/keras/gpt.py``: same class name, constructor
arguments and defaults, same order of weight-carrying sublayers, so
``companion.parity.copy_torch_to_keras`` copies one into the other.

The layout is GPT-2's:

* token embedding + learned position embedding, then dropout;
* ``layers`` pre-LN ``EncoderLayer`` blocks (``companion.torch.transformers``)
  with the tanh approximation of GELU and a causal mask (position ``i`` sees
  positions ``0..i`` only);
* a final LayerNorm and the language-model head, whose weight is the token
  embedding table (``tie_weights=True``) or a bias-free linear layer of its own.

``forward(ids)`` returns next-token logits ``(batch, steps, vocab_size)``.
``generate`` samples a continuation, by default with a key/value cache, so
that each new token costs one position's work instead of the whole prefix's.
``GPT.from_hf_gpt2`` loads a Hugging Face GPT-2 checkpoint (a model, a state
dict and its configuration, or a directory written by ``save_pretrained``).

Weights are initialised as in GPT-2: normal with standard deviation 0.02 for
the embeddings and every linear layer, zero biases, LayerNorm ``(1, 0)``, and
the two projections that end a residual branch (``attention.output`` and
``ffn.outer``) scaled down by ``sqrt(2 * layers)``, so that the residual
stream does not grow with depth at initialisation.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from companion.checks import check_positive_int, check_token_ids
from companion.torch.transformers import EncoderLayer


def _check_config(vocab_size, max_len, d_model, heads, layers, d_ff, dropout, eps) -> int:
    """Validate the constructor's arguments (shared wording with the Keras twin); return d_ff."""
    for value, what in ((vocab_size, "vocab_size"), (max_len, "max_len"),
                        (d_model, "d_model"), (heads, "heads"), (layers, "layers")):
        check_positive_int(value, what)
    d_ff = 4 * d_model if d_ff is None else d_ff
    check_positive_int(d_ff, "d_ff")
    if d_model % heads:
        raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if not float(eps) > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return d_ff


def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None,
                greedy: bool = False) -> np.ndarray:
    """One next token per row of ``logits`` ``(batch, vocab)``, in NumPy.

    ``greedy`` takes the most likely token. Otherwise the logits are divided by
    ``temperature``; ``top_k`` keeps the ``k`` most likely tokens, ``top_p``
    the smallest set of most likely tokens whose probabilities sum to at least
    ``p`` (nucleus sampling); then one token is drawn per row with ``rng``.
    Both frameworks' ``generate`` use this function, so the same logits and
    the same seed give the same tokens in both.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if greedy:
        return logits.argmax(axis=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs   # mass of the better tokens
        keep_sorted = before < top_p                                # the first one always stays
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)


def check_generate_args(steps, temperature, top_k, top_p) -> None:
    check_positive_int(steps, "steps")
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be positive (use greedy=True for argmax), "
                         f"got {temperature}")
    if top_k is not None:
        check_positive_int(top_k, "top_k")
    if top_p is not None and not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


class GPT(nn.Module):
    """A GPT-2-style decoder-only language model (``book/transformers/gpt.md``).

    ``GPT(vocab_size, max_len=1024, d_model=768, heads=12, layers=12,
    d_ff=None, dropout=0.1, eps=1e-5, tie_weights=True)``; ``d_ff`` defaults to
    ``4 * d_model``. The defaults with ``vocab_size=50257`` are GPT-2 small
    (124,439,808 parameters).

    ``forward(ids, cache=None)``: integer ids ``(batch, steps)`` with
    ``steps <= max_len`` give logits ``(batch, steps, vocab_size)``. ``cache``
    (from ``new_cache()``) holds every layer's keys and values of the
    positions seen so far; the new ids continue after them. With
    ``return_weights=True`` it returns ``(logits, weights)``, one
    ``(batch, heads, steps, past + steps)`` attention array per block.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 1024, d_model: int = 768,
                 heads: int = 12, layers: int = 12, d_ff: int | None = None,
                 dropout: float = 0.1, eps: float = 1e-5, tie_weights: bool = True):
        super().__init__()
        d_ff = _check_config(vocab_size, max_len, d_model, heads, layers, d_ff, dropout, eps)
        self.vocab_size, self.max_len, self.d_model = vocab_size, max_len, d_model
        self.tie_weights = bool(tie_weights)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu_tanh", eps=eps,
                         norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.head = None if self.tie_weights else nn.Linear(d_model, vocab_size, bias=False)
        self._init_weights(layers)

    def _init_weights(self, layers: int) -> None:
        if self.token_embedding.weight.is_meta:      # counting on the meta device: no values
            return
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:      # the last projection of each residual branch
            for linear in (block.attention.output, block.ffn.outer):
                nn.init.normal_(linear.weight, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    # ------------------------------------------------------------ forward

    def new_cache(self) -> list[dict]:
        """An empty key/value cache: one dict per block (filled in place by ``forward``)."""
        return [{} for _ in self.blocks]

    @staticmethod
    def cached_steps(cache) -> int:
        """How many positions a cache holds."""
        if not cache or cache[0].get("k") is None:
            return 0
        return int(cache[0]["k"].shape[2])

    def forward(self, ids, cache=None, return_weights: bool = False):
        ids = torch.as_tensor(ids, device=self.token_embedding.weight.device)
        past = self.cached_steps(cache)
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"GPT: the cache must hold one dict per block ({len(self.blocks)}), "
                             f"got {len(cache)}; use model.new_cache()")
        values = ids.detach().cpu().numpy() if not ids.is_floating_point() else None
        check_token_ids(tuple(ids.shape), str(ids.dtype), values, self.vocab_size,
                        self.max_len, past)
        steps = ids.shape[1]
        positions = torch.arange(past, past + steps, device=ids.device)
        x = self.dropout(self.token_embedding(ids) + self.position_embedding(positions))
        # causal mask (1, steps, past + steps): the query at position past + i may
        # attend to every key at a position <= past + i, cached or new
        mask = torch.ones(steps, past + steps, dtype=torch.bool, device=ids.device)
        mask = mask.tril(diagonal=past)[None]
        weights = []
        for block, block_cache in zip(self.blocks, cache or [None] * len(self.blocks)):
            x, w = block(x, mask=mask, cache=block_cache, return_weights=True)
            weights.append(w)
        x = self.norm(x)
        if self.head is not None:
            logits = self.head(x)
        else:
            logits = x @ self.token_embedding.weight.T   # tied: the embedding table, transposed
        return (logits, weights) if return_weights else logits

    # ------------------------------------------------------------ generation

    @torch.no_grad()
    def generate(self, ids, steps: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False, use_cache: bool = True,
                 seed: int | None = None) -> torch.Tensor:
        """Append ``steps`` sampled tokens to the prompts ``ids`` ``(batch, prompt_steps)``.

        With ``use_cache=True`` the prompt is read once and every later step
        feeds only the newest token, reusing the cached keys and values; with
        ``use_cache=False`` every step recomputes the whole sequence. Both give
        the same tokens. Once the sequence fills the position table
        (``max_len``), both continue on the last ``max_len`` tokens, recomputed
        at every step (a sliding window; the cache cannot slide, because the
        cached keys carry their positions). Sampling: see ``sample_next``;
        ``seed`` fixes it. Runs in evaluation mode (no dropout); returns the
        prompts and the new tokens, ``(batch, prompt_steps + steps)``.
        """
        check_generate_args(steps, temperature, top_k, top_p)
        ids = torch.as_tensor(ids, device=self.token_embedding.weight.device)
        if ids.dim() == 1:
            ids = ids[None]
        values = ids.cpu().numpy() if not ids.is_floating_point() else None
        check_token_ids(tuple(ids.shape), str(ids.dtype), values, self.vocab_size, self.max_len)
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            cache = self.new_cache() if use_cache else None
            logits = self(ids, cache=cache)[:, -1]
            for step in range(steps):
                token = sample_next(logits.float().cpu().numpy(), rng, temperature, top_k,
                                    top_p, greedy)
                ids = torch.cat([ids, torch.as_tensor(token, device=ids.device)[:, None]], dim=1)
                if step == steps - 1:
                    break
                if cache is not None and ids.shape[1] <= self.max_len:
                    logits = self(ids[:, -1:], cache=cache)[:, -1]      # one new position
                else:
                    cache = None                                        # recompute the window
                    logits = self(ids[:, -self.max_len:])[:, -1]
        finally:
            self.train(was_training)
        return ids

    # ------------------------------------------------------------ Hugging Face GPT-2

    @classmethod
    def from_hf_gpt2(cls, source, config=None, dropout: float | None = None) -> "GPT":
        """A ``GPT`` with the weights of a Hugging Face GPT-2 checkpoint.

        ``source`` is a ``GPT2LMHeadModel`` or ``GPT2Model``, a state dict
        (then ``config``, a ``GPT2Config`` or its dict, is required), or the
        directory of ``save_pretrained`` (``config.json`` and
        ``model.safetensors`` or ``pytorch_model.bin``). Nothing is downloaded.
        Hugging Face's ``Conv1D`` layers store weights as ``(in, out)`` (the
        transpose of ``nn.Linear``) and ``c_attn`` holds the query, key and
        value projections side by side; ``hf_gpt2_weights`` splits and
        transposes them. ``dropout`` defaults to the checkpoint's
        ``resid_pdrop``.
        """
        kwargs, weights = hf_gpt2_weights(source, config)
        if dropout is not None:
            kwargs["dropout"] = dropout
        model = cls(**kwargs)
        targets = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
        if len(targets) != len(weights):
            raise ValueError(f"GPT-2 checkpoint gives {len(weights)} layers of weights, the model "
                             f"has {len(targets)}")
        with torch.no_grad():
            for module, arrays in zip(targets, weights):
                params = list(module.parameters(recurse=False))
                for param, array in zip(params, arrays):
                    if isinstance(module, nn.Linear) and array.ndim == 2:
                        array = array.T               # Conv1D (in, out) -> Linear (out, in)
                    if tuple(param.shape) != array.shape:
                        raise ValueError(f"GPT-2 checkpoint: {type(module).__name__} expects "
                                         f"{tuple(param.shape)}, got {array.shape}")
                    param.copy_(torch.from_numpy(np.ascontiguousarray(array)))
        return model


# ---------------------------------------------------------------- reading GPT-2 checkpoints

_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")   # both are the tanh approximation


def _config_dict(config) -> dict:
    if config is None:
        raise ValueError("a GPT-2 state dict needs its configuration: pass config= "
                         "(a GPT2Config or a dict with n_embd, n_head, n_layer, ...)")
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    return dict(config)


def _read_checkpoint(source, config):
    """``(state dict of NumPy arrays, configuration dict)`` from any supported ``source``."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not (folder / "config.json").exists():
            raise ValueError(f"{folder} is not a save_pretrained directory (no config.json)")
        config = json.loads((folder / "config.json").read_text()) if config is None else config
        if (folder / "model.safetensors").exists():
            from safetensors.numpy import load_file

            state = load_file(str(folder / "model.safetensors"))
        elif (folder / "pytorch_model.bin").exists():
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise ValueError(f"{folder} holds neither model.safetensors nor pytorch_model.bin")
    elif hasattr(source, "state_dict") and hasattr(source, "config"):
        state, config = source.state_dict(), source.config if config is None else config
    elif hasattr(source, "items"):
        state = source
    else:
        raise ValueError("source must be a Hugging Face GPT-2 model, a state dict or a "
                         f"save_pretrained directory, got {type(source).__name__}")
    arrays = {}
    for key, value in state.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().float().numpy()
        arrays[key.removeprefix("transformer.")] = np.asarray(value, dtype=np.float32)
    return arrays, _config_dict(config)


def hf_gpt2_weights(source, config=None) -> tuple[dict, list[list[np.ndarray]]]:
    """Constructor arguments and weights of a GPT-2 checkpoint, in the companion's layer order.

    Returns ``(kwargs, weights)``: ``GPT(**kwargs)`` has the checkpoint's
    sizes, and ``weights`` holds one list of arrays per weight-carrying layer,
    in the order both twins create them (token and position embeddings; per
    block query, key, value, output, norm1, inner, outer, norm2; final norm;
    the head if untied), with dense kernels in the ``(in, out)`` orientation
    of Hugging Face's ``Conv1D`` and Keras's ``Dense``.
    """
    state, cfg = _read_checkpoint(source, config)
    activation = cfg.get("activation_function", "gelu_new")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"GPT has the tanh GELU; this checkpoint uses {activation!r}")
    for flag in ("scale_attn_by_inverse_layer_idx", "add_cross_attention"):
        if cfg.get(flag):
            raise ValueError(f"GPT does not support GPT-2 checkpoints with {flag}=True")
    if not cfg.get("scale_attn_weights", True):
        raise ValueError("GPT scales attention logits by 1/sqrt(d_head); this checkpoint does not")
    d_model, layers = int(cfg["n_embd"]), int(cfg["n_layer"])
    kwargs = dict(vocab_size=int(cfg["vocab_size"]), max_len=int(cfg["n_positions"]),
                  d_model=d_model, heads=int(cfg["n_head"]), layers=layers,
                  d_ff=int(cfg.get("n_inner") or 4 * d_model),
                  dropout=float(cfg.get("resid_pdrop", 0.1)),
                  eps=float(cfg.get("layer_norm_epsilon", 1e-5)))
    tied = "lm_head.weight" not in state or np.array_equal(state["lm_head.weight"], state["wte.weight"])
    kwargs["tie_weights"] = bool(cfg.get("tie_word_embeddings", True)) and tied

    def get(key):
        if key not in state:
            raise ValueError(f"GPT-2 checkpoint: missing {key!r}")
        return state[key]

    weights = [[get("wte.weight")], [get("wpe.weight")]]
    for i in range(layers):
        p = f"h.{i}."
        qkv_w, qkv_b = get(p + "attn.c_attn.weight"), get(p + "attn.c_attn.bias")
        if qkv_w.shape != (d_model, 3 * d_model):
            raise ValueError(f"GPT-2 checkpoint: c_attn.weight should be {(d_model, 3 * d_model)}, "
                             f"got {qkv_w.shape}")
        for j in range(3):                                   # query, key, value
            cols = slice(j * d_model, (j + 1) * d_model)
            weights.append([qkv_w[:, cols], qkv_b[cols]])
        weights += [[get(p + "attn.c_proj.weight"), get(p + "attn.c_proj.bias")],
                    [get(p + "ln_1.weight"), get(p + "ln_1.bias")],
                    [get(p + "mlp.c_fc.weight"), get(p + "mlp.c_fc.bias")],
                    [get(p + "mlp.c_proj.weight"), get(p + "mlp.c_proj.bias")],
                    [get(p + "ln_2.weight"), get(p + "ln_2.bias")]]
    weights.append([get("ln_f.weight"), get("ln_f.bias")])
    if not kwargs["tie_weights"]:
        weights.append([get("lm_head.weight").T])            # (V, d) -> (d, V), Dense orientation
    return kwargs, weights


def abstract_parameter_count(*args, **kwargs) -> int:
    """The number of parameters of ``GPT(*args, **kwargs)``, built on the meta device
    (shapes only, no memory): ``abstract_parameter_count(50257)`` is GPT-2 small's 124,439,808."""
    with torch.device("meta"):
        model = GPT(*args, **kwargs)
    return sum(p.numel() for p in model.parameters())
