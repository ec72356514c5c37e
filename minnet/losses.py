"""Loss functions: a scalar score of a batch of predictions, and its gradient."""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import numpy as np

from ._inference import CacheSlot
from ._numerics import safe_mean, safe_mean_of_squares
from ._validation import (
    as_batch,
    as_class_indices,
    as_float_array,
    as_numeric_array,
    as_sample_weight,
    as_target,
    as_weights,
    check_bool,
    check_finite,
    check_real,
)

__all__ = ["BCE", "MSE", "CrossEntropy", "Loss"]

# torch.nn.BCELoss clamps each log term at -100 so that p = 0 or 1 stays finite.
_LOG_CLAMP = -100.0
_P_FLOOR = float(np.exp(_LOG_CLAMP))
# torch's BCELoss backward divides by max(p (1 - p), 1e-12) for the same reason;
# its 1e-12 is a float32 constant, so the same value is used here, to the last bit.
_BCE_GRAD_EPS = float(np.float32(1e-12))


class Loss:
    r"""Base class of losses.

    ``forward(pred, target)`` returns the mean loss over the batch as a Python
    float and caches what ``backward`` needs; ``backward()`` returns
    dL/d(pred), of the same shape as ``pred``.

    Sample weights :math:`s_i` scale each sample's terms and leave the
    divisor alone, as Keras' default reduction (``"sum_over_batch_size"``):
    for a loss whose unweighted value is the mean of per-sample terms,

    .. math:: L = \frac{1}{n}\sum_i s_i\, \ell_i

    so a weight of 1 everywhere changes no bit and a weight of 0 drops a
    sample without changing what the others weigh.
    """

    def forward(self, pred: Any, target: Any, sample_weight: Any = None) -> float:
        """Validate the arrays, then return the mean loss over the batch.

        Parameters
        ----------
        pred : array-like of shape (n_samples, n_outputs)
        target : array-like of shape (n_samples, n_outputs), or (n_samples,) for one output
        sample_weight : array-like of shape (n_samples,), optional
            A weight >= 0 per sample, scaling its terms of the loss and of
            the gradient (see the class docstring for the formula).

        Returns
        -------
        float
        """
        pred, target = self._validate(pred, target)
        if sample_weight is None:
            return self._forward(pred, target)
        self.check_takes_sample_weight()
        return self._forward(pred, target, as_sample_weight("sample_weight", sample_weight, len(pred), pred.dtype))

    @property
    def takes_sample_weight(self) -> bool:
        """Whether this loss weighs samples: its ``_forward`` (or its own ``forward``) takes ``sample_weight``."""
        cls = type(self)
        method = cls.forward if cls.forward is not Loss.forward else cls._forward
        return "sample_weight" in inspect.signature(method).parameters

    def check_takes_sample_weight(self) -> None:
        """Raise ``TypeError`` if this loss cannot weigh samples (a loss of your own without ``sample_weight``)."""
        if not self.takes_sample_weight:
            raise TypeError(
                f"{self!r} does not take sample weights: its _forward has no sample_weight argument "
                f"(add one that scales each sample's terms, as the built-in losses do)"
            )

    def sample_classes(self, name: str, target: np.ndarray, pred_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """The class of each sample of a prepared ``target``, and the number of classes, for ``class_weight``.

        Parameters
        ----------
        name : str
            The target's name, for messages.
        target : ndarray
            From :meth:`prepare_target`.
        pred_shape : tuple of int
            ``(n_samples, ...)`` of the predictions.

        Returns
        -------
        classes : ndarray of shape (n_samples,), int64
        n_classes : int

        Raises
        ------
        TypeError
            For a loss that does not classify (the default).
        """
        raise TypeError(f"class_weight needs a classification loss (BCE or CrossEntropy), got {self!r}")

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

    def forward_prepared(self, pred: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """``forward`` for a target from :meth:`prepare_target` and a finite model output.

        What the training loop calls on every batch: the target was converted
        and checked once per fit and ``pred`` is the model's output, checked
        finite; so of the per-call checks only those on the values of ``pred``
        remain (the converting, copying and finiteness scans cost more than
        the loss itself on small batches). A subclass that overrides
        ``forward`` or ``_validate`` keeps its own checks. ``sample_weight``,
        when given, was checked too, and the loss takes it.
        """
        # Only a weighted call passes the argument, which a loss of your own may not take.
        weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
        cls = type(self)
        if cls.forward is not Loss.forward or cls._validate is not Loss._validate:
            return self.forward(pred, target, **weighted)
        self._check_pred(pred)
        return self._forward(pred, target, **weighted)

    def _forward(self, pred: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement _forward or forward")

    def backward(self) -> np.ndarray:
        """dL/d(pred) of the last ``forward``: ndarray of the shape of ``pred``."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def get_config(self) -> dict[str, Any]:
        return {}

    def __call__(self, pred: Any, target: Any, sample_weight: Any = None) -> float:
        return self.forward(pred, target, sample_weight)

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


def _bce_terms(pred: np.ndarray, target: np.ndarray, pos_weight: Any) -> np.ndarray:
    """``y log p + (1 - y) log(1 - p)`` of each element (the loss negated), each log clamped at -100.

    log(0) = -inf is clamped too (as torch), so nothing needs a floor under
    ``p``; a ``p`` outside [0, 1] makes its term NaN.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(pred)
        log_1mp = np.subtract(1.0, pred)
        np.log(log_1mp, out=log_1mp)
    np.maximum(log_p, _LOG_CLAMP, out=log_p)
    np.maximum(log_1mp, _LOG_CLAMP, out=log_1mp)
    log_p *= target
    if pos_weight is not None:
        log_p *= pos_weight  # after the target: -100 w+ may overflow, and -inf times a target of 0 is NaN
    log_1mp *= 1.0 - target
    log_p += log_1mp
    return log_p


class BCE(Loss):
    r"""Binary cross-entropy, the mean over all elements.

    On probabilities :math:`p` (``from_logits=False``, as ``torch.nn.BCELoss``):

    .. math:: L = -\frac{1}{N}\sum \big[\, y \max(\log p, -100) + (1-y)\max(\log(1-p), -100) \big]
    .. math:: \frac{\partial L}{\partial p} = \frac{1}{N}\,\frac{p - y}{\max(p(1-p),\ 10^{-12})}

    On raw scores :math:`z` (``from_logits=True``, as ``torch.nn.BCEWithLogitsLoss``),
    in the log-sum-exp form that never overflows:

    .. math:: L = \frac{1}{N}\sum \big[\max(z, 0) - z y + \log(1 + e^{-|z|})\big], \qquad
              \frac{\partial L}{\partial z} = \frac{1}{N}\,(\sigma(z) - y)

    A positive-class weight :math:`w_+` (``pos_weight``, as
    ``torch.nn.BCEWithLogitsLoss(pos_weight=)``) multiplies the terms of the
    positive targets; with :math:`a = 1 + (w_+ - 1)\,y`:

    .. math:: L = -\frac{1}{N}\sum \big[\, w_+ y \log p + (1-y)\log(1-p) \big]
    .. math:: \frac{\partial L}{\partial p} = \frac{1}{N}\,\frac{a p - w_+ y}{\max(p(1-p),\ 10^{-12})}

    .. math:: L = \frac{1}{N}\sum \big[(1-y)\,z + a \log(1 + e^{-z})\big], \qquad
              \frac{\partial L}{\partial z} = \frac{1}{N}\,(a\,\sigma(z) - w_+ y)

    (each log clamped at -100 on probabilities, as above).

    Parameters
    ----------
    from_logits : bool, default False
        Whether predictions are raw scores rather than probabilities. With
        logits, drop the final :class:`Sigmoid`: it is faster and more accurate.
    pos_weight : float or array-like of shape (n_outputs,), optional
        :math:`w_+ \ge 0`, one for all outputs or one per output (broadcast
        along the last axis, as PyTorch). ``n_negative / n_positive``
        balances an imbalanced class.

    Notes
    -----
    Targets must lie in [0, 1]; probabilities too.
    """

    def __init__(self, from_logits: bool = False, pos_weight: Any = None) -> None:
        self.from_logits = check_bool("from_logits", from_logits)
        self.pos_weight = None if pos_weight is None else _pos_weight(pos_weight)

    def check_target(self, target: np.ndarray) -> None:
        if ((target < 0) | (target > 1)).any():
            raise ValueError(
                f"BCE targets must lie in [0, 1], got values in [{float(target.min())!r}, {float(target.max())!r}]"
            )
        if isinstance(self.pos_weight, np.ndarray) and len(self.pos_weight) not in (1, target.shape[-1]):
            raise ValueError(
                f"BCE has {len(self.pos_weight)} pos_weight values, one per output, but the "
                f"predictions have {target.shape[-1]} on their last axis"
            )

    def sample_classes(self, name: str, target: np.ndarray, pred_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """The 0/1 target of each sample, for a single output."""
        if pred_shape[1:] != (1,):
            got = f"predictions of shape {pred_shape}"
        elif ((target != 0) & (target != 1)).any():
            got = "targets other than 0 and 1"
        else:
            return target[:, 0].astype(np.int64), 2
        raise ValueError(
            f"class_weight with BCE needs {name} of 0/1 labels for one output, got {got}; pass sample_weight instead"
        )

    def _check_probabilities(self, pred: np.ndarray) -> None:
        if pred.min() < 0 or pred.max() > 1:
            raise ValueError(
                f"BCE(from_logits=False) expects probabilities in [0, 1], got values in "
                f"[{float(pred.min())!r}, {float(pred.max())!r}]; pass from_logits=True for raw scores"
            )

    def _forward(self, pred: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        pos_weight = _as_dtype(self.pos_weight, pred.dtype)
        if self.from_logits:
            if pos_weight is None:
                losses = np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
            else:
                softplus_minus_z = np.maximum(-pred, 0) + np.log1p(np.exp(-np.abs(pred)))  # -log sigma(z)
                losses = (1.0 - target) * pred + (1.0 + (pos_weight - 1.0) * target) * softplus_minus_z
        else:
            losses = _bce_terms(pred, target, pos_weight)
        if sample_weight is not None:
            losses *= _per_sample(sample_weight, losses.ndim)
        # Each term fits, but their sum may not (terms near 1e308): safe_mean scales if it must.
        mean = safe_mean(losses)
        # Probabilities are checked only when a term is NaN, which a log of p < 0 or 1 - p < 0 always makes.
        if math.isnan(mean) and not self.from_logits:
            self._check_probabilities(pred)
        self._cache = (pred, target, sample_weight)
        # On probabilities the terms are y log p + (1 - y) log(1 - p): the loss is minus their mean (0.0 - m, not -m,
        # so that a loss of 0 is +0.0).
        return mean if self.from_logits else 0.0 - mean

    def backward(self) -> np.ndarray:
        pred, target, sample_weight = self._require_cache()
        pos_weight = _as_dtype(self.pos_weight, pred.dtype)
        if self.from_logits:
            # sigma(z) = num / (1 + e) with e = exp(-|z|) in (0, 1], which cannot overflow, and
            # num = 1 for z >= 0, e for z < 0: max(e, [z >= 0]) picks it without np.where.
            e = np.exp(-np.abs(pred))
            grad = np.maximum(e, pred >= 0)
            grad /= 1.0 + e
            if pos_weight is None:
                grad -= target
            else:
                grad *= 1.0 + (pos_weight - 1.0) * target
                grad -= pos_weight * target
            grad /= pred.size
        elif pos_weight is None:
            grad = (pred - target) / (np.maximum(pred * (1.0 - pred), _BCE_GRAD_EPS) * pred.size)
        else:
            numerator = (1.0 + (pos_weight - 1.0) * target) * pred - pos_weight * target
            grad = numerator / (np.maximum(pred * (1.0 - pred), _BCE_GRAD_EPS) * pred.size)
        if sample_weight is not None:
            grad *= _per_sample(sample_weight, grad.ndim)
        return grad

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"from_logits": self.from_logits} if self.from_logits else {}
        if self.pos_weight is not None:
            config["pos_weight"] = _config_value(self.pos_weight)
        return config


class MSE(Loss):
    r"""Mean squared error over all elements, as ``torch.nn.MSELoss()``.

    .. math:: L = \frac{1}{N}\sum (p - y)^2, \qquad \frac{\partial L}{\partial p} = \frac{2}{N}(p - y)
    """

    def _forward(self, pred: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # a difference beyond the float is inf, below
            diff = pred - target
        self._cache = (diff, sample_weight)
        if sample_weight is None:
            return safe_mean_of_squares(diff)  # squares near 1e308 would overflow the sum: see safe_mean
        # s (p - y)^2 = (sqrt(s) (p - y))^2 for s >= 0: the same overflow-safe mean serves.
        return safe_mean_of_squares(diff * np.sqrt(_per_sample(sample_weight, diff.ndim)))

    def backward(self) -> np.ndarray:
        diff, sample_weight = self._require_cache()
        grad = diff * (2.0 / diff.size)
        if sample_weight is not None:
            grad *= _per_sample(sample_weight, grad.ndim)
        return grad


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

    Class weights :math:`w_c` (``weight``) and label smoothing
    :math:`\varepsilon` (``label_smoothing``) are PyTorch's: the target row
    becomes :math:`q_{ic} = (1-\varepsilon)\, y_{ic} + \varepsilon / C` and

    .. math:: L = \frac{1}{D}\sum_i \ell_i, \qquad \ell_i = -\sum_c w_c\, q_{ic} \log s_{ic}, \qquad
              \frac{\partial L}{\partial z_{ic}} = \frac{1}{D}\Big(s_{ic} \sum_k w_k q_{ik} - w_c q_{ic}\Big)

    where :math:`D = \sum_i w_{y_i}` for class labels with ``weight`` (the
    weighted mean of ``torch.nn.CrossEntropyLoss``; a batch whose labels all
    weigh 0 has a NaN loss, as there) and :math:`D = n` otherwise.

    Parameters
    ----------
    from_logits : bool, default True
        Whether predictions are raw scores (no Softmax layer: faster and
        more accurate) rather than probabilities.
    weight : array-like of shape (C,), optional
        :math:`w_c \ge 0`, one per class.
    label_smoothing : float in [0, 1], default 0.0
        :math:`\varepsilon`, the share of each target spread evenly over the classes.

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

    def __init__(self, from_logits: bool = True, weight: Any = None, label_smoothing: float = 0.0) -> None:
        self.from_logits = check_bool("from_logits", from_logits)
        self.weight = None if weight is None else _weight_vector("weight", weight, "a 1-D array, one weight per class")
        self.label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def prepare_target(self, name: str, target: Any, pred_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Class labels as int64 ``(n, d1, ...)``, or class probabilities as ``pred_shape`` in ``dtype``."""
        n, n_classes, *positions = pred_shape
        if n_classes < 2:
            raise ValueError(
                f"CrossEntropy needs predictions with one column per class (at least 2), got "
                f"shape {pred_shape}; for a single output use BCE(from_logits=True)"
            )
        if self.weight is not None and len(self.weight) != n_classes:
            raise ValueError(
                f"CrossEntropy has {len(self.weight)} class weights, but the predictions have {n_classes} classes"
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

    def sample_classes(self, name: str, target: np.ndarray, pred_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """Each sample's label, or the class of its one-hot row; soft rows and a class per position are refused."""
        n_classes = pred_shape[1]
        if len(pred_shape) > 2:
            got = f"a class per position, predictions of shape {pred_shape}"
        elif target.ndim == 1:
            return target, n_classes
        elif ((target == 0) | (target == 1)).all() and (target.sum(axis=1) == 1).all():
            return target.argmax(axis=1), n_classes
        else:
            got = "soft class probabilities"
        raise ValueError(
            f"class_weight with CrossEntropy needs {name} as one class per sample (labels or one-hot rows), "
            f"got {got}; pass sample_weight, or CrossEntropy(weight=) for weights per class"
        )

    def _check_pred(self, pred: np.ndarray) -> None:
        if not self.from_logits and (pred.min() < 0 or pred.max() > 1):
            raise ValueError(
                f"CrossEntropy(from_logits=False) expects probabilities in [0, 1], got values in "
                f"[{float(pred.min())!r}, {float(pred.max())!r}]; pass from_logits=True for raw scores"
            )

    def _forward(self, pred: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        shape = pred.shape
        pred, target = _classes_last(pred, target)
        divisor = self._divisor(target)
        # Plain labels stay as they are; any other target becomes the matrix w_c q_ic of the docstring.
        target = self._coefficients(target, pred.shape[1], pred.dtype)
        labels = target.ndim == 1
        if self.from_logits:
            shifted, log_total, s = _softmax_parts(pred)
            if labels:  # -log s_iy = log sum_k e^(z_ik - m_i) - (z_iy - m_i): no log_s array needed
                losses = log_total - shifted[np.arange(len(pred)), target]
            else:
                log_s = shifted
                log_s -= log_total[:, None]
        else:
            log_s = np.maximum(np.log(np.maximum(pred, _P_FLOOR)), _LOG_CLAMP)
            if labels:
                losses = -log_s[np.arange(len(pred)), target]
        if not labels:
            # A zero target weight leaves its class out, even where log s = -inf (0 * -inf is NaN).
            with np.errstate(over="ignore"):
                losses = -np.sum(np.multiply(target, log_s, out=np.zeros_like(log_s), where=target != 0), axis=1)
        if sample_weight is not None:
            sample_weight = _per_position(sample_weight, shape)
            losses *= sample_weight
        self._cache = (s if self.from_logits else pred, target, sample_weight, divisor, shape)
        if not np.isfinite(losses).all():
            return math.inf  # a loss beyond the float: only for logits spanning ~3.6e308
        mean = safe_mean(losses)  # each loss fits, their sum may not: see safe_mean
        if divisor is None:
            return mean
        return mean * len(losses) / divisor if divisor > 0 else math.nan

    def _coefficients(self, target: np.ndarray, n_classes: int, dtype: Any) -> np.ndarray:
        """Plain labels ``(m,)`` as they are, else :math:`w_c q_{ic}` of shape ``(m, C)``."""
        if self.weight is None and self.label_smoothing == 0.0:
            return target
        if target.ndim == 1:
            q = np.zeros((len(target), n_classes), dtype)
            q[np.arange(len(target)), target] = 1.0
        else:
            q = target
        if self.label_smoothing:
            q = q * (1.0 - self.label_smoothing) + self.label_smoothing / n_classes
        return q if self.weight is None else q * self.weight.astype(dtype, copy=False)

    def _divisor(self, target: np.ndarray) -> float | None:
        r""":math:`D = \sum_i w_{y_i}` for labels with class weights; None for the plain mean."""
        if self.weight is None or target.ndim != 1:
            return None
        return float(np.sum(self.weight[target]))

    def backward(self) -> np.ndarray:
        cached, target, sample_weight, divisor, shape = self._require_cache()
        n = len(cached)
        rows = np.arange(n)
        if self.from_logits:
            grad = cached.copy()  # s = softmax(z), from forward
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
        if sample_weight is not None:
            grad *= sample_weight[:, None]
        grad /= n if divisor is None else divisor
        return _classes_first(grad, shape)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {} if self.from_logits else {"from_logits": False}
        if self.weight is not None:
            config["weight"] = _config_value(self.weight)
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config


def _pos_weight(value: Any) -> float | np.ndarray:
    """``BCE``'s ``pos_weight``: a float, or one per output."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_real("pos_weight", value, low=0.0)
    return _weight_vector("pos_weight", value, "a number or a 1-D array, one weight per output")


def _weight_vector(name: str, value: Any, expected: str) -> np.ndarray:
    """A loss's constructor weights as a 1-D float64 array, each finite and >= 0."""
    weights = as_weights(name, value, np.float64)
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"{name} must be {expected}, got shape {weights.shape}")
    return weights.copy()  # the caller's array may change later


def _as_dtype(weights: float | np.ndarray | None, dtype: Any) -> Any:
    """Constructor weights in the predictions' dtype, so that a float32 step stays float32."""
    if weights is None or isinstance(weights, float):
        return weights
    return weights.astype(dtype, copy=False)


def _config_value(weights: float | np.ndarray) -> float | list[float]:
    return weights if isinstance(weights, float) else [float(w) for w in weights]


def _per_sample(sample_weight: np.ndarray, ndim: int) -> np.ndarray:
    """Weights ``(n,)`` as ``(n, 1, ...)`` of ``ndim`` axes: each scales every element of its sample."""
    return sample_weight.reshape(-1, *([1] * (ndim - 1)))


def _per_position(sample_weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Weights ``(n,)`` for scores ``(n, C, d1, ...)``: one per row of :func:`_classes_last`'s table."""
    positions = math.prod(shape[2:])
    return sample_weight if positions == 1 else np.repeat(sample_weight, positions)


def _softmax_parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The pieces of the log-softmax of each row of ``z``, and the softmax, from one ``exp``.

    .. math:: \log s_{ic} = (z_{ic} - m_i) - \log \sum_k e^{z_{ik} - m_i}, \qquad
              s_{ic} = e^{z_{ic} - m_i} \Big/ \sum_k e^{z_{ik} - m_i}, \qquad m_i = \max_c z_{ic}

    Parameters
    ----------
    z : ndarray of shape (n, C), finite

    Returns
    -------
    shifted : ndarray of shape (n, C)
        :math:`z_{ic} - m_i` (-inf only for a row spanning the whole float range).
    log_total : ndarray of shape (n,)
        :math:`\log \sum_k e^{z_{ik} - m_i}`, >= 0: the largest term is 1.
    s : ndarray of shape (n, C)
        The softmax, which the backward pass needs: kept, not recomputed.
    """
    with np.errstate(over="ignore"):  # z - m overflows to -inf only across the whole float range
        shifted = z - _row_max(z)[:, None]
    s = np.exp(shifted)
    total = s @ np.ones(s.shape[1], s.dtype)  # BLAS sums short rows faster than np.sum(axis=1)
    s /= total[:, None]
    return shifted, np.log(total), s


def _row_max(z: np.ndarray) -> np.ndarray:
    """``z.max(axis=1)`` for ``z`` of shape (n, C); with few columns, reduced down a transposed copy.

    numpy reduces a short last axis one row at a time; the copy lets it
    compare whole rows of C-major data instead (measured in docs/performance.md).
    """
    if z.shape[1] <= 32:
        return np.ascontiguousarray(z.T).max(axis=0)
    return z.max(axis=1)


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
