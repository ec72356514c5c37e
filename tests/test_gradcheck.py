"""gradcheck passes every built-in layer and loss, and catches a wrong backward."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn


def away_from_zero(x: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Push inputs out of (-margin, margin), where ReLU-like kinks break finite differences."""
    return np.sign(x) * (np.abs(x) + margin)


# -- every built-in layer --------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        mn.Dense(4, 3, rng=0),
        mn.Dense(4, 3, bias=False, rng=0),
        mn.Dense(4, 3, init="he", rng=1),
        mn.Dense(4, 3, dtype=np.float32, rng=0),
        mn.Sigmoid(),
        mn.Tanh(),
        mn.ReLU(),
        mn.LeakyReLU(),
        mn.LeakyReLU(0.3),
        mn.ELU(),
        mn.Softplus(beta=2.0),
        mn.GELU(),
        mn.GELU(approximate="tanh"),
        mn.LayerNorm(4),
    ],
    ids=repr,
)
def test_gradcheck_passes_builtin_layer(layer, rng):
    x = away_from_zero(rng.standard_normal((5, 4)))
    assert mn.gradcheck(layer, x) is True


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5)])
def test_gradcheck_takes_batches_of_any_shape(shape, rng):
    x = away_from_zero(rng.standard_normal(shape))
    assert mn.gradcheck(mn.ReLU(), x) is True
    assert mn.gradcheck(mn.Tanh(), x) is True


def test_gradcheck_refuses_a_batch_without_a_sample_axis():
    with pytest.raises(
        ValueError, match=r"x must be a batch with the samples on its first axis.*got an array of shape \(3,\)"
    ):
        mn.gradcheck(mn.ReLU(), np.ones(3))


@pytest.mark.parametrize("x", [[[-8.0, -1.0, 0.0, 3.0, 12.0]], [[30.0, -30.0, 0.5, -0.5, 1e-3]]])
def test_gradcheck_passes_sigmoid_and_tanh_far_out(x):
    assert mn.gradcheck(mn.Sigmoid(), x) and mn.gradcheck(mn.Tanh(), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: mn.Sequential(mn.Dense(4, 6, rng=0), mn.Sigmoid(), mn.Dense(6, 1, rng=1), mn.Sigmoid()),
        lambda: mn.Sequential(
            mn.Dense(4, 5, rng=0),
            mn.Tanh(),
            mn.Dense(5, 5, bias=False, rng=1),
            mn.LeakyReLU(0.2),
            mn.Dense(5, 2, rng=2),
        ),
        lambda: mn.Sequential(mn.Dense(4, 8, init="he", rng=3), mn.ReLU(), mn.Dense(8, 3, rng=4), mn.Sigmoid()),
        lambda: mn.Sequential(mn.Sequential(mn.Dense(4, 3, rng=5), mn.Tanh()), mn.Dense(3, 2, rng=6)),
    ],
    ids=["article", "tanh-leaky", "relu", "nested"],
)
def test_gradcheck_passes_sequential_stacks(make, rng):
    model = make()
    # Random biases, so that the bias gradients are checked away from the zero start.
    for p in model.parameters():
        if p.name == "b":
            p.value[...] = rng.standard_normal(p.shape) * 0.5
    assert mn.gradcheck(model, away_from_zero(rng.standard_normal((6, 4))))


# -- every loss ----------------------------------------------------------------------


def test_gradcheck_passes_bce_on_probabilities(rng):
    p = rng.uniform(0.05, 0.95, (6, 2))
    y = (rng.random((6, 2)) > 0.5).astype(float)
    assert mn.gradcheck(mn.BCE(), p, target=y)


def test_gradcheck_passes_bce_with_soft_targets(rng):
    assert mn.gradcheck(mn.BCE(), rng.uniform(0.05, 0.95, (6, 1)), target=rng.random(6))


def test_gradcheck_passes_bce_from_logits(rng):
    z = rng.standard_normal((6, 2)) * 4
    y = (rng.random((6, 2)) > 0.5).astype(float)
    assert mn.gradcheck(mn.BCE(from_logits=True), z, target=y)


def test_gradcheck_passes_mse(rng):
    assert mn.gradcheck(mn.MSE(), rng.standard_normal((6, 3)), target=rng.standard_normal((6, 3)))


def test_gradcheck_of_a_loss_takes_a_flat_target(rng):
    assert mn.gradcheck(mn.MSE(), rng.standard_normal((6, 1)), target=rng.standard_normal(6))


# -- it catches wrong gradients ----------------------------------------------------------


class SquareMissingFactor(mn.Layer):
    """y = x**2 with the 2 forgotten in the derivative."""

    def forward(self, x, training=True):
        self.x = x
        return x * x

    def backward(self, grad):
        return grad * self.x  # should be 2 * x * grad


class DenseWrongBiasGrad(mn.Dense):
    def backward(self, grad):
        dx = super().backward(grad)
        self.b.grad[2] += 0.5  # only the third bias element is wrong
        return dx


class DenseWrongWeightGrad(mn.Dense):
    def backward(self, grad):
        dx = super().backward(grad)
        self.W.grad[...] = self._cache.T @ grad / len(grad)  # a spurious mean
        return dx


class DenseWrongInputGrad(mn.Dense):
    def backward(self, grad):
        super().backward(grad)
        return grad @ self.W.value.T + 1e-3


class DenseAccumulates(mn.Dense):
    """Adds to p.grad instead of writing it: the second call of backward is wrong."""

    def backward(self, grad):
        old = [p.grad.copy() for p in self.parameters()]
        dx = super().backward(grad)
        for p, o in zip(self.parameters(), old):
            p.grad += o
        return dx


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(mn.GradcheckError, AssertionError)


def test_catches_a_missing_factor_in_the_input_gradient(rng):
    with pytest.raises(mn.GradcheckError, match="w.r.t. input"):
        mn.gradcheck(SquareMissingFactor(), rng.standard_normal((3, 2)))


def test_names_the_wrong_parameter_and_its_worst_element(rng):
    with pytest.raises(mn.GradcheckError, match=r"w\.r\.t\. parameter b is wrong at index \(2,\)") as info:
        mn.gradcheck(DenseWrongBiasGrad(4, 3, rng=0), rng.standard_normal((5, 4)))
    assert "analytic" in str(info.value) and "numerical" in str(info.value)


def test_reports_both_values_of_the_worst_element(rng):
    x = rng.standard_normal((5, 4))
    upstream = np.random.default_rng(0).standard_normal((5, 3))  # gradcheck's seed=0 upstream gradient
    right = float(upstream[:, 2].sum())
    with pytest.raises(mn.GradcheckError) as info:
        mn.gradcheck(DenseWrongBiasGrad(4, 3, rng=0), x)
    message = str(info.value)
    analytic = float(message.split("analytic ")[1].split(",")[0])
    numerical = float(message.split("numerical ")[1].split(" ")[0])
    assert analytic == pytest.approx(right + 0.5, rel=1e-12)
    assert numerical == pytest.approx(right, rel=1e-8)


def test_catches_a_wrong_weight_gradient(rng):
    with pytest.raises(mn.GradcheckError, match="parameter W"):
        mn.gradcheck(DenseWrongWeightGrad(4, 3, rng=0), rng.standard_normal((5, 4)))


def test_catches_a_wrong_input_gradient(rng):
    with pytest.raises(mn.GradcheckError, match="w.r.t. input"):
        mn.gradcheck(DenseWrongInputGrad(4, 3, rng=0), rng.standard_normal((5, 4)))


def test_names_the_parameter_inside_a_sequential(rng):
    model = mn.Sequential(mn.Dense(4, 3, rng=0), mn.Sigmoid(), DenseWrongBiasGrad(3, 3, rng=1))
    with pytest.raises(mn.GradcheckError, match=r"parameter 2\.b is wrong at index \(2,\)"):
        mn.gradcheck(model, rng.standard_normal((5, 4)))


def test_catches_a_bug_hidden_behind_a_correct_layer(rng):
    model = mn.Sequential(SquareMissingFactor(), mn.Dense(2, 2, rng=0))
    with pytest.raises(mn.GradcheckError, match="input"):
        mn.gradcheck(model, rng.standard_normal((3, 2)))


def test_catches_a_loss_with_a_wrong_gradient(rng):
    class HalfMSE(mn.MSE):
        def backward(self):
            return super().backward() / 2

    with pytest.raises(mn.GradcheckError, match="pred"):
        mn.gradcheck(HalfMSE(), rng.standard_normal((4, 1)), target=rng.standard_normal((4, 1)))


def test_catches_a_non_finite_gradient(rng):
    class NaNGrad(mn.Tanh):
        def backward(self, grad):
            out = super().backward(grad)
            out[0, 0] = np.nan
            return out

    with pytest.raises(mn.GradcheckError, match=r"index \(0, 0\)"):
        mn.gradcheck(NaNGrad(), rng.standard_normal((3, 2)))


def test_tolerances_are_honoured(rng):
    class SlightlyOff(mn.Tanh):
        def backward(self, grad):
            return super().backward(grad) * (1 + 1e-4)

    x = rng.standard_normal((3, 2))
    with pytest.raises(mn.GradcheckError):
        mn.gradcheck(SlightlyOff(), x)
    assert mn.gradcheck(SlightlyOff(), x, rtol=1e-3)


# -- gradcheck has no side effects ------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradcheck_leaves_parameters_unchanged(dtype, rng):
    model = mn.Sequential(mn.Dense(3, 4, dtype=dtype, rng=0), mn.Tanh(), mn.Dense(4, 1, dtype=dtype, rng=1))
    params = model.parameters()
    before = [(p.value, p.value.copy()) for p in params]
    mn.gradcheck(model, rng.standard_normal((4, 3)))
    for p, (array, copy) in zip(params, before):
        assert p.value is array and p.value.dtype == dtype and p.grad.dtype == dtype
        np.testing.assert_array_equal(p.value, copy)


def test_gradcheck_leaves_the_input_unchanged(rng):
    x = rng.standard_normal((4, 3))
    saved = x.copy()
    mn.gradcheck(mn.Dense(3, 2, rng=0), x)
    np.testing.assert_array_equal(x, saved)


def test_gradcheck_of_a_loss_needs_a_target(rng):
    with pytest.raises(TypeError, match="target="):
        mn.gradcheck(mn.MSE(), rng.standard_normal((4, 1)))


def test_gradcheck_refuses_other_objects():
    with pytest.raises(TypeError, match="Layer or a Loss"):
        mn.gradcheck(np.tanh, [[1.0]])


@pytest.mark.parametrize("eps", [0.0, -1e-6])
def test_gradcheck_refuses_non_positive_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        mn.gradcheck(mn.Tanh(), [[1.0]], eps=eps)


# -- how a user adds a layer ---------------------------------------------------------------


class Scale(mn.Layer):
    r"""Learnable per-feature gain: y = x * g, so dL/dg = sum_i G_i * x_i and dL/dx = G * g."""

    def __init__(self, n: int) -> None:
        self.g = mn.Parameter(np.ones(n), name="g")

    def forward(self, x, training=True):
        self._cache = x
        return x * self.g.value

    def backward(self, grad):
        x = self._require_cache()
        self.g.grad[...] = np.sum(grad * x, axis=0)
        return grad * self.g.value

    def parameters(self):
        return [self.g]


def test_a_user_layer_in_a_dozen_lines_passes_gradcheck(rng):
    layer = Scale(3)
    layer.g.value[...] = rng.standard_normal(3)
    assert mn.gradcheck(layer, rng.standard_normal((5, 3)))
    model = mn.Sequential(mn.Dense(2, 3, rng=0), Scale(3), mn.Tanh(), mn.Dense(3, 1, rng=1))
    assert mn.gradcheck(model, rng.standard_normal((5, 2)))


def test_a_user_layer_trains_with_fit(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), Scale(1), mn.Sigmoid())
    history = mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.5), X, y, epochs=20, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert model[1].g.value[0] != 1.0


class _Accumulating(mn.Layer):
    """Right derivative, but adds into p.grad: it would accumulate across batches."""

    def __init__(self):
        self.w = mn.Parameter(np.array([1.5, -0.5]), name="w")

    def forward(self, x, training=True):
        self._x = x
        return x * self.w.value

    def backward(self, grad):
        self.w.grad += np.sum(grad * self._x, axis=0)
        return grad * self.w.value

    def parameters(self):
        return [self.w]


def test_gradcheck_catches_a_backward_that_adds_instead_of_writing():
    with pytest.raises(mn.GradcheckError, match="did not write the gradient of parameter w"):
        mn.gradcheck(_Accumulating(), np.ones((3, 2)))


class _TwinNames(mn.Layer):
    """Two parameters with the same name; a correct backward."""

    def __init__(self):
        self.a = mn.Parameter(np.array([2.0, 3.0]), name="w")
        self.b = mn.Parameter(np.array([-1.0, 0.5]), name="w")

    def forward(self, x, training=True):
        self._x = x
        return x * self.a.value + self.b.value

    def backward(self, grad):
        self.a.grad[...] = np.sum(grad * self._x, axis=0)
        self.b.grad[...] = np.sum(grad, axis=0)
        return grad * self.a.value

    def parameters(self):
        return [self.a, self.b]


def test_gradcheck_passes_parameters_that_share_a_name():
    assert mn.gradcheck(_TwinNames(), np.random.default_rng(0).normal(size=(4, 2)))


# -- Softmax, Dropout, BatchNorm, CrossEntropy ----------------------------------------------


def _batchnorm(n: int, seed: int, **kwargs) -> mn.BatchNorm:
    """A BatchNorm with random gamma and beta and running statistics away from their start."""
    gen = np.random.default_rng(seed)
    bn = mn.BatchNorm(n, **kwargs)
    bn.gamma.value[...] = gen.uniform(0.5, 2.0, n) * gen.choice([-1, 1], n)
    bn.beta.value[...] = gen.standard_normal(n)
    dtype = bn.running_mean.dtype
    bn.set_state(
        {
            "running_mean": gen.standard_normal(n).astype(dtype),
            "running_var": gen.uniform(0.5, 3.0, n).astype(dtype),
            "num_batches_tracked": 5,
        }
    )
    return bn


def test_gradcheck_passes_softmax(rng):
    assert mn.gradcheck(mn.Softmax(), rng.standard_normal((5, 4)) * 3)


@pytest.mark.parametrize("n", [2, 3, 8])
def test_gradcheck_passes_batchnorm_in_training_every_gradient(n, rng):
    # The batch statistics make each output depend on every row: the full Jacobian is checked.
    assert mn.gradcheck(_batchnorm(4, seed=n), rng.standard_normal((n, 4)) * 2 + 1)


def test_gradcheck_passes_batchnorm_in_float32_and_other_settings(rng):
    x = rng.standard_normal((5, 3))
    assert mn.gradcheck(_batchnorm(3, seed=1, dtype=np.float32), x)
    assert mn.gradcheck(_batchnorm(3, seed=2, momentum=None, eps=1e-2), x)


def test_gradcheck_passes_dropout_in_training_with_the_same_mask_for_every_probe(rng):
    layer = mn.Dropout(0.5, seed=3)
    state = layer.get_state()
    assert mn.gradcheck(layer, rng.standard_normal((6, 5)))
    assert layer.get_state() == state  # gradcheck puts the generator back


def test_gradcheck_leaves_the_running_statistics_as_they_were(rng):
    bn = _batchnorm(3, seed=4)
    before = bn.get_state()
    mn.gradcheck(bn, rng.standard_normal((4, 3)))
    after = bn.get_state()
    assert after["num_batches_tracked"] == before["num_batches_tracked"]
    np.testing.assert_array_equal(after["running_mean"], before["running_mean"])
    np.testing.assert_array_equal(after["running_var"], before["running_var"])


def test_gradcheck_passes_a_model_with_batchnorm_dropout_and_softmax(rng):
    model = mn.Sequential(
        mn.Dense(4, 6, seed=0),
        _batchnorm(6, seed=1),
        mn.Tanh(),
        mn.Dropout(0.3, seed=2),
        mn.Dense(6, 3, seed=3),
        mn.Softmax(),
    )
    assert mn.gradcheck(model, rng.standard_normal((5, 4)))


def test_gradcheck_passes_cross_entropy_on_labels_and_probabilities(rng):
    z = rng.standard_normal((6, 4)) * 3
    assert mn.gradcheck(mn.CrossEntropy(), z, target=rng.integers(0, 4, 6))
    assert mn.gradcheck(mn.CrossEntropy(), z, target=np.eye(4)[rng.integers(0, 4, 6)])
    assert mn.gradcheck(mn.CrossEntropy(), z, target=rng.dirichlet(np.ones(4), 6))
    assert mn.gradcheck(mn.CrossEntropy(), z, target=rng.random((6, 4)))  # rows need not sum to 1


def test_gradcheck_passes_cross_entropy_on_probabilities(rng):
    p = rng.dirichlet(np.ones(3) * 2, 5)
    assert mn.gradcheck(mn.CrossEntropy(from_logits=False), p, target=rng.integers(0, 3, 5))
    assert mn.gradcheck(mn.CrossEntropy(from_logits=False), p, target=rng.dirichlet(np.ones(3), 5))


class BatchNormWithoutStatisticsGradient(mn.BatchNorm):
    """Treats the batch mean and variance as constants: the common batch-norm bug."""

    def backward(self, grad, need_input_grad=True):
        super().backward(grad, need_input_grad=False)
        _x_hat, inv_std, _batch_statistics = self._cache
        return grad * self.gamma.value * inv_std


class DropoutForgettingTheMask(mn.Dropout):
    def backward(self, grad):
        super().backward(grad)
        return grad / (1 - self.p)


class CrossEntropyWithoutTheMean(mn.CrossEntropy):
    def backward(self):
        return super().backward() * len(self._cache[0])


@pytest.mark.parametrize(
    "layer, x, kwargs",
    [
        (BatchNormWithoutStatisticsGradient(3), np.arange(12.0).reshape(4, 3) ** 1.5, {}),
        (DropoutForgettingTheMask(0.5, seed=0), np.ones((4, 3)), {}),
        (CrossEntropyWithoutTheMean(), np.arange(12.0).reshape(4, 3) / 7, {"target": [0, 1, 2, 0]}),
    ],
    ids=["batchnorm", "dropout", "cross-entropy"],
)
def test_gradcheck_catches_a_wrong_backward_of_the_new_blocks(layer, x, kwargs):
    with pytest.raises(mn.GradcheckError, match="input|pred"):
        mn.gradcheck(layer, x, **kwargs)
