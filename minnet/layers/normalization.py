"""Batch normalisation of features (BatchNorm) and of image channels (BatchNorm2D); layer normalisation (LayerNorm).

Batch normalisation uses batch statistics in training, running statistics in
inference; layer normalisation uses each sample's own statistics in both.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import (
    all_finite,
    as_float_array,
    check_bool,
    check_int,
    check_real,
    check_shape,
)
from ._windows import check_images
from .base import (
    Layer,
    Parameter,
    check_batch,
    check_dtype,
    dtype_repr,
)

__all__ = ["BatchNorm", "BatchNorm2D", "LayerNorm"]


class BatchNorm(Layer):
    r"""Batch normalisation of each feature, as ``torch.nn.BatchNorm1d``.

    In training (``training=True``) each feature :math:`j` is normalised with
    the statistics of the batch of :math:`n` samples, the biased variance:

    .. math:: \mu_j = \frac{1}{n}\sum_i x_{ij}, \quad
              \sigma_j^2 = \frac{1}{n}\sum_i (x_{ij} - \mu_j)^2, \quad
              \hat x_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \quad
              y_{ij} = \gamma_j \hat x_{ij} + \beta_j

    and the running statistics move towards the batch's, with the unbiased
    variance (momentum :math:`m`; ``momentum=None`` is the cumulative mean
    over the :math:`t` batches seen, :math:`m = 1/t`):

    .. math:: \bar\mu \leftarrow (1 - m)\,\bar\mu + m\,\mu, \qquad
              \bar\sigma^2 \leftarrow (1 - m)\,\bar\sigma^2 + m\,\frac{n}{n-1}\sigma^2

    With ``training=False`` the running statistics :math:`\bar\mu, \bar\sigma^2`
    stand for :math:`\mu, \sigma^2`. With :math:`G = \partial L/\partial y` and
    :math:`D = G \odot \gamma`, the gradients are

    .. math:: \frac{\partial L}{\partial \gamma_j} = \sum_i G_{ij} \hat x_{ij}, \qquad
              \frac{\partial L}{\partial \beta_j} = \sum_i G_{ij}

    .. math:: \frac{\partial L}{\partial x_{ij}} = \frac{1}{\sqrt{\sigma_j^2 + \epsilon}}
              \Big(D_{ij} - \frac{1}{n}\sum_k D_{kj} - \hat x_{ij}\,\frac{1}{n}\sum_k D_{kj}\hat x_{kj}\Big)

    where :math:`\mu` and :math:`\sigma` depend on every sample of the
    batch. (Inference keeps no cache, so ``backward`` always follows a
    training forward.) A frozen layer (``trainable = False``) normalises
    with the running statistics in training too and leaves them as they
    are, as Keras does; they are then constants, and
    :math:`\partial L/\partial x_{ij} = D_{ij} / \sqrt{\bar\sigma_j^2 + \epsilon}`.

    Parameters
    ----------
    n_features : int
        Number of features (columns) of the input.
    momentum : float in [0, 1] or None, default 0.1
        Weight of each new batch in the running statistics (torch's
        convention: the running value keeps ``1 - momentum`` of itself);
        None for the cumulative average.
    eps : float > 0, default 1e-5
        Added to the variance before the square root.
    dtype : np.float32 or np.float64, default np.float64

    Attributes
    ----------
    gamma : Parameter of shape (n_features,)
        The scale, ones at first (torch's ``weight``).
    beta : Parameter of shape (n_features,)
        The shift, zeros at first (torch's ``bias``).
    running_mean, running_var : ndarray of shape (n_features,)
        Zeros and ones at first; state, not trained (:meth:`get_state`).
    num_batches_tracked : int
        Training batches seen; sets the weight when ``momentum`` is None.

    Notes
    -----
    A batch of one sample has no variance to normalise by, so training on
    it is a ValueError (torch refuses it too); pick a ``batch_size`` that
    leaves no last batch of one. In training the output is finite for any
    finite input: statistics that would overflow are computed on the
    feature divided by its largest magnitude, and a running variance beyond
    the float's range is kept at the largest float.
    """

    def __init__(
        self, n_features: int, momentum: float | None = 0.1, eps: float = 1e-5, dtype: Any = np.float64
    ) -> None:
        self.n_features = check_int("n_features", n_features, low=1)
        self.momentum = None if momentum is None else check_real("momentum", momentum, low=0.0, high=1.0)
        self.eps = check_real("eps", eps, low=0.0, low_inclusive=False)
        self.dtype = check_dtype(dtype)
        self.gamma = Parameter(np.ones(self.n_features, self.dtype), name="gamma")
        self.beta = Parameter(np.zeros(self.n_features, self.dtype), name="beta")
        self.running_mean = np.zeros(self.n_features, self.dtype)
        self.running_var = np.ones(self.n_features, self.dtype)
        self.num_batches_tracked = 0

    min_training_batch = 2  # a variance needs two rows

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself, a sample of ``(n_features,)``."""
        input_shape = tuple(input_shape)
        if input_shape != (self.n_features,):
            raise ValueError(
                f"{self!r} expected samples of shape ({self.n_features},), got shape {input_shape}{self._image_hint}"
            )
        return input_shape

    @property
    def _image_hint(self) -> str:
        return f"; for images (n, C, H, W) use BatchNorm2D({self.n_features})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        hint = self._image_hint if x.ndim == 4 else ""
        x = check_batch(x, self.n_features, self.gamma.value.dtype, self.__repr__, "parameters", hint=hint)
        if training and self.trainable and len(x) < self.min_training_batch:
            raise ValueError(
                f"{self!r} needs more than 1 sample per batch in training to compute a "
                f"variance, got a batch of {len(x)}; use a batch_size that leaves no "
                f"batch of one, or training=False"
            )
        x_hat, inv_std, batch_statistics = self._normalise(x, training)
        if training:
            self._cache = (x_hat, inv_std, batch_statistics)
        with np.errstate(over="ignore"):  # only parameters beyond any sensible size overflow here
            return x_hat * self.gamma.value + self.beta.value

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x_hat, inv_std, batch_statistics = self._require_cache()
        grad = self._check_grad(grad, x_hat.shape)
        self.gamma.grad[...] = np.sum(grad * x_hat, axis=0)  # dL/dgamma = sum_i G x_hat
        self.beta.grad[...] = np.sum(grad, axis=0)  # dL/dbeta = sum_i G
        return _input_grad(grad, self.gamma.value, x_hat, inv_std, batch_statistics) if need_input_grad else None

    def _normalise(self, table: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(x_hat, 1 / sqrt(var + eps), batch_statistics)`` of each column of ``table`` (n, features).

        Batch statistics (updating the running ones) when training a
        trainable layer; the running statistics otherwise: in inference,
        and in training while the layer is frozen (Keras' behaviour).
        """
        if training and self.trainable:
            x_hat, inv_std, mean, var = _normalise_batch(table, self.eps)
            self._update_running(mean, var, len(table))
        else:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            x_hat = _standardise(table, self.running_mean, inv_std)
        return x_hat, inv_std, training and self.trainable

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        largest = np.finfo(self.running_var.dtype).max
        with np.errstate(over="ignore"):
            # A mixture of two finite values fits, up to rounding at the very top of the range;
            # the unbiased variance n/(n-1) sigma^2 may not: both are held at the largest float.
            new_mean = (1.0 - m) * self.running_mean + m * mean
            new_var = (1.0 - m) * self.running_var + m * (var * (n / (n - 1)))
        np.clip(new_mean, -largest, largest, out=self.running_mean, casting="unsafe")
        np.minimum(new_var, largest, out=self.running_var, casting="unsafe")

    def parameters(self) -> list[Parameter]:
        return [self.gamma, self.beta]

    def input_shape(self) -> tuple[int, ...] | None:
        return (self.n_features,)

    def get_state(self) -> dict[str, Any]:
        """``running_mean``, ``running_var`` (copies) and ``num_batches_tracked``."""
        return {
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": self.num_batches_tracked,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the running statistics, after checking each (all or nothing)."""
        expected = {"running_mean", "running_var", "num_batches_tracked"}
        if not isinstance(state, dict) or set(state) != expected:
            got = f"the keys {sorted(state)!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
            raise ValueError(f"{self!r}: state must be a dict with the keys {sorted(expected)}, got {got}")
        arrays = {}
        for key in ("running_mean", "running_var"):
            what = f"{self!r} state {key!r}"
            value = as_float_array(what, state[key])
            if value.dtype != self.dtype or value.shape != (self.n_features,):
                raise ValueError(
                    f"{what} must be {self.dtype} of shape ({self.n_features},), "
                    f"got {value.dtype} of shape {value.shape}"
                )
            if not all_finite(value):
                raise ValueError(f"{what} must be finite")
            arrays[key] = value
        if (arrays["running_var"] < 0).any():
            raise ValueError(f"{self!r} state 'running_var' must be >= 0, got {float(arrays['running_var'].min())!r}")
        count = state["num_batches_tracked"]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"{self!r} state 'num_batches_tracked' must be an integer >= 0, got {count!r}")
        self.running_mean[...] = arrays["running_mean"]
        self.running_var[...] = arrays["running_var"]
        self.num_batches_tracked = int(count)

    def get_config(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "momentum": self.momentum, "eps": self.eps, "dtype": self.dtype.name}

    def extra_repr(self) -> str:
        parts = [str(self.n_features)]
        if self.momentum != 0.1:
            parts.append(f"momentum={self.momentum!r}")
        if self.eps != 1e-5:
            parts.append(f"eps={self.eps!r}")
        if self.dtype != np.float64:
            parts.append(f"dtype={dtype_repr(self.dtype)}")
        return ", ".join(parts)


def _normalise_batch(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``(x_hat, 1 / sqrt(var + eps), mean, var)`` of each column of ``x``, with the biased variance.

    The plain formulas first. Only if they overflow (columns near 1e154,
    whose squares do not fit, or spanning the whole float range) is each
    column beyond 1 recomputed divided by its largest magnitude :math:`s`, which
    bounds every term by 2: :math:`\hat x = (x/s - \mu/s) / \sqrt{\sigma^2/s^2 + \epsilon/s^2}`.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x.mean(axis=0)
        centred = x - mean
        var = np.mean(centred * centred, axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = centred * inv_std
        if all_finite(x_hat) and all_finite(var):
            return x_hat, inv_std, mean, var
    # Columns within [-1, 1] cannot overflow: left unscaled, as eps / s^2 would overflow for a tiny s.
    scale = np.maximum(np.max(np.abs(x), axis=0), 1.0)
    scaled = x / scale
    mean_s = scaled.mean(axis=0)
    centred = scaled - mean_s
    var_s = np.mean(centred * centred, axis=0)
    # eps / s^2 underflows to 0 for s beyond ~1e154; a floor keeps an all-equal column at 0, not 0/0.
    std_s = np.maximum(np.sqrt(var_s + eps / scale / scale), np.finfo(x.dtype).tiny)
    with np.errstate(over="ignore"):  # a variance beyond the float: the running update holds it at the top
        var = var_s * scale * scale
    return centred / std_s, 1.0 / (std_s * scale), mean_s * scale, var


def _input_grad(
    grad: np.ndarray, gamma: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, batch_statistics: bool
) -> np.ndarray:
    """dL/dx of a table (n, features) from ``grad`` = dL/dy, for batch or fixed (running) statistics."""
    d = grad * gamma  # D = dL/dx_hat
    if not batch_statistics:  # frozen: the statistics are constants, so x_hat is affine in x
        return inv_std * d
    # mu and sigma depend on every row: two column means carry that dependence.
    return inv_std * (d - d.mean(axis=0) - x_hat * np.mean(d * x_hat, axis=0))


def _standardise(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """``(x - mean) * inv_std``; halved first only when the difference of two huge values overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = (x - mean) * inv_std
        if all_finite(out):
            return out
        # (x/2 - mean/2) always fits; what overflows after this does not fit in the float at all.
        return (x * 0.5 - mean * 0.5) * inv_std * 2.0


class BatchNorm2D(BatchNorm):
    r"""Batch normalisation of each channel, as ``torch.nn.BatchNorm2d``.

    :class:`~minnet.BatchNorm` with the :math:`m = n H W` values of a channel
    (over the samples and the pixels) in the place of a feature's :math:`n`
    samples. For channel :math:`c`, in training:

    .. math:: \mu_c = \frac{1}{m}\sum_{n u v} x_{n c u v}, \quad
              \sigma_c^2 = \frac{1}{m}\sum_{n u v} (x_{n c u v} - \mu_c)^2
    .. math:: \hat x_{n c u v} = \frac{x_{n c u v} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \quad
              y_{n c u v} = \gamma_c \hat x_{n c u v} + \beta_c

    The running statistics move towards the batch's with the unbiased
    variance :math:`\frac{m}{m-1}\sigma_c^2`, and stand for :math:`\mu,
    \sigma^2` with ``training=False``. With :math:`G = \partial L/\partial y`,
    :math:`D = G \gamma` and :math:`\langle\cdot\rangle_c` the mean over
    :math:`n, u, v`:

    .. math:: \frac{\partial L}{\partial \gamma_c} = \sum_{n u v} G \hat x, \quad
              \frac{\partial L}{\partial \beta_c} = \sum_{n u v} G, \quad
              \frac{\partial L}{\partial x} = \frac{D - \langle D\rangle_c - \hat x\,\langle D \hat x\rangle_c}
              {\sqrt{\sigma_c^2 + \epsilon}}

    Parameters
    ----------
    channels : int
        :math:`C`, the channels of the input ``(n, C, H, W)``.
    momentum : float in [0, 1] or None, default 0.1
        As :class:`~minnet.BatchNorm`: PyTorch's convention, None for the cumulative average.
    eps : float > 0, default 1e-5
    dtype : np.float32 or np.float64, default np.float64

    Attributes
    ----------
    gamma, beta : Parameter of shape (channels,)
        PyTorch's ``weight`` and ``bias``.
    running_mean, running_var : ndarray of shape (channels,)
        State, not trained: saved, loaded and checkpointed as BatchNorm's.
    """

    #: A batch of one image has a variance over its pixels: training needs two values per channel, n H W >= 2.
    min_training_batch = 1

    def __init__(self, channels: int, momentum: float | None = 0.1, eps: float = 1e-5, dtype: Any = np.float64) -> None:
        super().__init__(check_int("channels", channels, low=1), momentum=momentum, eps=eps, dtype=dtype)

    @property
    def channels(self) -> int:
        return self.n_features

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself, a sample of shape ``(channels, H, W)``."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[0] != self.channels:
            raise ValueError(f"{self!r} expected samples of shape ({self.channels}, H, W), got shape {input_shape}")
        return input_shape

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = check_images(repr(self), x, self.channels)
        dtype = self.gamma.value.dtype  # not self.dtype: gradcheck holds the parameters in float64 for a while
        if x.dtype != dtype:
            raise TypeError(
                f"{self!r} holds {dtype} parameters, got {x.dtype} input; convert it with x.astype(np.{dtype.name})"
            )
        table = _channels_last(x)  # (n H W, C): a channel's values are a column, as a feature's in BatchNorm
        if training and self.trainable and len(table) < 2:
            raise ValueError(
                f"{self!r} needs more than 1 value per channel in training to compute a variance, "
                f"got a batch of shape {x.shape}; use more images per batch, or training=False"
            )
        x_hat, inv_std, batch_statistics = self._normalise(table, training)
        if training:
            self._cache = (x_hat, inv_std, batch_statistics, x.shape)
        with np.errstate(over="ignore"):  # only parameters beyond any sensible size overflow here
            return _channels_first(x_hat * self.gamma.value + self.beta.value, x.shape)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x_hat, inv_std, batch_statistics, shape = self._require_cache()
        table_grad = _channels_last(self._check_grad(grad, shape))
        self.gamma.grad[...] = np.sum(table_grad * x_hat, axis=0)  # dL/dgamma = sum G x_hat
        self.beta.grad[...] = np.sum(table_grad, axis=0)  # dL/dbeta = sum G
        if not need_input_grad:
            return None
        return _channels_first(_input_grad(table_grad, self.gamma.value, x_hat, inv_std, batch_statistics), shape)

    def input_shape(self) -> None:  # the channels are fixed, the height and width free
        return None

    def get_config(self) -> dict[str, Any]:
        return {"channels": self.channels, "momentum": self.momentum, "eps": self.eps, "dtype": self.dtype.name}


def _channels_last(x: np.ndarray) -> np.ndarray:
    """(n, C, H, W) -> (n H W, C), a copy."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _channels_first(table: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n H W, C) -> (n, C, H, W): the inverse of :func:`_channels_last`, a view."""
    n, c, h, w = shape
    return table.reshape(n, h, w, c).transpose(0, 3, 1, 2)


class LayerNorm(Layer):
    r"""Layer normalisation of each sample over its trailing axes, as ``torch.nn.LayerNorm``.

    Each sample's last ``len(normalized_shape)`` axes, :math:`m` values
    :math:`x_k`, are normalised with their own mean and biased variance, in
    training and in inference alike (no running statistics):

    .. math:: \mu = \frac{1}{m}\sum_k x_k, \quad
              \sigma^2 = \frac{1}{m}\sum_k (x_k - \mu)^2, \quad
              \hat x_k = \frac{x_k - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
              y_k = w_k \hat x_k + b_k

    With :math:`G = \partial L/\partial y`, :math:`D = G \odot w` and
    :math:`\langle\cdot\rangle` the mean over those :math:`m` values:

    .. math:: \frac{\partial L}{\partial w} = \sum_{\text{samples}} G \hat x, \qquad
              \frac{\partial L}{\partial b} = \sum_{\text{samples}} G, \qquad
              \frac{\partial L}{\partial x} = \frac{D - \langle D\rangle - \hat x\,\langle D \hat x\rangle}
              {\sqrt{\sigma^2 + \epsilon}}

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape normalised over: ``d`` for tables ``(n, d)`` or
        sequences ``(n, t, d)``, ``(C, H, W)`` for whole images.
    eps : float > 0, default 1e-5
        Added to the variance before the square root.
    elementwise_affine : bool, default True
        Whether to learn :math:`w` (ones at first) and :math:`b` (zeros);
        without them the layer has no parameters.
    dtype : np.float32 or np.float64, default np.float64
        The parameters' dtype, which the input must have (without
        parameters, any float input is computed in its own dtype).

    Attributes
    ----------
    weight, bias : Parameter of shape normalized_shape, or None without elementwise_affine
        PyTorch's ``weight`` and ``bias``.

    Notes
    -----
    The output is finite for any finite input: statistics that would
    overflow are computed on the values divided by their largest magnitude
    (as :class:`BatchNorm`'s), where PyTorch gives infinities and NaN.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        self.normalized_shape = check_shape("normalized_shape", normalized_shape)
        self.eps = check_real("eps", eps, low=0.0, low_inclusive=False)
        self.elementwise_affine = check_bool("elementwise_affine", elementwise_affine)
        self.dtype = check_dtype(dtype)
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, self.dtype), name="weight")
            self.bias = Parameter(np.zeros(self.normalized_shape, self.dtype), name="bias")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself, once it ends in ``normalized_shape``."""
        input_shape = tuple(input_shape)
        k = len(self.normalized_shape)
        if input_shape[len(input_shape) - k :] != self.normalized_shape:
            raise ValueError(
                f"{self!r} expected samples whose shape ends in {self.normalized_shape}, got shape {input_shape}"
            )
        return input_shape

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._check_input(x)
        rows = x.reshape(-1, math.prod(self.normalized_shape))  # one row per normalised group
        # _normalise_batch normalises columns: the transposed rows are views, not copies.
        x_hat, inv_std, _, _ = _normalise_batch(rows.T, self.eps)
        x_hat = x_hat.T.reshape(x.shape)
        if training:
            self._cache = (x_hat, inv_std)
        if self.weight is None or self.bias is None:
            return x_hat
        with np.errstate(over="ignore"):  # only parameters beyond any sensible size overflow here
            return x_hat * self.weight.value + self.bias.value

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._require_cache()
        grad = self._check_grad(grad, x_hat.shape)
        leading = tuple(range(grad.ndim - len(self.normalized_shape)))  # the axes summed over for w and b
        trailing = tuple(range(len(leading), grad.ndim))  # the axes of one group
        d = grad
        if self.weight is not None and self.bias is not None:
            self.weight.grad[...] = np.sum(grad * x_hat, axis=leading)  # dL/dw = sum G x_hat
            self.bias.grad[...] = np.sum(grad, axis=leading)  # dL/db = sum G
            d = grad * self.weight.value  # D = dL/dx_hat
        # mu and sigma depend on every value of the group: two group means carry that dependence.
        inv_std = inv_std.reshape(*x_hat.shape[: len(leading)], *(1,) * len(trailing))
        return inv_std * (
            d - d.mean(axis=trailing, keepdims=True) - x_hat * np.mean(d * x_hat, axis=trailing, keepdims=True)
        )

    def _check_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        k = len(self.normalized_shape)
        if x.ndim < k + 1 or x.shape[x.ndim - k :] != self.normalized_shape:
            raise ValueError(
                f"{self!r} expected a batch whose samples end in shape {self.normalized_shape}, "
                f"got an array of shape {x.shape}"
            )
        if self.weight is None:  # no parameters: any float input, computed in its own dtype
            return x if x.dtype.kind == "f" else x.astype(np.float64)
        dtype = self.weight.value.dtype  # not self.dtype: gradcheck holds the parameters in float64 for a while
        if x.dtype != dtype:
            raise TypeError(
                f"{self!r} holds {dtype} parameters, got {x.dtype} input; convert it with x.astype(np.{dtype.name})"
            )
        return x

    def parameters(self) -> list[Parameter]:
        return [] if self.weight is None or self.bias is None else [self.weight, self.bias]

    @classmethod
    def parameter_count(cls, config: dict[str, Any]) -> int | None:
        try:
            shape = check_shape("normalized_shape", config.get("normalized_shape"))
        except (TypeError, ValueError):
            return None  # the constructor's own checks refuse it, with their message
        return 2 * math.prod(shape) if config.get("elementwise_affine", True) is not False else 0

    def get_config(self) -> dict[str, Any]:
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
            "dtype": self.dtype.name,
        }

    def extra_repr(self) -> str:
        shape = self.normalized_shape
        parts = [str(shape[0]) if len(shape) == 1 else str(shape)]
        if self.eps != 1e-5:
            parts.append(f"eps={self.eps!r}")
        if not self.elementwise_affine:
            parts.append("elementwise_affine=False")
        if self.dtype != np.float64:
            parts.append(f"dtype={dtype_repr(self.dtype)}")
        return ", ".join(parts)
