"""Optimizers: they own the parameters, the step counter and any running state."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Union

import numpy as np

from ._validation import check_bool, check_real, stored_arrays, stored_dict, stored_int
from .layers import Parameter

__all__ = ["Optimizer", "SGD", "NonFiniteUpdate"]

Rate = Union[float, Callable[[int], float]]


class NonFiniteUpdate(FloatingPointError):
    """An update would have made a parameter NaN or infinite; nothing was changed."""


def _check_rate(name: str, value: Any, *, low: float, high: float | None = None,
                high_inclusive: bool = True) -> Rate:
    """A rate is a float in range or a schedule ``step -> float``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_real(name, value, low=low, high=high, high_inclusive=high_inclusive)
    if callable(value):
        return value
    raise TypeError(f"{name} must be a float or a schedule (a callable step -> float), got {value!r}")


def _difference_is_finite(value: np.ndarray, step: np.ndarray) -> bool:
    """Whether every element of ``value - step`` is finite, without computing it.

    A finite sum of squares (a BLAS dot product: one fast read, no writes)
    bounds every element by sqrt(max float), and the difference of two such
    numbers cannot overflow. Only when a sum of squares is not finite (a NaN
    or inf, or merely huge elements) is the difference computed and checked.
    """
    if math.isfinite(np.vdot(value, value) + np.vdot(step, step)):  # vdot flattens; inf + x stays inf
        return True
    return bool(np.isfinite(value - step).all())


class Optimizer:
    """Base class: holds the parameters and counts the steps taken.

    ``step()`` updates every parameter in place from its ``grad``. A rate
    given as a schedule is evaluated at ``step_count``, the number of steps
    already taken, and the counter is advanced by ``step()`` itself, so a
    schedule cannot be stepped at the wrong time.
    """

    def __init__(self, params: Iterable[Parameter]) -> None:
        if isinstance(params, Parameter):
            params = [params]
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of Parameter (e.g. model.parameters()), "
                            f"got {params!r}") from None
        if not params:
            raise ValueError("params is empty: the optimizer has nothing to train")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"params must hold Parameter objects, got {p!r}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("params holds the same Parameter twice; it would be updated twice per step")
        self.params = params
        self.step_count = 0

    def rate(self, name: str, step: int | None = None) -> float:
        """Value of the hyperparameter ``name`` (e.g. ``"lr"``) at ``step``.

        ``step`` defaults to the next step to be taken.
        """
        value = getattr(self, name)
        if not callable(value):
            return value
        step = self.step_count if step is None else step
        result = value(step)
        if isinstance(result, bool) or not isinstance(result, numbers.Real) or not np.isfinite(result):
            raise ValueError(f"{name} schedule {value!r} returned {result!r} at step {step}; "
                             f"expected a finite float")
        return float(result)

    @property
    def current_lr(self) -> float:
        """Learning rate the next ``step()`` will use."""
        return self.rate("lr")

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The running state (step count and buffers), for checkpoints."""
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, after checking all of it.

        The state may come from a file, so nothing in it is trusted: it must
        have exactly the keys of :meth:`state_dict`, and a step count that
        is a non-negative integer. A subclass checks its own entries, then
        calls this, then commits them, so that a refused state changes nothing.

        Raises
        ------
        ValueError
            Naming the entry that does not fit.
        """
        state = stored_dict("optimizer state", state, self.state_dict())
        self.step_count = stored_int("step_count", state["step_count"])


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    With gradient :math:`g_t` of parameter :math:`\theta_t`, weight decay
    :math:`\lambda`, momentum :math:`\mu`, dampening :math:`\tau` and rate :math:`\eta`:

    .. math::
        d_t &= g_t + \lambda\,\theta_t \\
        v_t &= \begin{cases} d_t & t = 0 \\ \mu\, v_{t-1} + (1 - \tau)\, d_t & t > 0 \end{cases} \\
        \theta_{t+1} &= \theta_t - \eta\,\begin{cases} d_t + \mu\, v_t & \text{nesterov} \\
                                                          v_t & \text{otherwise} \end{cases}

    Without momentum the step is plain gradient descent,
    :math:`\theta_{t+1} = \theta_t - \eta\, d_t`.

    Parameters
    ----------
    params : iterable of Parameter
        Usually ``model.parameters()``.
    lr : float or Schedule
        Learning rate, or a schedule ``step -> lr`` evaluated before every step.
    momentum : float or Schedule, default 0.0
        In [0, 1); a schedule lets it cycle inversely to the rate.
    nesterov : bool, default False
        Nesterov momentum; needs momentum > 0 and no dampening.
    weight_decay : float, default 0.0
        L2 penalty coefficient :math:`\lambda`, added to the gradient.
    dampening : float, default 0.0
        :math:`\tau`, as in torch.

    Notes
    -----
    The new values are computed for every parameter before any is written;
    if one would be NaN or infinite, ``step`` raises :class:`NonFiniteUpdate`
    and leaves the parameters, momentum buffers and step count untouched.
    """

    def __init__(self, params: Iterable[Parameter], lr: Rate, momentum: Rate = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0) -> None:
        super().__init__(params)
        self.lr = _check_rate("lr", lr, low=0.0)
        self.momentum = _check_rate("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        nesterov = check_bool("nesterov", nesterov)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        self.dampening = check_real("dampening", dampening, low=0.0, high=1.0)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0, "
                             f"got momentum={self.momentum!r}, dampening={self.dampening!r}")
        self.nesterov = nesterov
        # Momentum buffers v_t, created on the first step as torch does.
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)
        self._scratch = [np.empty_like(p.value) for p in self.params]  # lr * d of each parameter
        self._spares: list[np.ndarray | None] = [None] * len(self.params)  # see _spare
        self._uses_momentum = callable(self.momentum) or self.momentum > 0

    def step(self) -> None:
        """Apply one update to every parameter from its current ``grad``, in place.

        Raises
        ------
        NonFiniteUpdate
            If a new value would be NaN or infinite; nothing is changed.
        ValueError
            If a schedule returns a negative rate or a momentum outside [0, 1).
        """
        lr = self.rate("lr")
        if lr < 0:
            raise ValueError(f"lr schedule {self.lr!r} returned a negative rate {lr!r} "
                             f"at step {self.step_count}")
        momentum = self.rate("momentum") if self._uses_momentum else 0.0
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum schedule {self.momentum!r} returned {momentum!r} at step "
                             f"{self.step_count}; momentum must lie in [0, 1)")
        # Each step lr * d goes into a scratch array kept from step to step
        # (allocating one the size of every parameter on each step costs as
        # much as the update itself), and is subtracted in place only once every
        # parameter's new value is known to be finite.
        steps = self._scratch_arrays()
        new_buffers = list(self.buffers)
        # An overflow is reported as NonFiniteUpdate below; numpy's own
        # RuntimeWarning about it would only be noise.
        with np.errstate(over="ignore", invalid="ignore"):
            for i, (p, step) in enumerate(zip(self.params, steps)):
                d = p.grad
                if self.weight_decay != 0:
                    d = np.multiply(p.value, self.weight_decay, out=step)
                    d += p.grad
                if momentum != 0:  # as torch: a step at momentum 0 neither uses nor updates the buffer
                    # v_t goes into a spare array, swapped with v_{t-1} on commit: no
                    # allocation per step, and v_{t-1} survives if the step is refused.
                    buf, new = self.buffers[i], self._spare(i)
                    if buf is None:
                        np.copyto(new, d)
                    else:
                        np.multiply(buf, momentum, out=new)
                        new += d if self.dampening == 0 else (1.0 - self.dampening) * d
                    new_buffers[i] = new
                    d = d + momentum * new if self.nesterov else new
                np.multiply(d, lr, out=step)
                if not _difference_is_finite(p.value, step):
                    raise NonFiniteUpdate(f"the update of parameter {p.name or '?'} {p.value.shape} at step "
                                          f"{self.step_count} (lr={lr!r}) would make it non-finite")
            # Commit only once every new value is known to be finite.
            for p, step in zip(self.params, steps):
                np.subtract(p.value, step, out=p.value)  # p.value - lr * d
        self._spares = [old if new is not old else spare  # the replaced buffers become the spares
                        for old, new, spare in zip(self.buffers, new_buffers, self._spares)]
        self.buffers = new_buffers
        self.step_count += 1

    def _spare(self, i: int) -> np.ndarray:
        """A scratch array for parameter ``i``'s next momentum buffer."""
        spare = self._spares[i]
        if spare is None or spare.shape != self.params[i].value.shape or spare.dtype != self.params[i].value.dtype:
            spare = self._spares[i] = np.empty_like(self.params[i].value)
        return spare

    def _scratch_arrays(self) -> list[np.ndarray]:
        """One array per parameter, of its shape and dtype, reused by every step."""
        for i, p in enumerate(self.params):
            a = self._scratch[i]
            if a.shape != p.value.shape or a.dtype != p.value.dtype:  # a parameter was replaced
                self._scratch[i] = np.empty_like(p.value)
        return self._scratch

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["buffers"] = [None if b is None else b.copy() for b in self.buffers]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step count and momentum buffers, after checking them.

        Each buffer must be None (not created yet) or a finite array of its
        parameter's shape and dtype.

        Raises
        ------
        ValueError
            Naming the entry that does not fit; nothing is changed.
        """
        state = stored_dict("optimizer state", state, self.state_dict())
        buffers = stored_arrays("momentum buffers", state["buffers"],
                                [(p.value.shape, p.value.dtype) for p in self.params], allow_none=True)
        super().load_state_dict(state)  # checks and sets the step count
        self.buffers = buffers

    def __repr__(self) -> str:
        args = [f"lr={self.lr!r}"]
        if self.momentum != 0:
            args.append(f"momentum={self.momentum!r}")
        if self.nesterov:
            args.append("nesterov=True")
        if self.weight_decay:
            args.append(f"weight_decay={self.weight_decay!r}")
        if self.dampening:
            args.append(f"dampening={self.dampening!r}")
        return f"SGD(<{len(self.params)} parameters>, {', '.join(args)})"
