"""``fit(class_weight=, sample_weight=)`` and ``evaluate(sample_weight=)``, as Keras.

A sample's weight scales its terms of the loss; each batch's loss keeps its
size as divisor (Keras' "sum_over_batch_size"), so the epoch loss stays the
batch-size-weighted mean of the batches' losses.
"""

from __future__ import annotations

import numpy as np
import pytest
from rows import row

import minnet as mn
from conftest import snapshot

FIT = dict(progress=False)


def _data(n=30, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, 3))
    return X, (X[:, 0] + 0.5 * gen.standard_normal(n) > 0.3).astype(float)


def _model(n_out=1):
    return mn.Sequential(mn.Dense(3, 5, seed=0), mn.Tanh(), mn.Dense(5, n_out, seed=1))


def _fit(X, y, loss=None, n_out=1, **kwargs):
    model = _model(n_out)
    opt = mn.SGD(model.parameters(), lr=0.3, momentum=0.5)
    history = mn.fit(model, loss or mn.BCE(from_logits=True), opt, X, y, **{"epochs": 5, "seed": 3, **FIT, **kwargs})
    return model, history


@pytest.mark.parametrize("batch_size", [None, 7])
def test_class_weight_equals_the_equivalent_sample_weight_bit_for_bit(batch_size):
    X, y = _data()
    by_class, h_class = _fit(X, y, class_weight={0: 0.5, 1: 1.9}, batch_size=batch_size)
    by_sample, h_sample = _fit(X, y, sample_weight=np.where(y == 1, 1.9, 0.5), batch_size=batch_size)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(by_class), snapshot(by_sample)))
    assert h_class.history["loss"] == h_sample.history["loss"]


def test_class_weight_of_cross_entropy_labels_and_one_hot_rows(rng):
    X, labels = rng.standard_normal((24, 3)), rng.integers(0, 3, 24)
    weights = {0: 2.0, 2: 0.25}  # class 1 is not named: it weighs 1
    kw = dict(loss=mn.CrossEntropy(), n_out=3, batch_size=5)
    by_labels, _ = _fit(X, labels, class_weight=weights, **kw)
    by_one_hot, _ = _fit(X, np.eye(3)[labels], class_weight=weights, **kw)
    by_sample, _ = _fit(X, labels, sample_weight=np.array([2.0, 1.0, 0.25])[labels], **kw)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(by_labels), snapshot(by_sample)))
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(by_one_hot), snapshot(by_sample)))


def test_class_weight_multiplies_sample_weight():
    X, y = _data()
    w = np.linspace(0.1, 2.0, len(y))
    both, _ = _fit(X, y, class_weight={1: 3.0}, sample_weight=w, batch_size=8)
    product, _ = _fit(X, y, sample_weight=w * np.where(y == 1, 3.0, 1.0), batch_size=8)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(both), snapshot(product)))


def test_sample_weights_of_one_change_no_bit():
    X, y = _data()
    plain, h_plain = _fit(X, y, batch_size=7)
    ones, h_ones = _fit(X, y, batch_size=7, sample_weight=np.ones(len(y)))
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(plain), snapshot(ones)))
    assert h_plain.history["loss"] == h_ones.history["loss"]


def test_a_weight_of_two_is_the_row_duplicated_with_the_divisor_of_the_longer_batch():
    # Full batch: sum_i s_i l_i / n with s_k = 2 is (n + 1) / n times the mean over the data with row k
    # twice; so weights s n / (n + 1) train exactly as the duplicated data (up to rounding).
    X, y = _data(n=12)
    n, k = len(y), 4
    s = np.ones(n)
    s[k] = 2.0
    X_dup, y_dup = np.vstack([X, X[k : k + 1]]), np.append(y, y[k])
    model = _model()
    loss = mn.BCE(from_logits=True)
    weighted = mn.evaluate(model, loss, X, y, sample_weight=s)["loss"]
    duplicated = mn.evaluate(model, loss, X_dup, y_dup)["loss"]
    np.testing.assert_allclose(weighted * n, duplicated * (n + 1), rtol=1e-14)

    by_weight, _ = _fit(X, y, sample_weight=s * n / (n + 1), epochs=30)
    by_copy, _ = _fit(X_dup, y_dup, epochs=30)
    for a, b in zip(snapshot(by_weight), snapshot(by_copy)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_evaluate_weighs_the_loss_not_the_metrics(rng):
    X, y = _data()
    w = rng.uniform(0, 3, len(y))
    model, loss = _model(), mn.BCE(from_logits=True)
    z = model.predict(X)[:, 0]
    terms = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    result = mn.evaluate(model, loss, X, y, sample_weight=w, metrics=["accuracy"], batch_size=7)
    np.testing.assert_allclose(result["loss"], np.sum(w * terms) / len(y), rtol=1e-13)
    assert result["accuracy"] == mn.evaluate(model, loss, X, y, metrics=["accuracy"])["accuracy"]


def test_validation_data_may_carry_sample_weights(rng):
    X, y = _data()
    X_val, y_val = _data(n=10, seed=1)
    w_val = rng.uniform(0, 2, 10)
    model, history = _fit(X, y, validation_data=(X_val, y_val, w_val), epochs=2)
    expected = mn.evaluate(model, mn.BCE(from_logits=True), X_val, y_val, sample_weight=w_val)["loss"]
    np.testing.assert_allclose(history.history["val_loss"][-1], expected, rtol=1e-14)


def test_validation_split_keeps_the_weights_of_the_held_out_rows(rng):
    X, y = _data()
    w = rng.uniform(0, 2, len(y))
    model, history = _fit(X, y, sample_weight=w, class_weight={1: 5.0}, validation_split=0.2, epochs=2)
    # Class weights weigh the training loss only, as in Keras.
    expected = mn.evaluate(model, mn.BCE(from_logits=True), X[24:], y[24:], sample_weight=w[24:])["loss"]
    np.testing.assert_allclose(history.history["val_loss"][-1], expected, rtol=1e-14)


def test_sample_weights_weigh_every_output_of_a_graph(rng):
    x = mn.Input(3)
    h = mn.Tanh()(mn.Dense(3, 4, seed=0)(x))
    model = mn.Graph(inputs=x, outputs=[mn.Dense(4, 1, seed=1)(h), mn.Dense(4, 3, seed=2)(h)])
    X, y1, y2, w = rng.standard_normal((9, 3)), rng.normal(size=9), rng.integers(0, 3, 9), rng.uniform(size=9)
    losses = [mn.MSE(), mn.CrossEntropy()]
    out1, out2 = model.predict(X)
    total = mn.evaluate(model, losses, X, [y1, y2], sample_weight=w, loss_weights=[1.0, 0.5])["loss"]
    expected = mn.MSE().forward(out1, y1, w) + 0.5 * mn.CrossEntropy().forward(out2, y2, w)
    np.testing.assert_allclose(total, expected, rtol=1e-14)


def test_a_resumed_weighted_run_ends_bit_identical(tmp_path):
    X, y = _data()
    kw = dict(sample_weight=np.linspace(0.2, 2.0, len(y)), class_weight={0: 1.5}, batch_size=7)
    whole, _ = _fit(X, y, epochs=4, **kw)
    path = tmp_path / "run.npz"
    _fit(X, y, epochs=2, callbacks=[mn.Checkpoint(path)], **kw)
    model = _model()
    opt = mn.SGD(model.parameters(), lr=0.3, momentum=0.5)
    mn.fit(model, mn.BCE(from_logits=True), opt, X, y, epochs=4, resume=path, **FIT, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model), snapshot(whole)))


def test_a_class_weighted_run_on_imbalanced_data_finds_more_positives():
    X, y = _data(n=200)
    y = ((X[:, 0] > 0.9) & (np.abs(X[:, 1]) < 1.5)).astype(float)  # few positives
    plain, _ = _fit(X, y, epochs=40)
    balanced, _ = _fit(X, y, epochs=40, class_weight={1: float((y == 0).sum() / (y == 1).sum())})
    found = [int(((m.predict(X)[:, 0] > 0) & (y == 1)).sum()) for m in (plain, balanced)]
    assert found[1] > found[0]


# -- refused, changing nothing ----------------------------------------------------------


class _NoWeights(mn.Loss):
    def _forward(self, pred, target):
        self._cache = pred - target
        return float(np.mean(self._cache**2))

    def backward(self):
        return 2 * self._cache / self._cache.size


def _two_outputs():
    x = mn.Input(3)
    return mn.Graph(inputs=x, outputs=[mn.Dense(3, 1, seed=0)(x), mn.Dense(3, 1, seed=1)(x)])


REFUSED = {
    "sample-weight-length": (dict(sample_weight=np.ones(29)), ValueError, r"sample_weight must have shape \(30,\)"),
    "sample-weight-negative": (dict(sample_weight=-np.ones(30)), ValueError, r"sample_weight must be >= 0, got -1.0"),
    "sample-weight-nan": (dict(sample_weight=np.full(30, np.nan)), ValueError, "sample_weight must be finite"),
    "sample-weight-all-zero": (
        dict(class_weight={0: 0.0, 1: 0.0}),
        ValueError,
        r"the training samples' weights are all zero \(sample_weight times class_weight\): none would count",
    ),
    "sample-weight-strings": (dict(sample_weight=["1"] * 30), TypeError, "sample_weight must hold numbers"),
    "sample-weight-custom-loss": (
        dict(sample_weight=np.ones(30), loss=_NoWeights()),
        TypeError,
        "does not take sample weights",
    ),
    "validation-sample-weight-length": (
        dict(validation_data=(np.zeros((4, 3)), np.zeros(4), np.ones(3))),
        ValueError,
        r"sample_weight_val must have shape \(4,\)",
    ),
    "class-weight-not-dict": (dict(class_weight=[1.0, 2.0]), TypeError, "class_weight must be a dict"),
    "class-weight-unknown-class": (
        dict(class_weight={2: 1.0}),
        ValueError,
        "class_weight has the key 2, which is not a class: the classes are 0 to 1",
    ),
    "class-weight-negative": (dict(class_weight={1: -2.0}), ValueError, r"class_weight\[1\] must be >= 0"),
    "class-weight-soft-targets": (
        dict(class_weight={1: 2.0}, y=np.full(30, 0.3)),
        ValueError,
        "class_weight with BCE needs y of 0/1 labels",
    ),
    "class-weight-regression": (
        dict(class_weight={1: 2.0}, loss=mn.MSE()),
        TypeError,
        r"class_weight needs a classification loss \(BCE or CrossEntropy\), got MSE\(\)",
    ),
    "class-weight-several-outputs": (
        dict(class_weight={1: 2.0}, model=_two_outputs, loss=[mn.BCE(from_logits=True)] * 2),
        ValueError,
        "class_weight is for a model with one output, this one has 2",
    ),
}


def _refused(case):
    changes, error, match = REFUSED[case]
    X, y = _data()
    changes = dict(changes)
    model = changes.pop("model", _model)()
    opt = mn.SGD(model.parameters(), lr=0.1)
    loss = changes.pop("loss", mn.BCE(from_logits=True))
    y = changes.pop("y", y if model.n_outputs == 1 else [y, y])
    before = snapshot(model)
    with pytest.raises(error, match=match):
        mn.fit(model, loss, opt, X, y, epochs=1, **FIT, **changes)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model), before))
    assert opt.step_count == 0


def _row_test(case):
    def test():
        _refused(case)

    test.__name__ = f"test_fit_refuses_{case.replace('-', '_')}"
    return row(case)(test)


for _case in REFUSED:
    globals()[f"test_fit_refuses_{_case.replace('-', '_')}"] = _row_test(_case)


@row("evaluate-sample-weight-length")
def test_evaluate_refuses_sample_weights_of_another_length():
    X, y = _data()
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(30,\), one weight per sample, got shape"):
        mn.evaluate(_model(), mn.BCE(from_logits=True), X, y, sample_weight=np.ones((30, 1)))


@row("loss-weight-options")
@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: mn.BCE(pos_weight=-1.0), ValueError, r"pos_weight must be >= 0.0, got -1.0"),
        (lambda: mn.BCE(pos_weight=[[1.0]]), ValueError, r"pos_weight must be a number or a 1-D array"),
        (lambda: mn.BCE(pos_weight="2"), TypeError, "pos_weight must hold numbers"),
        (lambda: mn.CrossEntropy(weight=[1.0, np.inf]), ValueError, "weight must be finite, got inf at index"),
        (lambda: mn.CrossEntropy(weight=2.0), ValueError, r"weight must be a 1-D array, one weight per class"),
        (lambda: mn.CrossEntropy(label_smoothing=1.5), ValueError, r"label_smoothing must be <= 1.0, got 1.5"),
        (
            lambda: mn.CrossEntropy(weight=[1.0, 2.0]).forward(np.zeros((2, 3)), [0, 1]),
            ValueError,
            "CrossEntropy has 2 class weights, but the predictions have 3 classes",
        ),
        (
            lambda: mn.BCE(pos_weight=[1.0, 2.0]).forward(np.full((2, 3), 0.5), np.zeros((2, 3))),
            ValueError,
            "BCE has 2 pos_weight values, one per output, but the predictions have 3",
        ),
        (
            lambda: mn.MSE().forward(np.zeros((2, 1)), np.zeros(2), sample_weight=[1.0, -1.0]),
            ValueError,
            r"sample_weight must be >= 0, got -1.0 at index \(1,\)",
        ),
    ],
)
def test_loss_options_refuse_bad_weights(make, error, match):
    with pytest.raises(error, match=match):
        make()
