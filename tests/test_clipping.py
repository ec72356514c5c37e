"""Gradient clipping: equal to torch.nn.utils.clip_grad_norm_ / clip_grad_value_, and applied by the optimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rows import row

import minnet as mn

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _grads(seed: int, scale: float = 1.0) -> list[np.ndarray]:
    gen = np.random.default_rng(seed)
    return [gen.standard_normal(shape) * scale for shape in SHAPES]


def _params(grads: list[np.ndarray]) -> list[mn.Parameter]:
    params = [mn.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad[...] = g
    return params


def _torch_params(torch, grads: list[np.ndarray]) -> list:
    tparams = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for t, g in zip(tparams, grads):
        t.grad = torch.from_numpy(g.copy())
    return tparams


def _non_finite(kind: str) -> list[np.ndarray]:
    grads = _grads(3)
    if kind in ("inf", "both"):
        grads[0][1, 2] = math.inf
        grads[2][0, 0, 1] = -math.inf
    if kind in ("nan", "both"):
        grads[1][3] = math.nan
    return grads


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3, 0.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_clip_grad_norm_equals_torch(norm_type, max_norm, seed):
    torch = pytest.importorskip("torch")
    grads = _grads(seed, scale=10.0 ** (seed - 0.5))
    params, tparams = _params(grads), _torch_params(torch, grads)
    total = mn.clip_grad_norm(params, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-14)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("kind", ["inf", "nan", "both"])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_of_non_finite_gradients_equals_torch(kind, norm_type):
    torch = pytest.importorskip("torch")
    grads = _non_finite(kind)
    params, tparams = _params(grads), _torch_params(torch, grads)
    total = mn.clip_grad_norm(params, 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, 1.0, norm_type=norm_type, error_if_nonfinite=False)
    np.testing.assert_array_equal(total, expected.item())
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN where torch has NaN, 0 where it has 0


@pytest.mark.parametrize("grads", [_grads(4, scale=3.0), _non_finite("both")], ids=["finite", "inf-nan"])
@pytest.mark.parametrize("clip_value", [0.5, 0.0])
def test_clip_grad_value_equals_torch(grads, clip_value):
    torch = pytest.importorskip("torch")
    params, tparams = _params(grads), _torch_params(torch, grads)
    mn.clip_grad_value(params, clip_value)
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_a_gradient_within_the_norm_is_left_bit_identical():
    grads = _grads(5)
    params = _params(grads)
    total = mn.clip_grad_norm(params, 100.0)
    assert total == pytest.approx(math.sqrt(sum((g**2).sum() for g in grads)), rel=1e-14)
    for p, g in zip(params, grads):
        assert np.array_equal(p.grad, g)


def test_clipping_keeps_float32():
    p = mn.Parameter(np.zeros(4, np.float32))
    p.grad[...] = [3.0, 4.0, 0.0, 0.0]
    assert mn.clip_grad_norm(p, 1.0) == pytest.approx(5.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8, 0, 0], rtol=1e-6)


def test_clip_grad_norm_of_no_parameters_is_zero():
    assert mn.clip_grad_norm([], 1.0) == 0.0


# -- through the optimizers --------------------------------------------------------------


@pytest.mark.parametrize(
    "name, clip, config",
    [
        ("SGD", dict(clip_norm=0.05), dict(lr=0.5, momentum=0.9)),
        ("Adam", dict(clip_norm=0.02), dict(lr=0.05)),
        ("RMSprop", dict(clip_value=0.01), dict(lr=0.01)),
    ],
)
def test_fit_with_clipping_equals_a_torch_loop_that_clips(name, clip, config):
    torch = pytest.importorskip("torch")
    from test_torch_oracle import _classification_data, _copy_to_torch, _sgd_model, _torch_params_as_minnet

    X, y = _classification_data()
    model = _sgd_model()
    net = _copy_to_torch(model)
    opt = getattr(mn, name)(model.parameters(), **config, **clip)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=4, batch_size=10, shuffle=False, progress=False)

    topt = getattr(torch.optim, name)(net.parameters(), **config)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    norms = []
    for _ in range(4):
        for start in range(0, len(X), 10):
            topt.zero_grad()
            torch.nn.BCELoss()(net(tX[start : start + 10]), ty[start : start + 10]).backward()
            if "clip_norm" in clip:
                norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), clip["clip_norm"]).item())
            else:
                torch.nn.utils.clip_grad_value_(net.parameters(), clip["clip_value"])
            topt.step()
    assert not norms or max(norms) > 2 * clip["clip_norm"]  # the clipping did bite
    for p, expected in zip(model.parameters(), _torch_params_as_minnet(net)):
        np.testing.assert_allclose(p.value, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("clip", [dict(clip_norm=1.0), dict(clip_value=1.0)])
def test_a_non_finite_gradient_is_refused_after_clipping(clip):
    params = [mn.Parameter(np.ones(3)), mn.Parameter(np.ones(2))]
    opt = mn.SGD(params, lr=0.1, momentum=0.9, **clip)
    params[0].grad[...] = [1.0, math.nan, 2.0]
    params[1].grad[...] = [math.inf, 0.0]
    with pytest.raises(mn.optim.NonFiniteUpdate):
        opt.step()
    assert all(np.array_equal(p.value, np.ones_like(p.value)) for p in params)
    assert opt.step_count == 0 and opt.buffers == [None, None]


def test_the_optimizer_clips_before_its_step():
    p = mn.Parameter(np.zeros(2))
    p.grad[...] = [30.0, 40.0]
    mn.SGD([p], lr=1.0, clip_norm=5.0).step()
    np.testing.assert_allclose(p.value, [-3.0, -4.0], rtol=1e-6)
    p.grad[...] = [30.0, -40.0]
    mn.Adam([p], lr=1.0, clip_value=0.5).step()  # Adam's first step has the sign of the clipped gradient
    np.testing.assert_allclose(p.value, [-4.0, -3.0], rtol=1e-6)


# -- bad arguments -------------------------------------------------------------------------


@row("clip-norm-and-value")
def test_clip_norm_and_clip_value_together_are_refused():
    params = mn.Dense(2, 1, seed=0).parameters()
    with pytest.raises(ValueError, match="give clip_norm or clip_value, not both"):
        mn.SGD(params, lr=0.1, clip_norm=1.0, clip_value=0.5)


@row("clip-negative")
@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda ps: mn.Adam(ps, clip_norm=-1.0), ValueError, r"clip_norm must be >= 0.0, got -1.0"),
        (lambda ps: mn.SGD(ps, lr=0.1, clip_value=math.nan), ValueError, r"clip_value must be finite, got nan"),
        (lambda ps: mn.RMSprop(ps, clip_norm="1"), TypeError, r"clip_norm must be a real number, got '1' \(str\)"),
        (lambda ps: mn.clip_grad_norm(ps, -0.5), ValueError, r"max_norm must be >= 0.0, got -0.5"),
        (lambda ps: mn.clip_grad_value(ps, -1), ValueError, r"clip_value must be >= 0.0, got -1.0"),
    ],
)
def test_negative_or_non_numeric_clipping_is_refused(make, error, match):
    params = _params(_grads(6))
    before = [p.grad.copy() for p in params]
    with pytest.raises(error, match=match):
        make(params)
    assert all(np.array_equal(p.grad, b) for p, b in zip(params, before))


@row("clip-norm-type")
@pytest.mark.parametrize(
    "norm_type, error, match",
    [(0, ValueError, "norm_type must be > 0"), (-math.inf, ValueError, "> 0"), ("fro", TypeError, "got 'fro'")],
)
def test_a_norm_type_that_is_not_positive_is_refused(norm_type, error, match):
    params = _params(_grads(7))
    before = [p.grad.copy() for p in params]
    with pytest.raises(error, match=match):
        mn.clip_grad_norm(params, 1.0, norm_type=norm_type)
    assert all(np.array_equal(p.grad, b) for p, b in zip(params, before))


@row("clip-not-parameters")
@pytest.mark.parametrize("bad", [np.ones(3), [np.ones(3)], 3.0])
def test_clipping_refuses_what_is_not_a_parameter(bad):
    with pytest.raises(TypeError, match="must (be a Parameter or an iterable of them|hold Parameter objects)"):
        mn.clip_grad_norm(bad, 1.0)
    with pytest.raises(TypeError, match="Parameter"):
        mn.clip_grad_value(bad, 1.0)


@row("clip-frozen")
@pytest.mark.parametrize("clip", ["norm", "value"])
def test_a_frozen_parameter_is_left_out_of_clipping_as_torch_leaves_out_no_grad(clip):
    torch = pytest.importorskip("torch")
    grads = _grads(6, scale=5.0)
    params, tparams = _params(grads), _torch_params(torch, grads)
    params[1].trainable = False  # its grad is stale: a frozen layer may skip its backward
    tparams[1].requires_grad_(False)
    tparams[1].grad = None
    if clip == "norm":
        total = mn.clip_grad_norm(params, 1.0)
        assert total == pytest.approx(torch.nn.utils.clip_grad_norm_(tparams, 1.0).item(), rel=1e-14)
    else:
        mn.clip_grad_value(params, 0.5)
        torch.nn.utils.clip_grad_value_(tparams, 0.5)
    assert np.array_equal(params[1].grad, grads[1])
    for p, t in zip(params[::2], tparams[::2]):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-14, atol=0)
