"""Flatten and Reshape: the same values of each sample, laid out in another shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Layer

__all__ = ["Flatten", "Reshape"]


class _SampleReshape(Layer):
    r"""A layer that gives each sample another shape: the backward gives the gradient the input's shape back.

    .. math:: y = \mathrm{reshape}(x), \qquad \frac{\partial L}{\partial x} = \mathrm{reshape}^{-1}(G)
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"{self!r} expected a batch of shape (n, *shape), got an array of shape {x.shape}")
        out = x.reshape(len(x), *self.output_shape(x.shape[1:]))
        if training:
            self._cache = x.shape
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x_shape = self._require_cache()
        grad = self._check_grad(grad, (x_shape[0], *self.output_shape(x_shape[1:])))
        return grad.reshape(x_shape)


class Flatten(_SampleReshape):
    """Each sample as one row of features: ``(n, *shape) -> (n, prod(shape))``, as ``torch.nn.Flatten()``.

    The values are taken in row-major (C) order, so ``(n, C, H, W)``
    becomes ``(n, C H W)`` with the channel varying slowest, as in PyTorch.
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int]:
        """``(prod(input_shape),)``."""
        return (math.prod(input_shape),)


class Reshape(_SampleReshape):
    """Each sample reshaped to ``shape`` (the batch axis is kept), as ``x.reshape(n, *shape)``.

    Parameters
    ----------
    shape : int or tuple of int
        The shape of one output sample. One entry may be -1: the size left
        over, as in numpy and PyTorch. ``Reshape((1, 28, 28))`` turns rows
        of 784 pixels into one-channel images.
    """

    def __init__(self, shape: int | tuple[int, ...]) -> None:
        items = list(shape) if isinstance(shape, (tuple, list)) else [shape]
        if not items or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
            raise TypeError(f"shape must be an integer or a tuple of integers, got {shape!r}")
        if any(v < 1 and v != -1 for v in items) or items.count(-1) > 1:
            raise ValueError(f"shape must hold sizes >= 1 and at most one -1, got {tuple(items)!r}")
        self.shape = tuple(int(v) for v in items)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``shape`` with its -1 resolved, or a ValueError if a sample of ``input_shape`` does not hold its size."""
        size, known = math.prod(input_shape), math.prod(v for v in self.shape if v != -1)
        if -1 in self.shape and size % known == 0:
            return tuple(size // known if v == -1 else v for v in self.shape)
        if -1 not in self.shape and size == known:
            return self.shape
        wanted = f"a multiple of {known}" if -1 in self.shape else str(known)
        raise ValueError(
            f"{self!r} cannot reshape samples of shape {tuple(input_shape)} ({size} values) "
            f"to {self.shape} ({wanted} values)"
        )

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def extra_repr(self) -> str:
        return repr(self.shape)
