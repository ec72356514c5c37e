"""The element-wise activations and Softmax, each derivative right under its function."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import (
    check_choice,
    check_int,
    check_real,
)
from .base import (
    Layer,
)

__all__ = ["ELU", "GELU", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Softplus", "Tanh", "sigmoid"]


def sigmoid(x: Any) -> np.ndarray:
    r"""The logistic sigmoid :math:`1 / (1 + e^{-x})` of each element, with no warning for any input.

    Parameters
    ----------
    x : array-like of any shape
        Integers are taken as float64.

    Returns
    -------
    ndarray of the input's shape, in its float dtype
    """
    # 1 / (1 + e^{-x}) is accurate to an ulp wherever e^{-x} is a normal float.
    # For x below about -709 (-88 in float32) e^{-x} overflows to inf and the
    # result is 0, within the smallest normal float of the exact value: only
    # numpy's overflow and underflow warnings are silenced. Four in-place
    # passes over one temporary; np.divide, as numpy does not vectorise np.reciprocal.
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    out = np.negative(x)
    with np.errstate(over="ignore", under="ignore"):
        np.exp(out, out=out)
        out += 1.0
        np.divide(1.0, out, out=out)
    return out


class _ElementWise(Layer):
    """A layer applied to each element on its own: any batch ``(n, *shape)``, the output of the same shape."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself."""
        return tuple(input_shape)


class Sigmoid(_ElementWise):
    r"""Logistic sigmoid, finite and without warnings for any input.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,(1 - \sigma(x))

    Caches only its output, since the derivative is a function of it.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out = sigmoid(x)
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
        return _relu(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._require_cache()
        grad = self._check_grad(grad, mask.shape)
        return grad * mask


def _relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` as a two-sided clip: numpy vectorises that one, not a maximum with a scalar.

    Equal to ``np.maximum(x, 0)`` for every input (NaN, infinities), but -0.0, which it keeps.
    """
    return x.clip(0, np.inf) if x.dtype.kind == "f" else np.maximum(x, 0)


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


class ELU(_ElementWise):
    r"""Exponential linear unit, as ``torch.nn.ELU``: smooth, with negative outputs down to :math:`-\alpha`.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0 \end{cases}, \qquad
              f'(x) = \begin{cases} 1 & x > 0 \\ \alpha\, e^{x} & x \le 0 \end{cases}

    Caches its input: :math:`\alpha e^x` from the input keeps its accuracy
    where :math:`f(x) + \alpha` would cancel.

    Parameters
    ----------
    alpha : float, default 1.0
        :math:`\alpha`, the value the output tends to as :math:`x \to -\infty` is :math:`-\alpha`.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_real("alpha", alpha)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _as_float(x)
        if training:
            self._cache = x
        # min(x, 0): e^x of a large positive x would overflow in the branch np.where discards.
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._require_cache()
        grad = self._check_grad(grad, x.shape)
        return np.where(x > 0, grad, grad * (self.alpha * np.exp(np.minimum(x, 0))))

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def extra_repr(self) -> str:
        return "" if self.alpha == 1.0 else f"alpha={self.alpha!r}"


class Softplus(_ElementWise):
    r"""A smooth ReLU, as ``torch.nn.Softplus``: linear again above a threshold.

    With :math:`z = \beta x`:

    .. math:: f(x) = \begin{cases} \frac{1}{\beta}\log(1 + e^{z}) & z \le t \\ x & z > t \end{cases},
              \qquad f'(x) = \begin{cases} \sigma(z) & z \le t \\ 1 & z > t \end{cases}

    :math:`\log(1 + e^z)` is computed as :math:`\max(z, 0) + \log(1 + e^{-|z|})`,
    which never overflows, so any finite input (and any threshold) is safe.

    Parameters
    ----------
    beta : float > 0, default 1.0
        :math:`\beta`: the larger, the closer to ReLU.
    threshold : float, default 20.0
        :math:`t`: above it the function is taken as linear (PyTorch's, for the same numbers).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = check_real("beta", beta, low=0.0, low_inclusive=False)
        self.threshold = check_real("threshold", threshold)

    def _scaled(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``z = beta x`` (infinite where it overflows: that is past any threshold) and the mask ``z > t``."""
        with np.errstate(over="ignore"):
            z = x * self.beta
        return z, z > self.threshold

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _as_float(x)
        z, linear = self._scaled(x)
        if training:
            self._cache = (z, linear)
        smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / self.beta
        return np.where(linear, x, smooth)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        z, linear = self._require_cache()
        grad = self._check_grad(grad, z.shape)
        return np.where(linear, grad, grad * sigmoid(z))

    def get_config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}

    def extra_repr(self) -> str:
        parts = [] if self.beta == 1.0 else [f"beta={self.beta!r}"]
        if self.threshold != 20.0:
            parts.append(f"threshold={self.threshold!r}")
        return ", ".join(parts)


# The tanh approximation's constants, as PyTorch's: sqrt(2 / pi) and the cubic's weight.
_GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)
_GELU_TANH_CUBIC = 0.044715
# |x| beyond which tanh(sqrt(2/pi) (x + 0.044715 x^3)) is +-1 to the last bit, and x^3 would
# overflow further out: clipping there changes nothing and keeps every power finite.
_GELU_TANH_CLIP = 10.0
# |x| beyond which the normal density e^{-x^2/2} is 0 to the last bit (x^2 overflows past 1e154).
_GELU_PDF_CLIP = 40.0


class GELU(_ElementWise):
    r"""Gaussian error linear unit, as ``torch.nn.GELU``: :math:`x` weighted by the normal probability below it.

    .. math:: f(x) = x\,\Phi(x), \qquad f'(x) = \Phi(x) + x\,\varphi(x)
    .. math:: \Phi(x) = \tfrac{1}{2}\operatorname{erfc}(-x/\sqrt{2}), \qquad
              \varphi(x) = \frac{e^{-x^2/2}}{\sqrt{2\pi}}

    With ``approximate="tanh"``, :math:`\Phi` is replaced by
    :math:`\tfrac{1}{2}(1 + \tanh u)`, :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`:

    .. math:: f(x) = \tfrac{x}{2}(1 + \tanh u)
    .. math:: f'(x) = \tfrac{1}{2}(1 + \tanh u) + \tfrac{x}{2}(1 - \tanh^2 u)\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)

    Caches its input. The exact form computes :math:`\Phi` with the C
    library's ``erfc`` one element at a time (numpy has no ``erf``), which is
    accurate to an ulp in both tails but slower than the tanh form.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        ``"none"`` for the exact :math:`\Phi`, ``"tanh"`` for the approximation (BERT's, GPT-2's).
    """

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = check_choice("approximate", approximate, ("none", "tanh"))

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _as_float(x)
        if training:
            self._cache = x
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(_gelu_tanh_argument(x)))
        return x * _normal_cdf(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._require_cache()
        grad = self._check_grad(grad, x.shape)
        if self.approximate == "tanh":
            near = np.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)  # where 1 - tanh^2 u is not exactly 0
            t = np.tanh(_gelu_tanh_argument(x))
            slope = _GELU_TANH_SCALE * (1.0 + 3.0 * _GELU_TANH_CUBIC * near * near)
            return grad * (0.5 * (1.0 + t) + 0.5 * near * (1.0 - t * t) * slope)
        near = np.clip(x, -_GELU_PDF_CLIP, _GELU_PDF_CLIP)
        pdf = np.exp(-0.5 * near * near) / math.sqrt(2.0 * math.pi)
        return grad * (_normal_cdf(x) + near * pdf)

    def get_config(self) -> dict[str, Any]:
        return {} if self.approximate == "none" else {"approximate": self.approximate}

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


def _gelu_tanh_argument(x: np.ndarray) -> np.ndarray:
    r""":math:`\sqrt{2/\pi}(x + 0.044715 x^3)`, on x clipped where the tanh of it is +-1 already."""
    x = np.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
    return _GELU_TANH_SCALE * (x + _GELU_TANH_CUBIC * x * x * x)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    r"""The standard normal distribution function :math:`\Phi(x) = \tfrac{1}{2}\operatorname{erfc}(-x/\sqrt{2})`.

    ``erfc`` rather than ``1 + erf`` keeps the relative accuracy where
    :math:`\Phi` is tiny (far below 0), where ``1 + erf`` cancels.

    Parameters
    ----------
    x : ndarray of any shape, float

    Returns
    -------
    ndarray of the input's shape and dtype
    """
    erfc = np.asarray(_ERFC(x * -math.sqrt(0.5)), dtype=x.dtype)  # from Python floats
    erfc *= 0.5
    return erfc


def _as_float(x: Any) -> np.ndarray:
    """``x`` as an array; integers become float64, as the other activations' results are floats."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


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
