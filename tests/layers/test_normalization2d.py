"""BatchNorm2D: gradcheck, PyTorch (training, running statistics, inference), state, errors, files."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import FORWARD, assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn


def images(shape, seed=0, scale=3.0, shift=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


def with_random_affine(layer, seed=0):
    gen = np.random.default_rng(seed)
    layer.gamma.value[...] = gen.uniform(0.5, 2.0, layer.channels)
    layer.beta.value[...] = gen.standard_normal(layer.channels)
    return layer


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (1, 2, 3, 4), (3, 1, 1, 2)])
def test_gradcheck_in_training_every_gradient(shape):
    layer = with_random_affine(mn.BatchNorm2D(shape[1]))
    assert mn.gradcheck(layer, images(shape), atol=1e-5)
    assert layer.num_batches_tracked == 0  # gradcheck puts the running statistics back


def _torch_twin(layer, torch, momentum=0.1):
    norm = torch.nn.BatchNorm2d(layer.channels, eps=layer.eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(layer.gamma.value))
        norm.bias.copy_(torch.from_numpy(layer.beta.value))
    return norm


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_equals_pytorch_in_training_running_statistics_and_inference(momentum):
    torch = pytest.importorskip("torch")
    layer = with_random_affine(mn.BatchNorm2D(3, momentum=momentum))
    norm = _torch_twin(layer, torch, momentum)
    pairs = [(layer.gamma, norm.weight), (layer.beta, norm.bias)]
    for step in range(3):
        x = images((4, 3, 5, 6), seed=step, shift=step)
        norm.zero_grad()
        assert_matches_torch(layer, norm, x, pairs)
        np.testing.assert_allclose(layer.running_mean, norm.running_mean.numpy(), **FORWARD)
        np.testing.assert_allclose(layer.running_var, norm.running_var.numpy(), **FORWARD)  # unbiased
    assert layer.num_batches_tracked == int(norm.num_batches_tracked) == 3
    assert_matches_torch(layer, norm, images((2, 3, 4, 4), seed=9), training=False)


def test_inference_writes_no_state():
    layer = mn.BatchNorm2D(2)
    assert_inference_writes_no_state(layer, images((3, 2, 4, 4)))


def test_inference_normalises_with_the_running_statistics():
    layer = with_random_affine(mn.BatchNorm2D(2))
    layer.running_mean[...] = [1.0, -2.0]
    layer.running_var[...] = [4.0, 0.25]
    x = images((2, 2, 3, 3))
    expected = (x - layer.running_mean[:, None, None]) / np.sqrt(layer.running_var[:, None, None] + 1e-5)
    expected = expected * layer.gamma.value[:, None, None] + layer.beta.value[:, None, None]
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-13)


def test_need_input_grad_false_writes_the_parameter_gradients_only():
    layer = mn.BatchNorm2D(2)
    x, grad = images((3, 2, 4, 4)), images((3, 2, 4, 4), seed=1)
    layer.forward(x)
    assert mn.layers.backward_through(layer, grad, need_input_grad=False) is None
    gamma, beta = layer.gamma.grad.copy(), layer.beta.grad.copy()
    layer.backward(grad)
    assert np.array_equal(gamma, layer.gamma.grad) and np.array_equal(beta, layer.beta.grad)


def test_float32_stays_float32():
    layer = mn.BatchNorm2D(2, dtype=np.float32)
    y = layer.forward(images((3, 2, 4, 4)).astype(np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.running_var.dtype == np.float32


def test_state_save_and_load(tmp_path):
    model = mn.Sequential(mn.Conv2D(1, 2, 3, seed=0), mn.BatchNorm2D(2, momentum=0.2, eps=1e-3), mn.ReLU())
    for seed in range(2):
        x = images((4, 1, 6, 6), seed=seed)
        for layer in model:
            x = layer.forward(x)
    mn.save(model, tmp_path / "bn.npz")
    loaded = mn.load(tmp_path / "bn.npz")
    assert repr(loaded[1]) == "BatchNorm2D(2, momentum=0.2, eps=0.001)"
    assert np.array_equal(loaded[1].running_var, model[1].running_var) and loaded[1].num_batches_tracked == 2
    x = images((2, 1, 6, 6), seed=5)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_set_state_checks_the_shape_by_channels():
    layer = mn.BatchNorm2D(3)
    state = layer.get_state() | {"running_mean": np.zeros(2)}
    with pytest.raises(ValueError, match=r"state 'running_mean' must be float64 of shape \(3,\)"):
        layer.set_state(state)


def test_output_shape_parameters_and_repr():
    layer = mn.BatchNorm2D(32)
    assert layer.output_shape((32, 13, 13)) == (32, 13, 13)
    assert [p.name for p in layer.parameters()] == ["gamma", "beta"]
    assert repr(layer) == "BatchNorm2D(32)" and layer.get_config()["channels"] == 32
    assert layer.in_features() is None  # a Sequential starting with it fixes no table width
    assert repr(mn.BatchNorm2D(**layer.get_config())) == repr(layer)


@row("batchnorm2d-wrong-channels")
def test_the_wrong_channel_count_is_refused():
    layer = mn.BatchNorm2D(3)
    before = layer.get_state()
    match = (
        r"^BatchNorm2D\(3\) expected a batch of images of shape \(n, 3, H, W\), got an array of shape \(4, 2, 5, 5\)"
    )
    with pytest.raises(ValueError, match=match):
        layer.forward(images((4, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"expected samples of shape \(3, H, W\), got shape \(2, 5, 5\)"):
        layer.output_shape((2, 5, 5))
    with pytest.raises(ValueError, match=r"got an array of shape \(4, 3\)"):
        layer.forward(images((4, 3)))
    assert layer._cache is None and layer.num_batches_tracked == before["num_batches_tracked"]


@row("batchnorm2d-one-value-per-channel")
def test_training_on_one_value_per_channel_is_refused():
    layer = mn.BatchNorm2D(3)
    with pytest.raises(ValueError, match=r"needs more than 1 value per channel .* shape \(1, 3, 1, 1\)"):
        layer.forward(images((1, 3, 1, 1)))
    assert layer.num_batches_tracked == 0 and layer._cache is None
    layer.forward(images((1, 3, 2, 1)))  # one image of two pixels is enough, as in PyTorch


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(channels=0), ValueError, "channels must be >= 1, got 0"),
        (dict(channels=2.0), TypeError, "channels must be an integer"),
        (dict(channels=2, momentum=1.5), ValueError, "momentum must be <= 1.0"),
        (dict(channels=2, eps=0.0), ValueError, "eps must be > 0.0"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.BatchNorm2D(**kwargs)
