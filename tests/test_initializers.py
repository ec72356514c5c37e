"""Weight initialisers (minnet/init.py): the distributions torch.nn.init draws from, by name and as objects.

torch's random stream is not numpy's, so draws are compared as distributions:
bounds and standard deviations against torch's formulas on large tensors, and
a two-sample Kolmogorov-Smirnov test between minnet's and torch's draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rows import row

import minnet as mn

# name -> (torch's function and keyword arguments, uniform bound or normal std as a function of (fan_in, fan_out))
TORCH_EQUIVALENTS = {
    "xavier_uniform": ("xavier_uniform_", {}, "bound", lambda i, o: math.sqrt(6 / (i + o))),
    "xavier_normal": ("xavier_normal_", {}, "std", lambda i, o: math.sqrt(2 / (i + o))),
    "he_uniform": ("kaiming_uniform_", dict(nonlinearity="relu"), "bound", lambda i, o: math.sqrt(6 / i)),
    "he_normal": ("kaiming_normal_", dict(nonlinearity="relu"), "std", lambda i, o: math.sqrt(2 / i)),
    "lecun_uniform": ("kaiming_uniform_", dict(nonlinearity="linear"), "bound", lambda i, o: math.sqrt(3 / i)),
    "lecun_normal": ("kaiming_normal_", dict(nonlinearity="linear"), "std", lambda i, o: math.sqrt(1 / i)),
}


def _ks_p_value(a: np.ndarray, b: np.ndarray) -> float:
    stats = pytest.importorskip("scipy.stats")
    return stats.ks_2samp(a.ravel(), b.ravel()).pvalue


@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENTS))
@pytest.mark.parametrize("layer", ["dense", "conv"])
def test_each_initialiser_draws_from_torchs_distribution(name, layer):
    torch = pytest.importorskip("torch")
    function, kwargs, kind, formula = TORCH_EQUIVALENTS[name]
    if layer == "dense":
        W = mn.Dense(300, 200, init=name, seed=0).W.value  # torch's Linear(300, 200).weight is (200, 300)
        fans, torch_shape = (300, 200), (200, 300)
    else:
        W = mn.Conv2D(16, 32, 5, init=name, seed=0).W.value
        fans, torch_shape = (16 * 25, 32 * 25), (32, 16, 5, 5)  # torch's fans of an (out, in, kh, kw) kernel
    torch.manual_seed(0)
    expected = getattr(torch.nn.init, function)(torch.empty(torch_shape, dtype=torch.float64), **kwargs).numpy()
    scale = formula(*fans)
    if kind == "bound":
        assert np.abs(W).max() <= scale and np.abs(expected).max() <= scale
        assert np.abs(W).max() > 0.999 * scale
        np.testing.assert_allclose(W.std(), scale / math.sqrt(3), rtol=0.02)
    else:
        np.testing.assert_allclose([W.std(), expected.std()], scale, rtol=0.02)
    assert abs(W.mean()) < 0.02 * scale
    assert _ks_p_value(W, expected) > 1e-3


@pytest.mark.parametrize("shape", [(40, 25), (25, 40), (32, 16, 3, 3), (30, 30)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal_to_1e_12(shape, gain):
    W = mn.init.Orthogonal(gain)(shape[0], math.prod(shape[1:]), np.random.default_rng(1), shape=shape)
    assert W.shape == shape
    M = W.reshape(shape[0], -1)
    small = M.T @ M if M.shape[0] >= M.shape[1] else M @ M.T
    np.testing.assert_allclose(small / gain**2, np.eye(len(small)), rtol=0, atol=1e-12)


def test_orthogonal_draws_from_torchs_distribution():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    gen = np.random.default_rng(0)
    ours = np.stack([mn.init.Orthogonal()(4, 3, gen) for _ in range(3000)])  # (4, 3): columns orthonormal
    theirs = np.stack([torch.nn.init.orthogonal_(torch.empty(4, 3, dtype=torch.float64)).numpy() for _ in range(3000)])
    # Each entry of a uniformly random orthogonal matrix is symmetric about 0; a QR without the sign fix is not.
    for i, j in [(0, 0), (1, 1), (3, 2), (2, 0)]:
        assert _ks_p_value(ours[:, i, j], theirs[:, i, j]) > 1e-3


def test_orthogonal_by_name_and_in_a_dense_layer():
    W = mn.Dense(64, 16, init="orthogonal", seed=3).W.value
    np.testing.assert_allclose(W.T @ W, np.eye(16), atol=1e-12)
    assert repr(mn.Dense(4, 4, init=mn.init.Orthogonal(gain=2.0))) == "Dense(4, 4, init=Orthogonal(gain=2.0))"


def test_zeros_and_constant():
    assert not mn.Dense(3, 4, init="zeros").W.value.any()
    conv = mn.Conv2D(2, 3, 3, init=mn.init.Constant(0.25), dtype=np.float32)
    assert conv.W.value.dtype == np.float32 and np.all(conv.W.value == np.float32(0.25))


def test_the_older_names_draw_what_they_drew():
    gen, a = np.random.default_rng, math.sqrt(6 / 12)
    assert np.array_equal(mn.Dense(5, 7, init="xavier", seed=2).W.value, gen(2).uniform(-a, a, (5, 7)))
    assert np.array_equal(mn.Dense(5, 7, init="xavier_uniform", seed=2).W.value, gen(2).uniform(-a, a, (5, 7)))
    assert np.array_equal(
        mn.Dense(8, 3, init="he_normal", seed=4).W.value, gen(4).standard_normal((8, 3)) * math.sqrt(2 / 8)
    )
    assert np.array_equal(mn.Dense(8, 3, init="he", seed=4).W.value, mn.Dense(8, 3, init="he_normal", seed=4).W.value)


@pytest.mark.parametrize("name", sorted(mn.init.INITIALIZERS))
def test_every_named_initialiser_is_saved_and_loaded(name, tmp_path):
    model = mn.Sequential(mn.Conv2D(1, 2, 3, init=name, seed=0), mn.Flatten(), mn.Dense(8, 2, init=name, seed=1))
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert np.array_equal(p.value, q.value)


@row("init-bad-argument")
@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: mn.init.Orthogonal(gain=math.inf), ValueError, "gain must be finite, got inf"),
        (lambda: mn.init.Constant("0.1"), TypeError, r"value must be a real number, got '0.1' \(str\)"),
        (lambda: mn.Dense(2, 3, init="glorot_uniform"), ValueError, "init must be one of 'xavier', 'he', 'normal', "),
        (lambda: mn.Conv2D(1, 2, 3, init="kaiming"), ValueError, "'orthogonal', 'zeros', got 'kaiming'"),
    ],
)
def test_bad_initialiser_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()
