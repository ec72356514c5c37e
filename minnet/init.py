"""Weight initialisers for :class:`minnet.Dense`.

Each initialiser is a function ``init(n_in, n_out, rng, dtype) -> ndarray``
returning a fresh array of shape ``(n_in, n_out)``. Users may pass any
callable with that signature as ``Dense(..., init=callable)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["INITIALIZERS", "he", "normal", "xavier"]

Initializer = Callable[[int, int, np.random.Generator, Any], np.ndarray]


def xavier(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    r"""Glorot uniform: keeps activation variance steady through sigmoid/tanh layers.

    .. math:: W_{ij} \sim \mathcal{U}(-a, a), \quad a = \sqrt{6 / (n_{in} + n_{out})}
    """
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype, copy=False)


def he(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    r"""He (Kaiming) normal: compensates for ReLU zeroing half its inputs.

    .. math:: W_{ij} \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \sqrt{2 / n_{in}}
    """
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype, copy=False)


def normal(n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    r"""Small random normal weights, as in the classic from-scratch network.

    .. math:: W_{ij} \sim \mathcal{N}(0, 0.01^2)
    """
    return (rng.standard_normal((n_in, n_out)) * 0.01).astype(dtype, copy=False)


INITIALIZERS: dict[str, Initializer] = {"xavier": xavier, "he": he, "normal": normal}
