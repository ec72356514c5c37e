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
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        resolve_metrics(["f2"], mn.MSE())
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


# -- metric objects against scikit-learn ---------------------------------------------------


@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def in_batches(metric, y_true, y_pred, size=7):
    """The metric accumulated over batches of ``size`` rows, as fit feeds it."""
    metric.reset_state()
    for start in range(0, len(y_pred), size):
        metric.update_state(y_true[start : start + size], y_pred[start : start + size])
    return metric.result()


COUNTS = [(mn.metrics.Precision, "precision_score"), (mn.metrics.Recall, "recall_score"), (mn.metrics.F1, "f1_score")]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("cls, sk_name", COUNTS)
@pytest.mark.parametrize("average", ["binary", "macro", "micro"])
def test_precision_recall_f1_of_one_output_equal_sklearn(skm, seed, cls, sk_name, average):
    gen = np.random.default_rng(seed)
    y, p = gen.integers(0, 2, 50), gen.random((50, 1))
    expected = getattr(skm, sk_name)(y, p[:, 0] > 0.5, average=average)
    assert cls(average=average)(y, p) == pytest.approx(expected, abs=1e-15)
    assert in_batches(cls(average=average), y.reshape(-1, 1).astype(float), p) == pytest.approx(expected, abs=1e-15)
    # Logits: the threshold is 0 once fit knows the loss takes them.
    logit = cls(average=average).for_loss(mn.BCE(from_logits=True))
    assert logit(y, np.log(p / (1 - p))) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("cls, sk_name", COUNTS)
@pytest.mark.parametrize("average", ["macro", "micro"])
def test_precision_recall_f1_of_classes_equal_sklearn(skm, seed, cls, sk_name, average):
    gen = np.random.default_rng(seed)
    y, z = gen.integers(0, 4, 60), gen.standard_normal((60, 4))
    expected = getattr(skm, sk_name)(y, z.argmax(axis=1), average=average)
    assert in_batches(cls(average=average), y, z) == pytest.approx(expected, abs=1e-15)
    assert cls(average=average)(np.eye(4)[y], softmax(z)) == pytest.approx(
        expected, abs=1e-15
    )  # one-hot, probabilities


def test_precision_recall_f1_default_to_binary_for_two_classes_and_macro_for_more(skm):
    gen = np.random.default_rng(0)
    y2, y3, z = gen.integers(0, 2, 40), gen.integers(0, 3, 40), gen.standard_normal((40, 3))
    assert mn.metrics.F1()(y2, z[:, :2]) == pytest.approx(skm.f1_score(y2, z[:, :2].argmax(axis=1)))
    assert mn.metrics.F1()(y3, z) == pytest.approx(skm.f1_score(y3, z.argmax(axis=1), average="macro"))


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn warns where a value is undefined
@pytest.mark.parametrize(
    "y, predicted",
    [
        ([0, 0, 0, 0], [0, 0, 0, 0]),  # one class present, nothing predicted positive
        ([1, 1, 0, 0], [0, 0, 0, 0]),  # all-zero predictions
        ([0, 0, 0, 0], [1, 0, 1, 0]),  # no positive target
        ([1, 1, 1, 1], [1, 1, 1, 1]),  # one class present, all right
    ],
)
@pytest.mark.parametrize("cls, sk_name", COUNTS)
@pytest.mark.parametrize("average", ["binary", "macro", "micro"])
def test_undefined_precision_recall_f1_are_0_as_sklearn(skm, y, predicted, cls, sk_name, average):
    expected = getattr(skm, sk_name)(y, predicted, average=average)
    assert cls(average=average)(y, np.array(predicted, float).reshape(-1, 1)) == expected


def test_macro_average_leaves_out_classes_neither_in_the_targets_nor_predicted(skm):
    y, z = np.array([0, 1, 1, 0]), np.array([[2.0, 0, 0, 0], [0, 3, 0, 0], [1, 0, 0, 0], [0, 0, 4, 0]])
    assert mn.metrics.F1(average="macro")(y, z) == pytest.approx(skm.f1_score(y, z.argmax(axis=1), average="macro"))


@pytest.mark.parametrize("seed", range(3))
def test_binary_auc_equals_sklearn_for_probabilities_and_logits(skm, seed):
    gen = np.random.default_rng(seed)
    y, p = gen.integers(0, 2, 80), gen.random((80, 1))
    expected = skm.roc_auc_score(y, p[:, 0])
    assert in_batches(mn.metrics.AUC(), y.astype(float), p) == pytest.approx(expected, rel=1e-12)
    assert mn.metrics.AUC()(y, np.log(p / (1 - p))) == pytest.approx(expected, rel=1e-12)
    assert mn.metrics.AUC()(y, softmax(np.c_[np.zeros(80), np.log(p / (1 - p))])) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_one_vs_rest_auc_equals_sklearn(skm, seed):
    gen = np.random.default_rng(seed)
    y, z = gen.integers(0, 4, 90), gen.standard_normal((90, 4))
    expected = skm.roc_auc_score(y, softmax(z), multi_class="ovr", average="macro")
    assert in_batches(mn.metrics.AUC(from_logits=True), y, z) == pytest.approx(expected, rel=1e-12)
    assert mn.metrics.AUC().for_loss(mn.CrossEntropy())(y, z) == pytest.approx(expected, rel=1e-12)
    assert mn.metrics.AUC()(np.eye(4)[y], softmax(z)) == pytest.approx(expected, rel=1e-12)


def test_auc_counts_ties_as_one_half_as_sklearn(skm):
    gen = np.random.default_rng(0)
    y, scores = gen.integers(0, 2, 200), gen.integers(0, 4, 200) / 4.0  # four distinct scores: many ties
    assert mn.metrics.AUC()(y, scores.reshape(-1, 1)) == pytest.approx(skm.roc_auc_score(y, scores), rel=1e-12)
    assert mn.metrics.AUC()([0, 1, 0, 1], np.full((4, 1), 0.3)) == 0.5


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn warns where a value is undefined
def test_auc_of_one_class_is_nan_as_sklearn(skm):
    assert np.isnan(skm.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3]))
    assert np.isnan(mn.metrics.AUC()([1, 1, 1], [[0.1], [0.2], [0.3]]))
    # Several classes: a class absent from the targets is left out (scikit-learn refuses these targets).
    z = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([0, 1, 0, 1, 1, 0])
    expected = np.mean([skm.roc_auc_score(y == c, softmax(z)[:, c]) for c in (0, 1)])
    assert mn.metrics.AUC(from_logits=True)(y, z) == pytest.approx(expected, rel=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn warns that k >= C scores 1
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", range(2))
def test_top_k_accuracy_equals_sklearn_ties_included(skm, k, seed):
    gen = np.random.default_rng(seed)
    y = gen.integers(0, 5, 70)
    for scores in (gen.standard_normal((70, 5)), gen.integers(0, 3, (70, 5)).astype(float)):  # the second has ties
        expected = skm.top_k_accuracy_score(y, scores, k=k, labels=range(5))
        assert in_batches(mn.metrics.TopKAccuracy(k=k), y, scores) == pytest.approx(expected, abs=1e-15)


REGRESSION = [
    (mn.metrics.MAE, "mean_absolute_error"),
    (mn.metrics.RMSE, "root_mean_squared_error"),
    (mn.metrics.R2, "r2_score"),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("cls, sk_name", REGRESSION)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regression_metrics_equal_sklearn(skm, seed, cls, sk_name, n_outputs):
    gen = np.random.default_rng(seed)
    y = gen.standard_normal((45, n_outputs)) * 3 + 100  # an offset mean: R2's sums must not cancel
    p = y + gen.standard_normal((45, n_outputs))
    expected = getattr(skm, sk_name)(y, p)
    assert in_batches(cls(), y, p) == pytest.approx(expected, rel=1e-10)
    if n_outputs == 1:
        assert cls()(y[:, 0], p) == pytest.approx(expected, rel=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn warns where a value is undefined
@pytest.mark.parametrize(
    "y, p", [([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]), ([2.0, 2.0, 2.0], [2.0, 3.0, 2.0]), ([1.0], [2.0])]
)
def test_r2_of_a_constant_target_or_one_sample_as_sklearn(skm, y, p):
    expected = skm.r2_score(y, p)
    result = mn.metrics.R2()(y, np.reshape(p, (-1, 1)))
    assert result == expected or (np.isnan(expected) and np.isnan(result))


def test_calling_a_metric_leaves_its_state_alone():
    metric = mn.metrics.F1()
    metric.update_state(np.array([1, 0]), np.array([[0.9], [0.1]]))
    assert metric([1, 1], [[0.1], [0.1]]) == 0.0
    assert metric.result() == 1.0


def test_metrics_by_name_and_their_repr():
    resolved = resolve_metrics(["precision", "recall", "f1", "auc", "top_k_accuracy", "mae", "rmse", "r2"], mn.MSE())
    assert list(resolved) == ["precision", "recall", "f1", "auc", "top_k_accuracy", "mae", "rmse", "r2"]
    assert repr(mn.metrics.F1(average="macro", name="f1_macro")) == "F1(average='macro', name='f1_macro')"
    assert repr(mn.metrics.TopKAccuracy(k=3)) == "TopKAccuracy(k=3)"


def test_resolve_metrics_copies_a_metric_object_per_call():
    mine = mn.metrics.AUC()
    first, second = resolve_metrics([mine], mn.BCE())["auc"], resolve_metrics([mine], mn.BCE())["auc"]
    assert first is not mine and second is not first and mine.from_logits is None


@row("metric-bad-config")
@pytest.mark.parametrize(
    "make, y_true, y_pred, error, match",
    [
        (lambda: mn.metrics.F1(average="weighted"), None, None, ValueError, "average must be one of 'binary'"),
        (
            lambda: mn.metrics.F1(average="binary"),
            [0, 2],
            [[0.1, 0.2, 0.7], [1, 0, 0]],
            ValueError,
            "needs one output or two classes, got 3",
        ),
        (lambda: mn.metrics.TopKAccuracy(k=0), None, None, ValueError, "k must be >= 1, got 0"),
        (lambda: mn.metrics.TopKAccuracy(), [1, 0], [[0.9], [0.2]], ValueError, "C >= 2 classes, got one output"),
        (lambda: mn.metrics.AUC(), [0.5, 1.0], [[0.9], [0.2]], ValueError, "0/1 targets, got 0.5 at index 0"),
        (
            lambda: mn.metrics.MAE(),
            [0, 1],
            [[0.1, 0.9], [0.8, 0.2]],
            ValueError,
            "mae expects y_true of the shape of y_pred",
        ),
        (lambda: mn.metrics.AUC(from_logits="yes"), None, None, TypeError, "from_logits must be True, False or None"),
    ],
)
def test_metric_objects_refuse_what_they_cannot_compute(make, y_true, y_pred, error, match):
    with pytest.raises(error, match=match):
        metric = make()
        metric(y_true, y_pred)


@row("metric-name-taken")
def test_two_metric_objects_with_one_name_are_refused():
    with pytest.raises(ValueError, match="two metrics are named 'f1'; give each its own name"):
        resolve_metrics([mn.metrics.F1(average="macro"), mn.metrics.F1(average="micro")], mn.CrossEntropy())


@row("metric-bad-config")
def test_fit_refuses_a_metric_that_cannot_compute_before_any_update(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="metric 'top_k_accuracy' raised ValueError: .* got one output"):
        opt = mn.SGD(model.parameters(), lr=0.1)
        mn.fit(model, mn.BCE(from_logits=True), opt, X, y, epochs=1, metrics=["top_k_accuracy"], progress=False)
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))
