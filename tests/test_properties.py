"""Property-based tests over random architectures, shapes and dtypes (hypothesis).

Floating-point checks run under ``np.errstate(over=, invalid=, divide="raise")``,
so any overflow, invalid operation or division by zero fails the test.
Underflow to zero is the correct answer for tiny values and is not checked.
"""

from __future__ import annotations

import copy
import itertools
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_strategies import assert_same_behaviour, cases
from rows import row

import minnet as mn

settings.register_profile(
    "minnet", max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("minnet")

RAISE = dict(over="raise", invalid="raise", divide="raise")
DTYPES = st.sampled_from([np.float32, np.float64])
ACTIVATIONS = st.sampled_from([mn.Sigmoid, mn.Tanh, mn.ReLU, lambda: mn.LeakyReLU(0.1)])


@st.composite
def architectures(draw, dtype=None):
    """A random Sequential of Dense layers and activations, with its dtype and input width."""
    dtype = draw(DTYPES) if dtype is None else dtype
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    seed = draw(st.integers(0, 2**16))
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(
            mn.Dense(
                n_in,
                n_out,
                bias=draw(st.booleans()),
                dtype=dtype,
                rng=seed + i,
                init=draw(st.sampled_from(["xavier", "he", "normal"])),
            )
        )
        if draw(st.booleans()) or i == len(widths) - 2:
            layers.append(draw(ACTIVATIONS)())
    return mn.Sequential(*layers), dtype, widths[0]


def finite_floats(dtype, limit=None):
    info = np.finfo(dtype)
    # hypothesis needs bounds that the dtype represents exactly
    bound = float(info.max) if limit is None else float(np.nextafter(dtype(limit), dtype(0)))
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=info.bits)


def arrays(draw, shape, dtype, limit=None):
    values = draw(st.lists(finite_floats(dtype, limit), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=dtype).reshape(shape)


# -- gradients -------------------------------------------------------------------


@given(architectures(), st.integers(1, 6), st.integers(0, 2**16))
def test_gradcheck_passes_for_random_architectures(arch, n, seed):
    model, dtype, n_in = arch
    gen = np.random.default_rng(seed)
    # Random (not zero) biases: a zero bias after a dead ReLU would put the next
    # ReLU exactly on its kink, where no one-sided derivative is "right".
    for p in model.parameters():
        p.value[...] = gen.standard_normal(p.shape)
    x = gen.standard_normal((n, n_in)).astype(dtype)
    before = [p.value.copy() for p in model.parameters()]
    assert mn.gradcheck(model, x, atol=1e-5, rtol=1e-4)
    # checked in float64, handed back in the model's dtype and values
    assert all(p.value.dtype == dtype and np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


@given(st.sampled_from(["bce", "bce_logits", "mse"]), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2**16))
def test_gradcheck_passes_for_losses(kind, n, k, seed):
    gen = np.random.default_rng(seed)
    if kind == "bce":
        loss, pred = mn.BCE(), gen.uniform(0.05, 0.95, (n, k))
    elif kind == "bce_logits":
        loss, pred = mn.BCE(from_logits=True), gen.standard_normal((n, k)) * 3
    else:
        loss, pred = mn.MSE(), gen.standard_normal((n, k))
    target = gen.integers(0, 2, (n, k)).astype(float) if kind != "mse" else gen.standard_normal((n, k))
    assert mn.gradcheck(loss, pred, target=target, atol=1e-6, rtol=1e-4)


# -- extreme inputs: no floating-point errors, finite results ------------------------


@given(
    st.data(),
    DTYPES,
    st.sampled_from([mn.Sigmoid, mn.Tanh, mn.ReLU, mn.LeakyReLU]),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_activations_take_any_finite_input_without_fp_errors(data, dtype, make, n, k):
    x = arrays(data.draw, (n, k), dtype)
    layer = make()
    with np.errstate(**RAISE):
        out = layer.forward(x)
        grad = layer.backward(np.ones_like(out))
    assert out.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(out).all() and np.isfinite(grad).all()


@given(st.data(), DTYPES, st.integers(1, 4), st.integers(1, 3))
def test_bce_takes_any_probability_and_any_logit_without_fp_errors(data, dtype, n, k):
    probs = np.array(
        data.draw(
            st.lists(
                st.sampled_from([0.0, 1.0, 1e-30, 1 - 1e-7, 0.5]) | st.floats(0, 1, width=np.finfo(dtype).bits),
                min_size=n * k,
                max_size=n * k,
            )
        ),
        dtype=dtype,
    ).reshape(n, k)
    logits = arrays(data.draw, (n, k), dtype)
    target = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n * k, max_size=n * k))).reshape(n, k)
    for loss, pred in [(mn.BCE(), probs), (mn.BCE(from_logits=True), logits)]:
        with np.errstate(**RAISE):
            value = loss.forward(pred, target)
            grad = loss.backward()
        assert np.isfinite(value) and np.isfinite(grad).all() and grad.shape == pred.shape


@given(st.data(), DTYPES, st.integers(1, 4), st.integers(1, 3))
def test_mse_is_finite_without_fp_errors_when_the_squares_fit_the_dtype(data, dtype, n, k):
    # (p - y)^2 must be representable: |p|, |y| <= sqrt(max) / 4.
    limit = float(np.sqrt(np.finfo(dtype).max)) / 4
    pred = arrays(data.draw, (n, k), dtype, limit)
    target = arrays(data.draw, (n, k), dtype, limit)
    with np.errstate(**RAISE):
        loss = mn.MSE()
        value = loss.forward(pred, target)
        grad = loss.backward()
    assert np.isfinite(value) and value >= 0 and np.isfinite(grad).all()


@given(architectures(), st.data())
def test_random_networks_on_extreme_inputs_raise_no_fp_errors(arch, data):
    model, dtype, n_in = arch
    n = data.draw(st.integers(1, 4))
    # Large enough to saturate every activation, small enough that Dense outputs stay representable.
    limit = 1e12 if dtype == np.float32 else 1e100
    x = arrays(data.draw, (n, n_in), dtype, limit)
    with np.errstate(**RAISE):
        out = model.forward(x)
        grad_in = model.backward(np.ones_like(out) / out.size)
    assert out.dtype == dtype and np.isfinite(out).all() and np.isfinite(grad_in).all()
    assert all(np.isfinite(p.grad).all() for p in model.parameters())


@given(architectures(), st.integers(0, 2**16))
def test_training_either_stays_finite_or_stops_with_finite_parameters(arch, seed):
    model, dtype, n_in = arch
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((12, n_in)) * 100
    n_out = model.forward(X[:1].astype(dtype)).shape[1]
    y = gen.integers(0, 2, (12, n_out))
    opt = mn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss = mn.BCE(from_logits=True)
    try:
        history = mn.fit(model, loss, opt, X, y, epochs=3, batch_size=5, seed=seed, progress=False)
    except mn.TrainingDiverged as exc:  # a legitimate outcome, but only with the parameters intact
        history = exc.history
        assert len(history) == exc.epoch - 1
    assert all(np.isfinite(v) for v in history["loss"])
    assert all(p.value.dtype == dtype and np.isfinite(p.value).all() for p in model.parameters())


# -- shapes are never broadcast -------------------------------------------------------


@given(st.integers(1, 5), st.integers(1, 3), st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple))
def test_a_target_of_another_shape_is_an_error_never_a_broadcast(n, k, target_shape):
    pred = np.full((n, k), 0.5)
    target = np.zeros(target_shape)
    accepted = target_shape == (n, k) or (k == 1 and target_shape == (n,))
    loss = mn.MSE()
    if accepted:
        assert loss.forward(pred, target) == pytest.approx(0.25)
        assert loss.backward().shape == (n, k)
    else:
        with pytest.raises(ValueError, match="target must have shape"):
            loss.forward(pred, target)


# -- files --------------------------------------------------------------------


@given(architectures(), st.integers(0, 2**16))
def test_save_load_round_trip_is_exact_for_random_architectures(tmp_path_factory, arch, seed):
    model, dtype, n_in = arch
    gen = np.random.default_rng(seed)
    for p in model.parameters():
        p.value[...] = gen.standard_normal(p.shape).astype(dtype) * gen.uniform(1e-3, 1e3)
    path = tmp_path_factory.mktemp("io") / "m.npz"
    mn.save(model, path)
    loaded = mn.load(path)
    assert repr(loaded) == repr(model)
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert a.value.dtype == b.value.dtype == dtype and np.array_equal(a.value, b.value)
    x = gen.standard_normal((3, n_in))
    assert np.array_equal(model.predict(x), loaded.predict(x))


# -- files: whatever save writes, load reads back exactly; what load would refuse, save refuses ----


@row("file-save-load-property")
@given(case=cases())
def test_save_writes_what_load_reads_back_or_refuses_before_writing(case):
    """Predictions, training outputs and every gradient bit-identical after ``load(save(m))``; or a
    ValueError from ``save`` and no file at all."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.npz"
        try:
            mn.save(case.model, path)
        except ValueError as exc:
            assert "load would refuse the file" in str(exc), exc
            assert os.listdir(directory) == []
            return
        loaded = mn.load(path)
    assert_same_behaviour(case.model, loaded, case.x, case.grad)


# -- copies: deepcopy and pickle give the same model ------------------------------------


@row("copy-graph-shared-layer")
@given(case=cases(), how=st.sampled_from(["deepcopy", "pickle"]))
def test_a_deep_copy_or_a_pickle_is_the_same_model(case, how):
    """Predictions, training outputs and every gradient bit-identical to the original's (``copy.copy``
    shares the original's layers, so it is the original; tests/test_copies.py checks it)."""
    copied = copy.deepcopy(case.model) if how == "deepcopy" else pickle.loads(pickle.dumps(case.model))
    assert_same_behaviour(case.model, copied, case.x, case.grad)
