import numpy as np
import pytest
from rows import row

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


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([1, 0, 1], [[0.5], [0.5]]),  # lengths differ
        ([[1, 0, 0], [0, 1, 0]], [[0.1, 0.9], [0.8, 0.2]]),  # one-hot width differs
        ([[1, 0], [0, 1]], [[0.4], [0.6]]),  # two columns against one output
    ],
)
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


# -- accuracy: 0/1 targets, class labels ------------------------------------------------


@pytest.mark.parametrize("bad", [0.7, 2.0, -1.0])
def test_accuracy_of_one_output_refuses_targets_that_are_not_0_1(bad):
    with pytest.raises(ValueError, match=rf"0/1 targets, got {bad!r} at index 1"):
        accuracy([1.0, bad, 0.0], [[0.9], [0.2], [0.1]])


def test_accuracy_of_one_output_takes_booleans():
    assert accuracy(np.array([True, False]), [[0.9], [0.2]]) == 1.0


def test_accuracy_with_labels_against_several_outputs_checks_the_labels():
    pred = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert accuracy(np.array([1, 2]), pred) == 0.5
    assert accuracy(np.array([[1], [0]]), pred) == 1.0  # a column of labels
    with pytest.raises(ValueError, match=r"y_true must be class indices < n_classes=3, got 3 at index 1"):
        accuracy(np.array([1, 3]), pred)
    with pytest.raises(ValueError, match=r"whole numbers \(class indices\), got 0.5"):
        accuracy(np.array([0.5, 1.0]), pred)


def test_accuracy_is_argmax_for_logits_and_probabilities_alike():
    logits = np.array([[-3.0, 2.0, -1.0], [5.0, -2.0, 0.0]])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert accuracy([1, 2], logits) == accuracy([1, 2], probs) == 0.5


def test_resolve_metrics_accuracy_with_cross_entropy_uses_argmax_on_labels():
    metric = resolve_metrics(["accuracy"], mn.CrossEntropy())["accuracy"]
    assert metric(np.array([2, 0]), np.array([[-1.0, 0.0, 3.0], [0.5, 0.6, -2.0]])) == 0.5


# -- confusion_matrix -------------------------------------------------------------------


def test_confusion_matrix_by_hand():
    cm = mn.metrics.confusion_matrix([0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 0, 2])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[2, 0, 0], [0, 1, 1], [0, 1, 2]])


def test_confusion_matrix_takes_probabilities_logits_and_one_hot():
    y = np.array([0, 1, 2, 1])
    logits = np.array([[2.0, 0, 0], [0, 1, 3], [0, 0, 1], [0, 5, 0]])
    expected = [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(y, logits), expected)
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(np.eye(3)[y], logits / 10), expected)
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(y.reshape(-1, 1), logits.argmax(axis=1)), expected)


def test_confusion_matrix_of_one_score_thresholds_it():
    y, scores = [1, 0, 1, 0], np.array([[0.9], [0.6], [0.4], [0.1]])
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(y, scores), [[1, 1], [1, 1]])
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(y, scores - 0.5, threshold=0.0), [[1, 1], [1, 1]])
    np.testing.assert_array_equal(mn.metrics.confusion_matrix(y, scores, threshold=0.05), [[0, 2], [0, 2]])


def test_confusion_matrix_diagonal_is_the_accuracy(rng):
    y, pred = rng.integers(0, 5, 200), rng.standard_normal((200, 5))
    cm = mn.metrics.confusion_matrix(y, pred)
    assert cm.sum() == 200 and np.trace(cm) / 200 == accuracy(y, pred)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=5))


def test_confusion_matrix_n_classes_adds_empty_rows_and_is_checked():
    cm = mn.metrics.confusion_matrix([0, 1], [1, 1], n_classes=4)
    assert cm.shape == (4, 4) and cm.sum() == 2 and cm[0, 1] == 1 and cm[1, 1] == 1
    with pytest.raises(ValueError, match=r"y_true must be class indices < n_classes=2, got 2 at index 1"):
        mn.metrics.confusion_matrix([0, 2], [0, 1], n_classes=2)
    with pytest.raises(ValueError, match="n_classes is 2, but the arrays have 3 classes"):
        mn.metrics.confusion_matrix([0, 1], np.zeros((2, 3)), n_classes=2)


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1, 1], [0, 1], "same number of samples, got 3 and 2"),
        ([0, -1], [0, 1], r"y_true must be class indices >= 0, got -1 at index 1"),
        ([0, 1], [0.5, 1], r"y_pred must be whole numbers \(class indices\), got 0.5 at index 0"),
        (np.zeros((2, 3)), np.zeros((2, 4)), "different numbers of classes: 3 and 4"),
        (np.zeros((2, 2, 2)), [0, 1], r"y_true must be class indices of shape \(n_samples,\)"),
    ],
)
def test_confusion_matrix_refuses_what_does_not_pair(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        mn.metrics.confusion_matrix(y_true, y_pred)


# -- a metric gets read-only views: it cannot write into the caller's arrays ----------


def zero_the_targets(y_true, y_pred):
    y_true[...] = 0
    return 0.0


def clip_the_predictions(y_true, y_pred):
    np.clip(y_pred, 0.4, 0.6, out=y_pred)
    return 0.0


def metric_world():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((12, 3))
    y = (X[:, 0] > 0).astype(np.float64)  # (n,): the prepared (n, 1) target is a view of it
    model = mn.Sequential(mn.Dense(3, 1, seed=0), mn.Sigmoid())
    return model, X, y


@row("metric-writes-y")
@pytest.mark.parametrize("metric", [zero_the_targets, clip_the_predictions])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_a_metric_writing_into_its_arrays_cannot_change_the_callers_y_in_fit(metric, batch_size):
    model, X, y = metric_world()
    y_before, weights = y.copy(), [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=f"metric '{metric.__name__}' raised ValueError: .*read-only"):
        mn.fit(
            model,
            mn.BCE(),
            mn.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=1,
            batch_size=batch_size,
            shuffle=False,
            metrics=[metric],
            progress=False,
        )
    np.testing.assert_array_equal(y, y_before)
    assert all(np.array_equal(p.value, w) for p, w in zip(model.parameters(), weights))  # found before any update


@pytest.mark.parametrize("metric", [zero_the_targets, clip_the_predictions])
def test_a_metric_writing_into_its_arrays_cannot_change_the_callers_y_in_evaluate(metric):
    model, X, y = metric_world()
    y_before = y.copy()
    with pytest.raises(ValueError, match=f"metric '{metric.__name__}' raised ValueError: .*read-only"):
        mn.evaluate(model, mn.BCE(), X, y, metrics=[metric])
    np.testing.assert_array_equal(y, y_before)


def test_a_metric_writing_only_on_validation_data_cannot_change_y_val():
    model, X, y = metric_world()
    y_val = y.copy()

    def zero_big_batches(y_true, y_pred):
        if len(y_true) == len(y_val):  # never on fit's check of the first 8 rows or its batches of 4
            y_true[...] = 0
        return 0.0

    with pytest.raises(mn.TrainingError, match="read-only"):
        mn.fit(
            model,
            mn.BCE(),
            mn.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=1,
            batch_size=4,
            validation_data=(X, y_val),
            metrics=[zero_big_batches],
            progress=False,
        )
    np.testing.assert_array_equal(y_val, y)


def test_a_metric_that_copies_its_arrays_may_change_the_copies():
    model, X, y = metric_world()

    def shifted_mean(y_true, y_pred):
        y_true = np.array(y_true)
        y_true += 1.0
        return float(y_true.mean())

    history = mn.fit(
        model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), X, y, epochs=1, metrics=[shifted_mean], progress=False
    )
    assert history["shifted_mean"] == [pytest.approx(1 + y.mean())]


def test_accuracy_of_a_class_per_position():
    scores = np.zeros((2, 3, 2, 2))
    scores[:, 1] = 1.0  # class 1 everywhere
    labels = np.array([[[1, 1], [1, 0]], [[2, 1], [1, 1]]])
    assert accuracy(labels, scores) == 6 / 8
    assert accuracy(np.moveaxis(np.eye(3)[labels], -1, 1), scores) == 6 / 8
    with pytest.raises(ValueError, match=r"expects y_true of class labels of shape \(2, 2, 2\) or probabilities"):
        accuracy(labels[:, 0], scores)
