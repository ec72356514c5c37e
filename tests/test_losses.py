"""BCE and MSE: values, gradients, shapes and the checks on their inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minnet as mn

LOSSES = [mn.BCE, lambda: mn.BCE(from_logits=True), mn.MSE]


def _bce(p: float, y: float) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


# -- values ---------------------------------------------------------------------


def test_bce_value_by_hand():
    p, y = [[0.9], [0.2], [0.6]], [[1.0], [0.0], [1.0]]
    expected = (_bce(0.9, 1) + _bce(0.2, 0) + _bce(0.6, 1)) / 3
    assert mn.BCE().forward(p, y) == pytest.approx(expected, rel=1e-15)


def test_bce_gradient_by_hand():
    loss = mn.BCE()
    loss.forward([[0.9], [0.2]], [[1.0], [0.0]])
    # d/dp of -(y log p + (1-y) log(1-p)), divided by N = 2
    np.testing.assert_allclose(loss.backward(), [[-1 / 0.9 / 2], [1 / 0.8 / 2]], rtol=1e-14)


def test_bce_from_logits_equals_bce_of_sigmoid(rng):
    z = rng.standard_normal((6, 2)) * 3
    y = (rng.random((6, 2)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-z))
    logits, probs = mn.BCE(from_logits=True), mn.BCE()
    assert logits.forward(z, y) == pytest.approx(probs.forward(p, y), rel=1e-13)
    np.testing.assert_allclose(logits.backward(), probs.backward() * p * (1 - p), rtol=1e-11)


def test_bce_from_logits_gradient_is_sigmoid_minus_target():
    loss = mn.BCE(from_logits=True)
    loss.forward([[0.0], [2.0]], [[1.0], [0.0]])
    s = 1 / (1 + math.exp(-2.0))
    np.testing.assert_allclose(loss.backward(), [[(0.5 - 1) / 2], [s / 2]], rtol=1e-15)


def test_bce_from_logits_is_finite_for_huge_logits():
    loss = mn.BCE(from_logits=True)
    value = loss.forward([[1e4], [-1e4], [800.0]], [[0.0], [1.0], [1.0]])
    assert value == pytest.approx((1e4 + 1e4 + 0.0) / 3, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[1 / 3], [-1 / 3], [0.0]], rtol=1e-15)


def test_bce_clamps_log_at_minus_100():
    # p = 0 with y = 1 costs exactly 100 (torch's clamp), not inf.
    assert mn.BCE().forward([[0.0], [1.0]], [[1.0], [1.0]]) == pytest.approx(50.0, rel=1e-15)


def test_bce_accepts_soft_targets_like_torch():
    assert mn.BCE().forward([[0.5]], [[0.3]]) == pytest.approx(math.log(2), rel=1e-15)


def test_mse_value_and_gradient_by_hand():
    loss = mn.MSE()
    value = loss.forward([[1.0, 2.0], [3.0, 5.0]], [[0.0, 2.0], [1.0, 1.0]])
    assert value == pytest.approx((1 + 0 + 4 + 16) / 4, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.5, 0.0], [1.0, 2.0]], rtol=1e-15)


@pytest.mark.parametrize("make", LOSSES)
def test_forward_returns_a_python_float(make):
    value = make().forward([[0.3], [0.6]], [[0.0], [1.0]])
    assert type(value) is float


@pytest.mark.parametrize("make", LOSSES)
def test_gradient_has_the_shape_of_pred(make, rng):
    loss = make()
    loss.forward(rng.random((5, 3)), (rng.random((5, 3)) > 0.5).astype(float))
    assert loss.backward().shape == (5, 3)


@pytest.mark.parametrize("make", LOSSES)
def test_loss_is_a_mean_so_duplicating_the_batch_changes_nothing(make, rng):
    p, y = rng.random((4, 1)), (rng.random((4, 1)) > 0.5).astype(float)
    assert make().forward(np.vstack([p, p]), np.vstack([y, y])) == pytest.approx(make().forward(p, y), rel=1e-14)


@pytest.mark.parametrize("make", LOSSES)
def test_float32_loss_gradient_stays_float32(make):
    loss = make()
    loss.forward(np.array([[0.3], [0.6]], np.float32), np.array([0.0, 1.0], np.float32))
    assert loss.backward().dtype == np.float32


# -- target shapes ----------------------------------------------------------------


@pytest.mark.parametrize("make", LOSSES)
def test_flat_target_is_reshaped_for_a_single_output(make, rng):
    p, y = rng.random((5, 1)), (rng.random(5) > 0.5).astype(float)
    flat, column = make(), make()
    assert flat.forward(p, y) == column.forward(p, y.reshape(5, 1))
    np.testing.assert_array_equal(flat.backward(), column.backward())
    assert flat.backward().shape == (5, 1)


@pytest.mark.parametrize("make", LOSSES)
@pytest.mark.parametrize(
    "pred_shape, target_shape",
    [
        ((5, 1), (1, 5)),
        ((5, 1), (4,)),
        ((5, 1), (5, 5)),
        ((5, 2), (5,)),
        ((5, 2), (5, 1)),
        ((5, 1), (5, 1, 1)),
    ],
)
def test_mismatched_target_shape_raises_instead_of_broadcasting(make, pred_shape, target_shape):
    with pytest.raises(ValueError, match="shape"):
        make().forward(np.full(pred_shape, 0.5), np.zeros(target_shape))


@pytest.mark.parametrize("make", LOSSES)
def test_pred_must_be_a_batch(make):
    with pytest.raises(ValueError, match=r"pred must be a batch with the samples on its first axis.*shape \(5,\)"):
        make().forward(np.full(5, 0.5), np.zeros(5))


# -- values the losses refuse ------------------------------------------------------


@pytest.mark.parametrize("make", [mn.BCE, lambda: mn.BCE(from_logits=True)])
@pytest.mark.parametrize("bad", [2.0, -1.0, 1.0001])
def test_bce_refuses_targets_outside_0_1(make, bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make().forward([[0.5], [0.5]], [[0.0], [bad]])


@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_bce_on_probabilities_refuses_values_outside_0_1(bad):
    with pytest.raises(ValueError, match="from_logits=True"):
        mn.BCE().forward([[0.5], [bad]], [[0.0], [1.0]])


def test_bce_from_logits_accepts_any_real_score():
    assert mn.BCE(from_logits=True).forward([[-3.0], [7.0]], [[0.0], [1.0]]) > 0


@pytest.mark.parametrize("make", LOSSES)
@pytest.mark.parametrize("where", ["pred", "target"])
def test_nan_input_raises(make, where):
    p, y = np.full((2, 1), 0.5), np.zeros((2, 1))
    (p if where == "pred" else y)[1, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        make().forward(p, y)


def test_bce_refuses_non_bool_from_logits():
    with pytest.raises(TypeError, match="from_logits"):
        mn.BCE(from_logits="yes")


@pytest.mark.parametrize("make", LOSSES)
def test_backward_before_forward_raises(make):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward()


def test_reprs_read_like_code():
    assert [repr(mn.BCE()), repr(mn.BCE(from_logits=True)), repr(mn.MSE())] == [
        "BCE()",
        "BCE(from_logits=True)",
        "MSE()",
    ]


# -- CrossEntropy ---------------------------------------------------------------------


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_value_and_gradient_by_hand():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    loss = mn.CrossEntropy()
    value = loss.forward(z, [0, 2])
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-(math.log(s[0, 0]) + math.log(s[1, 2])) / 2, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), (s - [[1, 0, 0], [0, 0, 1]]) / 2, rtol=1e-14, atol=1e-16)


def test_cross_entropy_labels_and_one_hot_rows_agree(rng):
    z, y = rng.standard_normal((7, 4)) * 3, rng.integers(0, 4, 7)
    labels, one_hot = mn.CrossEntropy(), mn.CrossEntropy()
    assert labels.forward(z, y) == pytest.approx(one_hot.forward(z, np.eye(4)[y]), rel=1e-14)
    np.testing.assert_allclose(labels.backward(), one_hot.backward(), rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("n, n_classes", [(1, 2), (128, 10), (33, 32), (20, 33), (5, 300)])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_cross_entropy_on_labels_equals_the_plain_log_softmax_and_the_one_hot_path(n, n_classes, dtype, rtol, rng):
    # The labels path picks -log s_iy from the softmax's pieces and keeps s for backward: against the formula.
    z, y = (rng.standard_normal((n, n_classes)) * 5).astype(dtype), rng.integers(0, n_classes, n)
    labels, one_hot = mn.CrossEntropy(), mn.CrossEntropy()
    log_s = _log_softmax(z.astype(np.float64))
    expected, expected_grad = -log_s[np.arange(n), y].mean(), (np.exp(log_s) - np.eye(n_classes)[y]) / n
    assert labels.forward(z, y) == pytest.approx(expected, rel=rtol)
    assert one_hot.forward(z, np.eye(n_classes, dtype=dtype)[y]) == pytest.approx(expected, rel=rtol)
    for grad in (labels.backward(), one_hot.backward()):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=rtol / n)


def test_cross_entropy_computes_the_softmax_once_for_the_loss_and_its_gradient(monkeypatch, rng):
    z, y = rng.standard_normal((16, 10)), rng.integers(0, 10, 16)
    loss, calls = mn.CrossEntropy(), []
    exp = np.exp
    monkeypatch.setattr(np, "exp", lambda *args, **kwargs: calls.append(1) or exp(*args, **kwargs))
    loss.forward(z, y)
    first = loss.backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(loss.backward(), first)  # backward does not consume what forward kept


def test_cross_entropy_soft_targets_by_hand(rng):
    z, y = rng.standard_normal((5, 3)), rng.dirichlet(np.ones(3), 5)
    loss = mn.CrossEntropy()
    assert loss.forward(z, y) == pytest.approx(-(y * _log_softmax(z)).sum(axis=1).mean(), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), (np.exp(_log_softmax(z)) - y) / 5, rtol=1e-12, atol=1e-16)


def test_cross_entropy_labels_stay_int64_through_prepare_target():
    target = mn.CrossEntropy().prepare_target("y", [2.0, 0.0, 1.0], (3, 3), np.float32)
    assert target.dtype == np.int64 and target.shape == (3,) and target.tolist() == [2, 0, 1]
    column = mn.CrossEntropy().prepare_target("y", np.array([[1], [0]], np.uint8), (2, 4), np.float64)
    assert column.dtype == np.int64 and column.tolist() == [1, 0]
    probabilities = mn.CrossEntropy().prepare_target("y", [[0, 1], [1, 0]], (2, 2), np.float32)
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 2)


def test_cross_entropy_is_invariant_to_shifting_the_logits(rng):
    z, y = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    assert mn.CrossEntropy().forward(z + 500.0, y) == pytest.approx(mn.CrossEntropy().forward(z, y), rel=1e-12)


def test_cross_entropy_is_finite_for_huge_logits_without_warnings():
    z = np.array([[1e308, -1e308, 0.0], [-1e4, 1e4, 3.0], [800.0, -800.0, 0.0]])
    loss = mn.CrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward(z, [0, 0, 2])
        grad = loss.backward()
    assert value == pytest.approx((0.0 + 2e4 + 800.0) / 3, rel=1e-15)
    np.testing.assert_allclose(grad, [[0, 0, 0], [-1 / 3, 1 / 3, 0], [1 / 3, 0, -1 / 3]], atol=1e-300)


def test_cross_entropy_mean_of_losses_near_the_float_limit_does_not_overflow():
    # Each sample costs 1e308; their sum does not fit, their mean does.
    loss = mn.CrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward([[0.0, -1e308], [0.0, -1e308]], [1, 1])
    assert value == pytest.approx(1e308, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.5, -0.5], [0.5, -0.5]], rtol=1e-15)


def test_cross_entropy_beyond_the_float_is_infinite_without_warnings():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert mn.CrossEntropy().forward([[1e308, -1e308]], [1]) == math.inf
        assert mn.CrossEntropy().forward([[1e308, -1e308]], [[0.0, 1.0]]) == math.inf
        assert mn.CrossEntropy().forward([[1e308, -1e308]], [[1.0, 0.0]]) == 0.0  # 0 * -inf counts 0


def test_cross_entropy_on_probabilities_clamps_the_log_at_minus_100():
    loss = mn.CrossEntropy(from_logits=False)
    assert loss.forward([[0.0, 1.0], [0.5, 0.5]], [0, 1]) == pytest.approx((100.0 + math.log(2)) / 2, rel=1e-15)
    grad = loss.backward()
    assert np.isfinite(grad).all() and grad[0, 0] < -1e10 and grad[0, 1] == 0.0
    assert grad[1, 1] == pytest.approx(-1 / 0.5 / 2, rel=1e-15)


@pytest.mark.parametrize("dtype, pos_weight", [(np.float64, 1e307), (np.float32, 1e37)])
def test_bce_with_a_huge_pos_weight_stays_finite_where_the_target_is_0(dtype, pos_weight):
    # -100 w+ overflows; weighing only the positive terms keeps -inf * 0 (NaN) out of the sum.
    pred, target = np.array([[1e-30, 0.5]], dtype), np.array([[0.0, 1.0]], dtype)
    value = mn.BCE(pos_weight=pos_weight).forward(pred, target)
    assert value == pytest.approx(-pos_weight * np.log(0.5) / 2, rel=1e-6)


@pytest.mark.parametrize("bad", [1.0 + 1e-12, -1e-300, 7.0])
@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_on_probabilities_refuses_a_value_outside_0_1_and_keeps_the_last_forward(bad, pos_weight):
    # The range is checked only when a term comes out NaN: every value outside [0, 1] must make one.
    loss = mn.BCE(pos_weight=pos_weight)
    good = loss.forward([[0.25, 0.5]], [[1.0, 0.0]], sample_weight=[0.0])  # a zero weight hides nothing
    grad = loss.backward()
    with pytest.raises(ValueError, match=r"BCE\(from_logits=False\) expects probabilities in \[0, 1\]"):
        loss.forward([[0.25, bad]], [[1.0, 0.0]], sample_weight=[0.0])
    np.testing.assert_array_equal(loss.backward(), grad)
    assert good == 0.0 and not np.signbit(good)


def test_cross_entropy_on_probabilities_equals_the_logits_form_after_a_softmax(rng):
    z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    softmax, probs, logits = mn.Softmax(), mn.CrossEntropy(from_logits=False), mn.CrossEntropy()
    assert probs.forward(softmax.forward(z), y) == pytest.approx(logits.forward(z, y), rel=1e-13)
    np.testing.assert_allclose(softmax.backward(probs.backward()), logits.backward(), rtol=1e-10, atol=1e-16)


def test_cross_entropy_on_probabilities_refuses_scores():
    with pytest.raises(ValueError, match=r"from_logits=False\) expects probabilities.*from_logits=True"):
        mn.CrossEntropy(from_logits=False).forward([[2.0, -1.0]], [0])


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 3, 1], r"target must be class indices < n_classes=3, got 3 at index 1"),
        ([0, -1, 1], r"target must be class indices >= 0, got -1 at index 1"),
        ([0.0, 1.5, 1.0], r"target must be whole numbers \(class indices\), got 1.5 at index 1"),
        ([0.0, np.nan, 1.0], r"target must be whole numbers \(class indices\), got nan at index 1"),
        ([0.0, 1.0, 1e20], r"got 1e\+20 at index 2"),
        ([0, 1], "must have 3 class labels, one per prediction, got 2"),
    ],
)
def test_cross_entropy_refuses_bad_labels_naming_the_value(labels, message):
    with pytest.raises(ValueError, match=message):
        mn.CrossEntropy().forward(np.zeros((3, 3)), labels)


@pytest.mark.parametrize(
    "target, message",
    [
        (
            np.zeros((3, 4)),
            r"class labels of shape \(3,\) or class probabilities of shape \(3, 3\), got shape \(3, 4\)",
        ),
        (np.zeros((3, 3, 1)), r"got shape \(3, 3, 1\)"),
        ([[0.0, 1.2, 0.0]] * 3, r"must lie in \[0, 1\], got 1.2 at index \(0, 1\)"),
        ([[0.5, 0.5, -0.1]] * 3, r"got -0.1 at index \(0, 2\)"),
        ([[0.5, 0.5, np.nan]] * 3, "must be finite"),
        (np.array(["a", "b", "c"]), "must hold numbers"),
    ],
)
def test_cross_entropy_refuses_targets_of_the_wrong_shape_or_range(target, message):
    with pytest.raises((ValueError, TypeError), match=message):
        mn.CrossEntropy().forward(np.zeros((3, 3)), target)


def test_cross_entropy_refuses_a_single_output_and_points_to_bce():
    with pytest.raises(ValueError, match=r"at least 2.*BCE\(from_logits=True\)"):
        mn.CrossEntropy().forward(np.zeros((3, 1)), [0, 0, 0])


def test_cross_entropy_float32_stays_float32(rng):
    for target in (rng.integers(0, 3, 4), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]):
        loss = mn.CrossEntropy()
        value = loss.forward(rng.standard_normal((4, 3)).astype(np.float32), target)
        assert type(value) is float and loss.backward().dtype == np.float32


def test_cross_entropy_is_a_mean_and_backward_needs_a_forward(rng):
    z, y = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    assert mn.CrossEntropy().forward(np.vstack([z, z]), np.concatenate([y, y])) == pytest.approx(
        mn.CrossEntropy().forward(z, y), rel=1e-14
    )
    with pytest.raises(RuntimeError, match="before forward"):
        mn.CrossEntropy().backward()


def test_cross_entropy_repr_and_argument_check():
    assert [repr(mn.CrossEntropy()), repr(mn.CrossEntropy(from_logits=False))] == [
        "CrossEntropy()",
        "CrossEntropy(from_logits=False)",
    ]
    with pytest.raises(TypeError, match="from_logits"):
        mn.CrossEntropy(from_logits=1)


# -- batches of more axes ---------------------------------------------------------------


def test_mse_and_bce_take_any_shape_but_the_same_shape():
    gen = np.random.default_rng(0)
    pred, target = gen.uniform(0.1, 0.9, (3, 2, 4, 4)), gen.uniform(0, 1, (3, 2, 4, 4))
    for loss in (mn.MSE(), mn.BCE(), mn.BCE(from_logits=True)):
        assert mn.gradcheck(loss, pred, target=target)
        with pytest.raises(
            ValueError, match=r"target must have shape \(3, 2, 4, 4\) to match the prediction, got \(3, 2, 4\)"
        ):
            loss.forward(pred, target[..., 0])
    # A (n,) target is reshaped for a (n, 1) output only, never broadcast against more axes.
    assert mn.MSE().forward(np.ones((4, 1)), np.zeros(4)) == 1.0
    with pytest.raises(ValueError, match="must have shape"):
        mn.MSE().forward(np.ones((4, 1, 2)), np.zeros(4))


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_takes_a_class_per_position_as_pytorch(from_logits, soft):
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(1)
    scores = 2 * gen.standard_normal((3, 4, 2, 5))
    pred = scores if from_logits else np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    labels = gen.integers(0, 4, (3, 2, 5))
    target = np.moveaxis(np.eye(4)[labels], -1, 1) * 0.8 + 0.05 if soft else labels
    loss = mn.CrossEntropy(from_logits=from_logits)
    value = loss.forward(pred, target)
    grad = loss.backward()
    zt = torch.from_numpy(scores).requires_grad_()
    tt = torch.from_numpy(target) if soft else torch.from_numpy(labels)
    expected = torch.nn.functional.cross_entropy(zt, tt)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    if from_logits:
        np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert mn.gradcheck(loss, pred, target=target)


def test_cross_entropy_names_the_labels_shape_it_expects_for_more_axes():
    with pytest.raises(ValueError, match=r"y must have class labels of shape \(3, 2, 5\), got shape \(3, 2, 4\)"):
        mn.CrossEntropy().prepare_target("y", np.zeros((3, 2, 4), int), (3, 4, 2, 5), np.float64)
    with pytest.raises(ValueError, match=r"class labels of shape \(3, 2, 5\) or class probabilities of shape"):
        mn.CrossEntropy().prepare_target("y", np.zeros((3, 4, 2, 1)), (3, 4, 2, 5), np.float64)
