"""Conv2D: the definition (a loop over the window), gradcheck, PyTorch, shapes, errors, files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_inference_writes_no_state, assert_matches_torch
from rows import row

import minnet as mn


def conv2d_loop(x, W, b, stride, pads):
    """The definition, one output pixel at a time: y[n, o, i, j] = b[o] + sum over its window of W * x."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    _, _, kh, kw = W.shape
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    y = np.zeros((len(x), len(W), oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, :, i, j] = np.einsum("ncab,ocab->no", window, W) + (0 if b is None else b)
    return y


def conv2d_loop_backward(x, W, grad, stride, pads):
    """dL/dx and dL/dW by the same loop: each window sends G back through the weights it met."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    _, _, kh, kw = W.shape
    for i in range(grad.shape[2]):
        for j in range(grad.shape[3]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            dxp[:, :, rows, cols] += np.einsum("no,ocab->ncab", grad[:, :, i, j], W)
            dW += np.einsum("no,ncab->ocab", grad[:, :, i, j], xp[:, :, rows, cols])
    return dxp[:, :, pt : xp.shape[2] - pb, pl : xp.shape[3] - pr], dW


@settings(max_examples=40, deadline=None, database=None)
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    extra=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fast_path_equals_the_loop_over_the_window(n, c_in, c_out, kernel, stride, padding, extra, bias, seed):
    layer = mn.Conv2D(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias, seed=seed)
    if bias:
        layer.b.value[...] = np.random.default_rng(seed).standard_normal(c_out)
    h, w = max(kernel[0] - 2 * padding[0], 1) + extra[0], max(kernel[1] - 2 * padding[1], 1) + extra[1]
    x = np.random.default_rng(seed + 1).standard_normal((n, c_in, h, w))
    pads = layer.pads
    y = layer.forward(x)
    np.testing.assert_allclose(y, conv2d_loop(x, layer.W.value, layer.b and layer.b.value, stride, pads), atol=1e-12)
    grad = np.random.default_rng(seed + 2).standard_normal(y.shape)
    dx, dW = conv2d_loop_backward(x, layer.W.value, grad, stride, pads)
    np.testing.assert_allclose(layer.backward(grad), dx, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad, dW, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.b.grad, grad.sum(axis=(0, 2, 3)), atol=1e-12)


CASES = [
    # (in, out, kernel, stride, padding, bias, input shape)
    (2, 3, 3, 1, 0, True, (2, 2, 6, 7)),
    (2, 3, 3, 2, 0, True, (2, 2, 7, 6)),
    (2, 3, 3, 1, 1, False, (2, 2, 5, 6)),
    (2, 3, 3, 2, 1, True, (2, 2, 6, 5)),
    (2, 3, 3, 1, "same", True, (2, 2, 5, 7)),
    (2, 2, 1, 1, 0, True, (2, 2, 4, 5)),
    (2, 2, 1, 2, 0, False, (2, 2, 5, 4)),
    (1, 2, 5, 1, 0, True, (2, 1, 7, 6)),
    (1, 2, 5, 2, 1, True, (2, 1, 8, 7)),
    (1, 2, 5, 1, "same", False, (2, 1, 5, 6)),
    (2, 2, (2, 4), (1, 2), (1, 0), True, (2, 2, 5, 7)),
    (2, 2, 4, 1, "same", True, (1, 2, 5, 6)),
]


def _layer(c_in, c_out, kernel, stride, padding, bias, seed=0):
    layer = mn.Conv2D(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias, seed=seed)
    if bias:
        layer.b.value[...] = np.random.default_rng(seed).standard_normal(c_out)
    return layer


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradcheck(case):
    *args, shape = case
    x = np.random.default_rng(1).standard_normal(shape)
    assert mn.gradcheck(_layer(*args), x)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_equals_pytorch(case):
    torch = pytest.importorskip("torch")
    c_in, c_out, kernel, stride, padding, bias, shape = case
    layer = _layer(c_in, c_out, kernel, stride, padding, bias)
    conv = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.W.value))
        if bias:
            conv.bias.copy_(torch.from_numpy(layer.b.value))
    pairs = [(layer.W, conv.weight)] + ([(layer.b, conv.bias)] if bias else [])
    x = np.random.default_rng(2).standard_normal(shape)
    with warnings.catch_warnings():
        # torch notes that an even kernel with padding="same" copies its input: true, and beside the point here.
        warnings.filterwarnings("ignore", "Using padding='same' with even kernel", UserWarning)
        assert_matches_torch(layer, conv, x, pairs)


def test_init_uses_pytorchs_fans():
    layer = mn.Conv2D(4, 8, (3, 5), init="xavier", seed=0)
    fan_in, fan_out = 4 * 15, 8 * 15
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(layer.W.value).max() <= limit and np.abs(layer.W.value).max() > 0.95 * limit
    he = mn.Conv2D(16, 32, 3, seed=0).W.value
    assert abs(he.std() / np.sqrt(2 / (16 * 9)) - 1) < 0.05


def test_init_callable_gets_the_fans_and_the_shape():
    seen = []

    def ones(fan_in, fan_out, rng, dtype, shape):
        seen.append((fan_in, fan_out, shape))
        return np.ones(shape, dtype)

    layer = mn.Conv2D(2, 3, (4, 5), init=ones)
    assert seen == [(40, 60, (3, 2, 4, 5))] and (layer.W.value == 1).all()


def test_same_seed_same_weights_and_float32_end_to_end():
    a, b = mn.Conv2D(2, 3, 3, seed=5, dtype=np.float32), mn.Conv2D(2, 3, 3, seed=5, dtype=np.float32)
    assert np.array_equal(a.W.value, b.W.value)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = a.forward(x)
    assert y.dtype == np.float32 and a.backward(np.ones_like(y)).dtype == np.float32
    assert a.W.grad.dtype == np.float32 and a.b.grad.dtype == np.float32


def test_output_shape():
    assert mn.Conv2D(1, 32, 3).output_shape((1, 28, 28)) == (32, 26, 26)
    assert mn.Conv2D(1, 8, 3, stride=2, padding=1).output_shape((1, 28, 28)) == (8, 14, 14)
    assert mn.Conv2D(3, 4, (2, 4), padding="same").output_shape((3, 5, 9)) == (4, 5, 9)
    layer = mn.Conv2D(2, 4, (3, 1), stride=(2, 1), padding=(1, 0))
    x = np.zeros((2, 2, 7, 5))
    assert layer.forward(x).shape[1:] == layer.output_shape(x.shape[1:]) == (4, 4, 5)


def test_inference_writes_no_cache():
    assert_inference_writes_no_state(mn.Conv2D(2, 3, 3, seed=0), np.ones((2, 2, 5, 5)))
    layer = mn.Conv2D(2, 3, 3, seed=0)
    layer.forward(np.ones((2, 2, 5, 5)), training=False)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((2, 3, 3, 3)))


def test_need_input_grad_false_skips_the_input_gradient_only():
    layer = mn.Conv2D(2, 3, 3, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6))
    grad = np.random.default_rng(1).standard_normal((2, 3, 3, 4))
    layer.forward(x)
    assert mn.layers.backward_through(layer, grad, need_input_grad=False) is None
    W_grad, b_grad = layer.W.grad.copy(), layer.b.grad.copy()
    layer.backward(grad)
    assert np.array_equal(layer.W.grad, W_grad) and np.array_equal(layer.b.grad, b_grad)


def test_parameters_repr_and_config():
    layer = mn.Conv2D(1, 32, 3)
    assert [p.name for p in layer.parameters()] == ["W", "b"]
    assert [p.shape for p in layer.parameters()] == [(32, 1, 3, 3), (32,)]
    no_bias = mn.Conv2D(1, 2, 3, bias=False)
    assert no_bias.b is None and no_bias.parameters() == [no_bias.W]
    assert repr(layer) == "Conv2D(1, 32, 3)"
    shown = mn.Conv2D(3, 8, (3, 5), stride=2, padding=(1, 2), bias=False, init="xavier", dtype=np.float32)
    assert repr(shown) == "Conv2D(3, 8, (3, 5), stride=2, padding=(1, 2), bias=False, init='xavier', dtype=np.float32)"
    assert repr(mn.Conv2D(3, 8, 3, padding="same")) == "Conv2D(3, 8, 3, padding='same')"
    rebuilt = mn.Conv2D(**shown.get_config())
    assert rebuilt.get_config() == shown.get_config() and repr(rebuilt) == repr(shown)


@pytest.mark.parametrize("padding", [0, "valid", "same", (2, 1)])
def test_save_and_load_predict_bit_identically(tmp_path, padding):
    model = mn.Sequential(mn.Conv2D(2, 3, 3, padding=padding, seed=0), mn.ReLU(), mn.Conv2D(3, 1, 1, seed=1))
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    mn.save(model, tmp_path / "cnn.npz")
    loaded = mn.load(tmp_path / "cnn.npz")
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_a_file_describing_a_huge_conv_is_refused_before_allocating():
    assert mn.Conv2D.parameter_count({"in_channels": 10**4, "out_channels": 10**4, "kernel_size": [9, 9]}) == (
        10**8 * 81 + 10**4
    )
    assert mn.Conv2D.parameter_count({"in_channels": "3", "out_channels": 4, "kernel_size": 3}) is None


# -- bad input: a clear error, nothing changed ------------------------------------------


def _refused(layer, x, error, match):
    before = (layer._cache, [p.value.copy() for p in layer.parameters()])
    with pytest.raises(error, match=match):
        layer.forward(x)
    assert layer._cache is before[0]
    assert all(np.array_equal(p.value, v) for p, v in zip(layer.parameters(), before[1]))


@row("conv-2d-batch")
def test_a_table_into_conv2d_is_refused():
    _refused(
        mn.Conv2D(1, 8, 3),
        np.zeros((4, 784)),
        ValueError,
        r"^Conv2D\(1, 8, 3\) expected a batch of images of shape \(n, 1, H, W\), got an array of shape \(4, 784\)",
    )


@row("conv-wrong-channels")
def test_the_wrong_channel_count_is_refused():
    layer = mn.Conv2D(1, 8, 3)
    _refused(
        layer, np.zeros((4, 3, 28, 28)), ValueError, r"shape \(n, 1, H, W\), got an array of shape \(4, 3, 28, 28\)"
    )
    with pytest.raises(
        ValueError, match=r"Conv2D\(1, 8, 3\) expected samples of shape \(1, H, W\), got shape \(3, 28, 28\)"
    ):
        layer.output_shape((3, 28, 28))


@row("conv-kernel-too-large")
def test_a_kernel_larger_than_the_padded_input_is_refused():
    layer = mn.Conv2D(1, 8, 5, padding=1)
    match = r"Conv2D\(1, 8, 5, padding=1\): a 5x5 window does not fit an input of shape \(1, 2, 3\) padded to 4x5"
    _refused(layer, np.zeros((4, 1, 2, 3)), ValueError, match)
    with pytest.raises(ValueError, match=match):
        layer.output_shape((1, 2, 3))


def test_a_float64_batch_into_a_float32_layer_is_refused():
    _refused(mn.Conv2D(1, 2, 3, dtype=np.float32), np.zeros((1, 1, 4, 4)), TypeError, "float32 weights, got float64")


def test_a_gradient_of_the_wrong_shape_is_refused():
    layer = mn.Conv2D(1, 2, 3)
    layer.forward(np.zeros((2, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 2, 3, 3\).*got \(2, 2, 3, 4\)"):
        layer.backward(np.zeros((2, 2, 3, 4)))


@row("conv-same-with-stride")
def test_same_padding_with_a_stride_is_refused():
    with pytest.raises(ValueError, match=r"padding='same' needs stride=1 \(as in PyTorch\), got stride=2"):
        mn.Conv2D(1, 2, 3, stride=2, padding="same")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(kernel_size=0), ValueError, "kernel_size must be >= 1, got 0"),
        (
            dict(kernel_size=(3, 3, 3)),
            TypeError,
            r"kernel_size must be an integer or a pair of integers, got \(3, 3, 3\)",
        ),
        (dict(kernel_size=2.5), TypeError, "kernel_size must be an integer or a pair"),
        (dict(stride=0), ValueError, "stride must be >= 1, got 0"),
        (dict(padding=-1), ValueError, "padding must be >= 0, got -1"),
        (dict(padding="full"), ValueError, "padding must be one of 'valid', 'same', got 'full'"),
        (dict(init="glorot"), ValueError, "init must be one of"),
        (dict(dtype=np.int32), TypeError, "dtype must be np.float32 or np.float64"),
        (dict(bias="yes"), TypeError, "bias must be True or False"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    args = dict(in_channels=1, out_channels=2, kernel_size=3) | kwargs
    with pytest.raises(error, match=match):
        mn.Conv2D(**args)
