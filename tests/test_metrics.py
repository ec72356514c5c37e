import numpy as np
import pytest

import minnet as mn
from minnet.metrics import accuracy, resolve_metrics


def test_accuracy_single_output_accepts_flat_or_column_targets():
    pred = np.array([[0.7], [0.2], [0.6]])
    assert accuracy([1, 0, 0], pred) == pytest.approx(2 / 3)
    assert accuracy(np.array([[1], [0], [0]]), pred) == pytest.approx(2 / 3)


def test_accuracy_never_broadcasts_a_flat_target_against_a_column():
    # (2,) == (2, 1) would broadcast to (2, 2) and score 0.5 here.
    assert accuracy(np.array([1, 0]), np.array([[0.7], [0.2]])) == 1.0


def test_accuracy_threshold_for_logits():
    assert accuracy([1, 0], [[0.1], [-0.1]], threshold=0.0) == 1.0
    assert accuracy([1, 0], [[0.1], [-0.1]], threshold=0.5) == 0.5


def test_accuracy_several_outputs_one_hot_or_indices():
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(np.array([[0, 1], [1, 0], [1, 0]]), pred) == pytest.approx(2 / 3)
    assert accuracy(np.array([1, 0, 0]), pred) == pytest.approx(2 / 3)


@pytest.mark.parametrize("y_true, y_pred", [
    ([1, 0, 1], [[0.5], [0.5]]),               # lengths differ
    ([[1, 0, 0], [0, 1, 0]], [[0.1, 0.9], [0.8, 0.2]]),  # one-hot width differs
    ([[1, 0], [0, 1]], [[0.4], [0.6]]),        # two columns against one output
])
def test_accuracy_refuses_shapes_that_do_not_pair(y_true, y_pred):
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(y_true, y_pred)


def test_resolve_metrics_uses_logit_threshold_with_from_logits():
    metric = resolve_metrics(["accuracy"], mn.BCE(from_logits=True))["accuracy"]
    assert metric(np.array([[1.0]]), np.array([[0.2]])) == 1.0
    metric = resolve_metrics(["accuracy"], mn.BCE())["accuracy"]
    assert metric(np.array([[1.0]]), np.array([[0.2]])) == 0.0


def test_resolve_metrics_accepts_none_and_a_single_callable():
    def recall(t, p):
        return 0.0
    assert resolve_metrics(None, mn.MSE()) == {}
    assert list(resolve_metrics(recall, mn.MSE())) == ["recall"]


@pytest.mark.parametrize("name", ["loss", "lr", "val_accuracy"])
def test_resolve_metrics_refuses_names_the_history_uses(name):
    def metric(t, p):
        return 0.0
    metric.__name__ = name
    with pytest.raises(ValueError, match=repr(name)):
        resolve_metrics([metric], mn.MSE())


def test_resolve_metrics_refuses_two_metrics_with_one_name():
    with pytest.raises(ValueError, match="two metrics are named '<lambda>'"):
        resolve_metrics([lambda t, p: 0.0, lambda t, p: 1.0], mn.MSE())


def test_resolve_metrics_refuses_unknown_names_and_non_iterables():
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        resolve_metrics(["f1"], mn.MSE())
    with pytest.raises(TypeError, match="metrics must be a list"):
        resolve_metrics(3, mn.MSE())
