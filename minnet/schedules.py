r"""Learning-rate (and momentum) schedules.

A schedule is a pure function of the step count: ``schedule(step)`` returns
the value to use for the optimizer step numbered ``step``, where ``step`` is
the number of optimizer steps already taken (0 for the first). Schedules keep
no mutable state, so calling one twice gives the same value, the optimizer
alone owns the step counter, and a schedule pickles and prints like the code
that built it::

    >>> s = CyclicLR(base_lr=0.05, max_lr=1.0, step_size_up=200)
    >>> s(0), s(200), s(400)
    (0.05, 1.0, 0.05)

The cyclical and one-cycle schedules give the same numbers as their
``torch.optim.lr_scheduler`` counterparts: ``s(k)`` equals the rate PyTorch's
optimizer uses on its ``(k + 1)``-th ``step()``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from ._validation import check_choice, check_int, check_real

__all__ = [
    "Constant",
    "CosineDecay",
    "CyclicLR",
    "ExponentialDecay",
    "OneCycle",
    "OneCycleMomentum",
    "Schedule",
    "StepDecay",
]


class Schedule:
    """Base class: a value that depends only on the optimizer step count.

    Subclasses implement ``_value(step)`` for an already-checked ``step`` and
    store each constructor argument under its own name, which is all that
    ``__repr__``, ``__eq__`` and pickling need.
    """

    def __call__(self, step: int) -> float:
        """Return the value for the step numbered ``step`` (0 for the first)."""
        return self._value(check_int("step", step, low=0))

    def _value(self, step: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement _value(step)")

    def values(self, steps: int) -> np.ndarray:
        """Return the values for steps ``0 .. steps - 1``, for plotting.

        Parameters
        ----------
        steps : int
            Number of steps.

        Returns
        -------
        ndarray of shape (steps,)
        """
        steps = check_int("steps", steps, low=0)
        return np.array([self._value(step) for step in range(steps)], dtype=np.float64)

    def _params(self) -> dict[str, Any] | None:
        # The constructor signature is the single source of truth for repr and
        # equality, so a new argument cannot be forgotten in either. A user's
        # subclass that stores its arguments under other names gets None, and
        # with it the default repr and identity equality.
        signature = inspect.signature(type(self).__init__).parameters.values()
        names = [
            p.name
            for p in list(signature)[1:]
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]
        if not all(hasattr(self, name) for name in names):
            return None
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = self._params()
        if params is None:
            return f"<{type(self).__name__} schedule>"
        args = ", ".join(f"{name}={value!r}" for name, value in params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        params = self._params()
        return self is other if params is None else params == other._params()

    def __hash__(self) -> int:
        params = self._params()
        return id(self) if params is None else hash((type(self).__name__, tuple(params.items())))


class Constant(Schedule):
    r"""The same value at every step.

    .. math::
        \eta_t = \eta

    Parameters
    ----------
    value : float
        The value, ``>= 0``.
    """

    def __init__(self, value: float) -> None:
        self.value = check_real("value", value, low=0.0)

    def _value(self, step: int) -> float:
        return self.value


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(Schedule):
    r"""Cyclical learning rate (Smith, 2017).

    The rate climbs linearly from ``base_lr`` to ``max_lr`` over
    ``step_size_up`` steps, falls back over ``step_size_down`` steps, and
    repeats. With :math:`u` and :math:`d` the two step sizes, at step
    :math:`t`:

    .. math::
        c = \left\lfloor 1 + \frac{t}{u + d} \right\rfloor, \quad
        x = 1 + \frac{t}{u + d} - c, \quad
        r = \frac{u}{u + d}

    .. math::
        s = \begin{cases} x / r & x \le r \\ (1 - x) / (1 - r) & x > r \end{cases}, \quad
        \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, s\, f

    .. math::
        f = \begin{cases} 1 & \text{triangular} \\
                          2^{-(c - 1)} & \text{triangular2} \\
                          \gamma^{t} & \text{exp_range} \end{cases}

    Values equal ``torch.optim.lr_scheduler.CyclicLR`` (with
    ``cycle_momentum=False`` and the default ``scale_mode`` of each mode).
    Note that torch's default, ``cycle_momentum=True``, also cycles the SGD
    momentum between 0.8 and 0.9; here the momentum is whatever ``SGD`` is
    given, a float or a schedule of its own.

    Parameters
    ----------
    base_lr : float
        Lowest rate, ``>= 0``; also the rate at step 0.
    max_lr : float
        Highest rate, ``> 0`` and ``>= base_lr``. Reached at step
        ``step_size_up`` of every cycle in ``triangular`` mode and of the first
        cycle in ``triangular2``; ``exp_range`` scales it down by
        ``gamma ** step`` from step 0.
    step_size_up : int, default 2000
        Steps from ``base_lr`` up to the peak.
    step_size_down : int or None, default None
        Steps from the peak back down; ``None`` means ``step_size_up``.
    mode : {"triangular", "triangular2", "exp_range"}, default "triangular"
        ``triangular2`` halves the amplitude every cycle; ``exp_range``
        scales it by ``gamma ** step``.
    gamma : float, default 1.0
        Decay per step for ``exp_range``, in ``(0, 1]``; other modes ignore it.
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
    ) -> None:
        self.base_lr = check_real("base_lr", base_lr, low=0.0)
        self.max_lr = check_real("max_lr", max_lr, low=0.0, low_inclusive=False)
        if self.max_lr < self.base_lr:
            raise ValueError(f"max_lr must be >= base_lr={self.base_lr!r}, got {self.max_lr!r}")
        self.step_size_up = check_int("step_size_up", step_size_up, low=1)
        self.step_size_down = None if step_size_down is None else check_int("step_size_down", step_size_down, low=1)
        self.mode = check_choice("mode", mode, _CYCLIC_MODES)
        self.gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)

    def _value(self, step: int) -> float:
        # Same operations in the same order as PyTorch, so values agree to the bit.
        up = float(self.step_size_up)
        down = up if self.step_size_down is None else float(self.step_size_down)
        total_size = up + down
        step_ratio = up / total_size
        cycle = math.floor(1 + step / total_size)
        x = 1.0 + step / total_size - cycle
        if x <= step_ratio:
            scale_factor = x / step_ratio
        else:
            scale_factor = (x - 1) / (step_ratio - 1)
        base_height = (self.max_lr - self.base_lr) * scale_factor
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            # PyTorch writes 1 / 2.0 ** (cycle - 1): the same powers of two, but
            # that overflows after 1024 cycles where this underflows to 0.
            scale = 0.5 ** (cycle - 1)
        else:
            scale = self.gamma**step
        return self.base_lr + base_height * scale


_ANNEAL_STRATEGIES = ("cos", "linear")


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle(schedule: OneCycle | OneCycleMomentum, step: int, start: float, peak: float, end: float) -> float:
    """Anneal ``start -> peak`` in phase 1, then ``peak -> end`` in phase 2."""
    total_steps = schedule.total_steps
    if step >= total_steps:
        raise ValueError(
            f"step must be < total_steps={total_steps}, got {step}; build the schedule with a larger total_steps"
        )
    # PyTorch's phase boundaries: the peak is at step pct_start * total_steps - 1,
    # which need not be a whole number.
    peak_step = float(schedule.pct_start * total_steps) - 1
    last_step = total_steps - 1
    # A warm-up shorter than one step (peak_step <= 0) starts in phase 2;
    # PyTorch divides by zero when peak_step is exactly 0, here step 0 is the peak.
    if 0 < peak_step and step <= peak_step:
        return _anneal(schedule.anneal_strategy, start, peak, step / peak_step)
    return _anneal(schedule.anneal_strategy, peak, end, (step - peak_step) / (last_step - peak_step))


class OneCycle(Schedule):
    r"""One-cycle learning rate (Smith & Topin, 2018).

    The rate anneals from ``max_lr / div_factor`` up to ``max_lr`` during
    the first ``pct_start`` of training, then down to
    ``max_lr / (div_factor * final_div_factor)`` at the last step. With
    :math:`T` = ``total_steps`` and :math:`p` = ``pct_start``, the peak is at
    :math:`t_p = pT - 1` and each phase interpolates with

    .. math::
        \text{cos}(a, b, q) = b + \frac{a - b}{2} (1 + \cos \pi q), \qquad
        \text{linear}(a, b, q) = a + (b - a)\, q

    .. math::
        \eta_t = \begin{cases}
            \text{anneal}(\eta_{max} / \delta,\ \eta_{max},\ t / t_p) & t \le t_p \\
            \text{anneal}(\eta_{max},\ \eta_{max} / (\delta \delta_f),\
                          (t - t_p) / (T - 1 - t_p)) & t > t_p
        \end{cases}

    Values equal ``torch.optim.lr_scheduler.OneCycleLR(three_phase=False)``
    for steps ``0 .. total_steps - 1``. A later step raises ``ValueError``.

    Parameters
    ----------
    max_lr : float
        Peak rate, ``> 0``.
    total_steps : int
        Number of optimizer steps in the run, ``>= 1``.
    pct_start : float, default 0.3
        Fraction of the steps spent increasing the rate, in ``(0, 1)``.
    anneal_strategy : {"cos", "linear"}, default "cos"
        Shape of both phases.
    div_factor : float, default 25.0
        Initial rate is ``max_lr / div_factor``; ``>= 1``.
    final_div_factor : float, default 1e4
        Final rate is the initial rate divided by this; ``>= 1``.

    See Also
    --------
    OneCycleMomentum : the matching momentum schedule, also from :meth:`momentum`.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        self.max_lr = check_real("max_lr", max_lr, low=0.0, low_inclusive=False)
        self.total_steps = check_int("total_steps", total_steps, low=1)
        self.pct_start = check_real(
            "pct_start", pct_start, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        self.anneal_strategy = check_choice("anneal_strategy", anneal_strategy, _ANNEAL_STRATEGIES)
        # Factors below 1 would put the start or the end above max_lr.
        self.div_factor = check_real("div_factor", div_factor, low=1.0)
        self.final_div_factor = check_real("final_div_factor", final_div_factor, low=1.0)

    def _value(self, step: int) -> float:
        initial_lr = self.max_lr / self.div_factor
        min_lr = initial_lr / self.final_div_factor
        return _one_cycle(self, step, initial_lr, self.max_lr, min_lr)

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> OneCycleMomentum:
        """Return the momentum schedule that cycles inversely to this rate.

        ``SGD(params, lr=s, momentum=s.momentum())`` reproduces PyTorch's
        ``OneCycleLR`` with ``cycle_momentum=True``.
        """
        return OneCycleMomentum(self.total_steps, self.pct_start, base_momentum, max_momentum, self.anneal_strategy)


class OneCycleMomentum(Schedule):
    r"""Momentum that mirrors :class:`OneCycle`: high when the rate is low.

    It anneals from ``max_momentum`` down to ``base_momentum`` while the
    rate rises, then back up to ``max_momentum`` while it falls, with the
    same phase boundaries and ``anneal`` as :class:`OneCycle`:

    .. math::
        m_t = \begin{cases}
            \text{anneal}(m_{max},\ m_{base},\ t / t_p) & t \le t_p \\
            \text{anneal}(m_{base},\ m_{max},\ (t - t_p) / (T - 1 - t_p)) & t > t_p
        \end{cases}

    Values equal the momentum set by
    ``torch.optim.lr_scheduler.OneCycleLR(cycle_momentum=True)``.

    Parameters
    ----------
    total_steps : int
        Number of optimizer steps in the run, ``>= 1``.
    pct_start : float, default 0.3
        Fraction of the steps spent decreasing the momentum, in ``(0, 1)``.
    base_momentum : float, default 0.85
        Lowest momentum, reached at the rate's peak; ``>= 0``.
    max_momentum : float, default 0.95
        Highest momentum, at the start and the end; ``>= base_momentum``
        and ``< 1``.
    anneal_strategy : {"cos", "linear"}, default "cos"
        Shape of both phases.
    """

    def __init__(
        self,
        total_steps: int,
        pct_start: float = 0.3,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        anneal_strategy: str = "cos",
    ) -> None:
        self.total_steps = check_int("total_steps", total_steps, low=1)
        self.pct_start = check_real(
            "pct_start", pct_start, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        self.base_momentum = check_real("base_momentum", base_momentum, low=0.0)
        # A momentum of 1 or more never forgets a gradient, so the steps grow without bound.
        self.max_momentum = check_real("max_momentum", max_momentum, high=1.0, high_inclusive=False)
        if self.max_momentum < self.base_momentum:
            raise ValueError(f"max_momentum must be >= base_momentum={self.base_momentum!r}, got {self.max_momentum!r}")
        self.anneal_strategy = check_choice("anneal_strategy", anneal_strategy, _ANNEAL_STRATEGIES)

    def _value(self, step: int) -> float:
        return _one_cycle(self, step, self.max_momentum, self.base_momentum, self.max_momentum)


class StepDecay(Schedule):
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps.

    .. math::
        \eta_t = \eta \, \gamma^{\lfloor t / s \rfloor}

    Values equal ``torch.optim.lr_scheduler.StepLR`` stepped once per batch
    (PyTorch multiplies repeatedly, so the two agree to rounding).

    Parameters
    ----------
    lr : float
        Rate for the first ``step_size`` steps, ``> 0``.
    step_size : int
        Steps between decays, ``>= 1``.
    gamma : float, default 0.1
        Factor per decay, in ``(0, 1]``.
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = check_real("lr", lr, low=0.0, low_inclusive=False)
        self.step_size = check_int("step_size", step_size, low=1)
        self.gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)

    def _value(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)


class ExponentialDecay(Schedule):
    r"""Multiply the rate by ``gamma`` every step.

    .. math::
        \eta_t = \eta \, \gamma^{t}

    Values equal ``torch.optim.lr_scheduler.ExponentialLR`` stepped once per
    batch (to rounding, as for :class:`StepDecay`).

    Parameters
    ----------
    lr : float
        Rate at step 0, ``> 0``.
    gamma : float
        Factor per step, in ``(0, 1]``.
    """

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = check_real("lr", lr, low=0.0, low_inclusive=False)
        self.gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)

    def _value(self, step: int) -> float:
        return self.lr * self.gamma**step


class CosineDecay(Schedule):
    r"""Half a cosine from ``lr`` down to ``min_lr`` over ``total_steps``.

    .. math::
        \eta_t = \eta_{min} + \frac{\eta - \eta_{min}}{2}
                 \left(1 + \cos \frac{\pi \min(t, T)}{T}\right)

    Values equal ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=total_steps,
    eta_min=min_lr)`` for steps ``0 .. total_steps``. After that the rate
    holds at ``min_lr``, whereas PyTorch's keeps following the cosine back up.

    Parameters
    ----------
    lr : float
        Rate at step 0, ``> 0``.
    total_steps : int
        Step at which ``min_lr`` is reached, ``>= 1``.
    min_lr : float, default 0.0
        Final rate, in ``[0, lr]``.
    """

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0) -> None:
        self.lr = check_real("lr", lr, low=0.0, low_inclusive=False)
        self.total_steps = check_int("total_steps", total_steps, low=1)
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be <= lr={self.lr!r}, got {self.min_lr!r}")

    def _value(self, step: int) -> float:
        step = min(step, self.total_steps)
        # PyTorch's operand order, so both compute the same cosine.
        cos = math.cos(math.pi * step / self.total_steps)
        return self.min_lr + (self.lr - self.min_lr) * (1 + cos) / 2
