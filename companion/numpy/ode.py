"""ODE solvers by hand: explicit Euler, classical Runge-Kutta (RK4), adaptive Dormand-Prince 5(4).

All solve ``dy/dt = f(t, y)`` from ``y(t0) = y0`` and return the states at the
requested times, shape ``(len(times),) + y0.shape``, like ``torchdiffeq.odeint``.
They are checked against ``scipy.integrate.solve_ivp`` in the tests (part VIII,
chapter Neural ODEs).
"""
from __future__ import annotations

import numpy as np


def _times(t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError(f"times must be a strictly increasing 1-D array of at least 2 values, got {t}")
    return t


def euler_step(f, t, y, h):
    return y + h * f(t, y)


def rk4_step(f, t, y, h):
    """One classical Runge-Kutta step: four slopes, weighted 1/6, 1/3, 1/3, 1/6."""
    k1 = f(t, y)
    k2 = f(t + h / 2, y + h / 2 * k1)
    k3 = f(t + h / 2, y + h / 2 * k2)
    k4 = f(t + h, y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def fixed_grid(f, y0, times, step, steps_per_interval: int = 1):
    """Integrate with a fixed-step method, ``steps_per_interval`` equal steps between requested times."""
    t = _times(times)
    if steps_per_interval < 1:
        raise ValueError(f"steps_per_interval must be at least 1, got {steps_per_interval}")
    y = np.asarray(y0, dtype=float)
    out = [y]
    for a, b in zip(t[:-1], t[1:]):
        h = (b - a) / steps_per_interval
        for k in range(steps_per_interval):
            y = step(f, a + k * h, y, h)
        out.append(y)
    return np.stack(out)


def euler(f, y0, times, steps_per_interval: int = 1):
    return fixed_grid(f, y0, times, euler_step, steps_per_interval)


def rk4(f, y0, times, steps_per_interval: int = 1):
    return fixed_grid(f, y0, times, rk4_step, steps_per_interval)


# Dormand and Prince (1980), the tableau of RK5(4)7M: seven stages, the last one
# evaluated at the new point, so it is the first stage of the next step (FSAL).
DP_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1])
DP_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
DP_B5 = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
DP_B4 = np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])


def dopri5(f, y0, times, rtol: float = 1e-6, atol: float = 1e-9, h0: float | None = None,
           max_steps: int = 100_000):
    """Adaptive Dormand-Prince 5(4) with the usual error control.

    Each step computes a fifth- and a fourth-order solution from the same seven
    slopes; their difference estimates the local error. The step is accepted
    when the scaled error ``||err / (atol + rtol |y|)||_rms`` is at most 1, and
    the next step size is ``h * clip(0.9 err^(-1/5), 0.2, 5)``. Requested times
    are hit exactly by shortening the step. Returns ``(states, stats)`` where
    ``stats`` counts function evaluations (``nfe``), accepted and rejected steps.
    """
    t_out = _times(times)
    y = np.asarray(y0, dtype=float)
    t = t_out[0]
    h = h0 if h0 is not None else 0.01 * (t_out[-1] - t_out[0])
    k1 = f(t, y)
    stats = {"nfe": 1, "accepted": 0, "rejected": 0}
    out = [y]
    for target in t_out[1:]:
        while t < target - 1e-14 * max(1.0, abs(target)):
            if stats["accepted"] + stats["rejected"] >= max_steps:
                raise RuntimeError(f"dopri5 took more than {max_steps} steps (a stiff problem?)")
            h = min(h, target - t)
            k = [k1]
            for i in range(1, 7):
                yi = y + h * sum(a * kj for a, kj in zip(DP_A[i], k))
                k.append(f(t + DP_C[i] * h, yi))
            stats["nfe"] += 6
            y5 = y + h * sum(b * kj for b, kj in zip(DP_B5, k))
            y4 = y + h * sum(b * kj for b, kj in zip(DP_B4, k))
            scale = atol + rtol * np.maximum(np.abs(y), np.abs(y5))
            err = float(np.sqrt(np.mean(((y5 - y4) / scale) ** 2)))
            if err <= 1.0:
                t, y, k1 = t + h, y5, k[6]
                stats["accepted"] += 1
            else:
                stats["rejected"] += 1
            h = h * min(5.0, max(0.2, 0.9 * (err if err > 0 else 1e-10) ** -0.2))
        out.append(y)
    return np.stack(out), stats


def convergence_slope(step_sizes, errors) -> float:
    """Least-squares slope of ``log(error)`` against ``log(step size)``: the order of a method."""
    return float(np.polyfit(np.log(step_sizes), np.log(errors), 1)[0])
