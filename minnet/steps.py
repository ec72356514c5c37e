"""One training step and one inference pass: what :func:`~minnet.fit`,
:func:`~minnet.evaluate` and :func:`~minnet.lr_find` share.

Data travel as lists, one array per model input and one target per model
output, so a :class:`~minnet.Graph` with several of each trains through the
same code as a :class:`~minnet.Sequential`; for the common single-input,
single-output model the lists hold one array and the loop does no extra
work.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import regularizers
from ._inference import inference_pass
from ._validation import all_finite, as_numeric_array, as_sample_weight, by_name, check_int, check_real
from .containers import (
    PREDICT_BATCH_SIZE,
    as_model_inputs,
    inference_batches,
    iter_layers,
    model_dtype,
    restore_states,
)
from .layers import Layer, backward_through
from .losses import Loss
from .metrics import Metric, metric_result, resolve_metrics, update_metric
from .optim import NonFiniteUpdate, Optimizer

__all__ = [
    "Objective",
    "apply_class_weight",
    "batches",
    "check_model",
    "gather_buffers",
    "prepare_data",
    "prepare_sample_weight",
    "resolve_batch_size",
    "resolve_inference_batch_size",
    "scores",
    "train_step",
]


def check_model(model: Any) -> None:
    """The type check shared by :func:`~minnet.fit`, :func:`~minnet.evaluate` and :func:`~minnet.lr_find`."""
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a Layer (e.g. mn.Sequential), got {type(model).__name__}")


def resolve_batch_size(batch_size: int | None, n_samples: int, name: str = "batch_size") -> int:
    """Rows per batch: all of them for None, else ``batch_size`` capped at ``n_samples``."""
    if batch_size is None:
        return n_samples
    return min(check_int(name, batch_size, low=1), n_samples)


def resolve_inference_batch_size(batch_size: int | None, n_samples: int, name: str = "batch_size") -> int:
    """Rows per inference pass: for None, ``PREDICT_BATCH_SIZE`` (memory bounded by one batch), as ``predict``."""
    return resolve_batch_size(PREDICT_BATCH_SIZE if batch_size is None else batch_size, n_samples, name)


class Objective:
    r"""What one step minimises: a loss per model output and their weights; and the metrics to report.

    .. math:: L = \sum_k w_k\, L_k(\hat y_k, y_k) + \sum_j R_j(\theta_j)

    For a model with one output this is its loss (times its weight, 1 by
    default). :math:`R_j` are the penalties of the layers' regularizers on
    their parameters :math:`\theta_j` (:mod:`minnet.regularizers`), part of
    the loss reported, as in Keras.

    Parameters
    ----------
    model : Layer
    loss : Loss, list of Loss, or dict of str to Loss
        One per model output; a dict is keyed by a :class:`~minnet.Graph`'s
        output names.
    loss_weights : list of float, or dict of str to float, optional
        :math:`w_k`, one per output; 1.0 each when omitted.
    metrics : iterable of str, Metric or callable, or dict of str to such an iterable
        An iterable is computed on each output; with several outputs they
        are logged as ``{name}_{k}`` (``accuracy_0``, ``accuracy_1``). A dict
        keyed by output names gives each output its own, logged as
        ``{output}_{name}`` (Keras' names); an output it leaves out has none.

    Attributes
    ----------
    loss_names : list of str
        With several outputs, the history's key of each output's own loss,
        ``{output}_loss``, logged next to the total; empty for one output.
    output_losses : list of float
        Each output's loss in the last :meth:`forward`, before weighting.
    """

    def __init__(self, model: Layer, loss: Any, loss_weights: Any = None, metrics: Any = ()) -> None:
        n = model.n_outputs
        names = getattr(model, "output_names", None)
        losses = _per_output("loss", loss, names)
        for item in losses:
            if not isinstance(item, Loss):
                raise TypeError(
                    f"loss must be a Loss (e.g. mn.BCE()), or a list of them for a model with "
                    f"several outputs, got {type(item).__name__}"
                )
        if len(losses) != n:
            raise ValueError(f"the model has {n} output(s), so it needs {n} loss(es), got {len(losses)}")
        if loss_weights is None:
            weights = [1.0] * n
        else:
            if isinstance(loss_weights, Mapping):
                loss_weights = by_name("loss_weights", loss_weights, names, "output")
            if not isinstance(loss_weights, (list, tuple)) or len(loss_weights) != n:
                raise ValueError(f"loss_weights must be a list of {n} numbers, one per output, got {loss_weights!r}")
            weights = [check_real(f"loss_weights[{k}]", w, low=0.0) for k, w in enumerate(loss_weights)]
        self.losses, self.weights = losses, weights
        self.output_losses: list[float] = []
        outputs = names if names is not None else [f"output_{k}" for k in range(n)]
        self.loss_names = [f"{output}_loss" for output in outputs] if n > 1 else []
        self.penalties = regularizers.collect(iter_layers(model))
        self.metrics: list[tuple[str, int, Metric]] = []
        if isinstance(metrics, Mapping):
            per_output = by_name("metrics", metrics, names, "output", every=False)
            for k, (output, loss_k, asked) in enumerate(zip(outputs, losses, per_output)):
                for name, metric in resolve_metrics(asked, loss_k).items():
                    self.metrics.append((name if n == 1 else f"{output}_{name}", k, metric))
        else:
            for k, loss_k in enumerate(losses):
                for name, metric in resolve_metrics(metrics, loss_k).items():
                    self.metrics.append((name if n == 1 else f"{name}_{k}", k, metric))
        keys = ["loss", *self.loss_names, *self.metric_names]
        taken = {key for key in keys if keys.count(key) > 1}
        if taken:
            raise ValueError(f"two entries of the history would be named {taken.pop()!r}; rename a metric (name=)")

    @property
    def metric_names(self) -> list[str]:
        return [name for name, _, _ in self.metrics]

    def forward(
        self, preds: Sequence[np.ndarray], targets: Sequence[np.ndarray], sample_weight: np.ndarray | None = None
    ) -> float:
        """The weighted loss of finite model outputs on prepared targets, plus the penalties.

        ``sample_weight``, from :func:`prepare_sample_weight`, weighs the samples in every output's loss.
        """
        return self._data_loss(preds, targets, sample_weight) + regularizers.total(self.penalties)

    def _data_loss(
        self, preds: Sequence[np.ndarray], targets: Sequence[np.ndarray], sample_weight: np.ndarray | None
    ) -> float:
        """The weighted sum of the losses, each output's kept (a weight of 1 changes no bit)."""
        self.output_losses = [
            loss.forward_prepared(p, t, sample_weight) for loss, p, t in zip(self.losses, preds, targets)
        ]
        return sum(w * value for w, value in zip(self.weights, self.output_losses))

    def backward(self) -> list[np.ndarray]:
        """dL/d(output) for each output: :math:`w_k\\, \\partial L_k / \\partial \\hat y_k`."""
        return [loss.backward() if w == 1.0 else w * loss.backward() for loss, w in zip(self.losses, self.weights)]

    def reset_metrics(self) -> None:
        """Forget the batches the metrics have seen: a new epoch, or a validation pass, begins."""
        for _, _, metric in self.metrics:
            metric.reset_state()

    def update_metrics(self, targets: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> None:
        """Add one batch to every metric; one that fails is named in a ValueError."""
        for name, k, metric in self.metrics:
            update_metric(name, metric, targets[k], preds[k])

    def metric_results(self) -> dict[str, float]:
        """Each metric over the batches since :meth:`reset_metrics`; one that fails or returns a non-number is named."""
        return {name: metric_result(name, metric) for name, _, metric in self.metrics}

    def batch_metrics(self, targets: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> dict[str, float]:
        """Each metric on one batch alone (the per-batch hooks' logs); the epoch's accumulation is untouched."""
        values = {}
        for name, k, metric in self.metrics:
            alone = metric.for_loss(self.losses[k])
            update_metric(name, alone, targets[k], preds[k])
            values[name] = metric_result(name, alone)
        return values

    def check_metrics(
        self, model: Layer, inputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], n_rows: int = 8
    ) -> None:
        """Run every metric on the model's outputs for the first ``n_rows`` rows, before training.

        A metric that fails would otherwise fail after the first update.
        Copies of the metrics run, so their state is left as it was.
        """
        if not self.metrics:
            return
        rows = min(n_rows, len(inputs[0]))
        head = [x[:rows] for x in inputs]
        with np.errstate(all="ignore"):
            ((_, preds),) = inference_batches(model, head, None)
        for name, k, metric in self.metrics:
            trial = copy.copy(metric)
            trial.reset_state()
            update_metric(name, trial, targets[k][:rows], preds[k])
            metric_result(name, trial)


def _per_output(name: str, value: Any, names: Sequence[str] | None) -> list[Any]:
    """``value`` as a list with one entry per model output: a dict is keyed by output names."""
    if isinstance(value, Mapping):
        return by_name(name, value, names, "output")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def prepare_data(
    model: Layer, objective: Objective, X: Any, y: Any, x_name: str = "X", y_name: str = "y"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate one (X, y) pair once: inputs in the model's dtype, targets as each loss takes them.

    Messages call the arrays ``x_name`` and ``y_name`` (``X_val``/``y_val``
    for validation data). Returns ``(inputs, targets)``, one array per
    model input and per model output.
    """
    inputs = as_model_inputs(model, X, x_name)
    n = len(inputs[0])
    n_out = model.n_outputs
    if isinstance(y, Mapping):
        y = by_name(y_name, y, getattr(model, "output_names", None), "output")
        y = y[0] if n_out == 1 else y
    if n_out == 1:
        raw_targets, names = [y], [y_name]
    else:
        if not isinstance(y, (list, tuple)) or len(y) != n_out:
            raise TypeError(
                f"the model has {n_out} outputs, so {y_name} must be a list of {n_out} targets, got {type(y).__name__}"
            )
        raw_targets, names = list(y), [f"{y_name}[{k}]" for k in range(n_out)]
    arrays = [as_numeric_array(name, t) for name, t in zip(names, raw_targets)]
    for name, t in zip(names, arrays):
        if t.ndim == 0 or len(t) != n:
            got = "a scalar" if t.ndim == 0 else str(len(t))
            raise ValueError(f"{x_name} and {name} must have the same number of samples, got {n} and {got}")
    # One sample in inference mode reveals each output's shape (and checks the
    # input's shape with the layer's own message, prefixed by the array's name, which
    # tells X from X_val) without changing any parameter or cache.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), inference_pass():
        try:
            probe = model.forward(inputs[0][:1] if model.n_inputs == 1 else [x[:1] for x in inputs], training=False)
        except ValueError as exc:
            raise ValueError(f"{x_name}: {exc}") from None
    probes = [probe] if n_out == 1 else list(probe)
    dtype = model_dtype(model)
    targets = []
    for name, loss, t, p in zip(names, objective.losses, arrays, probes):
        p = np.asarray(p)
        if p.ndim < 2 or len(p) != 1:
            raise ValueError(
                f"the model must return a batch (n_samples, ...); for one sample it returned shape {p.shape}"
            )
        targets.append(loss.prepare_target(name, t, (n, *p.shape[1:]), dtype))
    return inputs, targets


def prepare_sample_weight(
    objective: Objective, sample_weight: Any, n_samples: int, dtype: Any, name: str = "sample_weight"
) -> np.ndarray | None:
    """Check sample weights once: ``(n_samples,)`` in the model's ``dtype``, each finite and >= 0; None stays None.

    The same weights weigh every output's loss, as in Keras; a loss of
    your own that cannot take them is refused here, before any update.
    """
    if sample_weight is None:
        return None
    for loss in objective.losses:
        loss.check_takes_sample_weight()
    return as_sample_weight(name, sample_weight, n_samples, dtype)


def apply_class_weight(
    model: Layer,
    objective: Objective,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    sample_weight: np.ndarray | None,
    class_weight: Any,
) -> np.ndarray | None:
    """``sample_weight`` (or ones) times the weight of each sample's class, as Keras' ``class_weight``.

    ``class_weight`` maps a class (a label of ``CrossEntropy``, 0 or 1 for
    ``BCE``) to its weight; a class it does not name weighs 1. Only for a
    model with one output, whose loss says what each sample's class is
    (:meth:`~minnet.Loss.sample_classes`).
    """
    if class_weight is None:
        return sample_weight
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict mapping a class to its weight, got {type(class_weight).__name__}")
    if model.n_outputs != 1:
        raise ValueError(
            f"class_weight is for a model with one output, this one has {model.n_outputs}; pass sample_weight "
            f"(it weighs every output's loss), or class weights in a loss (CrossEntropy(weight=), BCE(pos_weight=))"
        )
    (loss,) = objective.losses
    loss.check_takes_sample_weight()
    with np.errstate(all="ignore"):  # one row, to learn the predictions' shape
        ((_, (probe,)),) = inference_batches(model, [x[:1] for x in inputs], None)
    classes, n_classes = loss.sample_classes("y", targets[0], (len(targets[0]), *probe.shape[1:]))
    dtype = model_dtype(model)
    table = np.ones(n_classes, dtype)
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral) or not 0 <= int(key) < n_classes:
            raise ValueError(
                f"class_weight has the key {key!r}, which is not a class: the classes are 0 to {n_classes - 1}"
            )
        table[int(key)] = check_real(f"class_weight[{key!r}]", value, low=0.0)
    weights = table[classes]
    return weights if sample_weight is None else sample_weight * weights


def gather_buffers(arrays: Sequence[np.ndarray], batch: int) -> list[np.ndarray] | None:
    """Arrays for one shuffled batch of each of ``arrays``; None when the batch is the whole data set."""
    if batch >= len(arrays[0]):
        return None  # the full batch is the data itself, in any order
    return [np.empty((batch, *a.shape[1:]), a.dtype) for a in arrays]


def batches(
    arrays: Sequence[np.ndarray], batch: int, order: np.ndarray | None, buffers: Sequence[np.ndarray] | None
) -> Iterator[list[np.ndarray]]:
    """One pass over ``arrays`` (inputs, then targets) in batches of ``batch`` rows, the last one partial.

    Copies no more than it must: the full batch is the arrays themselves,
    unshuffled batches (``order`` None) are slices, hence views, and the rows
    ``order[start:start + batch]`` of a shuffled pass are gathered with
    ``np.take`` into ``buffers`` (from :func:`gather_buffers`), so every
    batch overwrites the previous one.
    """
    n = len(arrays[0])
    if batch >= n:
        yield list(arrays)
        return
    for start in range(0, n, batch):
        if order is None:
            yield [a[start : start + batch] for a in arrays]
        else:
            rows = order[start : start + batch]
            # The rows come from a permutation, so never out of range; with the default
            # mode="raise" numpy would gather into a temporary and copy it into out=.
            yield [np.take(a, rows, axis=0, out=buf[: len(rows)], mode="clip") for a, buf in zip(arrays, buffers or ())]


def train_step(
    model: Layer,
    objective: Objective,
    optimizer: Optimizer,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    stateful: Sequence[Layer] = (),
    sample_weight: np.ndarray | None = None,
) -> tuple[float, list[np.ndarray], str | None]:
    """One update on a batch that the caller has validated (``sample_weight``: the batch's, or None).

    Returns ``(loss, preds, failure)``: the batch's loss before the update,
    the model's outputs, and None, or a sentence saying why no update was
    made (the loss is NaN or infinite, reported as NaN for a non-finite
    output; or the update would have made a parameter non-finite). The
    parameters then keep their values. Run it under ``np.errstate``: such
    a failure is this result, not a numpy warning.

    ``stateful`` lists the layers of ``model`` whose non-trained state the
    training forward changes (:func:`~minnet.containers.stateful_layers`): a batch norm's
    running statistics, a dropout's generator. A step that fails, by a
    failure above or an exception, puts their state back too, so the model
    is exactly as it was before the step.
    """
    saved = [(layer, layer.get_state()) for layer in stateful]
    try:
        out = model.forward(inputs[0] if len(inputs) == 1 else list(inputs), training=True)
        preds = [out] if model.n_outputs == 1 else list(out)
        # The losses only check what depends on the outputs: the targets were checked once.
        finite = all_finite(out) if model.n_outputs == 1 else all(all_finite(p) for p in preds)
        value = objective.forward(preds, targets, sample_weight) if finite else math.nan
        if not math.isfinite(value):
            restore_states(saved)
            return value, preds, f"the loss is {value} (lr={optimizer.current_lr:g})"
        grads = objective.backward()
        # Nobody reads dL/dX of the data, so the first layer skips computing it.
        backward_through(model, grads[0] if model.n_outputs == 1 else grads, need_input_grad=False)
        regularizers.add_gradients(objective.penalties)
        optimizer.step()
    except NonFiniteUpdate as exc:
        restore_states(saved)
        return value, preds, str(exc)
    except BaseException:
        restore_states(saved)
        raise
    return value, preds, None


def scores(
    model: Layer,
    objective: Objective,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    batch_size: int | None = None,
    sample_weight: np.ndarray | None = None,
) -> dict[str, float]:
    """Loss and metrics on prepared data in inference mode, ``batch_size`` rows at a time.

    Each batch's loss counts by its share of the rows, as :func:`~minnet.fit`'s
    epoch loss does; the metrics accumulate over every batch, so one such
    as F1 is that of all the rows. ``sample_weight`` weighs the loss, not
    the metrics (as Keras' ``metrics``). With several outputs each one's loss is
    there too (``{output}_loss``). All NaN for a non-finite output, which
    is not handed to the losses or metrics (they would refuse it, or warn,
    with messages about an array the user never passed). It writes no state
    of the model, nor the losses' caches (an inference pass drops their
    stores); only the objective's metrics hold this pass's batches.
    """
    n = len(inputs[0])
    totals = dict.fromkeys(["loss", *objective.loss_names], 0.0)
    objective.reset_metrics()
    with inference_pass():
        for rows, preds in inference_batches(model, inputs, batch_size):
            if not all(all_finite(p) for p in preds):
                return dict.fromkeys([*totals, *objective.metric_names], math.nan)
            batch_targets = [t[rows] for t in targets]
            batch_weights = None if sample_weight is None else sample_weight[rows]
            share = (rows.stop - rows.start) / n
            totals["loss"] += objective.forward(preds, batch_targets, batch_weights) * share
            for name, value in zip(objective.loss_names, objective.output_losses):
                totals[name] += value * share
            objective.update_metrics(batch_targets, preds)
    return {**totals, **objective.metric_results()}
