"""Reductions that overflow only when their result does not fit (minnet/_numerics.py).

The class of failure: a mean of representable terms whose *sum* passes the
float's largest value. Each test compares with an exact reference computed
in Python's arbitrary-precision fractions, and runs under
``np.errstate(all="raise")``, so a warning fails it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rows import row
from test_properties import RAISE, arrays

import minnet as mn
from minnet._numerics import safe_column_mean_std, safe_mean, safe_mean_of_squares

MAX = float(np.finfo(np.float64).max)


def exact_mean(values) -> Fraction:
    values = [Fraction(float(v)) for v in np.ravel(values)]
    return sum(values) / len(values)


def as_float_or_inf(x: Fraction) -> float:
    return float(x) if abs(x) <= Fraction(MAX) else math.copysign(math.inf, x)


def close(a: float, b: Fraction, values=None) -> bool:
    """``a`` equals the exact ``b`` to rounding.

    For a mean of ``values`` of both signs, cancellation makes any float sum
    (numpy's included) err by up to about n eps mean|v|, however small the
    mean: that bound is added to the relative tolerance.
    """
    b_float = as_float_or_inf(b)
    if math.isinf(b_float):
        return a == b_float
    bound = 0.0
    if values is not None:
        n = np.size(values)
        bound = 4 * n * float(np.finfo(np.float64).eps) * float(exact_mean(np.abs(np.ravel(values))))
    return math.isclose(a, b_float, rel_tol=1e-12, abs_tol=1e-300 + bound)


@given(st.data(), st.integers(1, 6))
def test_safe_mean_is_the_exact_mean_for_any_finite_values(data, n):
    values = arrays(data.draw, (n,), np.float64)
    with np.errstate(**RAISE):
        assert close(safe_mean(values), exact_mean(values), values)


@given(st.data(), st.integers(1, 6))
def test_safe_mean_of_squares_is_finite_exactly_when_the_result_fits(data, n):
    values = arrays(data.draw, (n,), np.float64)
    with np.errstate(**RAISE):
        result = safe_mean_of_squares(values)
    exact = exact_mean([0.0]) + sum(Fraction(float(v)) ** 2 for v in values) / n
    # Near the boundary rounding may go either way; away from it the answer is exact.
    if abs(exact) < Fraction(MAX) * Fraction(999, 1000):
        assert math.isfinite(result) and close(result, exact)
    elif exact > Fraction(MAX) * Fraction(1001, 1000):
        assert result == math.inf


def test_the_plain_sums_overflow_where_the_safe_ones_do_not():
    values = np.array([1e308, 1.5e308, 1.7e308])
    with np.errstate(over="ignore"):
        assert np.isinf(np.mean(values)) and np.isinf(np.mean(np.array([1e154, 1.2e154]) ** 2))
    with np.errstate(**RAISE):
        assert safe_mean(values) == pytest.approx(1.4e308)
        assert safe_mean_of_squares(np.array([1e154, 1.2e154])) == pytest.approx(1.22e308)


def test_mse_of_values_near_1e154_is_finite_without_warnings():
    pred, target = np.array([[1.2e154], [-1.1e154]]), np.zeros((2, 1))
    with np.errstate(**RAISE):
        value = mn.MSE().forward(pred, target)
    assert value == pytest.approx(1.44e308 / 2 + 1.21e308 / 2)


def test_mse_that_does_not_fit_is_inf_without_warnings():
    with np.errstate(**RAISE):
        assert mn.MSE().forward([[1e300]], [[-1e300]]) == math.inf


@given(st.data(), st.integers(1, 5))
def test_bce_with_logits_is_finite_for_any_finite_logits(data, n):
    logits = arrays(data.draw, (n, 1), np.float64)
    target = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=n, max_size=n))).reshape(n, 1)
    with np.errstate(**RAISE):
        value = mn.BCE(from_logits=True).forward(logits, target)
    # max(z, 0) - z y is exact in fractions; log(1 + e^-|z|) is in (0, log 2], each term fits.
    softplus = np.log1p(np.exp(-np.abs(logits)))
    assert close(value, exact_mean(np.maximum(logits, 0) - logits * target) + exact_mean(softplus))


def test_bce_with_logits_at_1e308():
    with np.errstate(**RAISE):
        value = mn.BCE(from_logits=True).forward([[1e308], [1.5e308]], [0.0, 0.0])
    assert value == pytest.approx(1.25e308)


def test_standardizer_on_values_near_1e200_is_finite_and_exact():
    X = np.array([[1e200, 1.0], [3e200, 3.0], [2e200, 2.0]])
    with np.errstate(**RAISE):
        scaler = mn.data.Standardizer().fit(X)
        Z = scaler.transform(X)
    assert scaler.mean_ == pytest.approx([2e200, 2.0])
    assert scaler.scale_ == pytest.approx([math.sqrt(2 / 3) * 1e200, math.sqrt(2 / 3)])
    assert np.isfinite(Z).all() and Z[:, 0] == pytest.approx(Z[:, 1])


@given(st.data(), st.integers(1, 5), st.integers(1, 3))
def test_column_statistics_are_finite_and_exact_for_any_finite_data(data, n, k):
    X = arrays(data.draw, (n, k), np.float64)
    with np.errstate(**RAISE):
        mean, std = safe_column_mean_std(X)
    for j in range(k):
        column = X[:, j]
        assert close(float(mean[j]), exact_mean(column), column)
        # The population std is at most half the column's range, so it always fits.
        scale = Fraction(float(np.abs(column).max()) or 1.0)
        mu = exact_mean(column)
        variance = sum((Fraction(float(v)) - mu) ** 2 for v in column) / n
        reference = math.sqrt(float(variance / scale**2)) * float(scale)
        assert math.isfinite(std[j])
        assert math.isclose(std[j], reference, rel_tol=1e-9, abs_tol=1e-300 + 1e-12 * float(scale))


@row("reduce-overflow")
def test_evaluate_and_the_epoch_loss_on_huge_outputs_are_finite():
    """A model whose outputs are near 1e154 has a finite MSE; evaluate and fit report it."""
    X = np.full((8, 1), 1.0)
    model = mn.Sequential(mn.Dense(1, 1, bias=False, rng=0))
    model[0].W.value[...] = 1.3e154
    y = np.zeros(8)
    with np.errstate(**RAISE):
        scores = mn.evaluate(model, mn.MSE(), X, y)
    assert scores["loss"] == pytest.approx(1.69e308)
    history = mn.fit(
        model, mn.MSE(), mn.SGD(model.parameters(), lr=0.0), X, y, epochs=1, batch_size=3, shuffle=False, progress=False
    )
    assert history["loss"][0] == pytest.approx(1.69e308)
