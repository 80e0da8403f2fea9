"""Learning-rate schedules shared by the PyTorch and Keras training loops (no framework here)."""
from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")


def scheduled_lr(lr: float, epoch: int, epochs: int, schedule: str) -> float:
    """Learning rate of ``epoch`` (0-based): constant, or cosine decay from ``lr`` towards 0.

    Both training loops set this value at the start of every epoch, so the
    two frameworks follow exactly the same schedule.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
    if schedule == "constant":
        return lr
    return 0.5 * lr * (1.0 + math.cos(math.pi * epoch / epochs))
