"""Metrics reported per epoch by :func:`minnet.fit`.

A metric is ``metric(y_true, y_pred) -> float`` on a target as the loss
prepared it (``(n_samples, n_outputs)``, or class labels ``(n_samples,)``
for :class:`~minnet.CrossEntropy`) and predictions of shape
``(n_samples, n_outputs)``; ``fit`` accepts such callables or the names
below. :func:`confusion_matrix` is for looking at a trained model.

``fit`` and ``evaluate`` hand a metric read-only views of the targets and
predictions, which may share memory with the caller's ``y`` (and the
model's output): a metric that writes into them in place raises
``ValueError: assignment destination is read-only`` instead of changing
your data. Copy first (``y_true = np.array(y_true)``) to work on them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ._validation import as_class_indices, as_numeric_array, check_int, check_real
from .losses import Loss

__all__ = ["accuracy", "confusion_matrix", "resolve_metrics"]

Metric = Callable[[np.ndarray, np.ndarray], float]


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
        if y_true.size != len(y_pred):
            raise ValueError(
                f"accuracy of one output expects y_true of shape ({len(y_pred)},) or "
                f"({len(y_pred)}, 1), got {y_true.shape}"
            )
        y_true = y_true.reshape(-1)
        not_binary = (y_true != 0) & (y_true != 1)
        if not_binary.any():
            i = int(np.argmax(not_binary))
            raise ValueError(
                f"accuracy of one output expects 0/1 targets, got {y_true[i].item()!r} at "
                f"index {i}; threshold soft targets first (y > 0.5) if that is meant"
            )
        return float(np.mean((y_pred[:, 0] > threshold) == (y_true == 1)))
    predicted = np.argmax(y_pred, axis=1)
    if y_true.ndim == 1 or y_true.shape[1] == 1:  # class indices
        return float(np.mean(predicted == as_class_indices("y_true", y_true.reshape(-1), n_outputs)))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"accuracy expects one-hot y_true of shape {y_pred.shape}, got {y_true.shape}")
    return float(np.mean(predicted == np.argmax(y_true, axis=1)))


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


_RESERVED = ("loss", "lr")


def resolve_metrics(metrics: Iterable[str | Metric] | None, loss: Loss) -> dict[str, Metric]:
    """Map each requested metric to ``name -> callable``.

    ``"accuracy"`` thresholds at 0 instead of 0.5 when the loss works on
    logits, so the same name is right for both kinds of output layer. A
    callable is named by its ``__name__``; names must be unique and may not
    be ``loss``, ``lr`` or start with ``val_``, which the history uses itself.
    Each returned callable passes the metric read-only views of its arrays.
    """
    if metrics is None:
        metrics = ()
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names or callables, got {metrics!r}") from None
    resolved: dict[str, Metric] = {}
    for metric in metrics:
        if metric in ("accuracy", "acc"):
            name = "accuracy"
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
            function: Metric = functools.partial(accuracy, threshold=threshold)
        elif callable(metric):
            name, function = getattr(metric, "__name__", type(metric).__name__), metric
        else:
            raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or a callable metric(y_true, y_pred) -> float")
        if name in _RESERVED or name.startswith("val_"):
            raise ValueError(f"a metric may not be named {name!r}: the history uses that key itself")
        if name in resolved:
            raise ValueError(f"two metrics are named {name!r}; give each callable its own __name__")
        resolved[name] = _on_read_only_views(function)
    return resolved


def _on_read_only_views(metric: Metric) -> Metric:
    """``metric`` called on views that cannot be written through: its arrays may be the caller's ``y``."""

    @functools.wraps(metric)
    def guarded(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return metric(_read_only(y_true), _read_only(y_pred))

    return guarded


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
