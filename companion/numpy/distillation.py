"""Knowledge distillation in NumPy: the reference for both frameworks' ``distillation_loss``."""
from __future__ import annotations

import numpy as np


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` along the last axis; higher ``T`` gives softer probabilities."""
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_distillation(temperature, alpha, labels) -> None:
    """The arguments of every ``distillation_loss`` (NumPy, PyTorch, Keras), checked once."""
    if not float(temperature) > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if labels is None and alpha != 1.0:
        raise ValueError("without labels the loss is the soft term only: pass alpha=1.0")


def distillation_loss(student_logits, teacher_logits, labels=None, temperature: float = 2.0,
                      alpha: float = 0.5) -> float:
    """``alpha * T^2 * mean KL(p_T(teacher) || p_T(student)) + (1 - alpha) * mean CE(labels, student)``.

    Hinton, Vinyals and Dean (2015). ``labels=None`` requires ``alpha=1`` (soft term only).
    """
    check_distillation(temperature, alpha, labels)
    s, t = np.asarray(student_logits, np.float64), np.asarray(teacher_logits, np.float64)
    if s.shape != t.shape or s.ndim != 2:
        raise ValueError(f"expected student and teacher logits of one shape (batch, classes), "
                         f"got {s.shape} and {t.shape}")
    p_t, p_s = softmax(t, temperature), softmax(s, temperature)
    kl = np.sum(p_t * (np.log(p_t + 1e-300) - np.log(p_s + 1e-300)), axis=-1).mean()
    soft = kl * temperature ** 2
    if labels is None or alpha == 1.0:
        return float(soft)
    log_q = np.log(softmax(s) + 1e-300)
    hard = -log_q[np.arange(len(s)), np.asarray(labels)].mean()
    return float(alpha * soft + (1 - alpha) * hard)
