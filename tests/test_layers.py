"""Parameter, Dense and the activations: shapes, init, dtypes, caches, reprs."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn

ACTIVATIONS = [mn.Sigmoid, mn.ReLU, mn.Tanh, mn.LeakyReLU]
ALL_LAYERS = [lambda: mn.Dense(3, 4, rng=0), lambda: mn.Dense(3, 4, bias=False, rng=0), *ACTIVATIONS]


# -- Parameter ----------------------------------------------------------------


def test_parameter_grad_is_nan_of_same_shape_and_dtype_until_a_backward_writes_it():
    p = mn.Parameter(np.ones((2, 3), np.float32), name="W")
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and np.isnan(p.grad).all()


def test_parameter_copies_the_callers_array():
    source = np.ones(3)
    p = mn.Parameter(source)
    p.value[0] = 5.0
    assert source[0] == 1.0


def test_parameter_integer_value_becomes_float64():
    assert mn.Parameter([1, 2, 3]).value.dtype == np.float64


# -- Dense: shapes and parameters ---------------------------------------------


def test_dense_forward_backward_shapes(rng):
    layer = mn.Dense(3, 4, rng=0)
    out = layer.forward(rng.standard_normal((5, 3)))
    assert out.shape == (5, 4)
    assert layer.backward(np.ones((5, 4))).shape == (5, 3)
    assert layer.W.grad.shape == (3, 4) and layer.b.grad.shape == (4,)


def test_dense_parameter_order_is_weight_then_bias():
    layer = mn.Dense(3, 4, rng=0)
    assert layer.parameters() == [layer.W, layer.b]
    assert [p.name for p in layer.parameters()] == ["W", "b"]
    assert layer.W.shape == (3, 4) and layer.b.shape == (4,)


def test_dense_without_bias_has_only_weight():
    layer = mn.Dense(3, 4, bias=False, rng=0)
    assert layer.parameters() == [layer.W] and layer.b is None


def test_dense_forward_is_x_at_w_plus_b(rng):
    layer = mn.Dense(3, 2, rng=0)
    layer.b.value[...] = [0.5, -1.0]
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(x), x @ layer.W.value + layer.b.value, rtol=1e-15, atol=0)


def test_dense_backward_is_the_matrix_calculus(rng):
    layer = mn.Dense(3, 2, rng=0)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    dx = layer.backward(g)
    np.testing.assert_allclose(layer.W.grad, x.T @ g, rtol=1e-14)
    np.testing.assert_allclose(layer.b.grad, g.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(dx, g @ layer.W.value.T, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_in, n_out", [(1, 7), (7, 1), (1, 1)])
def test_dense_with_one_input_or_output_equals_the_matrix_products_bit_for_bit(rng, n_in, n_out, dtype):
    # A product with one inner term is computed as a broadcast outer product: the same numbers.
    layer = mn.Dense(n_in, n_out, dtype=dtype, rng=0)
    layer.b.value[...] = rng.standard_normal(n_out)
    x = rng.standard_normal((33, n_in)).astype(dtype)
    g = rng.standard_normal((33, n_out)).astype(dtype)
    np.testing.assert_array_equal(layer.forward(x), x @ layer.W.value + layer.b.value)
    np.testing.assert_array_equal(layer.backward(g), g @ layer.W.value.T)
    np.testing.assert_array_equal(layer.W.grad, x.T @ g)


def test_dense_with_one_input_never_broadcasts_a_weight_of_another_shape():
    layer = mn.Dense(1, 3, rng=0)
    layer.W.value = np.ones((2, 3))
    with pytest.raises(ValueError):
        layer.forward(np.ones((2, 1)))


def test_dense_bias_starts_at_zero():
    assert not mn.Dense(3, 4, rng=0).b.value.any()


def test_dense_wrong_feature_count_names_the_layer(rng):
    with pytest.raises(ValueError, match=r"Dense\(8 -> 16\) expected 8 features, got 7"):
        mn.Dense(8, 16).forward(rng.standard_normal((2, 7)))


def test_dense_refuses_input_of_another_dtype(rng):
    with pytest.raises(TypeError, match="float32"):
        mn.Dense(3, 2, dtype=np.float32).forward(rng.standard_normal((2, 3)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_dense_refuses_bad_sizes(bad):
    with pytest.raises((TypeError, ValueError)):
        mn.Dense(bad, 3)


def test_dense_refuses_unknown_init():
    with pytest.raises(ValueError, match="glorot"):
        mn.Dense(3, 2, init="glorot")


def test_dense_refuses_unsupported_dtype():
    with pytest.raises(TypeError, match="float32 or np.float64"):
        mn.Dense(3, 2, dtype=np.int64)


@pytest.mark.parametrize("dtype", [7, 2.5, True, "x"])
def test_dense_refuses_a_dtype_numpy_cannot_read(dtype):
    # np.dtype(7) fails, and a float dtype compares equal to None (np.dtype(None) is float64).
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        mn.Dense(3, 2, dtype=dtype)


# -- Dense: initialisation ----------------------------------------------------


def test_same_seed_gives_bit_identical_weights():
    a, b = mn.Dense(10, 7, rng=42), mn.Dense(10, 7, rng=42)
    assert np.array_equal(a.W.value, b.W.value)


def test_same_generator_state_gives_bit_identical_weights():
    a = mn.Dense(10, 7, rng=np.random.default_rng(3))
    b = mn.Dense(10, 7, rng=np.random.default_rng(3))
    assert np.array_equal(a.W.value, b.W.value)


def test_different_seeds_give_different_weights():
    assert not np.array_equal(mn.Dense(10, 7, rng=1).W.value, mn.Dense(10, 7, rng=2).W.value)


@pytest.mark.parametrize(
    "init, n_in, n_out, variance",
    [
        ("xavier", 300, 200, 2.0 / (300 + 200)),  # U(-a, a) with a^2 = 6 / (n_in + n_out): var = a^2 / 3
        ("he", 300, 200, 2.0 / 300),
        ("normal", 300, 200, 0.01**2),
    ],
)
def test_init_variance(init, n_in, n_out, variance):
    W = mn.Dense(n_in, n_out, init=init, rng=0).W.value
    # 60,000 draws: the sample variance is within ~1.2% (2 sigma) of the truth.
    assert abs(W.mean()) < 0.02 * np.sqrt(variance)
    assert W.var() == pytest.approx(variance, rel=0.03)


def test_xavier_is_bounded_by_its_limit():
    W = mn.Dense(50, 30, init="xavier", rng=0).W.value
    assert np.abs(W).max() <= np.sqrt(6.0 / 80)


def test_callable_init_receives_shape_rng_dtype_and_is_used():
    calls = []

    def ones(n_in, n_out, rng, dtype):
        calls.append((n_in, n_out, type(rng), dtype))
        return np.ones((n_in, n_out), dtype)

    layer = mn.Dense(3, 2, init=ones, dtype=np.float32)
    assert calls == [(3, 2, np.random.Generator, np.dtype(np.float32))]
    assert np.array_equal(layer.W.value, np.ones((3, 2))) and layer.W.value.dtype == np.float32


def test_callable_init_of_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        mn.Dense(3, 2, init=lambda n_in, n_out, rng, dtype: np.ones((2, 3)))


def test_reset_parameters_redraws_in_place():
    layer = mn.Dense(4, 3, rng=0)
    W = layer.W.value
    layer.b.value[...] = 1.0
    layer.reset_parameters(seed=1)
    assert layer.W.value is W  # optimizers hold references to these arrays
    assert np.array_equal(W, mn.Dense(4, 3, rng=1).W.value) and not layer.b.value.any()


# -- activations --------------------------------------------------------------


def test_sigmoid_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(mn.Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)


def test_tanh_values():
    x = np.array([[-2.0, 0.0, 0.5]])
    np.testing.assert_array_equal(mn.Tanh().forward(x), np.tanh(x))


def test_relu_values_and_gradient_is_zero_at_zero():
    relu = mn.ReLU()
    np.testing.assert_array_equal(relu.forward(np.array([[-1.0, 0.0, 2.0]])), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_leaky_relu_values_and_gradient():
    leaky = mn.LeakyReLU(0.1)
    np.testing.assert_allclose(leaky.forward(np.array([[-2.0, 3.0]])), [[-0.2, 3.0]], rtol=1e-15)
    np.testing.assert_allclose(leaky.backward(np.array([[1.0, 1.0]])), [[0.1, 1.0]], rtol=1e-15)


def test_leaky_relu_default_slope_is_torchs():
    assert mn.LeakyReLU().negative_slope == 0.01


def test_leaky_relu_refuses_negative_slope():
    with pytest.raises(ValueError, match="negative_slope"):
        mn.LeakyReLU(-0.1)


@pytest.mark.parametrize("x", [1e4, -1e4, 1e308, -1e308, 710.0, -750.0])
def test_sigmoid_extreme_inputs_raise_no_floating_point_warning(x):
    s = mn.Sigmoid()
    with np.errstate(all="raise"):
        out = s.forward(np.array([[x]]))
        grad = s.backward(np.ones((1, 1)))
    assert out[0, 0] == (1.0 if x > 0 else 0.0) or 0.0 < out[0, 0] < 1e-300
    assert np.isfinite(grad).all()


def test_sigmoid_is_symmetric_far_out():
    x = np.array([[-30.0, 30.0]])
    out = mn.Sigmoid().forward(x)
    assert out[0, 0] == pytest.approx(np.exp(-30.0), rel=1e-14)  # not 1 - 1 rounded to 0


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_backward_before_forward_raises(make):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward(np.ones((2, 4)))


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_backward_refuses_wrong_grad_shape(make, rng):
    layer = make()
    layer.forward(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_keeps_shape(make, rng):
    layer = make()
    assert layer.forward(rng.standard_normal((5, 3))).shape == (5, 3)
    assert layer.backward(np.ones((5, 3))).shape == (5, 3)
    assert layer.parameters() == []


# -- backward writes, caches are overwritten ----------------------------------


def test_backward_writes_gradients_instead_of_accumulating(rng):
    layer = mn.Dense(3, 2, rng=0)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(g)
    first = [p.grad.copy() for p in layer.parameters()]
    layer.backward(g)
    for p, expected in zip(layer.parameters(), first):
        np.testing.assert_array_equal(p.grad, expected)


def test_backward_ignores_stale_gradients(rng):
    layer = mn.Dense(3, 2, rng=0)
    layer.W.grad[...] = 1e6
    layer.b.grad[...] = -1e6
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.W.grad, x.T @ g, rtol=1e-14)


def test_forward_overwrites_the_cache(rng):
    layer = mn.Dense(3, 2, rng=0)
    layer.forward(rng.standard_normal((5, 3)))
    x = rng.standard_normal((2, 3))
    layer.forward(x)
    g = np.ones((2, 2))
    layer.backward(g)  # would fail on shape if the first batch were still cached
    np.testing.assert_allclose(layer.W.grad, x.T @ g, rtol=1e-14)


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_cache_is_overwritten(make, rng):
    layer = make()
    layer.forward(rng.standard_normal((5, 3)))
    layer.forward(rng.standard_normal((2, 3)))
    assert layer.backward(np.ones((2, 3))).shape == (2, 3)


# -- float32 end to end -------------------------------------------------------


def test_float32_forward_backward_and_grads_stay_float32(rng):
    model = mn.Sequential(
        mn.Dense(3, 4, dtype=np.float32, rng=0),
        mn.Sigmoid(),
        mn.Dense(4, 1, dtype=np.float32, rng=1),
        mn.Tanh(),
        mn.Dense(1, 2, dtype=np.float32, rng=2),
        mn.ReLU(),
        mn.Dense(2, 1, dtype=np.float32, rng=3),
        mn.LeakyReLU(),
    )
    out = model.forward(rng.standard_normal((5, 3)).astype(np.float32))
    assert out.dtype == np.float32
    loss = mn.MSE()
    loss.forward(out, np.zeros((5, 1), np.float32))
    grad = loss.backward()
    assert grad.dtype == np.float32
    assert model.backward(grad).dtype == np.float32
    assert all(p.grad.dtype == np.float32 and p.value.dtype == np.float32 for p in model.parameters())


def test_float32_fit_step_keeps_float32(blobs):
    X, y = blobs
    model = mn.Sequential(
        mn.Dense(2, 3, dtype=np.float32, rng=0), mn.Sigmoid(), mn.Dense(3, 1, dtype=np.float32, rng=1), mn.Sigmoid()
    )
    opt = mn.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, batch_size=16, progress=False)
    assert all(p.value.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert all(b.dtype == np.float32 for b in opt.buffers)
    assert model.predict(X).dtype == np.float32


class DtypeLog:
    """Wraps methods of single objects to log the dtype of every array they take or return."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, np.dtype]] = []

    def note(self, where: str, value) -> None:
        if isinstance(value, (np.ndarray, np.generic)):
            self.seen.append((where, value.dtype))
        elif isinstance(value, (tuple, list)):
            for item in value:
                self.note(where, item)

    def wrap(self, obj, *names: str) -> None:
        for name in names:
            method, where = getattr(obj, name), f"{type(obj).__name__}.{name}"

            def logged(*args, _method=method, _where=where, **kwargs):
                self.note(_where, args)
                result = _method(*args, **kwargs)
                self.note(_where, result)
                return result

            setattr(obj, name, logged)  # on the instance: the class's own dispatch is unchanged

    def wrap_step(self, opt: mn.SGD) -> None:
        step = opt.step

        def logged():
            self.note("SGD.step", [[p.value, p.grad] for p in opt.params])
            step()
            self.note("SGD.step", [[p.value, p.grad] for p in opt.params] + opt.buffers)

        opt.step = logged


@pytest.mark.parametrize("loss, head", [(mn.BCE(), [mn.Sigmoid()]), (mn.BCE(from_logits=True), []), (mn.MSE(), [])])
def test_float32_stays_float32_inside_every_step_of_fit(loss, head):
    gen = np.random.default_rng(0)
    X = gen.standard_normal((10, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    layers = [
        mn.Dense(3, 4, dtype=np.float32, rng=0),
        mn.Sigmoid(),
        mn.Dense(4, 4, dtype=np.float32, rng=1),
        mn.ReLU(),
        mn.Dense(4, 4, dtype=np.float32, rng=2),
        mn.Tanh(),
        mn.Dense(4, 4, dtype=np.float32, rng=3),
        mn.LeakyReLU(),
        mn.Dense(4, 1, dtype=np.float32, rng=4),
        *head,
    ]
    model = mn.Sequential(*layers)
    opt = mn.SGD(
        model.parameters(),
        lr=mn.CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=2),
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-3,
    )
    log = DtypeLog()
    for layer in [model, *layers]:
        log.wrap(layer, "forward", "backward")
    log.wrap(loss, "forward", "forward_prepared", "_forward", "backward")
    log.wrap_step(opt)
    mn.fit(model, loss, opt, X, y, epochs=2, batch_size=4, validation_data=(X, y), progress=False)
    wrapped = {
        f"{type(obj).__name__}.{name}"
        for obj in [*layers, loss]
        for name in (("forward", "backward") if isinstance(obj, mn.Layer) else ("forward_prepared", "_forward"))
    }
    assert wrapped | {"SGD.step", "Sequential.forward", "Sequential.backward"} <= {w for w, _ in log.seen}
    assert opt.step_count == 6 and all(b is not None for b in opt.buffers)
    upcast = sorted({(where, str(dtype)) for where, dtype in log.seen if dtype != np.float32})
    assert not upcast, f"arrays of another dtype than float32: {upcast}"


def test_float32_sigmoid_keeps_float32():
    assert mn.Sigmoid().forward(np.array([[-1e4, 0.5, 1e4]], np.float32)).dtype == np.float32


# -- reprs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        mn.Dense(8, 16),
        mn.Dense(3, 1, init="he", bias=False),
        mn.Dense(2, 2, dtype=np.float32, init="normal"),
        mn.Sigmoid(),
        mn.ReLU(),
        mn.Tanh(),
        mn.LeakyReLU(),
        mn.LeakyReLU(0.2),
    ],
)
def test_repr_evaluates_back_to_an_equivalent_layer(layer):
    rebuilt = eval(repr(layer), {**vars(mn), "np": np})
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_dense_repr_reads_like_code():
    assert repr(mn.Dense(8, 16)) == "Dense(8, 16)"
    assert repr(mn.Dense(8, 16, init="he", bias=False)) == "Dense(8, 16, init='he', bias=False)"


def test_print_model_shows_the_architecture(capsys):
    print(mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid()))
    assert capsys.readouterr().out == ("Sequential(\n  Dense(8, 16),\n  Sigmoid(),\n  Dense(16, 1),\n  Sigmoid(),\n)\n")


def test_parameter_refuses_half_precision():
    with pytest.raises(TypeError, match="float32 or float64, got float16"):
        mn.Parameter(np.zeros(3, np.float16))


@pytest.mark.parametrize("layer", [mn.ReLU(), mn.Tanh(), mn.LeakyReLU(), mn.Sigmoid()])
def test_activations_accept_nested_lists(layer):
    out = layer.forward([[-1.0, 2.0]])
    assert isinstance(out, np.ndarray) and out.shape == (1, 2)


def test_an_init_returning_nan_or_objects_is_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        mn.Dense(2, 2, init=lambda n_in, n_out, rng, dtype: np.full((n_in, n_out), np.nan))
    with pytest.raises(ValueError, match="must return numbers of shape"):
        mn.Dense(2, 2, init=lambda n_in, n_out, rng, dtype: np.full((n_in, n_out), None))


def test_sigmoid_of_a_wider_float_uses_the_float64_bound():
    x = np.array([[-1e4, 0.0, 1e4]], dtype=np.longdouble)
    out = mn.Sigmoid().forward(x)
    assert out.dtype == np.longdouble and np.all(np.isfinite(out)) and out[0, 1] == 0.5


# -- Softmax, Dropout, BatchNorm: the shared contract ------------------------------------

NEW_LAYERS = [mn.Softmax, lambda: mn.Dropout(0.3, seed=0), lambda: mn.Dropout(0.0), lambda: mn.BatchNorm(3)]


@pytest.mark.parametrize("make", NEW_LAYERS)
def test_new_layer_backward_before_forward_raises(make):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward(np.ones((2, 3)))


@pytest.mark.parametrize("make", NEW_LAYERS)
def test_new_layer_keeps_shape_and_refuses_a_gradient_of_another_shape(make, rng):
    layer = make()
    assert layer.forward(rng.standard_normal((5, 3)), training=False).shape == (5, 3)
    assert layer.forward(rng.standard_normal((5, 3))).shape == (5, 3)
    assert layer.backward(np.ones((5, 3))).shape == (5, 3)
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        layer.backward(np.ones((3, 5)))


@pytest.mark.parametrize("make", NEW_LAYERS)
def test_new_layer_cache_is_overwritten_by_the_next_forward(make, rng):
    layer = make()
    layer.forward(rng.standard_normal((5, 3)))
    layer.forward(rng.standard_normal((2, 3)))
    assert layer.backward(np.ones((2, 3))).shape == (2, 3)


@pytest.mark.parametrize(
    "layer",
    [
        mn.Softmax(),
        mn.Dropout(),
        mn.Dropout(0.25, seed=3),
        mn.BatchNorm(4),
        mn.BatchNorm(4, momentum=None),
        mn.BatchNorm(2, momentum=0.5, eps=1e-3, dtype=np.float32),
    ],
)
def test_new_layer_repr_evaluates_back_and_config_is_json(layer):
    import json

    rebuilt = eval(repr(layer), {**vars(mn), "np": np})
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert rebuilt.get_config() == layer.get_config()
    assert json.loads(json.dumps(layer.get_config())) == layer.get_config()
    assert type(layer)(**layer.get_config()).get_config() == layer.get_config()


def test_new_layer_reprs_read_like_code():
    assert [
        repr(mn.Softmax()),
        repr(mn.Dropout()),
        repr(mn.Dropout(0.1, seed=4)),
        repr(mn.BatchNorm(8)),
        repr(mn.BatchNorm(8, momentum=None, dtype=np.float32)),
    ] == [
        "Softmax()",
        "Dropout(p=0.5)",
        "Dropout(p=0.1, seed=4)",
        "BatchNorm(8)",
        "BatchNorm(8, momentum=None, dtype=np.float32)",
    ]


def _no_floating_point_trouble():
    """Overflow, invalid operations and division by zero raise (underflow to 0 is intended)."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


EXTREME = np.array(
    [
        [1e308, -1e308, 3.0, 0.0],
        [-1e308, -1e308, -1e308, -1e308],
        [0.0, 1.0, 2.0, 1e-300],
        [1e308, 1e308, 1e308, 1e308],
        [-5e307, 7e307, 1e154, -1e200],
    ]
)


# -- Softmax ----------------------------------------------------------------------------


def test_softmax_values_by_hand_and_rows_sum_to_one(rng):
    x = rng.standard_normal((4, 5)) * 3
    out = mn.Softmax().forward(x)
    np.testing.assert_allclose(out, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-15)


def test_softmax_is_unchanged_by_a_shift_of_each_row(rng):
    x = rng.standard_normal((3, 4))
    shifted = x + np.array([[1000.0], [-1000.0], [5.0]])
    np.testing.assert_allclose(mn.Softmax().forward(shifted), mn.Softmax().forward(x), rtol=1e-12)


def test_softmax_backward_is_the_jacobian_times_the_gradient(rng):
    x, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    layer = mn.Softmax()
    s = layer.forward(x)
    dx = layer.backward(g)
    for i in range(3):
        jacobian = np.diag(s[i]) - np.outer(s[i], s[i])  # d s_j / d x_k
        np.testing.assert_allclose(dx[i], jacobian @ g[i], rtol=1e-12, atol=1e-15)


def test_softmax_of_extreme_inputs_is_finite_without_warnings():
    layer = mn.Softmax()
    with _no_floating_point_trouble():
        out = layer.forward(EXTREME)
        grad = layer.backward(np.ones_like(EXTREME))
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(out[0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out[1], [0.25] * 4)


def test_softmax_keeps_float32(rng):
    layer = mn.Softmax()
    assert layer.forward(rng.standard_normal((2, 3)).astype(np.float32)).dtype == np.float32
    assert layer.backward(np.ones((2, 3), np.float32)).dtype == np.float32


# -- Dropout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (1.0, ValueError, r"\[0, 1\), got 1.0 \(p = 1 would zero everything\)"),
        (-0.1, ValueError, r"\[0, 1\), got -0.1"),
        (1.5, ValueError, r"\[0, 1\), got 1.5"),
        (float("nan"), ValueError, r"\[0, 1\), got nan"),
        ("0.5", TypeError, r"probability in \[0, 1\), got '0.5' \(str\)"),
        (True, TypeError, r"got True \(bool\)"),
    ],
)
def test_dropout_refuses_a_bad_p(bad, error, message):
    with pytest.raises(error, match=message):
        mn.Dropout(bad)


def test_dropout_refuses_a_bad_seed():
    with pytest.raises(ValueError, match="non-negative integer seed, got -1"):
        mn.Dropout(0.5, seed=-1)


def test_dropout_in_training_zeroes_or_scales_each_element(rng):
    x = rng.standard_normal((200, 50)) + 5.0  # no zeros of its own
    out = mn.Dropout(0.3, seed=0).forward(x)
    kept = out != 0
    np.testing.assert_array_equal(out[kept], x[kept] * (1 / (1 - 0.3)))
    # 10,000 Bernoulli(0.3) draws: the dropped share is within 4 standard deviations (0.0183) of p.
    assert abs((~kept).mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / x.size)


def test_dropout_keeps_the_expected_value(rng):
    x = np.ones((400, 100))
    assert mn.Dropout(0.6, seed=1).forward(x).mean() == pytest.approx(1.0, abs=4 * np.sqrt(0.6 / 0.4 / x.size))


def test_dropout_is_the_identity_in_inference_and_keeps_nothing(rng):
    layer, x = mn.Dropout(0.5, seed=0), rng.standard_normal((4, 3))
    state = layer.get_state()
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    assert layer.get_state() == state and layer._cache is None  # no mask drawn, nothing to go back through


def test_dropout_of_p_0_is_the_identity_in_training(rng):
    layer = mn.Dropout(0.0, seed=0)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    state = layer.get_state()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(g), g)
    assert layer.get_state() == state  # no mask was drawn


def test_dropout_backward_uses_the_forward_mask(rng):
    layer = mn.Dropout(0.5, seed=2)
    x, g = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    out = layer.forward(x)
    np.testing.assert_array_equal(layer.backward(g), np.where(out != 0, g * 2.0, 0.0))


def test_dropout_same_seed_same_masks_and_successive_masks_differ():
    x = np.ones((8, 8))
    a, b = mn.Dropout(0.5, seed=7), mn.Dropout(0.5, seed=7)
    first, second = a.forward(x), a.forward(x)
    np.testing.assert_array_equal(first, b.forward(x))
    np.testing.assert_array_equal(second, b.forward(x))
    assert not np.array_equal(first, second)


def test_dropout_float32_stays_float32_with_the_float64_masks():
    x = np.ones((6, 7))
    out32 = mn.Dropout(0.4, seed=3).forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32 != 0, mn.Dropout(0.4, seed=3).forward(x) != 0)


@pytest.mark.parametrize(
    "generator",
    [None, np.random.Generator(np.random.MT19937(5)), np.random.Generator(np.random.Philox(5))],
    ids=["PCG64", "MT19937", "Philox"],
)
def test_dropout_state_is_json_and_continues_with_the_same_masks(generator):
    import json

    layer = mn.Dropout(0.5, seed=11 if generator is None else generator)
    x = np.ones((5, 9))
    layer.forward(x)
    state = json.loads(json.dumps(layer.get_state()))  # what a file would hold
    expected = [layer.forward(x) for _ in range(3)]
    other = mn.Dropout(0.5, seed=99)
    other.set_state(state)
    for e in expected:
        np.testing.assert_array_equal(other.forward(x), e)


def test_dropout_state_changes_only_when_training_masks_are_drawn(rng):
    layer = mn.Dropout(0.5, seed=0)
    state = layer.get_state()
    layer.forward(rng.standard_normal((3, 3)), training=False)
    assert layer.get_state() == state
    layer.forward(rng.standard_normal((3, 3)))
    assert layer.get_state() != state


@pytest.mark.parametrize(
    "bad, message",
    [
        ({}, r"the key 'rng', got the keys \[\]"),
        ({"rng": {}, "extra": 1}, r"the key 'rng', got the keys \['extra', 'rng'\]"),
        ([1, 2], "got a list"),
        ({"rng": {"bit_generator": "os.system"}}, "numpy's bit generators"),
        ({"rng": {"bit_generator": "Generator"}}, "numpy's bit generators"),
        ({"rng": {"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}}}, r"\['has_uint32', 'uinteger'\] missing"),
        (
            {"rng": {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0, "uinteger": 0}},
            r"state 'rng'.state.state must be an integer, got 'x'",
        ),
        (
            {"rng": {"bit_generator": "PCG64", "state": {"state": 1, "inc": 1}, "has_uint32": -3, "uinteger": 0}},
            r"state 'rng'.has_uint32 must be >= 0, got -3",
        ),
        ({"rng": "PCG64"}, "numpy's bit generators"),
    ],
)
def test_dropout_set_state_refuses_bad_states_and_changes_nothing(bad, message):
    layer = mn.Dropout(0.5, seed=0)
    state = layer.get_state()
    with pytest.raises(ValueError, match=message):
        layer.set_state(bad)
    assert layer.get_state() == state


# -- BatchNorm --------------------------------------------------------------------------


def test_batchnorm_parameters_and_initial_state():
    bn = mn.BatchNorm(3)
    assert bn.parameters() == [bn.gamma, bn.beta] and [p.name for p in bn.parameters()] == ["gamma", "beta"]
    np.testing.assert_array_equal(bn.gamma.value, np.ones(3))
    np.testing.assert_array_equal(bn.beta.value, np.zeros(3))
    state = bn.get_state()
    np.testing.assert_array_equal(state["running_mean"], np.zeros(3))
    np.testing.assert_array_equal(state["running_var"], np.ones(3))
    assert state["num_batches_tracked"] == 0 and bn.in_features() == 3


def test_batchnorm_training_output_is_standardised_then_scaled_and_shifted(rng):
    x = rng.standard_normal((50, 3)) * [1.0, 10.0, 0.1] + [0.0, -4.0, 7.0]
    bn = mn.BatchNorm(3)
    bn.gamma.value[...] = [1.0, 2.0, 0.5]
    bn.beta.value[...] = [0.0, 1.0, -1.0]
    out = bn.forward(x)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    np.testing.assert_allclose(out, x_hat * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0], rtol=1e-12, atol=1e-14)
    standardised = (out - bn.beta.value) / bn.gamma.value
    np.testing.assert_allclose(standardised.mean(axis=0), 0.0, atol=1e-14)
    np.testing.assert_allclose(standardised.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5), rtol=1e-12)


def test_batchnorm_running_statistics_use_momentum_and_the_unbiased_variance(rng):
    bn = mn.BatchNorm(2, momentum=0.2)
    a, b = rng.standard_normal((5, 2)) + 3, rng.standard_normal((8, 2)) * 2
    bn.forward(a)
    bn.forward(b)
    mean = 0.8 * (0.8 * 0 + 0.2 * a.mean(axis=0)) + 0.2 * b.mean(axis=0)
    var = 0.8 * (0.8 * 1 + 0.2 * a.var(axis=0, ddof=1)) + 0.2 * b.var(axis=0, ddof=1)
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-14)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-14)
    assert bn.num_batches_tracked == 2


def test_batchnorm_momentum_none_is_the_cumulative_average(rng):
    bn = mn.BatchNorm(3, momentum=None)
    batches = [rng.standard_normal((n, 3)) * (i + 1) for i, n in enumerate([4, 6, 9])]
    for batch in batches:
        bn.forward(batch)
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), rtol=1e-13)


def test_batchnorm_inference_uses_the_running_statistics_and_changes_nothing(rng):
    bn = mn.BatchNorm(2)
    bn.set_state(
        {"running_mean": np.array([1.0, -2.0]), "running_var": np.array([4.0, 0.25]), "num_batches_tracked": 3}
    )
    bn.gamma.value[...] = [2.0, 3.0]
    bn.beta.value[...] = [0.5, 0.0]
    x = rng.standard_normal((1, 2))  # a single sample is fine here
    inv_std = 1 / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(
        bn.forward(x, training=False), (x - [1.0, -2.0]) * inv_std * [2.0, 3.0] + [0.5, 0.0], rtol=1e-14
    )
    assert bn.num_batches_tracked == 3 and bn.running_mean.tolist() == [1.0, -2.0] and bn._cache is None


def test_batchnorm_training_backward_by_hand_for_two_samples():
    # Two samples: x_hat = +-r with r = d / sqrt(d^2 + eps), d = half their difference.
    bn = mn.BatchNorm(1, eps=1e-5)
    x = np.array([[1.0], [3.0]])
    bn.forward(x)
    dx = bn.backward(np.array([[1.0], [0.0]]))
    # d/dx1 of r(x1, x2) for the first output: (1/2) d'(r)/dd ... = eps / (2 (d^2 + eps)^1.5), d = -1
    d, eps = 1.0, 1e-5
    dr = eps / (d * d + eps) ** 1.5 / 2
    np.testing.assert_allclose(dx, [[dr], [-dr]], rtol=1e-9)


def test_batchnorm_backward_writes_gradients_and_can_skip_the_input_gradient(rng):
    bn = mn.BatchNorm(3)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    bn.forward(x)
    bn.gamma.grad[...] = 1e6
    full = bn.backward(g)
    gamma_grad = bn.gamma.grad.copy()
    assert bn.backward(g, need_input_grad=False) is None
    np.testing.assert_array_equal(bn.gamma.grad, gamma_grad)
    np.testing.assert_allclose(bn.beta.grad, g.sum(axis=0), rtol=1e-14)
    assert full.shape == (4, 3)


def test_batchnorm_refuses_a_batch_of_one_in_training():
    bn = mn.BatchNorm(3)
    with pytest.raises(
        ValueError,
        match=r"BatchNorm\(3\) needs more than 1 sample per batch in training.*"
        r"got a batch of 1",
    ):
        bn.forward(np.ones((1, 3)))
    assert bn.num_batches_tracked == 0 and bn._cache is None


def test_batchnorm_refuses_wrong_width_and_dtype(rng):
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) expected 3 features, got 2"):
        mn.BatchNorm(3).forward(rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="expected 3 features, got an array of shape"):
        mn.BatchNorm(3).forward(np.ones(3))
    with pytest.raises(TypeError, match="float32 parameters, got float64 input"):
        mn.BatchNorm(3, dtype=np.float32).forward(rng.standard_normal((4, 3)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(n_features=0), ValueError, "n_features must be >= 1"),
        (dict(n_features=2.0), TypeError, "n_features must be an integer"),
        (dict(n_features=2, momentum=1.5), ValueError, "momentum must be <= 1.0"),
        (dict(n_features=2, eps=0.0), ValueError, "eps must be > 0.0"),
        (dict(n_features=2, dtype=np.int32), TypeError, "float32 or np.float64"),
    ],
)
def test_batchnorm_refuses_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        mn.BatchNorm(**kwargs)


def test_batchnorm_float32_stays_float32(rng):
    bn = mn.BatchNorm(3, dtype=np.float32)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    assert bn.forward(x).dtype == np.float32
    assert bn.backward(np.ones((5, 3), np.float32)).dtype == np.float32
    assert bn.forward(x, training=False).dtype == np.float32
    assert bn.backward(np.ones((5, 3), np.float32)).dtype == np.float32
    assert {a.dtype for a in (bn.gamma.grad, bn.beta.grad, bn.running_mean, bn.running_var)} == {np.dtype(np.float32)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_of_extreme_inputs_is_finite_without_warnings(dtype):
    x = np.clip(EXTREME, np.finfo(dtype).min, np.finfo(dtype).max).astype(dtype)
    x = np.vstack([x, x[::-1] * 0.5])
    bn = mn.BatchNorm(4, dtype=dtype)
    with _no_floating_point_trouble():
        out = bn.forward(x)
        dx = bn.backward(np.ones_like(x))
        inference = bn.forward(x, training=False)
    assert np.isfinite(out).all() and np.isfinite(dx).all() and np.isfinite(inference).all()
    assert np.isfinite(bn.running_mean).all() and np.isfinite(bn.running_var).all()
    # |x_hat| <= sqrt(n - 1) for every column, however large its values.
    assert np.abs(out).max() <= np.sqrt(len(x) - 1) + 1e-6


def test_batchnorm_of_huge_values_is_what_the_scaled_values_give():
    x = np.array([[1e300, -3e300], [3e300, 1e300], [2e300, 5e300]])
    with _no_floating_point_trouble():
        out = mn.BatchNorm(2).forward(x)
    # eps / 1e600 is nothing next to these variances: the same as the values divided by 1e300 with eps ~ 0.
    expected = mn.BatchNorm(2, eps=1e-300).forward(x / 1e300)
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-15)


def test_batchnorm_of_a_tiny_column_next_to_a_huge_one_is_the_tiny_columns_own():
    # The huge column sends the batch to the scaled path; the tiny one must not be scaled up by 1e300.
    tiny = np.array([[1e-300], [-1e-300], [3e-301]])
    x = np.hstack([tiny * 1e300 * 1e300, tiny])
    bn = mn.BatchNorm(2)
    with _no_floating_point_trouble():
        out = bn.forward(x)
        dx = bn.backward(np.ones_like(x) * [1.0, 2.0])
    alone = mn.BatchNorm(1)
    np.testing.assert_allclose(out[:, 1:], alone.forward(tiny), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(dx[:, 1:], alone.backward(np.full_like(tiny, 2.0)), rtol=1e-14)


def test_batchnorm_of_a_constant_column_is_zero(rng):
    x = np.column_stack([np.full(5, 3.0), np.full(5, 1e308), rng.standard_normal(5)])
    with _no_floating_point_trouble():
        out = mn.BatchNorm(3).forward(x)
    np.testing.assert_array_equal(out[:, :2], 0.0)


def test_batchnorm_get_state_returns_copies(rng):
    bn = mn.BatchNorm(2)
    state = bn.get_state()
    bn.forward(rng.standard_normal((4, 2)))
    np.testing.assert_array_equal(state["running_mean"], [0.0, 0.0])
    assert state["num_batches_tracked"] == 0


def test_batchnorm_set_state_restores_and_copies(rng):
    bn = mn.BatchNorm(2)
    bn.forward(rng.standard_normal((4, 2)) + 1)
    other = mn.BatchNorm(2)
    state = bn.get_state()
    other.set_state(state)
    state["running_mean"][0] = 99.0
    assert other.running_mean[0] != 99.0
    x = rng.standard_normal((3, 2))
    np.testing.assert_array_equal(other.forward(x, training=False), bn.forward(x, training=False))
    assert other.num_batches_tracked == 1


def _good_state(n=2, dtype=np.float64):
    return {"running_mean": np.zeros(n, dtype), "running_var": np.ones(n, dtype), "num_batches_tracked": 0}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(running_mean=np.zeros(3)),
            r"'running_mean' must be float64 of shape \(2,\), got float64 of shape \(3,\)",
        ),
        (dict(running_var=np.ones(2, np.float32)), r"'running_var' must be float64 of shape \(2,\), got float32"),
        (dict(running_mean=np.array([0.0, np.nan])), "'running_mean' must be finite"),
        (dict(running_var=np.array([1.0, np.inf])), "'running_var' must be finite"),
        (dict(running_var=np.array([1.0, -0.5])), "'running_var' must be >= 0, got -0.5"),
        (dict(running_var=["a", "b"]), "must hold numbers"),
        (dict(num_batches_tracked=-1), "'num_batches_tracked' must be an integer >= 0, got -1"),
        (dict(num_batches_tracked=1.5), "'num_batches_tracked' must be an integer >= 0, got 1.5"),
        (dict(num_batches_tracked=True), "'num_batches_tracked' must be an integer >= 0, got True"),
        (dict(extra=1), r"the keys \['num_batches_tracked', 'running_mean', 'running_var'\], got the keys"),
    ],
)
def test_batchnorm_set_state_refuses_bad_states_and_changes_nothing(change, message):
    bn = mn.BatchNorm(2)
    bn.forward(np.array([[1.0, 2.0], [3.0, 5.0]]))
    before = bn.get_state()
    with pytest.raises((ValueError, TypeError), match=message):
        bn.set_state({**_good_state(), **change})
    after = bn.get_state()
    for key in ("running_mean", "running_var"):
        np.testing.assert_array_equal(after[key], before[key])
    assert after["num_batches_tracked"] == before["num_batches_tracked"]


def test_batchnorm_float32_state_is_float32():
    bn = mn.BatchNorm(2, dtype=np.float32)
    bn.set_state(_good_state(dtype=np.float32))
    with pytest.raises(ValueError, match="must be float32"):
        bn.set_state(_good_state())
