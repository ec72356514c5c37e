"""Metrics reported per epoch by :func:`minnet.fit`.

A metric is ``metric(y_true, y_pred) -> float`` on arrays of shape
``(n_samples, n_outputs)``; ``fit`` accepts such callables or the names below.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Union

import numpy as np

from .losses import Loss

__all__ = ["accuracy", "resolve_metrics"]

Metric = Callable[[np.ndarray, np.ndarray], float]


def accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        One output: 0/1 labels. Several outputs: one-hot rows, or class
        indices of shape (n_samples,).
    y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
        One output: a score compared with ``threshold``. Several: the
        largest column is the predicted class.
    threshold : float, default 0.5
        Decision threshold for one output (0.0 for logits).

    Raises
    ------
    ValueError
        If the shapes do not pair up as above (never broadcast).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(-1, 1)
    if y_pred.ndim != 2 or len(y_true) != len(y_pred) or y_true.ndim > 2:
        raise ValueError(f"accuracy expects y_true and y_pred with one row per sample, "
                         f"got shapes {y_true.shape} and {y_pred.shape}")
    n_outputs = y_pred.shape[1]
    if n_outputs == 1:
        if y_true.size != len(y_pred):
            raise ValueError(f"accuracy of one output expects y_true of shape ({len(y_pred)},) or "
                             f"({len(y_pred)}, 1), got {y_true.shape}")
        return float(np.mean((y_pred[:, 0] > threshold) == (y_true.reshape(-1) > 0.5)))
    predicted = np.argmax(y_pred, axis=1)
    if y_true.ndim == 1:  # class indices
        return float(np.mean(predicted == y_true))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"accuracy expects one-hot y_true of shape {y_pred.shape}, got {y_true.shape}")
    return float(np.mean(predicted == np.argmax(y_true, axis=1)))


_RESERVED = ("loss", "lr")


def resolve_metrics(metrics: Iterable[Union[str, Metric]] | None, loss: Loss) -> dict[str, Metric]:
    """Map each requested metric to ``name -> callable``.

    ``"accuracy"`` thresholds at 0 instead of 0.5 when the loss works on
    logits, so the same name is right for both kinds of output layer. A
    callable is named by its ``__name__``; names must be unique and may not
    be ``loss``, ``lr`` or start with ``val_``, which the history uses itself.
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
            function: Metric = lambda t, p, th=threshold: accuracy(t, p, th)  # noqa: E731
        elif callable(metric):
            name, function = getattr(metric, "__name__", type(metric).__name__), metric
        else:
            raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or a callable "
                             f"metric(y_true, y_pred) -> float")
        if name in _RESERVED or name.startswith("val_"):
            raise ValueError(f"a metric may not be named {name!r}: the history uses that key itself")
        if name in resolved:
            raise ValueError(f"two metrics are named {name!r}; give each callable its own __name__")
        resolved[name] = function
    return resolved
