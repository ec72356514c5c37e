"""The training loop: :func:`fit`, its :class:`History` and :class:`TrainingDiverged`."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ._validation import (all_finite, as_2d_batch, as_float_array, as_generator, as_target, check_bool,
                          check_int, check_path)
from .callbacks import Callback
from .containers import model_dtype
from .checkpoint import optimizer_config, read_checkpoint, restore
from .layers import Layer
from .losses import Loss
from .metrics import Metric, resolve_metrics
from .optim import NonFiniteUpdate, Optimizer

__all__ = ["fit", "evaluate", "History", "Run", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
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
        super().__init__(message)
        self.epoch, self.batch, self.lr = epoch, batch, lr
        self.history: History | None = None


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

    def __init__(self, history: dict[str, list[float]] | None = None,
                 epoch: list[int] | None = None) -> None:
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
    loss: Loss
    optimizer: Optimizer
    history: History
    rng: np.random.Generator
    epochs: int
    log_keys: list[str]
    epoch: int = 0
    stop_training: bool = False
    callbacks: list[Callback] = field(default_factory=list)
    #: Set by the first Ctrl-C; training stops after the current batch.
    interrupt_requested: bool = False
    #: The settings a resumed run must share with this one (see :func:`_run_config`).
    config: dict[str, Any] = field(default_factory=dict)


def _run_config(log_keys: list[str], batch: int, shuffle: bool, n_samples: int,
                optimizer: Optimizer) -> dict[str, Any]:
    """The settings of a run that a :class:`~minnet.Checkpoint` records and a resume must match.

    Resuming continues the same sequence of updates only if the batches are
    the same (``batch``, ``shuffle``, ``n_samples``), the optimizer computes
    the same steps (its class and hyperparameters, schedules by ``repr``)
    and the history gets the same columns (``log_keys``: metrics, ``val_``
    entries, ``lr``).
    """
    return {"log_keys": list(log_keys), "batch_size": int(batch), "shuffle": bool(shuffle),
            "n_samples": int(n_samples), "optimizer": optimizer_config(optimizer)}


def _batch_size(batch_size: int | None, n_samples: int) -> int:
    if batch_size is None:
        return n_samples
    return min(check_int("batch_size", batch_size, low=1), n_samples)


def _check_model_and_loss(model: Any, loss: Any) -> None:
    """The type checks shared by :func:`fit`, :func:`evaluate` and :func:`~minnet.lr_find`."""
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a Layer (e.g. mn.Sequential), got {type(model).__name__}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a Loss (e.g. mn.BCE()), got {type(loss).__name__}")


def _prepare_xy(model: Layer, loss: Loss, X: Any, y: Any, x_name: str = "X",
                y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Validate one (X, y) pair once, converting to the model's dtype and output shape.

    Messages call the arrays ``x_name`` and ``y_name`` (``X_val``/``y_val`` for validation data).
    """
    dtype = model_dtype(model)
    X = as_2d_batch(x_name, X, dtype)
    y_array = as_float_array(y_name, y, dtype)
    if y_array.ndim == 0 or len(y_array) != len(X):
        got = "a scalar" if y_array.ndim == 0 else str(len(y_array))
        raise ValueError(f"{x_name} and {y_name} must have the same number of samples, "
                         f"got {len(X)} and {got}")
    # One sample in inference mode reveals the output width (and checks the
    # input width with the layer's own message) without changing any parameter.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # only the width matters here
        probe = np.asarray(model.forward(X[:1], training=False))
    if probe.ndim != 2 or len(probe) != 1:
        raise ValueError(f"the model must return a 2-D batch (n_samples, n_outputs); for one sample "
                         f"it returned shape {probe.shape}")
    n_outputs = probe.shape[1]
    y_array = as_target(y_name, y_array, (len(X), n_outputs), dtype)
    loss.check_target(y_array)
    return X, y_array


def fit(model: Layer, loss: Loss, optimizer: Optimizer, X: Any, y: Any, *, epochs: int,
        batch_size: int | None = None, shuffle: bool = True, seed: int | np.random.Generator | None = None,
        validation_data: tuple[Any, Any] | None = None, metrics: Iterable[Any] = (),
        callbacks: Sequence[Callback] = (), progress: bool = True,
        resume: str | os.PathLike[str] | None = None) -> History:
    """Train ``model`` on ``(X, y)`` by minimising ``loss`` with ``optimizer``.

    Parameters
    ----------
    model : Layer
        Usually a :class:`Sequential`; its parameters must be the optimizer's.
    loss : Loss
    optimizer : Optimizer
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    epochs : int
        Passes over the data.
    batch_size : int or None, default None
        Samples per update; ``None`` trains on the full batch (one update per
        epoch, as plain gradient descent). The last, partial batch is used.
    shuffle : bool, default True
        Visit the samples in a new random order each epoch (by index: the
        data are never copied whole).
    seed : int, Generator or None
        Seed of the shuffling.
    validation_data : (X_val, y_val), optional
        Evaluated in inference mode after each epoch (``val_`` keys).
    metrics : iterable of str or callable
        ``"accuracy"`` or ``metric(y_true, y_pred) -> float``.
    callbacks : sequence of Callback
    progress : bool, default True
        Show one tqdm bar for the run, with the loss in its postfix.
    resume : str or os.PathLike, optional
        A file written by :class:`~minnet.Checkpoint`. The model's
        parameters, the optimizer's state (step count, buffers, hence the
        schedule's position), the shuffling RNG, the history, the epoch and
        the callbacks' state are restored from it, and training continues
        up to ``epochs`` in total; the result is bit-identical to a run that
        was never interrupted. ``model``, ``optimizer`` and ``callbacks``
        must be built as for the original run; ``seed`` is ignored. A run
        that had already ended (``epochs`` reached, or stopped by a
        callback) returns its history without training.

    Returns
    -------
    History
        Per-epoch ``loss`` (the batch-size-weighted mean over the epoch's
        batches), metrics, ``val_`` entries and ``lr``.

    Raises
    ------
    TrainingDiverged
        When the loss, the model's output or an update becomes NaN or
        infinite; the parameters keep their last finite values and the
        exception's ``history`` holds the epochs completed.
    FileNotFoundError
        If ``resume`` names a file that does not exist.
    ValueError, TypeError
        For invalid arguments, or a ``resume`` file that is corrupt or was
        written for another model or optimizer.

    Notes
    -----
    Everything is validated before the first update (including that every
    schedule covers the run's steps), so an invalid call leaves the model
    and optimizer untouched. Ctrl-C lets the current batch's update finish,
    then returns the history of the completed epochs; the parameters are
    those after that last update (a second Ctrl-C interrupts at once). Floating-point
    overflow inside the loop is not reported as a numpy warning: any
    non-finite value it produces stops training with :class:`TrainingDiverged`.
    """
    _check_model_and_loss(model, loss)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. mn.SGD), got {type(optimizer).__name__}")
    model_params = {id(p) for p in model.parameters()}
    if model_params != {id(p) for p in optimizer.params}:
        raise ValueError("the optimizer does not hold exactly this model's parameters; "
                         "build it with model.parameters()")
    epochs = check_int("epochs", epochs, low=1)
    shuffle = check_bool("shuffle", shuffle)
    progress = check_bool("progress", progress)
    rng = as_generator("seed", seed)
    resume_path = None if resume is None else check_path("resume", resume)
    X, y = _prepare_xy(model, loss, X, y)
    batch = _batch_size(batch_size, len(X))
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, y_val)")
        validation = _prepare_xy(model, loss, *validation_data, x_name="X_val", y_name="y_val")
    metric_fns = resolve_metrics(metrics, loss)
    if callbacks is None:
        callbacks = []
    callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {cb!r}")
    log_keys = ["loss", *metric_fns]
    if validation is not None:
        log_keys += [f"val_{k}" for k in log_keys]
    log_keys.append("lr")
    config = _run_config(log_keys, batch, shuffle, len(X), optimizer)
    saved = None
    if resume_path is not None:
        saved = read_checkpoint(resume_path, model, optimizer, config)  # checks everything, changes nothing
        rng = saved["rng"]
    first_step = optimizer.step_count if saved is None else int(saved["optimizer"]["step_count"])
    first_epoch = 0 if saved is None else saved["epoch"]
    _check_schedules_cover(optimizer, first_step, (epochs - first_epoch) * math.ceil(len(X) / batch))

    # Checkpoints run after the other callbacks each epoch, so they save their state too.
    callbacks = [cb for cb in callbacks if not cb.runs_last] + [cb for cb in callbacks if cb.runs_last]
    run = Run(model, loss, optimizer, History(), rng, epochs, log_keys, callbacks=callbacks, config=config)
    if saved is not None:
        run.history = History(*saved["history"])
        run.epoch, run.stop_training = saved["epoch"], saved["stop_training"]
    for cb in callbacks:
        cb.on_train_begin(run)
    if saved is not None:
        restore(run, saved)

    from tqdm import tqdm  # imported here so that `import minnet` needs numpy only

    # Shuffled batches are gathered into these, allocated once for the whole run.
    buffers = _gather_buffers(X, y, batch) if shuffle else None
    bar = tqdm(total=epochs, initial=run.epoch, disable=not progress, unit="epoch",
               dynamic_ncols=True, file=sys.stderr)
    try:
        with _interrupt_between_batches(run):
            while run.epoch < epochs and not run.stop_training:
                # Overflow is not warned about: a non-finite loss, output or update
                # stops training below with a TrainingDiverged that says where.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    logs = _train_epoch(run, X, y, batch, shuffle, metric_fns, buffers)
                    if validation is not None:
                        logs.update(_validate_epoch(run, *validation, metric_fns))
                _end_epoch(run, logs, bar if progress else None)
    except KeyboardInterrupt:
        bar.write(f"Training interrupted after {run.epoch} complete epoch(s); returning the history so far.",
                  file=sys.stderr)
    except TrainingDiverged as exc:
        exc.history = run.history
        raise
    finally:
        bar.close()
    for cb in callbacks:
        cb.on_train_end(run)
    return run.history


def evaluate(model: Layer, loss: Loss, X: Any, y: Any, *, metrics: Iterable[Any] = ()) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``(X, y)`` in inference mode, like Keras' ``evaluate``.

    Parameters
    ----------
    model : Layer
    loss : Loss
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    metrics : iterable of str or callable
        As for :func:`fit`.

    Returns
    -------
    dict of str to float
        ``{"loss": ..., "accuracy": ..., ...}``; all NaN if the model's
        output is not finite.
    """
    _check_model_and_loss(model, loss)
    X, y = _prepare_xy(model, loss, X, y)
    return _scores(model, loss, X, y, resolve_metrics(metrics, loss))


def _scores(model: Layer, loss: Loss, X: np.ndarray, y: np.ndarray,
            metrics: dict[str, Metric]) -> dict[str, float]:
    """Loss and metrics on prepared ``(X, y)`` in inference mode; all NaN for a non-finite output.

    A non-finite output is not handed to the loss or the metrics, which would
    refuse it (or warn) with messages about an array the user never passed.
    """
    pred = model.forward(X, training=False)
    if not all_finite(pred):
        return dict.fromkeys(["loss", *metrics], math.nan)
    scores = {"loss": loss.forward(pred, y)}
    for name, metric in metrics.items():
        scores[name] = float(metric(y, pred))
    return scores


def _check_schedules_cover(optimizer: Optimizer, first_step: int, n_steps: int) -> None:
    """Evaluate every scheduled rate at the run's last step, before any update.

    A schedule too short for the run (``OneCycle(total_steps=...)`` smaller
    than epochs x batches) would otherwise fail halfway through training.
    """
    last_step = first_step + n_steps - 1
    for name in ("lr", "momentum"):
        if callable(getattr(optimizer, name, None)):
            try:
                optimizer.rate(name, last_step)
            except ValueError as exc:
                raise ValueError(f"the {name} schedule cannot cover this run, which takes optimizer steps "
                                 f"{first_step} to {last_step}: {exc}") from None


def _validate_epoch(run: Run, X: np.ndarray, y: np.ndarray, metrics: dict[str, Metric]) -> dict[str, float]:
    """Loss and metrics on the validation data, in inference mode (``val_`` keys)."""
    scores = _scores(run.model, run.loss, X, y, metrics)
    if not math.isfinite(scores["loss"]):
        lr = run.optimizer.rate("lr", run.optimizer.step_count - 1)
        raise _diverged(f"in epoch {run.epoch + 1}", f"the validation loss is {scores['loss']} (lr={lr:g})",
                        epoch=run.epoch + 1, batch=0, lr=lr)
    return {f"val_{name}": value for name, value in scores.items()}


def _diverged(where: str, what: str, *, epoch: int, batch: int, lr: float) -> TrainingDiverged:
    """The :class:`TrainingDiverged` to raise: ``training diverged {where}: {what}. ...``."""
    return TrainingDiverged(f"training diverged {where}: {what}. The parameters keep their last finite "
                            f"values; try a smaller learning rate.", epoch=epoch, batch=batch, lr=lr)


def _end_epoch(run: Run, logs: dict[str, float], bar: Any) -> None:
    """Record the epoch in the history, the progress bar (if any) and the callbacks."""
    logs["lr"] = run.optimizer.rate("lr", run.optimizer.step_count - 1)
    run.epoch += 1
    run.history.append(run.epoch, logs)
    if bar is not None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if "loss" in k}, refresh=False)
    for cb in run.callbacks:
        cb.on_epoch_end(run, logs)


@contextlib.contextmanager
def _interrupt_between_batches(run: Run) -> Iterator[None]:
    """Turn the first Ctrl-C into a request that ``_train_epoch`` honours after the current batch.

    A KeyboardInterrupt raised in the middle of an update could leave some
    parameters stepped and others not. Only the main thread can install a
    signal handler, and a handler the user installed is left alone; a second
    Ctrl-C interrupts at once.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if run.interrupt_requested:
            raise KeyboardInterrupt
        run.interrupt_requested = True

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _gather_buffers(X: np.ndarray, y: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Arrays for one shuffled batch of ``X`` and ``y``; None when the batch is the whole data set."""
    if batch >= len(X):
        return None  # the full batch is X itself, in any order
    return np.empty((batch, *X.shape[1:]), X.dtype), np.empty((batch, *y.shape[1:]), y.dtype)


def _batches(X: np.ndarray, y: np.ndarray, batch: int, order: np.ndarray | None,
             buffers: tuple[np.ndarray, np.ndarray] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One pass over ``(X, y)`` in batches of ``batch`` rows, the last one partial.

    Copies no more than it must: the full batch is ``X`` itself, unshuffled
    batches (``order`` None) are slices, hence views, and the rows
    ``order[start:start + batch]`` of a shuffled pass are gathered with
    ``np.take`` into ``buffers`` (from :func:`_gather_buffers`), so every
    batch overwrites the previous one.
    """
    n = len(X)
    if batch >= n:
        yield X, y
        return
    for start in range(0, n, batch):
        if order is None:
            yield X[start:start + batch], y[start:start + batch]
        else:
            rows = order[start:start + batch]
            x_buffer, y_buffer = buffers
            # The rows come from a permutation, so never out of range; with the default
            # mode="raise" numpy would gather into a temporary and copy it into out=.
            yield (np.take(X, rows, axis=0, out=x_buffer[:len(rows)], mode="clip"),
                   np.take(y, rows, axis=0, out=y_buffer[:len(rows)], mode="clip"))


def _train_step(model: Layer, loss: Loss, optimizer: Optimizer, xb: np.ndarray,
                yb: np.ndarray) -> tuple[float, np.ndarray, str | None]:
    """One update on the batch ``(xb, yb)``, which the caller has validated.

    Returns ``(loss, pred, failure)``: the batch's loss before the update,
    the model's output, and None, or a sentence saying why no update was
    made (the loss is NaN or infinite, reported as NaN for a non-finite
    output; or the update would have made a parameter non-finite). The
    parameters then keep their values. Run it under ``np.errstate``: such
    a failure is this result, not a numpy warning.
    """
    pred = model.forward(xb, training=True)
    # The loss only checks what depends on pred: the targets were checked once.
    value = loss._forward_batch(pred, yb) if all_finite(pred) else math.nan
    if not math.isfinite(value):
        return value, pred, f"the loss is {value} (lr={optimizer.current_lr:g})"
    # Nobody reads dL/dX of the data, so the first layer skips computing it.
    model._backward(loss.backward(), need_input_grad=False)
    try:
        optimizer.step()
    except NonFiniteUpdate as exc:
        return value, pred, str(exc)
    return value, pred, None


def _train_epoch(run: Run, X: np.ndarray, y: np.ndarray, batch: int, shuffle: bool,
                 metrics: dict[str, Metric],
                 buffers: tuple[np.ndarray, np.ndarray] | None) -> dict[str, float]:
    """One pass over the data; returns the batch-size-weighted means of loss and metrics.

    This is the hot loop, so it validates nothing that ``fit`` has already
    validated once, and copies no more than it must (see :func:`_batches`;
    ``buffers`` are allocated once per run).
    """
    n = len(X)
    model, loss, optimizer = run.model, run.loss, run.optimizer
    order = run.rng.permutation(n) if shuffle and batch < n else None
    totals = dict.fromkeys(["loss", *metrics], 0.0)
    n_batches = math.ceil(n / batch)
    for index, (xb, yb) in enumerate(_batches(X, y, batch, order, buffers)):
        value, pred, failure = _train_step(model, loss, optimizer, xb, yb)
        if failure is not None:
            # No update was made, so current_lr is still the rate of the failed step.
            raise _diverged(f"at epoch {run.epoch + 1}, batch {index + 1}/{n_batches}", failure,
                            epoch=run.epoch + 1, batch=index + 1, lr=optimizer.current_lr)
        weight = len(xb)
        totals["loss"] += value * weight
        for name, metric in metrics.items():
            totals[name] += float(metric(yb, pred)) * weight
        if run.interrupt_requested:  # Ctrl-C, deferred to here: this batch's update is complete
            raise KeyboardInterrupt
    return {k: v / n for k, v in totals.items()}
