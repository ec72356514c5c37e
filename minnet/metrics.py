"""Metrics reported per epoch by :func:`minnet.fit` and :func:`minnet.evaluate`.

A metric is either a :class:`Metric` object, which accumulates over the
epoch (``reset_state``, then ``update_state`` on each batch, then
``result``, as Keras' metrics), or a plain callable
``metric(y_true, y_pred) -> float``, averaged over the batches weighted by
their size. Precision, recall, F1, ROC AUC and R² are not means over
batches, so they are objects: their epoch value is the metric of the whole
epoch's predictions. ``fit`` and ``evaluate`` take objects, callables or
these names:

- ``"accuracy"``: :func:`accuracy`, a mean over batches;
- ``"precision"``, ``"recall"``, ``"f1"``: :class:`Precision`,
  :class:`Recall`, :class:`F1`, binary for two classes, else macro;
- ``"auc"``: :class:`AUC`, ROC AUC, binary or one-vs-rest macro;
- ``"top_k_accuracy"``: :class:`TopKAccuracy` with ``k=5``;
- ``"mae"``, ``"rmse"``, ``"r2"``: :class:`MAE`, :class:`RMSE`, :class:`R2`.

Each metric sees a target as the loss prepared it (``(n_samples,
n_outputs)``, or class labels ``(n_samples,)`` for
:class:`~minnet.CrossEntropy`) and the model's output. The classification
metrics follow the loss: one output is a score thresholded at 0.5, or at 0
when the loss takes logits (``from_logits=True``); several columns are class
scores, whose argmax is the class. Their values equal scikit-learn's
(``precision_score``, ``roc_auc_score``, ...); where scikit-learn warns that
a value is undefined, the class says what it returns. :func:`confusion_matrix`
is for looking at a trained model.

``fit`` and ``evaluate`` hand a metric read-only views of the targets and
predictions, which may share memory with the caller's ``y`` (and the
model's output): a metric that writes into them in place raises
``ValueError: assignment destination is read-only`` instead of changing
your data. Copy first (``y_true = np.array(y_true)``) to work on them. They
work on copies of the metric objects they are given, one per model output,
so the object passed is left as it was.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ._validation import as_class_indices, as_numeric_array, check_choice, check_int, check_real
from .layers import Softmax
from .losses import Loss

__all__ = [
    "AUC",
    "F1",
    "GREATER_IS_BETTER",
    "MAE",
    "R2",
    "RMSE",
    "MeanOverBatches",
    "Metric",
    "Precision",
    "Recall",
    "TopKAccuracy",
    "accuracy",
    "confusion_matrix",
    "metric_result",
    "resolve_metrics",
    "update_metric",
]

MetricFunction = Callable[[np.ndarray, np.ndarray], float]


def accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        One output: 0/1 labels (booleans too). Several outputs: class
        indices of shape (n_samples,) (or a column of them), or one-hot /
        probability rows, whose largest entry is the class.
    y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
        One output: a score compared with ``threshold``. Several: the
        largest column is the predicted class (argmax: the same for
        probabilities and logits). Scores ``(n_samples, C, d1, ...)`` hold a
        class per position (along axis 1, as :class:`~minnet.CrossEntropy`
        takes them) and are compared with labels ``(n_samples, d1, ...)``
        or probabilities of their shape: the fraction of positions right.
    threshold : float, default 0.5
        Decision threshold for one output (0.0 for logits).

    Raises
    ------
    ValueError
        If the shapes do not pair up as above (never broadcast), if one
        output's targets are not 0/1, or if a class index is not one of
        ``0 .. n_outputs - 1``.
    """
    y_true, y_pred = as_numeric_array("y_true", y_true), as_numeric_array("y_pred", y_pred)
    if y_pred.ndim > 2:
        return _accuracy_per_position(y_true, y_pred)
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(-1, 1)
    if y_pred.ndim != 2 or y_true.ndim == 0 or len(y_true) != len(y_pred) or y_true.ndim > 2:
        raise ValueError(
            f"accuracy expects y_true and y_pred with one row per sample, got shapes {y_true.shape} and {y_pred.shape}"
        )
    n_outputs = y_pred.shape[1]
    if n_outputs == 1:
        y_true = _binary_targets("accuracy", y_true, len(y_pred))
        return float(np.mean((y_pred[:, 0] > threshold) == (y_true == 1)))
    predicted = np.argmax(y_pred, axis=1)
    if y_true.ndim == 1 or y_true.shape[1] == 1:  # class indices
        return float(np.mean(predicted == as_class_indices("y_true", y_true.reshape(-1), n_outputs)))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"accuracy expects one-hot y_true of shape {y_pred.shape}, got {y_true.shape}")
    return float(np.mean(predicted == np.argmax(y_true, axis=1)))


def _binary_targets(name: str, y_true: np.ndarray, n_rows: int) -> np.ndarray:
    """The 0/1 targets of one output as a vector of ``n_rows``; anything else is a ValueError naming ``name``."""
    if y_true.size != n_rows:
        raise ValueError(
            f"{name} of one output expects y_true of shape ({n_rows},) or ({n_rows}, 1), got {y_true.shape}"
        )
    labels = y_true.reshape(-1)
    not_binary = (labels != 0) & (labels != 1)
    if not_binary.any():
        i = int(np.argmax(not_binary))
        raise ValueError(
            f"{name} of one output expects 0/1 targets, got {labels[i].item()!r} at index {i}; "
            f"threshold soft targets first (y > 0.5) if that is meant"
        )
    return labels


def _accuracy_per_position(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy of scores ``(n, C, d1, ...)``, a class per position, as :class:`~minnet.CrossEntropy` takes them."""
    n, n_classes, *positions = y_pred.shape
    predicted = np.argmax(y_pred, axis=1)
    if y_true.shape == predicted.shape:  # class labels
        return float(
            np.mean(predicted == as_class_indices("y_true", y_true.reshape(-1), n_classes).reshape(y_true.shape))
        )
    if y_true.shape == y_pred.shape:  # one-hot or probabilities along axis 1
        return float(np.mean(predicted == np.argmax(y_true, axis=1)))
    raise ValueError(
        f"accuracy of scores of shape {y_pred.shape} (a class per position, along axis 1) expects y_true of "
        f"class labels of shape {(n, *positions)} or probabilities of shape {y_pred.shape}, got {y_true.shape}"
    )


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None, *, threshold: float = 0.5) -> np.ndarray:
    """Count each (true class, predicted class) pair: rows are true classes, columns predicted ones.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, C)
        Class indices (a ``(n_samples, 1)`` column too), or one-hot /
        probability rows (their argmax is the class).
    y_pred : array-like of shape (n_samples,), (n_samples, C) or (n_samples, 1)
        Class indices; or a model's output: probabilities or logits of
        ``C >= 2`` classes (argmax), or one score per sample, class 1 where
        it exceeds ``threshold`` (0.5 for probabilities, 0.0 for logits).
    n_classes : int, optional
        ``C``; by default the number of columns of a 2-D input, else the
        largest label plus one.
    threshold : float, default 0.5
        Decision threshold of a single-score ``y_pred``.

    Returns
    -------
    ndarray of shape (C, C), int64
        ``cm[i, j]`` samples of class ``i`` predicted as class ``j``; the
        diagonal holds the correct ones, so ``np.trace(cm) / cm.sum()`` is
        the accuracy.

    Raises
    ------
    ValueError
        For labels that are not class indices, lengths that differ, or a
        class outside ``0 .. n_classes - 1``.
    """
    threshold = check_real("threshold", threshold)
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, low=1)
    true, true_width = _as_classes("y_true", y_true, None)
    pred, pred_width = _as_classes("y_pred", y_pred, threshold)
    if len(true) != len(pred):
        raise ValueError(f"y_true and y_pred must have the same number of samples, got {len(true)} and {len(pred)}")
    widths = {w for w in (true_width, pred_width) if w is not None}
    if len(widths) > 1:
        raise ValueError(f"y_true and y_pred have different numbers of classes: {true_width} and {pred_width}")
    if n_classes is None:
        n_classes = widths.pop() if widths else int(max(true.max(initial=-1), pred.max(initial=-1))) + 1
        n_classes = max(n_classes, 1)
    elif widths and widths != {n_classes}:
        raise ValueError(f"n_classes is {n_classes}, but the arrays have {widths.pop()} classes")
    as_class_indices("y_true", true, n_classes)
    as_class_indices("y_pred", pred, n_classes)
    # Each pair (i, j) is one bin, i * C + j, of a single bincount.
    counts = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def _as_classes(name: str, value: Any, threshold: float | None) -> tuple[np.ndarray, int | None]:
    """Class indices of ``value`` and, when its shape fixes it, the number of classes.

    ``threshold`` is None for ``y_true``, whose single column holds labels;
    for ``y_pred`` a single column is a score.
    """
    array = as_numeric_array(name, value)
    if array.ndim == 2 and array.shape[1] > 1:
        return np.argmax(array, axis=1), array.shape[1]
    if array.ndim == 2 and array.shape[1] == 1 and threshold is not None:
        return (array[:, 0] > threshold).astype(np.int64), 2
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    return as_class_indices(name, array), None


# -- metric objects: accumulated over an epoch -------------------------------------------


class Metric:
    """A metric accumulated over the batches of an epoch, as Keras' ``keras.metrics.Metric``.

    :func:`~minnet.fit` calls :meth:`reset_state` before each epoch (and
    each validation pass), :meth:`update_state` on every batch, and
    :meth:`result` once at the end, so the value is that of all the
    epoch's predictions together. Calling the object,
    ``metric(y_true, y_pred)``, computes it on those arrays alone and leaves
    its state untouched.

    A subclass sets ``name`` and writes the three methods; it may override
    :meth:`for_loss` to follow the loss's conventions (logits or
    probabilities).

    Parameters
    ----------
    name : str, optional
        The key of the history (``val_`` prefixed for validation data);
        each class has a default.
    """

    name = "metric"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"name must be a non-empty string, got {name!r}")
            self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        """Forget every batch seen."""

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Add one batch: targets as the loss prepared them, and the model's output of shape (n_samples, ...)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self) -> float:
        """The metric of every batch added since the last :meth:`reset_state`."""
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def for_loss(self, loss: Loss) -> Metric:
        """A fresh copy, with no batch seen, that reads the model's output as ``loss`` does."""
        fresh = copy.copy(self)
        fresh.reset_state()
        return fresh

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        fresh = copy.copy(self)
        fresh.reset_state()
        fresh.update_state(as_numeric_array("y_true", y_true), as_numeric_array("y_pred", y_pred))
        return fresh.result()

    def get_config(self) -> dict[str, Any]:
        return {} if self.name == type(self).name else {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanOverBatches(Metric):
    """A plain ``function(y_true, y_pred) -> float``, averaged over the batches weighted by their size.

    How ``fit`` runs a callable metric or ``"accuracy"``: the epoch value
    is :math:`\\sum_b f(y_b, \\hat y_b)\\, n_b / n`, as the epoch loss.

    Parameters
    ----------
    function : callable
        ``function(y_true, y_pred) -> float`` on one batch.
    name : str, optional
        By default the function's ``__name__``.
    """

    def __init__(self, function: MetricFunction, name: str | None = None) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable, got {function!r}")
        self.function = function
        default = getattr(function, "__name__", type(function).__name__)
        super().__init__(name if name is not None else default)

    def reset_state(self) -> None:
        self._batches: list[tuple[float, int]] = []

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        value = self.function(y_true, y_pred)
        self._batches.append((_as_number(self.name, value), len(y_pred)))

    def result(self) -> float:
        n = sum(rows for _, rows in self._batches)
        # Each batch's share is applied before summing, as for the epoch loss.
        return sum(value * (rows / n) for value, rows in self._batches) if n else math.nan

    def get_config(self) -> dict[str, Any]:
        return {"function": self.function, "name": self.name}


class _NotANumber(ValueError):
    """A metric returned something other than one number; the message names the metric already."""


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _NotANumber(
            f"metric {name!r} returned {value!r:.60} ({type(value).__name__}); a metric returns one number"
        )
    return float(value)


def update_metric(name: str, metric: Metric, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """``metric.update_state`` on read-only views; a failure is a ValueError naming the metric ``name``."""
    try:
        metric.update_state(_read_only(y_true), _read_only(y_pred))
    except _NotANumber:
        raise
    except Exception as exc:
        raise ValueError(f"metric {name!r} raised {type(exc).__name__}: {exc}") from exc


def metric_result(name: str, metric: Metric) -> float:
    """``metric.result()`` as a float; a failure, or anything but a number, is a ValueError naming ``name``."""
    try:
        value = metric.result()
    except _NotANumber:
        raise
    except Exception as exc:
        raise ValueError(f"metric {name!r} raised {type(exc).__name__}: {exc}") from exc
    return _as_number(name, value)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class _Thresholded(Metric):
    """A classification metric: one output is a score compared with a threshold, several are class scores."""

    def __init__(self, threshold: float | None = None, name: str | None = None) -> None:
        self.threshold = None if threshold is None else check_real("threshold", threshold)
        super().__init__(name)

    def for_loss(self, loss: Loss) -> Metric:
        fresh = super().for_loss(loss)
        if isinstance(fresh, _Thresholded) and fresh.threshold is None and getattr(loss, "from_logits", False):
            fresh.threshold = 0.0
        return fresh

    def _labels_and_scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _labels_and_scores(self.name, y_true, y_pred)

    def _predicted(self, scores: np.ndarray) -> np.ndarray:
        """The predicted class of each row of ``scores`` (m, C)."""
        if scores.shape[1] == 1:
            threshold = 0.5 if self.threshold is None else self.threshold
            return (scores[:, 0] > threshold).astype(np.int64)
        return np.argmax(scores, axis=1)

    def get_config(self) -> dict[str, Any]:
        config = {} if self.threshold is None else {"threshold": self.threshold}
        return {**config, **super().get_config()}


def _labels_and_scores(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class labels ``(m,)`` and scores ``(m, C)`` of a batch, one row per sample (or per position).

    One output: 0/1 targets and a column of scores. Several: labels ``(n,)``
    (or a column) or one-hot / probability rows (their argmax); scores
    ``(n, C, d1, ...)`` hold a class per position, along axis 1.
    """
    if y_pred.ndim < 2 or y_true.ndim == 0 or len(y_true) != len(y_pred):
        raise ValueError(
            f"{name} expects y_true and y_pred with one row per sample, got shapes {y_true.shape} and {y_pred.shape}"
        )
    n_classes = y_pred.shape[1]
    if y_pred.ndim > 2:  # a class per position: each position is a sample
        positions = (len(y_pred), *y_pred.shape[2:])
        if y_true.shape not in (y_pred.shape, positions):
            raise ValueError(
                f"{name} of scores of shape {y_pred.shape} (a class per position, along axis 1) expects "
                f"y_true of class labels of shape {positions} or probabilities of shape {y_pred.shape}, "
                f"got {y_true.shape}"
            )
        same = y_true.shape == y_pred.shape
        y_true = np.moveaxis(y_true, 1, -1).reshape(-1, n_classes) if same else y_true.reshape(-1)
        y_pred = np.moveaxis(y_pred, 1, -1).reshape(-1, n_classes)
    if n_classes == 1:
        return _binary_targets(name, y_true, len(y_pred)).astype(np.int64), y_pred
    if y_true.ndim == 2 and y_true.shape[1] == n_classes:  # one-hot or probabilities
        return np.argmax(y_true, axis=1), y_pred
    if y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1):
        return as_class_indices("y_true", y_true.reshape(-1), n_classes), y_pred
    raise ValueError(
        f"{name} of {n_classes} class scores expects y_true of class labels ({len(y_pred)},) or "
        f"one-hot rows ({len(y_pred)}, {n_classes}), got shape {y_true.shape}"
    )


_AVERAGES = ("binary", "macro", "micro")


class _FromCounts(_Thresholded):
    """Precision, recall or F1 from the epoch's confusion counts: a ``(C, C)`` array, whatever the epoch's length."""

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str | None = None) -> None:
        self.average = None if average is None else check_choice("average", average, _AVERAGES)
        super().__init__(threshold, name)

    def reset_state(self) -> None:
        self._counts: np.ndarray | None = None

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        labels, scores = self._labels_and_scores(y_true, y_pred)
        n_classes = max(scores.shape[1], 2)
        if self.average == "binary" and n_classes > 2:
            raise ValueError(
                f"{self.name} with average='binary' needs one output or two classes, got {n_classes}; "
                f"use average='macro' or 'micro'"
            )
        pairs = labels * n_classes + self._predicted(scores)  # (true, predicted) as one bin
        counts = np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
        self._counts = counts if self._counts is None else self._counts + counts

    def result(self) -> float:
        if self._counts is None:
            return math.nan
        counts = self._counts
        tp = np.diag(counts).astype(np.float64)
        fp, fn = counts.sum(axis=0) - tp, counts.sum(axis=1) - tp
        average = self.average or ("binary" if len(counts) == 2 else "macro")
        if average == "binary":
            return self._score(tp[1], fp[1], fn[1])
        if average == "micro":
            return self._score(tp.sum(), fp.sum(), fn.sum())
        present = (counts.sum(axis=0) + counts.sum(axis=1)) > 0  # scikit-learn averages over these classes
        return float(np.mean([self._score(*c) for c in zip(tp[present], fp[present], fn[present])]))

    @staticmethod
    def _score(tp: float, fp: float, fn: float) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config = {} if self.average is None else {"average": self.average}
        return {**config, **super().get_config()}


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, 0 when the denominator is 0: scikit-learn's default ``zero_division``."""
    return float(numerator / denominator) if denominator else 0.0


class Precision(_FromCounts):
    r"""Precision, :math:`tp / (tp + fp)`, of the epoch: ``sklearn.metrics.precision_score``.

    Parameters
    ----------
    average : {"binary", "macro", "micro"}, optional
        ``"binary"``: of class 1 (one output, or two class scores);
        ``"macro"``: the mean over the classes present in the targets or the
        predictions, as scikit-learn; ``"micro"``: of the counts summed over
        the classes (the accuracy, for one label per sample). By default
        binary for two classes and macro for more.
    threshold : float, optional
        For one output: class 1 where the score exceeds it. By default 0.5,
        or 0 in ``fit`` when the loss takes logits.
    name : str, optional
        The history's key, ``"precision"`` by default.

    Notes
    -----
    A class never predicted has precision 0 (scikit-learn's default
    ``zero_division``, without its warning).
    """

    name = "precision"

    @staticmethod
    def _score(tp: float, fp: float, fn: float) -> float:
        return _ratio(tp, tp + fp)


class Recall(_FromCounts):
    r"""Recall, :math:`tp / (tp + fn)`, of the epoch: ``sklearn.metrics.recall_score``.

    Parameters are those of :class:`Precision`; a class absent from the
    targets has recall 0.
    """

    name = "recall"

    @staticmethod
    def _score(tp: float, fp: float, fn: float) -> float:
        return _ratio(tp, tp + fn)


class F1(_FromCounts):
    r"""F1, :math:`2\,tp / (2\,tp + fp + fn)`, of the epoch: ``sklearn.metrics.f1_score``.

    Parameters are those of :class:`Precision`; a class neither in the
    targets nor predicted has F1 0 (it is left out of ``"macro"``).
    """

    name = "f1"

    @staticmethod
    def _score(tp: float, fp: float, fn: float) -> float:
        return _ratio(2 * tp, 2 * tp + fp + fn)


class AUC(Metric):
    r"""Area under the ROC curve of the epoch: ``sklearn.metrics.roc_auc_score``.

    One output (or two class scores): the binary AUC, the probability that
    a positive sample scores above a negative one, ties counting one half.
    :math:`C > 2` classes: the mean of each class against the rest
    (``multi_class="ovr"``, ``average="macro"``) on class probabilities
    (the softmax of logits).

    It keeps the epoch's targets and scores, ``C + 1`` numbers per sample,
    to rank them at the end.

    Parameters
    ----------
    from_logits : bool, optional
        Whether several class scores are logits, turned into probabilities
        by a softmax. By default as the loss in ``fit``, else False. One
        output's AUC is the same for logits and probabilities.
    name : str, optional
        The history's key, ``"auc"`` by default.

    Notes
    -----
    With one class only in the targets the AUC is undefined: NaN, as
    scikit-learn (which warns). With several classes, a class absent from
    the epoch's targets is left out of the mean (scikit-learn refuses such
    targets); NaN if no class has both positives and negatives.
    """

    name = "auc"

    def __init__(self, from_logits: bool | None = None, name: str | None = None) -> None:
        if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits must be True, False or None, got {from_logits!r}")
        self.from_logits = None if from_logits is None else bool(from_logits)
        super().__init__(name)

    def for_loss(self, loss: Loss) -> Metric:
        fresh = super().for_loss(loss)
        if isinstance(fresh, AUC) and fresh.from_logits is None:
            fresh.from_logits = bool(getattr(loss, "from_logits", False))
        return fresh

    def reset_state(self) -> None:
        self._labels: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        labels, scores = _labels_and_scores(self.name, y_true, y_pred)
        if scores.shape[1] > 1 and self.from_logits:
            scores = Softmax().forward(scores, training=False)
        # Copies: fit's batches are views of buffers that the next batch overwrites.
        self._labels.append(np.array(labels, dtype=np.int64))
        self._scores.append(np.array(scores, dtype=np.float64))

    def result(self) -> float:
        if not self._labels:
            return math.nan
        labels, scores = np.concatenate(self._labels), np.concatenate(self._scores)
        if scores.shape[1] <= 2:
            return _binary_auc(labels == 1, scores[:, -1])
        per_class = [_binary_auc(labels == c, scores[:, c]) for c in range(scores.shape[1])]
        defined = [auc for auc in per_class if not math.isnan(auc)]
        return float(np.mean(defined)) if defined else math.nan

    def get_config(self) -> dict[str, Any]:
        config = {} if self.from_logits is None else {"from_logits": self.from_logits}
        return {**config, **super().get_config()}


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    r"""The Mann-Whitney form of the AUC, with mid-ranks for ties.

    .. math:: \mathrm{AUC} = \frac{\sum_{i \in P} r_i - |P|(|P| + 1)/2}{|P|\,|N|}
    """
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    # Each run of equal scores shares the mean of the ranks it spans: (first + last) / 2, from 1.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(score))
    ranks[order] = np.repeat((starts + 1 + ends) / 2, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class TopKAccuracy(Metric):
    """Fraction of samples whose class is among the ``k`` highest scores: ``sklearn.metrics.top_k_accuracy_score``.

    Equal scores are ranked as scikit-learn ranks them: the higher class
    index first. ``k`` at least the number of classes gives 1.

    Parameters
    ----------
    k : int, default 5
    name : str, optional
        The history's key, ``"top_k_accuracy"`` by default.
    """

    name = "top_k_accuracy"

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        self.k = check_int("k", k, low=1)
        super().__init__(name)

    def reset_state(self) -> None:
        self._hits, self._count = 0, 0

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        labels, scores = _labels_and_scores(self.name, y_true, y_pred)
        n_classes = scores.shape[1]
        if n_classes < 2:
            raise ValueError(
                f"{self.name} ranks the scores of C >= 2 classes, got one output; use 'accuracy' for one output"
            )
        own = scores[np.arange(len(labels)), labels][:, None]
        later = np.arange(n_classes) > labels[:, None]
        ahead = np.count_nonzero((scores > own) | ((scores == own) & later), axis=1)
        self._hits += int(np.count_nonzero(ahead < self.k))
        self._count += len(labels)

    def result(self) -> float:
        return self._hits / self._count if self._count else math.nan

    def get_config(self) -> dict[str, Any]:
        return {"k": self.k, **super().get_config()}


class _Regression(Metric):
    """A regression metric from running sums per output column: no prediction is kept."""

    def reset_state(self) -> None:
        self._n = 0
        self._abs = self._squares = self._mean = self._m2 = np.zeros(0)

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if y_pred.ndim < 2 or y_true.size != y_pred.size or len(y_true) != len(y_pred):
            raise ValueError(
                f"{self.name} expects y_true of the shape of y_pred {y_pred.shape} (or ({len(y_pred)},) for "
                f"one output), got {y_true.shape}"
            )
        pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
        true = y_true.reshape(pred.shape).astype(np.float64)
        error = true - pred
        n_b, mean_b = len(true), true.mean(axis=0)
        m2_b = ((true - mean_b) ** 2).sum(axis=0)
        if self._n == 0:
            self._n, self._mean, self._m2 = n_b, mean_b, m2_b
            self._abs, self._squares = np.abs(error).sum(axis=0), (error**2).sum(axis=0)
            return
        # Chan et al.'s merge of two (count, mean, sum of squared deviations): no cancellation.
        n = self._n + n_b
        delta = mean_b - self._mean
        self._m2 = self._m2 + m2_b + delta**2 * (self._n * n_b / n)
        self._mean = self._mean + delta * (n_b / n)
        self._n = n
        self._abs = self._abs + np.abs(error).sum(axis=0)
        self._squares = self._squares + (error**2).sum(axis=0)


class MAE(_Regression):
    r"""Mean absolute error of the epoch, :math:`\frac{1}{n}\sum |y - \hat y|`: ``sklearn.metrics.mean_absolute_error``.

    Several output columns: the mean of each column's (scikit-learn's
    ``multioutput="uniform_average"``).
    """

    name = "mae"

    def result(self) -> float:
        return float(np.mean(self._abs / self._n)) if self._n else math.nan


class RMSE(_Regression):
    r"""Root mean squared error of the epoch: ``sklearn.metrics.root_mean_squared_error``.

    .. math:: \sqrt{\tfrac{1}{n}\textstyle\sum (y - \hat y)^2}

    Several output columns: the mean of each column's RMSE, as scikit-learn.
    """

    name = "rmse"

    def result(self) -> float:
        return float(np.mean(np.sqrt(self._squares / self._n))) if self._n else math.nan


class R2(_Regression):
    r"""Coefficient of determination of the epoch: ``sklearn.metrics.r2_score``.

    .. math:: R^2 = 1 - \frac{\sum (y - \hat y)^2}{\sum (y - \bar y)^2}

    Several output columns: the mean of each column's. As scikit-learn, a
    constant target gives 1 if predicted exactly, else 0, and fewer than two
    samples give NaN (scikit-learn warns).
    """

    name = "r2"

    def result(self) -> float:
        if self._n < 2:
            return math.nan
        exact = np.where(self._squares == 0, 1.0, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(self._m2 > 0, 1.0 - self._squares / self._m2, exact)
        return float(np.mean(scores))


# -- by name --------------------------------------------------------------------------

_BY_NAME: dict[str, Callable[[], Metric]] = {
    "precision": Precision,
    "recall": Recall,
    "f1": F1,
    "auc": AUC,
    "top_k_accuracy": TopKAccuracy,
    "mae": MAE,
    "rmse": RMSE,
    "r2": R2,
}
_RESERVED = ("loss", "lr")
GREATER_IS_BETTER = ("accuracy", "acc", "precision", "recall", "f1", "auc", "r2")
"""How the history's keys of metrics where higher is better end (``EarlyStopping``'s mode="auto")."""


def resolve_metrics(metrics: Iterable[str | Metric | MetricFunction] | None, loss: Loss) -> dict[str, Metric]:
    """Map each requested metric to ``name -> Metric``, a fresh object that reads the output as ``loss`` does.

    ``"accuracy"`` (and the classification metrics) threshold at 0 instead
    of 0.5 when the loss works on logits, so the same name is right for
    both kinds of output layer. A callable is a :class:`MeanOverBatches`
    named by its ``__name__``; a :class:`Metric` is copied. Names must be
    unique and may not be ``loss``, ``lr`` or start with ``val_``, which the
    history uses itself.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or a name
        taken twice.
    TypeError
        For something that is neither a name, a Metric nor a callable.
    """
    if metrics is None:
        metrics = ()
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names, Metric objects or callables, got {metrics!r}") from None
    resolved: dict[str, Metric] = {}
    for item in metrics:
        metric = _as_metric(item, loss)
        name = metric.name
        if name in _RESERVED or name.startswith("val_"):
            raise ValueError(f"a metric may not be named {name!r}: the history uses that key itself")
        if name in resolved:
            raise ValueError(f"two metrics are named {name!r}; give each its own name (name= or __name__)")
        resolved[name] = metric
    return resolved


def _as_metric(item: Any, loss: Loss) -> Metric:
    if isinstance(item, Metric):
        return item.for_loss(loss)
    if item in ("accuracy", "acc"):
        threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
        return MeanOverBatches(functools.partial(accuracy, threshold=threshold), name="accuracy")
    if isinstance(item, str):
        if item not in _BY_NAME:
            known = ", ".join(repr(n) for n in ("accuracy", *_BY_NAME))
            raise ValueError(
                f"unknown metric {item!r}; use one of {known}, a Metric or a callable metric(y_true, y_pred)"
            )
        return _BY_NAME[item]().for_loss(loss)
    if callable(item):
        return MeanOverBatches(item)
    raise TypeError(f"a metric is a name, a Metric or a callable metric(y_true, y_pred) -> float, got {item!r:.60}")
