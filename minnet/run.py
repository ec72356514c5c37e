"""What callbacks and checkpoints see of a run of :func:`~minnet.fit`.

:class:`Run` (the state handed to callbacks), its :class:`History`, the
errors that end it (:class:`TrainingError`, :class:`TrainingDiverged`) and
:func:`run_config`, the settings a checkpoint records and a resume must
share. The training loop (:mod:`minnet.training`) builds on these; nothing
here imports it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .layers import Layer
from .losses import Loss
from .optim import Optimizer
from .steps import Objective

if TYPE_CHECKING:
    from .callbacks import Callback

__all__ = ["History", "Run", "TrainingDiverged", "TrainingError", "optimizer_config", "run_config"]


class TrainingError(RuntimeError):
    """Training stopped, after it had started, because something failed.

    A loss that refuses the model's output, a metric that raises or returns
    something other than a number, a schedule value that is not a valid
    rate, a callback (a checkpoint that cannot be written): the message
    names the cause and where it happened, ``__cause__`` is the original
    error, and the parameters are those of the last completed step.

    Attributes
    ----------
    epoch, batch : int
        Where it happened, counted from 1; ``batch`` is 0 after the epoch's
        batches (the validation pass, the callbacks).
    history : History or None
        The epochs completed before it happened (set by :func:`fit`).
    """

    def __init__(self, message: str, *, epoch: int, batch: int) -> None:
        super().__init__(message)
        self.epoch, self.batch = epoch, batch
        self.history: History | None = None


class TrainingDiverged(TrainingError):
    """The loss or an update became NaN or infinite; training was stopped.

    The parameters keep their last finite values.

    Attributes
    ----------
    epoch, batch : int
        Where it happened, counted from 1; ``batch`` is 0 when it was the
        validation loss, computed after the epoch's batches.
    lr : float
        The learning rate of that step.
    history : History or None
        The epochs completed before it happened (set by :func:`fit`).
    """

    def __init__(self, message: str, *, epoch: int, batch: int, lr: float) -> None:
        super().__init__(message, epoch=epoch, batch=batch)
        self.lr = lr


class History:
    """What :func:`fit` recorded, one entry per epoch, like Keras' ``History``.

    Attributes
    ----------
    history : dict of str to list of float
        ``loss``, each metric, their ``val_`` twins when validation data was
        given, and ``lr`` (the rate of the epoch's last step).
    epoch : list of int
        The epoch numbers, from 1.
    """

    def __init__(self, history: dict[str, list[float]] | None = None, epoch: list[int] | None = None) -> None:
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def plot(self, **kwargs: Any) -> Any:
        """Draw loss (and val loss), metrics and learning rate per epoch; returns the Figure."""
        from . import plot

        return plot.history(self, **kwargs)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


@dataclass
class Run:
    """The state of one call to :func:`fit`, handed to callbacks."""

    model: Layer
    loss: Loss | Sequence[Loss]
    optimizer: Optimizer
    history: History
    rng: np.random.Generator
    epochs: int
    log_keys: list[str]
    #: The losses, their weights and the metrics, per model output.
    objective: Objective
    epoch: int = 0
    stop_training: bool = False
    callbacks: list[Callback] = field(default_factory=list)
    #: Set by the first Ctrl-C; training stops after the current batch.
    interrupt_requested: bool = False
    #: Whether Ctrl-C ended training; set before the callbacks' ``on_train_end``.
    interrupted: bool = False
    #: The settings a resumed run must share with this one (see :func:`run_config`).
    config: dict[str, Any] = field(default_factory=dict)
    #: The model's layers that keep non-trained state, put back when a step fails.
    stateful: list[Layer] = field(default_factory=list)
    #: The training inputs as fit checked them, one array per model input; callbacks read, never write them.
    inputs: list[np.ndarray] = field(default_factory=list)


def run_config(log_keys: list[str], batch: int, shuffle: bool, n_samples: int, optimizer: Optimizer) -> dict[str, Any]:
    """The settings of a run that a :class:`~minnet.Checkpoint` records and a resume must match.

    Resuming continues the same sequence of updates only if the batches are
    the same (``batch``, ``shuffle``, ``n_samples``), the optimizer computes
    the same steps (its class and hyperparameters, schedules by ``repr``)
    and the history gets the same columns (``log_keys``: metrics, ``val_``
    entries, ``lr``).
    """
    return {
        "log_keys": list(log_keys),
        "batch_size": int(batch),
        "shuffle": bool(shuffle),
        "n_samples": int(n_samples),
        "optimizer": optimizer_config(optimizer),
    }


def optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's class and hyperparameters as JSON values, to compare two runs.

    Hyperparameters are the public attributes that are not running state
    (``params`` and the keys of ``state_dict()``, such as the step count and
    momentum buffers). A schedule is recorded by its ``repr``, which names
    its class and every constructor argument; a plain function by its
    qualified name, since its default ``repr`` holds a memory address that
    changes from one process to the next. Parameter groups, when there are
    several or one sets a hyperparameter, are recorded by their sizes and
    settings.
    """
    running = {"params", "param_groups", *optimizer.state_dict()}
    config: dict[str, Any] = {"class": type(optimizer).__name__}
    for name, value in sorted(vars(optimizer).items()):
        if not name.startswith("_") and name not in running:
            config[name] = _json_value(value)
    groups = getattr(optimizer, "param_groups", [])
    if len(groups) > 1 or any(len(group) > 1 for group in groups):
        config["param_groups"] = [
            {name: len(value) if name == "params" else _json_value(value) for name, value in sorted(group.items())}
            for group in groups
        ]
    return config


def _json_value(value: Any) -> Any:
    """``value`` as a JSON value that is equal for equal settings in any process."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    text = repr(value)
    if " at 0x" in text:  # the default repr: identity, not settings
        # A class or function is named by itself, anything else by its class.
        kind = value if hasattr(value, "__qualname__") else type(value)
        return f"<{kind.__module__}.{kind.__qualname__}>"
    return text
