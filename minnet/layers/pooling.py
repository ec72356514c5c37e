"""Pooling of image batches (NCHW): MaxPool2D, AvgPool2D, GlobalAvgPool2D."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._windows import (
    as_pair,
    check_images,
    col2im,
    pad_images,
    pair_repr,
    unpad_images,
    window_output_hw,
    windows,
)
from .base import Layer

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "MaxPool2D"]


class _Pool2D(Layer):
    """What max and average pooling share: the window, its checks, config and repr."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        self.kernel_size = as_pair("kernel_size", kernel_size, low=1)
        self.stride = self.kernel_size if stride is None else as_pair("stride", stride, low=1)
        self.padding = as_pair("padding", padding, low=0)
        if self.padding[0] > self.kernel_size[0] // 2 or self.padding[1] > self.kernel_size[1] // 2:
            # A window of padding alone would have no input to pool (PyTorch refuses it too).
            raise ValueError(
                f"padding must be at most half the kernel size, got padding={pair_repr(self.padding)} "
                f"for kernel_size={pair_repr(self.kernel_size)}"
            )
        self.pads = ((self.padding[0],) * 2, (self.padding[1],) * 2)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(C, H_out, W_out)`` for one sample of shape ``(C, H, W)``; the channels pass through."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} expected samples of shape (C, H, W), got shape {input_shape}")
        return (input_shape[0], *window_output_hw(repr(self), input_shape, self.kernel_size, self.stride, self.pads))

    def _check(self, x: Any) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """``x`` as images and the shape of the output, or the error naming this layer."""
        x = check_images(repr(self), x)
        return x, (len(x), *self.output_shape(x.shape[1:]))

    def get_config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    def extra_repr(self) -> str:
        parts = [pair_repr(self.kernel_size)]
        if self.stride != self.kernel_size:
            parts.append(f"stride={pair_repr(self.stride)}")
        if self.padding != (0, 0):
            parts.append(f"padding={pair_repr(self.padding)}")
        return ", ".join(parts)


class MaxPool2D(_Pool2D):
    r"""The largest value of each window, per channel, as ``torch.nn.MaxPool2d``.

    .. math:: y_{n c i j} = \max_{a, b}\; x^p_{n,\, c,\, i s_h + a,\, j s_w + b}, \qquad
              \frac{\partial L}{\partial x^p_{n c u v}} = \sum_{(i, j):\ (u, v) = \arg\max} G_{n c i j}

    The gradient of each output goes to the one input that was the window's
    maximum (overlapping windows may send several to the same input, which
    adds them). On a tie it goes to the first maximum in row-major order,
    where PyTorch sends it. The padding :math:`x^p` is :math:`-\infty`, so it
    is never the maximum.

    Parameters
    ----------
    kernel_size : int or pair of int
    stride : int, pair of int or None, default None
        None is the kernel size: windows side by side.
    padding : int or pair of int, default 0
        At most half the kernel size.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x, out_shape = self._check(x)
        padded = pad_images(x, self.pads, -np.inf)
        shifts = self._shifts(out_shape)
        # The max over the window is the max over its kh kw shifted views: kh kw passes, no argmax.
        first_rows, first_cols = shifts[0]
        out = padded[..., first_rows, first_cols].copy()
        for rows, cols in shifts[1:]:
            np.maximum(out, padded[..., rows, cols], out=out)
        if training:
            self._cache = (padded, out)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        padded, out = self._require_cache()
        grad = self._check_grad(grad, out.shape)
        d_padded = np.zeros(padded.shape, grad.dtype)
        unsent = np.ones(out.shape, bool)  # windows whose gradient has not found its maximum yet
        side_by_side = all(s >= k for s, k in zip(self.stride, self.kernel_size))
        for rows, cols in self._shifts(out.shape):  # row-major: a tie sends G to its first maximum
            hit = np.equal(padded[..., rows, cols], out)
            hit &= unsent
            unsent ^= hit
            if side_by_side:  # each input pixel is in one window: write, do not add
                np.multiply(grad, hit, out=d_padded[..., rows, cols])
            else:
                d_padded[..., rows, cols] += grad * hit
        return unpad_images(d_padded, self.pads)

    def _shifts(self, out_shape: tuple[int, ...]) -> list[tuple[slice, slice]]:
        """For each offset ``(a, b)`` of the window, row-major: the slices of the padded image that
        hold pixel ``(i s_h + a, j s_w + b)`` at output position ``(i, j)``."""
        (kh, kw), (sh, sw), (h_out, w_out) = self.kernel_size, self.stride, out_shape[2:]
        return [
            (slice(a, a + sh * (h_out - 1) + 1, sh), slice(b, b + sw * (w_out - 1) + 1, sw))
            for a in range(kh)
            for b in range(kw)
        ]


class AvgPool2D(_Pool2D):
    r"""The mean of each window, per channel, as ``torch.nn.AvgPool2d`` (padding counted, its default).

    .. math:: y_{n c i j} = \frac{1}{k_h k_w} \sum_{a, b} x^p_{n,\, c,\, i s_h + a,\, j s_w + b}, \qquad
              \frac{\partial L}{\partial x^p_{n c u v}} = \frac{1}{k_h k_w}
              \sum_{(i, j) \text{ covering } (u, v)} G_{n c i j}

    The padding :math:`x^p` is zeros, counted in the mean
    (``count_include_pad=True``).

    Parameters
    ----------
    kernel_size : int or pair of int
    stride : int, pair of int or None, default None
        None is the kernel size: windows side by side.
    padding : int or pair of int, default 0
        At most half the kernel size.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x, _ = self._check(x)
        out = windows(pad_images(x, self.pads), self.kernel_size, self.stride).mean(axis=(4, 5))
        if training:
            self._cache = x.shape
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x_shape = self._require_cache()
        n, c, oh, ow = x_shape[0], *self.output_shape(x_shape[1:])
        grad = self._check_grad(grad, (n, c, oh, ow))
        kh, kw = self.kernel_size
        # Every pixel of a window gets the same share of its G: a broadcast view, no copy.
        d_windows = np.broadcast_to((grad / (kh * kw))[:, :, None, None], (n, c, kh, kw, oh, ow))
        padded_hw = (x_shape[2] + 2 * self.padding[0], x_shape[3] + 2 * self.padding[1])
        return unpad_images(col2im(d_windows, padded_hw, self.stride), self.pads)


class GlobalAvgPool2D(Layer):
    r"""The mean of each channel over the whole image: ``(n, C, H, W) -> (n, C)``.

    Equals ``torch.nn.AdaptiveAvgPool2d(1)`` followed by ``torch.nn.Flatten()``.

    .. math:: y_{n c} = \frac{1}{H W} \sum_{u, v} x_{n c u v}, \qquad
              \frac{\partial L}{\partial x_{n c u v}} = \frac{G_{n c}}{H W}
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int]:
        """``(C,)`` for one sample of shape ``(C, H, W)``."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or 0 in input_shape[1:]:
            raise ValueError(f"{self!r} expected samples of shape (C, H, W), got shape {input_shape}")
        return (input_shape[0],)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = check_images(repr(self), x)
        self.output_shape(x.shape[1:])
        if training:
            self._cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x_shape = self._require_cache()
        grad = self._check_grad(grad, x_shape[:2])
        dx = np.empty(x_shape, grad.dtype)
        dx[...] = (grad / (x_shape[2] * x_shape[3]))[:, :, None, None]
        return dx
