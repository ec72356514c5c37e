"""Sliding windows over images: what convolution and pooling share.

An image batch is ``(n, C, H, W)`` (NCHW). A layer slides a ``kh x kw``
window with strides ``(sh, sw)`` over the input padded by ``((top, bottom),
(left, right))``; :func:`windows` gives every window as a view and
:func:`col2im` adds gradients given per window back onto the padded image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Pads",
    "as_pair",
    "check_images",
    "col2im",
    "pad_images",
    "pair_repr",
    "unpad_images",
    "window_output_hw",
    "windows",
]

#: Padding of the two spatial axes: ``((top, bottom), (left, right))``.
Pads = tuple[tuple[int, int], tuple[int, int]]


def as_pair(name: str, value: Any, *, low: int) -> tuple[int, int]:
    """``value`` as ``(height, width)``: an int for both, or a pair (tuple or list) of ints, each >= ``low``."""
    items = list(value) if isinstance(value, (tuple, list)) else [value, value]
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{name} must be an integer or a pair of integers, got {value!r}")
    if min(items) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(items[0]), int(items[1])


def pair_repr(pair: tuple[int, int]) -> str:
    """``3`` for ``(3, 3)``, ``(3, 5)`` otherwise: how a constructor call would write it."""
    return str(pair[0]) if pair[0] == pair[1] else str(pair)


def window_output_hw(
    who: str, input_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int], pads: Pads
) -> tuple[int, int]:
    r"""Output height and width of windows sliding over one ``(C, H, W)`` sample.

    .. math:: H_{out} = \left\lfloor \frac{H + p_{top} + p_{bottom} - k_h}{s_h} \right\rfloor + 1

    Raises a ValueError naming the layer ``who`` and both shapes when the
    window is larger than the padded input (the output would be empty).
    """
    padded = tuple(size + before + after for size, (before, after) in zip(input_shape[1:], pads))
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(
            f"{who}: a {kernel[0]}x{kernel[1]} window does not fit an input of shape {tuple(input_shape)} "
            f"padded to {padded[0]}x{padded[1]}; the output would be empty"
        )
    return (padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1


def check_images(who: str, x: Any, channels: int | None = None) -> np.ndarray:
    """``x`` as an ndarray of shape ``(n, C, H, W)``, or a ValueError naming the layer ``who`` and the shape."""
    x = np.asarray(x)
    expected = f"(n, {channels}, H, W)" if channels is not None else "(n, C, H, W)"
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        raise ValueError(f"{who} expected a batch of images of shape {expected}, got an array of shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who} expected floating-point images, got dtype {x.dtype}")
    return x


def pad_images(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """``x`` of shape (n, C, H, W) padded on its last two axes with ``value`` (itself when there is no padding)."""
    if not any(pads[0] + pads[1]):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=value)


def unpad_images(x: np.ndarray, pads: Pads) -> np.ndarray:
    """The inverse of :func:`pad_images`: the view of ``x`` without its border."""
    (top, bottom), (left, right) = pads
    return x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right]


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Every window of the (padded) images ``x``, as a read-only view, no copy.

    Parameters
    ----------
    x : ndarray of shape (n, C, H, W)
    kernel, stride : pairs of int

    Returns
    -------
    ndarray of shape (n, C, H_out, W_out, kh, kw)
        ``out[:, :, i, j]`` is the window whose top-left corner is ``(i sh, j sw)``.
    """
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def col2im(d: np.ndarray, padded_hw: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Add per-window values back onto the image they came from: the adjoint of :func:`windows`.

    Parameters
    ----------
    d : ndarray of shape (n, C, kh, kw, H_out, W_out)
        ``d[:, :, a, b, i, j]`` belongs to pixel ``(i sh + a, j sw + b)``.
    padded_hw : pair of int
        Height and width of the padded image.
    stride : pair of int

    Returns
    -------
    ndarray of shape (n, C, H_padded, W_padded)
        Each pixel holds the sum over every window that covers it.
    """
    n, c, kh, kw, oh, ow = d.shape
    (sh, sw), (hp, wp) = stride, padded_hw
    out = np.zeros((n, c, hp, wp), d.dtype)
    # One strided add per kernel offset (kh kw of them), not one per window (H_out W_out).
    for a in range(kh):
        for b in range(kw):
            out[:, :, a : a + sh * (oh - 1) + 1 : sh, b : b + sw * (ow - 1) + 1 : sw] += d[:, :, a, b]
    return out
