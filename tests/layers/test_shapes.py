"""Every layer's output_shape, and the layers that take any shape: Dense on the last axis, Softmax, Add, Concat."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import assert_matches_torch
from rows import row

import minnet as mn

# (layer, input sample shape): output_shape must equal the shape forward gives one batch of such samples.
CASES = [
    (lambda: mn.Dense(3, 4, seed=0), (3,)),
    (lambda: mn.Dense(3, 4, seed=0), (5, 2, 3)),
    (mn.Sigmoid, (2, 3, 4)),
    (mn.Tanh, (5,)),
    (mn.ReLU, (1, 4, 4)),
    (mn.LeakyReLU, (3, 2)),
    (mn.Softmax, (4,)),
    (mn.Softmax, (3, 2, 2)),
    (lambda: mn.Softmax(axis=-1), (2, 5)),
    (lambda: mn.Dropout(0.5, seed=0), (2, 3, 3)),
    (lambda: mn.BatchNorm(3), (3,)),
    (lambda: mn.BatchNorm2D(2), (2, 4, 5)),
    (mn.ELU, (2, 3)),
    (mn.Softplus, (4,)),
    (lambda: mn.GELU(approximate="tanh"), (1, 3, 3)),
    (lambda: mn.LayerNorm(4), (3, 4)),
    (lambda: mn.LayerNorm((2, 3, 3)), (2, 3, 3)),
    (lambda: mn.Conv2D(2, 3, 3, padding=1, seed=0), (2, 5, 4)),
    (lambda: mn.MaxPool2D(2), (2, 5, 4)),
    (lambda: mn.AvgPool2D(3, stride=1), (1, 5, 5)),
    (mn.GlobalAvgPool2D, (3, 4, 4)),
    (mn.Flatten, (2, 3, 4)),
    (lambda: mn.Reshape((2, -1)), (12,)),
    (lambda: mn.Sequential(mn.Conv2D(1, 2, 3, seed=0), mn.ReLU(), mn.Flatten(), mn.Dense(8, 2, seed=1)), (1, 4, 4)),
]


@pytest.mark.parametrize("make, shape", CASES)
def test_output_shape_is_the_shape_forward_gives(make, shape):
    layer = make()
    x = np.random.default_rng(0).standard_normal((3, *shape))
    assert layer.output_shape(shape) == layer.forward(x, training=False).shape[1:]


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (mn.Dense(3, 4), (5,), r"Dense\(3 -> 4\) expected samples of shape \(\.\.\., 3\), got shape \(5,\)"),
        (mn.BatchNorm(4), (4, 5, 5), r"BatchNorm\(4\) expected samples of shape \(4,\), got shape \(4, 5, 5\)"),
        (mn.LayerNorm((3, 4)), (4, 3), r"LayerNorm\(\(3, 4\)\) expected samples whose shape ends in \(3, 4\), got"),
        (mn.Softmax(axis=3), (4, 2), r"Softmax\(axis=3\) cannot run along axis 3 of a batch of shape \(n, 4, 2\)"),
        (mn.Concat(axis=2), [(4,), (3,)], r"Concat\(axis=2\) cannot join along axis 2"),
    ],
)
def test_output_shape_refuses_what_forward_refuses(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.output_shape(shape)


def test_a_custom_layer_gets_output_shape_from_one_zero_sample_without_writing_state():
    class Halve(mn.Layer):
        def forward(self, x, training=True):
            self._cache = "written"
            return x[:, ::2]

    layer = Halve()
    assert layer.output_shape((6, 3)) == (3, 3)
    assert layer._cache is None  # an inference pass: the store was dropped


def test_dense_maps_the_last_axis_as_torch_linear():
    torch = pytest.importorskip("torch")
    layer = mn.Dense(4, 3, seed=0)
    linear = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(layer.W.value.T))
        linear.bias.copy_(torch.from_numpy(np.linspace(-1, 1, 3)))
    layer.b.value[...] = np.linspace(-1, 1, 3)
    x = np.random.default_rng(1).standard_normal((2, 5, 3, 4))
    assert_matches_torch(layer, linear, x, [(layer.b, linear.bias)])
    np.testing.assert_allclose(layer.W.grad, linear.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)  # W is (in, out)


def test_dense_on_more_axes_passes_gradcheck_and_skips_the_input_gradient_on_request():
    layer = mn.Dense(3, 2, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    assert mn.gradcheck(layer, x)
    layer.forward(x)
    assert layer.backward(np.ones((2, 4, 2)), need_input_grad=False) is None


@row("dense-wrong-last-axis")
def test_dense_names_the_last_axis_of_a_batch_of_more_axes():
    with pytest.raises(ValueError, match=r"Dense\(3 -> 4\) expected 3 features on the last axis, got samples of shape"):
        mn.Dense(3, 4).forward(np.ones((2, 5, 2)))


@row("batchnorm-images")
def test_batchnorm_points_images_to_batchnorm2d():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) expected 3 features.*use BatchNorm2D\(3\)"):
        mn.BatchNorm(3).forward(np.ones((2, 3, 4, 4)))


@pytest.mark.parametrize("axis", [1, -1, 2])
def test_softmax_runs_along_its_axis_and_equals_torch(axis):
    torch = pytest.importorskip("torch")
    x = 3 * np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    layer = mn.Softmax(axis=axis)
    assert np.allclose(layer.forward(x).sum(axis=axis), 1.0)
    assert_matches_torch(layer, torch.nn.Softmax(dim=axis), x)
    assert mn.gradcheck(layer, x[:, :, :2, :2])


def test_softmax_and_concat_refuse_the_sample_axis_and_keep_their_axis_in_files(tmp_path):
    for make in (mn.Softmax, mn.Concat):
        with pytest.raises(ValueError, match="axis 0 is the samples"):
            make(axis=0)
    assert repr(mn.Softmax()) == "Softmax()" and repr(mn.Softmax(axis=-1)) == "Softmax(axis=-1)"
    mn.save(mn.Sequential(mn.Softmax(axis=-1)), tmp_path / "m.npz")
    assert mn.load(tmp_path / "m.npz")[0].axis == -1


@pytest.mark.parametrize(
    "axis, shapes, expected", [(1, [(2, 4, 4), (3, 4, 4)], (5, 4, 4)), (-1, [(2, 3), (2, 1)], (2, 4))]
)
def test_concat_joins_channels_or_any_axis(axis, shapes, expected):
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(0)
    xs = [gen.standard_normal((2, *shape)) for shape in shapes]
    layer = mn.Concat(axis=axis)
    assert layer.output_shape(shapes) == expected
    out = layer.forward(xs)
    assert np.array_equal(out, torch.cat([torch.from_numpy(x) for x in xs], dim=axis).numpy())
    grads = layer.backward(np.arange(out.size, dtype=float).reshape(out.shape))
    assert [g.shape for g in grads] == [x.shape for x in xs]
    assert np.array_equal(np.concatenate(grads, axis=axis), np.arange(out.size).reshape(out.shape))


def test_add_takes_any_shape_but_one_shape():
    assert mn.Add().output_shape([(2, 3, 3), (2, 3, 3)]) == (2, 3, 3)
    with pytest.raises(ValueError, match=r"Add\(\) needs inputs of one shape, got samples of shapes"):
        mn.Add().output_shape([(2, 3, 3), (2, 3, 4)])
