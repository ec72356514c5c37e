"""Reductions that do not overflow when their result fits in the float.

A mean of values near the top of the float range overflows in its running
sum although the mean itself is representable (the mean of [1e308, 1e308]
is 1e308, the sum is inf), and a variance of values near 1e200 overflows in
its squares. Both are computed the fast way first; only when that gives a
non-finite result are they recomputed on values divided by their largest
magnitude, which bounds every term by 1. The fast path is the only path for
ordinary data, so its numbers are numpy's own, to the last bit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["safe_column_mean_std", "safe_mean", "safe_mean_of_squares"]


def _largest_magnitude(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    scale = np.max(np.abs(values), axis=axis)
    return np.where(scale > 0, scale, 1.0)  # an all-zero array needs no scaling


def safe_mean(values: np.ndarray) -> float:
    r"""The mean of every element, finite whenever it fits in a float64.

    .. math:: \bar v = s \cdot \frac{1}{N}\sum_i \frac{v_i}{s}, \qquad s = \max_i |v_i|

    (only when the plain float64 mean overflows).

    Parameters
    ----------
    values : ndarray of any shape, finite

    Returns
    -------
    float
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # np.mean's own steps (one float64 sum, one division), without its Python overhead:
        # on the article's batches the loss is a few microseconds, and this runs every step.
        mean = float(np.add.reduce(values, axis=None, dtype=np.float64)) / values.size
    if math.isfinite(mean):
        return mean
    scale = float(_largest_magnitude(values))
    return float(np.mean(values / scale, dtype=np.float64)) * scale


def safe_mean_of_squares(values: np.ndarray) -> float:
    r"""The mean of the squared elements; ``inf`` (with no warning) only when it exceeds float64.

    .. math:: \overline{v^2} = \Big(\frac{1}{N}\sum_i \big(\tfrac{v_i}{s}\big)^2 \cdot s\Big) \cdot s,
              \qquad s = \max_i |v_i|

    (only when the plain mean overflows; multiplying by ``s`` twice keeps
    :math:`s^2` itself from overflowing when the result fits).

    Parameters
    ----------
    values : ndarray of any shape

    Returns
    -------
    float
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(values * values, dtype=np.float64))
        if np.isfinite(mean) or not np.isfinite(values).all():
            return mean
        scale = float(_largest_magnitude(values))
        scaled = values / scale
        return float(np.mean(scaled * scaled, dtype=np.float64)) * scale * scale


def safe_column_mean_std(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-column mean and population standard deviation in float64, finite and accurate whenever they fit.

    A column whose squares would overflow or underflow (largest magnitude
    above 1e150 or below 1e-150) is computed divided by its largest
    magnitude :math:`s`: :math:`\mu = s\,\mathrm{mean}(x/s)`,
    :math:`\sigma = s\,\mathrm{std}(x/s)`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), finite

    Returns
    -------
    mean, std : ndarray of shape (n_features,), float64
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
    # Squares overflow for values beyond ~1e154 and underflow (a std of 3e-213 computed
    # as 0) below ~1e-154: such columns are scaled, ordinary ones keep numpy's numbers.
    largest = np.max(np.abs(X), axis=0).astype(np.float64)  # the statistics are float64
    bad = ~(np.isfinite(mean) & np.isfinite(std)) | (largest > 1e150) | ((largest < 1e-150) & (largest > 0))
    if bad.any():
        columns = X[:, bad].astype(np.float64)
        scale = _largest_magnitude(columns, axis=0)
        scaled = columns / scale
        mean[bad] = scaled.mean(axis=0) * scale
        std[bad] = scaled.std(axis=0) * scale
    return mean, std
