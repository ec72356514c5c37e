"""BCE and MSE: values, gradients, shapes and the checks on their inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minnet as mn

LOSSES = [mn.BCE, lambda: mn.BCE(from_logits=True), mn.MSE]


def _bce(p: float, y: float) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


# -- values ---------------------------------------------------------------------

def test_bce_value_by_hand():
    p, y = [[0.9], [0.2], [0.6]], [[1.0], [0.0], [1.0]]
    expected = (_bce(0.9, 1) + _bce(0.2, 0) + _bce(0.6, 1)) / 3
    assert mn.BCE().forward(p, y) == pytest.approx(expected, rel=1e-15)


def test_bce_gradient_by_hand():
    loss = mn.BCE()
    loss.forward([[0.9], [0.2]], [[1.0], [0.0]])
    # d/dp of -(y log p + (1-y) log(1-p)), divided by N = 2
    np.testing.assert_allclose(loss.backward(), [[-1 / 0.9 / 2], [1 / 0.8 / 2]], rtol=1e-14)


def test_bce_from_logits_equals_bce_of_sigmoid(rng):
    z = rng.standard_normal((6, 2)) * 3
    y = (rng.random((6, 2)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-z))
    logits, probs = mn.BCE(from_logits=True), mn.BCE()
    assert logits.forward(z, y) == pytest.approx(probs.forward(p, y), rel=1e-13)
    np.testing.assert_allclose(logits.backward(), probs.backward() * p * (1 - p), rtol=1e-11)


def test_bce_from_logits_gradient_is_sigmoid_minus_target():
    loss = mn.BCE(from_logits=True)
    loss.forward([[0.0], [2.0]], [[1.0], [0.0]])
    s = 1 / (1 + math.exp(-2.0))
    np.testing.assert_allclose(loss.backward(), [[(0.5 - 1) / 2], [s / 2]], rtol=1e-15)


def test_bce_from_logits_is_finite_for_huge_logits():
    loss = mn.BCE(from_logits=True)
    value = loss.forward([[1e4], [-1e4], [800.0]], [[0.0], [1.0], [1.0]])
    assert value == pytest.approx((1e4 + 1e4 + 0.0) / 3, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[1 / 3], [-1 / 3], [0.0]], rtol=1e-15)


def test_bce_clamps_log_at_minus_100():
    # p = 0 with y = 1 costs exactly 100 (torch's clamp), not inf.
    assert mn.BCE().forward([[0.0], [1.0]], [[1.0], [1.0]]) == pytest.approx(50.0, rel=1e-15)


def test_bce_accepts_soft_targets_like_torch():
    assert mn.BCE().forward([[0.5]], [[0.3]]) == pytest.approx(math.log(2), rel=1e-15)


def test_mse_value_and_gradient_by_hand():
    loss = mn.MSE()
    value = loss.forward([[1.0, 2.0], [3.0, 5.0]], [[0.0, 2.0], [1.0, 1.0]])
    assert value == pytest.approx((1 + 0 + 4 + 16) / 4, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.5, 0.0], [1.0, 2.0]], rtol=1e-15)


@pytest.mark.parametrize("make", LOSSES)
def test_forward_returns_a_python_float(make):
    value = make().forward([[0.3], [0.6]], [[0.0], [1.0]])
    assert type(value) is float


@pytest.mark.parametrize("make", LOSSES)
def test_gradient_has_the_shape_of_pred(make, rng):
    loss = make()
    loss.forward(rng.random((5, 3)), (rng.random((5, 3)) > 0.5).astype(float))
    assert loss.backward().shape == (5, 3)


@pytest.mark.parametrize("make", LOSSES)
def test_loss_is_a_mean_so_duplicating_the_batch_changes_nothing(make, rng):
    p, y = rng.random((4, 1)), (rng.random((4, 1)) > 0.5).astype(float)
    assert make().forward(np.vstack([p, p]), np.vstack([y, y])) == pytest.approx(make().forward(p, y), rel=1e-14)


@pytest.mark.parametrize("make", LOSSES)
def test_float32_loss_gradient_stays_float32(make):
    loss = make()
    loss.forward(np.array([[0.3], [0.6]], np.float32), np.array([0.0, 1.0], np.float32))
    assert loss.backward().dtype == np.float32


# -- target shapes ----------------------------------------------------------------

@pytest.mark.parametrize("make", LOSSES)
def test_flat_target_is_reshaped_for_a_single_output(make, rng):
    p, y = rng.random((5, 1)), (rng.random(5) > 0.5).astype(float)
    flat, column = make(), make()
    assert flat.forward(p, y) == column.forward(p, y.reshape(5, 1))
    np.testing.assert_array_equal(flat.backward(), column.backward())
    assert flat.backward().shape == (5, 1)


@pytest.mark.parametrize("make", LOSSES)
@pytest.mark.parametrize("pred_shape, target_shape", [
    ((5, 1), (1, 5)), ((5, 1), (4,)), ((5, 1), (5, 5)), ((5, 2), (5,)), ((5, 2), (5, 1)), ((5, 1), (5, 1, 1)),
])
def test_mismatched_target_shape_raises_instead_of_broadcasting(make, pred_shape, target_shape):
    with pytest.raises(ValueError, match="shape"):
        make().forward(np.full(pred_shape, 0.5), np.zeros(target_shape))


@pytest.mark.parametrize("make", LOSSES)
def test_pred_must_be_2d(make):
    with pytest.raises(ValueError, match="2-D"):
        make().forward(np.full(5, 0.5), np.zeros(5))


# -- values the losses refuse ------------------------------------------------------

@pytest.mark.parametrize("make", [mn.BCE, lambda: mn.BCE(from_logits=True)])
@pytest.mark.parametrize("bad", [2.0, -1.0, 1.0001])
def test_bce_refuses_targets_outside_0_1(make, bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make().forward([[0.5], [0.5]], [[0.0], [bad]])


@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_bce_on_probabilities_refuses_values_outside_0_1(bad):
    with pytest.raises(ValueError, match="from_logits=True"):
        mn.BCE().forward([[0.5], [bad]], [[0.0], [1.0]])


def test_bce_from_logits_accepts_any_real_score():
    assert mn.BCE(from_logits=True).forward([[-3.0], [7.0]], [[0.0], [1.0]]) > 0


@pytest.mark.parametrize("make", LOSSES)
@pytest.mark.parametrize("where", ["pred", "target"])
def test_nan_input_raises(make, where):
    p, y = np.full((2, 1), 0.5), np.zeros((2, 1))
    (p if where == "pred" else y)[1, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        make().forward(p, y)


def test_bce_refuses_non_bool_from_logits():
    with pytest.raises(TypeError, match="from_logits"):
        mn.BCE(from_logits="yes")


@pytest.mark.parametrize("make", LOSSES)
def test_backward_before_forward_raises(make):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward()


def test_reprs_read_like_code():
    assert [repr(mn.BCE()), repr(mn.BCE(from_logits=True)), repr(mn.MSE())] == [
        "BCE()", "BCE(from_logits=True)", "MSE()"]
