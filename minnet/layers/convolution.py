"""Conv2D: a 2-D convolution of image batches (NCHW), as one matrix product."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import init as initializers
from .. import regularizers
from .._validation import as_generator, check_bool, check_choice, check_int
from ._windows import (
    Pads,
    as_pair,
    check_images,
    col2im,
    pad_images,
    pair_repr,
    unpad_images,
    window_output_hw,
    windows,
)
from .base import Layer, Parameter, check_dtype, dtype_repr

__all__ = ["Conv2D"]


class Conv2D(Layer):
    r"""2-D convolution (cross-correlation, as ``torch.nn.Conv2d``) of a batch of images.

    Each output channel :math:`o` slides a :math:`C \times k_h \times k_w`
    filter over the input :math:`x` zero-padded to :math:`x^p`, with strides
    :math:`(s_h, s_w)`:

    .. math:: y_{n o i j} = b_o + \sum_{c, a, b} W_{o c a b}\; x^p_{n,\, c,\, i s_h + a,\, j s_w + b}

    Laying every window out as a column (im2col),
    :math:`X_{(c a b),\,(n i j)} = x^p_{n, c, i s_h + a, j s_w + b}`, turns the
    sum into one matrix product, and the backward into two more, with
    :math:`G = \partial L / \partial y` laid out as a matrix
    :math:`G_{o,\,(n i j)}`:

    .. math:: Y = W X + b, \qquad
              \frac{\partial L}{\partial W} = G X^\top, \quad
              \frac{\partial L}{\partial b_o} = \textstyle\sum_{n i j} G_{o, (n i j)}, \quad
              \frac{\partial L}{\partial X} = W^\top G

    and :math:`\partial L / \partial x` adds each column of
    :math:`\partial L / \partial X` back onto the pixels its window covered
    (col2im), then drops the padding.

    Parameters
    ----------
    in_channels, out_channels : int
        :math:`C` and the number of filters.
    kernel_size : int or pair of int
        :math:`(k_h, k_w)`; an int for a square kernel.
    stride : int or pair of int, default 1
    padding : int, pair of int, "valid" or "same", default 0
        Zeros added on each side (``(top and bottom, left and right)`` for a
        pair). ``"valid"`` is 0; ``"same"`` (stride 1 only) keeps the height
        and width, padding one more at the bottom and right for an even
        kernel, as PyTorch.
    bias : bool, default True
    init : str or callable, default "he"
        A name in :data:`minnet.init.INITIALIZERS` or a callable such as
        ``mn.init.Orthogonal(gain=2.0)``.
        A callable is called ``init(fan_in, fan_out, rng, dtype, shape=W.shape)``
        with PyTorch's fans, ``fan_in = C k_h k_w`` and ``fan_out = out_channels k_h k_w``.
    seed : int, np.random.Generator or None
        The same seed gives bit-identical weights.
    dtype : np.float32 or np.float64, default np.float64
    kernel_regularizer, bias_regularizer : Regularizer, optional
        A penalty on ``W`` or ``b`` that the training step adds to the loss,
        as :class:`~minnet.Dense`'s.

    Attributes
    ----------
    W : Parameter of shape (out_channels, in_channels, kh, kw)
        PyTorch's ``weight``.
    b : Parameter of shape (out_channels,) or None
        PyTorch's ``bias``; zeros at first.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        init: str | Callable = "he",
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
        *,
        kernel_regularizer: regularizers.Regularizer | None = None,
        bias_regularizer: regularizers.Regularizer | None = None,
    ) -> None:
        self.in_channels = check_int("in_channels", in_channels, low=1)
        self.out_channels = check_int("out_channels", out_channels, low=1)
        self.kernel_size = as_pair("kernel_size", kernel_size, low=1)
        self.stride = as_pair("stride", stride, low=1)
        self.padding: tuple[int, int] | str = _check_padding(padding, self.stride)
        self.pads = _pads(self.padding, self.kernel_size)
        bias = check_bool("bias", bias)
        self.kernel_regularizer = regularizers.get("kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizers.get("bias_regularizer", bias_regularizer)
        if self.bias_regularizer is not None and not bias:
            raise ValueError("bias_regularizer needs a bias: the layer was given bias=False")
        if not callable(init):
            check_choice("init", init, tuple(initializers.INITIALIZERS))
        self.init = init
        self.dtype = check_dtype(dtype)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.W = Parameter(np.zeros(shape, self.dtype), name="W")
        self.b = Parameter(np.zeros(self.out_channels, self.dtype), name="b") if bias else None
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw fresh weights with this layer's initialiser and zero the bias."""
        kh, kw = self.kernel_size
        fans = (self.in_channels * kh * kw, self.out_channels * kh * kw)  # PyTorch's fan_in and fan_out
        generator = as_generator("seed", seed)
        weights = initializers.draw_weights(self.init, fans, self.W.shape, generator, self.dtype, repr(self))
        self.W.value[...] = weights
        if self.b is not None:
            self.b.value[...] = 0

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(out_channels, H_out, W_out)`` for one sample of shape ``(in_channels, H, W)``."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise ValueError(f"{self!r} expected samples of shape ({self.in_channels}, H, W), got shape {input_shape}")
        return (self.out_channels, *window_output_hw(repr(self), input_shape, self.kernel_size, self.stride, self.pads))

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = check_images(repr(self), x, self.in_channels)
        dtype = self.W.value.dtype  # not self.dtype: gradcheck holds the weights in float64 for a while
        if x.dtype != dtype:
            raise TypeError(
                f"{self!r} holds {dtype} weights, got {x.dtype} input; convert it with x.astype(np.{dtype.name})"
            )
        _, oh, ow = self.output_shape(x.shape[1:])
        xp = pad_images(x, self.pads)
        cols = _im2col(xp, self.kernel_size, self.stride)  # X: (C kh kw, n H_out W_out)
        out = self.W.value.reshape(self.out_channels, -1) @ cols  # Y = W X
        if self.b is not None:
            out += self.b.value[:, None]  # + b
        if training:
            self._cache = (cols, x.shape, xp.shape)
        return _columns_to_images(out, len(x), oh, ow)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        cols, x_shape, padded_shape = self._require_cache()
        n, oh, ow = x_shape[0], *self.output_shape(x_shape[1:])[1:]
        grad = self._check_grad(grad, (n, self.out_channels, oh, ow))
        g = _images_to_columns(grad)  # G: (out, n H_out W_out)
        self.W.grad[...] = (g @ cols.T).reshape(self.W.shape)  # dL/dW = G X^T
        if self.b is not None:
            self.b.grad[...] = g.sum(axis=1)  # dL/db = sum over n, i, j of G
        if not need_input_grad:
            return None
        d_cols = self.W.value.reshape(self.out_channels, -1).T @ g  # dL/dX = W^T G
        c, (kh, kw) = self.in_channels, self.kernel_size
        d_windows = d_cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
        return unpad_images(col2im(d_windows, padded_shape[2:], self.stride), self.pads)

    def parameters(self) -> list[Parameter]:
        return [self.W] if self.b is None else [self.W, self.b]

    @classmethod
    def parameter_count(cls, config: dict[str, Any]) -> int | None:
        try:
            c_in = check_int("in_channels", config.get("in_channels"), low=1)
            c_out = check_int("out_channels", config.get("out_channels"), low=1)
            kh, kw = as_pair("kernel_size", config.get("kernel_size"), low=1)
        except (TypeError, ValueError):
            return None  # the constructor's own checks refuse it, with their message
        return c_out * c_in * kh * kw + (c_out if config.get("bias", True) is not False else 0)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "bias": self.b is not None,
            "dtype": self.dtype.name,
        }
        if isinstance(self.init, str):
            config["init"] = self.init
        config.update({name: reg.get_config() for name, (_, reg) in self._regularized().items()})
        return config

    def penalties(self) -> list[tuple[Parameter, regularizers.Regularizer]]:
        return list(self._regularized().values())

    def _regularized(self) -> dict[str, tuple[Parameter, regularizers.Regularizer]]:
        return regularizers.layer_regularizers(self.W, self.kernel_regularizer, self.b, self.bias_regularizer)

    def extra_repr(self) -> str:
        parts = [str(self.in_channels), str(self.out_channels), pair_repr(self.kernel_size)]
        if self.stride != (1, 1):
            parts.append(f"stride={pair_repr(self.stride)}")
        if self.padding not in ((0, 0), "valid"):
            shown = repr(self.padding) if isinstance(self.padding, str) else pair_repr(self.padding)
            parts.append(f"padding={shown}")
        if self.b is None:
            parts.append("bias=False")
        if self.init != "he":
            name = self.init if isinstance(self.init, str) else getattr(self.init, "__name__", self.init)
            parts.append(f"init={name!r}" if isinstance(self.init, str) else f"init={name}")
        if self.dtype != np.float64:
            parts.append(f"dtype={dtype_repr(self.dtype)}")
        parts += [f"{name}={reg!r}" for name, (_, reg) in self._regularized().items()]
        return ", ".join(parts)


def _check_padding(padding: Any, stride: tuple[int, int]) -> tuple[int, int] | str:
    """``padding`` as a pair of ints, or the string ``"valid"`` or ``"same"``."""
    if isinstance(padding, str):
        check_choice("padding", padding, ("valid", "same"))
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"padding='same' needs stride=1 (as in PyTorch), got stride={pair_repr(stride)}")
        return padding
    return as_pair("padding", padding, low=0)


def _pads(padding: tuple[int, int] | str, kernel: tuple[int, int]) -> Pads:
    """``((top, bottom), (left, right))``; "same" pads ``k - 1`` in all, the odd one at the end, as PyTorch."""
    if padding == "same":
        return ((kernel[0] - 1) // 2, kernel[0] // 2), ((kernel[1] - 1) // 2, kernel[1] // 2)
    ph, pw = padding if isinstance(padding, tuple) else (0, 0)  # "valid"
    return (ph, ph), (pw, pw)


def _im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The windows of ``xp`` (n, C, H, W) as the columns of one matrix of shape (C kh kw, n H_out W_out).

    Channels and kernel offsets first: the forward and both products of the
    backward are then each one large matrix product, about twice as fast as a
    product per sample (see the commit adding this layer for the timings).
    """
    view = windows(xp, kernel, stride)  # (n, C, H_out, W_out, kh, kw)
    n, c, oh, ow, kh, kw = view.shape
    return np.ascontiguousarray(view.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, n * oh * ow)


def _columns_to_images(out: np.ndarray, n: int, oh: int, ow: int) -> np.ndarray:
    """(channels, n H_out W_out) -> (n, channels, H_out, W_out), contiguous."""
    return np.ascontiguousarray(out.reshape(-1, n, oh, ow).transpose(1, 0, 2, 3))


def _images_to_columns(images: np.ndarray) -> np.ndarray:
    """(n, channels, H, W) -> (channels, n H W): the inverse of :func:`_columns_to_images`."""
    return np.ascontiguousarray(images.transpose(1, 0, 2, 3)).reshape(images.shape[1], -1)
