import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minnet import schedules
from minnet.schedules import (
    Constant,
    CosineDecay,
    CyclicLR,
    ExponentialDecay,
    OneCycle,
    OneCycleMomentum,
    Schedule,
    StepDecay,
)

ALL = [
    Constant(0.1),
    CyclicLR(base_lr=0.05, max_lr=1.0, step_size_up=200),
    CyclicLR(0.01, 0.5, step_size_up=30, step_size_down=70, mode="exp_range", gamma=0.999),
    OneCycle(max_lr=0.1, total_steps=1000, anneal_strategy="linear"),
    OneCycleMomentum(total_steps=1000, base_momentum=0.8),
    StepDecay(0.1, step_size=30, gamma=0.5),
    ExponentialDecay(0.1, gamma=0.99),
    CosineDecay(0.1, total_steps=100, min_lr=0.001),
]


# --- golden values ---------------------------------------------------------


def test_triangular_starts_at_base_peaks_at_max_and_returns():
    s = CyclicLR(base_lr=0.05, max_lr=1.0, step_size_up=200)
    assert (s(0), s(100), s(200), s(300), s(400)) == (0.05, 0.525, 1.0, 0.525, 0.05)


def test_triangular2_halves_amplitude_each_cycle():
    s = CyclicLR(0.0, 1.0, step_size_up=10, mode="triangular2")
    assert [s(10), s(30), s(50), s(70)] == [1.0, 0.5, 0.25, 0.125]


def test_exp_range_scales_by_gamma_to_the_step():
    s = CyclicLR(0.1, 1.1, step_size_up=10, mode="exp_range", gamma=0.99)
    assert [s(t) for t in (5, 10, 15, 30)] == pytest.approx(
        [0.1 + 0.5 * 0.99**5, 0.1 + 0.99**10, 0.1 + 0.5 * 0.99**15, 0.1 + 0.99**30], rel=1e-14
    )


def test_triangular2_after_thousands_of_cycles_is_base_lr():
    assert CyclicLR(0.1, 1.0, step_size_up=1, mode="triangular2")(5001) == 0.1


def test_gamma_is_ignored_outside_exp_range():
    assert CyclicLR(0.1, 1.0, 10, gamma=0.5)(10) == 1.0


def test_asymmetric_cycle_peaks_after_step_size_up_and_bottoms_after_both():
    s = CyclicLR(0.1, 1.0, step_size_up=3, step_size_down=7)
    assert int(np.argmax(s.values(10))) == 3 and s(10) == 0.1 and s(13) == pytest.approx(1.0, rel=1e-12)


def test_one_cycle_starts_at_max_over_div_factor():
    s = OneCycle(max_lr=1.0, total_steps=100, div_factor=20.0)
    assert s(0) == pytest.approx(1.0 / 20.0, rel=1e-12)


def test_one_cycle_peaks_at_pct_start_times_total_minus_one():
    s = OneCycle(max_lr=1.0, total_steps=100, pct_start=0.3)
    assert s(29) == 1.0 and int(np.argmax(s.values(100))) == 29


def test_one_cycle_ends_at_initial_over_final_div_factor():
    s = OneCycle(max_lr=1.0, total_steps=100, div_factor=25.0, final_div_factor=1e4)
    assert s(99) == pytest.approx(1.0 / 25.0 / 1e4, rel=1e-12)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_momentum_is_max_at_ends_and_base_at_peak(anneal):
    m = OneCycle(1.0, 100, anneal_strategy=anneal).momentum(base_momentum=0.8, max_momentum=0.9)
    assert (m(0), m(29), m(99)) == pytest.approx((0.9, 0.8, 0.9), rel=1e-12)


def test_one_cycle_linear_is_halfway_at_mid_warmup():
    assert OneCycle(1.0, 22, pct_start=0.5, anneal_strategy="linear", div_factor=2.0)(5) == 0.75


def test_one_cycle_with_warmup_of_exactly_one_step_starts_at_peak():
    # pct_start * total_steps == 1 puts the peak at step 0 (PyTorch divides by zero here).
    assert OneCycle(1.0, 10, pct_start=0.1)(0) == 1.0


def test_one_cycle_past_total_steps_names_total_steps():
    with pytest.raises(ValueError, match="total_steps=100"):
        OneCycle(1.0, 100)(100)


def test_step_decay():
    s = StepDecay(1.0, step_size=10, gamma=0.5)
    assert s.values(31).tolist() == [1.0] * 10 + [0.5] * 10 + [0.25] * 10 + [0.125]


def test_exponential_decay():
    assert ExponentialDecay(2.0, gamma=0.5).values(4).tolist() == [2.0, 1.0, 0.5, 0.25]


def test_cosine_decay_hits_half_way_and_min_and_then_holds():
    s = CosineDecay(1.0, total_steps=100, min_lr=0.1)
    assert (s(0), s(50), s(100), s(1000)) == pytest.approx((1.0, 0.55, 0.1, 0.1), rel=1e-12)


def test_constant():
    assert Constant(0.3).values(3).tolist() == [0.3, 0.3, 0.3]


# --- the Schedule contract -------------------------------------------------


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_is_a_pure_function_of_step(s):
    before = s(7)
    s.values(500)
    assert s(7) == before and isinstance(before, float)


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_pickle_round_trip_keeps_values_and_repr(s):
    t = pickle.loads(pickle.dumps(s))
    assert repr(t) == repr(s) and t == s and np.array_equal(t.values(300), s.values(300))


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_repr_evaluates_back_to_an_equal_schedule(s):
    t = eval(repr(s), vars(schedules))
    assert type(t) is type(s) and t == s and np.array_equal(t.values(300), s.values(300))


def test_repr_reads_like_the_constructor():
    assert repr(CyclicLR(base_lr=0.05, max_lr=1.0, step_size_up=200)) == (
        "CyclicLR(base_lr=0.05, max_lr=1.0, step_size_up=200, step_size_down=None, mode='triangular', gamma=1.0)"
    )


def test_equality_and_hash_follow_the_arguments():
    assert CyclicLR(0.1, 1.0, 10) == CyclicLR(0.1, 1, 10) != CyclicLR(0.1, 1.0, 11)
    assert hash(OneCycle(1.0, 10)) == hash(OneCycle(1.0, 10)) and OneCycle(1.0, 10) != OneCycleMomentum(10)


def test_numpy_integer_step_is_accepted():
    assert CyclicLR(0.1, 1.0, 10)(np.int64(10)) == 1.0


@pytest.mark.parametrize(
    "step, error, match",
    [
        (-1, ValueError, "step must be >= 0, got -1"),
        (1.5, TypeError, "step must be an integer"),
        (True, TypeError, "step must be an integer"),
        ("3", TypeError, "step must be an integer"),
    ],
)
def test_bad_step(step, error, match):
    with pytest.raises(error, match=match):
        Constant(0.1)(step)


def test_values_of_zero_steps_is_empty():
    assert Constant(0.1).values(0).shape == (0,)


def test_base_class_needs_a_value():
    with pytest.raises(NotImplementedError, match="_value"):
        Schedule()(0)


# --- invalid arguments -------------------------------------------------------


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: Constant(-0.1), ValueError, "value must be >= 0.0, got -0.1"),
        (lambda: Constant("0.1"), TypeError, "value must be a real number"),
        (lambda: CyclicLR(-0.1, 1.0), ValueError, "base_lr must be >= 0.0, got -0.1"),
        (lambda: CyclicLR(0.0, 0.0), ValueError, "max_lr must be > 0.0, got 0.0"),
        (lambda: CyclicLR(0.5, 0.1), ValueError, r"max_lr must be >= base_lr=0.5, got 0.1"),
        (lambda: CyclicLR(0.1, float("nan")), ValueError, "max_lr must be finite"),
        (lambda: CyclicLR(0.1, 1.0, step_size_up=0), ValueError, "step_size_up must be >= 1, got 0"),
        (lambda: CyclicLR(0.1, 1.0, step_size_up=2.5), TypeError, "step_size_up must be an integer"),
        (lambda: CyclicLR(0.1, 1.0, step_size_down=-3), ValueError, "step_size_down must be >= 1, got -3"),
        (
            lambda: CyclicLR(0.1, 1.0, mode="sawtooth"),
            ValueError,
            "mode must be one of 'triangular', 'triangular2', 'exp_range', got 'sawtooth'",
        ),
        (lambda: CyclicLR(0.1, 1.0, gamma=0.0), ValueError, "gamma must be > 0.0, got 0.0"),
        (lambda: CyclicLR(0.1, 1.0, gamma=1.5), ValueError, "gamma must be <= 1.0, got 1.5"),
        (lambda: OneCycle(0.0, 100), ValueError, "max_lr must be > 0.0, got 0.0"),
        (lambda: OneCycle(1.0, 0), ValueError, "total_steps must be >= 1, got 0"),
        (lambda: OneCycle(1.0, 100.0), TypeError, "total_steps must be an integer"),
        (lambda: OneCycle(1.0, 100, pct_start=0.0), ValueError, "pct_start must be > 0.0, got 0.0"),
        (lambda: OneCycle(1.0, 100, pct_start=1.0), ValueError, "pct_start must be < 1.0, got 1.0"),
        (
            lambda: OneCycle(1.0, 100, anneal_strategy="exp"),
            ValueError,
            "anneal_strategy must be one of 'cos', 'linear', got 'exp'",
        ),
        (lambda: OneCycle(1.0, 100, div_factor=0.5), ValueError, "div_factor must be >= 1.0, got 0.5"),
        (lambda: OneCycle(1.0, 100, final_div_factor=0.0), ValueError, "final_div_factor must be >= 1.0"),
        (lambda: OneCycleMomentum(100, base_momentum=-0.1), ValueError, "base_momentum must be >= 0.0"),
        (lambda: OneCycleMomentum(100, max_momentum=1.0), ValueError, "max_momentum must be < 1.0, got 1.0"),
        (
            lambda: OneCycleMomentum(100, base_momentum=0.9, max_momentum=0.8),
            ValueError,
            "max_momentum must be >= base_momentum=0.9, got 0.8",
        ),
        (lambda: OneCycleMomentum(100, anneal_strategy="step"), ValueError, "anneal_strategy must be one"),
        (lambda: StepDecay(0.0, 10), ValueError, "lr must be > 0.0, got 0.0"),
        (lambda: StepDecay(0.1, 0), ValueError, "step_size must be >= 1, got 0"),
        (lambda: StepDecay(0.1, 10, gamma=2.0), ValueError, "gamma must be <= 1.0, got 2.0"),
        (lambda: ExponentialDecay(0.1, gamma=-0.5), ValueError, "gamma must be > 0.0, got -0.5"),
        (lambda: CosineDecay(0.1, 0), ValueError, "total_steps must be >= 1, got 0"),
        (lambda: CosineDecay(0.1, 10, min_lr=0.2), ValueError, "min_lr must be <= lr=0.1, got 0.2"),
        (lambda: CosineDecay(0.1, 10, min_lr=-0.1), ValueError, "min_lr must be >= 0.0, got -0.1"),
    ],
)
def test_invalid_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


# --- properties over random valid configurations ------------------------------

TOL = 1e-12


def within(value, low, high):
    # PyTorch's interpolation formulas round relative to the larger end.
    return 0.0 <= value and low - TOL * high <= value <= high * (1 + TOL)


rates = st.floats(1e-6, 10.0)
steps = st.integers(0, 100_000)


@settings(deadline=None)
@given(
    base=rates,
    ratio=st.floats(1.0, 1e3),
    up=st.integers(1, 500),
    down=st.none() | st.integers(1, 500),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.5, 1.0),
    step=steps,
)
def test_cyclic_stays_within_base_and_max(base, ratio, up, down, mode, gamma, step):
    s = CyclicLR(base, base * ratio, up, down, mode, gamma)
    assert within(s(step), base, base * ratio)


@settings(deadline=None)
@given(
    max_lr=rates,
    total=st.integers(1, 10_000),
    pct=st.floats(0.01, 0.99),
    anneal=st.sampled_from(["cos", "linear"]),
    div=st.floats(1.0, 1e3),
    final_div=st.floats(1.0, 1e5),
    where=st.floats(0.0, 1.0),
)
def test_one_cycle_stays_within_min_and_max(max_lr, total, pct, anneal, div, final_div, where):
    s = OneCycle(max_lr, total, pct, anneal, div, final_div)
    m = s.momentum(0.8, 0.9)
    step = min(int(where * total), total - 1)
    assert within(s(step), max_lr / div / final_div, max_lr) and within(m(step), 0.8, 0.9)


@settings(deadline=None)
@given(lr=rates, size=st.integers(1, 1000), gamma=st.floats(0.01, 1.0), min_frac=st.floats(0.0, 1.0), step=steps)
def test_decays_stay_within_min_and_lr_and_never_increase(lr, size, gamma, min_frac, step):
    for s, low in [
        (StepDecay(lr, size, gamma), 0.0),
        (ExponentialDecay(lr, gamma), 0.0),
        (CosineDecay(lr, size, lr * min_frac), lr * min_frac),
    ]:
        assert within(s(step), low, lr) and s(step + 1) <= s(step) * (1 + TOL)


# --- equality with PyTorch ----------------------------------------------------


def torch_values(make, n, lr=1.0, momentum=False):
    """Rate (or momentum) PyTorch's optimizer uses on each of its first ``n`` steps."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["momentum"] if momentum else sched.get_last_lr()[0])
        opt.step()  # before sched.step(), as PyTorch asks
        sched.step()
    return np.array(out)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(base_lr=0.05, max_lr=1.0, step_size_up=200),
        dict(base_lr=0.001, max_lr=0.1, step_size_up=7, step_size_down=13),
        dict(base_lr=0.001, max_lr=0.1, step_size_up=50, step_size_down=3),
        dict(base_lr=0.0, max_lr=0.3, step_size_up=33, mode="triangular2"),
        dict(base_lr=0.01, max_lr=0.3, step_size_up=20, step_size_down=45, mode="triangular2"),
        dict(base_lr=0.01, max_lr=1.0, step_size_up=25, mode="exp_range", gamma=0.999),
        dict(base_lr=0.01, max_lr=1.0, step_size_up=40, step_size_down=9, mode="exp_range", gamma=0.9995),
    ],
    ids=repr,
)
def test_cyclic_matches_torch(kwargs):
    ours = CyclicLR(**kwargs).values(2000)
    theirs = torch_values(lambda sch, opt: sch.CyclicLR(opt, cycle_momentum=False, **kwargs), 2000)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


ONE_CYCLE_CONFIGS = [
    dict(max_lr=0.1, total_steps=1000),
    dict(max_lr=0.1, total_steps=1000, anneal_strategy="linear"),
    dict(max_lr=2.0, total_steps=1237, pct_start=0.45, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.5, total_steps=333, pct_start=0.25, anneal_strategy="linear", div_factor=1.0),
    dict(max_lr=0.5, total_steps=7, pct_start=0.1),  # warm-up shorter than one step
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CONFIGS, ids=repr)
def test_one_cycle_matches_torch(kwargs):
    ours = OneCycle(**kwargs).values(kwargs["total_steps"])
    theirs = torch_values(lambda sch, opt: sch.OneCycleLR(opt, **kwargs), kwargs["total_steps"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kwargs", ONE_CYCLE_CONFIGS, ids=repr)
def test_one_cycle_momentum_matches_torch(kwargs):
    n = kwargs["total_steps"]
    ours = OneCycle(**kwargs).momentum(base_momentum=0.8, max_momentum=0.97).values(n)
    theirs = torch_values(
        lambda sch, opt: sch.OneCycleLR(opt, base_momentum=0.8, max_momentum=0.97, **kwargs), n, momentum=True
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@settings(deadline=None, max_examples=40)
@given(total=st.integers(2, 300), pct=st.floats(0.01, 0.99), anneal=st.sampled_from(["cos", "linear"]))
def test_one_cycle_matches_torch_for_random_phase_boundaries(total, pct, anneal):
    pytest.importorskip("torch")
    if float(pct * total) - 1 == 0:
        return  # PyTorch divides by zero for this config
    ours = OneCycle(1.0, total, pct, anneal)
    theirs = torch_values(
        lambda sch, opt: sch.OneCycleLR(opt, 1.0, total, pct_start=pct, anneal_strategy=anneal), total
    )
    np.testing.assert_allclose(ours.values(total), theirs, rtol=1e-12, atol=0)
    theirs = torch_values(
        lambda sch, opt: sch.OneCycleLR(opt, 1.0, total, pct_start=pct, anneal_strategy=anneal), total, momentum=True
    )
    np.testing.assert_allclose(ours.momentum().values(total), theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("lr, step_size, gamma", [(0.1, 1, 0.99), (0.1, 30, 0.5), (1.0, 250, 0.1)])
def test_step_decay_matches_torch(lr, step_size, gamma):
    theirs = torch_values(lambda sch, opt: sch.StepLR(opt, step_size, gamma), 1500, lr=lr)
    np.testing.assert_allclose(StepDecay(lr, step_size, gamma).values(1500), theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("lr, gamma", [(0.1, 0.99), (1.0, 0.999), (0.5, 1.0)])
def test_exponential_decay_matches_torch(lr, gamma):
    theirs = torch_values(lambda sch, opt: sch.ExponentialLR(opt, gamma), 1500, lr=lr)
    np.testing.assert_allclose(ExponentialDecay(lr, gamma).values(1500), theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("lr, total, min_lr", [(0.1, 1000, 0.0), (1.0, 1500, 0.1), (0.3, 17, 0.01)])
def test_cosine_decay_matches_torch_up_to_total_steps(lr, total, min_lr):
    theirs = torch_values(lambda sch, opt: sch.CosineAnnealingLR(opt, total, min_lr), total + 1, lr=lr)
    # PyTorch updates the rate recursively, so the tail near zero carries its rounding.
    ours = CosineDecay(lr, total, min_lr).values(total + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-16)


def test_a_user_schedule_storing_its_arguments_privately_still_has_a_repr_and_equality():
    class Halving(schedules.Schedule):
        def __init__(self, lr):
            self._lr = lr

        def _value(self, step):
            return self._lr / 2**step

    s = Halving(1.0)
    assert repr(s) == "<Halving schedule>"
    assert s == s and s != Halving(1.0)
    assert s(2) == 0.25
