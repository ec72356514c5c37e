"""Loss options that weigh: ``BCE(pos_weight=)``, ``CrossEntropy(weight=, label_smoothing=)``, sample weights.

Each equals PyTorch in float64, value and gradient; each passes gradcheck.
"""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn

FORWARD = dict(rtol=1e-12, atol=1e-14)
GRAD = dict(rtol=1e-10, atol=1e-13)


def _minnet(loss, pred, target, sample_weight=None):
    value = loss.forward(pred, target, sample_weight)
    return value, loss.backward()


def _torch(torch_loss, pred, target, sample_weight=None):
    """Value and gradient of a torch loss; with ``sample_weight``, Keras' sum over the batch size."""
    import torch

    tp = torch.from_numpy(pred.copy()).requires_grad_(True)
    tt = torch.from_numpy(target)
    if sample_weight is None:
        value = torch_loss(tp, tt)
    else:
        terms = torch_loss(tp, tt)  # reduction="none"
        w = torch.from_numpy(sample_weight).reshape(-1, *([1] * (terms.ndim - 1)))
        value = (terms * w).sum() / terms.numel()
    value.backward()
    return value.item(), tp.grad.numpy()


def _assert_equal(ours, theirs):
    np.testing.assert_allclose(ours[0], theirs[0], **FORWARD)
    np.testing.assert_allclose(ours[1], theirs[1], **GRAD)


# -- BCE(pos_weight=) ---------------------------------------------------------------


@pytest.mark.parametrize("pos_weight", [3.0, [0.5, 2.0, 0.0]])
def test_bce_pos_weight_on_logits_equals_torch(rng, pos_weight):
    torch = pytest.importorskip("torch")
    z, y = rng.normal(size=(7, 3)) * 4, rng.uniform(size=(7, 3))
    theirs = _torch(torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float64)), z, y)
    _assert_equal(_minnet(mn.BCE(from_logits=True, pos_weight=pos_weight), z, y), theirs)


def test_bce_pos_weight_on_probabilities_equals_torchs_formula(rng):
    torch = pytest.importorskip("torch")
    p, y = rng.uniform(0.01, 0.99, size=(7, 2)), rng.uniform(size=(7, 2))
    pos_weight = np.array([2.5, 0.3])

    def formula(tp, tt):
        w = torch.from_numpy(pos_weight)
        return -(w * tt * torch.log(tp).clamp(min=-100) + (1 - tt) * torch.log(1 - tp).clamp(min=-100)).mean()

    _assert_equal(_minnet(mn.BCE(pos_weight=pos_weight), p, y), _torch(formula, p, y))


def test_bce_pos_weight_of_one_changes_no_bit(rng):
    for from_logits in (False, True):
        p, y = rng.uniform(0.01, 0.99, size=(9, 1)), (rng.uniform(size=(9, 1)) > 0.5).astype(float)
        plain, weighted = _minnet(mn.BCE(from_logits), p, y), _minnet(mn.BCE(from_logits, pos_weight=1.0), p, y)
        np.testing.assert_allclose(weighted[0], plain[0], rtol=1e-15)
        np.testing.assert_allclose(weighted[1], plain[1], rtol=1e-15)


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_pos_weight_passes_gradcheck(rng, from_logits):
    p = rng.uniform(0.05, 0.95, size=(5, 2))
    assert mn.gradcheck(mn.BCE(from_logits, pos_weight=[4.0, 0.5]), p, target=rng.uniform(size=(5, 2)))


# -- CrossEntropy(weight=, label_smoothing=) ------------------------------------------

CLASS_WEIGHT = [0.2, 1.0, 3.5, 0.0]


def _labels(rng, shape):
    return rng.integers(0, 4, size=shape)


def _probabilities(rng, shape):
    t = rng.uniform(size=shape)
    return t / t.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT])
@pytest.mark.parametrize(
    "shape, make_target",
    [
        ((9, 4), lambda rng: _labels(rng, 9)),
        ((9, 4), lambda rng: _probabilities(rng, (9, 4))),
        ((3, 4, 2, 5), lambda rng: _labels(rng, (3, 2, 5))),
        ((3, 4, 2, 5), lambda rng: _probabilities(rng, (3, 4, 2, 5))),
    ],
    ids=["labels", "probabilities", "nd-labels", "nd-probabilities"],
)
def test_cross_entropy_options_equal_torch(rng, shape, make_target, weight, smoothing):
    torch = pytest.importorskip("torch")
    z, target = rng.normal(size=shape) * 3, make_target(rng)
    t_weight = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    theirs = _torch(torch.nn.CrossEntropyLoss(weight=t_weight, label_smoothing=smoothing), z, target)
    _assert_equal(_minnet(mn.CrossEntropy(weight=weight, label_smoothing=smoothing), z, target), theirs)


@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_cross_entropy_options_on_probabilities_equal_the_logits_form(rng, target):
    z = rng.normal(size=(6, 4))
    y = _labels(rng, 6) if target == "labels" else _probabilities(rng, (6, 4))
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    options = dict(weight=CLASS_WEIGHT, label_smoothing=0.1)
    on_logits = mn.CrossEntropy(**options).forward(z, y)
    np.testing.assert_allclose(mn.CrossEntropy(from_logits=False, **options).forward(s, y), on_logits, rtol=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_cross_entropy_options_pass_gradcheck(rng, from_logits, target):
    pred = rng.normal(size=(5, 4)) if from_logits else _probabilities(rng, (5, 4))
    y = _labels(rng, 5) if target == "labels" else _probabilities(rng, (5, 4))
    loss = mn.CrossEntropy(from_logits, weight=[1.0, 2.0, 0.5, 3.0], label_smoothing=0.2)
    assert mn.gradcheck(loss, pred, target=y)


def test_cross_entropy_labels_all_of_weight_zero_give_nan_as_torch():
    loss = mn.CrossEntropy(weight=[0.0, 1.0])
    assert np.isnan(loss.forward(np.zeros((2, 2)), [0, 0]))


# -- sample weights ---------------------------------------------------------------------


def _torch_unreduced(name, torch):
    return {
        "bce": torch.nn.BCELoss(reduction="none"),
        "bce-logits": torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(2.0, dtype=torch.float64)),
        "mse": torch.nn.MSELoss(reduction="none"),
        "ce": torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=0.1),
    }[name]


SAMPLE_WEIGHTED = {
    "bce": (lambda: mn.BCE(), lambda rng: rng.uniform(0.05, 0.95, (8, 2)), lambda rng: rng.uniform(size=(8, 2))),
    "bce-logits": (
        lambda: mn.BCE(from_logits=True, pos_weight=2.0),
        lambda rng: rng.normal(size=(8, 1)),
        lambda rng: (rng.uniform(size=(8, 1)) > 0.5).astype(float),
    ),
    "mse": (lambda: mn.MSE(), lambda rng: rng.normal(size=(8, 3)), lambda rng: rng.normal(size=(8, 3))),
    "ce": (
        lambda: mn.CrossEntropy(label_smoothing=0.1),
        lambda rng: rng.normal(size=(8, 4)),
        lambda rng: _labels(rng, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_WEIGHTED))
def test_sample_weights_equal_torchs_terms_summed_over_the_batch_size(rng, name):
    torch = pytest.importorskip("torch")
    make, make_pred, make_target = SAMPLE_WEIGHTED[name]
    pred, target, w = make_pred(rng), make_target(rng), rng.uniform(0, 3, size=8)
    theirs = _torch(_torch_unreduced(name, torch), pred, target, w)
    _assert_equal(_minnet(make(), pred, target, w), theirs)


def test_sample_weights_on_nd_cross_entropy_weigh_every_position_of_the_sample(rng):
    torch = pytest.importorskip("torch")
    z, y, w = rng.normal(size=(3, 4, 2, 2)), _labels(rng, (3, 2, 2)), np.array([0.5, 2.0, 0.0])
    theirs = _torch(torch.nn.CrossEntropyLoss(reduction="none"), z, y, w)
    _assert_equal(_minnet(mn.CrossEntropy(), z, y, w), theirs)


@pytest.mark.parametrize("name", sorted(SAMPLE_WEIGHTED))
def test_sample_weights_of_one_change_no_bit(rng, name):
    make, make_pred, make_target = SAMPLE_WEIGHTED[name]
    pred, target = make_pred(rng), make_target(rng)
    plain, weighted = _minnet(make(), pred, target), _minnet(make(), pred, target, np.ones(8))
    assert weighted[0] == plain[0]
    assert np.array_equal(weighted[1], plain[1])


def test_class_weighted_cross_entropy_with_sample_weights_keeps_its_divisor(rng):
    # D = sum of the labels' class weights: sample weights scale the terms, not the divisor.
    z, y, w = rng.normal(size=(5, 3)), np.array([0, 1, 2, 2, 1]), rng.uniform(size=5)
    weight = np.array([1.0, 2.0, 4.0])
    terms = -(np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)))[np.arange(5), y]
    expected = np.sum(w * weight[y] * terms) / np.sum(weight[y])
    np.testing.assert_allclose(mn.CrossEntropy(weight=weight).forward(z, y, w), expected, rtol=1e-13)


def test_float32_weighted_losses_stay_float32(rng):
    z = rng.normal(size=(6, 3)).astype(np.float32)
    w = np.linspace(0, 2, 6)
    loss = mn.CrossEntropy(weight=[1.0, 2.0, 3.0], label_smoothing=0.1)
    loss.forward(z, [0, 1, 2, 0, 1, 2], w)
    assert loss.backward().dtype == np.float32
    bce = mn.BCE(from_logits=True, pos_weight=[2.0, 1.0, 0.5])
    bce.forward(z, (z > 0).astype(np.float32), w)
    assert bce.backward().dtype == np.float32


def test_reprs_show_the_options():
    assert repr(mn.BCE(from_logits=True, pos_weight=2)) == "BCE(from_logits=True, pos_weight=2.0)"
    assert repr(mn.CrossEntropy(weight=[1, 2], label_smoothing=0.1)) == (
        "CrossEntropy(weight=[1.0, 2.0], label_smoothing=0.1)"
    )
    assert repr(mn.CrossEntropy()) == "CrossEntropy()"


def test_constructor_weights_are_copied(rng):
    weight = np.array([1.0, 1.0])
    loss = mn.CrossEntropy(weight=weight)
    weight[0] = 100.0
    assert loss.weight[0] == 1.0
