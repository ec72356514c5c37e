"""Callbacks: code that :func:`minnet.fit` runs at fixed points of training."""

from __future__ import annotations

import csv
import difflib
import inspect
import io
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._inference import inference_pass
from ._validation import as_batch, check_bool, check_choice, check_int, check_path, check_real
from .containers import Sequential, as_model_inputs, restore_states, stateful_layers
from .graph import Graph
from .io.archive import check_writable, write_atomically
from .io.checkpoint import write_checkpoint
from .io.fields import stored_arrays, stored_dict, stored_int, stored_real
from .layers import Layer, Parameter, ReLU, Sigmoid, Tanh, restore_parameters, snapshot_parameters
from .metrics import GREATER_IS_BETTER

if TYPE_CHECKING:
    from .run import Run

__all__ = [
    "HOOKS",
    "PROBE_ROWS",
    "SATURATION_MARGIN",
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "LambdaCallback",
    "LayerStats",
    "ReduceLROnPlateau",
    "check_hooks",
    "overriding",
]

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end", "on_train_end")
"""The methods of a :class:`Callback` that :func:`minnet.fit` calls, in the order a run reaches them."""


class Callback:
    """Base class. Override any of the hooks; each receives the :class:`~minnet.run.Run`.

    ``run.model``, ``run.optimizer``, ``run.history`` and ``run.epoch`` (epochs
    completed) are available; setting ``run.stop_training = True`` ends
    training after the current epoch.

    The hooks are those of :data:`HOOKS`: :func:`minnet.fit` refuses a
    callback with another method named ``on_...`` (``on_epoch_start``), which
    it would never call. Epochs and batches are counted from 1, as in the
    history and in :class:`~minnet.TrainingError`. The per-batch hooks cost
    nothing when no callback overrides them: ``fit`` looks once per run.
    """

    #: Whether :func:`minnet.fit` calls this callback's ``on_epoch_end`` after all the others.
    runs_last = False

    def on_train_begin(self, run: Run) -> None:
        """Called once, after the inputs are validated and before the first epoch."""

    def on_epoch_begin(self, run: Run, epoch: int) -> None:
        """Called before epoch ``epoch`` (``run.epoch + 1``) draws its order or takes a step.

        A change to the optimizer here (``run.optimizer.lr = 0.01``) applies
        to that epoch's first step.
        """

    def on_batch_begin(self, run: Run, batch: int) -> None:
        """Called before the step on batch ``batch`` (1 to the epoch's number of batches)."""

    def on_batch_end(self, run: Run, batch: int, logs: dict[str, float]) -> None:
        """Called after the step on batch ``batch``, with the ``loss`` and metrics the step computed on it.

        ``run.stop_training = True`` ends training after the current epoch,
        as from ``on_epoch_end``.
        """

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        """Called after each epoch with that epoch's entry of the history."""

    def on_train_end(self, run: Run) -> None:
        """Called once when training ends, normally, early or by Ctrl-C (not on an error).

        ``run.interrupted`` tells whether Ctrl-C ended it. If this raises,
        the other callbacks' ``on_train_end`` still run, then
        :func:`minnet.fit` raises a :class:`~minnet.TrainingError` carrying
        the history.
        """

    def state_dict(self) -> dict[str, Any]:
        """State that a :class:`Checkpoint` saves so that a resumed run behaves identically.

        Values may be numbers, strings, ``None``, ndarrays and lists/dicts of
        them. Stateless callbacks return ``{}``.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; called after ``on_train_begin`` on resume.

        The state comes from a file: check all of it first, raise
        ``ValueError`` naming the field for anything that does not fit, and
        change nothing in that case. A callback without state (the default)
        accepts only ``{}``.
        """
        if not isinstance(state, dict) or state:
            raise ValueError(f"{self!r} keeps no state, got {state!r:.80}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_hooks(callback: Callback) -> None:
    """Refuse a callback with a method named like a hook that is none (``on_epoch_start``): fit would never call it.

    Raises
    ------
    TypeError
        Naming the method, the nearest hook and every hook.
    """
    for name in dir(callback):
        if name.startswith("on_") and name not in HOOKS and callable(inspect.getattr_static(callback, name)):
            near = difflib.get_close_matches(_in_hook_words(name), HOOKS, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise TypeError(
                f"{callback!r} has a method {name}, which is not a callback hook, so fit would never call it"
                f"{hint} The hooks are {', '.join(HOOKS)}"
            )


#: Words other libraries use in hook names, and minnet's for them.
_HOOK_WORDS = {"start": "begin", "started": "begin", "ended": "end", "finish": "end", "step": "batch"}


def _in_hook_words(name: str) -> str:
    """``name`` with other libraries' words replaced by minnet's (``on_train_batch_start`` -> ``on_batch_begin``)."""
    words = [_HOOK_WORDS.get(word, word) for word in name.split("_")]
    if words[1:3] == ["train", "batch"]:  # Keras' on_train_batch_begin
        words.pop(1)
    return "_".join(words)


def overriding(callbacks: list[Callback], hook: str) -> list[Callback]:
    """The callbacks whose ``hook`` is not the base class's no-op, so that fit calls only those."""
    base = getattr(Callback, hook)
    return [cb for cb in callbacks if getattr(getattr(cb, hook), "__func__", None) is not base]


def _check_monitored(owner: Callback, monitor: str, run: Run) -> None:
    """Refuse, before the first epoch, a ``monitor`` that the run does not log."""
    if monitor not in run.log_keys:
        raise ValueError(
            f"{type(owner).__name__} monitors {monitor!r}, which this run does not log; "
            f"it logs {', '.join(run.log_keys)}"
            + (" (pass validation_data= for val_ keys)" if monitor.startswith("val_") else "")
        )


def _check_monitor(monitor: Any) -> str:
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be a history key such as 'val_loss', got {monitor!r}")
    return monitor


def _minimizes(monitor: str, mode: str) -> bool:
    """Whether smaller values of ``monitor`` are better; ``"auto"`` maximises accuracy-like keys."""
    if mode != "auto":
        return mode == "min"
    # A model with several outputs logs accuracy_0, val_accuracy_1, ...
    return not re.sub(r"_\d+$", "", monitor).endswith(GREATER_IS_BETTER)


class EarlyStopping(Callback):
    """Stop when a monitored quantity has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the history (``"loss"``, ``"val_loss"``, ``"val_accuracy"``, ...).
    patience : int, default 10
        Epochs without improvement to wait before stopping.
    min_delta : float, default 0.0
        Smallest change that counts as an improvement.
    restore_best : bool, default True
        Put back the model of the best epoch when training ends, normally
        or stopped by a callback: its parameters and each layer's
        non-trained state (a batch norm's running statistics, which its
        predictions depend on). The optimizer's state is not rolled back.
        After Ctrl-C the model keeps its last update, consistent with the
        optimizer's state, as Keras leaves it; :meth:`restore` puts the best
        epoch back when wanted.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; ``"auto"`` picks ``"max"`` for
        the keys of metrics where higher is better (``accuracy``,
        ``val_auc``, ``f1``, ``r2``, ..., and ``accuracy_1`` or
        ``dense_2_auc`` for a model's second output) and ``"min"`` otherwise.

    Attributes
    ----------
    best : float
        Best value seen.
    best_epoch : int
        Epoch (1-based) at which it was seen.
    stopped_epoch : int or None
        Epoch (1-based) after which training was stopped, if it was.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
        mode: str = "auto",
    ) -> None:
        self.monitor = _check_monitor(monitor)
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_real("min_delta", min_delta, low=0.0)
        self.restore_best = check_bool("restore_best", restore_best)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self._reset()

    def _reset(self) -> None:
        self.best = np.inf if self._minimize else -np.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_values: list[np.ndarray] | None = None
        self._best_states: list[dict[str, Any]] | None = None  # one per layer of _stateful
        self._stateful: list[Layer] = []
        # Set by on_train_begin, for load_state_dict to check a saved state
        # against: the (shape, dtype) of each model parameter, and the epochs
        # the run has completed (those of the checkpoint, on resume).
        self._parameter_specs: list[tuple[tuple[int, ...], np.dtype]] | None = None
        self._epochs_done: int | None = None

    @property
    def _minimize(self) -> bool:
        return _minimizes(self.monitor, self.mode)

    def on_train_begin(self, run: Run) -> None:
        """Check that the run logs ``monitor``; note the model's parameters and the epochs completed.

        :meth:`load_state_dict` checks a saved state against those two.
        """
        _check_monitored(self, self.monitor, run)
        self._reset()
        self._parameter_specs = [(p.value.shape, p.value.dtype) for p in run.model.parameters()]
        self._stateful = stateful_layers(run.model)
        self._epochs_done = run.epoch

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        value = logs[self.monitor]
        improved = (value < self.best - self.min_delta) if self._minimize else (value > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best:
                self._best_values = snapshot_parameters(run.model.parameters())
                self._best_states = [layer.get_state() for layer in self._stateful]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = run.epoch
            run.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": float(self.best),
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_values": self._best_values,
            "best_states": self._best_states,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved state, after checking every field of it.

        Called after :meth:`on_train_begin`, which tells it the model's
        parameters and the epochs completed. ``best`` must be a number,
        infinite exactly when no epoch has improved (``best_epoch`` 0, and
        then ``+inf`` when minimising); ``best_epoch`` at most the epochs
        completed, ``wait`` at most the epochs since, ``stopped_epoch``
        None or the last epoch; ``best_values`` None or one finite array
        per model parameter of exactly its shape and dtype (so that it can
        never be broadcast over a parameter), and None if no epoch improved;
        ``best_states`` None exactly when ``best_values`` is, else one state
        per layer that keeps one, each of which that layer's ``set_state``
        accepts.

        Raises
        ------
        ValueError
            Naming the field; nothing is changed.
        """
        if self._parameter_specs is None or self._epochs_done is None:
            raise RuntimeError(
                "EarlyStopping.load_state_dict checks the state against the run: call on_train_begin first"
            )
        state = stored_dict("EarlyStopping state", state, self.state_dict())
        epochs_done = self._epochs_done
        best = stored_real("best", state["best"], finite=False)
        best_epoch = stored_int("best_epoch", state["best_epoch"], high=epochs_done)
        wait = stored_int("wait", state["wait"], high=epochs_done - best_epoch)
        stopped = state["stopped_epoch"]
        if stopped is not None and stored_int("stopped_epoch", stopped) != epochs_done:
            raise ValueError(f"stopped_epoch must be None or {epochs_done} (the last epoch), got {stopped}")
        initial = np.inf if self._minimize else -np.inf
        if (best_epoch == 0) != (best == initial) or (best_epoch > 0 and not math.isfinite(best)):
            raise ValueError(
                f"best must be {initial} exactly when no epoch has improved (best_epoch 0) "
                f"and finite otherwise, got {best} at best_epoch {best_epoch}"
            )
        values = state["best_values"]
        if values is not None:
            if best_epoch == 0:
                raise ValueError("best_values must be None when no epoch has improved (best_epoch 0)")
            values = stored_arrays("best_values", values, self._parameter_specs)
        states = self._checked_best_states(state["best_states"], values is None)
        self.best, self.best_epoch, self.wait, self.stopped_epoch = best, best_epoch, wait, stopped
        self._best_values, self._best_states = values, states

    def _checked_best_states(self, states: Any, expect_none: bool) -> list[dict[str, Any]] | None:
        """``best_states`` from a file, checked by each layer's own ``set_state`` (then undone)."""
        if states is None and expect_none:
            return None
        if expect_none or not isinstance(states, list) or len(states) != len(self._stateful):
            wanted = "None, as best_values is" if expect_none else f"a list of {len(self._stateful)} layer states"
            raise ValueError(f"best_states must be {wanted}, got {states!r:.80}")
        for i, (layer, saved) in enumerate(zip(self._stateful, states)):
            current = layer.get_state()
            try:
                layer.set_state(saved)  # all or nothing, so a refusal leaves the layer as it was
            except (ValueError, TypeError) as exc:
                raise ValueError(f"best_states[{i}] does not fit {layer!r}: {exc}") from None
            layer.set_state(current)
        return states

    def on_train_end(self, run: Run) -> None:
        # After Ctrl-C the model stays at the last update, as the optimizer's state does.
        if self.restore_best and not run.interrupted and self._best_values is not None and self.best_epoch != run.epoch:
            self.restore(run.model)

    def restore(self, model: Layer) -> None:
        """Put the best epoch's parameters and layers' state into ``model``, the model of the run.

        What ``on_train_end`` does when training ends, except after Ctrl-C;
        then ``stop.restore(model)`` gives the best epoch's model. The
        optimizer's state stays that of the last update.

        Raises
        ------
        ValueError
            If no best model was kept (``restore_best=False``, or no epoch
            has improved), or ``model`` is not built as the run's was;
            nothing is changed.
        """
        if self._best_values is None or self._best_states is None:
            why = "no epoch has improved" if self.restore_best else "restore_best=False keeps none"
            raise ValueError(f"{self!r} has no best model to restore: {why}")
        layers = stateful_layers(model)
        specs = [(p.value.shape, p.value.dtype) for p in model.parameters()]
        if specs != self._parameter_specs or len(layers) != len(self._best_states):
            raise ValueError(f"{self!r} kept the best model of another architecture than {model!r:.200}")
        restore_parameters(model.parameters(), self._best_values)
        restore_states(list(zip(layers, self._best_states)))

    def __repr__(self) -> str:
        mode = "" if self.mode == "auto" else f", mode={self.mode!r}"
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta!r}, restore_best={self.restore_best}{mode})"
        )


class Checkpoint(Callback):
    """Save everything needed to continue training, every ``every`` epochs.

    The file holds the model (architecture, parameters and each layer's
    state that is not trained, in the format of :func:`minnet.save`, so
    :func:`minnet.load` opens it too), the
    optimizer's state (step count and buffers: momentum, Adam's moments; a schedule's position
    is the step count), the epoch, the shuffling RNG's state, the history and
    the state of the run's other callbacks. ``fit(..., resume=path)``
    continues from it, and ends bit-identical to a run never interrupted.

    It also records the settings the continuation depends on: the logged
    keys (metrics, ``val_`` entries), the batch size, ``shuffle``, the
    number of training samples, and the optimizer's class and
    hyperparameters (a schedule by its ``repr``). A resuming call that
    differs in any of them is refused with a ValueError naming each
    difference, before anything is changed.

    Each save replaces the file atomically: an interruption during a save
    leaves the previous checkpoint intact. The checkpoint is written after
    the other callbacks have seen the epoch, so their saved state includes it.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced at every save).
    every : int, default 1
        Save after every ``every``-th epoch, and after the last one (the
        final epoch, or the epoch at which a callback stopped training).
    save_best_only : bool, default False
        As Keras' ``ModelCheckpoint``: at those epochs, save only when
        ``monitor`` is better than at every earlier save (strictly; a NaN
        never is), so the file holds the best run so far. Resuming from it
        continues from that epoch, and still ends as the uninterrupted run.
    monitor : str, default "val_loss"
        The history key that ``save_best_only`` compares.
    mode : {"auto", "min", "max"}, default "auto"
        As for :class:`EarlyStopping`.

    Attributes
    ----------
    best : float
        With ``save_best_only``, the monitored value of the last save
        (``inf``, or ``-inf`` when maximising, before the first).
    last_saved_epoch : int or None
        The epoch of the last save by this run.

    Examples
    --------
    >>> mn.fit(model, loss, opt, X, y, epochs=100,
    ...        callbacks=[mn.Checkpoint("run.npz", every=5)])        # doctest: +SKIP
    >>> mn.fit(model, loss, opt, X, y, epochs=100, resume="run.npz")  # doctest: +SKIP
    """

    #: :func:`minnet.fit` calls callbacks with ``runs_last = True`` after the others each epoch.
    runs_last = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        every: int = 1,
        save_best_only: bool = False,
        monitor: str = "val_loss",
        mode: str = "auto",
    ) -> None:
        self.path = check_path("path", path)
        self.every = check_int("every", every, low=1)
        self.save_best_only = check_bool("save_best_only", save_best_only)
        self.monitor = _check_monitor(monitor)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self.best = self._worst
        self.last_saved_epoch: int | None = None

    @property
    def _worst(self) -> float:
        return math.inf if _minimizes(self.monitor, self.mode) else -math.inf

    def on_train_begin(self, run: Run) -> None:
        # Fail before the first epoch, not after hours of training.
        if self.save_best_only:
            _check_monitored(self, self.monitor, run)
        check_writable(self.path)
        self.best, self.last_saved_epoch = self._worst, None

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        if not (run.epoch % self.every == 0 or run.epoch >= run.epochs or run.stop_training):
            return
        if self.save_best_only:
            value = logs[self.monitor]
            if not (value < self.best if _minimizes(self.monitor, self.mode) else value > self.best):
                return
            self.best = value  # before writing: the file holds this callback's state too
        write_checkpoint(self.path, run)
        self.last_saved_epoch = run.epoch

    def state_dict(self) -> dict[str, Any]:
        """``{"best": float}`` with ``save_best_only``, else ``{}``."""
        return {"best": float(self.best)} if self.save_best_only else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: with ``save_best_only``, a ``best`` that is a number (not NaN).

        Raises
        ------
        ValueError
            Naming the field; nothing is changed.
        """
        if not self.save_best_only:
            super().load_state_dict(state)
            return
        state = stored_dict("Checkpoint state", state, ["best"])
        self.best = stored_real("best", state["best"], finite=False)

    def __repr__(self) -> str:
        args = [repr(str(self.path))]
        if self.every != 1:
            args.append(f"every={self.every}")
        if self.save_best_only:
            args += ["save_best_only=True", f"monitor={self.monitor!r}"]
        if self.mode != "auto":
            args.append(f"mode={self.mode!r}")
        return f"Checkpoint({', '.join(args)})"


class ReduceLROnPlateau(Callback):
    r"""Reduce the learning rate when ``monitor`` stops improving, as torch's ``ReduceLROnPlateau``.

    After each epoch, with the monitored value :math:`a` and the best so
    far :math:`b`, the epoch improves when :math:`a < b\,(1 - \text{threshold})`
    (``"rel"``) or :math:`a < b - \text{threshold}` (``"abs"``), mirrored for
    ``mode="max"``. After more than ``patience`` epochs in a row without an
    improvement the rate becomes :math:`\max(\eta\,\text{factor}, \mathrm{min\_lr})`,
    unless that changes it by ``eps`` or less; then ``cooldown`` epochs pass
    before bad epochs count again. The same sequence of values gives the
    same rates as PyTorch's, bit for bit; the history's ``lr`` shows each
    epoch's rate.

    The rate is the optimizer's ``lr``, reduced in each parameter group as
    torch does; it must be a float: a schedule already sets the rate of
    every step, and is refused when training begins. The rates are part of
    this callback's state, so a resumed run continues with them.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the history.
    factor : float, default 0.1
        In [0, 1): the rate is multiplied by it.
    patience : int, default 10
        Epochs without improvement tolerated before a reduction.
    threshold : float, default 1e-4
        The smallest change that counts as an improvement, >= 0.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted.
    min_lr : float, default 0
        The rate is never reduced below it.
    mode : {"min", "max", "auto"}, default "auto"
        Whether smaller or larger is better. ``"auto"``, as Keras' default
        and :class:`EarlyStopping`'s, maximises accuracy-like keys
        (``"val_auc"``, ``"val_f1"``, ...) and minimises the others, losses
        included: PyTorch's ``"min"`` for a loss.
    eps : float, default 1e-8
        A reduction by ``eps`` or less is skipped, as PyTorch does.

    Attributes
    ----------
    best : float
        The best value seen.
    num_bad_epochs : int
        Epochs in a row without an improvement.
    cooldown_counter : int
        Epochs of cooldown left.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        mode: str = "auto",
        eps: float = 1e-8,
    ) -> None:
        self.monitor = _check_monitor(monitor)
        self.factor = check_real("factor", factor, low=0.0, high=1.0, high_inclusive=False)
        self.patience = check_int("patience", patience, low=0)
        self.threshold = check_real("threshold", threshold, low=0.0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_int("cooldown", cooldown, low=0)
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        self.mode = check_choice("mode", mode, ("min", "max", "auto"))
        self.eps = check_real("eps", eps, low=0.0)
        self._optimizer: Any = None  # the run's, set by on_train_begin
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if _minimizes(self.monitor, self.mode) else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def on_train_begin(self, run: Run) -> None:
        """Check that the run logs ``monitor`` and that the optimizer's ``lr`` is a float."""
        _check_monitored(self, self.monitor, run)
        self._rates(run.optimizer)
        self._reset()
        self._optimizer = run.optimizer

    def _rates(self, optimizer: Any) -> list[float]:
        """Each parameter group's ``lr``, refused unless it is a number."""
        rates = [optimizer.hyperparameter("lr", k) for k in range(len(optimizer.param_groups))]
        for lr in rates:
            if callable(lr):
                raise ValueError(
                    f"ReduceLROnPlateau sets the optimizer's lr, a float, but this optimizer's lr is the schedule "
                    f"{lr!r:.200}, which sets the rate of every step; give the optimizer a float lr, or use one "
                    f"of the two"
                )
        return [float(lr) for lr in rates]

    def _set_rates(self, rates: list[float]) -> None:
        """Give each group its rate; an optimizer of one group keeps it as its own ``lr``, as it was built."""
        if len(rates) == 1:
            self._optimizer.set_hyperparameter("lr", rates[0])
            return
        for k, lr in enumerate(rates):
            self._optimizer.set_hyperparameter("lr", lr, group=k)

    def _improves(self, value: float) -> bool:
        minimize = _minimizes(self.monitor, self.mode)
        if self.threshold_mode == "rel":
            bound = self.best * (1.0 - self.threshold if minimize else 1.0 + self.threshold)
        else:
            bound = self.best - self.threshold if minimize else self.best + self.threshold
        return value < bound if minimize else value > bound

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        value = float(logs[self.monitor])
        if self._improves(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            # Per group, as torch: a group whose rate would change by no more than eps keeps it.
            old = self._rates(self._optimizer)
            new = [max(lr * self.factor, self.min_lr) for lr in old]
            self._set_rates([b if a - b > self.eps else a for a, b in zip(old, new)])
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        """``best``, ``num_bad_epochs``, ``cooldown_counter`` and each group's ``lr`` (None before a run)."""
        return {
            "best": float(self.best),
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "lr": None if self._optimizer is None else self._rates(self._optimizer),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved state after checking every field, and set the optimizer's ``lr`` to the saved one.

        Called after :meth:`on_train_begin`. ``best`` is a number (not NaN),
        ``num_bad_epochs`` at most ``patience``, ``cooldown_counter`` at most
        ``cooldown``, ``lr`` a finite rate >= 0 per parameter group.

        Raises
        ------
        ValueError
            Naming the field; nothing is changed.
        """
        if self._optimizer is None:
            raise RuntimeError("ReduceLROnPlateau.load_state_dict sets the run's rate: call on_train_begin first")
        state = stored_dict("ReduceLROnPlateau state", state, self.state_dict())
        best = stored_real("best", state["best"], finite=False)
        bad = stored_int("num_bad_epochs", state["num_bad_epochs"], high=self.patience)
        cooldown = stored_int("cooldown_counter", state["cooldown_counter"], high=self.cooldown)
        n_groups = len(self._optimizer.param_groups)
        if not isinstance(state["lr"], list) or len(state["lr"]) != n_groups:
            raise ValueError(
                f"lr must be a list of {n_groups} rate(s), one per parameter group, got {state['lr']!r:.100}"
            )
        rates = [stored_real(f"lr[{k}]", lr) for k, lr in enumerate(state["lr"])]
        for k, lr in enumerate(rates):
            if lr < 0:
                raise ValueError(f"lr[{k}] must be >= 0, got {lr!r}")
        self.best, self.num_bad_epochs, self.cooldown_counter = best, bad, cooldown
        self._set_rates(rates)

    def __repr__(self) -> str:
        return _settings_repr(self, always=("monitor",))


class CSVLogger(Callback):
    """Write the history to a CSV file, one row per epoch, as Keras' ``CSVLogger``.

    The first column is ``epoch`` (from 1), then the run's logged keys in
    the order of the history. Each row is written, flushed and the file
    closed at the end of its epoch, so the file is complete up to the last
    epoch whatever stops the run.

    When training begins the file is created with a header row, replacing
    any earlier file, unless ``append=True`` finds one, whose rows are kept
    (its header must name the same columns). A resumed run (``fit(...,
    resume=)``) always appends: it keeps the rows of the epochs the
    checkpoint holds and drops those written after it, which the resumed run
    writes again, so the file ends as the uninterrupted run's.

    Parameters
    ----------
    path : str or os.PathLike
    append : bool, default False
        Add to an existing file instead of replacing it.
    separator : str, default ","
        One character between the fields.
    """

    def __init__(self, path: str | os.PathLike[str], append: bool = False, separator: str = ",") -> None:
        self.path = check_path("path", path)
        self.append = check_bool("append", append)
        if not isinstance(separator, str):
            raise TypeError(f"separator must be a one-character string such as ',', got {separator!r}")
        if len(separator) != 1 or separator in '"\r\n':
            raise ValueError(f"separator must be one character other than a quote or a newline, got {separator!r}")
        self.separator = separator

    def on_train_begin(self, run: Run) -> None:
        """Write the header, or check and keep the file's rows (when appending or resuming)."""
        columns = ["epoch", *run.log_keys]
        existing = self._read() if (self.append or run.epoch > 0) and self.path.exists() else []
        if not existing:
            self._rewrite([columns])
            return
        header, *rows = existing
        if header != columns:
            raise ValueError(
                f"CSVLogger cannot append to {str(self.path)!r}: its columns are {header}, this run logs {columns}"
            )
        if run.epoch > 0:  # resumed: the rows written after the checkpoint come again
            while rows and _epoch_of(rows[-1]) > run.epoch:
                rows.pop()
            self._rewrite([header, *rows])

    def _read(self) -> list[list[str]]:
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.reader(f, delimiter=self.separator))

    def _rewrite(self, rows: list[list[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text, delimiter=self.separator, lineterminator="\n").writerows(rows)
        write_atomically(self.path, lambda f: f.write(text.getvalue().encode("utf-8")))

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=self.separator, lineterminator="\n").writerow(
                [run.epoch, *(logs[key] for key in run.log_keys)]
            )

    def __repr__(self) -> str:
        return _settings_repr(self, always=("path",))


def _epoch_of(row: list[str]) -> float:
    """The epoch of a row of a CSVLogger file; a row that is not one counts as after every epoch."""
    try:
        return int(row[0])
    except (IndexError, ValueError):
        return math.inf


class LambdaCallback(Callback):
    """A callback made of functions, as Keras' ``LambdaCallback``: each takes the arguments of its hook.

    Parameters
    ----------
    on_train_begin, on_train_end : callable (run) -> None, optional
    on_epoch_begin : callable (run, epoch) -> None, optional
    on_epoch_end : callable (run, logs) -> None, optional
    on_batch_begin : callable (run, batch) -> None, optional
    on_batch_end : callable (run, batch, logs) -> None, optional

    Examples
    --------
    >>> import minnet as mn
    >>> halve = mn.LambdaCallback(on_epoch_begin=lambda run, epoch: setattr(run.optimizer, "lr", 0.5**epoch))
    >>> halve
    LambdaCallback(on_epoch_begin=<function <lambda>>)
    """

    def __init__(
        self,
        on_train_begin: Callable[..., Any] | None = None,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_batch_begin: Callable[..., Any] | None = None,
        on_batch_end: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
    ) -> None:
        given = dict(
            on_train_begin=on_train_begin,
            on_epoch_begin=on_epoch_begin,
            on_batch_begin=on_batch_begin,
            on_batch_end=on_batch_end,
            on_epoch_end=on_epoch_end,
            on_train_end=on_train_end,
        )
        for name, function in given.items():
            if function is not None and not callable(function):
                raise TypeError(f"{name} must be a function or None, got {function!r}")
        # Only the hooks given replace the base class's, so fit skips the per-batch ones otherwise.
        self._functions = {name: f for name, f in given.items() if f is not None}
        for name, function in self._functions.items():
            setattr(self, name, function)

    def __repr__(self) -> str:
        # A function by its name, as Python shows it, without the address that changes from run to run.
        shown = (
            f"<function {f.__qualname__}>" if hasattr(f, "__qualname__") else repr(f) for f in self._functions.values()
        )
        return f"LambdaCallback({', '.join(f'{name}={text}' for name, text in zip(self._functions, shown))})"


def _settings_repr(callback: Callback, always: tuple[str, ...]) -> str:
    """``Class(arg=value, ...)``: the arguments in ``always``, and the others where they differ from their defaults."""
    args = []
    for arg in list(inspect.signature(type(callback).__init__).parameters.values())[1:]:
        value = getattr(callback, arg.name)
        if arg.name in always or value != arg.default:
            shown = repr(os.fspath(value)) if isinstance(value, os.PathLike) else repr(value)
            args.append(f"{arg.name}={shown}")
    return f"{type(callback).__name__}({', '.join(args)})"


PROBE_ROWS = 256
"""Rows of the training data that :class:`LayerStats` measures the activations on when given no probe."""

SATURATION_MARGIN = 0.01
"""How near a bound (0 and 1 for a sigmoid, -1 and 1 for tanh) an output counts as saturated."""

#: What :class:`LayerStats` records for the outputs of every layer, and for the parameters of a layer that has some.
_ACTIVATION_KEYS = ("mean", "std")
_PARAMETER_KEYS = ("grad_ratio", "update_ratio")


@dataclass
class _Unit:
    """One layer of the model as :class:`LayerStats` measures it: a node of a Graph, a layer of a Sequential."""

    name: str
    layer: Layer
    args: list[str]  # the names of the units (or model inputs) it takes
    positions: list[int]  # its parameters, as positions in model.parameters(); none at a shared layer's later uses
    keys: tuple[str, ...]  # what is recorded of it


def _units(model: Layer) -> tuple[list[str], list[_Unit]]:
    """The model's input names and its layers in an order that runs them, each a :class:`_Unit`.

    A Graph's nodes keep the names its ``summary()`` shows; a Sequential's
    layers are named by position (``"0"``, ``"1"``, ... as in
    ``named_parameters``); any other layer is one unit, ``"0"``. A container
    inside is measured as one layer.
    """
    if isinstance(model, Graph):
        inputs, steps = model.input_names, [(name, layer, args) for name, layer, args in model.nodes if layer]
    else:
        layers = model.layers if isinstance(model, Sequential) else [model]
        names = ["input", *map(str, range(len(layers)))]
        inputs, steps = ["input"], [(names[i + 1], layer, [names[i]]) for i, layer in enumerate(layers)]
    position = {id(p): i for i, p in enumerate(model.parameters())}
    units, seen = [], set()
    for name, layer, args in steps:
        params = [] if id(layer) in seen else layer.parameters()
        seen.add(id(layer))
        keys = _ACTIVATION_KEYS + _kind_keys(layer) + (_PARAMETER_KEYS if params else ())
        units.append(_Unit(name, layer, args, [position[id(p)] for p in params], keys))
    return inputs, units


def _unit_outputs(units: list[_Unit], inputs: dict[str, np.ndarray]) -> list[Any]:
    """Each unit's output for ``inputs`` (keyed by the model's input names), in inference mode."""
    values: dict[str, Any] = dict(inputs)
    with inference_pass():  # a layer of the user's that caches anyway has it dropped
        for unit in units:
            arg = values[unit.args[0]] if unit.layer.n_inputs == 1 else [values[a] for a in unit.args]
            values[unit.name] = unit.layer.forward(arg, training=False)
    return [values[unit.name] for unit in units]


def _kind_keys(layer: Layer) -> tuple[str, ...]:
    """``("saturated",)`` for a sigmoid or tanh, ``("dead",)`` for a ReLU, else nothing."""
    if isinstance(layer, (Sigmoid, Tanh)):
        return ("saturated",)
    if isinstance(layer, ReLU):
        return ("dead",)
    return ()


def _activation_stats(layer: Layer, out: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation and, for an activation function, the saturated or dead fraction of ``out``."""
    stats = {"mean": float(out.mean(dtype=np.float64)), "std": float(out.std(dtype=np.float64))}
    if isinstance(layer, (Sigmoid, Tanh)):
        low = 0.0 if isinstance(layer, Sigmoid) else -1.0
        stats["saturated"] = float(np.mean(np.minimum(out - low, 1.0 - out) < SATURATION_MARGIN))
    elif isinstance(layer, ReLU):
        stats["dead"] = float(np.mean(np.all(out == 0, axis=0)))  # a unit is dead if no probe row moves it
    return stats


def _norm(arrays: Sequence[np.ndarray]) -> float:
    """The Euclidean norm of the arrays taken together as one vector."""
    return math.hypot(*(float(np.linalg.norm(a)) for a in arrays))


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the weights are all 0: there is no scale to compare to."""
    return numerator / denominator if denominator > 0 else math.nan


class LayerStats(Callback):
    r"""Record per layer and per epoch the activations and the gradients: why a network does not learn.

    After each epoch, a fixed batch of inputs, the *probe*, runs through the
    model in inference mode (``training=False``: no layer state is written,
    so training is exactly as without this callback), and for each layer it
    records:

    ``mean``, ``std``
        The mean and the standard deviation of the layer's output over all
        the probe's rows and units.
    ``saturated`` (Sigmoid and Tanh layers)
        The fraction of outputs within :data:`SATURATION_MARGIN` (0.01) of
        the function's bounds (below 0.01 or above 0.99 for a sigmoid,
        beyond :math:`\pm 0.99` for tanh), where the derivative is nearly 0
        and the gradient hardly passes.
    ``dead`` (ReLU layers)
        The fraction of units (features, or channel and pixel of an image)
        that are 0 for every row of the probe: they pass no gradient to
        anything before them.

    and for each layer with parameters, taking all of the layer's
    parameters (a Dense's ``W`` and ``b``) as one vector :math:`\theta`:

    ``grad_ratio``
        :math:`\|g\| / \|\theta\|`, with :math:`g` the gradient of the
        epoch's last batch (what ``p.grad`` holds after the epoch): how big
        a step the gradient asks for, relative to the weights.
    ``update_ratio``
        :math:`\|\theta_{end} - \theta_{start}\| / \|\theta_{start}\|`,
        how far the epoch moved the weights, relative to where they started.
        Compare the layers with one another: one whose ratios sit orders of
        magnitude below the others' hardly learns.

    A ratio whose weights are all 0 is NaN. The layers are those of a
    :class:`~minnet.Sequential`, named by position (``"0"``, ``"1"``, ...),
    or the nodes of a :class:`~minnet.Graph`, named as in its
    ``summary()`` (a shared layer's parameters are measured at its first
    use); a container inside the model is measured as one layer.

    Parameters
    ----------
    probe : array-like of shape (n_rows, *shape), or a list of them for several inputs, optional
        The inputs to measure the activations on, the same every epoch, as
        the model takes them (a dict keyed by a Graph's input names too). By
        default the first :data:`PROBE_ROWS` (256) rows of the training
        data. An array is checked here (a batch of finite numbers), and
        against the model when training starts, before any update.

    Attributes
    ----------
    history : dict of str to dict of str to list of float
        ``history[layer][quantity]`` holds one value per recorded epoch,
        e.g. ``history["0"]["grad_ratio"]``.
    epoch : list of int
        The epochs recorded, from 1, as ``History.epoch``.
    layer_types : dict of str to str
        Each layer's class name, for legends: ``{"0": "Dense", ...}``.

    Notes
    -----
    The state (the history, and the weights at the last epoch's end, from
    which the next update is measured) is kept by :class:`Checkpoint`, so a
    resumed run records what the uninterrupted one would have, bit for bit.
    A run resumed with a LayerStats that was not in the checkpointed run
    records from the resumed epochs on, with the first ``update_ratio``
    NaN: the weights that epoch started from are not known.
    ``mn.plot.layer_stats(stats)`` draws the history.

    Examples
    --------
    >>> stats = mn.LayerStats(probe=X[:256])                                   # doctest: +SKIP
    >>> mn.fit(model, loss, opt, X, y, epochs=20, callbacks=[stats])           # doctest: +SKIP
    >>> stats.history["0"]["grad_ratio"]                                       # doctest: +SKIP
    """

    def __init__(self, probe: Any = None) -> None:
        if isinstance(probe, np.ndarray):
            as_batch("probe", probe)  # what can be checked without the model is checked now
        self.probe = probe
        self._reset()

    def _reset(self) -> None:
        self.history: dict[str, dict[str, list[float]]] = {}
        self.epoch: list[int] = []
        self.layer_types: dict[str, str] = {}
        self._units: list[_Unit] | None = None  # set by on_train_begin, which load_state_dict needs first
        self._probe: dict[str, np.ndarray] = {}  # each model input's probe rows, by input name
        self._params: list[Parameter] = []
        self._start: list[np.ndarray] | None = None  # the weights the current epoch started from
        self._epochs_done = 0

    def on_train_begin(self, run: Run) -> None:
        """Take the probe, check that the model runs on it, and note the weights training starts from.

        A resumed run's weights are not restored yet; the checkpoint's state
        (:meth:`load_state_dict`) gives them.
        """
        model = run.model
        if self.probe is None:
            arrays = [x[:PROBE_ROWS] for x in run.inputs]
        else:
            arrays = as_model_inputs(model, self.probe, "probe")
            try:  # the model's own forward checks every input's shape, as predict would
                with inference_pass():
                    model.forward(arrays[0] if model.n_inputs == 1 else arrays, training=False)
            except ValueError as exc:
                raise ValueError(f"LayerStats cannot run the model on its probe: {exc}") from None
        input_names, units = _units(model)
        self._reset()
        self._units, self._params, self._epochs_done = units, model.parameters(), run.epoch
        self._probe = dict(zip(input_names, arrays))
        self.history = {unit.name: {key: [] for key in unit.keys} for unit in units}
        self.layer_types = {unit.name: type(unit.layer).__name__ for unit in units}
        self._start = snapshot_parameters(self._params) if run.epoch == 0 else None

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        if self._units is None:
            raise RuntimeError("LayerStats.on_epoch_end needs on_train_begin first")
        start = self._start
        for unit, out in zip(self._units, _unit_outputs(self._units, self._probe)):
            record = self.history[unit.name]
            for key, value in _activation_stats(unit.layer, out).items():
                record[key].append(value)
            if not unit.positions:
                continue
            params = [self._params[i] for i in unit.positions]
            weights = _norm([p.value for p in params])
            record["grad_ratio"].append(_ratio(_norm([p.grad for p in params]), weights))
            moved = math.nan
            if start is not None:
                begun = [start[i] for i in unit.positions]
                moved = _ratio(_norm([p.value - s for p, s in zip(params, begun)]), _norm(begun))
            record["update_ratio"].append(moved)
        self.epoch.append(run.epoch)
        self._epochs_done = run.epoch
        self._start = snapshot_parameters(self._params)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": list(self.epoch),
            "history": {
                name: {key: np.array(values, dtype=np.float64) for key, values in record.items()}
                for name, record in self.history.items()
            },
            "start": self._start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved state, after checking every field of it against the run.

        Called after :meth:`on_train_begin`. ``epoch`` must list consecutive
        epochs ending at the last one completed (or be empty); ``history``
        must have exactly this model's layers, each with exactly the
        quantities recorded for it, each a float64 array with one value per
        epoch; ``start`` None, or one finite array per model parameter of
        exactly its shape and dtype.

        Raises
        ------
        ValueError
            Naming the field; nothing is changed.
        """
        if self._units is None:
            raise RuntimeError("LayerStats.load_state_dict checks the state against the run: call on_train_begin first")
        state = stored_dict("LayerStats state", state, ("epoch", "history", "start"))
        done, epochs = self._epochs_done, state["epoch"]
        if not isinstance(epochs, list) or len(epochs) > done:
            raise ValueError(f"epoch must be a list of at most {done} epochs, got {epochs!r:.80}")
        epochs = [stored_int(f"epoch[{i}]", e, low=1) for i, e in enumerate(epochs)]
        if epochs != list(range(done - len(epochs) + 1, done + 1)):
            raise ValueError(f"epoch must be consecutive epochs ending at the last completed ({done}), got {epochs}")
        saved = stored_dict("history", state["history"], [unit.name for unit in self._units])
        history = {}
        for unit in self._units:
            record = stored_dict(f"history[{unit.name!r}]", saved[unit.name], unit.keys)
            history[unit.name] = {
                key: self._stored_series(unit.name, key, record[key], len(epochs)) for key in unit.keys
            }
        start = state["start"]
        if start is not None:
            start = stored_arrays("start", start, [(p.value.shape, p.value.dtype) for p in self._params])
        self.history, self.epoch, self._start = history, epochs, start

    @staticmethod
    def _stored_series(name: str, key: str, values: Any, length: int) -> list[float]:
        """One quantity's values from a file: a float64 array of ``length`` values (NaN allowed: see ``_ratio``)."""
        if not isinstance(values, np.ndarray) or values.dtype != np.float64 or values.shape != (length,):
            got = f"{values.dtype} of shape {values.shape}" if isinstance(values, np.ndarray) else type(values).__name__
            raise ValueError(f"history[{name!r}][{key!r}] must be float64 of shape ({length},), got {got}")
        return [float(v) for v in values]

    def __repr__(self) -> str:
        if self.probe is None:
            return "LayerStats()"
        shape = getattr(self.probe, "shape", None)
        return f"LayerStats(probe=<{type(self.probe).__name__}{'' if shape is None else f' of shape {shape}'}>)"
