"""LayerNorm: PyTorch's values and gradients over any trailing shape, gradcheck, extremes, errors, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import FORWARD, assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn

# (normalized_shape, batch shape): a table, a sequence, whole images.
SHAPES = [(5, (4, 5)), (5, (2, 3, 5)), ((3, 4), (2, 2, 3, 4)), ((2, 3, 3), (3, 2, 3, 3))]


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 3.0 + 1.0


def with_random_affine(layer, seed=0):
    gen = np.random.default_rng(seed)
    layer.weight.value[...] = gen.uniform(0.5, 2.0, layer.normalized_shape)
    layer.bias.value[...] = gen.standard_normal(layer.normalized_shape)
    return layer


def torch_twin(layer, torch):
    norm = torch.nn.LayerNorm(
        layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine, dtype=torch.float64
    )
    if layer.elementwise_affine:
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(layer.weight.value))
            norm.bias.copy_(torch.from_numpy(layer.bias.value))
    return norm


@pytest.mark.parametrize("normalized, shape", SHAPES)
def test_equals_pytorch_in_training_and_inference(normalized, shape):
    torch = pytest.importorskip("torch")
    layer = with_random_affine(mn.LayerNorm(normalized, eps=1e-3))
    norm = torch_twin(layer, torch)
    assert_matches_torch(layer, norm, batch(shape), [(layer.weight, norm.weight), (layer.bias, norm.bias)])
    assert_matches_torch(layer, norm, batch(shape, seed=1), training=False)


def test_equals_pytorch_without_affine_parameters():
    torch = pytest.importorskip("torch")
    layer = mn.LayerNorm((3, 4), elementwise_affine=False)
    assert layer.parameters() == [] and layer.weight is None
    assert_matches_torch(layer, torch_twin(layer, torch), batch((2, 5, 3, 4)))


@pytest.mark.parametrize("normalized, shape", SHAPES)
def test_gradcheck(normalized, shape):
    assert mn.gradcheck(with_random_affine(mn.LayerNorm(normalized)), batch(shape), atol=1e-5)


def test_each_sample_is_normalised_on_its_own():
    layer = mn.LayerNorm(4)
    x = batch((3, 4))
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(y[1:], layer.forward(x[1:]), **FORWARD)  # no other sample counts
    np.testing.assert_array_equal(layer.forward(x, training=False), y)


def test_huge_and_equal_values_give_finite_outputs_without_a_warning():
    layer = with_random_affine(mn.LayerNorm(3))
    x = np.array([[1e300, -1e300, 5e299], [1e-300, 0.0, -1e-300], [7.0, 7.0, 7.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y[2], layer.bias.value, **FORWARD)  # no variance: x_hat is 0


def test_inference_writes_no_state():
    assert_inference_writes_no_state(mn.LayerNorm(4), batch((3, 4)))


def test_float32_stays_float32():
    layer = mn.LayerNorm(4, dtype=np.float32)
    y = layer.forward(batch((3, 4)).astype(np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32
    plain = mn.LayerNorm(4, elementwise_affine=False)  # no parameters: the input's dtype
    assert plain.forward(batch((3, 4)).astype(np.float32)).dtype == np.float32


def test_output_shape_parameters_and_repr():
    layer = mn.LayerNorm((3, 4))
    assert layer.output_shape((7, 3, 4)) == (7, 3, 4)
    assert [(p.name, p.shape) for p in layer.parameters()] == [("weight", (3, 4)), ("bias", (3, 4))]
    assert [repr(mn.LayerNorm(8)), repr(layer), repr(mn.LayerNorm(8, eps=1e-6, elementwise_affine=False))] == [
        "LayerNorm(8)",
        "LayerNorm((3, 4))",
        "LayerNorm(8, eps=1e-06, elementwise_affine=False)",
    ]
    rebuilt = eval(repr(mn.LayerNorm(2, dtype=np.float32)), {**vars(mn), "np": np})
    assert rebuilt.get_config() == json.loads(json.dumps(rebuilt.get_config())) and rebuilt.dtype == np.float32


@pytest.mark.parametrize("affine", [True, False])
def test_saved_and_loaded_bit_for_bit(tmp_path, affine):
    model = mn.Sequential(mn.Dense(4, 6, seed=0), mn.LayerNorm(6, eps=1e-3, elementwise_affine=affine), mn.GELU())
    if affine:
        with_random_affine(model[1])
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    x = batch((5, 4))
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_a_file_declaring_a_huge_layer_norm_is_refused_before_allocating():
    assert mn.LayerNorm.parameter_count({"normalized_shape": [10**6, 10**6]}) == 2 * 10**12
    assert mn.LayerNorm.parameter_count({"normalized_shape": [4], "elementwise_affine": False}) == 0
    assert mn.LayerNorm.parameter_count({"normalized_shape": "4"}) is None


@row("layernorm-wrong-shape")
@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.ones((2, 4)), ValueError, r"LayerNorm\(\(3, 4\)\) expected a batch whose samples end in shape \(3, 4\), "),
        (np.ones((3, 4)), ValueError, r"got an array of shape \(3, 4\)"),  # no sample axis
        (np.ones((2, 3, 4), np.float32), TypeError, r"holds float64 parameters, got float32 input"),
    ],
)
def test_input_that_does_not_end_in_the_shape_is_refused(x, error, match):
    layer = mn.LayerNorm((3, 4))
    with pytest.raises(error, match=match):
        layer.forward(x)
    assert layer._cache is None


@row("layernorm-bad-argument")
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"normalized_shape": 0}, ValueError, r"normalized_shape must hold sizes >= 1, got \(0,\)"),
        ({"normalized_shape": 2.0}, TypeError, r"normalized_shape must be an integer or a non-empty tuple"),
        ({"normalized_shape": 2, "eps": 0.0}, ValueError, r"eps must be > 0.0, got 0.0"),
        ({"normalized_shape": 2, "elementwise_affine": 1}, TypeError, r"elementwise_affine must be True or False"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.LayerNorm(**kwargs)
