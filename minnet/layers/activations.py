"""The element-wise activations and Softmax, each derivative right under its function."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    check_int,
    check_real,
)
from .base import (
    Layer,
)

__all__ = ["LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]

# |x| beyond which the sigmoid's input is clipped, by float size in bytes: e^bound
# stays below the largest float and e^-bound above the smallest normal one.
_SIGMOID_CLIP = {2: 11.0, 4: 87.0, 8: 700.0}


class _ElementWise(Layer):
    """A layer applied to each element on its own: any batch ``(n, *shape)``, the output of the same shape."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself."""
        return tuple(input_shape)


class Sigmoid(_ElementWise):
    r"""Logistic sigmoid, computed without overflow for any finite input.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,(1 - \sigma(x))

    Caches only its output, since the derivative is a function of it.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        # 1 / (1 + e^{-x}) is accurate to an ulp for every x where e^{-x} is a
        # normal float; it only overflows (x < -709) or underflows (x > 745)
        # beyond that. Clipping x to +-700 (+-87 in float32) keeps e^{-x} normal,
        # so nothing overflows, underflows or warns, and changes the result by
        # less than 1e-304 (2e-38 in float32): sigma(700) is 1.0 already, and
        # sigma(-700) = 1e-304 stands in for smaller values. Five in-place
        # passes over one temporary; this runs twice per step of the article's net.
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        bound = _SIGMOID_CLIP.get(x.dtype.itemsize, 700.0)  # wider floats reach past float64's range
        out = np.clip(x, -bound, bound)
        np.negative(out, out=out)
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        s = self._require_cache()
        grad = self._check_grad(grad, s.shape)
        result = np.subtract(1.0, s, dtype=s.dtype)  # one temporary, multiplied in place
        result *= s
        result *= grad
        return result


class Tanh(_ElementWise):
    r"""Hyperbolic tangent.

    .. math:: \tanh(x), \qquad \tanh'(x) = 1 - \tanh^2(x)
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out = np.tanh(np.asarray(x))
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        out = self._require_cache()
        grad = self._check_grad(grad, out.shape)
        return grad * (1.0 - out * out)


class ReLU(_ElementWise):
    r"""Rectified linear unit.

    .. math:: \mathrm{relu}(x) = \max(x, 0), \qquad \mathrm{relu}'(x) = [x > 0]

    Caches only the boolean mask :math:`[x > 0]`.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if training:
            self._cache = x > 0
        return np.maximum(x, 0)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._require_cache()
        grad = self._check_grad(grad, mask.shape)
        return grad * mask


class LeakyReLU(_ElementWise):
    r"""ReLU with a small slope for negative inputs, so no unit dies completely.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}, \qquad
              f'(x) = \begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}

    Parameters
    ----------
    negative_slope : float, default 0.01
        :math:`\alpha`, as ``torch.nn.LeakyReLU``.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = check_real("negative_slope", negative_slope, low=0.0)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        mask = x > 0
        if training:
            self._cache = mask
        return np.where(mask, x, x * self.negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._require_cache()
        grad = self._check_grad(grad, mask.shape)
        return np.where(mask, grad, grad * self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def extra_repr(self) -> str:
        return "" if self.negative_slope == 0.01 else f"negative_slope={self.negative_slope!r}"


class Softmax(Layer):
    r"""Softmax along one axis, the classes: each sample's scores there become a probability distribution.

    For a table ``(n, C)`` that is each row; for images ``(n, C, H, W)``
    (with the default ``axis=1``) each pixel's channels, as
    ``torch.nn.Softmax(dim=1)``. Along that axis, for each sample :math:`i`:

    .. math:: s_{ij} = \frac{e^{x_{ij} - m_i}}{\sum_k e^{x_{ik} - m_i}}, \qquad m_i = \max_k x_{ik}

    Subtracting the maximum changes nothing mathematically and keeps
    every exponent :math:`\le 0`, so nothing overflows for any finite input.
    With :math:`G = \partial L / \partial s`, the Jacobian-vector product is

    .. math:: \frac{\partial L}{\partial x_{ij}} = s_{ij}\Big(G_{ij} - \sum_k G_{ik}\, s_{ik}\Big)

    Caches only its output. Before :class:`~minnet.CrossEntropy` prefer raw
    scores (``from_logits=True``, the default) over a Softmax layer: the
    fused gradient is simpler and more accurate.

    Parameters
    ----------
    axis : int, default 1
        The axis of the batch holding the classes; negative counts from the
        end (``-1``: the last). 1 is the features of a table and the channels
        of an image, the class axis of :class:`~minnet.CrossEntropy`, and
        what PyTorch picks for 2-D and 4-D inputs when ``dim`` is not given.
        Axis 0 (the samples) is refused: one sample's output would depend on
        the others.
    """

    def __init__(self, axis: int = 1) -> None:
        self.axis = check_int("axis", axis)
        if self.axis == 0:
            raise ValueError("Softmax axis 0 is the samples of the batch; use axis=1 (the classes) or a later one")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself, once it has the axis."""
        input_shape = tuple(input_shape)
        ndim = len(input_shape) + 1  # the batch's axes, n included
        if not -ndim < self.axis < ndim or self.axis == 0:  # -ndim is axis 0 too
            raise ValueError(
                f"{self!r} cannot run along axis {self.axis} of a batch of shape "
                f"(n, {', '.join(map(str, input_shape))}): it is not an axis of the samples"
            )
        return input_shape

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        self.output_shape(x.shape[1:])
        axis = self.axis
        # x - max may be below -1.8e308 for scores spanning the whole float range;
        # -inf is then right, as e^-inf = 0 is the probability that rounds to.
        with np.errstate(over="ignore"):
            out = x - x.max(axis=axis, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=axis, keepdims=True)  # the maximum contributes 1: never 0
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        s = self._require_cache()
        grad = self._check_grad(grad, s.shape)
        return s * (grad - np.sum(grad * s, axis=self.axis, keepdims=True))

    def get_config(self) -> dict[str, Any]:
        return {} if self.axis == 1 else {"axis": self.axis}

    def extra_repr(self) -> str:
        return "" if self.axis == 1 else f"axis={self.axis}"
