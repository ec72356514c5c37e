"""Optimizers: they own the parameters, the step counter and any running state.

Every optimizer is one update rule in one template: :class:`Optimizer`
evaluates the rates, asks the rule for each parameter's step and new state,
checks that all of it is finite, and only then commits it, all at once.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from ._interrupts import sigint_held
from ._validation import all_finite, check_bool, check_real
from .clipping import check_clipping, clip_gradients
from .io.fields import stored_arrays, stored_dict, stored_int
from .layers import Parameter
from .layers.base import parameter_list

__all__ = ["SGD", "Adam", "AdamW", "NonFiniteUpdate", "Optimizer", "RMSprop"]

Rate = float | Callable[[int], float]

#: One parameter's running state: named arrays of its shape and dtype (None: not created yet).
State = dict[str, Any]


class NonFiniteUpdate(FloatingPointError):
    """An update would have made a parameter NaN or infinite; nothing was changed."""


def _check_rate(name: str, value: Any, *, low: float, high: float | None = None, high_inclusive: bool = True) -> Rate:
    """A rate is a float in range or a schedule ``step -> float``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_real(name, value, low=low, high=high, high_inclusive=high_inclusive)
    if callable(value):
        return value
    raise TypeError(f"{name} must be a float or a schedule (a callable step -> float), got {value!r}")


@functools.cache
def _squares_bound_steps(dtype: np.dtype) -> bool:
    """Whether a finite sum of squares of a step in ``dtype`` proves that no subtraction of it can overflow.

    Such a sum bounds every element by sqrt(max float), and a finite value
    minus one so bounded overflows only if sqrt(max) reaches half the
    spacing of the floats next to max: never for float32 (2**64 against
    2**103) or float64, always for float16 (256 against 16).
    """
    info = np.finfo(dtype)
    return math.sqrt(float(info.max)) < 2.0 ** (info.maxexp - info.nmant - 2)


def _update_is_finite(value: np.ndarray, step: np.ndarray) -> bool:
    """Whether every element of ``value - step`` is finite, for a finite ``value``, without computing it.

    One read of the candidate step (a BLAS dot product, no writes) decides
    it, by :func:`_squares_bound_steps`; only when the sum of squares is
    not finite (a NaN or inf, or merely huge elements), or for a float too
    narrow for that bound, is the difference computed and checked.
    """
    if _squares_bound_steps(step.dtype) and math.isfinite(np.vdot(step, step)):  # vdot flattens
        return True
    return bool(np.isfinite(value - step).all())


def _lerp(start: np.ndarray, end: np.ndarray, weight: float, out: np.ndarray) -> np.ndarray:
    """The moving average ``(1 - weight) start + weight end``, written into ``out``.

    Computed as ``start + weight (end - start)`` (torch's ``lerp``): three
    in-place passes and no temporary array. ``start`` is left as it was.
    """
    np.subtract(end, start, out=out)
    out *= weight
    out += start
    return out


def _param_groups(params: Any) -> list[dict[str, Any]]:
    """``params`` (Parameters, or dicts with a "params" entry) as a list of groups, each checked."""
    if isinstance(params, (Parameter, dict)):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"params must be an iterable of Parameter (e.g. model.parameters()) or of dicts, got {params!r}"
        ) from None
    if not params:
        raise ValueError("params is empty: the optimizer has nothing to train")
    if not all(isinstance(g, dict) for g in params):
        return [{"params": _group_params(params, "params")}]
    groups = []
    for k, group in enumerate(params):
        if "params" not in group:
            raise ValueError(f"parameter group {k} has no 'params' entry, got the keys {sorted(group)}")
        groups.append({**group, "params": _group_params(group["params"], f"parameter group {k}")})
    return groups


def _group_params(params: Any, where: str) -> list[Parameter]:
    """The Parameters of one group, as a list, none of them twice."""
    params = parameter_list(params, where)
    if not params:
        raise ValueError(f"{where} is empty: the optimizer has nothing to train there")
    return params


def _constructor_arguments(cls: type[Optimizer]) -> list[str]:
    """The names of ``cls``'s constructor arguments after ``self`` and ``params``."""
    arguments = list(inspect.signature(cls).parameters.values())[1:]
    return [
        a.name
        for a in arguments
        if a.kind not in (a.VAR_POSITIONAL, a.VAR_KEYWORD) and a.name not in ("clip_norm", "clip_value")
    ]


def _group_repr(group: dict[str, Any]) -> str:
    settings = "".join(f", {name}={value!r}" for name, value in group.items() if name != "params")
    return f"{{<{len(group['params'])} parameters>{settings}}}"


class Optimizer:
    r"""Base class: the parameters, the step counter, the running state and the one ``step()``.

    A subclass writes only its update rule, :meth:`compute_step`. Each
    ``step()`` then runs in three phases:

    1. **rates**: every hyperparameter named in ``schedulable`` that was
       given as a schedule is evaluated at ``step_count`` and checked, once;
    2. **compute**: the rule gives each parameter's step :math:`\Delta` and
       its new running state, writing into nothing the parameter or the
       optimizer holds;
    3. **check, then commit**: if every new value :math:`\theta - \Delta`
       is finite (and every new state named in ``state_to_check``), all
       values and states are replaced at once and ``step_count`` advances;
       otherwise :class:`NonFiniteUpdate` is raised and nothing has changed.
       A Ctrl-C cannot split the commit: it takes effect right after it.

    A rate given as a schedule is evaluated at ``step_count``, the number of
    steps already taken, and only ``step()`` advances the counter, so a
    schedule cannot be stepped at the wrong time.

    Parameters
    ----------
    params : iterable of Parameter, or of dict
        Usually ``model.parameters()``; each is updated in place, except
        while it is frozen (``p.trainable`` False: no update, no weight
        decay, its running state kept). Or **parameter groups**, as
        ``torch.optim``: dicts ``{"params": [...], "lr": 1e-3, ...}``,
        each group setting any hyperparameter of the constructor (a
        schedule where a schedule is allowed) and taking the others from
        the constructor's arguments. A parameter may be in one group only.
    clip_norm : float, optional
        Before each step, scale the gradients so that their global 2-norm
        is at most ``clip_norm`` (:func:`~minnet.clip_grad_norm`; Keras'
        ``global_clipnorm``).
    clip_value : float, optional
        Before each step, clip each gradient element into
        ``[-clip_value, clip_value]`` (:func:`~minnet.clip_grad_value`;
        Keras' ``clipvalue``). At most one of the two.
    **defaults
        The hyperparameters, as the subclass's constructor received them:
        checked by :meth:`check_hyperparameters` and kept as attributes.

    Attributes
    ----------
    params : list of Parameter
        Every parameter, group after group.
    param_groups : list of dict
        ``{"params": [...], **hyperparameters the group sets}``; the
        others are the optimizer's attributes (``opt.lr``). Change one with
        :meth:`set_hyperparameter`, which checks the value.
    step_count : int
        Steps taken so far.
    state : list of dict
        Each parameter's running state (see :meth:`init_state`); read it,
        do not write it (:meth:`state_dict` gives a copy).
    """

    #: The hyperparameters that may be schedules, each with the interval
    #: ``[low, high)`` a scheduled value must lie in.
    schedulable: ClassVar[dict[str, tuple[float, float]]] = {"lr": (0.0, math.inf)}

    #: State that a finite step does not vouch for, so it is checked too before a
    #: commit: an average of squared gradients that overflows to inf only makes
    #: the step it divides 0.
    state_to_check: tuple[str, ...] = ()

    #: Hyperparameters that shape the running state, so that a group may not set its own.
    per_optimizer: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict[str, Any]],
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        **defaults: Any,
    ) -> None:
        self.clip_norm, self.clip_value = check_clipping(clip_norm, clip_value)
        groups = _param_groups(params)
        # A subclass that keeps its hyperparameters itself (set after this call) passes none.
        self._hyperparameter_names = list(defaults) or _constructor_arguments(type(self))
        for name, value in self.check_hyperparameters(defaults).items():
            setattr(self, name, value)
        self.param_groups = [self._checked_group(k, group) for k, group in enumerate(groups)]
        params = [p for group in self.param_groups for p in group["params"]]
        if len({id(p) for p in params}) != len(params):
            where = "in two parameter groups" if len(groups) > 1 else "twice"
            raise ValueError(f"params holds the same Parameter {where}; it would be updated twice per step")
        self.params = params
        self.step_count = 0
        self._state: list[State] | None = None  # made by the first use: the subclass sets its hyperparameters first
        self._scratch: list[dict[str, np.ndarray]] = [{} for _ in params]
        self._scratch_owner: list[np.ndarray | None] = [None] * len(params)  # the value each scratch was made for

    # -- what a subclass writes ----------------------------------------------------------

    def check_hyperparameters(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` (hyperparameters by name) checked and normalised; raise ValueError or TypeError.

        Called on the constructor's arguments and on each parameter group's
        values merged with them. The default accepts anything.
        """
        return dict(values)

    def init_state(self, p: Parameter) -> State:
        """The running state of parameter ``p`` before the first step.

        A dict of arrays of ``p``'s shape and dtype (zeros, usually), or
        None for a buffer that the first step creates. The keys are the
        names :meth:`state_dict` uses. Empty by default: no state.
        """
        return {}

    def compute_step(self, i: int, p: Parameter, state: State, rates: dict[str, Any]) -> tuple[np.ndarray, State]:
        r"""The update rule: parameter ``i``'s step and new state, changing nothing it is given.

        Parameters
        ----------
        i : int
            The parameter's index in ``params``, for :meth:`scratch`.
        p : Parameter
            Read ``p.value`` (:math:`\theta`, of any shape) and ``p.grad``
            (:math:`g`, the same shape); write neither.
        state : dict
            The parameter's running state after the last committed step
            (:meth:`init_state` before the first); write none of it.
        rates : dict of str to float
            This step's value of each hyperparameter in ``schedulable``.

        Returns
        -------
        step : ndarray of the parameter's shape and dtype
            :math:`\Delta`: the new value will be :math:`\theta - \Delta`.
        state : dict
            The new running state, with the same keys. An entry that did
            not change may be returned as it is; a new one is written into
            ``self.scratch(i, key)``, so that a step allocates nothing.
        """
        raise NotImplementedError

    def scratch(self, i: int, name: str) -> np.ndarray:
        """An array of parameter ``i``'s shape and dtype for a rule to write into.

        The same array comes back at every step (allocating one per step
        would cost about as much as the update itself), with whatever was
        last written in it. It is never live state: when the rule returns
        ``scratch(i, key)`` as its new state ``key``, the commit puts the
        array that state replaces in its place.
        """
        value = self.params[i].value
        if value is not self._scratch_owner[i]:  # the parameter's array was replaced: new shape or dtype, maybe
            self._scratch[i], self._scratch_owner[i] = {}, value
        array = self._scratch[i].get(name)
        if array is None:
            array = self._scratch[i][name] = np.empty_like(value)
        return array

    # -- the template ------------------------------------------------------------------

    @property
    def state(self) -> list[State]:
        """Each parameter's running state, made by :meth:`init_state` on first use."""
        if self._state is None:
            self._state = [self.init_state(p) for p in self.params]
        return self._state

    def hyperparameter_names(self) -> list[str]:
        """What a parameter group may set: the hyperparameters given to ``Optimizer.__init__``.

        A subclass that passes none there has its constructor's arguments after ``params``.
        """
        return list(self._hyperparameter_names)

    def hyperparameter(self, name: str, group: int = 0) -> Any:
        """The value (a float or a schedule) of ``name`` in parameter group ``group``."""
        return self.param_groups[group].get(name, getattr(self, name))

    def set_hyperparameter(self, name: str, value: Any, group: int | None = None) -> None:
        """Set ``name`` (e.g. ``"lr"``) to ``value`` in one parameter group, or in all (``group=None``).

        The value is checked as the constructor checks it; a refused value
        changes nothing. This is how a callback changes a rate during
        training (``ReduceLROnPlateau`` sets each group's ``lr``).
        """
        groups = range(len(self.param_groups)) if group is None else [self._group_index(group)]
        if name not in self.hyperparameter_names() or (name in self.per_optimizer and group is not None):
            raise ValueError(f"{type(self).__name__} has no hyperparameter {name!r} a group can set")
        checked = [self._checked_group(k, {**self.param_groups[k], name: value}) for k in groups]
        if group is None:
            setattr(self, name, self.check_hyperparameters({**self._defaults(), name: value})[name])
        for k, new in zip(groups, checked):
            if group is None and name not in self.param_groups[k]:
                continue
            self.param_groups[k] = new

    def _group_index(self, group: Any) -> int:
        n = len(self.param_groups)
        if isinstance(group, bool) or not isinstance(group, numbers.Integral) or not 0 <= int(group) < n:
            raise ValueError(f"group must be an index in [0, {n}), got {group!r}")
        return int(group)

    def _defaults(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.hyperparameter_names() if hasattr(self, name)}

    def _checked_group(self, k: int, group: Mapping[str, Any]) -> dict[str, Any]:
        """Group ``k`` with its hyperparameters checked against the constructor's; the params as given."""
        names = self.hyperparameter_names()
        unknown = sorted(set(group) - {"params", *names})
        if unknown:
            raise ValueError(f"parameter group {k} has unknown keys {unknown}; a group may set {names}")
        shared = sorted(set(group) & set(self.per_optimizer))
        if shared:
            who = type(self).__name__
            raise ValueError(f"parameter group {k} sets {shared}, which {who} takes for all groups only")
        overrides = {name: value for name, value in group.items() if name != "params"}
        try:
            checked = self.check_hyperparameters({**self._defaults(), **overrides})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"parameter group {k}: {exc}") from None
        return {"params": group["params"], **{name: checked.get(name, value) for name, value in overrides.items()}}

    def rate(self, name: str, step: int | None = None, group: int = 0) -> float:
        """Value of the hyperparameter ``name`` (e.g. ``"lr"``) at ``step``, in parameter group ``group``.

        ``step`` defaults to the next step to be taken. A schedule's value is
        checked: a finite float in the interval ``schedulable`` gives.
        """
        value = self.hyperparameter(name, group)
        if not callable(value):
            return value
        step = self.step_count if step is None else step
        result = value(step)
        low, high = self.schedulable.get(name, (-math.inf, math.inf))
        if (
            isinstance(result, bool)
            or not isinstance(result, numbers.Real)
            or not (math.isfinite(result) and low <= float(result) < high)
        ):
            expected = f"be a finite float >= {low:g}" if high == math.inf else f"lie in [{low:g}, {high:g})"
            raise ValueError(f"{name} schedule {value!r} returned {result!r} at step {step}; {name} must {expected}")
        return float(result)

    @property
    def current_lr(self) -> float:
        """Learning rate the next ``step()`` will use (in the first parameter group)."""
        return self.rate("lr")

    def _rates(self, group: int) -> dict[str, Any]:
        """Every hyperparameter of ``group`` for this step: schedules evaluated, the others as they are."""
        rates = {name: self.hyperparameter(name, group) for name in self.hyperparameter_names() if hasattr(self, name)}
        for name in self.schedulable:
            if name not in rates or callable(rates[name]):  # rate() would return a float as it is
                rates[name] = self.rate(name, group=group)
        return rates

    def step(self) -> None:
        """Update every parameter from its current ``grad``, in place: all of them, or none.

        With ``clip_norm`` or ``clip_value``, the gradients are clipped
        first, in place (as ``torch.nn.utils.clip_grad_norm_`` before
        ``optimizer.step()``), so a clipped NaN or infinite gradient is still
        refused below.

        The check reads the candidate steps, not the parameters: it holds
        for finite parameters, as every committed step leaves them. A value
        made NaN or infinite from outside stays so (``fit`` refuses such a
        parameter before its first update).

        Raises
        ------
        NonFiniteUpdate
            If a new value (or a state in ``state_to_check``) would be NaN or
            infinite; the parameters, the state and ``step_count`` are unchanged.
            So is a step before any ``backward``: a
            :class:`~minnet.Parameter`'s gradient is NaN until one writes it.
        ValueError
            If a schedule returns a value out of range; nothing is changed.
        """
        group_rates = [self._rates(k) for k in range(len(self.param_groups))]
        if self.clip_norm is not None or self.clip_value is not None:
            # before the check, so a NaN it makes is refused; frozen parameters' grads are not theirs to clip
            clip_gradients([p for p in self.params if p.trainable], self.clip_norm, self.clip_value)
        states, check_state = self.state, self.state_to_check
        updates = []
        # An overflow is reported as NonFiniteUpdate below; numpy's own
        # RuntimeWarning about it would only be noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i, (p, k) in enumerate(zip(self.params, self._group_of)):
                if not p.trainable:  # frozen: no update, not even weight decay, and the state kept
                    continue
                rates = group_rates[k]
                step, new = self.compute_step(i, p, states[i], rates)
                if not _update_is_finite(p.value, step) or (check_state and not self._state_is_finite(states[i], new)):
                    raise self._non_finite(p, step, states[i], new, rates)
                updates.append((i, p.value, step, new))
        with sigint_held():  # a Ctrl-C cannot leave some parameters one step ahead of the others
            for i, value, step, new in updates:
                np.subtract(value, step, out=value)
                if new is not states[i]:
                    self._replace_state(i, new)
            self.step_count += 1

    @property
    def _group_of(self) -> list[int]:
        """The parameter group of each parameter, in ``params`` order."""
        return [k for k, group in enumerate(self.param_groups) for _ in group["params"]]

    def _state_is_finite(self, old: State, new: State) -> bool:
        """Whether each new array among ``state_to_check`` is finite."""
        return all(new[key] is old[key] or all_finite(new[key]) for key in self.state_to_check if key in new)

    def _non_finite(
        self, p: Parameter, step: np.ndarray, old: State, new: State, rates: dict[str, float]
    ) -> NonFiniteUpdate:
        """The error for a refused step, naming what would have become NaN or infinite."""
        what = "it"
        if _update_is_finite(p.value, step):
            what = "its " + next(
                key
                for key in self.state_to_check
                if key in new and new[key] is not old[key] and not all_finite(new[key])
            )
        # A gradient that is NaN everywhere is most often one no backward has
        # written yet (Parameter.grad starts as NaN), so the message says so.
        why = " (its gradient is NaN everywhere: no backward has written it yet, or it overflowed)"
        return NonFiniteUpdate(
            f"the update of parameter {p.name or '?'} {p.value.shape} at step "
            f"{self.step_count} (lr={rates.get('lr')!r}) would make {what} non-finite"
            f"{why if np.isnan(p.grad).all() else ''}"
        )

    def _replace_state(self, i: int, new: State) -> None:
        """Make ``new`` parameter ``i``'s state (part of the commit)."""
        states, scratch = self.state, self._scratch[i]
        old = states[i]
        for key, array in new.items():
            # A state written into its scratch array: the array it replaces
            # becomes the scratch of the next step, so no step allocates one.
            if array is not None and scratch.get(key) is array:
                if old[key] is None:
                    del scratch[key]
                else:
                    scratch[key] = old[key]
        states[i] = new

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The running state, for checkpoints: a copy.

        ``{"step_count": int, key: [array or None, one per parameter], ...}``
        with one entry per key of the per-parameter state.
        """
        states = self.state
        out: dict[str, Any] = {"step_count": self.step_count}
        for key in states[0]:
            out[key] = [None if s[key] is None else s[key].copy() for s in states]
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, after checking all of it.

        The state may come from a file, so nothing in it is trusted: it must
        have exactly the keys of :meth:`state_dict`, a step count that is a
        non-negative integer, and for each buffer one finite array per
        parameter, of its shape and dtype (or None, where a new optimizer
        has None). The arrays are copied.

        Raises
        ------
        ValueError
            Naming the entry that does not fit; the optimizer is unchanged.
        """
        fresh = self.init_state(self.params[0])  # the names of the buffers, and which may be None
        state = stored_dict("optimizer state", state, ["step_count", *fresh])
        step_count = stored_int("step_count", state["step_count"])
        like = [(p.value.shape, p.value.dtype) for p in self.params]
        buffers = {key: stored_arrays(key, state[key], like, allow_none=fresh[key] is None) for key in fresh}
        self.step_count = step_count
        self._state = [{key: buffers[key][i] for key in fresh} for i in range(len(self.params))]

    def __repr__(self) -> str:
        # The constructor's arguments, each shown when it differs from its default (lr always).
        args = []
        for arg in list(inspect.signature(type(self).__init__).parameters.values())[2:]:
            value = getattr(self, arg.name, arg.default)
            if arg.name == "lr" or (value is not arg.default and value != arg.default):
                args.append(f"{arg.name}={value!r}")
        if len(self.param_groups) == 1 and len(self.param_groups[0]) == 1:
            params = f"<{len(self.params)} parameters>"
        else:
            params = "[" + ", ".join(_group_repr(group) for group in self.param_groups) + "]"
        return f"{type(self).__name__}({params}, {', '.join(args)})"


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
    clip_norm, clip_value : float, optional
        Gradient clipping before each step, as in :class:`Optimizer`.

    Attributes
    ----------
    buffers : list of ndarray or None
        The momentum buffers :math:`v_t`, one per parameter; None until the
        first step with momentum (the state's ``momentum_buffer``).

    Notes
    -----
    The new values are computed for every parameter before any is written;
    if one would be NaN or infinite, ``step`` raises :class:`NonFiniteUpdate`
    and leaves the parameters, momentum buffers and step count untouched.
    """

    schedulable: ClassVar[dict[str, tuple[float, float]]] = {"lr": (0.0, math.inf), "momentum": (0.0, 1.0)}
    lr: Rate
    momentum: Rate
    nesterov: bool
    weight_decay: float
    dampening: float

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: Rate,
        momentum: Rate = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            dampening=dampening,
            clip_norm=clip_norm,
            clip_value=clip_value,
        )

    def check_hyperparameters(self, values: dict[str, Any]) -> dict[str, Any]:
        checked = {
            "lr": _check_rate("lr", values["lr"], low=0.0),
            "momentum": _check_rate("momentum", values["momentum"], low=0.0, high=1.0, high_inclusive=False),
            "nesterov": check_bool("nesterov", values["nesterov"]),
            "weight_decay": check_real("weight_decay", values["weight_decay"], low=0.0),
            "dampening": check_real("dampening", values["dampening"], low=0.0, high=1.0),
        }
        if checked["nesterov"] and (checked["momentum"] == 0 or checked["dampening"] != 0):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening == 0, "
                f"got momentum={checked['momentum']!r}, dampening={checked['dampening']!r}"
            )
        return checked

    def init_state(self, p: Parameter) -> State:
        return {"momentum_buffer": None}  # made by the first step with momentum, as torch does

    def compute_step(self, i: int, p: Parameter, state: State, rates: dict[str, Any]) -> tuple[np.ndarray, State]:
        lr, momentum, weight_decay = rates["lr"], rates["momentum"], rates["weight_decay"]
        dampening = rates["dampening"]
        step = self.scratch(i, "step")
        d = p.grad
        if weight_decay != 0:
            d = np.multiply(p.value, weight_decay, out=step)  # d = g + lambda theta, in the step's array
            d += p.grad
        if momentum != 0:  # as torch: a step at momentum 0 neither uses nor updates the buffer
            v_old, v = state["momentum_buffer"], self.scratch(i, "momentum_buffer")
            if v_old is None:
                np.copyto(v, d)
            else:
                np.multiply(v_old, momentum, out=v)
                v += d if dampening == 0 else (1.0 - dampening) * d
            state = {"momentum_buffer": v}
            if rates["nesterov"]:  # d + mu v, in a scratch array of its own: a step allocates nothing
                d = np.add(
                    d, np.multiply(v, momentum, out=self.scratch(i, "nesterov")), out=self.scratch(i, "nesterov")
                )
            else:
                d = v
        return np.multiply(d, lr, out=step), state

    @property
    def buffers(self) -> list[np.ndarray | None]:
        return [s["momentum_buffer"] for s in self.state]


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015), as ``torch.optim.Adam``.

    With gradient :math:`g_t` of parameter :math:`\theta`, rate :math:`\eta`,
    decay rates :math:`\beta_1, \beta_2`, weight decay :math:`\lambda`, and
    :math:`m_0 = v_0 = 0`, step :math:`t = 1, 2, \dots` is

    .. math::
        d_t &= g_t + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, d_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, d_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ with amsgrad, else } v_t \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{\hat v_t / (1 - \beta_2^t)} + \epsilon}

    (element-wise). The weight decay is an L2 penalty added to the gradient,
    so it passes through the moments; :class:`AdamW` decouples it.

    Parameters
    ----------
    params : iterable of Parameter
        Usually ``model.parameters()``.
    lr : float or Schedule, default 1e-3
        :math:`\eta`, or a schedule ``step -> lr`` evaluated before every step.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the
        moving averages of the gradient and of its square.
    eps : float, default 1e-8
        :math:`\epsilon` > 0, added to the denominator.
    weight_decay : float, default 0.0
        :math:`\lambda` >= 0.
    amsgrad : bool, default False
        Divide by the largest :math:`v_t` so far (Reddi et al., 2018).
    clip_norm, clip_value : float, optional
        Gradient clipping before each step, as in :class:`Optimizer`.

    Notes
    -----
    The state of each parameter is ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`) and, with amsgrad, ``max_exp_avg_sq`` (:math:`\hat v`),
    arrays of its shape and dtype; :math:`t` is ``step_count + 1``.
    """

    state_to_check = ("exp_avg_sq",)  # v = inf would only make the step 0
    per_optimizer = ("amsgrad",)
    _decoupled_weight_decay = False
    lr: Rate
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    amsgrad: bool

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: Rate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            clip_norm=clip_norm,
            clip_value=clip_value,
        )

    def check_hyperparameters(self, values: dict[str, Any]) -> dict[str, Any]:
        betas = values["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _check_rate("lr", values["lr"], low=0.0),
            "betas": tuple(
                check_real(f"betas[{k}]", b, low=0.0, high=1.0, high_inclusive=False) for k, b in enumerate(betas)
            ),
            "eps": check_real("eps", values["eps"], low=0.0, low_inclusive=False),
            "weight_decay": check_real("weight_decay", values["weight_decay"], low=0.0),
            "amsgrad": check_bool("amsgrad", values["amsgrad"]),
        }

    def init_state(self, p: Parameter) -> State:
        state = {"exp_avg": np.zeros_like(p.value), "exp_avg_sq": np.zeros_like(p.value)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(p.value)
        return state

    def compute_step(self, i: int, p: Parameter, state: State, rates: dict[str, Any]) -> tuple[np.ndarray, State]:
        lr, (beta1, beta2), t = rates["lr"], rates["betas"], self.step_count + 1
        weight_decay = rates["weight_decay"]
        step = self.scratch(i, "step")
        d = p.grad
        if weight_decay != 0 and not self._decoupled_weight_decay:
            d = np.multiply(p.value, weight_decay, out=self.scratch(i, "d"))  # g + lambda theta
            d += p.grad
        m = _lerp(state["exp_avg"], d, 1 - beta1, out=self.scratch(i, "exp_avg"))
        v = _lerp(state["exp_avg_sq"], np.square(d, out=step), 1 - beta2, out=self.scratch(i, "exp_avg_sq"))
        new = {"exp_avg": m, "exp_avg_sq": v}
        if self.amsgrad:
            v = new["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v, out=self.scratch(i, "max_exp_avg_sq"))
        denominator = np.sqrt(v, out=step)
        denominator /= math.sqrt(1 - beta2**t)
        denominator += rates["eps"]
        step = np.divide(m, denominator, out=step)
        step *= lr / (1 - beta1**t)
        if weight_decay != 0 and self._decoupled_weight_decay:
            step += np.multiply(p.value, lr * weight_decay, out=self.scratch(i, "d"))
        return step, new


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``.

    The decay shrinks the parameter directly instead of entering the
    gradient, so the moments see the loss's gradient alone:

    .. math::
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \eta\lambda\,\theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{\hat v_t / (1 - \beta_2^t)} + \epsilon}

    with :math:`\hat v_t` as in :class:`Adam`. The arguments are Adam's;
    only ``weight_decay`` has another default, 0.01.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: Rate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            clip_norm=clip_norm,
            clip_value=clip_value,
        )


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), as ``torch.optim.RMSprop``.

    With gradient :math:`g_t` of parameter :math:`\theta`, rate :math:`\eta`,
    smoothing constant :math:`\alpha`, weight decay :math:`\lambda`,
    momentum :math:`\mu` and :math:`v_0 = \bar g_0 = b_0 = 0`:

    .. math::
        d_t &= g_t + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, d_t^2 \\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1 - \alpha)\, d_t \quad\text{(centered only)} \\
        s_t &= \sqrt{v_t - \bar g_t^2} + \epsilon \text{ if centered, else } \sqrt{v_t} + \epsilon \\
        b_t &= \mu\, b_{t-1} + d_t / s_t \\
        \theta_t &= \theta_{t-1} - \eta\, b_t

    (element-wise); without momentum :math:`\theta_t = \theta_{t-1} - \eta\, d_t / s_t`.

    Parameters
    ----------
    params : iterable of Parameter
        Usually ``model.parameters()``.
    lr : float or Schedule, default 1e-2
        :math:`\eta`, or a schedule ``step -> lr`` evaluated before every step.
    alpha : float, default 0.99
        :math:`\alpha` in [0, 1], the decay rate of the average of squares.
    eps : float, default 1e-8
        :math:`\epsilon` > 0, added to the denominator.
    weight_decay : float, default 0.0
        :math:`\lambda` >= 0, an L2 penalty added to the gradient.
    momentum : float, default 0.0
        :math:`\mu` in [0, 1).
    centered : bool, default False
        Divide by an estimate of the gradient's standard deviation instead
        of its root mean square.
    clip_norm, clip_value : float, optional
        Gradient clipping before each step, as in :class:`Optimizer`.

    Notes
    -----
    The state of each parameter is ``square_avg`` (:math:`v`), with
    momentum ``momentum_buffer`` (:math:`b`) and when centered ``grad_avg``
    (:math:`\bar g`). Centered, :math:`v_t - \bar g_t^2` is a variance, but
    rounding can leave it a hair below zero where the gradient hardly
    varies; it is taken as 0 there (torch would take the square root of a
    negative number and make the parameter NaN).
    """

    state_to_check = ("square_avg", "grad_avg")  # either at inf could leave the step finite
    per_optimizer = ("momentum", "centered")
    lr: Rate
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: Rate = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            clip_norm=clip_norm,
            clip_value=clip_value,
        )

    def check_hyperparameters(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "lr": _check_rate("lr", values["lr"], low=0.0),
            "alpha": check_real("alpha", values["alpha"], low=0.0, high=1.0),
            "eps": check_real("eps", values["eps"], low=0.0, low_inclusive=False),
            "weight_decay": check_real("weight_decay", values["weight_decay"], low=0.0),
            "momentum": check_real("momentum", values["momentum"], low=0.0, high=1.0, high_inclusive=False),
            "centered": check_bool("centered", values["centered"]),
        }

    def init_state(self, p: Parameter) -> State:
        state = {"square_avg": np.zeros_like(p.value)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p.value)
        if self.centered:
            state["grad_avg"] = np.zeros_like(p.value)
        return state

    def compute_step(self, i: int, p: Parameter, state: State, rates: dict[str, Any]) -> tuple[np.ndarray, State]:
        lr, alpha, weight_decay = rates["lr"], rates["alpha"], rates["weight_decay"]
        step = self.scratch(i, "step")
        d = p.grad
        if weight_decay != 0:
            d = np.multiply(p.value, weight_decay, out=self.scratch(i, "d"))  # g + lambda theta
            d += p.grad
        v = _lerp(state["square_avg"], np.square(d, out=step), 1 - alpha, out=self.scratch(i, "square_avg"))
        new = {"square_avg": v}
        if self.centered:
            g_bar = new["grad_avg"] = _lerp(state["grad_avg"], d, 1 - alpha, out=self.scratch(i, "grad_avg"))
            s = np.subtract(v, np.square(g_bar, out=step), out=step)
            np.sqrt(np.maximum(s, 0.0, out=s), out=s)
        else:
            s = np.sqrt(v, out=step)
        s += rates["eps"]
        if self.momentum > 0:
            b = new["momentum_buffer"] = np.multiply(
                state["momentum_buffer"], self.momentum, out=self.scratch(i, "momentum_buffer")
            )
            b += np.divide(d, s, out=s)
            return np.multiply(b, lr, out=step), new
        step = np.divide(d, s, out=step)
        step *= lr
        return step, new
