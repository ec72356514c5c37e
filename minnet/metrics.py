"""Metrics reported per epoch by :func:`minnet.fit`.

A metric is ``metric(y_true, y_pred) -> float`` on arrays of shape
``(n_samples, n_outputs)``; ``fit`` accepts such callables or the names below.
"""

from __future__ import annotations

from typing import Callable, Iterable, Union

import numpy as np

from .losses import Loss

__all__ = ["accuracy", "resolve_metrics"]

Metric = Callable[[np.ndarray, np.ndarray], float]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples, n_outputs)
        0/1 labels for one output; one-hot rows for several.
    y_pred : ndarray of shape (n_samples, n_outputs)
        One output: a score compared with ``threshold``. Several: the
        largest column is the predicted class.
    threshold : float, default 0.5
        Decision threshold for one output (0.0 for logits).
    """
    if y_pred.shape[1] == 1:
        return float(np.mean((y_pred > threshold) == (y_true > 0.5)))
    return float(np.mean(np.argmax(y_pred, axis=1) == np.argmax(y_true, axis=1)))


def resolve_metrics(metrics: Iterable[Union[str, Metric]], loss: Loss) -> dict[str, Metric]:
    """Map each requested metric to ``name -> callable``.

    ``"accuracy"`` thresholds at 0 instead of 0.5 when the loss works on
    logits, so the same name is right for both kinds of output layer.
    """
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved: dict[str, Metric] = {}
    for metric in metrics:
        if metric in ("accuracy", "acc"):
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
            resolved["accuracy"] = lambda t, p, th=threshold: accuracy(t, p, th)
        elif callable(metric):
            resolved[getattr(metric, "__name__", type(metric).__name__)] = metric
        else:
            raise ValueError(f"unknown metric {metric!r}; use 'accuracy' or a callable "
                             f"metric(y_true, y_pred) -> float")
    return resolved
