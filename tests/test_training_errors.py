"""Failures after training has started: one TrainingError that names the cause and keeps the history.

And what can be checked before the first update is checked there: every
metric on a few rows, every schedule value of the run, the checkpoint folder.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from rows import row

import minnet as mn


class RecordingSGD(mn.SGD):
    """SGD that keeps the parameter values after each successful step."""

    def step(self):
        super().step()
        self.last_good = [p.value.copy() for p in self.params]


def line(w=0.5):
    model = mn.Sequential(mn.Dense(1, 1, bias=False))
    model[0].W.value[...] = w
    return model


X, Y = np.ones((8, 1)), np.ones(8)


@row("after-start-loss")
def test_a_loss_that_refuses_the_output_after_some_updates_is_a_training_error():
    """A probability model without a final Sigmoid drifts past 1: BCE refuses it mid-run."""
    model = line()
    opt = RecordingSGD(model.parameters(), lr=0.05)
    with pytest.raises(
        mn.TrainingError,
        match=r"training stopped at epoch \d+, batch \d/2: ValueError: "
        r"BCE\(from_logits=False\) expects probabilities",
    ) as info:
        mn.fit(model, mn.BCE(), opt, X, Y, epochs=200, batch_size=4, shuffle=False, progress=False)
    error = info.value
    assert not isinstance(error, mn.TrainingDiverged) and isinstance(error.__cause__, ValueError)
    assert error.history is not None and len(error.history) == error.epoch - 1 >= 1
    assert error.batch in (1, 2) and f"batch {error.batch}/2" in str(error)
    np.testing.assert_array_equal(model[0].W.value, opt.last_good[0])  # the last completed step


@row("after-start-metric")
def test_a_metric_that_raises_mid_run_is_named():
    calls = []

    def flaky(y_true, y_pred):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("lost connection to the metrics server")
        return 0.5

    model = line()
    opt = RecordingSGD(model.parameters(), lr=0.01)
    with pytest.raises(mn.TrainingError, match="metric 'flaky' raised RuntimeError: lost connection") as info:
        mn.fit(model, mn.MSE(), opt, X, Y, epochs=5, batch_size=4, shuffle=False, metrics=[flaky], progress=False)
    assert (info.value.epoch, info.value.batch) == (2, 1) and len(info.value.history) == 1
    # The metric runs after the update it reports on: that step completed.
    np.testing.assert_array_equal(model[0].W.value, opt.last_good[0])


@row("metric-checked-first")
@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda t, p: "high", r"metric 'bad' returned 'high' \(str\); a metric returns one number"),
        (lambda t, p: np.ones(3), r"metric 'bad' returned array"),
        (lambda t, p: 1 / 0, r"metric 'bad' raised ZeroDivisionError"),
    ],
)
def test_a_bad_metric_is_refused_before_the_first_update(bad, match):
    bad.__name__ = "bad"
    model = line()
    with pytest.raises(ValueError, match=match):
        mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=0.1), X, Y, epochs=3, metrics=[bad], progress=False)
    assert model[0].W.value[0, 0] == 0.5


@row("schedule-checked-first")
@pytest.mark.parametrize(
    "schedule, match",
    [
        (lambda step: math.nan if step == 5 else 0.1, r"returned nan at step 5"),
        (
            lambda step: -0.1 if step == 7 else 0.1,
            r"cannot cover this run, which takes optimizer steps 0 to 9: .* returned -0.1 at step 7; "
            r"lr must be a finite float >= 0",
        ),
        (lambda step: "fast", r"returned 'fast' at step 0"),
    ],
)
def test_every_schedule_value_of_the_run_is_checked_before_the_first_update(schedule, match):
    model = line()
    with pytest.raises(ValueError, match=match):
        mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=schedule), X, Y, epochs=5, batch_size=4, progress=False)
    assert model[0].W.value[0, 0] == 0.5


def test_a_momentum_schedule_outside_0_1_at_some_step_is_refused_up_front():
    model = line()
    opt = mn.SGD(model.parameters(), lr=0.1, momentum=lambda step: 0.9 if step < 3 else 1.0)
    with pytest.raises(ValueError, match=r"momentum schedule .* returned 1.0 at step 3; momentum must lie in \[0, 1\)"):
        mn.fit(model, mn.MSE(), opt, X, Y, epochs=5, batch_size=4, progress=False)
    assert model[0].W.value[0, 0] == 0.5 and opt.step_count == 0


class RemoveFolder(mn.Callback):
    """Deletes the checkpoint folder after the first epoch, as a full or unmounted disk would fail."""

    def __init__(self, folder):
        self.folder = folder

    def on_epoch_end(self, run, logs):
        shutil.rmtree(self.folder)


@row("after-start-callback")
def test_a_checkpoint_that_cannot_be_written_mid_run_names_the_callback_and_path(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    path = folder / "ckpt.npz"
    model = line()
    opt = RecordingSGD(model.parameters(), lr=0.01)
    with pytest.raises(
        mn.TrainingError,
        match=r"after epoch 1's updates: callback Checkpoint\('.*ckpt.npz'\) "
        r"failed",
    ) as info:
        mn.fit(
            model, mn.MSE(), opt, X, Y, epochs=3, progress=False, callbacks=[RemoveFolder(folder), mn.Checkpoint(path)]
        )
    assert info.value.epoch == 1 and len(info.value.history) == 1
    np.testing.assert_array_equal(model[0].W.value, opt.last_good[0])


class FailAtEnd(mn.Callback):
    """A callback whose ``on_train_end`` raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def on_train_end(self, run):
        raise self.error


class RecordEnd(mn.Callback):
    """Keeps the parameters after epoch 1 and notes that its ``on_train_end`` ran."""

    def __init__(self) -> None:
        self.first: list[np.ndarray] = []
        self.ended = False

    def on_epoch_end(self, run, logs):
        if run.epoch == 1:
            self.first = [p.value.copy() for p in run.model.parameters()]

    def on_train_end(self, run):
        self.ended = True


@row("callback-fails-at-train-end")
@pytest.mark.parametrize("n_failing", [1, 2])
def test_a_callback_failing_at_train_end_lets_the_others_end_the_run_then_is_a_training_error(n_failing):
    model = line()
    failing = [FailAtEnd(OSError("upload refused")), FailAtEnd(KeyError("wandb"))][:n_failing]
    best = mn.EarlyStopping("loss", mode="max", patience=10)  # the loss falls: epoch 1 stays the best
    record = RecordEnd()
    more = r" \(1 more failed too: FailAtEnd\(\) with KeyError\)" if n_failing == 2 else ""
    with pytest.raises(
        mn.TrainingError,
        match=r"^training ended after epoch 3, but callback FailAtEnd\(\) failed in on_train_end: "
        r"OSError: upload refused" + more + r"\. Every callback's on_train_end was called\.$",
    ) as info:
        mn.fit(
            model,
            mn.MSE(),
            mn.SGD(model.parameters(), lr=0.05),
            X,
            Y,
            epochs=3,
            progress=False,
            callbacks=[*failing, best, record],
        )
    error = info.value
    assert isinstance(error.__cause__, OSError) and (error.epoch, error.batch) == (3, 0)
    assert error.history is not None and error.history.epoch == [1, 2, 3] and len(error.history["loss"]) == 3
    assert record.ended  # the callbacks after the failing ones still ended the run...
    np.testing.assert_array_equal(model[0].W.value, record.first[0])  # ...EarlyStopping restoring epoch 1


def test_a_checkpoint_folder_that_does_not_exist_is_refused_before_training(tmp_path):
    model = line()
    with pytest.raises((ValueError, FileNotFoundError, OSError)):
        mn.fit(
            model,
            mn.MSE(),
            mn.SGD(model.parameters(), lr=0.1),
            X,
            Y,
            epochs=2,
            progress=False,
            callbacks=[mn.Checkpoint(tmp_path / "missing" / "ckpt.npz")],
        )
    assert model[0].W.value[0, 0] == 0.5


def test_training_diverged_is_a_training_error():
    assert issubclass(mn.TrainingDiverged, mn.TrainingError) and issubclass(mn.TrainingError, RuntimeError)


# -- validation_split (as Keras: the last rows, before shuffling) ---------------------


def test_validation_split_holds_out_the_last_rows():
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((50, 3)), gen.standard_normal(50)

    def model():
        return mn.Sequential(mn.Dense(3, 1, seed=0))

    a, b = model(), model()
    split = mn.fit(
        a,
        mn.MSE(),
        mn.SGD(a.parameters(), lr=0.05),
        X,
        y,
        epochs=3,
        batch_size=8,
        seed=1,
        validation_split=0.2,
        progress=False,
    )
    explicit = mn.fit(
        b,
        mn.MSE(),
        mn.SGD(b.parameters(), lr=0.05),
        X[:40],
        y[:40],
        epochs=3,
        batch_size=8,
        seed=1,
        validation_data=(X[40:], y[40:]),
        progress=False,
    )
    assert split.history == explicit.history and "val_loss" in split.history


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(validation_split=1.0), ValueError, "validation_split must be < 1.0"),
        (dict(validation_split=0.9), ValueError, "leaves 0 for training and 8 for validation"),
        (dict(validation_split="0.2"), TypeError, "validation_split must be a real number"),
        (dict(validation_split=0.2, validation_data=(X, Y)), ValueError, "not both"),
    ],
)
def test_bad_validation_splits_are_refused(kwargs, error, match):
    model = line()
    with pytest.raises(error, match=match):
        mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=0.1), X, Y, epochs=1, progress=False, **kwargs)


def stateful_net(seed=0):
    """Dense, BatchNorm (running statistics), ReLU, Dropout (a generator), Dense: state the forward changes."""
    return mn.Sequential(
        mn.Dense(2, 4, seed=seed), mn.BatchNorm(4), mn.ReLU(), mn.Dropout(0.5, seed=seed), mn.Dense(4, 1, seed=seed + 1)
    )


def layer_states(model):
    return [layer.get_state() for layer in model]


def assert_same_states(a, b):
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for key in sa:
            if isinstance(sa[key], np.ndarray):
                np.testing.assert_array_equal(sa[key], sb[key])
            else:
                assert sa[key] == sb[key], key


@row("failed-step-keeps-layer-state")
@pytest.mark.parametrize("failure", ["diverged", "loss-refuses"])
def test_a_failed_step_puts_the_layers_state_back(failure):
    """The step that fails changed the running statistics and drew a dropout mask: both are put back."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(16, 2))
    y = (X[:, 0] > 0).astype(float)
    model = stateful_net()
    if failure == "diverged":
        X[5] = [1e308, 1e308]  # finite, but its activations overflow: the loss is NaN
        model[0].W.value[...] = 1.0
        loss, expected = mn.BCE(from_logits=True), mn.TrainingDiverged
    else:
        X += 3.0  # no final Sigmoid: BCE refuses outputs outside [0, 1] on the first batch
        loss, expected = mn.BCE(), mn.TrainingError
    # One good epoch first, so that there are running statistics and a generator position to keep.
    mn.fit(model, loss, mn.SGD(model.parameters(), lr=0.0), X[:4] * 0 + 0.1, y[:4] * 0, epochs=1, progress=False)
    before, x_probe = layer_states(model), X[:3].copy()
    x_probe[:] = 0.5
    predicted = model.predict(x_probe)
    with pytest.raises(expected):
        mn.fit(model, loss, mn.SGD(model.parameters(), lr=0.1), X, y, epochs=1, progress=False)
    assert_same_states(layer_states(model), before)
    np.testing.assert_array_equal(model.predict(x_probe), predicted)
