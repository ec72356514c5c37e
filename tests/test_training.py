"""fit: history, batching, shuffling, progress, divergence, Ctrl-C, validation, evaluate, the article's run."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

import minnet as mn


def _values(model: mn.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _sgd(model: mn.Layer, lr: float = 0.1, **kwargs) -> mn.SGD:
    return mn.SGD(model.parameters(), lr=lr, **kwargs)


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _tiny_problem(n=12):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(n, 2)), (rng.random(n) > 0.5).astype(float)
    model = mn.Sequential(mn.Dense(2, 3, rng=0), mn.Tanh(), mn.Dense(3, 1, rng=1), mn.Sigmoid())
    return X, y, model


# -- a tiny network, by hand ---------------------------------------------------------

W1, B1 = [[0.1, -0.2], [0.3, 0.4]], [0.05, -0.05]
W2, B2 = [[0.5], [-0.6]], [0.1]
XS, YS = [[1.0, 2.0], [-1.0, 0.5]], [1.0, 0.0]


def _tiny() -> mn.Sequential:
    d1, d2 = mn.Dense(2, 2), mn.Dense(2, 1)
    d1.W.value[...], d1.b.value[...], d2.W.value[...], d2.b.value[...] = W1, B1, W2, B2
    return mn.Sequential(d1, mn.Sigmoid(), d2, mn.Sigmoid())


def _tiny_by_hand():
    """Forward outputs, mean BCE and the gradients of every weight, in plain Python."""
    n = len(XS)
    preds, loss = [], 0.0
    gW1, gB1, gW2, gB2 = [[0.0, 0.0], [0.0, 0.0]], [0.0, 0.0], [[0.0], [0.0]], [0.0]
    for x, y in zip(XS, YS):
        h = [_sig(x[0] * W1[0][j] + x[1] * W1[1][j] + B1[j]) for j in range(2)]
        p = _sig(h[0] * W2[0][0] + h[1] * W2[1][0] + B2[0])
        preds.append(p)
        loss += -(y * math.log(p) + (1 - y) * math.log(1 - p)) / n
        dz2 = (p - y) / n  # BCE followed by sigmoid: dL/dz = (p - y) / N
        gB2[0] += dz2
        for j in range(2):
            gW2[j][0] += h[j] * dz2
            dz1 = dz2 * W2[j][0] * h[j] * (1 - h[j])
            gB1[j] += dz1
            for i in range(2):
                gW1[i][j] += x[i] * dz1
    return preds, loss, [gW1, gB1, gW2, gB2]


def test_tiny_network_forward_matches_hand_computation():
    preds, loss, _ = _tiny_by_hand()
    model = _tiny()
    out = model.forward(np.array(XS))
    np.testing.assert_allclose(out, np.array(preds).reshape(2, 1), rtol=1e-14)
    assert mn.BCE().forward(out, YS) == pytest.approx(loss, rel=1e-14)


def test_tiny_network_gradients_match_hand_computation():
    _, _, grads = _tiny_by_hand()
    model, loss = _tiny(), mn.BCE()
    loss.forward(model.forward(np.array(XS)), YS)
    model.backward(loss.backward())
    for p, expected in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-12, atol=1e-16)


def test_tiny_network_one_sgd_step_by_fit_matches_hand_computation():
    _, loss, grads = _tiny_by_hand()
    lr = 0.5
    model = _tiny()
    history = mn.fit(model, mn.BCE(), _sgd(model, lr), XS, YS, epochs=1, progress=False)
    assert history["loss"] == [pytest.approx(loss, rel=1e-14)]
    for p, start, g in zip(model.parameters(), [W1, B1, W2, B2], grads):
        np.testing.assert_allclose(p.value, np.array(start) - lr * np.array(g), rtol=1e-14)


# -- History ---------------------------------------------------------------------


def test_history_keys_with_validation_and_metrics(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(
        model,
        mn.BCE(),
        _sgd(model),
        X,
        y,
        epochs=3,
        validation_data=(X[:10], y[:10]),
        metrics=["accuracy"],
        progress=False,
    )
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 3 for v in h.history.values()) and len(h) == 3 and h.epoch == [1, 2, 3]


def test_history_keys_without_validation(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(model, mn.BCE(), _sgd(model), X, y, epochs=2, progress=False)
    assert set(h.history) == {"loss", "lr"} and h["loss"] is h.history["loss"]


def test_history_values_are_python_floats(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(
        model, mn.BCE(), _sgd(model), X, y, epochs=2, validation_data=(X, y), metrics=["accuracy"], progress=False
    )
    assert all(type(v) is float for values in h.history.values() for v in values)


def test_custom_metric_is_logged_under_its_name(blobs):
    X, y = blobs

    def mean_error(y_true, y_pred):
        return float(np.abs(y_true - y_pred).mean())

    # Full batch at lr=0: the model never changes, so each epoch's value is the metric on all the data.
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(model, mn.BCE(), _sgd(model, 0.0), X, y, epochs=2, metrics=[mean_error], progress=False)
    expected = mean_error(y.reshape(-1, 1), model.predict(X))
    assert h["mean_error"] == [pytest.approx(expected, rel=1e-13)] * 2


def test_loss_decreases_on_a_learnable_problem(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 4, rng=0), mn.Tanh(), mn.Dense(4, 1, rng=1), mn.Sigmoid())
    h = mn.fit(
        model, mn.BCE(), _sgd(model, 0.5), X, y, epochs=30, batch_size=16, seed=0, metrics=["accuracy"], progress=False
    )
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["accuracy"][-1] >= 0.9


def test_logged_lr_is_the_rate_of_each_epochs_last_step(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(
        model,
        mn.BCE(),
        _sgd(model, lambda step: 1.0 / (step + 1)),
        X[:10],
        y[:10],
        epochs=2,
        batch_size=4,
        progress=False,
    )
    assert h["lr"] == [1.0 / 3, 1.0 / 6]  # steps 0-2 in epoch 1, 3-5 in epoch 2


# -- batching -------------------------------------------------------------------------


def test_epoch_loss_is_the_batch_size_weighted_mean(blobs):
    X, y = blobs[0][:10], blobs[1][:10]
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(model, mn.BCE(), _sgd(model, 0.0), X, y, epochs=1, batch_size=4, shuffle=False, progress=False)
    batches = [mn.BCE().forward(model.predict(X[s : s + 4]), y[s : s + 4]) for s in (0, 4, 8)]
    weighted = (4 * batches[0] + 4 * batches[1] + 2 * batches[2]) / 10
    assert h["loss"][0] == pytest.approx(weighted, rel=1e-13)
    assert h["loss"][0] != pytest.approx(np.mean(batches), rel=1e-6)  # so the weighting is what is tested


def test_epoch_accuracy_is_the_batch_size_weighted_mean(blobs):
    X, y = blobs  # 64 samples in batches of 7: nine full batches and one of a single sample
    model = mn.Sequential(mn.Dense(2, 1, rng=4), mn.Sigmoid())
    h = mn.fit(
        model,
        mn.BCE(),
        _sgd(model, 0.0),
        X,
        y,
        epochs=1,
        batch_size=7,
        metrics=["accuracy"],
        shuffle=False,
        progress=False,
    )
    correct = (model.predict(X)[:, 0] > 0.5) == y
    batches = [correct[s : s + 7].mean() for s in range(0, 64, 7)]
    assert h["accuracy"][0] == pytest.approx(correct.mean(), rel=1e-13)
    assert correct.mean() != pytest.approx(np.mean(batches), rel=1e-6)  # so the weighting is what is tested


def test_last_partial_batch_counts():
    model = mn.Sequential(mn.Dense(2, 1, rng=0))
    opt = _sgd(model)
    mn.fit(model, mn.MSE(), opt, np.ones((10, 2)), np.zeros(10), epochs=2, batch_size=4, progress=False)
    assert opt.step_count == 6


@pytest.mark.parametrize("batch_size", [None, 10, 1000])
def test_full_batch_takes_one_step_per_epoch(batch_size):
    model = mn.Sequential(mn.Dense(2, 1, rng=0))
    opt = _sgd(model)
    mn.fit(model, mn.MSE(), opt, np.ones((10, 2)), np.zeros(10), epochs=5, batch_size=batch_size, progress=False)
    assert opt.step_count == 5


def test_full_batch_is_plain_gradient_descent(blobs):
    X, y = blobs
    model, manual = (
        mn.Sequential(mn.Dense(2, 3, rng=0), mn.Sigmoid(), mn.Dense(3, 1, rng=1), mn.Sigmoid()) for _ in range(2)
    )
    mn.fit(model, mn.BCE(), _sgd(model, 0.3), X, y, epochs=4, progress=False)
    loss, opt = mn.BCE(), _sgd(manual, 0.3)
    for _ in range(4):
        loss.forward(manual.forward(X), y)
        manual.backward(loss.backward())
        opt.step()
    assert _same(_values(model), _values(manual))


def test_flat_and_column_targets_train_identically(blobs):
    X, y = blobs
    runs = []
    for target in (y, y.reshape(-1, 1)):
        model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
        mn.fit(model, mn.BCE(), _sgd(model), X, target, epochs=3, batch_size=8, seed=1, progress=False)
        runs.append(_values(model))
    assert _same(*runs)


def test_accepts_lists_and_integer_features():
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    h = mn.fit(model, mn.BCE(), _sgd(model), [[0, 1], [1, 0], [2, 2]], [0, 1, 1], epochs=2, progress=False)
    assert len(h) == 2


def test_callbacks_may_be_none_or_a_single_callback():
    X, y, model = _tiny_problem()
    opt = mn.SGD(model.parameters(), lr=0.1)
    assert len(mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=None, progress=False)) == 2
    stopper = mn.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=5, callbacks=stopper, progress=False)
    assert len(history) == 2  # the first epoch sets the best, the second fails to beat it by 10


# -- shuffling -------------------------------------------------------------------------


def _train(X, y, **kwargs) -> list[np.ndarray]:
    model = mn.Sequential(mn.Dense(2, 3, rng=0), mn.Tanh(), mn.Dense(3, 1, rng=1), mn.Sigmoid())
    mn.fit(model, mn.BCE(), _sgd(model, 0.2), X, y, epochs=3, batch_size=8, progress=False, **kwargs)
    return _values(model)


def test_same_seed_gives_identical_weights(blobs):
    assert _same(_train(*blobs, seed=3), _train(*blobs, seed=3))


def test_different_seeds_give_different_weights(blobs):
    assert not _same(_train(*blobs, seed=3), _train(*blobs, seed=4))


def test_shuffle_false_is_deterministic_without_seed_and_differs_from_shuffled(blobs):
    unshuffled = _train(*blobs, shuffle=False)
    assert _same(unshuffled, _train(*blobs, shuffle=False))
    assert not _same(unshuffled, _train(*blobs, seed=3))


def test_shuffled_batches_share_one_buffer_for_the_whole_run(blobs, record_inputs):
    X, y = blobs
    record = record_inputs
    model = mn.Sequential(record, mn.Dense(2, 1, rng=0), mn.Sigmoid())
    mn.fit(model, mn.BCE(), _sgd(model), X, y, epochs=3, batch_size=24, seed=0, progress=False)
    assert [len(x) for x in record.seen] == [24, 24, 16] * 3
    # All nine batches are kept alive, so they can share memory only if they are one reused buffer.
    assert all(np.shares_memory(x, record.seen[0]) for x in record.seen)
    assert not np.shares_memory(record.seen[0], X)


def test_fit_does_not_modify_the_data(blobs):
    X, y = blobs
    X_saved, y_saved = X.copy(), y.copy()
    _train(X, y, seed=0)
    assert np.array_equal(X, X_saved) and np.array_equal(y, y_saved)


# -- progress ----------------------------------------------------------------------------


def test_progress_false_prints_nothing(blobs, capfd):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    mn.fit(model, mn.BCE(), _sgd(model), X, y, epochs=3, validation_data=(X, y), progress=False)
    assert capfd.readouterr() == ("", "")


def test_progress_true_draws_one_bar_on_stderr(blobs, capsys):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    mn.fit(model, mn.BCE(), _sgd(model), X, y, epochs=3, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "3/3" in err and "epoch" in err and "loss=" in err


# -- divergence -----------------------------------------------------------------------------


class RecordingSGD(mn.SGD):
    """SGD that keeps the parameter values after its last successful step."""

    def step(self):
        super().step()
        self.last_good = [p.value.copy() for p in self.params]


def test_huge_lr_raises_training_diverged_naming_epoch_batch_and_lr(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0))
    opt = RecordingSGD(model.parameters(), lr=1e10)
    with pytest.raises(mn.TrainingDiverged) as info:
        mn.fit(model, mn.MSE(), opt, X, y, epochs=20, batch_size=16, shuffle=False, progress=False)
    # 4 batches per epoch; the failed step is the one after the last successful one.
    epoch, batch = opt.step_count // 4 + 1, opt.step_count % 4 + 1
    assert opt.step_count > 4  # it trained for a while before diverging
    assert f"epoch {epoch}, batch {batch}/4" in str(info.value) and "lr=1e+10" in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert (info.value.epoch, info.value.batch, info.value.lr) == (epoch, batch, 1e10)
    assert all(np.isfinite(p.value).all() for p in model.parameters())
    assert _same(_values(model), opt.last_good)


def test_overflowing_update_raises_training_diverged_before_changing_anything(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0))
    before = _values(model)
    opt = _sgd(model, 1e308)
    with pytest.raises(mn.TrainingDiverged, match=r"epoch 1, batch 1/4.*parameter W") as info:
        mn.fit(model, mn.MSE(), opt, X * 100, y, epochs=5, batch_size=16, progress=False)
    assert info.value.epoch == 1 and info.value.batch == 1
    assert _same(_values(model), before) and opt.step_count == 0


def test_a_non_finite_validation_loss_stops_with_training_diverged():
    X, y, _ = _tiny_problem()
    X_val = np.full((3, 2), 1e200)  # finite input, but the loss overflows
    model = mn.Sequential(mn.Dense(2, 1, rng=0))
    with pytest.raises(mn.TrainingDiverged, match="validation loss is inf") as info:
        mn.fit(
            model,
            mn.MSE(),
            mn.SGD(model.parameters(), lr=0.01),
            X,
            y,
            epochs=2,
            validation_data=(X_val, np.zeros(3)),
            progress=False,
        )
    assert info.value.epoch == 1
    assert all(np.isfinite(p.value).all() for p in model.parameters())


# -- Ctrl-C -----------------------------------------------------------------------------------


class InterruptInForward(mn.Layer):
    """Identity that raises KeyboardInterrupt on a given training forward call."""

    def __init__(self, call: int) -> None:
        self.call, self.calls = call, 0

    def forward(self, x, training=True):
        if training:
            self.calls += 1
            if self.calls == self.call:
                raise KeyboardInterrupt
        return x

    def backward(self, grad):
        return grad


def test_ctrl_c_during_epoch_3_keeps_the_two_completed_epochs(blobs, capsys):
    X, y = blobs
    model = mn.Sequential(mn.Dense(2, 1, rng=0), InterruptInForward(call=2 * 4 + 2), mn.Sigmoid())
    opt = _sgd(model)
    h = mn.fit(model, mn.BCE(), opt, X, y, epochs=10, batch_size=16, progress=False)
    assert h.epoch == [1, 2] and len(h["loss"]) == 2 and len(h["lr"]) == 2
    assert opt.step_count == 9  # epochs 1-2 and the first batch of epoch 3
    assert "interrupted after 2 complete epoch" in capsys.readouterr().err


def test_ctrl_c_lets_the_current_batch_finish_then_returns_completed_epochs():
    class InterruptOnce(mn.Layer):
        """Sends SIGINT to this process during the 2nd epoch's first forward."""

        def __init__(self):
            self.calls = 0

        def forward(self, x, training=True):
            if training:
                self.calls += 1
                if self.calls == 4:  # 3 batches per epoch: the 4th call opens epoch 2
                    os.kill(os.getpid(), signal.SIGINT)
            return x

        def backward(self, grad):
            return grad

    X, y, _ = _tiny_problem(n=12)
    model = mn.Sequential(mn.Dense(2, 1, rng=0), InterruptOnce(), mn.Sigmoid())
    opt = mn.SGD(model.parameters(), lr=0.1)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=5, batch_size=4, progress=False)
    assert len(history) == 1
    assert opt.step_count == 4  # epoch 1's three steps, and the interrupted batch's step completed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


# -- errors before training leave the model unchanged --------------------------------------


def _article_like():
    return mn.Sequential(mn.Dense(8, 16, rng=0), mn.Sigmoid(), mn.Dense(16, 1, rng=1), mn.Sigmoid())


X8 = np.random.default_rng(0).standard_normal((12, 8))
Y8 = (np.arange(12) % 2).astype(float)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(y=Y8[:11]), ValueError, "same number of samples, got 12 and 11"),
        (dict(X=X8[:, :7]), ValueError, r"Dense\(8 -> 16\) expected 8 features, got 7"),
        (dict(X=np.where(np.eye(12, 8) > 0, np.nan, X8)), ValueError, "finite"),
        (dict(y=Y8 * 2), ValueError, r"\[0, 1\]"),
        (dict(y=np.stack([Y8, Y8], axis=1)), ValueError, "shape"),
        (dict(epochs=0), ValueError, "epochs must be >= 1, got 0"),
        (dict(epochs=2.5), TypeError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
        (dict(metrics=["f2"]), ValueError, "unknown metric 'f2'"),
        (dict(validation_data=(X8[:, :7], Y8)), ValueError, "expected 8 features, got 7"),
        (dict(validation_data=(X8,)), TypeError, "pair"),
        (dict(callbacks=[lambda run: None]), TypeError, "Callback"),
    ],
)
def test_bad_arguments_raise_before_training_and_change_nothing(change, error, match):
    model = _article_like()
    opt = _sgd(model, 0.5, momentum=0.9)
    before = _values(model)
    kwargs = dict(X=X8, y=Y8, epochs=3, progress=False) | change
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(error, match=match):
        mn.fit(model, mn.BCE(), opt, X, y, **kwargs)
    assert _same(_values(model), before) and opt.step_count == 0


def test_optimizer_of_another_model_is_refused():
    model, other = _article_like(), _article_like()
    before = _values(model)
    with pytest.raises(ValueError, match="model.parameters()"):
        mn.fit(model, mn.BCE(), _sgd(other), X8, Y8, epochs=1, progress=False)
    assert _same(_values(model), before)


def test_optimizer_holding_only_some_parameters_is_refused():
    model = _article_like()
    with pytest.raises(ValueError, match="model.parameters()"):
        mn.fit(model, mn.BCE(), mn.SGD(model.parameters()[:2], lr=0.1), X8, Y8, epochs=1, progress=False)


@pytest.mark.parametrize("position, bad", [(0, "model"), (1, "loss"), (2, "optimizer")])
def test_wrong_kinds_of_objects_are_refused(position, bad):
    model = _article_like()
    args = [model, mn.BCE(), _sgd(model)]
    args[position] = object()
    with pytest.raises(TypeError, match=bad):
        mn.fit(*args, X8, Y8, epochs=1, progress=False)


def test_a_model_returning_1d_output_gets_a_clear_error():
    class Flatten(mn.Layer):
        def forward(self, x, training=True):
            return x[:, 0]

        def backward(self, grad):
            raise AssertionError("never reached")

    X, y, _model = _tiny_problem()
    flat = mn.Sequential(mn.Dense(2, 1, rng=0), Flatten())
    with pytest.raises(ValueError, match=r"must return a batch \(n_samples, \.\.\.\).*shape \(1,\)"):
        mn.fit(flat, mn.MSE(), mn.SGD(flat.parameters(), lr=0.1), X, y, epochs=1, progress=False)


@pytest.mark.parametrize("optimizer", [mn.SGD, mn.Adam, mn.RMSprop])
def test_a_schedule_too_short_for_the_run_is_refused_before_any_update(optimizer):
    X, y, model = _tiny_problem()
    before = [p.value.copy() for p in model.parameters()]
    opt = optimizer(model.parameters(), lr=mn.OneCycle(max_lr=0.1, total_steps=5))
    with pytest.raises(ValueError, match="lr schedule cannot cover this run.*steps 0 to 8"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=3, batch_size=4, progress=False)
    assert opt.step_count == 0
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


def test_a_momentum_schedule_leaving_zero_one_during_the_run_is_refused_before_any_update():
    X, y, model = _tiny_problem()
    opt = mn.SGD(model.parameters(), lr=0.1, momentum=lambda step: 0.9 if step < 5 else 1.0)
    with pytest.raises(ValueError, match=r"momentum schedule cannot cover this run.*momentum must lie in \[0, 1\)"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=3, batch_size=4, progress=False)
    assert opt.step_count == 0


def test_a_schedule_that_exactly_covers_the_run_is_accepted():
    X, y, model = _tiny_problem()
    opt = mn.SGD(model.parameters(), lr=mn.OneCycle(max_lr=0.1, total_steps=9))
    mn.fit(model, mn.BCE(), opt, X, y, epochs=3, batch_size=4, progress=False)
    assert opt.step_count == 9


# -- evaluate ---------------------------------------------------------------------------------


def test_evaluate_scores_in_inference_mode_and_matches_the_loss():
    X, y, model = _tiny_problem()
    scores = mn.evaluate(model, mn.BCE(), X, y, metrics=["accuracy"])
    pred = model.predict(X)
    assert scores["loss"] == mn.BCE().forward(pred, y)
    assert scores["accuracy"] == np.mean((pred[:, 0] > 0.5) == (y > 0.5))


def test_evaluate_validates_like_fit():
    X, y, model = _tiny_problem()
    with pytest.raises(ValueError, match="X and y must have the same number of samples, got 12 and 11"):
        mn.evaluate(model, mn.BCE(), X, y[:-1])
    with pytest.raises(ValueError, match="expected 2 features, got 3"):
        mn.evaluate(model, mn.BCE(), np.ones((4, 3)), np.ones(4))


def test_evaluate_scores_a_non_finite_output_as_nan():
    class Overflow(mn.Layer):
        def forward(self, x, training=True):
            return np.full_like(x, np.inf)

        def backward(self, grad):
            return grad

    X, y, _ = _tiny_problem()
    model = mn.Sequential(mn.Dense(2, 1, rng=0), Overflow())
    scores = mn.evaluate(model, mn.MSE(), X, y, metrics=["accuracy"])
    assert list(scores) == ["loss", "accuracy"] and all(math.isnan(v) for v in scores.values())


# -- the article's configuration, end to end -------------------------------------------------


@pytest.mark.parametrize("weight_seed", [0, 1, 2])
def test_article_configuration_reaches_74_percent_held_out(weight_seed):
    # As examples/diabetes.py: stratified 80/20 split, standardised on the training rows,
    # 8-16-1 sigmoid network with small normal weights, BCE, full-batch SGD at lr=0.1, 1500 epochs.
    X, y = mn.datasets.load_diabetes()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    scaler = mn.data.Standardizer().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    rng = np.random.default_rng(weight_seed)
    model = mn.Sequential(
        mn.Dense(8, 16, init="normal", rng=rng), mn.Sigmoid(), mn.Dense(16, 1, init="normal", rng=rng), mn.Sigmoid()
    )
    history = mn.fit(
        model,
        mn.BCE(),
        _sgd(model, 0.1),
        X_train,
        y_train,
        epochs=1500,
        batch_size=None,
        validation_data=(X_test, y_test),
        metrics=["accuracy"],
        progress=False,
    )
    losses = np.array(history["loss"])
    assert losses[0] == pytest.approx(math.log(2), abs=0.01)  # tiny weights: p = 0.5 everywhere
    assert losses[-1] < 0.5
    assert np.all(np.diff(losses) < 0)  # full-batch descent at a modest rate: the loss falls every epoch
    assert history["val_accuracy"][-1] >= 0.74
    assert mn.metrics.accuracy(y_test.reshape(-1, 1), model.predict(X_test)) == history["val_accuracy"][-1]


# -- multi-class: CrossEntropy on integer labels, Dropout and BatchNorm ----------------------


def _three_blobs(n_per_class: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = np.repeat(np.arange(3), n_per_class)
    return centres[y] + gen.standard_normal((len(y), 2)), y


def _classifier(dtype=np.float64) -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(2, 16, init="he", seed=0, dtype=dtype),
        mn.BatchNorm(16, dtype=dtype),
        mn.ReLU(),
        mn.Dropout(0.2, seed=1),
        mn.Dense(16, 3, seed=2, dtype=dtype),
    )


def test_fit_trains_a_dropout_batchnorm_classifier_on_integer_labels():
    X, y = _three_blobs()
    X_val, y_val = _three_blobs(20, seed=1)
    model = _classifier()
    history = mn.fit(
        model,
        mn.CrossEntropy(),
        _sgd(model, 0.1, momentum=0.9),
        X,
        y,
        epochs=15,
        batch_size=16,
        validation_data=(X_val, y_val),
        metrics=["accuracy"],
        seed=0,
        progress=False,
    )
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] >= 0.95
    scores = mn.evaluate(model, mn.CrossEntropy(), X_val, y_val, metrics=["accuracy"], batch_size=7)
    assert scores["accuracy"] == pytest.approx(history.history["val_accuracy"][-1], rel=1e-12)
    assert scores["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-12)
    pred = model.predict(X_val)
    assert pred.shape == (60, 3) and np.mean(pred.argmax(axis=1) == y_val) == pytest.approx(scores["accuracy"])
    assert model[1].num_batches_tracked == 15 * 8  # 120 rows in batches of 16: 8 per epoch


def test_fit_refuses_a_label_the_model_has_no_output_for_before_training():
    X, y = _three_blobs()
    model = _classifier()
    before = _values(model)
    with pytest.raises(ValueError, match=r"y must be class indices < n_classes=3, got 3 at index 5"):
        mn.fit(model, mn.CrossEntropy(), _sgd(model), X, np.where(np.arange(120) == 5, 3, y), epochs=1, progress=False)
    assert _same(_values(model), before) and model[1].num_batches_tracked == 0


def test_inference_between_forward_and_backward_leaves_dropout_and_batchnorm_training_alone():
    X, y = _three_blobs()
    other = X[::-1] * 2

    def step(model: mn.Sequential, interrupt: bool):
        loss = mn.CrossEntropy()
        loss.forward(model.forward(X), y)
        if interrupt:
            model.predict(other)
            mn.evaluate(model, mn.CrossEntropy(), other, y, metrics=["accuracy"], batch_size=32)
            model.summary()
        dx = model.backward(loss.backward())
        return dx, [p.grad.copy() for p in model.parameters()], [layer.get_state() for layer in model]

    dx, grads, states = step(_classifier(), interrupt=False)
    dx_i, grads_i, states_i = step(_classifier(), interrupt=True)
    np.testing.assert_array_equal(dx_i, dx)
    for a, b in zip(grads_i, grads):
        np.testing.assert_array_equal(a, b)
    # Inference neither moved the running statistics nor drew a dropout mask.
    assert states_i[3] == states[3]
    np.testing.assert_array_equal(states_i[1]["running_mean"], states[1]["running_mean"])
    np.testing.assert_array_equal(states_i[1]["running_var"], states[1]["running_var"])
    assert states_i[1]["num_batches_tracked"] == states[1]["num_batches_tracked"] == 1


def test_a_float32_classifier_with_dropout_and_batchnorm_stays_float32():
    X, y = _three_blobs()
    model = _classifier(np.float32)
    seen = []
    for layer in model:
        forward, backward = layer.forward, layer.backward

        def logged_forward(x, training=True, _f=forward):
            out = _f(x, training)
            seen.extend([x.dtype, out.dtype])
            return out

        def logged_backward(grad, *args, _b=backward, **kwargs):
            out = _b(grad, *args, **kwargs)
            seen.extend([grad.dtype] + ([] if out is None else [out.dtype]))
            return out

        layer.forward, layer.backward = logged_forward, logged_backward
    mn.fit(
        model,
        mn.CrossEntropy(),
        _sgd(model, momentum=0.9),
        X.astype(np.float32),
        y,
        epochs=2,
        batch_size=32,
        validation_data=(X, y),
        progress=False,
    )
    assert set(seen) == {np.dtype(np.float32)}
    assert all(p.value.dtype == p.grad.dtype == np.float32 for p in model.parameters())
    assert model[1].running_var.dtype == np.float32 and model.predict(X).dtype == np.float32


def test_a_single_outputs_loss_weight_scales_its_loss_and_its_steps():
    def run(weights, lr):
        model = mn.Sequential(mn.Dense(3, 1, seed=0))
        X = np.random.default_rng(0).standard_normal((8, 3))
        history = mn.fit(
            model,
            mn.MSE(),
            mn.SGD(model.parameters(), lr=lr),
            X,
            X.sum(axis=1),
            epochs=3,
            loss_weights=weights,
            progress=False,
        )
        return history.history["loss"], model[0].W.value

    plain_loss, plain_W = run(None, 0.1)
    weighted_loss, weighted_W = run([4.0], 0.025)  # 4 x the gradient at a quarter of the rate: the same steps
    np.testing.assert_allclose(weighted_loss, [4 * v for v in plain_loss], rtol=1e-12)
    np.testing.assert_allclose(weighted_W, plain_W, rtol=1e-12)
    assert not np.allclose(run([4.0], 0.1)[1], plain_W)  # and the weight really is applied
    one_loss, one_W = run([1.0], 0.1)
    assert one_loss == plain_loss and np.array_equal(one_W, plain_W)  # a weight of 1 changes no bit


# -- images: N-d batches end to end -------------------------------------------------------


def _digit_images(n=120):
    X, y = mn.datasets.load_digits(images=True)
    return X[:n] / 16.0, y[:n]


def _small_cnn():
    return mn.Sequential(
        mn.Conv2D(1, 4, 3, seed=0), mn.ReLU(), mn.MaxPool2D(2), mn.Flatten(), mn.Dense(4 * 3 * 3, 10, seed=1)
    )


def test_a_cnn_fits_predicts_evaluates_and_summarises_on_images():
    X, y = _digit_images()
    model = _small_cnn()
    history = mn.fit(
        model, mn.CrossEntropy(), mn.Adam(model.parameters(), lr=0.01), X, y,
        epochs=3, batch_size=32, validation_split=0.1, metrics=["accuracy"], seed=0, progress=False,
    )  # fmt: skip
    assert set(history.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = model.predict(X, batch_size=50)  # three batches, the last partial
    assert scores.shape == (120, 10) and np.array_equal(scores, model.predict(X, batch_size=120))
    result = mn.evaluate(model, mn.CrossEntropy(), X, y, metrics=["accuracy"], batch_size=64)
    assert result["accuracy"] == np.mean(scores.argmax(axis=1) == y)
    summary = model.summary(input_shape=(1, 8, 8))
    assert "(None, 4, 6, 6)" in summary and "(None, 4, 3, 3)" in summary and "(None, 36)" in summary


def test_a_cnn_graph_fits_like_the_same_sequential():
    X, y = _digit_images()
    x = mn.Input((1, 8, 8))
    h = mn.MaxPool2D(2)(mn.ReLU()(mn.Conv2D(1, 4, 3, seed=0)(x)))
    graph = mn.Graph(inputs=x, outputs=mn.Dense(4 * 3 * 3, 10, seed=1)(mn.Flatten()(h)))
    chain = _small_cnn()
    for model in (graph, chain):
        mn.fit(
            model, mn.CrossEntropy(), mn.Adam(model.parameters()), X, y, epochs=2, batch_size=32, seed=0, progress=False
        )
    for a, b in zip(graph.parameters(), chain.parameters()):
        assert np.array_equal(a.value, b.value)


def test_a_model_of_images_refuses_a_table_before_any_update():
    X, y = _digit_images()
    model = _small_cnn()
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^X: Conv2D\(1, 4, 3\) expected a batch of images of shape \(n, 1, H, W\)"):
        mn.fit(
            model,
            mn.CrossEntropy(),
            mn.SGD(model.parameters(), lr=0.1),
            X.reshape(120, 64),
            y,
            epochs=1,
            progress=False,
        )
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


# -- metrics accumulated over the epoch ------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
def test_an_accumulating_metrics_epoch_value_is_that_of_all_the_epochs_predictions(blobs, shuffle):
    X, y = blobs
    gen = np.random.default_rng(3)
    y = np.where(gen.random(len(y)) < 0.2, 1 - y, y)  # label noise: the metrics are not 1
    model = mn.Sequential(mn.Dense(2, 1, seed=0))
    # lr=0: every batch meets the same model, so the epoch's predictions are those of predict.
    history = mn.fit(
        model,
        mn.BCE(from_logits=True),
        mn.SGD(model.parameters(), lr=0.0),
        X,
        y,
        epochs=1,
        batch_size=10,
        shuffle=shuffle,
        seed=0,
        metrics=["f1", "auc", "precision"],
        validation_data=(X, y),
        validation_batch_size=10,
        progress=False,
    )
    scores = model.predict(X)
    for name, metric in [("f1", mn.metrics.F1), ("auc", mn.metrics.AUC), ("precision", mn.metrics.Precision)]:
        whole = metric(threshold=0.0)(y, scores) if name != "auc" else metric()(y, scores)
        assert history[name][0] == pytest.approx(whole, rel=1e-12)
        assert history[f"val_{name}"][0] == pytest.approx(whole, rel=1e-12)
    # ... which is not the mean over the batches that a plain callable metric would give.
    f1 = mn.metrics.F1(threshold=0.0)
    batch_mean = np.mean([f1(y[i : i + 10], scores[i : i + 10]) for i in range(0, len(y), 10)])
    assert abs(history["f1"][0] - batch_mean) > 1e-3


def test_regression_metrics_in_fit_are_those_of_the_whole_epoch():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((30, 3))
    Y = X @ gen.standard_normal((3, 2)) + 5.0
    model = mn.Sequential(mn.Dense(3, 2, seed=0))
    history = mn.fit(
        model,
        mn.MSE(),
        mn.SGD(model.parameters(), lr=0.0),
        X,
        Y,
        epochs=1,
        batch_size=7,
        metrics=["r2", "rmse", "mae"],
        progress=False,
    )
    P = model.predict(X)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    assert history["r2"][0] == pytest.approx(np.mean(1 - ((Y - P) ** 2).sum(axis=0) / ss_tot), rel=1e-12)
    assert history["rmse"][0] == pytest.approx(np.mean(np.sqrt(((Y - P) ** 2).mean(axis=0))), rel=1e-12)
    assert history["mae"][0] == pytest.approx(np.abs(Y - P).mean(), rel=1e-12)


def test_cross_entropy_metrics_in_fit_read_labels_and_logits():
    X, y = mn.datasets.load_digits()
    X, y = X[:200] / 16.0, y[:200]
    model = mn.Sequential(mn.Dense(64, 10, seed=0))
    history = mn.fit(
        model,
        mn.CrossEntropy(),
        mn.SGD(model.parameters(), lr=0.0),
        X,
        y,
        epochs=1,
        batch_size=32,
        metrics=["auc", "top_k_accuracy", mn.metrics.F1(average="micro"), "accuracy"],
        progress=False,
    )
    scores = model.predict(X)
    assert history["auc"][0] == pytest.approx(mn.metrics.AUC(from_logits=True)(y, scores), rel=1e-12)
    assert history["top_k_accuracy"][0] == mn.metrics.TopKAccuracy(k=5)(y, scores)
    assert history["f1"][0] == pytest.approx(history["accuracy"][0], rel=1e-12)  # micro F1 of single labels
