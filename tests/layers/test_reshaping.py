"""Flatten and Reshape: gradcheck, PyTorch, shapes, errors, files."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 3, 4, 5)])
def test_flatten(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    layer = mn.Flatten()
    assert np.array_equal(layer.forward(x), x.reshape(len(x), -1))
    assert layer.output_shape(shape[1:]) == (int(np.prod(shape[1:])),)
    assert mn.gradcheck(layer, x)


def test_flatten_equals_pytorch():
    torch = pytest.importorskip("torch")
    assert_matches_torch(mn.Flatten(), torch.nn.Flatten(), np.random.default_rng(1).standard_normal((2, 3, 4, 5)))


@pytest.mark.parametrize(
    "target, input_shape, output_shape",
    [
        ((1, 28, 28), (784,), (1, 28, 28)),
        ((-1, 4), (2, 3, 4), (6, 4)),
        (12, (3, 4), (12,)),
        ([2, -1, 2], (12,), (2, 3, 2)),
    ],
)
def test_reshape(target, input_shape, output_shape):
    layer = mn.Reshape(target)
    x = np.random.default_rng(0).standard_normal((2, *input_shape))
    assert layer.output_shape(input_shape) == output_shape
    assert np.array_equal(layer.forward(x), x.reshape(2, *output_shape))
    assert mn.gradcheck(layer, x)


def test_reshape_equals_pytorch_unflatten():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((3, 24))
    assert_matches_torch(mn.Reshape((2, 3, 4)), torch.nn.Unflatten(1, (2, 3, 4)), x)


@pytest.mark.parametrize("layer", [mn.Flatten(), mn.Reshape((-1,))], ids=repr)
def test_inference_writes_no_cache(layer):
    assert_inference_writes_no_state(layer, np.ones((2, 3, 4)))


def test_repr_config_and_files(tmp_path):
    assert repr(mn.Flatten()) == "Flatten()"
    assert repr(mn.Reshape((1, 28, 28))) == "Reshape((1, 28, 28))"
    assert repr(mn.Reshape(-1)) == "Reshape((-1,))"
    model = mn.Sequential(mn.Reshape((1, 4, 4)), mn.Conv2D(1, 2, 3, seed=0), mn.Flatten())
    mn.save(model, tmp_path / "reshape.npz")
    loaded = mn.load(tmp_path / "reshape.npz")
    x = np.random.default_rng(0).standard_normal((3, 16))
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded.predict(x), model.predict(x))


@row("reshape-wrong-size")
def test_a_reshape_to_a_different_size_is_refused():
    layer = mn.Reshape((3, 5))
    match = r"^Reshape\(\(3, 5\)\) cannot reshape samples of shape \(16,\) \(16 values\) to \(3, 5\) \(15 values\)"
    with pytest.raises(ValueError, match=match):
        layer.output_shape((16,))
    with pytest.raises(ValueError, match=match):
        layer.forward(np.zeros((4, 16)))
    assert layer._cache is None
    with pytest.raises(ValueError, match=r"to \(-1, 5\) \(a multiple of 5 values\)"):
        mn.Reshape((-1, 5)).output_shape((2, 8))


@row("reshape-bad-shape")
@pytest.mark.parametrize(
    "shape, error, match",
    [
        ((-1, -1), ValueError, r"shape must hold sizes >= 1 and at most one -1, got \(-1, -1\)"),
        ((0, 3), ValueError, r"shape must hold sizes >= 1 and at most one -1, got \(0, 3\)"),
        ((), TypeError, r"shape must be an integer or a tuple of integers, got \(\)"),
        ((2.0, 3), TypeError, "shape must be an integer or a tuple of integers"),
        ("28x28", TypeError, "shape must be an integer or a tuple of integers, got '28x28'"),
    ],
)
def test_a_bad_target_shape_is_refused(shape, error, match):
    with pytest.raises(error, match=match):
        mn.Reshape(shape)


def test_a_batch_without_a_sample_axis_is_refused():
    for layer in (mn.Flatten(), mn.Reshape(-1)):
        with pytest.raises(ValueError, match=r"expected a batch of shape \(n, \*shape\), got an array of shape \(5,\)"):
            layer.forward(np.zeros(5))


def test_a_gradient_of_the_wrong_shape_is_refused():
    layer = mn.Flatten()
    layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 12\)"):
        layer.backward(np.zeros((2, 3, 4)))
