"""BatchNorm2D: batch normalisation of each channel of an image batch (NCHW)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_int
from ._windows import check_images
from .layers import BatchNorm, _normalise_batch, _standardise

__all__ = ["BatchNorm2D"]


class BatchNorm2D(BatchNorm):
    r"""Batch normalisation of each channel, as ``torch.nn.BatchNorm2d``.

    :class:`~minnet.BatchNorm` with the :math:`m = n H W` values of a channel
    (over the samples and the pixels) in the place of a feature's :math:`n`
    samples. For channel :math:`c`, in training:

    .. math:: \mu_c = \frac{1}{m}\sum_{n u v} x_{n c u v}, \quad
              \sigma_c^2 = \frac{1}{m}\sum_{n u v} (x_{n c u v} - \mu_c)^2, \quad
              \hat x_{n c u v} = \frac{x_{n c u v} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \quad
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
        if training:
            if len(table) < 2:
                raise ValueError(
                    f"{self!r} needs more than 1 value per channel in training to compute a variance, "
                    f"got a batch of shape {x.shape}; use more images per batch, or training=False"
                )
            x_hat, inv_std, mean, var = _normalise_batch(table, self.eps)
            self._update_running(mean, var, len(table))
            self._cache = (x_hat, inv_std, x.shape)
        else:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            x_hat = _standardise(table, self.running_mean, inv_std)
        with np.errstate(over="ignore"):  # only parameters beyond any sensible size overflow here
            return _channels_first(x_hat * self.gamma.value + self.beta.value, x.shape)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x_hat, inv_std, shape = self._require_cache()
        grad = _channels_last(self._check_grad(grad, shape))
        self.gamma.grad[...] = np.sum(grad * x_hat, axis=0)  # dL/dgamma = sum G x_hat
        self.beta.grad[...] = np.sum(grad, axis=0)  # dL/dbeta = sum G
        if not need_input_grad:
            return None
        d = grad * self.gamma.value  # D = dL/dx_hat
        # mu and sigma depend on every value of the channel: two channel means carry that dependence.
        return _channels_first(inv_std * (d - d.mean(axis=0) - x_hat * np.mean(d * x_hat, axis=0)), shape)

    def in_features(self) -> None:  # type: ignore[override]  # BatchNorm's is a table's width; this has none
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
