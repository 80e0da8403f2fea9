"""Learning-rate schedules shared by the PyTorch and Keras training loops (no framework here).

Both loops ask this module for the rate of every epoch, so the two frameworks
follow exactly the same schedule:

* ``"constant"``: ``lr`` throughout;
* ``"cosine"``: cosine decay from ``lr`` towards 0 over the epochs;
* ``"cyclical"``: the triangular cyclical rate of Smith (2017), rising
  linearly from ``lr / 10`` to ``lr`` and back, one cycle every
  ``2 * step`` epochs with ``step = max(1, epochs // 6)`` (three cycles);
* ``"plateau"``: ``lr`` until the validation loss has not improved for
  ``PLATEAU_PATIENCE`` epochs in a row, then halved, again and again
  (``Plateau``); it needs validation data.
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "cyclical", "plateau")
PLATEAU_PATIENCE = 2    # epochs without a lower validation loss before the rate is cut
PLATEAU_FACTOR = 0.5    # ... by this factor
PLATEAU_MIN_SCALE = 1e-3  # never below lr / 1000


def scheduled_lr(lr: float, epoch: int, epochs: int, schedule: str) -> float:
    """Learning rate of ``epoch`` (0-based) for the epoch-based schedules.

    ``"plateau"`` depends on the validation losses, not only on the epoch:
    this function returns ``lr`` for it, and the loops multiply by
    ``Plateau.scale``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
    if schedule in ("constant", "plateau"):
        return lr
    if schedule == "cyclical":
        step = max(1, epochs // 6)
        position = (epoch % (2 * step)) / step          # 0 .. 2 within a cycle
        low = lr / 10
        return low + (lr - low) * (1.0 - abs(position - 1.0))
    return 0.5 * lr * (1.0 + math.cos(math.pi * epoch / epochs))


class Plateau:
    """Reduce-on-plateau, decided once for both frameworks.

    ``step(val_loss)`` after every epoch; ``scale`` is the factor the base
    rate is multiplied by. An epoch counts as an improvement when its
    validation loss is below the best so far (no threshold, unlike the
    defaults of PyTorch's ``ReduceLROnPlateau``, ``threshold=1e-4`` relative,
    and Keras's, ``min_delta=1e-4`` absolute); after ``patience`` epochs
    without one the scale is multiplied by ``factor`` and the count restarts.
    """

    def __init__(self, patience: int = PLATEAU_PATIENCE, factor: float = PLATEAU_FACTOR,
                 min_scale: float = PLATEAU_MIN_SCALE):
        self.patience, self.factor, self.min_scale = patience, factor, min_scale
        self.best, self.waited, self.scale = math.inf, 0, 1.0

    def step(self, val_loss: float) -> float:
        if val_loss < self.best:
            self.best, self.waited = val_loss, 0
        else:
            self.waited += 1
            if self.waited >= self.patience:
                self.scale = max(self.scale * self.factor, self.min_scale)
                self.waited = 0
        return self.scale


def check_schedule(schedule: str, val_data, checkpoint=None) -> None:
    """A known schedule; ``"plateau"`` needs validation data and no checkpoint."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
    if schedule == "plateau" and val_data is None:
        raise ValueError("schedule='plateau' watches val_loss: pass val_data=(x_val, y_val)")
    if schedule == "plateau" and checkpoint is not None:
        raise ValueError("schedule='plateau' and checkpoint cannot be combined: a resumed run "
                         "would not know the losses so far")
