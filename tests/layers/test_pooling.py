"""MaxPool2D, AvgPool2D, GlobalAvgPool2D: gradcheck, PyTorch, ties, shapes, errors, files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn

# (kernel, stride, padding, input shape): side by side, overlapping, padded, non-square
WINDOWS = [
    (2, None, 0, (2, 3, 6, 8)),
    (3, 2, 0, (2, 2, 7, 9)),
    (3, 1, 1, (2, 2, 5, 6)),
    (3, 2, 1, (1, 2, 6, 7)),
    ((2, 3), (1, 2), (1, 1), (2, 2, 5, 7)),
    (2, 3, 0, (1, 1, 7, 8)),
]


def distinct_values(shape, seed=0):
    """Inputs whose values all differ by much more than gradcheck's step, so no probe changes a window's maximum."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))).astype(float)
    return (values * 0.01).reshape(shape)


@pytest.mark.parametrize("case", WINDOWS, ids=str)
@pytest.mark.parametrize("cls", [mn.MaxPool2D, mn.AvgPool2D])
def test_gradcheck(cls, case):
    kernel, stride, padding, shape = case
    assert mn.gradcheck(cls(kernel, stride, padding), distinct_values(shape))


@pytest.mark.parametrize("case", WINDOWS, ids=str)
@pytest.mark.parametrize("name", ["MaxPool2D", "AvgPool2D"])
def test_equals_pytorch(name, case):
    torch = pytest.importorskip("torch")
    kernel, stride, padding, shape = case
    module = getattr(torch.nn, name.replace("2D", "2d"))(kernel, stride, padding)
    x = np.random.default_rng(3).standard_normal(shape)
    assert_matches_torch(getattr(mn, name)(kernel, stride, padding), module, x)


def test_max_pool_sends_a_tie_where_pytorch_does():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 4, 4))  # every window is a tie; the overlapping ones share pixels
    x[0, 0, 1:3, 1:3] = 1.0
    assert_matches_torch(mn.MaxPool2D(2), torch.nn.MaxPool2d(2), x)
    assert_matches_torch(mn.MaxPool2D(3, 1, 1), torch.nn.MaxPool2d(3, 1, 1), x)


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    layer = mn.MaxPool2D(2)
    layer.forward(np.array([[[[1.0, 2.0], [2.0, 0.0]]]]))
    assert np.array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool_padding_is_never_the_maximum():
    x = -np.ones((1, 1, 2, 2))
    assert np.array_equal(mn.MaxPool2D(3, 1, 1).forward(x), x)


def test_avg_pool_counts_the_padding():
    x = np.ones((1, 1, 2, 2))
    assert np.allclose(mn.AvgPool2D(3, 1, 1).forward(x), 4 / 9)


def test_global_avg_pool():
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 6))
    layer = mn.GlobalAvgPool2D()
    assert np.allclose(layer.forward(x), x.mean(axis=(2, 3)))
    assert layer.output_shape((4, 5, 6)) == (4,)
    assert mn.gradcheck(layer, x)


def test_global_avg_pool_equals_adaptive_avg_pool_and_flatten():
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assert_matches_torch(mn.GlobalAvgPool2D(), module, np.random.default_rng(1).standard_normal((3, 4, 5, 7)))


@pytest.mark.parametrize("layer", [mn.MaxPool2D(2), mn.AvgPool2D(3, 1, 1), mn.GlobalAvgPool2D()], ids=repr)
def test_inference_writes_no_cache(layer):
    assert_inference_writes_no_state(layer, distinct_values((2, 2, 4, 4)))


def test_float32_stays_float32():
    x = distinct_values((2, 2, 4, 4)).astype(np.float32)
    for layer in (mn.MaxPool2D(2), mn.AvgPool2D(2), mn.GlobalAvgPool2D()):
        y = layer.forward(x)
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


def test_output_shape():
    assert mn.MaxPool2D(2).output_shape((32, 26, 26)) == (32, 13, 13)
    assert mn.MaxPool2D(2).output_shape((32, 11, 11)) == (32, 5, 5)  # the last row and column are dropped
    assert mn.AvgPool2D(3, 2, 1).output_shape((4, 7, 8)) == (4, 4, 4)
    layer, x = mn.MaxPool2D((2, 3), (1, 2), (1, 1)), np.zeros((2, 2, 5, 7))
    assert layer.forward(x).shape[1:] == layer.output_shape(x.shape[1:])


def test_repr_and_config():
    assert repr(mn.MaxPool2D(2)) == "MaxPool2D(2)"
    assert repr(mn.AvgPool2D(3, stride=2, padding=1)) == "AvgPool2D(3, stride=2, padding=1)"
    assert repr(mn.MaxPool2D((2, 3), (1, 2))) == "MaxPool2D((2, 3), stride=(1, 2))"
    assert repr(mn.GlobalAvgPool2D()) == "GlobalAvgPool2D()"
    layer = mn.MaxPool2D((2, 3), (1, 2), (1, 1))
    assert repr(mn.MaxPool2D(**layer.get_config())) == repr(layer)


def test_save_and_load(tmp_path):
    model = mn.Sequential(mn.Conv2D(1, 2, 3, seed=0), mn.MaxPool2D(2), mn.AvgPool2D(3, 1, 1), mn.GlobalAvgPool2D())
    mn.save(model, tmp_path / "pools.npz")
    loaded = mn.load(tmp_path / "pools.npz")
    x = distinct_values((2, 1, 9, 9))
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded.predict(x), model.predict(x))


# -- bad input: a clear error, nothing changed ------------------------------------------


@row("pool-empty-output")
def test_a_window_larger_than_the_input_is_refused():
    layer = mn.MaxPool2D(3)
    match = r"^MaxPool2D\(3\): a 3x3 window does not fit an input of shape \(8, 2, 2\) padded to 2x2"
    with pytest.raises(ValueError, match=match):
        layer.output_shape((8, 2, 2))
    with pytest.raises(ValueError, match=match):
        layer.forward(np.zeros((4, 8, 2, 2)))
    assert layer._cache is None


@row("pool-table")
def test_a_table_into_pooling_is_refused():
    for layer in (mn.MaxPool2D(2), mn.AvgPool2D(2), mn.GlobalAvgPool2D()):
        expected = r"expected a batch of images of shape \(n, C, H, W\), got an array of shape \(4, 10\)"
        match = rf"^{type(layer).__name__}\(2?\) {expected}"
        with pytest.raises(ValueError, match=match):
            layer.forward(np.zeros((4, 10)))
        assert layer._cache is None


@row("pool-padding-too-large")
def test_padding_beyond_half_the_kernel_is_refused():
    with pytest.raises(
        ValueError, match="padding must be at most half the kernel size, got padding=2 for kernel_size=3"
    ):
        mn.MaxPool2D(3, padding=2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(kernel_size=0), ValueError, "kernel_size must be >= 1, got 0"),
        (dict(kernel_size=2, stride=0), ValueError, "stride must be >= 1, got 0"),
        (dict(kernel_size="2"), TypeError, "kernel_size must be an integer or a pair of integers, got '2'"),
        (dict(kernel_size=2, padding=-1), ValueError, "padding must be >= 0, got -1"),
    ],
)
@pytest.mark.parametrize("cls", [mn.MaxPool2D, mn.AvgPool2D])
def test_bad_constructor_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_a_gradient_of_the_wrong_shape_is_refused():
    for layer in (mn.MaxPool2D(2), mn.AvgPool2D(2), mn.GlobalAvgPool2D()):
        layer.forward(np.zeros((2, 3, 4, 4)))
        with pytest.raises(ValueError, match="backward expected a gradient of shape"):
            layer.backward(np.zeros((2, 3, 3, 3)))


def max_pool_by_loop(x, kernel, stride, padding, grad):
    """The definition, one window at a time: its maximum, and G to the first maximum in row-major order."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    n, c, h, w = xp.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out, dxp = np.empty((n, c, oh, ow)), np.zeros_like(xp)
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(n, c, -1)
            first = window.argmax(axis=-1)
            out[:, :, i, j] = window.max(axis=-1)
            for m in range(n):
                for k in range(c):
                    a, b = divmod(int(first[m, k]), kw)
                    dxp[m, k, i * sh + a, j * sw + b] += grad[m, k, i, j]
    return out, dxp[:, :, ph : h - ph, pw : w - pw]


@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    size=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 7), st.integers(3, 7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_max_pool_equals_the_loop_over_windows_ties_included(kernel, stride, padding, size, seed):
    padding = tuple(min(p, k // 2) for p, k in zip(padding, kernel))
    gen = np.random.default_rng(seed)
    x = gen.integers(0, 3, size).astype(float)  # few values: many ties
    layer = mn.MaxPool2D(kernel, stride, padding)
    out = layer.forward(x)
    grad = gen.standard_normal(out.shape)
    expected_out, expected_dx = max_pool_by_loop(x, kernel, stride, padding, grad)
    assert np.array_equal(out, expected_out)
    assert np.allclose(layer.backward(grad), expected_dx, rtol=1e-12, atol=1e-12)
