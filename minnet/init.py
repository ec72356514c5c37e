"""Weight initialisers for :class:`minnet.Dense` and :class:`minnet.Conv2D`.

Each initialiser is a callable ``init(n_in, n_out, rng, dtype) -> ndarray``
returning a fresh array of shape ``(n_in, n_out)``. Users may pass any
callable with that signature as ``Dense(..., init=callable)``, or a name of
:data:`INITIALIZERS`; the initialisers that take an argument are classes
(``Orthogonal(gain=2.0)``, ``Constant(0.1)``) whose instances are such
callables.

A convolution's weights are not a matrix: :class:`~minnet.Conv2D` calls
``init(fan_in, fan_out, rng, dtype, shape=W.shape)``, with the fans as
PyTorch counts them for a kernel of shape ``(out, in, kh, kw)``:
``fan_in = in * kh * kw`` and ``fan_out = out * kh * kw``. The built-in
initialisers draw an array of that ``shape``.

Each draws from the distribution the PyTorch function named in its
docstring draws from (``torch.nn.init``), with fans counted the same way:
minnet's ``Dense`` weight ``(n_in, n_out)`` is the transpose of torch's
``Linear.weight`` ``(out, in)``, so ``fan_in`` is ``n_in`` in both. Keras'
``glorot_normal``, ``he_normal`` and ``lecun_normal`` draw from a
*truncated* normal instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_real

__all__ = [
    "INITIALIZERS",
    "Constant",
    "Orthogonal",
    "draw_weights",
    "he",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "xavier",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Initializer = Callable[..., np.ndarray]
Shape = tuple[int, ...] | None


def _uniform(limit: float, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any, shape: Shape) -> np.ndarray:
    """Draws from :math:`\\mathcal{U}(-\\text{limit}, \\text{limit})`."""
    return rng.uniform(-limit, limit, size=shape or (n_in, n_out)).astype(dtype, copy=False)


def _normal(std: float, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any, shape: Shape) -> np.ndarray:
    """Draws from :math:`\\mathcal{N}(0, \\text{std}^2)`."""
    return (rng.standard_normal(shape or (n_in, n_out)) * std).astype(dtype, copy=False)


def xavier(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None) -> np.ndarray:
    r"""Glorot uniform: keeps activation variance steady through sigmoid/tanh layers.

    ``torch.nn.init.xavier_uniform_``; also named ``"xavier_uniform"``.

    .. math:: W_{ij} \sim \mathcal{U}(-a, a), \quad a = \sqrt{6 / (n_{in} + n_{out})}
    """
    return _uniform(math.sqrt(6.0 / (n_in + n_out)), n_in, n_out, rng, dtype, shape)


def xavier_normal(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
) -> np.ndarray:
    r"""Glorot normal, ``torch.nn.init.xavier_normal_``.

    .. math:: W_{ij} \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \sqrt{2 / (n_{in} + n_{out})}
    """
    return _normal(math.sqrt(2.0 / (n_in + n_out)), n_in, n_out, rng, dtype, shape)


def he(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None) -> np.ndarray:
    r"""He (Kaiming) normal: compensates for ReLU zeroing half its inputs.

    ``torch.nn.init.kaiming_normal_`` (fan_in mode, ReLU gain
    :math:`\sqrt 2`); also named ``"he_normal"``.

    .. math:: W_{ij} \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \sqrt{2 / n_{in}}
    """
    return _normal(math.sqrt(2.0 / n_in), n_in, n_out, rng, dtype, shape)


def he_uniform(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
) -> np.ndarray:
    r"""He (Kaiming) uniform, ``torch.nn.init.kaiming_uniform_`` (fan_in mode, ReLU gain :math:`\sqrt 2`).

    .. math:: W_{ij} \sim \mathcal{U}(-a, a), \quad a = \sqrt{6 / n_{in}}
    """
    return _uniform(math.sqrt(6.0 / n_in), n_in, n_out, rng, dtype, shape)


def lecun_uniform(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
) -> np.ndarray:
    r"""LeCun uniform, for SELU and linear layers: ``kaiming_uniform_`` with ``nonlinearity="linear"`` (gain 1).

    .. math:: W_{ij} \sim \mathcal{U}(-a, a), \quad a = \sqrt{3 / n_{in}}
    """
    return _uniform(math.sqrt(3.0 / n_in), n_in, n_out, rng, dtype, shape)


def lecun_normal(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
) -> np.ndarray:
    r"""LeCun normal: ``kaiming_normal_`` with ``nonlinearity="linear"`` (gain 1).

    .. math:: W_{ij} \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \sqrt{1 / n_{in}}
    """
    return _normal(math.sqrt(1.0 / n_in), n_in, n_out, rng, dtype, shape)


def normal(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None) -> np.ndarray:
    r"""Small random normal weights, as in the classic from-scratch network.

    .. math:: W_{ij} \sim \mathcal{N}(0, 0.01^2)
    """
    return _normal(0.01, n_in, n_out, rng, dtype, shape)


def zeros(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None) -> np.ndarray:
    """All zeros, ``torch.nn.init.zeros_`` (every unit then learns the same thing: for tests and heads)."""
    return np.zeros(shape or (n_in, n_out), dtype)


xavier_uniform = xavier
he_normal = he


class Constant:
    """Every weight ``value``, ``torch.nn.init.constant_``.

    Parameters
    ----------
    value : float
    """

    def __init__(self, value: float) -> None:
        self.value = check_real("value", value)

    def __call__(
        self, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
    ) -> np.ndarray:
        return np.full(shape or (n_in, n_out), self.value, dtype)

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class Orthogonal:
    r"""A (semi-)orthogonal matrix times ``gain``, ``torch.nn.init.orthogonal_`` (Saxe et al., 2014).

    The weights, seen as a matrix of ``shape[0]`` rows (a kernel
    ``(out, in, kh, kw)`` as ``out`` rows of ``in * kh * kw``), are the
    :math:`Q` of the QR decomposition of a standard normal matrix, its
    columns' signs set by :math:`\operatorname{sign}(\operatorname{diag} R)`
    so that :math:`Q` is uniformly distributed among orthogonal matrices.
    Its rows are orthonormal when there are fewer rows than columns, else
    its columns: :math:`W^\top W = g^2 I` or :math:`W W^\top = g^2 I`.

    Parameters
    ----------
    gain : float, default 1.0
        :math:`g`, a finite real number.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = check_real("gain", gain)

    def __call__(
        self, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: Shape = None
    ) -> np.ndarray:
        shape = shape or (n_in, n_out)
        rows = shape[0]
        cols = math.prod(shape[1:])
        a = rng.standard_normal((rows, cols))
        tall = a if rows >= cols else a.T  # QR of the tall way round: Q then has orthonormal columns
        q, r = np.linalg.qr(tall)
        q *= np.sign(np.diag(r))  # without it, Q's distribution depends on the QR routine's sign convention
        q = q if rows >= cols else q.T
        return (self.gain * q).reshape(shape).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Orthogonal(gain={self.gain!r})"


INITIALIZERS: dict[str, Initializer] = {
    "xavier": xavier,
    "he": he,
    "normal": normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": Orthogonal(),
    "zeros": zeros,
}
"""The initialisers by name, as ``Dense(..., init=name)`` and ``Conv2D(..., init=name)`` take them."""


def draw_weights(
    init: str | Initializer,
    fans: tuple[int, int],
    shape: tuple[int, ...],
    generator: np.random.Generator,
    dtype: Any,
    who: str,
) -> np.ndarray:
    """Weights drawn by ``init`` (a name in ``INITIALIZERS`` or a callable), checked before use.

    Parameters
    ----------
    init : str or callable
        ``init(fan_in, fan_out, rng, dtype)`` returns the weights; for a
        shape other than ``(fan_in, fan_out)`` it is called with ``shape=``.
    fans : (int, int)
        ``(fan_in, fan_out)`` as PyTorch counts them.
    shape : tuple of int
        The shape the weights must have.
    generator : numpy.random.Generator
    dtype : numpy dtype
    who : str
        The layer, as its error messages name it.

    Returns
    -------
    ndarray of the shape asked for
        Finite numbers (any real dtype; the caller copies them into its weights).
    """
    make = init if callable(init) else INITIALIZERS[init]
    extra = {} if shape == fans else {"shape": shape}  # a matrix init need not know about shapes
    weights = np.asarray(make(*fans, generator, dtype, **extra))
    if weights.shape != shape or weights.dtype.kind not in "biuf":
        raise ValueError(
            f"init for {who} must return numbers of shape {shape}, got {weights.dtype} of shape {weights.shape}"
        )
    if not np.isfinite(weights).all():
        raise ValueError(f"init for {who} returned NaN or infinite weights")
    return weights
