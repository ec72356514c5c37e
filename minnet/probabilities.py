"""Class probabilities from a classifier's outputs: :func:`predict_proba`, as scikit-learn's.

A classifier trained on logits (``CrossEntropy()``, ``BCE(from_logits=True)``:
no final Softmax or Sigmoid, the faster and more accurate choice) outputs
raw scores. The loss it was trained with says how they become
probabilities, so :func:`predict_proba` takes that loss rather than
guessing from the numbers (scores that happen to lie in [0, 1] and sum to
1 would fool any check).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def predict_proba(model: Model, loss: Loss, X: Any, *, batch_size: int | None = None) -> np.ndarray:
    """The probability of each class for ``X``: ``model.predict(X)`` made probabilities by ``loss``.

    Parameters
    ----------
    model : Sequential or Graph
        A classifier with one output.
    loss : BCE or CrossEntropy
        The loss the model was trained with: it says whether the outputs
        are logits (see :func:`class_probabilities`).
    X : array-like of shape (n_samples, n_features) or (n_samples, *shape)
    batch_size : int, optional
        As for :meth:`~minnet.Model.predict`.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Rows sum to 1. A single output trained with BCE gives two columns,
        the probability of class 0 then of class 1, as scikit-learn's
        ``predict_proba``.

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
    if model.n_outputs != 1:
        raise TypeError(
            f"predict_proba takes a model of one output, this one has {model.n_outputs}; apply "
            f"mn.probabilities.class_probabilities to each output of model.predict"
        )
    if not isinstance(loss, (BCE, CrossEntropy)):  # before predicting: a refused call costs nothing
        raise _not_a_classifiers_loss(loss)
    return class_probabilities(loss, model.predict(X, batch_size=batch_size))
