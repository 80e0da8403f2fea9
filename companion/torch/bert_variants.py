"""ALBERT and DistilBERT in PyTorch (part VI, ``book/transformers/bert_variants.md``).

Two ways to make BERT cheaper, built from BERT's own parts
(``companion.torch.bert.BertEmbeddings`` and the post-LN ``EncoderLayer``):

* ``ALBERT`` (Lan et al., 2020) saves *parameters*: the word embeddings are
  factorised into a ``(vocab_size, embedding_size)`` table and an
  ``embedding_size -> d_model`` projection, and one encoder layer is applied
  ``layers`` times (cross-layer sharing). GELU in its tanh form, as Hugging
  Face's ``AlbertModel`` (``gelu_new``). It saves no computation: every
  shared layer still runs.
* ``DistilBERT`` (Sanh et al., 2019) saves *computation*: half of BERT-base's
  layers, no token types and no pooler, trained to imitate a BERT teacher
  (``distillation_loss``). ``DistilBERTClassifier`` adds Hugging Face's
  sequence-classification head (``[CLS]`` vector, dense + ReLU, dropout,
  dense).

RoBERTa (Liu et al., 2019) changes BERT's training recipe, not its network:
``companion.torch.bert.BERT`` with ``type_vocab_size=1`` and RoBERTa's
vocabulary *is* RoBERTa (its position table starts two rows later, which a
weight copy handles; see ``tests/test_bert_variants.py``).

Same class names, arguments, defaults and order of weight-carrying layers as
``companion/keras/bert_variants.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from companion.checks import check_positive_int
from companion.numpy.distillation import check_distillation
from companion.torch.bert import BERT, BertEmbeddings, _init_bert_weights
from companion.torch.transformers import EncoderLayer


class ALBERT(nn.Module):
    """ALBERT's encoder: factorised embeddings and one encoder layer shared by all ``layers``.

    ``forward(ids, token_type_ids=None, mask=None, return_weights=False)``
    returns the hidden states ``(batch, steps, d_model)``, as ``BERT`` does
    (same masks and checks); ``pool(hidden)`` the pooled ``[CLS]`` vector.
    ALBERT-base is ``ALBERT(30000)``: 11,683,584 parameters, against
    BERT-base's 109,482,240 with the same width and depth. Dropout defaults
    to 0, as in ALBERT's released configurations.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 512, embedding_size: int = 128,
                 d_model: int = 768, heads: int = 12, layers: int = 12, d_ff: int = 3072,
                 type_vocab_size: int = 2, dropout: float = 0.0, eps: float = 1e-12,
                 pooler: bool = True, pad_id=0):
        super().__init__()
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        check_positive_int(embedding_size, "embedding_size")
        if pad_id is not None and not 0 <= int(pad_id) < vocab_size:
            raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")
        self.pad_id, self.depth, self.d_model, self.heads = pad_id, layers, d_model, heads
        self.embeddings = BertEmbeddings(vocab_size, max_len, embedding_size, type_vocab_size,
                                         dropout, eps, owner="ALBERT")
        self.projection = nn.Linear(embedding_size, d_model)   # E -> H, once
        self.shared = EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu_tanh", eps=eps)
        self.pooler = nn.Linear(d_model, d_model) if pooler else None
        self.apply(_init_bert_weights)

    attention_mask = BERT.attention_mask

    def forward(self, ids, token_type_ids=None, mask=None, return_weights=False):
        x = self.projection(self.embeddings(ids, token_type_ids))
        attend = self.attention_mask(torch.as_tensor(ids), mask)
        weights = []
        for _ in range(self.depth):         # the same weights at every depth
            x, w = self.shared(x, mask=attend, return_weights=True)
            weights.append(w)
        return (x, weights) if return_weights else x

    pool = BERT.pool


class DistilBERT(nn.Module):
    """DistilBERT's encoder: word and position embeddings (no token types) and ``layers``
    post-LN encoder layers with exact GELU; no pooler.

    ``forward(ids, mask=None, return_weights=False)`` returns the hidden
    states ``(batch, steps, d_model)``. DistilBERT is ``DistilBERT(30522)``:
    66,362,880 parameters, six layers where BERT-base has twelve.
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, max_len: int = 512, d_model: int = 768, heads: int = 12,
                 layers: int = 6, d_ff: int = 3072, dropout: float = 0.1, eps: float = 1e-12,
                 pad_id=0):
        super().__init__()
        check_positive_int(layers, "layers")
        check_positive_int(d_ff, "d_ff")
        if pad_id is not None and not 0 <= int(pad_id) < vocab_size:
            raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")
        self.pad_id, self.d_model, self.heads = pad_id, d_model, heads
        self.embeddings = BertEmbeddings(vocab_size, max_len, d_model, 0, dropout, eps,
                                         owner="DistilBERT")
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, heads, d_ff, dropout, activation="gelu", eps=eps)
            for _ in range(layers))
        self.apply(_init_bert_weights)

    attention_mask = BERT.attention_mask

    def forward(self, ids, mask=None, return_weights=False):
        x = self.embeddings(ids)
        attend = self.attention_mask(torch.as_tensor(ids), mask)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, mask=attend, return_weights=True)
            weights.append(w)
        return (x, weights) if return_weights else x


class DistilBERTClassifier(nn.Module):
    """DistilBERT with Hugging Face's classification head: logits ``(batch, num_classes)``.

    ``[CLS]`` hidden vector, ``dense`` (d_model -> d_model) and ReLU, dropout,
    ``classifier`` (d_model -> num_classes).
    """

    token_input = True    # train/predict/evaluate pass integer token ids

    def __init__(self, vocab_size: int, num_classes: int = 2, max_len: int = 512,
                 d_model: int = 768, heads: int = 12, layers: int = 6, d_ff: int = 3072,
                 dropout: float = 0.1, eps: float = 1e-12, pad_id=0):
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        self.distilbert = DistilBERT(vocab_size, max_len, d_model, heads, layers, d_ff, dropout,
                                     eps, pad_id)
        self.dense = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_classes)
        _init_bert_weights(self.dense)
        _init_bert_weights(self.classifier)

    def forward(self, ids, mask=None):
        h = self.distilbert(ids, mask=mask)[:, 0]
        return self.classifier(self.dropout(F.relu(self.dense(h))))


def distillation_loss(student_logits, teacher_logits, labels=None, temperature: float = 2.0,
                      alpha: float = 0.5):
    """Hinton et al.'s (2015) loss: ``alpha * T^2 * KL(p_T(teacher) || p_T(student))
    + (1 - alpha) * cross_entropy(labels, student)``.

    ``p_T`` is the softmax of the logits divided by the temperature ``T``; the
    factor ``T^2`` keeps the soft term's gradients the same size as ``T``
    changes. ``labels=None`` (or ``alpha=1``) leaves the hard term out. The
    NumPy reference is ``companion.numpy.distillation.distillation_loss``.
    """
    check_distillation(temperature, alpha, labels)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature ** 2
    if labels is None or alpha == 1.0:
        return soft
    hard = F.cross_entropy(student_logits, torch.as_tensor(labels, dtype=torch.long))
    return alpha * soft + (1.0 - alpha) * hard


__all__ = ["ALBERT", "DistilBERT", "DistilBERTClassifier", "distillation_loss"]


# ---------------------------------------------------------------- Hugging Face checkpoints

_LAYER = {  # the companion's EncoderLayer names -> each Hugging Face layer's names
    "albert": {"attention.query": "attention.query", "attention.key": "attention.key",
               "attention.value": "attention.value", "attention.output": "attention.dense",
               "norm1": "attention.LayerNorm", "ffn.inner": "ffn", "ffn.outer": "ffn_output",
               "norm2": "full_layer_layer_norm"},
    "distilbert": {"attention.query": "attention.q_lin", "attention.key": "attention.k_lin",
                   "attention.value": "attention.v_lin", "attention.output": "attention.out_lin",
                   "norm1": "sa_layer_norm", "ffn.inner": "ffn.lin1", "ffn.outer": "ffn.lin2",
                   "norm2": "output_layer_norm"},
    "bert": {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
             "attention.value": "attention.self.value",
             "attention.output": "attention.output.dense", "norm1": "attention.output.LayerNorm",
             "ffn.inner": "intermediate.dense", "ffn.outer": "output.dense",
             "norm2": "output.LayerNorm"},
}
_EMBEDDINGS = {"embeddings.word": "embeddings.word_embeddings",
               "embeddings.position": "embeddings.position_embeddings",
               "embeddings.token_type": "embeddings.token_type_embeddings",
               "embeddings.norm": "embeddings.LayerNorm"}


def state_dict_from_hf(model: nn.Module, hf_state: dict, kind: str) -> dict:
    """A ``state_dict`` for ``model`` (``ALBERT``, ``DistilBERT`` or ``BERT``) from a Hugging Face
    ``AlbertModel``, ``DistilBertModel``, ``BertModel`` or ``RobertaModel`` state dict.

    ``kind`` is ``"albert"``, ``"distilbert"``, ``"bert"`` or ``"roberta"``. RoBERTa is
    loaded into a ``BERT``: its position table reserves its first ``pad + 1 = 2`` rows
    (positions count from ``padding_idx + 1``), so rows ``2 ..`` become the companion's
    rows ``0 ..``; outputs then agree for sequences padded on the right.
    """
    if kind not in ("albert", "distilbert", "bert", "roberta"):
        raise ValueError(f"kind must be 'albert', 'distilbert', 'bert' or 'roberta', got {kind!r}")
    names = _LAYER["bert" if kind == "roberta" else kind]
    out = {}
    for key in model.state_dict():
        module, _, leaf = key.rpartition(".")
        if module in _EMBEDDINGS:
            source = f"{_EMBEDDINGS[module]}.{leaf}"
        elif module == "projection":
            source = f"encoder.embedding_hidden_mapping_in.{leaf}"
        elif module == "pooler":
            source = f"pooler.{leaf}" if kind == "albert" else f"pooler.dense.{leaf}"
        elif module.startswith("shared."):
            source = f"encoder.albert_layer_groups.0.albert_layers.0.{names[module[7:]]}.{leaf}"
        elif module.startswith("encoder."):
            _, index, rest = module.split(".", 2)
            stack = "transformer.layer" if kind == "distilbert" else "encoder.layer"
            source = f"{stack}.{index}.{names[rest]}.{leaf}"
        else:
            raise ValueError(f"no Hugging Face name for {key!r}")
        if source not in hf_state:
            raise ValueError(f"the {kind} checkpoint has no {source!r} (for {key!r})")
        value = hf_state[source]
        if kind == "roberta" and module == "embeddings.position":
            rows = model.state_dict()[key].shape[0]
            value = value[2:2 + rows]
        out[key] = value.detach().clone()
    return out
