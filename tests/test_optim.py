"""Optimizers: each update rule by hand, validation, schedules, refused steps, state, Ctrl-C in a commit."""

from __future__ import annotations

import math
import os
import signal
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import row

import minnet as mn
from minnet import optim
from minnet.optim import NonFiniteUpdate


def _param(value, grad) -> mn.Parameter:
    p = mn.Parameter(np.array(value, dtype=float))
    p.grad[...] = grad
    return p


# -- the update rule, computed by hand ------------------------------------------------


def test_plain_sgd_step():
    p = _param([1.0, -2.0], [0.5, 1.0])
    mn.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.value, [1.0 - 0.05, -2.0 - 0.1], rtol=1e-15)


def test_sgd_updates_in_place():
    p = _param([1.0], [1.0])
    array = p.value
    mn.SGD([p], lr=0.1).step()
    assert p.value is array


def test_lr_zero_leaves_parameters_unchanged():
    p = _param([1.0, 2.0], [3.0, 4.0])
    mn.SGD([p], lr=0.0).step()
    np.testing.assert_array_equal(p.value, [1.0, 2.0])


def test_momentum_two_steps():
    p = _param([1.0], [1.0])
    opt = mn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # v = g = 1;           theta = 1 - 0.1
    p.grad[...] = 2.0
    opt.step()  # v = 0.9 * 1 + 2 = 2.9; theta = 0.9 - 0.29
    assert p.value[0] == pytest.approx(0.9 - 0.29, rel=1e-15)
    assert opt.buffers[0][0] == pytest.approx(2.9, rel=1e-15)


def test_dampening_scales_new_gradient_but_not_the_first():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=1.0, momentum=0.5, dampening=0.5)
    opt.step()  # v = 1 (torch: no dampening on the first step)
    opt.step()  # v = 0.5 * 1 + 0.5 * 1 = 1
    assert p.value[0] == pytest.approx(-2.0, rel=1e-15)


def test_nesterov_two_steps():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=1.0, momentum=0.5, nesterov=True)
    opt.step()  # v = 1;           step = g + 0.5 v = 1.5
    opt.step()  # v = 0.5 + 1 = 1.5; step = 1 + 0.75 = 1.75
    assert p.value[0] == pytest.approx(-3.25, rel=1e-15)


def test_weight_decay_adds_l2_gradient():
    p = _param([2.0], [0.0])
    mn.SGD([p], lr=0.5, weight_decay=0.1).step()  # d = 0 + 0.1 * 2
    assert p.value[0] == pytest.approx(2.0 - 0.5 * 0.2, rel=1e-15)


# -- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(lr=-0.1), ValueError, "lr must be >= 0.0, got -0.1"),
        (dict(lr=float("nan")), ValueError, "lr must be finite"),
        (dict(lr="0.1"), TypeError, "lr must be a float or a schedule"),
        (dict(lr=0.1, momentum=1.0), ValueError, "momentum must be < 1.0"),
        (dict(lr=0.1, momentum=1.5), ValueError, "momentum"),
        (dict(lr=0.1, momentum=-0.1), ValueError, "momentum"),
        (dict(lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
        (dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.1), ValueError, "dampening == 0"),
        (dict(lr=0.1, nesterov=1), TypeError, "nesterov"),
        (dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
        (dict(lr=0.1, dampening=1.5), ValueError, "dampening"),
    ],
)
def test_sgd_refuses_bad_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.SGD([mn.Parameter([1.0])], **kwargs)


def test_sgd_refuses_empty_params():
    with pytest.raises(ValueError, match="empty"):
        mn.SGD([], lr=0.1)


def test_sgd_refuses_the_parameters_of_a_layerless_model():
    with pytest.raises(ValueError, match="empty"):
        mn.SGD(mn.Sequential(mn.ReLU()).parameters(), lr=0.1)


def test_sgd_refuses_duplicate_params():
    p = mn.Parameter([1.0])
    with pytest.raises(ValueError, match="twice"):
        mn.SGD([p, mn.Parameter([2.0]), p], lr=0.1)


@pytest.mark.parametrize("bad", [[np.ones(2)], 3, [None]])
def test_sgd_refuses_non_parameters(bad):
    with pytest.raises(TypeError, match="Parameter"):
        mn.SGD(bad, lr=0.1)


def test_sgd_accepts_a_generator_of_params():
    model = mn.Dense(2, 2)
    assert mn.SGD(iter(model.parameters()), lr=0.1).params == model.parameters()


# -- step counter and schedules ---------------------------------------------------


def test_step_counter_advances_once_per_step():
    opt = mn.SGD([_param([1.0], [1.0])], lr=0.1)
    assert opt.step_count == 0
    for _ in range(3):
        opt.step()
    assert opt.step_count == 3


def test_schedule_is_called_with_the_number_of_steps_taken():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1 * (step + 1)

    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=schedule)
    for _ in range(3):
        opt.step()
    assert seen == [0, 1, 2]
    assert p.value[0] == pytest.approx(-(0.1 + 0.2 + 0.3), rel=1e-14)


def test_current_lr_is_the_rate_of_the_next_step():
    opt = mn.SGD([_param([0.0], [1.0])], lr=lambda step: 1.0 / (step + 1))
    opt.step()
    assert opt.current_lr == 0.5


def test_momentum_schedule_is_evaluated_per_step():
    seen = []
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=1.0, momentum=lambda step: seen.append(step) or 0.5)
    opt.step()
    opt.step()
    assert seen == [0, 1] and p.value[0] == pytest.approx(-2.5, rel=1e-15)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "fast", None])
def test_schedule_returning_a_bad_rate_raises_and_changes_nothing(value):
    p = _param([1.0], [1.0])
    opt = mn.SGD([p], lr=lambda step: value)
    with pytest.raises(ValueError, match="step 0"):
        opt.step()
    assert p.value[0] == 1.0 and opt.step_count == 0


# -- non-finite updates ---------------------------------------------------------------


def test_non_finite_update_raises_and_changes_nothing():
    a, b = _param([1.0, 2.0], [0.1, 0.2]), _param([3.0], [0.3])
    opt = mn.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()
    values = [a.value.copy(), b.value.copy()]
    buffers = [buf.copy() for buf in opt.buffers]
    b.grad[...] = np.inf  # the first parameter's update is fine; only the second is bad
    with pytest.raises(NonFiniteUpdate, match="step 1"):
        opt.step()
    assert opt.step_count == 1
    for p, v in zip([a, b], values):
        np.testing.assert_array_equal(p.value, v)
    for buf, saved in zip(opt.buffers, buffers):
        np.testing.assert_array_equal(buf, saved)


def test_overflowing_update_raises():
    p = _param([1e308], [-1e308])
    with pytest.raises(FloatingPointError):
        mn.SGD([p], lr=10.0).step()
    assert p.value[0] == 1e308


@pytest.mark.parametrize("dtype, enough", [(np.float64, True), (np.float32, True), (np.float16, False)])
def test_a_finite_sum_of_squares_bounds_the_step_only_where_the_float_is_wide_enough(dtype, enough):
    # sqrt(max) against half the spacing of the floats next to max: 2**512 < 2**970, 2**64 < 2**103, 256 > 16
    assert optim._squares_bound_steps(np.dtype(dtype)) is enough


def _edges(dtype) -> list[float]:
    """0, 1, the smallest normal, the largest float, the largest whose square is finite, with their signs."""
    info = np.finfo(dtype)
    root = np.sqrt(info.max)
    with np.errstate(over="ignore"):
        while not np.isfinite(root * root):
            root = np.nextafter(root, dtype(0))
    magnitudes = [0.0, 1.0, float(info.tiny), float(info.max), float(root), float(root) * 1.01]
    return [sign * m for m in magnitudes for sign in (1.0, -1.0)]


def _extreme_floats(dtype):
    info = np.finfo(dtype)
    return st.sampled_from(_edges(dtype)) | st.floats(-float(info.max), float(info.max), width=info.bits)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_check_on_the_step_alone_is_exact_at_the_edges_of_the_float(dtype):
    for value in _edges(dtype):
        for step in [*_edges(dtype), np.inf, np.nan]:
            v, s = np.array([value], dtype), np.array([step], dtype)
            with np.errstate(over="ignore", invalid="ignore"):
                assert optim._update_is_finite(v, s) == bool(np.isfinite(v - s).all()), (value, step)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from([np.float16, np.float32, np.float64]))
def test_the_check_on_the_step_alone_is_exact_for_finite_values(data, dtype):
    n = data.draw(st.integers(1, 4))
    value = np.array(data.draw(st.lists(_extreme_floats(dtype), min_size=n, max_size=n)), dtype)
    step = np.array(data.draw(st.lists(_extreme_floats(dtype) | st.just(np.inf), min_size=n, max_size=n)), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        assert optim._update_is_finite(value, step) == bool(np.isfinite(value - step).all())


@row("step-non-finite-parameter")
def test_a_parameter_made_non_finite_from_outside_is_not_checked_again():
    # The check reads the candidate step alone: a finite step is taken, the NaN stays, the rest moves.
    p = _param([np.nan, 1.0], [0.5, 0.5])
    opt = mn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    assert np.isnan(p.value[0]) and p.value[1] == 1.0 - 0.05 and opt.step_count == 1


@row("step-non-finite-parameter")
def test_fit_refuses_a_model_made_non_finite_before_any_update():
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((8, 3)), gen.integers(0, 2, 8).astype(float)
    model = mn.Sequential(mn.Dense(3, 2, seed=0), mn.Sigmoid(), mn.Dense(2, 1, seed=1), mn.Sigmoid())
    model[0].W.value[0, 1] = np.inf  # the saturated sigmoid keeps the output, and the loss, finite
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"parameter 0\.W must be finite, got inf at index \(0, 1\)"):
        mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), X, y, epochs=1, progress=False)
    for p, value in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, value)


# -- state ---------------------------------------------------------------------------


def test_state_dict_round_trip_continues_identically(rng):
    def make():
        model = mn.Dense(3, 2, rng=0)
        return model, mn.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    grads = [rng.standard_normal((3, 2)) for _ in range(6)]
    model_a, opt_a = make()
    model_b, opt_b = make()
    model_a.b.grad[...] = 0.0  # only W's gradient is varied; b's must still be written once
    model_b.b.grad[...] = 0.0
    for g in grads[:3]:
        model_a.W.grad[...] = g
        opt_a.step()
    state = opt_a.state_dict()
    model_b.W.value[...] = model_a.W.value
    model_b.b.value[...] = model_a.b.value
    opt_b.load_state_dict(state)
    assert opt_b.step_count == 3
    for g in grads[3:]:
        model_a.W.grad[...] = g
        model_b.W.grad[...] = g
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(model_a.W.value, model_b.W.value)
    np.testing.assert_array_equal(model_a.b.value, model_b.b.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: mn.SGD(ps, lr=0.1, weight_decay=0.1),
        lambda ps: mn.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: mn.Adam(ps, weight_decay=0.1),
        lambda ps: mn.AdamW(ps),
        lambda ps: mn.RMSprop(ps, weight_decay=0.1),
    ],
)
def test_a_step_before_any_backward_is_refused_and_changes_nothing(make):
    model = mn.Sequential(mn.Dense(3, 4, seed=0), mn.ReLU(), mn.Dense(4, 1, seed=1))
    optimizer = make(model.parameters())
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(mn.optim.NonFiniteUpdate, match=r"parameter W \(3, 4\) .* no backward has written it yet"):
        optimizer.step()
    for p, value in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, value)
    assert optimizer.step_count == 0
    # after a backward the same optimizer steps, and every parameter moves
    x = np.random.default_rng(0).standard_normal((5, 3))
    model.forward(x, training=True)
    model.backward(np.ones((5, 1)))
    optimizer.step()
    assert optimizer.step_count == 1
    assert all(not np.array_equal(p.value, value) for p, value in zip(model.parameters(), before))


def test_a_parameter_outside_the_backward_is_named_and_nothing_moves():
    trained, forgotten = mn.Dense(2, 1, seed=0), mn.Dense(2, 1, seed=1)
    optimizer = mn.SGD(trained.parameters() + forgotten.parameters(), lr=0.1)
    trained.forward(np.ones((3, 2)), training=True)
    trained.backward(np.ones((3, 1)))
    forgotten.W.name = "forgotten_W"
    before = trained.W.value.copy()
    with pytest.raises(mn.optim.NonFiniteUpdate, match=r"parameter forgotten_W \(2, 1\) .* no backward has written"):
        optimizer.step()
    np.testing.assert_array_equal(trained.W.value, before)  # the trained layer's finite step is not taken either


def test_an_overflowing_first_gradient_is_divergence():
    model = mn.Sequential(mn.Dense(1, 1, seed=0), mn.Dense(1, 1, seed=1))
    model[0].W.value[...] = 1e-300
    model[1].W.value[...] = 1e308  # the output is finite; dL/dh = G * 1e308 overflows in backward
    with pytest.raises(mn.TrainingDiverged) as info:
        mn.fit(
            model,
            mn.MSE(),
            mn.SGD(model.parameters(), lr=0.1),
            np.zeros((4, 1)),
            np.full(4, 100.0),
            epochs=1,
            progress=False,
        )
    assert "or it overflowed" in str(info.value)  # a NaN gradient is not called a missing backward alone


def test_state_dict_is_a_copy():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    state = opt.state_dict()
    opt.step()
    assert state["step_count"] == 1 and state["momentum_buffer"][0][0] == 1.0


def test_load_state_dict_refuses_wrong_buffer_count():
    opt = mn.SGD([mn.Parameter([1.0]), mn.Parameter([2.0])], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="2 parameters"):
        opt.load_state_dict({"step_count": 0, "momentum_buffer": [None]})


def test_load_state_dict_refuses_wrong_buffer_shape():
    opt = mn.SGD([mn.Parameter([1.0, 2.0])], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict({"step_count": 0, "momentum_buffer": [np.zeros(3)]})


def test_repr_names_the_hyperparameters():
    opt = mn.SGD(mn.Dense(2, 2).parameters(), lr=0.1, momentum=0.9, nesterov=True)
    assert repr(opt) == "SGD(<2 parameters>, lr=0.1, momentum=0.9, nesterov=True)"


def test_a_momentum_schedule_outside_zero_one_is_refused_before_any_change():
    p = mn.Parameter(np.ones(3), name="w")
    p.grad[...] = 1.0
    opt = mn.SGD([p], lr=0.1, momentum=lambda step: 1.5)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        opt.step()
    assert np.array_equal(p.value, np.ones(3)) and opt.step_count == 0


def test_load_state_dict_refuses_a_state_without_a_step_count():
    opt = mn.SGD([mn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="'step_count'"):
        opt.load_state_dict({})
    with pytest.raises(ValueError, match="step_count must be >= 0"):
        opt.load_state_dict({"step_count": -1, "momentum_buffer": [None]})


@pytest.mark.parametrize(
    "state, message",
    [
        ({"step_count": 0, "momentum_buffer": [np.full(2, np.nan)]}, r"momentum_buffer\[0\] holds NaN"),
        (
            {"step_count": 0, "momentum_buffer": [np.zeros(2, np.float32)]},
            r"momentum_buffer\[0\] must be float64 of shape \(2,\)",
        ),
        (
            {"step_count": 0, "momentum_buffer": [[1.0, 2.0]]},
            r"momentum_buffer\[0\] must be an array, got \[1.0, 2.0\]",
        ),
        ({"step_count": "3", "momentum_buffer": [None]}, "step_count must be an integer, got '3'"),
        ({"step_count": True, "momentum_buffer": [None]}, "step_count must be an integer, got True"),
        ({"step_count": 0, "momentum_buffer": [None], "lr": 5.0}, r"\['lr'\] unknown"),
        ([0, [None]], "optimizer state must be a dict"),
    ],
)
def test_load_state_dict_checks_everything_and_changes_nothing_when_it_refuses(state, message):
    p = mn.Parameter(np.ones(2))
    p.grad[...] = 1.0
    opt = mn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["step_count"] == before["step_count"] == 1
    assert np.array_equal(after["momentum_buffer"][0], before["momentum_buffer"][0])


# == Adam, AdamW, RMSprop ================================================================

# -- the update rules, computed by hand ----------------------------------------------------


def test_adam_first_step_is_lr_times_the_sign_of_the_gradient():
    # After one step the corrected moments are g and g^2: the step is lr g / (|g| + eps).
    p = _param([1.0, -2.0, 0.5], [0.5, -3.0, 0.0])
    mn.Adam([p], lr=0.1).step()
    np.testing.assert_allclose(
        p.value, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 3.0 / (3.0 + 1e-8), 0.5], rtol=1e-14
    )


def test_adam_second_step():
    p = _param([0.0], [1.0])
    opt = mn.Adam([p], lr=0.1, betas=(0.5, 0.75))
    opt.step()  # m = 0.5, v = 0.25; corrected: 1 and 1
    p.grad[...] = 3.0
    opt.step()  # m = 0.25 + 1.5 = 1.75, v = 0.1875 + 2.25 = 2.4375
    m_hat, v_hat = 1.75 / (1 - 0.5**2), 2.4375 / (1 - 0.75**2)
    expected = -0.1 / (1 + 1e-8) - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    assert p.value[0] == pytest.approx(expected, rel=1e-14)
    assert opt.state[0]["exp_avg"][0] == 1.75 and opt.state[0]["exp_avg_sq"][0] == 2.4375


def test_adam_weight_decay_goes_through_the_moments():
    p = _param([2.0], [0.0])
    opt = mn.Adam([p], lr=0.1, weight_decay=0.5)
    opt.step()  # d = 0 + 0.5 * 2 = 1: a full step of lr, and m = (1 - beta1) d
    assert p.value[0] == pytest.approx(2.0 - 0.1 / (1 + 1e-8), rel=1e-14)
    assert opt.state[0]["exp_avg"][0] == pytest.approx(0.1, rel=1e-14)


def test_adamw_decays_the_parameter_itself_not_the_moments():
    p = _param([2.0], [0.0])
    opt = mn.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()  # no gradient, so no Adam step: only theta (1 - lr wd)
    assert p.value[0] == pytest.approx(2.0 * (1 - 0.1 * 0.5), rel=1e-15)
    assert opt.state[0]["exp_avg"][0] == 0.0


def test_adamw_without_weight_decay_is_adam():
    grads = np.random.default_rng(0).standard_normal((5, 3))
    a, b = _param(np.ones(3), 0.0), _param(np.ones(3), 0.0)
    adam, adamw = mn.Adam([a], lr=0.1), mn.AdamW([b], lr=0.1, weight_decay=0.0)
    for g in grads:
        a.grad[...] = b.grad[...] = g
        adam.step()
        adamw.step()
    np.testing.assert_array_equal(a.value, b.value)


def test_amsgrad_divides_by_the_largest_second_moment_so_far():
    p = _param([0.0], [10.0])
    opt = mn.Adam([p], lr=0.1, amsgrad=True)
    opt.step()  # v = 0.001 * 100 = 0.1
    p.grad[...] = 0.1
    opt.step()  # v = 0.0999 + 0.00001 < 0.1: the maximum stays
    state = opt.state[0]
    assert state["max_exp_avg_sq"][0] == pytest.approx(0.1, rel=1e-14)
    assert state["exp_avg_sq"][0] == pytest.approx(0.09991, rel=1e-14)


def test_rmsprop_first_step():
    # v = (1 - alpha) g^2, so the step is lr g / (sqrt(1 - alpha) |g| + eps).
    p = _param([1.0, -1.0], [2.0, -0.5])
    mn.RMSprop([p], lr=0.01, alpha=0.9).step()
    root = math.sqrt(0.1)
    np.testing.assert_allclose(
        p.value, [1 - 0.01 * 2 / (root * 2 + 1e-8), -1 + 0.01 * 0.5 / (root * 0.5 + 1e-8)], rtol=1e-15
    )


def test_rmsprop_centered_divides_by_the_standard_deviation():
    p = _param([0.0], [2.0])
    mn.RMSprop([p], lr=0.01, alpha=0.9, centered=True).step()  # v - gbar^2 = 0.4 - 0.04 = 0.36
    assert p.value[0] == pytest.approx(-0.01 * 2 / (0.6 + 1e-8), rel=1e-14)


def test_rmsprop_momentum_two_steps():
    p = _param([0.0], [1.0])
    opt = mn.RMSprop([p], lr=0.1, alpha=0.75, momentum=0.5)
    opt.step()  # v = 0.25, b = 1 / 0.5 = 2
    p.grad[...] = 2.0
    opt.step()  # v = 0.1875 + 1 = 1.1875, b = 1 + 2 / sqrt(1.1875)
    b = 0.5 * (1 / (0.5 + 1e-8)) + 2 / (math.sqrt(1.1875) + 1e-8)
    assert p.value[0] == pytest.approx(-0.1 / (0.5 + 1e-8) - 0.1 * b, rel=1e-14)
    assert opt.state[0]["momentum_buffer"][0] == pytest.approx(b, rel=1e-14)


def test_rmsprop_centered_stays_finite_where_rounding_makes_the_variance_negative():
    # A constant gradient has variance 0; rounding leaves v - gbar^2 a hair below 0 for some
    # elements, where a square root would be NaN and the step refused.
    p = _param(np.zeros(1000), np.random.default_rng(0).standard_normal(1000))
    opt = mn.RMSprop([p], lr=1e-3, alpha=0.5, centered=True)
    for _ in range(60):
        opt.step()
    state = opt.state[0]
    assert (state["square_avg"] - state["grad_avg"] ** 2 < 0).any()  # the case the clamp is for
    assert np.isfinite(p.value).all()


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda p: mn.Adam(p, lr=-0.1), ValueError, r"lr must be >= 0.0, got -0\.1"),
        (lambda p: mn.Adam(p, lr="fast"), TypeError, "lr must be a float or a schedule"),
        (lambda p: mn.Adam(p, betas=(1.5, 0.999)), ValueError, r"betas\[0\] must be < 1.0, got 1\.5"),
        (lambda p: mn.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be < 1.0, got 1\.0"),
        (lambda p: mn.Adam(p, betas=(-0.1, 0.999)), ValueError, r"betas\[0\] must be >= 0.0, got -0\.1"),
        (lambda p: mn.Adam(p, betas=(0.9,)), TypeError, r"betas must be a pair \(beta1, beta2\), got \(0\.9,\)"),
        (lambda p: mn.Adam(p, betas=0.9), TypeError, "betas must be a pair"),
        (lambda p: mn.Adam(p, betas=(0.9, "0.999")), TypeError, r"betas\[1\] must be a real number, got '0.999'"),
        (lambda p: mn.Adam(p, eps=0.0), ValueError, r"eps must be > 0.0, got 0\.0"),
        (lambda p: mn.Adam(p, weight_decay=-1e-4), ValueError, r"weight_decay must be >= 0.0, got -0\.0001"),
        (lambda p: mn.Adam(p, amsgrad=1), TypeError, "amsgrad must be True or False, got 1"),
        (lambda p: mn.AdamW(p, weight_decay=float("nan")), ValueError, "weight_decay must be finite, got nan"),
        (lambda p: mn.AdamW(p, betas=(0.9, 2.0)), ValueError, r"betas\[1\] must be < 1.0, got 2\.0"),
        (lambda p: mn.RMSprop(p, lr=-1.0), ValueError, r"lr must be >= 0.0, got -1\.0"),
        (lambda p: mn.RMSprop(p, alpha=1.5), ValueError, r"alpha must be <= 1.0, got 1\.5"),
        (lambda p: mn.RMSprop(p, alpha=-0.5), ValueError, r"alpha must be >= 0.0, got -0\.5"),
        (lambda p: mn.RMSprop(p, eps=-1e-8), ValueError, "eps must be > 0.0"),
        (lambda p: mn.RMSprop(p, momentum=1.0), ValueError, r"momentum must be < 1.0, got 1\.0"),
        (lambda p: mn.RMSprop(p, momentum=lambda step: 0.9), TypeError, "momentum must be a real number"),
        (lambda p: mn.RMSprop(p, weight_decay=-0.1), ValueError, "weight_decay must be >= 0.0"),
        (lambda p: mn.RMSprop(p, centered="yes"), TypeError, "centered must be True or False, got 'yes'"),
        (lambda p: mn.Adam([], lr=0.1), ValueError, "params is empty"),
        (lambda p: mn.RMSprop(p + p), ValueError, "same Parameter twice"),
    ],
)
def test_adam_adamw_rmsprop_refuse_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make([mn.Parameter([1.0])])


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda p: mn.Adam(p), "Adam(<2 parameters>, lr=0.001)"),
        (
            lambda p: mn.Adam(p, lr=0.01, betas=[0.8, 0.99], amsgrad=True),
            "Adam(<2 parameters>, lr=0.01, betas=(0.8, 0.99), amsgrad=True)",
        ),
        (lambda p: mn.AdamW(p), "AdamW(<2 parameters>, lr=0.001)"),
        (lambda p: mn.AdamW(p, weight_decay=0.0), "AdamW(<2 parameters>, lr=0.001, weight_decay=0.0)"),
        (
            lambda p: mn.RMSprop(p, momentum=0.9, centered=True),
            "RMSprop(<2 parameters>, lr=0.01, momentum=0.9, centered=True)",
        ),
        (lambda p: mn.Adam(p, lr=mn.OneCycle(0.1, 100)), f"Adam(<2 parameters>, lr={mn.OneCycle(0.1, 100)!r})"),
    ],
)
def test_repr_shows_the_arguments_that_differ_from_their_defaults(make, text):
    assert repr(make(mn.Dense(2, 2).parameters())) == text


def test_adam_rate_schedule_is_evaluated_per_step_and_checked():
    seen = []
    p = _param([0.0], [1.0])
    opt = mn.Adam([p], lr=lambda step: seen.append(step) or 0.1)
    opt.step()
    opt.step()
    assert seen == [0, 1] and opt.current_lr == 0.1
    bad = mn.Adam([_param([1.0], [1.0])], lr=lambda step: -0.1)
    with pytest.raises(ValueError, match=r"lr schedule .* returned -0.1 at step 0; lr must be a finite float >= 0"):
        bad.step()
    assert bad.step_count == 0 and bad.params[0].value[0] == 1.0


# == every optimizer: refused steps, state, dtypes ========================================

OPTIMIZERS = {
    "sgd": lambda params: mn.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-plain": lambda params: mn.SGD(params, lr=0.1),
    "adam": lambda params: mn.Adam(params, lr=0.01, weight_decay=0.01),
    "adam-amsgrad": lambda params: mn.Adam(params, lr=0.01, amsgrad=True),
    "adamw": lambda params: mn.AdamW(params, lr=0.01),
    "rmsprop": lambda params: mn.RMSprop(params, lr=0.01),
    "rmsprop-all": lambda params: mn.RMSprop(params, lr=0.01, weight_decay=0.01, momentum=0.5, centered=True),
}
WITH_STATE = [name for name in OPTIMIZERS if name != "sgd-plain"]


def _world(name, dtype=np.float64):
    """Three parameters of different shapes, their optimizer, and a sequence of gradients."""
    gen = np.random.default_rng(3)
    params = [
        mn.Parameter(gen.standard_normal(shape).astype(dtype), name=f"p{i}")
        for i, shape in enumerate([(3, 2), (2,), (2, 2, 2)])
    ]
    grads = [[gen.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(8)]
    return params, OPTIMIZERS[name](params), grads


def _take_steps(params, opt, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()


def _snapshot(params, opt):
    return [p.value.copy() for p in params], opt.state_dict()


def _assert_same(a, b):
    """Two snapshots are bit-identical: values, step count, every state array."""
    (values_a, state_a), (values_b, state_b) = a, b
    assert all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(values_a, values_b))
    assert state_a.keys() == state_b.keys() and state_a["step_count"] == state_b["step_count"]
    for key in state_a.keys() - {"step_count"}:
        for x, y in zip(state_a[key], state_b[key]):
            assert (x is None and y is None) or (x.dtype == y.dtype and np.array_equal(x, y)), key


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_refused_step_changes_nothing_and_the_next_ones_continue_as_if_it_never_happened(name, bad):
    params, opt, grads = _world(name)
    twin_params, twin, _ = _world(name)
    _take_steps(params, opt, grads[:3])
    _take_steps(twin_params, twin, grads[:3])
    before = _snapshot(params, opt)
    for p, g in zip(params, grads[3]):
        p.grad[...] = g
    params[2].grad[0, 0, 1] = bad  # only the last parameter's update is bad
    with pytest.raises(NonFiniteUpdate, match=r"parameter p2 \(2, 2, 2\) at step 3"):
        opt.step()
    _assert_same(_snapshot(params, opt), before)
    _take_steps(params, opt, grads[3:])
    _take_steps(twin_params, twin, grads[3:])
    _assert_same(_snapshot(params, opt), _snapshot(twin_params, twin))


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda params: mn.Adam(params, lr=0.0), "exp_avg_sq"),
        (lambda params: mn.RMSprop(params, lr=0.0), "square_avg"),
        (lambda params: mn.RMSprop(params, lr=0.0, centered=True), "square_avg"),
    ],
)
def test_a_step_that_would_overflow_the_average_of_squares_is_refused(make, key):
    # g^2 = inf would only make the step 0 (a finite value), but the state could not be saved.
    p = _param([1.0, 2.0], [1e155, 1.0])  # g^2 overflows; (1 - alpha)^2 g^2 does not
    opt = make([p])
    before = _snapshot([p], opt)
    with pytest.raises(NonFiniteUpdate, match=f"would make its {key} non-finite"):
        opt.step()
    _assert_same(_snapshot([p], opt), before)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_continues_bit_identically(name):
    params, opt, grads = _world(name)
    _take_steps(params, opt, grads[:4])
    state = opt.state_dict()
    other_params, other, _ = _world(name)
    for p, q in zip(params, other_params):
        q.value[...] = p.value
    other.load_state_dict(state)
    _assert_same(_snapshot(other_params, other), _snapshot(params, opt))
    _take_steps(params, opt, grads[4:])
    _take_steps(other_params, other, grads[4:])
    _assert_same(_snapshot(other_params, other), _snapshot(params, opt))


@pytest.mark.parametrize("name", WITH_STATE)
def test_state_dict_is_a_copy_and_load_state_dict_copies(name):
    params, opt, grads = _world(name)
    _take_steps(params, opt, grads[:2])
    state = opt.state_dict()
    saved = _snapshot(params, opt)[1]
    opt.load_state_dict(state)
    _take_steps(params, opt, grads[2:])
    _assert_same(([], state), ([], saved))  # neither the later steps nor the load wrote into it


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_parameters_keep_float32_in_every_buffer(name):
    params, opt, grads = _world(name, np.float32)
    _take_steps(params, opt, grads)
    assert all(p.value.dtype == np.float32 for p in params)
    arrays = [a for key, entries in opt.state_dict().items() if key != "step_count" for a in entries]
    arrays += [a for scratch in opt._scratch for a in scratch.values()]
    assert arrays or name == "sgd-plain"
    assert all(a.dtype == np.float32 for a in arrays if a is not None)


def _state_with(name, **changes):
    params, opt, grads = _world(name)
    _take_steps(params, opt, grads[:2])
    state = opt.state_dict()
    for key, change in changes.items():
        state[key] = change(state[key]) if callable(change) else change
    return params, opt, state


def _replace(i, value):
    return lambda entries: [value if k == i else a for k, a in enumerate(entries)]


@pytest.mark.parametrize(
    "name, changes, match",
    [
        ("adam", dict(step_count=-1), "step_count must be >= 0, got -1"),
        ("adam", dict(step_count=2.0), "step_count must be an integer, got 2.0"),
        ("adam", dict(step_count=True), "step_count must be an integer, got True"),
        (
            "adam",
            dict(exp_avg=_replace(1, np.zeros(3))),
            r"exp_avg\[1\] must be float64 of shape \(2,\), got float64 of shape \(3,\)",
        ),
        (
            "adam",
            dict(exp_avg_sq=_replace(0, np.zeros((3, 2), np.float32))),
            r"exp_avg_sq\[0\] must be float64 of shape \(3, 2\), got float32",
        ),
        ("adam", dict(exp_avg=_replace(2, np.full((2, 2, 2), np.nan))), r"exp_avg\[2\] holds NaN or infinite values"),
        ("adam", dict(exp_avg=_replace(0, [[0.0] * 2] * 3)), r"exp_avg\[0\] must be an array, got \[\[0.0, 0.0\]"),
        ("adam", dict(exp_avg_sq=_replace(1, None)), r"exp_avg_sq\[1\] must be an array, got None"),
        (
            "adam",
            dict(exp_avg=lambda entries: entries[:2]),
            r"exp_avg must be a list of one array per parameter \(3 parameters\), got 2 entries",
        ),
        ("adam", dict(exp_avg=np.zeros(3)), "exp_avg must be a list of one array per parameter"),
        (
            "adam",
            dict(max_exp_avg_sq=[None] * 3),
            r"optimizer state must have the keys \['exp_avg', 'exp_avg_sq', 'step_count'\]; "
            r"\['max_exp_avg_sq'\] unknown",
        ),
        (
            "adam-amsgrad",
            dict(max_exp_avg_sq=lambda entries: entries[:2]),
            "max_exp_avg_sq must be a list of one array per parameter",
        ),
        ("rmsprop-all", dict(grad_avg=_replace(0, np.full((3, 2), np.inf))), r"grad_avg\[0\] holds NaN or infinite"),
        (
            "sgd",
            dict(momentum_buffer=_replace(1, np.zeros((2, 1)))),
            r"momentum_buffer\[1\] must be float64 of shape \(2,\), got float64 of shape \(2, 1\)",
        ),
    ],
)
def test_load_state_dict_refuses_a_bad_entry_and_changes_nothing(name, changes, match):
    params, opt, state = _state_with(name, **changes)
    before = _snapshot(params, opt)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(state)
    _assert_same(_snapshot(params, opt), before)


@pytest.mark.parametrize(
    "name, missing",
    [
        ("adam", "exp_avg_sq"),
        ("adam-amsgrad", "max_exp_avg_sq"),
        ("rmsprop-all", "grad_avg"),
        ("sgd", "momentum_buffer"),
    ],
)
def test_load_state_dict_refuses_a_state_without_a_buffer(name, missing):
    params, opt, state = _state_with(name)
    del state[missing]
    before = _snapshot(params, opt)
    with pytest.raises(ValueError, match=rf"optimizer state must have the keys .*; \['{missing}'\] missing"):
        opt.load_state_dict(state)
    _assert_same(_snapshot(params, opt), before)


def test_sgd_buffers_may_be_none_before_the_first_step_with_momentum():
    _params, opt, _ = _world("sgd")
    opt.load_state_dict({"step_count": 0, "momentum_buffer": [None] * 3})
    assert opt.buffers == [None] * 3


# == a Ctrl-C during the commit ==========================================================


def _interrupt_the_commit(opt, times=1):
    """Make ``opt``'s commits send this process ``times`` real SIGINTs, after the first parameter's state."""
    replace = opt._replace_state

    def replace_then_interrupt(i, new):
        replace(i, new)
        if i == 0:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)

    opt._replace_state = replace_then_interrupt


def _one_step(name, interrupt_times=0):
    params, opt, grads = _world(name)
    _take_steps(params, opt, grads[:2])
    for p, g in zip(params, grads[2]):
        p.grad[...] = g
    if interrupt_times:
        _interrupt_the_commit(opt, interrupt_times)
    return params, opt


@pytest.mark.parametrize("name", WITH_STATE)
def test_ctrl_c_during_the_commit_lets_it_finish_then_raises(name):
    expected_params, expected = _one_step(name)
    expected.step()
    params, opt = _one_step(name, interrupt_times=1)
    with pytest.raises(KeyboardInterrupt):
        opt.step()
    _assert_same(_snapshot(params, opt), _snapshot(expected_params, expected))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_every_ctrl_c_during_the_commit_reaches_the_users_handler_after_it():
    _params, opt = _one_step("adam", interrupt_times=2)
    seen = []

    def handler(signum, frame):
        seen.append(opt.step_count)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        opt.step()
        assert signal.getsignal(signal.SIGINT) is handler  # the user's handler is back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [3, 3]  # both delivered, each once the step (the 3rd) was committed


def test_an_ignored_ctrl_c_stays_ignored():
    expected_params, expected = _one_step("rmsprop-all")
    expected.step()
    params, opt = _one_step("rmsprop-all", interrupt_times=1)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        opt.step()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    _assert_same(_snapshot(params, opt), _snapshot(expected_params, expected))


def test_a_step_in_another_thread_leaves_signal_handling_alone():
    # Only the main thread may install a signal handler: the commit must not try to.
    expected_params, expected = _one_step("adam")
    expected.step()
    params, opt = _one_step("adam")
    errors = []

    def run():
        try:
            opt.step()
        except Exception as exc:  # reported to the main thread below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []
    _assert_same(_snapshot(params, opt), _snapshot(expected_params, expected))
