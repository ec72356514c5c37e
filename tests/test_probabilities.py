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


def two_heads():
    x = mn.Input(4)
    return mn.Graph(x, [mn.Dense(4, 3, seed=0)(x), mn.Dense(4, 1, seed=1)(x), mn.Dense(4, 2, seed=2)(x)])


def test_a_graph_of_several_outputs_gives_each_classifying_outputs_probabilities():
    model, X = two_heads(), data()
    classes, binary, size = model.predict(X)
    losses = [mn.CrossEntropy(), mn.BCE(from_logits=True), mn.BCE(from_logits=True)]
    by_list = mn.predict_proba(model, losses, X)
    for p, loss, out in zip(by_list, losses, (classes, binary, size)):
        np.testing.assert_array_equal(p, class_probabilities(loss, out))
    by_name = mn.predict_proba(model, {"dense": mn.CrossEntropy(), "dense_1": mn.BCE(from_logits=True)}, X)
    assert list(by_name) == ["dense", "dense_1"]  # the regression head left out
    np.testing.assert_array_equal(by_name["dense_1"], by_list[1])


@row("predict-proba-several-outputs")
@pytest.mark.parametrize(
    "loss, error, match",
    [
        (mn.CrossEntropy(), TypeError, r"the model has 3 outputs, so predict_proba takes a list of 3 losses"),
        ([mn.CrossEntropy(), mn.BCE()], TypeError, r"takes a list of 3 losses, one per output"),
        ({"dense_9": mn.BCE()}, ValueError, r"loss has key\(s\) 'dense_9' that name no output"),
        ({"dense_2": mn.MSE()}, TypeError, r"got MSE\(\), whose outputs are not classes"),
    ],
)
def test_a_graph_of_several_outputs_needs_a_classifiers_loss_per_output(loss, error, match):
    with pytest.raises(error, match=match):
        mn.predict_proba(two_heads(), loss, data())
