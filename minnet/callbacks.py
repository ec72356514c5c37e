"""Callbacks: code that :func:`minnet.fit` runs at fixed points of training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_choice, check_int, check_real

if TYPE_CHECKING:
    from .training import Run

__all__ = ["Callback", "EarlyStopping"]


class Callback:
    """Base class. Override any of the hooks; each receives the :class:`~minnet.training.Run`.

    ``run.model``, ``run.optimizer``, ``run.history`` and ``run.epoch`` (epochs
    completed) are available; setting ``run.stop_training = True`` ends
    training after the current epoch.
    """

    def on_train_begin(self, run: "Run") -> None:
        """Called once, after the inputs are validated and before the first epoch."""

    def on_epoch_end(self, run: "Run", logs: dict[str, float]) -> None:
        """Called after each epoch with that epoch's entry of the history."""

    def on_train_end(self, run: "Run") -> None:
        """Called once when training ends, normally, early or by Ctrl-C (not on an error)."""

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
        Put back the parameters of the best epoch when training ends.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; ``"auto"`` picks ``"max"`` for
        accuracy-like keys and ``"min"`` otherwise.

    Attributes
    ----------
    best : float
        Best value seen.
    best_epoch : int
        Epoch (1-based) at which it was seen.
    stopped_epoch : int or None
        Epoch (1-based) after which training was stopped, if it was.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto") -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a history key such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_real("min_delta", min_delta, low=0.0)
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = restore_best
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self._reset()

    def _reset(self) -> None:
        self.best = np.inf if self._minimize else -np.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_values: list[np.ndarray] | None = None

    @property
    def _minimize(self) -> bool:
        if self.mode != "auto":
            return self.mode == "min"
        return not self.monitor.endswith(("accuracy", "acc"))

    def on_train_begin(self, run: "Run") -> None:
        if self.monitor not in run.log_keys:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this run does not log; "
                             f"it logs {', '.join(run.log_keys)}"
                             + (" (pass validation_data= for val_ keys)" if self.monitor.startswith("val_")
                                else ""))
        self._reset()

    def on_epoch_end(self, run: "Run", logs: dict[str, float]) -> None:
        value = logs[self.monitor]
        improved = (value < self.best - self.min_delta) if self._minimize else (value > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best:
                self._best_values = [p.value.copy() for p in run.model.parameters()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = run.epoch
            run.stop_training = True

    def on_train_end(self, run: "Run") -> None:
        if self.restore_best and self._best_values is not None and self.best_epoch != run.epoch:
            for p, value in zip(run.model.parameters(), self._best_values):
                p.value[...] = value

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta!r}, restore_best={self.restore_best})")
