"""Weight regularizers (minnet/regularizers.py): Keras' penalties, added to the loss by the training step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rows import row

import minnet as mn
from minnet.regularizers import L1, L1L2, L2


def _w(seed: int = 0, shape=(4, 3)) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal(shape)
    w[0, 0] = 0.0  # the kink of |w|
    return w


@pytest.mark.parametrize(
    "reg, value, grad",
    [
        (L1(0.3), lambda w: 0.3 * np.abs(w).sum(), lambda w: 0.3 * np.sign(w)),
        (L2(0.2), lambda w: 0.2 * (w**2).sum(), lambda w: 0.4 * w),  # Keras' L2: no 1/2
        (L1L2(0.1, 0.5), lambda w: 0.1 * np.abs(w).sum() + 0.5 * (w**2).sum(), lambda w: 0.1 * np.sign(w) + w),
    ],
)
def test_penalty_and_gradient_are_kerass_formulas(reg, value, grad):
    w = _w()
    assert reg(w) == pytest.approx(value(w), rel=1e-14)
    np.testing.assert_allclose(reg.gradient(w), grad(w), rtol=1e-14)
    assert reg.gradient(w)[0, 0] == 0.0


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.2), L1L2(0.1, 0.5)], ids=repr)
def test_the_gradient_equals_torchs_autograd_of_the_penalty(reg):
    torch = pytest.importorskip("torch")
    w = _w(1)
    t = torch.from_numpy(w.copy()).requires_grad_()
    (reg.l1 * t.abs().sum() + reg.l2 * (t**2).sum()).backward()
    np.testing.assert_allclose(reg.gradient(w), t.grad.numpy(), rtol=1e-14, atol=0)


def test_a_float32_weight_gets_a_float32_gradient():
    w = _w().astype(np.float32)
    assert L1L2(0.1, 0.1).gradient(w).dtype == np.float32


def test_the_layer_itself_ignores_its_regularizer():
    plain = mn.Dense(4, 3, seed=0)
    regularized = mn.Dense(4, 3, seed=0, kernel_regularizer=L2(10.0), bias_regularizer=L1(10.0))
    x, g = _w(2, (5, 4)), _w(3, (5, 3))
    np.testing.assert_array_equal(plain.forward(x), regularized.forward(x))
    np.testing.assert_array_equal(plain.backward(g), regularized.backward(g))
    for p, q in zip(plain.parameters(), regularized.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)
    assert mn.gradcheck(regularized, x)  # the layer's function, not the penalty


def _model() -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(4, 6, seed=0, kernel_regularizer=L2(0.01), bias_regularizer=L1(0.02)),
        mn.Tanh(),
        mn.Dense(6, 3, seed=1, kernel_regularizer=L1L2(0.003, 0.02)),
        mn.Sigmoid(),
        mn.Dense(3, 1, seed=2),
        mn.Sigmoid(),
    )


def _penalty_of(model: mn.Sequential) -> float:
    d0, d1 = model[0], model[2]
    return (
        0.01 * (d0.W.value**2).sum()
        + 0.02 * np.abs(d0.b.value).sum()
        + 0.003 * np.abs(d1.W.value).sum()
        + 0.02 * (d1.W.value**2).sum()
    )


def test_regularized_fit_equals_a_torch_loop_that_adds_the_penalty_to_the_loss():
    torch = pytest.importorskip("torch")
    from test_torch_oracle import _classification_data, _copy_to_torch, _torch_params_as_minnet

    X, y = _classification_data()
    model = _model()
    net = _copy_to_torch(model)
    mn.fit(
        model, mn.BCE(), mn.SGD(model.parameters(), lr=0.2, momentum=0.9), X, y,
        epochs=8, batch_size=10, shuffle=False, progress=False,
    )  # fmt: skip

    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    l0, l2 = net[0], net[2]
    for _ in range(8):
        for start in range(0, len(X), 10):
            opt.zero_grad()
            loss = torch.nn.BCELoss()(net(tX[start : start + 10]), ty[start : start + 10])
            loss = loss + 0.01 * (l0.weight**2).sum() + 0.02 * l0.bias.abs().sum()
            loss = loss + 0.003 * l2.weight.abs().sum() + 0.02 * (l2.weight**2).sum()
            loss.backward()
            opt.step()
    for p, expected in zip(model.parameters(), _torch_params_as_minnet(net)):
        np.testing.assert_allclose(p.value, expected, rtol=1e-10, atol=1e-13)
    unregularized = mn.Sequential(*(mn.Dense(4, 6, seed=0), mn.Tanh(), mn.Dense(6, 3, seed=1), mn.Sigmoid()))
    mn.fit(unregularized, mn.MSE(), mn.SGD(unregularized.parameters(), lr=0.0), X, np.zeros((50, 3)), epochs=1,
           progress=False)  # fmt: skip
    assert not np.allclose(model[0].W.value, unregularized[0].W.value, atol=1e-3)  # it did train


def test_the_loss_reported_by_fit_evaluate_and_validation_includes_the_penalty():
    gen = np.random.default_rng(4)
    X, y = gen.standard_normal((30, 4)), (gen.random(30) > 0.5).astype(float)
    model = _model()
    data_loss = mn.BCE().forward(model.predict(X), y)
    penalty = _penalty_of(model)
    assert penalty > 0.1 * data_loss  # large enough to be seen
    assert mn.evaluate(model, mn.BCE(), X, y)["loss"] == pytest.approx(data_loss + penalty, rel=1e-12)
    # lr=0: the one full-batch step leaves the weights where the loss was measured
    history = mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.0), X, y, epochs=1,
                     validation_data=(X, y), progress=False)  # fmt: skip
    assert history.history["loss"][0] == pytest.approx(data_loss + penalty, rel=1e-12)
    assert history.history["val_loss"][0] == pytest.approx(data_loss + penalty, rel=1e-12)


def test_a_conv2d_regularizer_is_counted_once_for_a_shared_layer():
    conv = mn.Conv2D(1, 2, 3, seed=0, kernel_regularizer=L2(0.5), bias_regularizer=L2(0.5))
    x = mn.Input((1, 5, 5))
    a, b = conv(x), conv(x)
    model = mn.Graph(inputs=x, outputs=mn.Dense(18, 1, seed=1)(mn.Flatten()(mn.Add()([a, b]))))
    X, y = np.random.default_rng(5).standard_normal((6, 1, 5, 5)), np.zeros(6)
    data_loss = mn.MSE().forward(model.predict(X), y)
    penalty = 0.5 * ((conv.W.value**2).sum() + (conv.b.value**2).sum())
    assert mn.evaluate(model, mn.MSE(), X, y)["loss"] == pytest.approx(data_loss + penalty, rel=1e-12)


def test_a_frozen_layers_regularizer_contributes_nothing():
    gen = np.random.default_rng(6)
    X, y = gen.standard_normal((10, 4)), np.zeros(10)
    model = mn.Sequential(mn.Dense(4, 2, seed=0, kernel_regularizer=L2(1.0)), mn.Dense(2, 1, seed=1))
    model[0].trainable = False
    assert mn.evaluate(model, mn.MSE(), X, y)["loss"] == pytest.approx(mn.MSE().forward(model.predict(X), y))


def test_save_and_load_keep_the_regularizers(tmp_path):
    model = _model()
    conv = mn.Sequential(mn.Conv2D(1, 2, 3, kernel_regularizer=L1(0.5), bias_regularizer=L1L2(l2=0.1)))
    for m, name in [(model, "dense.npz"), (conv, "conv.npz")]:
        mn.save(m, tmp_path / name)
        loaded = mn.load(tmp_path / name)
        assert repr(loaded) == repr(m)
        assert [(p.name, repr(r)) for p, r in loaded[0].penalties()] == [(p.name, repr(r)) for p, r in m[0].penalties()]
    X, y = np.random.default_rng(7).standard_normal((8, 4)), np.ones(8)
    assert mn.evaluate(mn.load(tmp_path / "dense.npz"), mn.BCE(), X, y) == mn.evaluate(model, mn.BCE(), X, y)


# -- bad arguments -------------------------------------------------------------------------


@row("regularizer-bad-strength")
@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: L2(-0.01), ValueError, r"l2 must be >= 0.0, got -0.01"),
        (lambda: L1(math.nan), ValueError, r"l1 must be finite, got nan"),
        (lambda: L1L2(l1="0.1"), TypeError, r"l1 must be a real number, got '0.1' \(str\)"),
    ],
)
def test_a_negative_or_non_numeric_strength_is_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@row("regularizer-not-a-regularizer")
@pytest.mark.parametrize("bad", ["l2", 0.01, L2])
def test_a_layer_refuses_what_is_not_a_regularizer(bad):
    with pytest.raises(
        TypeError, match=r"kernel_regularizer must be a Regularizer \(e.g. mn.regularizers.L2\(0.01\)\)"
    ):
        mn.Dense(2, 3, kernel_regularizer=bad)
    with pytest.raises(TypeError, match="bias_regularizer must be a Regularizer"):
        mn.Conv2D(1, 2, 3, bias_regularizer=bad)


@row("regularizer-bad-config")
@pytest.mark.parametrize(
    "config, match",
    [
        ({"class": "L3", "l2": 0.1}, r"must name one of \['L1', 'L1L2', 'L2'\] in its 'class'"),
        ({"l2": 0.1}, "in its 'class'"),
        ({"class": ["L2"]}, "in its 'class'"),
        ({"class": "L2", "l1": 0.1}, "holds arguments that L2 does not take"),
        ({"class": "L2", "l2": -1}, "l2 must be >= 0.0"),
    ],
)
def test_a_regularizer_config_that_is_not_a_built_in_ones_is_refused(config, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        mn.Dense(2, 3, kernel_regularizer=config)
    assert (
        repr(mn.Dense(2, 3, kernel_regularizer={"class": "L2", "l2": 0.1})) == "Dense(2, 3, kernel_regularizer=L2(0.1))"
    )


@row("regularizer-without-bias")
def test_a_bias_regularizer_without_a_bias_is_refused():
    with pytest.raises(ValueError, match="bias_regularizer needs a bias: the layer was given bias=False"):
        mn.Dense(2, 3, bias=False, bias_regularizer=L2())
    with pytest.raises(ValueError, match="bias_regularizer needs a bias"):
        mn.Conv2D(1, 2, 3, bias=False, bias_regularizer=L1())
