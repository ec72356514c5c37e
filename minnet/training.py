"""The training loop, :func:`fit`, and :func:`evaluate`.

:func:`fit` runs in four stages, each a function below it: ``_prepare``
checks every argument and the data and builds the :class:`~minnet.run.Run`,
changing nothing; ``_begin_run`` starts it, afresh or from a checkpoint (the
one place that resumes); ``_train`` is the epoch loop; ``_end_run`` calls the
callbacks' ``on_train_end``. The per-batch work is ``_train_epoch`` and
``train_step`` (in ``minnet.steps``, the step that ``fit`` and ``lr_find`` share).

:class:`~minnet.run.History`, :class:`~minnet.run.Run` and the errors live in
:mod:`minnet.run`; they are importable from here too, as before.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._interrupts import deferring
from ._validation import as_generator, check_bool, check_finite, check_int, check_path, check_real
from .callbacks import Callback, check_hooks, overriding
from .containers import iter_layers, model_dtype, stateful_layers
from .io.checkpoint import read_checkpoint, restore
from .layers import Layer
from .losses import Loss
from .optim import Optimizer
from .run import History, Run, TrainingDiverged, TrainingError, run_config
from .steps import (
    Objective,
    apply_class_weight,
    batches,
    check_model,
    gather_buffers,
    prepare_data,
    prepare_sample_weight,
    resolve_batch_size,
    resolve_inference_batch_size,
    scores,
    train_step,
)

__all__ = ["evaluate", "fit"]


def fit(
    model: Layer,
    loss: Loss | Sequence[Loss],
    optimizer: Optimizer,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    validation_data: tuple[Any, ...] | None = None,
    metrics: Iterable[Any] = (),
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    resume: str | os.PathLike[str] | None = None,
    loss_weights: Sequence[float] | None = None,
    validation_batch_size: int | None = None,
    validation_split: float = 0.0,
    class_weight: dict[int, float] | None = None,
    sample_weight: Any = None,
) -> History:
    """Train ``model`` on ``(X, y)`` by minimising ``loss`` with ``optimizer``.

    Parameters
    ----------
    model : Layer
        A :class:`Sequential`, a :class:`~minnet.Graph` or any Layer; its
        parameters must be the optimizer's.
    loss : Loss, or a list of Loss (one per output of a model with several)
        Or a dict keyed by a :class:`~minnet.Graph`'s output names.
    optimizer : Optimizer
    X : array-like of shape (n_samples, n_features) or (n_samples, *shape)
        For a model with several inputs, a list with one array per input,
        or a dict keyed by a Graph's input names.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets, as the loss takes them; for a model with several
        outputs, a list with one per output, or a dict keyed by output names.
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
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        Evaluated in inference mode after each epoch (``val_`` keys), its
        loss weighted by ``sample_weight_val`` if given, as Keras.
    metrics : iterable of str, Metric or callable, or dict of str to such an iterable
        Names (``"accuracy"``, ``"f1"``, ``"auc"``, ... see
        :mod:`minnet.metrics`), :class:`~minnet.metrics.Metric` objects,
        which accumulate over the epoch, or ``metric(y_true, y_pred) ->
        float``, averaged over the batches. With several outputs: applied
        to each (``accuracy_0``, ``accuracy_1``), or a dict keyed by output
        names giving each its own (``<output>_accuracy``, Keras' keys).
    callbacks : sequence of Callback
        Their hooks run at the start and end of the run, of each epoch and
        of each batch (see :class:`~minnet.Callback`); a method named
        ``on_...`` that is no hook is refused with a TypeError.
    progress : bool, default True
        Show one tqdm bar for the run, with the loss in its postfix.
    loss_weights : list of float, optional
        The weight of each output's loss in the total that is minimised, one
        per output (1.0 each by default), as Keras; a model with one output
        may take one weight, which scales its loss and gradient. A dict is
        keyed by output names.
    validation_split : float, default 0.0
        As Keras: hold out this fraction of the rows, the *last* ones as
        given (before any shuffling), as validation data. Not together with
        ``validation_data``.
    validation_batch_size : int, optional
        Rows per forward pass of the validation data, so memory is bounded
        by one batch; None means ``PREDICT_BATCH_SIZE`` (1024) rows, as
        :meth:`~minnet.Model.predict`.
    class_weight : dict of int to float, optional
        The weight of each class (a label of ``CrossEntropy``, 0 or 1 for a
        one-output ``BCE``) in the training loss, as Keras; a class it does
        not name weighs 1. It multiplies ``sample_weight``. For a model with
        one output.
    sample_weight : array-like of shape (n_samples,), optional
        A weight >= 0 per training sample, shuffled and batched with it:
        each sample's term of a batch's loss is scaled by its weight and the
        batch's size stays the divisor (Keras' default). The metrics are not
        weighted. With ``validation_split``, the held-out rows keep their
        weights for ``val_loss``.
    resume : str or os.PathLike, optional
        A file written by :class:`~minnet.Checkpoint`. The model's
        parameters, the optimizer's state (step count, buffers, hence the
        schedule's position), the shuffling RNG, the history, the epoch and
        the callbacks' state are restored from it, and training continues
        up to ``epochs`` in total; the result is bit-identical to a run that
        was never interrupted. ``model``, ``optimizer`` and ``callbacks``
        must be built as for the original run; ``seed`` is ignored. A run
        that had already ended (``epochs`` reached, or stopped by a
        callback) returns its history without training, with a
        ``UserWarning`` saying so.

    Returns
    -------
    History
        Per-epoch ``loss`` (the batch-size-weighted mean over the epoch's
        batches), each output's ``<output>_loss`` for a model with several,
        metrics, ``val_`` entries and ``lr``; every key is there,
        with an empty list if Ctrl-C came before the first epoch ended.

    Raises
    ------
    TrainingDiverged
        When the loss, the model's output or an update becomes NaN or
        infinite; the parameters keep their last finite values and the
        exception's ``history`` holds the epochs completed.
    TrainingError
        When something fails after the first update (a loss refusing the
        output, a metric, a callback), naming it, with the history. A
        callback failing in ``on_train_end`` is reported after every
        callback's ``on_train_end`` has run.
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
    then returns the history of the completed epochs; the parameters and
    the optimizer's state are those after that last update, which
    :class:`~minnet.EarlyStopping` does not roll back (a second Ctrl-C
    interrupts at once). Floating-point overflow inside the loop is not
    reported as a numpy warning: any non-finite value it produces stops
    training with :class:`TrainingDiverged`.
    """
    run, plan = _prepare(
        model,
        loss,
        optimizer,
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        validation_data=validation_data,
        metrics=metrics,
        callbacks=callbacks,
        progress=progress,
        resume=resume,
        loss_weights=loss_weights,
        validation_batch_size=validation_batch_size,
        validation_split=validation_split,
        class_weight=class_weight,
        sample_weight=sample_weight,
    )
    _begin_run(run, plan)
    _train(run, plan)
    _end_run(run)
    return run.history


# -- preparing: every check, no change ----------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What the epoch loop trains on and how, fixed once ``_prepare`` has checked it."""

    #: The model's inputs, then its targets, then the sample weights if ``weighted``.
    data: list[np.ndarray]
    n_inputs: int
    weighted: bool
    batch: int
    shuffle: bool
    progress: bool
    #: ``(inputs, targets, sample_weight)`` to score after each epoch, ``validation_rows`` at a time.
    validation: tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None] | None
    validation_rows: int | None
    #: The checkpoint to continue from.
    resume: Path | None

    @property
    def n_batches(self) -> int:
        return math.ceil(len(self.data[0]) / self.batch)


def _prepare(
    model: Layer,
    loss: Loss | Sequence[Loss],
    optimizer: Optimizer,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int | None,
    shuffle: bool,
    seed: int | np.random.Generator | None,
    validation_data: tuple[Any, ...] | None,
    metrics: Iterable[Any],
    callbacks: Sequence[Callback],
    progress: bool,
    resume: str | os.PathLike[str] | None,
    loss_weights: Sequence[float] | None,
    validation_batch_size: int | None,
    validation_split: float,
    class_weight: dict[int, float] | None,
    sample_weight: Any,
) -> tuple[Run, _Plan]:
    """Check :func:`fit`'s arguments and data, and build the run that has not begun; change nothing.

    A call with several mistakes is told about the first in the order of
    this body. The metrics run on a few rows here, so a failing one is
    found before any update.
    """
    check_model(model)
    objective = Objective(model, loss, loss_weights, metrics)
    _check_optimizer(model, optimizer)
    _check_finite_parameters(model)
    epochs = check_int("epochs", epochs, low=1)
    shuffle = check_bool("shuffle", shuffle)
    progress = check_bool("progress", progress)
    rng = as_generator("seed", seed)
    resume_path = None if resume is None else check_path("resume", resume)
    inputs, targets = prepare_data(model, objective, X, y)
    weights = prepare_sample_weight(objective, sample_weight, len(inputs[0]), model_dtype(model))
    validation = None
    if validation_split:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        inputs, targets, weights, validation = _split_off_validation(inputs, targets, weights, validation_split)
    # Class weights weigh the training loss only, as in Keras.
    weights = apply_class_weight(model, objective, inputs, targets, weights, class_weight)
    if weights is not None and not weights.any():
        raise ValueError(
            "the training samples' weights are all zero (sample_weight times class_weight): none would count"
        )
    n_samples = len(inputs[0])
    batch = resolve_batch_size(batch_size, n_samples)
    _check_smallest_batch(model, n_samples, batch)
    if validation_data is not None:
        validation = _prepare_validation_data(model, objective, validation_data)
    validation_rows = None
    if validation is not None:
        validation_rows = resolve_inference_batch_size(
            validation_batch_size, len(validation[0][0]), "validation_batch_size"
        )
    callbacks = _checked_callbacks(callbacks)
    objective.check_metrics(model, inputs, targets)  # on a few rows, before any update
    log_keys = ["loss", *objective.loss_names, *objective.metric_names]
    if validation is not None:
        log_keys += [f"val_{k}" for k in log_keys]
    log_keys.append("lr")
    run = Run(
        model,
        loss,
        optimizer,
        History({key: [] for key in log_keys}),  # every key, even if no epoch completes
        rng,
        epochs,
        log_keys,
        objective,
        callbacks=callbacks,
        config=run_config(log_keys, batch, shuffle, n_samples, optimizer),
        stateful=stateful_layers(model),
        inputs=inputs,
    )
    data = [*inputs, *targets] if weights is None else [*inputs, *targets, weights]
    plan = _Plan(
        data, len(inputs), weights is not None, batch, shuffle, progress, validation, validation_rows, resume_path
    )
    return run, plan


def _check_optimizer(model: Layer, optimizer: Any) -> None:
    """Refuse anything but an Optimizer holding every trainable parameter of the model and nothing else.

    Frozen parameters may be held or not: the optimizer skips them.
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. mn.SGD), got {type(optimizer).__name__}")
    named = model.named_parameters()
    held = {id(p) for p in optimizer.params}
    missing = [name for name, p in named if p.trainable and id(p) not in held]
    if missing:
        raise ValueError(
            f"the optimizer does not hold the trainable parameters {missing[:5]} of this model; build it with "
            "model.parameters(), or freeze their layers (layer.trainable = False)"
        )
    foreign = len(held - {id(p) for _, p in named})
    if foreign:
        raise ValueError(
            f"the optimizer holds {foreign} parameters that are not this model's; build it with model.parameters()"
        )


def _check_finite_parameters(model: Layer) -> None:
    """Refuse a trainable parameter holding NaN or inf, once: each step then checks its update alone."""
    for name, p in model.named_parameters():
        if p.trainable:
            check_finite(f"parameter {name}", p.value)


def _checked_callbacks(callbacks: Any) -> list[Callback]:
    """The callbacks as a list, in the order they see each epoch's end."""
    if callbacks is None:
        callbacks = []
    callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {cb!r}")
        check_hooks(cb)
    # Checkpoints run after the other callbacks each epoch, so they save their state too.
    return [cb for cb in callbacks if not cb.runs_last] + [cb for cb in callbacks if cb.runs_last]


def _prepare_validation_data(
    model: Layer, objective: Objective, validation_data: Any
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
    """``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)`` checked as the training data is."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise TypeError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, sample_weight_val)")
    X_val, y_val = validation_data[:2]
    inputs, targets = prepare_data(model, objective, X_val, y_val, x_name="X_val", y_name="y_val")
    given = validation_data[2] if len(validation_data) == 3 else None
    weights = prepare_sample_weight(objective, given, len(inputs[0]), model_dtype(model), "sample_weight_val")
    return inputs, targets, weights


def _split_off_validation(
    inputs: list[np.ndarray], targets: list[np.ndarray], weights: np.ndarray | None, fraction: Any
) -> tuple[
    list[np.ndarray],
    list[np.ndarray],
    np.ndarray | None,
    tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None],
]:
    """The first rows for training and the last ``fraction`` of them for validation (views, no copies).

    Returns the training inputs, targets and sample weights (or None), then those three for validation.
    """
    fraction = check_real("validation_split", fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    n = len(inputs[0])
    split_at = int(n * (1.0 - fraction))  # Keras' rounding
    if not 0 < split_at < n:
        raise ValueError(
            f"validation_split={fraction!r} of {n} rows leaves {split_at} for training and "
            f"{n - split_at} for validation; each needs at least one"
        )
    head = [a[:split_at] for a in inputs], [a[:split_at] for a in targets]
    tail = [a[split_at:] for a in inputs], [a[split_at:] for a in targets]
    if weights is None:
        return head[0], head[1], None, (*tail, None)
    return head[0], head[1], weights[:split_at], (*tail, weights[split_at:])


def _check_smallest_batch(model: Layer, n_samples: int, batch: int) -> None:
    """Refuse, before any update, batches smaller than a layer can train on (a last batch of one for BatchNorm)."""
    smallest = n_samples % batch or batch
    for layer in iter_layers(model):
        if smallest < layer.min_training_batch:
            raise ValueError(
                f"{layer!r} trains on batches of at least {layer.min_training_batch} rows, but {n_samples} "
                f"samples in batches of {batch} leave a last batch of {smallest}; pick another batch_size"
            )


# -- beginning, afresh or resumed ------------------------------------------------------


def _begin_run(run: Run, plan: _Plan) -> None:
    """Start the run, afresh or where the checkpoint ``plan.resume`` left off: the one place that resumes.

    Every check comes before any change: the checkpoint, read and checked
    whole (:func:`~minnet.io.checkpoint.read_checkpoint`), then every
    schedule value of the steps still to come, which start where the
    checkpoint's run stopped. The callbacks' ``on_train_begin`` then see the
    epochs completed, and only after them are the checkpoint's states
    restored (:func:`~minnet.io.checkpoint.restore`), since ``on_train_begin``
    resets a callback's state.
    """
    saved = None
    if plan.resume is not None:
        saved = read_checkpoint(plan.resume, run.model, run.optimizer, run.config)
        # Only fit holds the run so far, so this changes nothing of the caller's yet.
        run.rng, run.epoch, run.stop_training = saved["rng"], saved["epoch"], saved["stop_training"]
        run.history = History(*saved["history"])
    first_step = run.optimizer.step_count if saved is None else int(saved["optimizer"]["step_count"])
    _check_schedules_cover(run.optimizer, first_step, (run.epochs - run.epoch) * plan.n_batches)
    for cb in run.callbacks:
        cb.on_train_begin(run)
    if saved is not None:
        restore(run, saved)
        _warn_if_ended(run, saved["source"])


def _check_schedules_cover(optimizer: Optimizer, first_step: int, n_steps: int) -> None:
    """Evaluate every scheduled rate at every step of the run, before any update.

    A schedule too short for the run (``OneCycle(total_steps=...)`` smaller
    than epochs x batches), or one that returns NaN, a negative rate or a
    momentum outside [0, 1) at some step, would otherwise fail halfway
    through training. :meth:`Optimizer.rate` checks each value against the
    interval ``optimizer.schedulable`` gives. A schedule is a cheap pure
    function, so calling it once per step of the run costs about a
    microsecond per step.
    """
    last_step = first_step + n_steps - 1
    for name, group in itertools.product(optimizer.schedulable, range(len(optimizer.param_groups))):
        if not callable(optimizer.hyperparameter(name, group)):
            continue
        for step in range(first_step, last_step + 1):
            try:
                optimizer.rate(name, step, group)
            except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
                raise ValueError(
                    f"the {name} schedule cannot cover this run, which takes optimizer steps "
                    f"{first_step} to {last_step}: {exc}"
                ) from None


def _warn_if_ended(run: Run, source: str) -> None:
    """Say so when a resumed run had already ended: fit returns its history and trains nothing."""
    if run.stop_training:
        why = (
            f"was stopped by a callback after epoch {run.epoch} (of {run.epochs}); fit returns its history, "
            f"as that run ended. To train this model further, call fit without resume="
        )
    elif run.epoch >= run.epochs:
        why = (
            f"has completed {run.epoch} epoch(s), and epochs={run.epochs}; fit returns its history. "
            f"Pass a larger epochs= to train on"
        )
    else:
        return
    warnings.warn(f"nothing to train: the run in {source} {why}", UserWarning, stacklevel=4)


# -- the epoch loop -----------------------------------------------------------------


def _train(run: Run, plan: _Plan) -> None:
    """Train epoch after epoch until ``run.epochs``, a callback's stop or Ctrl-C, under one progress bar.

    A :class:`~minnet.run.TrainingError` leaves carrying the history so far;
    Ctrl-C ends the loop cleanly (``run.interrupted``).
    """
    from tqdm import tqdm  # imported here so that `import minnet` needs numpy only

    # Shuffled batches are gathered into these, allocated once for the whole run.
    buffers = gather_buffers(plan.data, plan.batch) if plan.shuffle else None
    bar = tqdm(
        total=run.epochs * plan.n_batches,
        initial=run.epoch * plan.n_batches,
        disable=not plan.progress,
        unit="batch",
        dynamic_ncols=True,
        file=sys.stderr,
    )
    bar.set_description(f"epoch {run.epoch + 1}/{run.epochs}")
    shown = bar if plan.progress else None
    # Looked up once: a run whose callbacks do not override the per-batch hooks pays nothing per batch for them.
    hooks = _BatchHooks(overriding(run.callbacks, "on_batch_begin"), overriding(run.callbacks, "on_batch_end"))
    epoch_begin = overriding(run.callbacks, "on_epoch_begin")
    try:
        with _interrupt_between_batches(run):
            while run.epoch < run.epochs and not run.stop_training:
                for cb in epoch_begin:
                    _call_hook(run, cb, "on_epoch_begin", run.epoch + 1, 0, run.epoch + 1)
                # Overflow is not warned about: a non-finite loss, output or update
                # stops training below with a TrainingDiverged that says where.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    logs = _train_epoch(run, plan, buffers, shown, hooks)
                    if plan.validation is not None:
                        logs.update(
                            _after_batches(
                                run,
                                run.epoch + 1,
                                "the validation pass",
                                _validate_epoch,
                                run,
                                *plan.validation,
                                plan.validation_rows,
                            )
                        )
                _end_epoch(run, logs, shown)
    except KeyboardInterrupt:
        run.interrupted = True
        bar.write(
            f"Training interrupted after {run.epoch} complete epoch(s); returning the history so far.", file=sys.stderr
        )
    except TrainingError as exc:
        exc.history = run.history
        raise
    finally:
        bar.close()


@dataclass(frozen=True)
class _BatchHooks:
    """The callbacks that override ``on_batch_begin`` and ``on_batch_end``, found once per run."""

    begin: list[Callback]
    end: list[Callback]


def _train_epoch(
    run: Run, plan: _Plan, buffers: list[np.ndarray] | None, bar: Any = None, hooks: _BatchHooks | None = None
) -> dict[str, float]:
    """One pass over the data; returns the batch-size-weighted mean loss and the metrics of the epoch.

    The metrics accumulate over the epoch's batches (a callable one is
    their size-weighted mean, F1 or AUC that of all the epoch's predictions).

    This is the hot loop, so it validates nothing that ``fit`` has already
    validated once, and copies no more than it must (see
    :func:`~minnet.steps.batches`; ``buffers`` are allocated once per run).
    """
    data, n_inputs, batch = plan.data, plan.n_inputs, plan.batch
    n = len(data[0])
    model, objective, optimizer = run.model, run.objective, run.optimizer
    end_of_targets = n_inputs + model.n_outputs
    order = run.rng.permutation(n) if plan.shuffle and batch < n else None
    totals = dict.fromkeys(["loss", *objective.loss_names], 0.0)
    objective.reset_metrics()
    n_batches = math.ceil(n / batch)
    hooks = hooks or _BatchHooks([], [])
    for index, arrays in enumerate(batches(data, batch, order, buffers)):
        inputs, targets = arrays[:n_inputs], arrays[n_inputs:end_of_targets]
        weights = arrays[-1] if plan.weighted else None
        for cb in hooks.begin:
            _call_hook(run, cb, "on_batch_begin", run.epoch + 1, index + 1, index + 1)
        try:
            value, preds, failure = train_step(model, objective, optimizer, inputs, targets, run.stateful, weights)
            if failure is None and objective.metrics:
                objective.update_metrics(targets, preds)
        except (KeyboardInterrupt, TrainingError):
            raise
        except Exception as exc:
            # Whatever failed (a loss refusing the output, a schedule's value, a metric), the
            # step's update is all or nothing: the parameters are those of the last completed one.
            raise TrainingError(
                f"training stopped at epoch {run.epoch + 1}, batch {index + 1}/{n_batches}: "
                f"{type(exc).__name__}: {exc}. The parameters are those of the last "
                f"completed step.",
                epoch=run.epoch + 1,
                batch=index + 1,
            ) from exc
        if failure is not None:
            # No update was made, so current_lr is still the rate of the failed step.
            raise _diverged(
                f"at epoch {run.epoch + 1}, batch {index + 1}/{n_batches}",
                failure,
                epoch=run.epoch + 1,
                batch=index + 1,
                lr=optimizer.current_lr,
            )
        # Each batch's share of the epoch, len/n, is applied before summing: the shares
        # add up to 1, so the total cannot overflow where the mean itself fits.
        share = len(arrays[0]) / n
        totals["loss"] += value * share
        for name, output_loss in zip(objective.loss_names, objective.output_losses):
            totals[name] += output_loss * share
        if bar is not None:
            # The running means of the epoch so far: the totals hold shares of all n rows.
            _advance(bar, totals, n / (index * batch + len(arrays[0])), objective)
        for cb in hooks.end:
            batch_logs = {"loss": value, **objective.batch_metrics(targets, preds)}
            _call_hook(run, cb, "on_batch_end", run.epoch + 1, index + 1, index + 1, batch_logs)
        if run.interrupt_requested:  # Ctrl-C, deferred to here: this batch's update is complete
            raise KeyboardInterrupt
    return {**totals, **_after_batches(run, run.epoch + 1, "the metrics", objective.metric_results)}


@contextlib.contextmanager
def _interrupt_between_batches(run: Run) -> Iterator[None]:
    """Turn the first Ctrl-C into a request that ``_train_epoch`` honours after the current batch.

    Only the main thread can install a signal handler, and a handler the
    user installed is left alone; a second Ctrl-C interrupts at once, but
    never inside an optimizer's commit (see :class:`~minnet._interrupts.sigint_held`),
    so no update is ever half applied.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if run.interrupt_requested:
            raise KeyboardInterrupt
        run.interrupt_requested = True

    # deferring: the optimizer can hold this handler back during its commit without reinstalling it.
    signal.signal(signal.SIGINT, deferring(request_stop))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _validate_epoch(
    run: Run, inputs: list[np.ndarray], targets: list[np.ndarray], weights: np.ndarray | None, batch_size: int
) -> dict[str, float]:
    """Loss and metrics on the validation data, in inference mode (``val_`` keys)."""
    values = scores(run.model, run.objective, inputs, targets, batch_size, weights)
    if not math.isfinite(values["loss"]):
        lr = run.optimizer.rate("lr", run.optimizer.step_count - 1)
        raise _diverged(
            f"in epoch {run.epoch + 1}",
            f"the validation loss is {values['loss']} (lr={lr:g})",
            epoch=run.epoch + 1,
            batch=0,
            lr=lr,
        )
    return {f"val_{name}": value for name, value in values.items()}


def _diverged(where: str, what: str, *, epoch: int, batch: int, lr: float) -> TrainingDiverged:
    """The :class:`TrainingDiverged` to raise: ``training diverged {where}: {what}. ...``."""
    return TrainingDiverged(
        f"training diverged {where}: {what}. The parameters keep their last finite "
        f"values; try a smaller learning rate.",
        epoch=epoch,
        batch=batch,
        lr=lr,
    )


def _end_epoch(run: Run, logs: dict[str, float], bar: Any) -> None:
    """Record the epoch in the history, the progress bar (if any) and the callbacks."""
    logs["lr"] = run.optimizer.rate("lr", run.optimizer.step_count - 1)
    run.epoch += 1
    run.history.append(run.epoch, logs)
    if bar is not None:
        bar.set_postfix(_postfix(logs), refresh=False)
        if run.epoch < run.epochs:
            bar.set_description(f"epoch {run.epoch + 1}/{run.epochs}", refresh=False)
    for cb in run.callbacks:
        _after_batches(run, run.epoch, f"callback {cb!r}", cb.on_epoch_end, run, logs)


_POSTFIX_SECONDS = 0.2  # how often the bar's numbers change: formatting them every batch costs time


def _advance(bar: Any, totals: dict[str, float], scale: float, objective: Objective) -> None:
    """One batch done: move the bar, and now and then show the epoch's running loss and metrics."""
    bar.update(1)
    now = time.monotonic()
    if now - getattr(bar, "postfix_time", 0.0) >= _POSTFIX_SECONDS:
        bar.postfix_time = now
        running = {k: v * scale for k, v in totals.items()}
        with contextlib.suppress(ValueError):  # a failing metric is left out here: the epoch's end reports it
            running.update(objective.metric_results())
        bar.set_postfix(_postfix(running), refresh=False)


def _postfix(logs: dict[str, float]) -> dict[str, str]:
    return {k: f"{v:.4g}" for k, v in logs.items() if k != "lr"}


def _call_hook(run: Run, cb: Callback, hook: str, epoch: int, batch: int, *args: Any) -> None:
    """``cb.<hook>(run, *args)`` at batch ``batch`` of epoch ``epoch`` (batch 0: the epoch's start).

    A failure is a :class:`~minnet.run.TrainingError` naming the callback and the hook.
    """
    try:
        getattr(cb, hook)(run, *args)
    except (TrainingError, KeyboardInterrupt):
        raise
    except Exception as exc:
        where = f"epoch {epoch}, batch {batch}" if batch else f"the start of epoch {epoch}"
        raise TrainingError(
            f"training stopped at {where}: callback {cb!r} failed in {hook}: {type(exc).__name__}: {exc}. "
            f"The parameters are those of the last completed step.",
            epoch=epoch,
            batch=batch,
        ) from exc


def _after_batches(run: Run, epoch: int, what: str, call: Any, *args: Any) -> Any:
    """``call(*args)``, with a failure reported as a :class:`TrainingError` naming ``what``.

    For what runs after the updates of epoch ``epoch`` (validation, callbacks):
    the parameters are those of its last step.
    """
    try:
        return call(*args)
    except (TrainingError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise TrainingError(
            f"training stopped after epoch {epoch}'s updates: {what} failed: "
            f"{type(exc).__name__}: {exc}. The parameters are those of the last "
            f"completed step.",
            epoch=epoch,
            batch=0,
        ) from exc


# -- ending -----------------------------------------------------------------------


def _end_run(run: Run) -> None:
    """Call every callback's ``on_train_end``, each even if one before it fails; then report the first failure.

    A failing callback must neither lose the history nor keep the others
    from ending the run (EarlyStopping restoring the best epoch's model).
    """
    failures: list[tuple[Callback, Exception]] = []
    for cb in run.callbacks:
        try:
            cb.on_train_end(run)
        except Exception as exc:
            failures.append((cb, exc))
    if not failures:
        return
    (first, cause), others = failures[0], failures[1:]
    message = (
        f"training ended after epoch {run.epoch}, but callback {first!r} failed in on_train_end: "
        f"{type(cause).__name__}: {cause}"
    )
    if others:
        named = ", ".join(f"{other!r} with {type(other_exc).__name__}" for other, other_exc in others)
        message += f" ({len(others)} more failed too: {named})"
    error = TrainingError(message + ". Every callback's on_train_end was called.", epoch=run.epoch, batch=0)
    error.history = run.history
    raise error from cause


# -- evaluating ---------------------------------------------------------------------


def evaluate(
    model: Layer,
    loss: Loss | Sequence[Loss],
    X: Any,
    y: Any,
    *,
    metrics: Iterable[Any] = (),
    batch_size: int | None = None,
    loss_weights: Sequence[float] | None = None,
    sample_weight: Any = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``(X, y)`` in inference mode, like Keras' ``evaluate``.

    Leaves every cache of the model and the losses as it was, so it may run
    between a forward and its backward.

    Parameters
    ----------
    model : Layer
    loss : Loss, or a list of Loss for several outputs
    X : array-like of shape (n_samples, n_features) or (n_samples, *shape), or a list or dict for several inputs
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), or a list or dict for several outputs
    metrics : iterable of str, Metric or callable, or a dict of them per output
        As for :func:`fit`; an accumulating metric is that of all the rows.
    batch_size : int, optional
        Rows per forward pass, so memory is bounded by one batch; each
        batch counts by its share of the rows. None means
        ``PREDICT_BATCH_SIZE`` (1024) rows, as :meth:`~minnet.Model.predict`.
    loss_weights : list of float, optional
        As for :func:`fit`.
    sample_weight : array-like of shape (n_samples,), optional
        Weighs the loss (not the metrics) as :func:`fit` does: each sample's
        term scaled by its weight, divided by ``n_samples``.

    Returns
    -------
    dict of str to float
        ``{"loss": ..., "accuracy": ..., ...}``, with ``<output>_loss``
        for each output of a model with several; all NaN if the model's
        output is not finite.
    """
    check_model(model)
    objective = Objective(model, loss, loss_weights, metrics)
    inputs, targets = prepare_data(model, objective, X, y)
    weights = prepare_sample_weight(objective, sample_weight, len(inputs[0]), model_dtype(model))
    rows = resolve_inference_batch_size(batch_size, len(inputs[0]))
    return scores(model, objective, inputs, targets, rows, weights)
