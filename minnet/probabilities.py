"""Class probabilities from a classifier's outputs: :func:`predict_proba`, as scikit-learn's.

A classifier trained on logits (``CrossEntropy()``, ``BCE(from_logits=True)``:
no final Softmax or Sigmoid, the faster and more accurate choice) outputs
raw scores. The loss it was trained with says how they become
probabilities, so :func:`predict_proba` takes that loss rather than
guessing from the numbers (scores that happen to lie in [0, 1] and sum to
1 would fool any check).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validation import by_name
from .containers import Model
from .layers.activations import Softmax, sigmoid
from .losses import BCE, CrossEntropy, Loss

__all__ = ["class_probabilities", "predict_proba"]


def class_probabilities(loss: Loss, outputs: np.ndarray) -> np.ndarray:
    r"""The class probabilities a model's ``outputs`` stand for, under the ``loss`` it was trained with.

    * ``CrossEntropy()`` (logits): the softmax along the classes, axis 1;
      ``CrossEntropy(from_logits=False)``: the outputs, already probabilities.
    * ``BCE(from_logits=True)``: the sigmoid of each output;
      ``BCE()``: the outputs. One output column is one binary class: the
      result is ``(n, 2)``, :math:`[1 - p, p]`, as scikit-learn's binary
      classifiers give it; several are independent labels, ``(n, k)``.

    Parameters
    ----------
    loss : BCE or CrossEntropy
    outputs : ndarray of shape (n_samples, n_outputs), or (n_samples, C, ...) for CrossEntropy

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Each row sums to 1 (for BCE with several outputs, each label's pair does).
    """
    if isinstance(loss, CrossEntropy):
        return Softmax(axis=1).forward(outputs, training=False) if loss.from_logits else outputs
    if isinstance(loss, BCE):
        p = sigmoid(outputs) if loss.from_logits else outputs
        return np.hstack([1.0 - p, p]) if p.ndim == 2 and p.shape[1] == 1 else p
    raise _not_a_classifiers_loss(loss)


def _not_a_classifiers_loss(loss: Any) -> TypeError:
    return TypeError(
        f"class probabilities come from a classifier trained with mn.CrossEntropy or mn.BCE; got "
        f"{loss!r}, whose outputs are not classes"
    )


def predict_proba(model: Model, loss: Any, X: Any, *, batch_size: int | None = None) -> Any:
    """The probability of each class for ``X``: ``model.predict(X)`` made probabilities by ``loss``.

    Parameters
    ----------
    model : Sequential or Graph
        A classifier; a graph may have several outputs.
    loss : BCE or CrossEntropy, or one per output
        The loss the model was trained with: it says whether the outputs
        are logits (see :func:`class_probabilities`). For several outputs,
        a list with one loss per output (as ``fit`` takes them), or a dict
        keyed by output name that names the classifying outputs only (a
        regression head left out).
    X : array-like of shape (n_samples, n_features) or (n_samples, *shape), or one per input
    batch_size : int, optional
        As for :meth:`~minnet.Model.predict`.

    Returns
    -------
    ndarray of shape (n_samples, n_classes), or a list or dict of them
        Rows sum to 1. A single output trained with BCE gives two columns,
        the probability of class 0 then of class 1, as scikit-learn's
        ``predict_proba``. Several outputs give a list (for a list of
        losses) or a dict keyed by the named outputs (for a dict).

    Examples
    --------
    >>> import numpy as np, minnet as mn
    >>> model = mn.Sequential(mn.Dense(2, 3, seed=0))  # three classes, logits out
    >>> p = mn.predict_proba(model, mn.CrossEntropy(), np.ones((4, 2)))
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((4, 3), True)
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a model (mn.Sequential or mn.Graph), got {type(model).__name__}")
    losses = _output_losses(model, loss)
    for item in losses:  # before predicting: a refused call costs nothing
        if item is not None and not isinstance(item, (BCE, CrossEntropy)):
            raise _not_a_classifiers_loss(item)
    outputs = model.predict(X, batch_size=batch_size)
    if model.n_outputs == 1:
        return class_probabilities(loss, outputs)
    probabilities = [None if item is None else class_probabilities(item, out) for item, out in zip(losses, outputs)]
    if isinstance(loss, Mapping):
        return {name: p for name, p in zip(getattr(model, "output_names", ()), probabilities) if p is not None}
    return probabilities


def _output_losses(model: Model, loss: Any) -> list[Any]:
    """One loss per output of ``model`` (None for an output a dict leaves out)."""
    n = model.n_outputs
    if n == 1:
        return [loss]
    if isinstance(loss, Mapping):
        return by_name("loss", loss, getattr(model, "output_names", None), "output", every=False)
    if isinstance(loss, (list, tuple)) and len(loss) == n:
        return list(loss)
    raise TypeError(
        f"the model has {n} outputs, so predict_proba takes a list of {n} losses, one per output, or a dict "
        f"of the classifying outputs' losses keyed by output name; got {loss!r:.80}"
    )
