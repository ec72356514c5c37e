"""Weight initialisers for :class:`minnet.Dense` and :class:`minnet.Conv2D`.

Each initialiser is a function ``init(n_in, n_out, rng, dtype) -> ndarray``
returning a fresh array of shape ``(n_in, n_out)``. Users may pass any
callable with that signature as ``Dense(..., init=callable)``.

A convolution's weights are not a matrix: :class:`~minnet.Conv2D` calls
``init(fan_in, fan_out, rng, dtype, shape=W.shape)``, with the fans as
PyTorch counts them (``in_channels * kh * kw`` and ``out_channels * kh * kw``),
and the built-in initialisers draw an array of that ``shape``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["INITIALIZERS", "draw_weights", "he", "normal", "xavier"]

Initializer = Callable[..., np.ndarray]


def xavier(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    r"""Glorot uniform: keeps activation variance steady through sigmoid/tanh layers.

    .. math:: W_{ij} \sim \mathcal{U}(-a, a), \quad a = \sqrt{6 / (n_{in} + n_{out})}
    """
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=shape or (n_in, n_out)).astype(dtype, copy=False)


def he(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    r"""He (Kaiming) normal: compensates for ReLU zeroing half its inputs.

    .. math:: W_{ij} \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \sqrt{2 / n_{in}}
    """
    return (rng.standard_normal(shape or (n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype, copy=False)


def normal(
    n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    r"""Small random normal weights, as in the classic from-scratch network.

    .. math:: W_{ij} \sim \mathcal{N}(0, 0.01^2)
    """
    return (rng.standard_normal(shape or (n_in, n_out)) * 0.01).astype(dtype, copy=False)


INITIALIZERS: dict[str, Initializer] = {"xavier": xavier, "he": he, "normal": normal}


def draw_weights(
    init: str | Initializer,
    fans: tuple[int, int],
    shape: tuple[int, ...],
    generator: np.random.Generator,
    dtype: Any,
    who: str,
) -> np.ndarray:
    """Weights drawn by ``init`` (a name in :data:`INITIALIZERS` or a callable), checked before use.

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
    ndarray of shape ``shape``
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
