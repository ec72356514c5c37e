"""Callbacks: code that :func:`minnet.fit` runs at fixed points of training."""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_bool, check_choice, check_int, check_path, check_real
from .containers import restore_states, stateful_layers
from .io.archive import check_writable
from .io.checkpoint import write_checkpoint
from .io.fields import stored_arrays, stored_dict, stored_int, stored_real
from .layers import Layer, restore_parameters, snapshot_parameters
from .metrics import GREATER_IS_BETTER

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Callback", "Checkpoint", "EarlyStopping"]


class Callback:
    """Base class. Override any of the hooks; each receives the :class:`~minnet.run.Run`.

    ``run.model``, ``run.optimizer``, ``run.history`` and ``run.epoch`` (epochs
    completed) are available; setting ``run.stop_training = True`` ends
    training after the current epoch.
    """

    #: Whether :func:`minnet.fit` calls this callback's ``on_epoch_end`` after all the others.
    runs_last = False

    def on_train_begin(self, run: Run) -> None:
        """Called once, after the inputs are validated and before the first epoch."""

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
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a history key such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
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
        if self.mode != "auto":
            return self.mode == "min"
        # A model with several outputs logs accuracy_0, val_accuracy_1, ...
        return not re.sub(r"_\d+$", "", self.monitor).endswith(GREATER_IS_BETTER)

    def on_train_begin(self, run: Run) -> None:
        """Check that the run logs ``monitor``; note the model's parameters and the epochs completed.

        :meth:`load_state_dict` checks a saved state against those two.
        """
        if self.monitor not in run.log_keys:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this run does not log; "
                f"it logs {', '.join(run.log_keys)}"
                + (" (pass validation_data= for val_ keys)" if self.monitor.startswith("val_") else "")
            )
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

    Examples
    --------
    >>> mn.fit(model, loss, opt, X, y, epochs=100,
    ...        callbacks=[mn.Checkpoint("run.npz", every=5)])        # doctest: +SKIP
    >>> mn.fit(model, loss, opt, X, y, epochs=100, resume="run.npz")  # doctest: +SKIP
    """

    #: :func:`minnet.fit` calls callbacks with ``runs_last = True`` after the others each epoch.
    runs_last = True

    def __init__(self, path: str | os.PathLike[str], every: int = 1) -> None:
        self.path = check_path("path", path)
        self.every = check_int("every", every, low=1)
        self.last_saved_epoch: int | None = None

    def on_train_begin(self, run: Run) -> None:
        # Fail before the first epoch, not after hours of training.
        check_writable(self.path)

    def on_epoch_end(self, run: Run, logs: dict[str, float]) -> None:
        if run.epoch % self.every == 0 or run.epoch >= run.epochs or run.stop_training:
            write_checkpoint(self.path, run)
            self.last_saved_epoch = run.epoch

    def __repr__(self) -> str:
        every = "" if self.every == 1 else f", every={self.every}"
        return f"Checkpoint({str(self.path)!r}{every})"
