"""Parameter, Dense and the activations: shapes, init, dtypes, caches, reprs."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn

ACTIVATIONS = [mn.Sigmoid, mn.ReLU, mn.Tanh, mn.LeakyReLU]
ALL_LAYERS = [lambda: mn.Dense(3, 4, rng=0), lambda: mn.Dense(3, 4, bias=False, rng=0), *ACTIVATIONS]


# -- Parameter ----------------------------------------------------------------

def test_parameter_grad_is_zeros_of_same_shape_and_dtype():
    p = mn.Parameter(np.ones((2, 3), np.float32), name="W")
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()


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


@pytest.mark.parametrize("init, n_in, n_out, variance", [
    ("xavier", 300, 200, 2.0 / (300 + 200)),  # U(-a, a) with a^2 = 6 / (n_in + n_out): var = a^2 / 3
    ("he", 300, 200, 2.0 / 300),
    ("normal", 300, 200, 0.01 ** 2),
])
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
    model = mn.Sequential(mn.Dense(3, 4, dtype=np.float32, rng=0), mn.Sigmoid(), mn.Dense(4, 1, dtype=np.float32, rng=1),
                          mn.Tanh(), mn.Dense(1, 2, dtype=np.float32, rng=2), mn.ReLU(),
                          mn.Dense(2, 1, dtype=np.float32, rng=3), mn.LeakyReLU())
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
    model = mn.Sequential(mn.Dense(2, 3, dtype=np.float32, rng=0), mn.Sigmoid(),
                          mn.Dense(3, 1, dtype=np.float32, rng=1), mn.Sigmoid())
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


@pytest.mark.parametrize("loss, head", [(mn.BCE(), [mn.Sigmoid()]), (mn.BCE(from_logits=True), []),
                                        (mn.MSE(), [])])
def test_float32_stays_float32_inside_every_step_of_fit(loss, head):
    gen = np.random.default_rng(0)
    X = gen.standard_normal((10, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    layers = [mn.Dense(3, 4, dtype=np.float32, rng=0), mn.Sigmoid(), mn.Dense(4, 4, dtype=np.float32, rng=1),
              mn.ReLU(), mn.Dense(4, 4, dtype=np.float32, rng=2), mn.Tanh(),
              mn.Dense(4, 4, dtype=np.float32, rng=3), mn.LeakyReLU(), mn.Dense(4, 1, dtype=np.float32, rng=4), *head]
    model = mn.Sequential(*layers)
    opt = mn.SGD(model.parameters(), lr=mn.CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=2), momentum=0.9,
                 nesterov=True, weight_decay=1e-3)
    log = DtypeLog()
    for layer in [model, *layers]:
        log.wrap(layer, "forward", "backward")
    log.wrap(loss, "forward", "forward_prepared", "_forward", "backward")
    log.wrap_step(opt)
    mn.fit(model, loss, opt, X, y, epochs=2, batch_size=4, validation_data=(X, y), progress=False)
    wrapped = {f"{type(obj).__name__}.{name}" for obj in [*layers, loss]
               for name in (("forward", "backward") if isinstance(obj, mn.Layer) else ("forward_prepared", "_forward"))}
    assert wrapped | {"SGD.step", "Sequential.forward", "Sequential.backward"} <= {w for w, _ in log.seen}
    assert opt.step_count == 6 and all(b is not None for b in opt.buffers)
    upcast = sorted({(where, str(dtype)) for where, dtype in log.seen if dtype != np.float32})
    assert not upcast, f"arrays of another dtype than float32: {upcast}"


def test_float32_sigmoid_keeps_float32():
    assert mn.Sigmoid().forward(np.array([[-1e4, 0.5, 1e4]], np.float32)).dtype == np.float32


# -- reprs ---------------------------------------------------------------------

@pytest.mark.parametrize("layer", [
    mn.Dense(8, 16), mn.Dense(3, 1, init="he", bias=False), mn.Dense(2, 2, dtype=np.float32, init="normal"),
    mn.Sigmoid(), mn.ReLU(), mn.Tanh(), mn.LeakyReLU(), mn.LeakyReLU(0.2),
])
def test_repr_evaluates_back_to_an_equivalent_layer(layer):
    rebuilt = eval(repr(layer), {**vars(mn), "np": np})
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_dense_repr_reads_like_code():
    assert repr(mn.Dense(8, 16)) == "Dense(8, 16)"
    assert repr(mn.Dense(8, 16, init="he", bias=False)) == "Dense(8, 16, init='he', bias=False)"


def test_print_model_shows_the_architecture(capsys):
    print(mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid()))
    assert capsys.readouterr().out == (
        "Sequential(\n  Dense(8, 16),\n  Sigmoid(),\n  Dense(16, 1),\n  Sigmoid(),\n)\n")


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
