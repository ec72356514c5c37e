"""ELU, Softplus and GELU: PyTorch's values and gradients, extreme inputs, gradcheck, dtypes, reprs, files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from oracle import assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn

# Each layer with the arguments of its torch twin.
CASES = {
    "elu": (mn.ELU, "ELU", {}),
    "elu-alpha": (lambda: mn.ELU(alpha=0.3), "ELU", {"alpha": 0.3}),
    "softplus": (mn.Softplus, "Softplus", {}),
    "softplus-beta": (lambda: mn.Softplus(beta=2.0, threshold=5.0), "Softplus", {"beta": 2.0, "threshold": 5.0}),
    "gelu": (mn.GELU, "GELU", {}),
    "gelu-tanh": (lambda: mn.GELU(approximate="tanh"), "GELU", {"approximate": "tanh"}),
}
# Far out, at the kinks and thresholds, and at the ends of the float range.
EXTREME = np.array(
    [
        [0.0, -0.0, 1e-300, -1e-300, 2.5, -2.5, 5.0],
        [10.0, -10.0, 20.0, 20.5, 30.0, -30.0, 40.0],
        [-40.0, -800.0, 800.0, 1e200, -1e200, 1e308, -1e308],
    ]
)


def random_batch(seed=0, shape=(6, 5)):
    return np.random.default_rng(seed).standard_normal(shape) * 4.0


@pytest.mark.parametrize("name", CASES)
def test_equals_pytorch_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    make, twin, kwargs = CASES[name]
    for x in (random_batch(), random_batch(1, (2, 3, 4, 5))):
        assert_matches_torch(make(), getattr(torch.nn, twin)(**kwargs), x)


@pytest.mark.parametrize("name", CASES)
def test_equals_pytorch_on_extreme_inputs_without_a_warning(name):
    torch = pytest.importorskip("torch")
    make, twin, kwargs = CASES[name]
    layer, grad = make(), np.random.default_rng(3).standard_normal(EXTREME.shape)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer.forward(EXTREME)
        dx = layer.backward(grad)
    xt = torch.from_numpy(EXTREME.copy()).requires_grad_()
    yt = getattr(torch.nn, twin)(**kwargs)(xt)
    yt.backward(torch.from_numpy(grad))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    # torch's tanh GELU computes 0 * inf for |x| > 1e154, a NaN gradient: minnet's is the limit, 0 or 1.
    finite = np.isfinite(xt.grad.numpy())
    assert finite.all() or name == "gelu-tanh"
    np.testing.assert_allclose(dx[finite], xt.grad.numpy()[finite], rtol=1e-10, atol=1e-12)


def test_tanh_gelus_gradient_far_out_is_the_limit():
    layer = mn.GELU(approximate="tanh")
    layer.forward(np.array([[1e300, -1e300]]))
    assert layer.backward(np.ones((1, 2))).tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name):
    x = random_batch(2) + 0.05  # off the kinks of ELU at 0 and of Softplus at its threshold
    assert mn.gradcheck(CASES[name][0](), x)


def test_gelu_is_x_times_the_normal_distribution_function():
    x = np.array([[-3.0, -1.0, 0.0, 0.5, 2.0]])
    phi = np.array([0.0013498980316301, 0.15865525393145707, 0.5, 0.6914624612740131, 0.9772498680518208])
    np.testing.assert_allclose(mn.GELU().forward(x), x * phi, rtol=1e-14)


def test_gelu_keeps_its_relative_accuracy_far_below_zero():
    # 1 + erf(x / sqrt 2) cancels to 0 here; x Phi(x) is about -7.6e-23.
    y = mn.GELU().forward(np.array([[-10.0]]))
    np.testing.assert_allclose(y, [[-10.0 * 7.619853024160527e-24]], rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_float32_stays_float32(name):
    layer = CASES[name][0]()
    y = layer.forward(random_batch().astype(np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("name", CASES)
def test_inference_writes_no_state_and_output_shape(name):
    layer = CASES[name][0]()
    assert_inference_writes_no_state(layer, random_batch())
    assert layer.output_shape((3, 4, 5)) == (3, 4, 5)


@pytest.mark.parametrize("name", CASES)
def test_repr_evaluates_back_and_config_is_json(name):
    layer = CASES[name][0]()
    rebuilt = eval(repr(layer), {**vars(mn), "np": np})
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert json.loads(json.dumps(layer.get_config())) == layer.get_config() == rebuilt.get_config()


def test_reprs_read_like_code():
    assert [repr(CASES[name][0]()) for name in CASES] == [
        "ELU()",
        "ELU(alpha=0.3)",
        "Softplus()",
        "Softplus(beta=2.0, threshold=5.0)",
        "GELU()",
        "GELU(approximate='tanh')",
    ]


def test_saved_and_loaded_bit_for_bit(tmp_path):
    model = mn.Sequential(
        mn.Dense(4, 6, seed=0),
        mn.ELU(0.5),
        mn.Dense(6, 6, seed=1),
        mn.GELU("tanh"),
        mn.Dense(6, 6, seed=2),
        mn.GELU(),
        mn.Dense(6, 2, seed=3),
        mn.Softplus(beta=3.0, threshold=4.0),
    )
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    x = random_batch(4, (5, 4))
    assert np.array_equal(loaded.predict(x), model.predict(x))


@row("activation-bad-argument")
@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: mn.GELU(approximate="erf"), ValueError, r"approximate must be one of 'none', 'tanh', got 'erf'"),
        (lambda: mn.Softplus(beta=0.0), ValueError, r"beta must be > 0.0, got 0.0"),
        (lambda: mn.Softplus(threshold=float("inf")), ValueError, r"threshold must be finite, got inf"),
        (lambda: mn.ELU(alpha="1"), TypeError, r"alpha must be a real number, got '1' \(str\)"),
    ],
)
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_relu_equals_numpys_maximum_with_zero(dtype):
    # ReLU computes max(x, 0) as a clip, faster in numpy: the same numbers, infinities and NaN.
    x = _in_range(np.concatenate([EXTREME, [[np.inf, -np.inf, np.nan, 1.5, -1.5, 1e-40, -1e-40]]]), dtype)
    relu = mn.ReLU()
    out = relu.forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), (x > 0).astype(dtype))


def test_relu_of_integers_is_numpys_maximum():
    x = np.array([[-3, 0, 4]])
    out = mn.ReLU().forward(x)
    np.testing.assert_array_equal(out, [[0, 0, 4]])
    assert out.dtype == np.maximum(x, 0).dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_sigmoid_is_the_plain_formula_bit_for_bit(dtype):
    # Only the warnings differ: far left e^-x overflows to inf and the result is 0.
    x = _in_range(np.concatenate([EXTREME.ravel(), random_batch(1, (50,)).ravel(), [-700.0, -720.0]]), dtype)
    x = x[None, :]
    with np.errstate(all="ignore"):
        expected = 1 / (1 + np.exp(-x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = mn.Sigmoid().forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)


def _in_range(x, dtype):
    """``x`` in ``dtype``, its finite values beyond that float's range clipped to its largest."""
    largest = np.finfo(dtype).max
    return np.where(np.isfinite(x), np.clip(x, -largest, largest), x).astype(dtype)
