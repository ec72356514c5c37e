"""Loss functions: a scalar score of a batch of predictions, and its gradient."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._inference import CacheSlot
from ._numerics import safe_mean, safe_mean_of_squares
from ._validation import (
    as_batch,
    as_class_indices,
    as_float_array,
    as_numeric_array,
    as_target,
    check_bool,
    check_finite,
)

__all__ = ["BCE", "MSE", "CrossEntropy", "Loss"]

# torch.nn.BCELoss clamps each log term at -100 so that p = 0 or 1 stays finite.
_LOG_CLAMP = -100.0
_P_FLOOR = float(np.exp(_LOG_CLAMP))
# torch's BCELoss backward divides by max(p (1 - p), 1e-12) for the same reason;
# its 1e-12 is a float32 constant, so the same value is used here, to the last bit.
_BCE_GRAD_EPS = float(np.float32(1e-12))


class Loss:
    """Base class of losses.

    ``forward(pred, target)`` returns the mean loss over the batch as a Python
    float and caches what ``backward`` needs; ``backward()`` returns
    dL/d(pred), of the same shape as ``pred``.
    """

    def forward(self, pred: Any, target: Any) -> float:
        """Validate both arrays, then return the mean loss over the batch.

        Parameters
        ----------
        pred : array-like of shape (n_samples, n_outputs)
        target : array-like of shape (n_samples, n_outputs), or (n_samples,) for one output

        Returns
        -------
        float
        """
        pred, target = self._validate(pred, target)
        return self._forward(pred, target)

    def _validate(self, pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        pred = as_batch("pred", pred)
        target = self.prepare_target("target", target, pred.shape, pred.dtype)
        self._check_pred(pred)
        return pred, target

    def prepare_target(self, name: str, target: Any, pred_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Convert and check a target once, for predictions of shape ``pred_shape``.

        The one hook through which :func:`~minnet.fit`, :func:`~minnet.evaluate`,
        :func:`~minnet.lr_find` and ``forward`` turn what the user passed into
        the target this loss takes; the training loop assumes no shape. The
        default takes targets of ``pred_shape`` in ``dtype`` (a ``(n,)`` target
        for one output is reshaped to ``(n, 1)``, explicitly) and then
        :meth:`check_target`. A loss on class labels overrides it.

        Parameters
        ----------
        name : str
            The argument's name, for messages (``"y"``, ``"y_val"``).
        target : array-like
        pred_shape : tuple of int
            ``(n_samples, n_outputs)`` of the predictions it will meet.
        dtype : np.dtype
            The model's float dtype.

        Returns
        -------
        ndarray
        """
        target = as_target(name, target, pred_shape, dtype)
        self.check_target(target)
        return target

    def check_target(self, target: np.ndarray) -> None:
        """Raise ``ValueError`` if ``target`` holds values this loss cannot take."""

    def _check_pred(self, pred: np.ndarray) -> None:
        """Raise ``ValueError`` if the finite 2-D ``pred`` holds values this loss cannot take."""

    def forward_prepared(self, pred: np.ndarray, target: np.ndarray) -> float:
        """``forward`` for a target from :meth:`prepare_target` and a finite model output.

        What the training loop calls on every batch: the target was converted
        and checked once per fit and ``pred`` is the model's output, checked
        finite; so of the per-call checks only those on the values of ``pred``
        remain (the converting, copying and finiteness scans cost more than
        the loss itself on small batches). A subclass that overrides
        ``forward`` or ``_validate`` keeps its own checks.
        """
        cls = type(self)
        if cls.forward is not Loss.forward or cls._validate is not Loss._validate:
            return self.forward(pred, target)
        self._check_pred(pred)
        return self._forward(pred, target)

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement _forward or forward")

    def backward(self) -> np.ndarray:
        """dL/d(pred) of the last ``forward``: ndarray of the shape of ``pred``."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def get_config(self) -> dict[str, Any]:
        return {}

    def __call__(self, pred: Any, target: Any) -> float:
        return self.forward(pred, target)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    #: What ``backward`` needs from the last ``forward``; None before the first one. Inside an
    #: inference pass (``evaluate``, ``fit``'s validation) stores are dropped, as for a Layer.
    _cache = CacheSlot()

    def _require_cache(self) -> Any:
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return cache


class BCE(Loss):
    r"""Binary cross-entropy, the mean over all elements.

    On probabilities :math:`p` (``from_logits=False``, as ``torch.nn.BCELoss``):

    .. math:: L = -\frac{1}{N}\sum \big[\, y \max(\log p, -100) + (1-y)\max(\log(1-p), -100) \big]
    .. math:: \frac{\partial L}{\partial p} = \frac{1}{N}\,\frac{p - y}{\max(p(1-p),\ 10^{-12})}

    On raw scores :math:`z` (``from_logits=True``, as ``torch.nn.BCEWithLogitsLoss``),
    in the log-sum-exp form that never overflows:

    .. math:: L = \frac{1}{N}\sum \big[\max(z, 0) - z y + \log(1 + e^{-|z|})\big], \qquad
              \frac{\partial L}{\partial z} = \frac{1}{N}\,(\sigma(z) - y)

    Parameters
    ----------
    from_logits : bool, default False
        Whether predictions are raw scores rather than probabilities. With
        logits, drop the final :class:`Sigmoid`: it is faster and more accurate.

    Notes
    -----
    Targets must lie in [0, 1]; probabilities too.
    """

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = check_bool("from_logits", from_logits)

    def check_target(self, target: np.ndarray) -> None:
        if ((target < 0) | (target > 1)).any():
            raise ValueError(
                f"BCE targets must lie in [0, 1], got values in [{float(target.min())!r}, {float(target.max())!r}]"
            )

    def _check_pred(self, pred: np.ndarray) -> None:
        # min and max are two fast reductions, cheaper than building two boolean masks.
        if not self.from_logits and (pred.min() < 0 or pred.max() > 1):
            raise ValueError(
                f"BCE(from_logits=False) expects probabilities in [0, 1], got values in "
                f"[{float(pred.min())!r}, {float(pred.max())!r}]; pass from_logits=True for raw scores"
            )

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._cache = (pred, target)
        if self.from_logits:
            losses = np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
        else:
            # Flooring p at e^-100 keeps log(0) from warning without changing any
            # value: the outer maximum applies torch's -100 floor exactly.
            log_p = np.maximum(np.log(np.maximum(pred, _P_FLOOR)), _LOG_CLAMP)
            log_1mp = np.maximum(np.log(np.maximum(1.0 - pred, _P_FLOOR)), _LOG_CLAMP)
            losses = -(target * log_p + (1.0 - target) * log_1mp)
        # Each term fits, but their sum may not (terms near 1e308): safe_mean scales if it must.
        return safe_mean(losses)

    def backward(self) -> np.ndarray:
        pred, target = self._require_cache()
        if self.from_logits:
            # sigma(z) = num / (1 + e) with e = exp(-|z|) in (0, 1], which cannot overflow, and
            # num = 1 for z >= 0, e for z < 0: max(e, [z >= 0]) picks it without np.where.
            e = np.exp(-np.abs(pred))
            sigmoid = np.maximum(e, pred >= 0)
            sigmoid /= 1.0 + e
            sigmoid -= target
            sigmoid /= pred.size
            return sigmoid
        return (pred - target) / (np.maximum(pred * (1.0 - pred), _BCE_GRAD_EPS) * pred.size)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits} if self.from_logits else {}


class MSE(Loss):
    r"""Mean squared error over all elements, as ``torch.nn.MSELoss()``.

    .. math:: L = \frac{1}{N}\sum (p - y)^2, \qquad \frac{\partial L}{\partial p} = \frac{2}{N}(p - y)
    """

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # a difference beyond the float is inf, below
            diff = pred - target
        self._cache = diff
        return safe_mean_of_squares(diff)  # squares near 1e308 would overflow the sum: see safe_mean

    def backward(self) -> np.ndarray:
        diff = self._require_cache()
        return diff * (2.0 / diff.size)


class CrossEntropy(Loss):
    r"""Softmax cross-entropy for :math:`C` classes, the mean over the batch, as ``torch.nn.CrossEntropyLoss``.

    On raw scores :math:`z` (``from_logits=True``), with the log-softmax
    computed in the log-sum-exp form that never overflows
    (:math:`m_i = \max_c z_{ic}`):

    .. math:: \log s_{ic} = z_{ic} - m_i - \log\sum_k e^{z_{ik} - m_i}, \qquad
              L = -\frac{1}{n}\sum_i \sum_c y_{ic} \log s_{ic}

    .. math:: \frac{\partial L}{\partial z_{ic}} = \frac{1}{n}\Big(s_{ic} \sum_k y_{ik} - y_{ic}\Big)
              = \frac{1}{n}\,(s_{ic} - y_{ic}) \quad \text{when each row of } y \text{ sums to 1}

    where :math:`y` is the one-hot row of a class label, or the given class
    probabilities. On probabilities :math:`p` (``from_logits=False``, after a
    :class:`~minnet.Softmax` layer), each log is clamped at -100 as
    :class:`BCE` does, so a probability of 0 costs 100, not infinity:

    .. math:: L = -\frac{1}{n}\sum_i \sum_c y_{ic} \max(\log p_{ic}, -100), \qquad
              \frac{\partial L}{\partial p_{ic}} = -\frac{1}{n}\,\frac{y_{ic}}{\max(p_{ic},\ 10^{-12})}

    Parameters
    ----------
    from_logits : bool, default True
        Whether predictions are raw scores (no Softmax layer: faster and
        more accurate) rather than probabilities.

    Notes
    -----
    Targets are class labels of shape ``(n_samples,)`` (integers ``0 .. C-1``;
    floats holding whole numbers are accepted, and a ``(n_samples, 1)``
    column), which stay int64, or class probabilities of shape
    ``(n_samples, C)``, one-hot or soft, each in [0, 1]. Predictions need
    at least two columns: for one output use ``BCE(from_logits=True)``.

    Scores of more axes, ``(n, C, d1, ...)`` (a class per pixel), take labels
    ``(n, d1, ...)`` or probabilities of their own shape, as PyTorch: each
    position is a sample of the formulas above, and the mean is over all of
    them.
    """

    def __init__(self, from_logits: bool = True) -> None:
        self.from_logits = check_bool("from_logits", from_logits)

    def prepare_target(self, name: str, target: Any, pred_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Class labels as int64 ``(n, d1, ...)``, or class probabilities as ``pred_shape`` in ``dtype``."""
        n, n_classes, *positions = pred_shape
        if n_classes < 2:
            raise ValueError(
                f"CrossEntropy needs predictions with one column per class (at least 2), got "
                f"shape {pred_shape}; for a single output use BCE(from_logits=True)"
            )
        target = as_numeric_array(name, target)
        if target.ndim == 2 and target.shape[1] == 1 and not positions:
            target = target.reshape(-1)  # a column of labels
        labels_shape = (n, *positions)
        if target.ndim == len(labels_shape):
            if target.shape != labels_shape:
                got = len(target) if target.ndim == 1 else f"shape {target.shape}"
                what = (
                    f"{n} class labels, one per prediction"
                    if not positions
                    else f"class labels of shape {labels_shape}"
                )
                raise ValueError(f"{name} must have {what}, got {got}")
            return as_class_indices(name, target.reshape(-1), n_classes).reshape(labels_shape)
        if target.shape != pred_shape:
            raise ValueError(
                f"CrossEntropy takes {name} as class labels of shape {labels_shape} or class "
                f"probabilities of shape {pred_shape}, got shape {target.shape}"
            )
        target = as_float_array(name, target, dtype)
        check_finite(name, target)
        outside = (target < 0) | (target > 1)
        if outside.any():
            where = tuple(int(i) for i in np.argwhere(outside)[0])
            raise ValueError(
                f"{name} as class probabilities must lie in [0, 1], got {float(target[where])!r} at index {where}"
            )
        return target

    def _check_pred(self, pred: np.ndarray) -> None:
        if not self.from_logits and (pred.min() < 0 or pred.max() > 1):
            raise ValueError(
                f"CrossEntropy(from_logits=False) expects probabilities in [0, 1], got values in "
                f"[{float(pred.min())!r}, {float(pred.max())!r}]; pass from_logits=True for raw scores"
            )

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        shape = pred.shape
        pred, target = _classes_last(pred, target)
        labels = target.ndim == 1
        rows = np.arange(len(pred))
        if self.from_logits:
            # z - m is below -1.8e308 only for a row spanning the whole float range: -inf is
            # then the log-probability (and, where the target weighs it, an infinite loss).
            with np.errstate(over="ignore"):
                log_s = pred - pred.max(axis=1, keepdims=True)
            log_s -= np.log(np.sum(np.exp(log_s), axis=1, keepdims=True))  # the sum is >= 1
            self._cache = (log_s, target, shape)
        else:
            log_s = np.maximum(np.log(np.maximum(pred, _P_FLOOR)), _LOG_CLAMP)
            self._cache = (pred, target, shape)
        if labels:
            losses = -log_s[rows, target]
        else:
            # A zero target weight leaves its class out, even where log s = -inf (0 * -inf is NaN).
            with np.errstate(over="ignore"):
                losses = -np.sum(np.multiply(target, log_s, out=np.zeros_like(log_s), where=target != 0), axis=1)
        if not np.isfinite(losses).all():
            return math.inf  # a loss beyond the float: only for logits spanning ~3.6e308
        return safe_mean(losses)  # each loss fits, their sum may not: see safe_mean

    def backward(self) -> np.ndarray:
        cached, target, shape = self._require_cache()
        n = len(cached)
        rows = np.arange(n)
        if self.from_logits:
            grad = np.exp(cached)  # s = softmax(z)
            if target.ndim == 1:
                grad[rows, target] -= 1.0  # s - onehot(y)
            else:
                grad *= target.sum(axis=1, keepdims=True)  # s * sum_k y_k - y: torch's, for any soft rows
                grad -= target
        else:
            p = cached
            grad = np.zeros_like(p)
            if target.ndim == 1:
                grad[rows, target] = -1.0 / np.maximum(p[rows, target], _BCE_GRAD_EPS)
            else:
                grad -= target / np.maximum(p, _BCE_GRAD_EPS)
        grad /= n
        return _classes_first(grad, shape)

    def get_config(self) -> dict[str, Any]:
        return {} if self.from_logits else {"from_logits": False}


def _classes_last(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(n, C, d1, ...)`` and their targets as the table ``(n d1 ..., C)``: a sample per position.

    That is how ``torch.nn.CrossEntropyLoss`` counts them: the mean is over
    every position of every sample. A table ``(n, C)`` is returned as it is.
    """
    if pred.ndim == 2:
        return pred, target
    table = np.moveaxis(pred, 1, -1).reshape(-1, pred.shape[1])
    if target.ndim == pred.ndim - 1:  # class labels (n, d1, ...)
        return table, target.reshape(-1)
    return table, np.moveaxis(target, 1, -1).reshape(-1, pred.shape[1])


def _classes_first(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_classes_last` for a gradient: the table ``(n d1 ..., C)`` as ``shape``."""
    if len(shape) == 2:
        return grad
    n, c, *positions = shape
    return np.moveaxis(grad.reshape(n, *positions, c), -1, 1)
