"""predict_proba: softmax of CrossEntropy logits, sigmoid of BCE logits, as scikit-learn lays them out."""

from __future__ import annotations

import numpy as np
import pytest
from rows import row

import minnet as mn
from minnet.probabilities import class_probabilities


def data(n=12, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4)) * 3.0


def test_cross_entropy_logits_become_their_softmax():
    torch = pytest.importorskip("torch")
    model = mn.Sequential(mn.Dense(4, 5, seed=0), mn.Tanh(), mn.Dense(5, 3, seed=1))
    X = data()
    p = mn.predict_proba(model, mn.CrossEntropy(), X)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(model.predict(X)), dim=1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)


def test_one_bce_logit_becomes_two_columns_as_scikit_learn_gives_them():
    torch = pytest.importorskip("torch")
    model = mn.Sequential(mn.Dense(4, 1, seed=0))
    X = data() * 100.0  # logits far out: no overflow, probabilities of exactly 0 and 1
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = mn.predict_proba(model, mn.BCE(from_logits=True), X)
    positive = torch.sigmoid(torch.from_numpy(model.predict(X))).numpy()
    assert p.shape == (12, 2)
    np.testing.assert_allclose(p[:, 1:], positive, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(p[:, :1], 1.0 - positive, rtol=1e-14)


def test_several_bce_logits_are_independent_labels():
    model = mn.Sequential(mn.Dense(4, 3, seed=0))
    X = data()
    np.testing.assert_array_equal(mn.predict_proba(model, mn.BCE(from_logits=True), X), mn.Sigmoid()(model.predict(X)))


def test_outputs_that_are_probabilities_already_are_kept():
    softmax_model = mn.Sequential(mn.Dense(4, 3, seed=0), mn.Softmax())
    sigmoid_model = mn.Sequential(mn.Dense(4, 1, seed=0), mn.Sigmoid())
    X = data()
    p = mn.predict_proba(softmax_model, mn.CrossEntropy(from_logits=False), X)
    np.testing.assert_array_equal(p, softmax_model.predict(X))
    q = mn.predict_proba(sigmoid_model, mn.BCE(), X)
    np.testing.assert_array_equal(q[:, 1:], sigmoid_model.predict(X))


def test_the_batch_size_does_not_change_the_result():
    model = mn.Sequential(mn.Dense(4, 3, seed=0))
    X = data(50)
    np.testing.assert_allclose(
        mn.predict_proba(model, mn.CrossEntropy(), X, batch_size=7),
        mn.predict_proba(model, mn.CrossEntropy(), X),
        rtol=1e-14,
    )


@pytest.mark.parametrize("classes", [2, 3])
def test_equals_the_scikit_learn_estimators_predict_proba(classes):
    pytest.importorskip("sklearn")
    from minnet.sklearn import MinnetClassifier

    X = data(40)
    y = np.arange(40) % classes
    clf = MinnetClassifier((6,), epochs=3, random_state=0).fit(X, y)
    loss = mn.BCE(from_logits=True) if classes == 2 else mn.CrossEntropy()
    np.testing.assert_array_equal(mn.predict_proba(clf.model_, loss, X), clf.predict_proba(X))


@row("predict-proba-not-a-classifier")
@pytest.mark.parametrize(
    "model, loss, error, match",
    [
        (mn.Sequential(mn.Dense(4, 1, seed=0)), mn.MSE(), TypeError, r"with mn.CrossEntropy or mn.BCE; got MSE"),
        (mn.Sequential(mn.Dense(4, 2, seed=0)), "ce", TypeError, r"got 'ce', whose outputs are not classes"),
        (mn.Dense(4, 2, seed=0), mn.CrossEntropy(), TypeError, r"model must be a model \(mn.Sequential or mn.Graph"),
    ],
)
def test_a_loss_or_model_that_gives_no_classes_is_refused(model, loss, error, match):
    with pytest.raises(error, match=match):
        mn.predict_proba(model, loss, data())


@row("predict-proba-not-a-classifier")
def test_a_model_of_several_outputs_is_refused_pointing_to_the_per_output_function():
    x = mn.Input(4)
    model = mn.Graph(x, [mn.Dense(4, 2, seed=0)(x), mn.Dense(4, 1, seed=1)(x)])
    with pytest.raises(TypeError, match=r"one output, this one has 2; apply mn.probabilities.class_probabilities"):
        mn.predict_proba(model, mn.CrossEntropy(), data())
    out = model.predict(data())
    np.testing.assert_allclose(class_probabilities(mn.CrossEntropy(), out[0]).sum(axis=1), 1.0)
