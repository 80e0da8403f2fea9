"""Gradient-descent optimizers and learning-rate schedules in NumPy.

The reference implementations of the chapter "Gradient descent and
optimizers" (``book/foundations/optimizers.md``). Every optimizer is a small
class with one method, ``step(params, grads)``, which updates a list of NumPy
arrays in place, one update per call, exactly as ``torch.optim.X.step()`` and
``keras.optimizers.X.apply(grads, variables)`` do. The classes are written
for reading: one formula per line, the state named as in the chapter.

Where the frameworks place epsilon differently, an ``eps_mode`` argument
selects the placement, so that the same class reproduces either framework
step for step (the tests check this):

- AdaGrad and RMSProp: ``"outside"`` divides by ``sqrt(s) + eps`` (PyTorch),
  ``"inside"`` by ``sqrt(s + eps)`` (Keras).
- Adam and AdamW: ``"outside"`` divides the bias-corrected moment by
  ``sqrt(v_hat) + eps`` (PyTorch, and Algorithm 1 of Kingma and Ba);
  ``"hat"`` folds the bias corrections into the learning rate and divides by
  ``sqrt(v) + eps`` (Keras, the "epsilon hat" form of Kingma and Ba, sec. 2).
"""
from __future__ import annotations

import math

import numpy as np

from companion.checks import check_choice

__all__ = [
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adadelta", "Adam", "AdamW",
    "OPTIMIZERS", "minimize",
    "step_decay", "exponential_decay", "cosine_decay", "warmup_cosine",
    "quadratic", "rosenbrock", "beale",
]


# ----------------------------------------------------------------------------
# Argument checks (clear ValueErrors, in the style of companion.checks)

def _check_number(value, what: str, *, low: float, high: float | None = None,
                  low_open: bool = False, high_open: bool = True) -> float:
    """Require a finite real number in [low, high) (or the open/closed variant asked for)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        upper = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{what} must lie in {left}{low:g}, {upper}{right}, got {value!r}")
    return value


def _check_lr(lr) -> float:
    return _check_number(lr, "learning rate lr", low=0.0, low_open=True)


def _as_list(arrays, what: str) -> list:
    """Accept one array or a list/tuple of arrays; return a list of float arrays."""
    items = [arrays] if isinstance(arrays, np.ndarray) else arrays
    if not isinstance(items, (list, tuple)) or len(items) == 0:
        raise ValueError(f"{what} must be a NumPy array or a non-empty list of NumPy arrays, "
                         f"got {type(arrays).__name__}")
    for i, a in enumerate(items):
        if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{what}[{i}] must be a floating-point NumPy array, got "
                             f"{getattr(a, 'dtype', type(a).__name__)}")
    return list(items)


# ----------------------------------------------------------------------------
# The optimizers

class Optimizer:
    """Base class: checks the arguments of ``step`` and keeps one state per parameter.

    Subclasses implement ``_update(i, w, g)``, which changes the array ``w``
    (parameter number ``i``) in place, given its gradient ``g``.
    """

    def __init__(self, lr: float):
        self.lr = _check_lr(lr)
        self.t = 0            # number of steps taken (Adam's bias correction needs it)
        self.state: list[dict] = []
        self._shapes: list[tuple] | None = None

    def step(self, params, grads):
        """Apply one update to ``params`` (arrays, changed in place) and return them."""
        params = _as_list(params, "params")
        grads = _as_list(grads, "grads")
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameter arrays but {len(grads)} gradients")
        for i, (w, g) in enumerate(zip(params, grads)):
            if w.shape != g.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape}, expected the shape of "
                                 f"params[{i}], {w.shape}")
        shapes = [w.shape for w in params]
        if self._shapes is None:
            self._shapes = shapes
            self.state = [{} for _ in params]
        elif shapes != self._shapes:
            raise ValueError(f"this optimizer was used with parameter shapes {self._shapes}; "
                             f"got {shapes} (create a new optimizer for new parameters)")
        self.t += 1
        for i, (w, g) in enumerate(zip(params, grads)):
            self._update(i, w, g)
        return params

    def _update(self, i, w, g):  # pragma: no cover - abstract
        raise NotImplementedError

    def _zeros(self, i, name, like, fill=0.0):
        """The state array ``name`` of parameter ``i``, created on first use."""
        if name not in self.state[i]:
            self.state[i][name] = np.full_like(like, fill)
        return self.state[i][name]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_") and k not in ("state", "t"))
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain (stochastic) gradient descent: ``w <- w - lr * g``."""

    def _update(self, i, w, g):
        w -= self.lr * g


class Momentum(Optimizer):
    """Gradient descent with (heavy-ball) momentum, in either of two equivalent forms.

    ``form="pytorch"`` (``torch.optim.SGD(momentum=mu)``): the velocity adds up raw gradients::

        v <- mu * v + g
        w <- w - lr * v

    ``form="classical"`` (Polyak; ``keras.optimizers.SGD(momentum=mu)``): the velocity
    is a step, with the learning rate already inside::

        v <- mu * v - lr * g
        w <- w + v

    With a constant learning rate the classical velocity is ``-lr`` times the
    PyTorch one, so the two produce identical weights. They differ when the
    learning rate changes: the PyTorch form applies the new rate to the whole
    velocity at once, the classical form only to new gradients.
    """

    FORMS = ("pytorch", "classical")

    def __init__(self, lr: float, momentum: float = 0.9, form: str = "pytorch"):
        super().__init__(lr)
        self.momentum = _check_number(momentum, "momentum", low=0.0, high=1.0)
        check_choice(form, self.FORMS, "momentum form")
        self.form = form

    def _update(self, i, w, g):
        v = self._zeros(i, "v", w)
        if self.form == "pytorch":
            v *= self.momentum
            v += g
            w -= self.lr * v
        else:
            v *= self.momentum
            v -= self.lr * g
            w += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the form the frameworks use.

    Nesterov's method evaluates the gradient at the look-ahead point
    ``w + mu * v``. Written for the look-ahead variable (Bengio et al., 2013),
    it needs only the gradient at the current weights::

        pytorch:   v <- mu * v + g;        w <- w - lr * (g + mu * v)
        classical: v <- mu * v - lr * g;   w <- w + mu * v - lr * g

    The first is ``torch.optim.SGD(momentum=mu, nesterov=True)``, the second
    ``keras.optimizers.SGD(momentum=mu, nesterov=True)``.
    """

    def _update(self, i, w, g):
        v = self._zeros(i, "v", w)
        v *= self.momentum
        if self.form == "pytorch":
            v += g
            w -= self.lr * (g + self.momentum * v)
        else:
            v -= self.lr * g
            w += self.momentum * v - self.lr * g


EPS_PLACEMENTS = ("outside", "inside")


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan and Singer, 2011): a per-coordinate rate from the sum of squares.

    ::

        s <- s + g**2                          (s starts at initial_accumulator)
        w <- w - lr * g / (sqrt(s) + eps)      eps_mode="outside" (PyTorch)
        w <- w - lr * g / sqrt(s + eps)        eps_mode="inside"  (Keras)

    ``s`` only grows, so every coordinate's step only shrinks; coordinates with
    rare or small gradients shrink more slowly.
    """

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, initial_accumulator: float = 0.0,
                 eps_mode: str = "outside"):
        super().__init__(lr)
        self.eps = _check_number(eps, "eps", low=0.0)
        self.initial_accumulator = _check_number(initial_accumulator, "initial_accumulator",
                                                 low=0.0)
        check_choice(eps_mode, EPS_PLACEMENTS, "eps_mode")
        self.eps_mode = eps_mode
        if self.eps == 0.0 and self.initial_accumulator == 0.0:
            raise ValueError("AdaGrad needs eps > 0 or initial_accumulator > 0: "
                             "otherwise a zero gradient divides 0 by 0")

    def _update(self, i, w, g):
        s = self._zeros(i, "s", w, fill=self.initial_accumulator)
        s += g * g
        denom = np.sqrt(s) + self.eps if self.eps_mode == "outside" else np.sqrt(s + self.eps)
        w -= self.lr * g / denom


class RMSProp(Optimizer):
    """RMSProp (Tieleman and Hinton, 2012): AdaGrad with a forgetting average.

    ::

        s <- rho * s + (1 - rho) * g**2
        w <- w - lr * g / (sqrt(s) + eps)      eps_mode="outside" (PyTorch, rho is ``alpha``)
        w <- w - lr * g / sqrt(s + eps)        eps_mode="inside"  (Keras, ``rho``)
    """

    def __init__(self, lr: float = 0.01, rho: float = 0.99, eps: float = 1e-8,
                 eps_mode: str = "outside"):
        super().__init__(lr)
        self.rho = _check_number(rho, "rho", low=0.0, high=1.0)
        self.eps = _check_number(eps, "eps", low=0.0, low_open=True)
        check_choice(eps_mode, EPS_PLACEMENTS, "eps_mode")
        self.eps_mode = eps_mode

    def _update(self, i, w, g):
        s = self._zeros(i, "s", w)
        s *= self.rho
        s += (1 - self.rho) * g * g
        denom = np.sqrt(s) + self.eps if self.eps_mode == "outside" else np.sqrt(s + self.eps)
        w -= self.lr * g / denom


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012): RMSProp whose numerator is the RMS of past *updates*.

    ::

        s  <- rho * s + (1 - rho) * g**2                  (average of squared gradients)
        dw <- - sqrt(u + eps) / sqrt(s + eps) * g          (u from the previous step)
        u  <- rho * u + (1 - rho) * dw**2                 (average of squared updates)
        w  <- w + lr * dw

    The ratio ``RMS[dw] / RMS[g]`` has the units of ``w`` (a "unit correction"),
    so Zeiler's method needs no learning rate: ``lr = 1`` is the paper. Both
    frameworks keep ``lr`` as a multiplier (PyTorch default 1.0, Keras 0.001).
    """

    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6):
        super().__init__(lr)
        self.rho = _check_number(rho, "rho", low=0.0, high=1.0)
        self.eps = _check_number(eps, "eps", low=0.0, low_open=True)

    def _update(self, i, w, g):
        s = self._zeros(i, "s", w)
        u = self._zeros(i, "u", w)
        s *= self.rho
        s += (1 - self.rho) * g * g
        dw = -np.sqrt(u + self.eps) / np.sqrt(s + self.eps) * g
        u *= self.rho
        u += (1 - self.rho) * dw * dw
        w += self.lr * dw


ADAM_EPS_MODES = ("outside", "hat")


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): momentum on the gradient, RMSProp on its scale.

    ::

        m <- beta1 * m + (1 - beta1) * g            (first moment)
        v <- beta2 * v + (1 - beta2) * g**2         (second moment)
        m_hat = m / (1 - beta1**t);  v_hat = v / (1 - beta2**t)    (bias correction)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)                   eps_mode="outside"
        w <- w - lr_t * m / (sqrt(v) + eps),
             lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)        eps_mode="hat"

    The two lines are the same update except for epsilon: ``"hat"`` (Keras)
    amounts to ``"outside"`` (PyTorch) with ``eps * sqrt(1 - beta2**t)``.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, eps_mode: str = "outside"):
        super().__init__(lr)
        self.beta1 = _check_number(beta1, "beta1", low=0.0, high=1.0)
        self.beta2 = _check_number(beta2, "beta2", low=0.0, high=1.0)
        self.eps = _check_number(eps, "eps", low=0.0)
        check_choice(eps_mode, ADAM_EPS_MODES, "eps_mode")
        self.eps_mode = eps_mode

    def _adam_step(self, i, w, g):
        m = self._zeros(i, "m", w)
        v = self._zeros(i, "v", w)
        m += (1 - self.beta1) * (g - m)
        v += (1 - self.beta2) * (g * g - v)
        c1, c2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        if self.eps_mode == "outside":
            m_hat, v_hat = m / c1, v / c2
            w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        else:
            lr_t = self.lr * math.sqrt(c2) / c1
            w -= lr_t * m / (np.sqrt(v) + self.eps)

    def _update(self, i, w, g):
        self._adam_step(i, w, g)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    The decay shrinks the weights directly instead of being added to the
    gradient, so it does not pass through Adam's per-coordinate scaling::

        w <- w - lr * weight_decay * w        (first, with the weights before this step)
        w <- Adam step with g                  (g is the gradient of the loss alone)

    This is what ``torch.optim.AdamW`` and ``keras.optimizers.AdamW`` do: both
    multiply the decay by the learning rate. (The paper multiplies it by the
    schedule factor only, not by Adam's base rate.)
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, eps_mode: str = "outside"):
        super().__init__(lr, beta1, beta2, eps, eps_mode)
        self.weight_decay = _check_number(weight_decay, "weight_decay", low=0.0)

    def _update(self, i, w, g):
        w -= self.lr * self.weight_decay * w
        self._adam_step(i, w, g)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSProp, "adadelta": Adadelta, "adam": Adam, "adamw": AdamW}


def minimize(grad_fn, w0, optimizer: Optimizer, steps: int) -> np.ndarray:
    """Run ``steps`` updates from ``w0``; return the path, shape ``(steps + 1, *w0.shape)``.

    ``grad_fn(w)`` returns the gradient at ``w``. ``w0`` is copied, not changed.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} from this module, "
                         f"got {type(optimizer).__name__}")
    w = np.array(w0, dtype=float)
    path = [w.copy()]
    for _ in range(int(steps)):
        optimizer.step([w], [np.asarray(grad_fn(w), dtype=float)])
        path.append(w.copy())
    return np.stack(path)


# ----------------------------------------------------------------------------
# Test surfaces: value and gradient, for a point w = (x, y) (or a batch of points
# along the first axis, for drawing contours)

def quadratic(w, a: float = 1.0, b: float = 10.0):
    """``f = (a x^2 + b y^2) / 2``: a convex bowl with condition number ``b / a``.

    Returns ``(value, gradient)``.
    """
    w = np.asarray(w, dtype=float)
    x, y = w[..., 0], w[..., 1]
    return 0.5 * (a * x**2 + b * y**2), np.stack([a * x, b * y], axis=-1)


def rosenbrock(w, a: float = 1.0, b: float = 100.0):
    """Rosenbrock's banana valley ``(a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``."""
    w = np.asarray(w, dtype=float)
    x, y = w[..., 0], w[..., 1]
    value = (a - x) ** 2 + b * (y - x**2) ** 2
    grad = np.stack([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)], axis=-1)
    return value, grad


def beale(w):
    """Beale's function; minimum 0 at ``(3, 0.5)``, with flat plateaus and steep walls."""
    w = np.asarray(w, dtype=float)
    x, y = w[..., 0], w[..., 1]
    t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    value = t1**2 + t2**2 + t3**2
    dx = 2 * t1 * (y - 1) + 2 * t2 * (y**2 - 1) + 2 * t3 * (y**3 - 1)
    dy = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y**2
    return value, np.stack([dx, dy], axis=-1)


# ----------------------------------------------------------------------------
# Learning-rate schedules: the rate to use at step t = 0, 1, 2, ...
# ("step" is whatever unit the caller counts: epochs or iterations).

def _check_step(t):
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer) or (t < 0).any():
        raise ValueError(f"step must be a non-negative integer (or array of them), got {t!r}")
    return t.astype(float)


def step_decay(t, lr0: float, drop: float, every: int):
    """``lr0 * drop ** floor(t / every)``: divide by ``1 / drop`` every ``every`` steps."""
    t = _check_step(t)
    lr0 = _check_lr(lr0)
    drop = _check_number(drop, "drop", low=0.0, high=1.0, low_open=True, high_open=False)
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    return lr0 * drop ** np.floor(t / every)


def exponential_decay(t, lr0: float, gamma: float):
    """``lr0 * gamma ** t``: a constant factor per step."""
    t = _check_step(t)
    lr0 = _check_lr(lr0)
    gamma = _check_number(gamma, "gamma", low=0.0, high=1.0, low_open=True, high_open=False)
    return lr0 * gamma**t


def cosine_decay(t, lr0: float, total: int, lr_min: float = 0.0):
    """Half a cosine from ``lr0`` at ``t = 0`` to ``lr_min`` at ``t = total`` (then flat)."""
    t = _check_step(t)
    lr0 = _check_lr(lr0)
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise ValueError(f"total must be a positive integer, got {total!r}")
    lr_min = _check_number(lr_min, "lr_min", low=0.0, high=lr0, high_open=False)
    t = np.minimum(t, total)
    return lr_min + (lr0 - lr_min) * 0.5 * (1 + np.cos(np.pi * t / total))


def warmup_cosine(t, peak: float, warmup: int, total: int, start: float = 0.0):
    """Linear warm-up from ``start`` to ``peak`` over ``warmup`` steps, then cosine to 0.

    ``total`` counts all steps, warm-up included; the cosine part lasts
    ``total - warmup`` steps.
    """
    t = _check_step(t)
    peak = _check_lr(peak)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 1:
        raise ValueError(f"warmup must be a positive integer, got {warmup!r}")
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total <= warmup:
        raise ValueError(f"total must be an integer larger than warmup={warmup}, got {total!r}")
    start = _check_number(start, "start", low=0.0, high=peak, high_open=False)
    rising = start + (peak - start) * t / warmup
    falling = cosine_decay(np.maximum(t - warmup, 0).astype(int), peak, total - warmup)
    return np.where(t < warmup, rising, falling)
