r"""The learning-rate range test (Smith, 2017; popularised as fast.ai's ``lr_find``).

Train for a short while with a rate that grows geometrically from a tiny
value to a huge one, one step per mini-batch, and watch the loss: it barely
moves while the rate is too small, falls quickly over the useful range, and
explodes once the rate is too large. The curve shows where to put the
bounds of a cyclical or one-cycle schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_generator, check_int, check_real
from .containers import restore_states, snapshot_states
from .layers import Layer, restore_parameters, snapshot_parameters
from .losses import Loss
from .optim import SGD
from .schedules import Schedule
from .steps import Objective, batches, check_model, gather_buffers, prepare_data, resolve_batch_size, train_step

__all__ = ["GeometricRate", "LRFinderResult", "lr_find"]


class GeometricRate(Schedule):
    r"""A rate that grows by the same factor every step, from ``start_lr`` to ``end_lr``.

    .. math::
        \eta_t = \eta_{start} \left(\frac{\eta_{end}}{\eta_{start}}\right)^{t / (N - 1)}

    so :math:`\eta_0 = \eta_{start}`, :math:`\eta_{N-1} = \eta_{end}` and
    :math:`\eta_{t+1} / \eta_t` is the same for every :math:`t`.

    Parameters
    ----------
    start_lr : float
        Rate at step 0, ``> 0``.
    end_lr : float
        Rate at step ``num_steps - 1``, ``> start_lr``.
    num_steps : int
        Number of steps of the sweep, ``>= 2``.
    """

    def __init__(self, start_lr: float, end_lr: float, num_steps: int) -> None:
        self.start_lr = check_real("start_lr", start_lr, low=0.0, low_inclusive=False)
        self.end_lr = check_real("end_lr", end_lr, low=0.0, low_inclusive=False)
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr must be > start_lr={self.start_lr!r}, got {self.end_lr!r}")
        self.num_steps = check_int("num_steps", num_steps, low=2)

    def _value(self, step: int) -> float:
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / (self.num_steps - 1))


@dataclass(repr=False)
class LRFinderResult:
    """What :func:`lr_find` measured.

    Attributes
    ----------
    lrs : ndarray of shape (n_points,)
        Learning rate of each step taken, increasing geometrically.
    losses : ndarray of shape (n_points,)
        Smoothed training loss at each of those steps (bias-corrected
        exponential moving average of the batch losses).
    raw_losses : ndarray of shape (n_points,)
        The batch losses themselves.
    suggestion : float or None
        The rate at the steepest descent of the smoothed loss into its
        minimum (the rule is in :func:`lr_find`); ``None`` if the loss never
        fell after the warm-up.
    stopped_early : bool
        True if the sweep ended before ``num_steps`` because the loss
        exploded (or was interrupted with Ctrl-C).
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float | None
    stopped_early: bool

    @property
    def min_loss_lr(self) -> float:
        """The rate at which the smoothed loss was lowest after the warm-up: a ceiling for ``max_lr``."""
        tenth = _warm_up(len(self.losses))
        return float(self.lrs[tenth + int(np.argmin(self.losses[tenth:]))])

    def plot(self, **kwargs: Any) -> Any:
        """Draw smoothed loss against rate (log axis) with the suggestion marked; returns the Figure."""
        from . import plot

        return plot.lr_find(self, **kwargs)

    def __repr__(self) -> str:
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (
            f"LRFinderResult(points={len(self.lrs)}, lr={self.lrs[0]:.3g}..{self.lrs[-1]:.3g}, "
            f"suggestion={suggestion}, min_loss_lr={self.min_loss_lr:.3g}, "
            f"stopped_early={self.stopped_early})"
        )


def _warm_up(n_points: int) -> int:
    """How many first points the suggestion ignores: a tenth, whose averages rest on a handful of batches."""
    return n_points // 10


def _steepest_descent(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """Rate where the smoothed loss falls fastest per unit of log(lr), in its last descent before the minimum.

    Parameters
    ----------
    lrs : ndarray of shape (n_points,)
        Increasing rates.
    losses : ndarray of shape (n_points,)
        Smoothed loss at each rate.

    Returns
    -------
    float or None
        The suggestion of :func:`lr_find` (its docstring gives the rule), or
        ``None`` if the loss never fell after the warm-up.
    """
    tenth = _warm_up(len(losses))
    log_lr, curve = np.log(lrs[tenth:]), losses[tenth:]
    lowest = int(np.argmin(curve))
    if lowest == 0:
        return None
    # The descent into the minimum starts where the loss last stood at its typical level.
    typical = np.median(curve[: lowest + 1])
    start = int(np.flatnonzero(curve[:lowest] >= typical)[-1])
    # Slopes over a tenth of the sweep, not one step, so that a wiggle is not taken for the descent.
    width = max(1, min(tenth, lowest - start))
    log_lr, curve = log_lr[start : lowest + 1], curve[start : lowest + 1]
    slopes = (curve[width:] - curve[:-width]) / (log_lr[width:] - log_lr[:-width])
    i = int(np.argmin(slopes))
    return float(np.exp((log_lr[i] + log_lr[i + width]) / 2))  # geometric middle of that window


def lr_find(
    model: Layer,
    loss: Loss,
    X: Any,
    y: Any,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    batch_size: int | None = 32,
    seed: int | np.random.Generator | None = None,
    smooth: float = 0.98,
    diverge_threshold: float = 4.0,
    momentum: float = 0.0,
) -> LRFinderResult:
    r"""Run the learning-rate range test and put the model back as it was.

    One :class:`~minnet.SGD` step is taken per mini-batch with the rate

    .. math::
        \eta_t = \eta_{start} \left(\frac{\eta_{end}}{\eta_{start}}\right)^{t / (N - 1)},
        \quad t = 0 \dots N - 1,

    going through the data in shuffled batches and starting a new epoch
    (a new shuffle) whenever it runs out. The batch losses :math:`\ell_t`
    are smoothed with a bias-corrected moving average,

    .. math::
        a_t = \beta a_{t-1} + (1 - \beta)\, \ell_t, \quad a_{-1} = 0, \qquad
        \bar\ell_t = a_t / (1 - \beta^{t+1}),

    and the sweep stops early once :math:`\bar\ell_t` exceeds
    ``diverge_threshold`` times the lowest value seen so far, or once a loss
    or an update is NaN or infinite.

    The suggestion is the rate of **steepest descent into the minimum**,
    found in three steps on the :math:`n` points recorded.

    1. *Skip the warm-up.* The first :math:`k = \lfloor n / 10 \rfloor`
       points are ignored: each of their averages holds at most :math:`k`
       batches, and their noise can fall faster than the loss ever does
       (fast.ai, pytorch-lr-finder and the Keras LR finder skip the start too).
    2. *Find the descent.* Let :math:`m` be the point of lowest
       :math:`\bar\ell` among the rest (:attr:`LRFinderResult.min_loss_lr`;
       no suggestion, ``None``, if it is the first) and
       :math:`\tilde\ell = \operatorname{median}(\bar\ell_k, \dots, \bar\ell_m)`
       the loss's typical level before it. The descent runs from
       :math:`s`, the last point before :math:`m` with
       :math:`\bar\ell_s \ge \tilde\ell` (where the loss last stood at its
       typical level), to :math:`m`.
    3. *Take its steepest part.* With the window
       :math:`w = \max(1, \min(k, m - s))`, the slope
       :math:`(\bar\ell_{t+w} - \bar\ell_t) / (\log\eta_{t+w} - \log\eta_t)`
       is computed for every :math:`t` with :math:`s \le t \le m - w`; the
       suggestion is :math:`\sqrt{\eta_t\,\eta_{t+w}}` at the most negative
       one.

    A window rather than single steps keeps a wiggle of the curve from
    being taken for the descent, and looking only between :math:`s` and
    :math:`m` keeps an early drop of noise out, as well as anything past the
    minimum, where the loss rises. The suggestion is thus on the falling
    part of the curve, below :attr:`LRFinderResult.min_loss_lr` and below
    the divergence. It is a good ``max_lr`` for :class:`~minnet.CyclicLR`
    or :class:`~minnet.OneCycle`, or a good constant rate; a tenth of
    :attr:`LRFinderResult.min_loss_lr` (fast.ai's ``minimum``) is the other
    common rule of thumb, and the more cautious one.

    Parameters
    ----------
    model : Layer
        The model to probe. Its parameters (values and gradients) and its
        layers' non-trained state (running statistics, dropout generators)
        are restored afterwards, also when an error or Ctrl-C interrupts the test.
    loss : Loss
    X : array-like of shape (n_samples, n_features) or (n_samples, *shape)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    start_lr, end_lr : float, default 1e-7 and 10.0
        First and last rate of the sweep, ``0 < start_lr < end_lr``.
    num_steps : int, default 100
        Number of steps (batches) if the loss does not explode first, ``>= 2``.
    batch_size : int or None, default 32
        Samples per step; ``None`` uses the whole data set each step.
    seed : int, Generator or None
        Seed of the shuffling.
    smooth : float, default 0.98
        :math:`\beta` of the moving average, in ``[0, 1)``; 0 means no smoothing.
    diverge_threshold : float, default 4.0
        Stop when the smoothed loss exceeds this multiple of its lowest
        value, ``> 1``.
    momentum : float, default 0.0
        Momentum of the SGD used for the sweep, in ``[0, 1)``; match the
        optimizer you will train with.

    Returns
    -------
    LRFinderResult
        ``lrs``, ``losses`` (smoothed), ``raw_losses``, ``suggestion``,
        ``stopped_early`` and ``plot()``.

    Examples
    --------
    >>> result = mn.lr_find(model, mn.BCE(), X_train, y_train, seed=0)   # doctest: +SKIP
    >>> result.suggestion                                                 # doctest: +SKIP
    0.21
    >>> result.plot()                                                     # doctest: +SKIP
    """
    check_model(model)
    objective = Objective(model, loss)
    schedule = GeometricRate(start_lr, end_lr, num_steps)
    smooth = check_real("smooth", smooth, low=0.0, high=1.0, high_inclusive=False)
    diverge_threshold = check_real("diverge_threshold", diverge_threshold, low=1.0, low_inclusive=False)
    params = model.parameters()
    if not params:
        raise ValueError(f"model {model!r} has no parameters to train")
    optimizer = SGD(params, lr=schedule, momentum=momentum)
    rng = as_generator("seed", seed)
    inputs, targets = prepare_data(model, objective, X, y)
    batch = resolve_batch_size(batch_size, len(inputs[0]))

    saved_values = snapshot_parameters(params)
    saved_grads = [p.grad.copy() for p in params]
    saved_states = snapshot_states(model)  # running statistics and dropout generators move in the trial steps
    try:
        points = _sweep(
            model,
            objective,
            optimizer,
            [*inputs, *targets],
            len(inputs),
            batch,
            rng,
            smooth,
            diverge_threshold,
            num_steps,
        )
    finally:
        restore_parameters(params, saved_values)
        restore_states(saved_states)
        for p, grad in zip(params, saved_grads):
            p.grad[...] = grad
    if not points:
        raise RuntimeError(
            "the range test recorded no step (the first loss was not finite, "
            "or it was interrupted at once); check the model's initial weights"
        )
    lrs, raw, smoothed = (np.array(column) for column in zip(*points))
    return LRFinderResult(
        lrs=lrs,
        losses=smoothed,
        raw_losses=raw,
        suggestion=_steepest_descent(lrs, smoothed),
        stopped_early=len(points) < num_steps,
    )


def _sweep(
    model: Layer,
    objective: Objective,
    optimizer: SGD,
    data: list[np.ndarray],
    n_inputs: int,
    batch: int,
    rng: np.random.Generator,
    smooth: float,
    diverge_threshold: float,
    num_steps: int,
) -> list[tuple[float, float, float]]:
    """Take up to ``num_steps`` steps; return ``(lr, raw loss, smoothed loss)`` per step.

    The steps are :func:`minnet.fit`'s, over shuffled passes through the
    data, a new shuffle for each pass.
    """
    points: list[tuple[float, float, float]] = []
    buffers = gather_buffers(data, batch)
    average, best = 0.0, math.inf
    # Every sweep ends in the explosion it looks for; its overflow is the
    # expected end of the test, not something to warn about.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while True:  # a new shuffled pass whenever the data run out; returns after num_steps
                order = rng.permutation(len(data[0])) if buffers is not None else None
                for arrays in batches(data, batch, order, buffers):
                    lr = optimizer.current_lr  # the step below moves it on
                    value, _, failure = train_step(model, objective, optimizer, arrays[:n_inputs], arrays[n_inputs:])
                    if not math.isfinite(value):
                        return points
                    step = len(points)
                    average = smooth * average + (1.0 - smooth) * value
                    current = average / (1.0 - smooth ** (step + 1))
                    # One append, so an interrupt cannot leave the three series uneven.
                    points.append((lr, value, current))
                    best = min(best, current)
                    if failure is not None or current > diverge_threshold * best or len(points) == num_steps:
                        return points
        except KeyboardInterrupt:
            pass  # like fit: Ctrl-C ends the sweep and reports what was measured
    return points
