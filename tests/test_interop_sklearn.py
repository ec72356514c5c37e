"""minnet.sklearn: scikit-learn's own estimator checks, Pipeline, cross_val_score, GridSearchCV, partial_fit.

The checks run on small networks (16 units, 30 epochs) so that the whole set
takes about a second; they include fits on well separated blobs that must
reach scikit-learn's accuracy (0.83) and R^2 (0.5) thresholds.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
from rows import row

import minnet as mn

sklearn = pytest.importorskip("sklearn", minversion="1.6")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from minnet.sklearn import MinnetClassifier, MinnetRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(16,), epochs=30, random_state=0)


# Mini-batch SGD on shuffled rows, and a divisor of the batch size (Keras'), cannot make a weight of k
# train exactly as k copies of the row (tests/test_training_weights.py says what holds instead).
NOT_FREQUENCIES = {
    "check_sample_weight_equivalence_on_dense_data": "sample weights scale loss terms, they are not row counts"
}


@parametrize_with_checks(
    [MinnetClassifier(**SMALL), MinnetRegressor(**SMALL)], expected_failed_checks=lambda _: NOT_FREQUENCIES
)
def test_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def diabetes():
    X, y = mn.datasets.load_diabetes()
    return X, y.astype(int)


def test_a_pipeline_with_a_scaler_in_cross_val_score_on_the_diabetes_data(diabetes):
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), MinnetClassifier((16,), epochs=20, lr=0.01, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=5)
    # Always answering "no diabetes" scores 0.65; the article's network about 0.75-0.78.
    assert scores.shape == (5,) and 0.74 < scores.mean() < 0.85


def test_grid_search_on_the_diabetes_data_picks_and_refits(diabetes):
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), MinnetClassifier(epochs=10, random_state=0))
    grid = {"minnetclassifier__hidden_layer_sizes": [(4,), (16, 8)], "minnetclassifier__lr": [1e-4, 0.01]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    # 10 epochs at lr 1e-4 barely move the weights: the search must prefer lr 0.01.
    assert search.best_params_["minnetclassifier__lr"] == 0.01
    assert search.best_score_ > 0.72
    assert search.cv_results_["mean_test_score"].min() < search.best_score_
    fitted = search.best_estimator_[-1]
    assert fitted.model_[0].n_out == search.best_params_["minnetclassifier__hidden_layer_sizes"][0]
    assert search.predict(X[:5]).shape == (5,)


def test_two_classes_train_one_logit_on_binary_cross_entropy_and_more_one_output_each():
    X, y = mn.datasets.load_digits()
    binary = MinnetClassifier((8,), epochs=2, random_state=0).fit(X[:200], y[:200] % 2)
    assert binary.model_[-1].n_out == 1 and isinstance(binary._loss(), mn.BCE) and binary._loss().from_logits
    several = MinnetClassifier((8,), epochs=2, random_state=0).fit(X[:200], y[:200])
    assert several.model_[-1].n_out == 10 and isinstance(several._loss(), mn.CrossEntropy)
    for clf, n_classes in ((binary, 2), (several, 10)):
        proba = clf.predict_proba(X[200:210])
        assert proba.shape == (10, n_classes)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(clf.predict(X[200:210]), clf.classes_[proba.argmax(axis=1)])


def test_digits_are_learned_with_string_labels():
    X, y = mn.datasets.load_digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    X_train, X_test, y_train, y_test = train_test_split(X / 16, names[y], test_size=0.25, random_state=0)
    clf = MinnetClassifier((32,), epochs=15, lr=0.05, random_state=0).fit(X_train, y_train)
    assert list(clf.classes_) == sorted(names)
    assert clf.score(X_test, y_test) > 0.92


def test_the_regressor_fits_several_targets_in_a_pipeline():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 5.0, (300, 4))
    Y = np.column_stack([X[:, 0] - 2 * X[:, 1], 10 * np.sin(X[:, 2] / 4)])  # one linear target, one not
    reg = make_pipeline(
        StandardScaler(), MinnetRegressor((32,), activation="tanh", epochs=60, lr=0.01, random_state=0)
    ).fit(X[:200], Y[:200])
    assert reg.predict(X[200:]).shape == (100, 2)
    assert reg.score(X[200:], Y[200:]) > 0.98  # a linear model: 0.73 (0.46 on the sine)
    assert reg[-1].model_[-1].n_out == 2 and reg[-1].n_outputs_ == 2


def test_an_int_random_state_makes_fit_reproducible_bit_for_bit(diabetes):
    X, y = diabetes
    fit = lambda seed: MinnetClassifier((8,), epochs=3, random_state=seed).fit(X, y).predict_proba(X)  # noqa: E731
    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))


def test_partial_fit_trains_one_epoch_per_call_and_keeps_the_classes(diabetes):
    X, y = diabetes
    X = StandardScaler().fit_transform(X)
    clf = MinnetClassifier((8,), lr=0.01, random_state=0)
    with pytest.raises(ValueError, match="first call to partial_fit needs classes="):
        clf.partial_fit(X, y)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1])
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 5
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    with pytest.raises(ValueError, match=r"labels \[2\] that are not among the classes \[0, 1\]"):
        clf.partial_fit(X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="differs from the first call's"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    reg = MinnetRegressor((8,), random_state=0).partial_fit(X, y * 1.0)
    with pytest.raises(ValueError, match="2 target column"):
        reg.partial_fit(X, np.column_stack([y, y]))


def test_fit_starts_afresh_while_partial_fit_continues(diabetes):
    X, y = diabetes
    clf = MinnetClassifier((8,), epochs=3, random_state=0).fit(X, y)
    weights = clf.model_[0].W.value.copy()
    clf.partial_fit(X, y)
    assert not np.array_equal(clf.model_[0].W.value, weights) and len(clf.loss_curve_) == 4
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 3


def test_an_optimizer_may_be_a_minnet_optimizer_class():
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    clf = MinnetClassifier((), optimizer=mn.SGD, lr=0.5, momentum=0.5, epochs=50, random_state=0).fit(X, y)
    assert type(clf.optimizer_) is mn.SGD and clf.optimizer_.momentum == 0.5
    assert clf.model_.layers == [clf.model_[0]]  # no hidden layer: logistic regression
    assert clf.score(X, y) == 1.0


@pytest.mark.parametrize(
    "setting, error, message",
    [
        (dict(activation="swish"), ValueError, "activation must be one of"),
        (dict(hidden_layer_sizes=(8, 0)), ValueError, r"hidden_layer_sizes\[1\] must be >= 1"),
        (dict(hidden_layer_sizes="8"), TypeError, "tuple of layer widths"),
        (dict(optimizer="lbfgs"), ValueError, r"optimizer must be one of \['sgd'"),
        (dict(lr=0.0), ValueError, "lr must be > 0.0"),
        (dict(momentum=1.0), ValueError, "momentum must be < 1.0"),
        (dict(epochs=0), ValueError, "epochs must be >= 1"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    ],
)
def test_settings_are_checked_when_fitting(setting, error, message):
    clf = MinnetClassifier(**setting)  # scikit-learn's convention: __init__ only stores them
    assert clone(clf).get_params()[next(iter(setting))] == next(iter(setting.values()))
    with pytest.raises(error, match=message):
        clf.fit([[0.0], [1.0]], [0, 1])
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "classes_")  # refused before any change


def test_the_fitted_network_exports_like_any_minnet_model(diabetes, tmp_path):
    X, y = diabetes
    clf = MinnetClassifier((8,), epochs=2, random_state=0).fit(X, y)
    mn.save(clf.model_, tmp_path / "clf.npz")
    np.testing.assert_array_equal(mn.load(tmp_path / "clf.npz").predict(X), clf.model_.predict(X))


def test_the_core_of_minnet_does_not_import_scikit_learn():
    code = "import sys, minnet; minnet.fit; minnet.datasets.load_diabetes(); print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_without_scikit_learn_the_module_says_what_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "minnet.sklearn")
    monkeypatch.setitem(sys.modules, "sklearn.base", None)  # what an absent package looks like to import
    with pytest.raises(ModuleNotFoundError, match=r'scikit-learn 1.6 or newer: pip install "minnet\[sklearn\]"'):
        importlib.import_module("minnet.sklearn")


def test_optimizers_are_offered_by_name_as_minnet_has_them(monkeypatch):
    class Adam(mn.SGD):  # stands in for minnet.optim.Adam where this minnet has none yet
        def __init__(self, params, lr, weight_decay=0.0):
            super().__init__(params, lr=lr, weight_decay=weight_decay)

    monkeypatch.setattr(mn.optim, "Adam", Adam, raising=False)
    clf = MinnetClassifier((4,), optimizer="Adam", epochs=1, random_state=0).fit([[0.0], [1.0]], [0, 1])
    assert type(clf.optimizer_) is Adam
    monkeypatch.delattr(mn.optim, "Adam")
    with pytest.raises(ValueError, match=r"optimizer must be one of \['sgd'.*got 'Adam'"):
        clf.fit([[0.0], [1.0]], [0, 1])


@pytest.mark.parametrize("Estimator", [MinnetClassifier, MinnetRegressor])
def test_a_sample_weight_of_two_everywhere_trains_as_twice_the_rate(diabetes, Estimator):
    # With plain SGD, doubling every weight doubles the gradient: the update of lr 2 * 0.01.
    X, y = diabetes
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    settings = dict(hidden_layer_sizes=(4,), epochs=3, momentum=0.0, random_state=0)
    weighted = Estimator(lr=0.01, **settings).fit(X, y, sample_weight=np.full(len(y), 2.0))
    faster = Estimator(lr=0.02, **settings).fit(X, y)
    unweighted = Estimator(lr=0.01, **settings).fit(X, y)
    for a, b, c in zip(weighted.model_.parameters(), faster.model_.parameters(), unweighted.model_.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-12, atol=1e-14)
        assert not np.allclose(a.value, c.value)


@pytest.mark.parametrize("class_weight", ["balanced", {"yes": 2.5}, {"no": 0.5, "yes": 3.0}])
def test_class_weight_trains_as_the_sample_weights_scikit_learn_computes_for_it(diabetes, class_weight):
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = diabetes
    labels = np.array(["no", "yes"])[y]
    settings = dict(hidden_layer_sizes=(4,), epochs=2, random_state=0)
    weighted = MinnetClassifier(class_weight=class_weight, **settings).fit(X, labels)
    expected = MinnetClassifier(**settings).fit(X, labels, sample_weight=compute_sample_weight(class_weight, labels))
    for a, b in zip(weighted.model_.parameters(), expected.model_.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_class_weight_balanced_weighs_three_classes_as_scikit_learn():
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = mn.datasets.load_digits()
    X, y = X[:300], y[:300] % 3
    settings = dict(hidden_layer_sizes=(4,), epochs=2, random_state=0)
    weighted = MinnetClassifier(class_weight="balanced", **settings).fit(X, y)
    expected = MinnetClassifier(**settings).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    for a, b in zip(weighted.model_.parameters(), expected.model_.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-13, atol=1e-15)


@row("sklearn-class-weight")
@pytest.mark.parametrize(
    "class_weight, error, message",
    [
        ("auto", TypeError, r'class_weight must be a dict from a label to its weight, "balanced" or None'),
        ({"maybe": 2.0}, ValueError, r"class_weight names labels \['maybe'\] that are not among the classes"),
        ({"yes": -1.0}, ValueError, r"class_weight\['yes'\] must be >= 0.0, got -1.0"),
    ],
)
def test_a_class_weight_that_is_not_a_dict_of_known_labels_is_refused(class_weight, error, message):
    clf = MinnetClassifier((4,), epochs=1, class_weight=class_weight)
    with pytest.raises(error, match=message):
        clf.fit([[0.0], [1.0]], ["no", "yes"])
    assert not hasattr(clf, "model_") and not hasattr(clf, "classes_")


@row("sklearn-class-weight-partial-fit")
def test_partial_fit_refuses_balanced_class_weights_and_takes_a_dict():
    clf = MinnetClassifier((4,), class_weight="balanced", random_state=0)
    with pytest.raises(ValueError, match='class_weight="balanced" needs all the data'):
        clf.partial_fit([[0.0], [1.0]], [0, 1], classes=[0, 1])
    assert not hasattr(clf, "model_")
    clf.set_params(class_weight={1: 2.0}).partial_fit([[0.0], [1.0]], [0, 1], classes=[0, 1])
    same = MinnetClassifier((4,), random_state=0).partial_fit([[0.0], [1.0]], [0, 1], classes=[0, 1])
    assert clf.history_["loss"][0] != same.history_["loss"][0]
