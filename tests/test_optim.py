"""SGD: the update rule by hand, validation, schedules, non-finite updates, state."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn
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
    opt.step()                      # v = g = 1;           theta = 1 - 0.1
    p.grad[...] = 2.0
    opt.step()                      # v = 0.9 * 1 + 2 = 2.9; theta = 0.9 - 0.29
    assert p.value[0] == pytest.approx(0.9 - 0.29, rel=1e-15)
    assert opt.buffers[0][0] == pytest.approx(2.9, rel=1e-15)


def test_dampening_scales_new_gradient_but_not_the_first():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=1.0, momentum=0.5, dampening=0.5)
    opt.step()                      # v = 1 (torch: no dampening on the first step)
    opt.step()                      # v = 0.5 * 1 + 0.5 * 1 = 1
    assert p.value[0] == pytest.approx(-2.0, rel=1e-15)


def test_nesterov_two_steps():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=1.0, momentum=0.5, nesterov=True)
    opt.step()                      # v = 1;           step = g + 0.5 v = 1.5
    opt.step()                      # v = 0.5 + 1 = 1.5; step = 1 + 0.75 = 1.75
    assert p.value[0] == pytest.approx(-3.25, rel=1e-15)


def test_weight_decay_adds_l2_gradient():
    p = _param([2.0], [0.0])
    mn.SGD([p], lr=0.5, weight_decay=0.1).step()   # d = 0 + 0.1 * 2
    assert p.value[0] == pytest.approx(2.0 - 0.5 * 0.2, rel=1e-15)


# -- validation ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
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
])
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


# -- state ---------------------------------------------------------------------------

def test_state_dict_round_trip_continues_identically(rng):
    def make():
        model = mn.Dense(3, 2, rng=0)
        return model, mn.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    grads = [rng.standard_normal((3, 2)) for _ in range(6)]
    model_a, opt_a = make()
    model_b, opt_b = make()
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


def test_state_dict_is_a_copy():
    p = _param([0.0], [1.0])
    opt = mn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    state = opt.state_dict()
    opt.step()
    assert state["step_count"] == 1 and state["buffers"][0][0] == 1.0


def test_load_state_dict_refuses_wrong_buffer_count():
    opt = mn.SGD([mn.Parameter([1.0]), mn.Parameter([2.0])], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="2 parameters"):
        opt.load_state_dict({"step_count": 0, "buffers": [None]})


def test_load_state_dict_refuses_wrong_buffer_shape():
    opt = mn.SGD([mn.Parameter([1.0, 2.0])], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict({"step_count": 0, "buffers": [np.zeros(3)]})


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
        opt.load_state_dict({"step_count": -1, "buffers": [None]})


@pytest.mark.parametrize("state, message", [
    ({"step_count": 0, "buffers": [np.full(2, np.nan)]}, r"momentum buffers\[0\] holds NaN"),
    ({"step_count": 0, "buffers": [np.zeros(2, np.float32)]}, r"momentum buffers\[0\] must be float64 of shape \(2,\)"),
    ({"step_count": 0, "buffers": [[1.0, 2.0]]}, r"momentum buffers\[0\] must be an array, got \[1.0, 2.0\]"),
    ({"step_count": "3", "buffers": [None]}, "step_count must be an integer, got '3'"),
    ({"step_count": True, "buffers": [None]}, "step_count must be an integer, got True"),
    ({"step_count": 0, "buffers": [None], "lr": 5.0}, r"\['lr'\] unknown"),
    ([0, [None]], "optimizer state must be a dict"),
])
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
    assert np.array_equal(after["buffers"][0], before["buffers"][0])
