"""The hooks, EarlyStopping, ReduceLROnPlateau, CSVLogger, LambdaCallback, Checkpoint and fit(..., resume=)."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest
from rows import row

import minnet as mn
from minnet.callbacks import HOOKS, overriding


def data(n=60, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, 3))
    y = (X[:, 0] - 0.5 * X[:, 1] > 0).astype(float)
    return X, y


def build(dtype=np.float64, seeds=(0, 1)):
    model = mn.Sequential(
        mn.Dense(3, 6, rng=seeds[0], dtype=dtype), mn.Tanh(), mn.Dense(6, 1, rng=seeds[1], dtype=dtype), mn.Sigmoid()
    )
    opt = mn.SGD(model.parameters(), lr=mn.CyclicLR(0.01, 0.8, step_size_up=5), momentum=0.9, nesterov=True)
    return model, opt


def values(model):
    return [p.value.copy() for p in model.parameters()]


def same(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


FIT = dict(batch_size=7, shuffle=True, progress=False)


# -- EarlyStopping ----------------------------------------------------------------


class Feed(mn.Callback):
    """Overwrite the monitored value with a scripted sequence, to test the stopping rule alone."""

    def __init__(self, sequence):
        self.sequence = sequence

    def on_epoch_end(self, run, logs):
        logs["loss"] = self.sequence[run.epoch - 1]


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    X, y = data()
    model, opt = build()
    stop = mn.EarlyStopping("loss", patience=2, restore_best=False)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=20, callbacks=[Feed([5, 4, 4.5, 4.2, 1, 1]), stop], **FIT)
    assert len(history) == 4 and stop.stopped_epoch == 4 and stop.best == 4 and stop.best_epoch == 2


def test_early_stopping_min_delta_ignores_small_improvements():
    X, y = data()
    model, opt = build()
    stop = mn.EarlyStopping("loss", patience=2, min_delta=0.5, restore_best=False)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=20, callbacks=[Feed([5, 4.8, 4.6, 1, 1]), stop], **FIT)
    assert stop.stopped_epoch == 3 and stop.best == 5


def test_early_stopping_restores_the_best_parameters():
    X, y = data()
    model, opt = build()
    seen = []

    class Record(mn.Callback):
        def on_epoch_end(self, run, logs):
            seen.append(values(run.model))

    stop = mn.EarlyStopping("loss", patience=3)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=20, callbacks=[Record(), Feed([3, 1, 2, 2, 2, 2]), stop], **FIT)
    assert stop.best_epoch == 2
    assert same(values(model), seen[1]) and not same(values(model), seen[-1])


@pytest.mark.parametrize(
    "kwargs, feed, match",
    [
        (dict(restore_best=False), [3, 1], "no best model to restore: restore_best=False keeps none"),
        (dict(mode="max"), [float("nan")] * 2, "no best model to restore: no epoch has improved"),
    ],
)
def test_early_stopping_restore_says_why_it_has_no_best_model(kwargs, feed, match):
    X, y = data()
    model, opt = build()
    stop = mn.EarlyStopping("loss", **kwargs)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[Feed(feed), stop], **FIT)
    with pytest.raises(ValueError, match=match):
        stop.restore(model)


def test_early_stopping_restore_refuses_another_architecture_and_changes_nothing():
    X, y = data()
    model, opt = build()
    stop = mn.EarlyStopping("loss")
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[Feed([1, 2]), stop], **FIT)
    other = mn.Sequential(mn.Dense(2, 1, seed=0), mn.Sigmoid())
    before = values(other)
    with pytest.raises(ValueError, match=r"kept the best model of another architecture than Sequential"):
        stop.restore(other)
    assert same(values(other), before)


def test_early_stopping_maximises_accuracy_keys():
    stop = mn.EarlyStopping("val_accuracy")
    assert stop._minimize is False and mn.EarlyStopping("val_loss")._minimize is True


def test_early_stopping_unknown_monitor_fails_before_training():
    X, y = data()
    model, opt = build()
    before = values(model)
    with pytest.raises(ValueError, match="'val_loss'.*validation_data"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=3, callbacks=[mn.EarlyStopping()], **FIT)
    assert same(values(model), before) and opt.step_count == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(monitor=3), TypeError, "monitor"),
        (dict(patience=-1), ValueError, "patience"),
        (dict(patience=2.5), TypeError, "patience"),
        (dict(min_delta=-0.1), ValueError, "min_delta"),
        (dict(min_delta=float("nan")), ValueError, "min_delta"),
        (dict(restore_best="yes"), TypeError, "restore_best"),
        (dict(mode="up"), ValueError, "mode"),
    ],
)
def test_early_stopping_validates_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.EarlyStopping(**kwargs)


# -- Checkpoint --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(path=3), TypeError, "path"),
        (dict(path="c.npz", every=0), ValueError, "every"),
        (dict(path="c.npz", every="2"), TypeError, "every"),
    ],
)
def test_checkpoint_validates_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.Checkpoint(**kwargs)


def test_checkpoint_into_missing_directory_fails_before_training(tmp_path):
    X, y = data()
    model, opt = build()
    before = values(model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.Checkpoint(tmp_path / "no" / "c.npz")], **FIT)
    assert same(values(model), before) and opt.step_count == 0


def test_checkpoint_saves_every_n_epochs_and_at_the_end(tmp_path):
    X, y = data()
    model, opt = build()
    saved = []

    class Spy(mn.Checkpoint):
        def on_epoch_end(self, run, logs):
            super().on_epoch_end(run, logs)
            if self.last_saved_epoch == run.epoch:
                saved.append(run.epoch)

    mn.fit(model, mn.BCE(), opt, X, y, epochs=7, callbacks=[Spy(tmp_path / "c.npz", every=3)], **FIT)
    assert saved == [3, 6, 7]
    assert os.listdir(tmp_path) == ["c.npz"]


def test_checkpoint_file_is_a_loadable_model(tmp_path):
    X, y = data()
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.Checkpoint(tmp_path / "c.npz")], **FIT)
    assert same(values(mn.load(tmp_path / "c.npz")), values(model))


def test_checkpoint_runs_after_the_other_callbacks(tmp_path):
    X, y = data()
    model, opt = build()
    stop = mn.EarlyStopping("loss", patience=1)
    # Listed first, yet the state it saves for epoch 2 already includes EarlyStopping's epoch 2.
    history = mn.fit(
        model,
        mn.BCE(),
        opt,
        X,
        y,
        epochs=5,
        callbacks=[mn.Checkpoint(tmp_path / "c.npz", every=10), Feed([1.0, 2.0]), stop],
        **FIT,
    )
    assert len(history) == 2
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        meta = json.loads(f["__minnet__"].tobytes())
    saved = {c["class"]: c["state"] for c in meta["checkpoint"]["callbacks"]}
    assert saved["EarlyStopping"]["wait"] == 1 and saved["EarlyStopping"]["stopped_epoch"] == 2
    assert meta["checkpoint"]["stop_training"] is True


def test_checkpoint_repr():
    assert repr(mn.Checkpoint("run.npz", every=5)) == "Checkpoint('run.npz', every=5)"


# -- resume ------------------------------------------------------------------


def uninterrupted(epochs, dtype=np.float64, callbacks=()):
    X, y = data()
    model, opt = build(dtype)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, seed=5, callbacks=list(callbacks), **FIT)
    return model, opt, history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resume_after_ctrl_c_is_bit_identical(tmp_path, dtype, interrupt_at):
    model_a, opt_a, hist_a = uninterrupted(9, dtype)
    X, y = data()
    path = tmp_path / "run.npz"
    model_b, opt_b = build(dtype)
    hist_b = mn.fit(
        model_b, mn.BCE(), opt_b, X, y, epochs=9, seed=5, callbacks=[mn.Checkpoint(path), interrupt_at(4)], **FIT
    )
    assert len(hist_b) == 4
    # A fresh process: new objects, different initial weights, no seed.
    model_c, opt_c = build(dtype, seeds=(7, 8))
    hist_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=9, resume=path, callbacks=[mn.Checkpoint(path)], **FIT)
    assert same(values(model_c), values(model_a))
    assert opt_c.step_count == opt_a.step_count
    assert all(np.array_equal(a, c) for a, c in zip(opt_a.buffers, opt_c.buffers))
    assert hist_c.history == hist_a.history and hist_c.epoch == hist_a.epoch == list(range(1, 10))


def test_resume_after_interruption_mid_epoch_uses_the_last_checkpoint(tmp_path):
    model_a, _, hist_a = uninterrupted(6)
    X, y = data()
    path = tmp_path / "run.npz"
    calls = []

    def interrupting_metric(y_true, y_pred):
        calls.append(1)
        if len(calls) == 3 * 9 + 4:  # 9 batches per epoch: Ctrl-C in the middle of epoch 4
            raise KeyboardInterrupt
        return 0.0

    model_b, opt_b = build()
    hist_b = mn.fit(
        model_b,
        mn.BCE(),
        opt_b,
        X,
        y,
        epochs=6,
        seed=5,
        metrics=[interrupting_metric],
        callbacks=[mn.Checkpoint(path)],
        **FIT,
    )
    assert len(hist_b) == 3
    model_c, opt_c = build()
    hist_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=6, resume=path, metrics=[interrupting_metric], **FIT)
    assert same(values(model_c), values(model_a))
    assert hist_c["loss"] == hist_a["loss"]


def test_resume_restores_early_stopping_state(tmp_path, interrupt_at):
    model_a, _, hist_a = uninterrupted(12, callbacks=[mn.EarlyStopping("loss", patience=2, min_delta=0.01)])
    X, y = data()
    path = tmp_path / "run.npz"
    model_b, opt_b = build()
    mn.fit(
        model_b,
        mn.BCE(),
        opt_b,
        X,
        y,
        epochs=12,
        seed=5,
        callbacks=[mn.EarlyStopping("loss", patience=2, min_delta=0.01), mn.Checkpoint(path), interrupt_at(3)],
        **FIT,
    )
    model_c, opt_c = build()
    stop = mn.EarlyStopping("loss", patience=2, min_delta=0.01)
    hist_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=12, resume=path, callbacks=[stop], **FIT)
    assert hist_c.history == hist_a.history
    assert same(values(model_c), values(model_a))


def test_resume_of_a_finished_run_returns_its_history_without_training(tmp_path):
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt = build()
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=3, callbacks=[mn.Checkpoint(path)], **FIT)
    model_b, opt_b = build(seeds=(3, 4))
    with pytest.warns(UserWarning, match=r"nothing to train: .* has completed 3 epoch\(s\), and epochs=3"):
        again = mn.fit(model_b, mn.BCE(), opt_b, X, y, epochs=3, resume=path, **FIT)
    assert again.history == history.history
    assert same(values(model_b), values(model)) and opt_b.step_count == opt.step_count


def test_the_nothing_to_train_warning_names_the_line_that_called_fit(tmp_path):
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.Checkpoint(path)], **FIT)
    with pytest.warns(UserWarning, match="nothing to train") as caught:
        mn.fit(model, mn.BCE(), opt, X, y, epochs=2, resume=path, **FIT)
    assert caught[0].filename == __file__


def test_resume_can_extend_a_finished_run(tmp_path):
    model_a, _, hist_a = uninterrupted(5)
    X, y = data()
    path = tmp_path / "run.npz"
    model_b, opt_b = build()
    mn.fit(model_b, mn.BCE(), opt_b, X, y, epochs=2, seed=5, callbacks=[mn.Checkpoint(path)], **FIT)
    model_c, opt_c = build()
    hist_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=5, resume=path, **FIT)
    assert same(values(model_c), values(model_a)) and hist_c.history == hist_a.history


def checkpoint_of_two_epochs(tmp_path):
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.Checkpoint(path)], **FIT)
    return path


def assert_resume_refused(path, model, opt, error, match):
    X, y = data()
    before, steps = values(model), opt.step_count
    with pytest.raises(error, match=match):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=4, resume=path, **FIT)
    assert same(values(model), before) and opt.step_count == steps


def test_resume_from_missing_file(tmp_path):
    assert_resume_refused(tmp_path / "none.npz", *build(), FileNotFoundError, "no such file")


def test_resume_into_a_different_architecture_is_refused(tmp_path):
    path = checkpoint_of_two_epochs(tmp_path)
    model = mn.Sequential(mn.Dense(3, 5, rng=0), mn.Tanh(), mn.Dense(5, 1, rng=1), mn.Sigmoid())
    opt = mn.SGD(model.parameters(), lr=0.1)
    assert_resume_refused(path, model, opt, ValueError, r"model\[0\] \(Dense\) has config")


def test_resume_with_a_different_optimizer_class_is_refused(tmp_path):
    path = checkpoint_of_two_epochs(tmp_path)

    class MySGD(mn.SGD):
        pass

    model, _ = build()
    assert_resume_refused(path, model, MySGD(model.parameters(), lr=0.1), ValueError, "SGD optimizer.*MySGD")


def test_resume_with_mismatched_momentum_buffers_changes_nothing(tmp_path):
    path = tmp_path / "run.npz"
    X, y = data()
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=1, callbacks=[mn.Checkpoint(path)], **FIT)
    # Same architecture, but the optimizer holds the parameters in another order.
    model_b, _ = build()
    opt_b = mn.SGD(model_b.parameters()[::-1], lr=mn.CyclicLR(0.01, 0.8, step_size_up=5), momentum=0.9, nesterov=True)
    assert_resume_refused(path, model_b, opt_b, ValueError, r"momentum_buffer\[0\] must be float64 of shape")


def test_resume_from_a_plain_model_file_is_refused(tmp_path):
    model, opt = build()
    mn.save(model, tmp_path / "m.npz")
    assert_resume_refused(tmp_path / "m.npz", model, opt, ValueError, "not a checkpoint")


def test_resume_from_a_truncated_checkpoint_is_refused(tmp_path):
    path = checkpoint_of_two_epochs(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    assert_resume_refused(path, *build(), ValueError, "corrupt or truncated")


def test_resume_refuses_a_non_path():
    assert_resume_refused(42, *build(), TypeError, "resume")


# -- every optimizer trains and resumes bit-identically ------------------------------------

OPTIMIZERS = {
    "adam": lambda params: mn.Adam(params, lr=mn.CyclicLR(0.001, 0.05, step_size_up=5), amsgrad=True),
    "adamw": lambda params: mn.AdamW(params, lr=0.02, betas=(0.8, 0.99)),
    "rmsprop": lambda params: mn.RMSprop(params, lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3),
}


def build_with(name, dtype=np.float64, seeds=(0, 1)):
    model, _ = build(dtype, seeds)
    return model, OPTIMIZERS[name](model.parameters())


def same_state(a, b):
    """Two optimizer state dicts hold the same step count and bit-identical buffers."""
    return (
        a.keys() == b.keys()
        and a["step_count"] == b["step_count"]
        and all(same(a[key], b[key]) for key in a if key != "step_count")
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_trains_and_resumes_bit_identically(tmp_path, name, dtype, interrupt_at):
    X, y = data()
    model_a, opt_a = build_with(name, dtype)
    hist_a = mn.fit(model_a, mn.BCE(), opt_a, X, y, epochs=6, seed=5, **FIT)
    assert hist_a["loss"][-1] < 0.8 * hist_a["loss"][0]  # it trains
    path = tmp_path / "run.npz"
    model_b, opt_b = build_with(name, dtype)
    hist_b = mn.fit(
        model_b, mn.BCE(), opt_b, X, y, epochs=6, seed=5, callbacks=[mn.Checkpoint(path), interrupt_at(3)], **FIT
    )
    assert len(hist_b) == 3
    model_c, opt_c = build_with(name, dtype, seeds=(7, 8))  # a fresh process: new objects and weights
    hist_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=6, resume=path, **FIT)
    assert same(values(model_c), values(model_a))
    assert same_state(opt_c.state_dict(), opt_a.state_dict())
    assert hist_c.history == hist_a.history
    state = opt_c.state_dict()
    assert all(b.dtype == dtype for key in state if key != "step_count" for b in state[key])


@pytest.mark.parametrize(
    "other, match",
    [
        (
            lambda m: mn.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.999)),
            r"optimizer betas \[0.9, 0.999\] in the checkpoint, \[0.8, 0.999\] in this call",
        ),
        (lambda m: mn.Adam(m.parameters(), lr=0.01, amsgrad=True), "optimizer amsgrad False in the checkpoint, True"),
        (lambda m: mn.AdamW(m.parameters(), lr=0.01), "holds the state of a Adam optimizer, this run uses AdamW"),
    ],
)
def test_resume_with_other_adam_settings_is_refused(tmp_path, other, match):
    X, y = data()
    path = tmp_path / "run.npz"
    model, _ = build()
    mn.fit(
        model, mn.BCE(), mn.Adam(model.parameters(), lr=0.01), X, y, epochs=2, callbacks=[mn.Checkpoint(path)], **FIT
    )
    model_b, _ = build(seeds=(3, 4))
    assert_resume_refused(path, model_b, other(model_b), ValueError, match)


# -- resume refuses a call whose settings differ from the checkpointed run's -------


def checkpoint_with_validation(tmp_path):
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt = build()
    mn.fit(
        model,
        mn.BCE(),
        opt,
        X,
        y,
        epochs=2,
        seed=5,
        validation_data=(X[:10], y[:10]),
        callbacks=[mn.Checkpoint(path)],
        **FIT,
    )
    return path


def refused_resume(path, match, *, optimizer=None, n=60, **changes):
    """Resume with ``changes`` to the original call; it must raise naming them and change nothing."""
    X, y = data(n)
    model, opt = build(seeds=(3, 4))
    opt = opt if optimizer is None else optimizer(model)
    kwargs = {**FIT, "validation_data": (X[:10], y[:10]), **changes}
    before, steps = values(model), opt.step_count
    with pytest.raises(ValueError, match=match):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=4, resume=path, **kwargs)
    assert same(values(model), before) and opt.step_count == steps


def cyclic(step_size_up=5):
    return mn.CyclicLR(0.01, 0.8, step_size_up=step_size_up)


@pytest.mark.parametrize(
    "changes, match",
    [
        (
            {"validation_data": None},
            r"logged keys \['loss', 'val_loss', 'lr'\] in the checkpoint, "
            r"\['loss', 'lr'\] in this call",
        ),
        ({"metrics": ["accuracy"]}, r"logged keys .*'accuracy'.* in this call"),
        ({"batch_size": 10}, "batch_size 7 in the checkpoint, 10 in this call"),
        ({"batch_size": None}, "batch_size 7 in the checkpoint, 60 in this call"),
        ({"shuffle": False}, "shuffle True in the checkpoint, False in this call"),
        ({"n": 50}, "number of training samples 60 in the checkpoint, 50 in this call"),
    ],
)
def test_resume_with_other_run_settings_is_refused(tmp_path, changes, match):
    refused_resume(checkpoint_with_validation(tmp_path), match, **changes)


@pytest.mark.parametrize(
    "optimizer, match",
    [
        (
            lambda m: mn.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True),
            r"optimizer lr CyclicLR\(base_lr=0.01.*\) in the checkpoint, 0.1 in this call",
        ),
        (
            lambda m: mn.SGD(m.parameters(), lr=cyclic(step_size_up=6), momentum=0.9, nesterov=True),
            "step_size_up=5.* in the checkpoint, CyclicLR.*step_size_up=6.* in this call",
        ),
        (
            lambda m: mn.SGD(m.parameters(), lr=cyclic(), momentum=0.8, nesterov=True),
            "optimizer momentum 0.9 in the checkpoint, 0.8 in this call",
        ),
        (
            lambda m: mn.SGD(m.parameters(), lr=cyclic(), momentum=0.9),
            "optimizer nesterov True in the checkpoint, False in this call",
        ),
        (
            lambda m: mn.SGD(m.parameters(), lr=cyclic(), momentum=0.9, nesterov=True, weight_decay=1e-4),
            "optimizer weight_decay 0.0 in the checkpoint, 0.0001 in this call",
        ),
        (
            lambda m: mn.SGD(m.parameters(), lr=cyclic(), momentum=0.9, dampening=0.1),
            "optimizer dampening 0.0 in the checkpoint, 0.1 in this call",
        ),
    ],
)
def test_resume_with_other_optimizer_settings_is_refused(tmp_path, optimizer, match):
    refused_resume(checkpoint_with_validation(tmp_path), match, optimizer=optimizer)


def test_resume_names_every_difference_at_once(tmp_path):
    refused_resume(
        checkpoint_with_validation(tmp_path),
        "batch_size 7 .*; shuffle True .*; optimizer momentum",
        batch_size=5,
        shuffle=False,
        optimizer=lambda m: mn.SGD(m.parameters(), lr=cyclic(), momentum=0.5, nesterov=True),
    )


def test_resume_with_the_same_settings_from_new_objects_is_accepted(tmp_path):
    path = checkpoint_with_validation(tmp_path)
    X, y = data()
    model, opt = build(seeds=(3, 4))  # new model, optimizer and schedule objects, equal settings
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=3, resume=path, validation_data=(X[:10], y[:10]), **FIT)
    assert len(history["loss"]) == len(history["val_loss"]) == 3


def test_a_function_as_schedule_is_compared_by_name_not_address(tmp_path):
    def decay(step):
        return 0.1 / (1 + step)

    X, y = data()
    path = tmp_path / "run.npz"
    model, _ = build()
    mn.fit(
        model, mn.BCE(), mn.SGD(model.parameters(), lr=decay), X, y, epochs=1, callbacks=[mn.Checkpoint(path)], **FIT
    )
    model_b, _ = build()
    assert (
        len(mn.fit(model_b, mn.BCE(), mn.SGD(model_b.parameters(), lr=decay), X, y, epochs=2, resume=path, **FIT)) == 2
    )
    model_c, _ = build()
    with pytest.raises(ValueError, match="optimizer lr <.*decay> in the checkpoint, 0.1 in this call"):
        mn.fit(model_c, mn.BCE(), mn.SGD(model_c.parameters(), lr=0.1), X, y, epochs=2, resume=path, **FIT)


def test_early_stopping_repr_shows_a_mode_that_is_not_the_default():
    assert "mode" not in repr(mn.EarlyStopping())
    stopper = eval(repr(mn.EarlyStopping(monitor="val_accuracy", mode="max")), vars(mn))
    assert stopper.mode == "max" and stopper.monitor == "val_accuracy"


def test_early_stopping_checks_a_loaded_state_against_its_run():
    stop = mn.EarlyStopping("loss")
    state = {"best": 0.5, "best_epoch": 1, "wait": 0, "stopped_epoch": None, "best_values": None, "best_states": None}
    with pytest.raises(RuntimeError, match="call on_train_begin first"):
        stop.load_state_dict(state)  # it cannot know the model's parameters and epochs yet
    X, y = data()
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=1, callbacks=[stop], **FIT)  # on_train_begin ran: 0 epochs done
    with pytest.raises(ValueError, match="best_epoch must be <= 0, got 1"):
        stop.load_state_dict(state)


def test_early_stopping_restores_the_best_epochs_running_statistics_too():
    """A BatchNorm model predicts with its running statistics: the best epoch's come back with its weights."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * gen.normal(size=200) > 0).astype(float)
    X_val, y_val, X, y = X[150:], y[150:], X[:150], y[:150]
    model = mn.Sequential(mn.Dense(4, 16, seed=0), mn.BatchNorm(16), mn.ReLU(), mn.Dense(16, 1, seed=1))
    seen = {}

    class Spy(mn.callbacks.Callback):
        def on_epoch_end(self, run, logs):
            seen[run.epoch] = run.model.predict(X_val)

    stop = mn.EarlyStopping(patience=3)
    mn.fit(
        model,
        mn.BCE(from_logits=True),
        mn.SGD(model.parameters(), lr=0.5, momentum=0.9),
        X,
        y,
        epochs=60,
        batch_size=16,
        validation_data=(X_val, y_val),
        callbacks=[Spy(), stop],
        progress=False,
        seed=0,
    )
    assert stop.stopped_epoch is not None and stop.best_epoch < stop.stopped_epoch  # a restore really happened
    np.testing.assert_array_equal(model.predict(X_val), seen[stop.best_epoch])
    assert mn.evaluate(model, mn.BCE(from_logits=True), X_val, y_val)["loss"] == pytest.approx(stop.best, rel=1e-12)


@pytest.mark.parametrize(
    "monitor, minimize",
    [
        ("val_loss", True),
        ("val_accuracy", False),
        ("val_accuracy_0", False),
        ("accuracy_1", False),
        ("val_acc", False),
        ("loss_1", True),
        ("val_accuracy_rate", True),
        ("val_auc", False),
        ("dense_2_f1", False),
        ("precision_1", False),
        ("val_recall", False),
        ("r2", False),
        ("val_mae", True),
        ("rmse", True),
        ("val_dense_2_loss", True),
    ],
)
def test_early_stopping_auto_mode_knows_each_outputs_accuracy(monitor, minimize):
    assert mn.EarlyStopping(monitor=monitor)._minimize is minimize


# -- the hooks -------------------------------------------------------------------


class Recorder(mn.Callback):
    """Record every hook call with its arguments (and run.epoch at the time)."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, run):
        self.calls.append(("on_train_begin", run.epoch))

    def on_epoch_begin(self, run, epoch):
        self.calls.append(("on_epoch_begin", run.epoch, epoch))

    def on_batch_begin(self, run, batch):
        self.calls.append(("on_batch_begin", run.epoch, batch))

    def on_batch_end(self, run, batch, logs):
        self.calls.append(("on_batch_end", run.epoch, batch, dict(logs)))

    def on_epoch_end(self, run, logs):
        self.calls.append(("on_epoch_end", run.epoch, dict(logs)))

    def on_train_end(self, run):
        self.calls.append(("on_train_end", run.epoch))


def test_every_hook_is_called_in_order_with_its_arguments():
    X, y = data()
    model, opt = build()
    recorder = Recorder()
    history = mn.fit(
        model, mn.BCE(), opt, X, y, epochs=2, batch_size=25, metrics=["accuracy"], callbacks=[recorder], **NO_BATCH
    )
    names = [call[0] for call in recorder.calls]
    epoch = ["on_epoch_begin", *["on_batch_begin", "on_batch_end"] * 3, "on_epoch_end"]  # 60 rows: 25, 25, 10
    assert names == ["on_train_begin", *epoch, *epoch, "on_train_end"]
    assert [c[1:3] for c in recorder.calls if c[0] == "on_epoch_begin"] == [(0, 1), (1, 2)]
    batch_ends = [c for c in recorder.calls if c[0] == "on_batch_end"]
    assert [c[1:3] for c in batch_ends] == [(e, b) for e in (0, 1) for b in (1, 2, 3)]
    assert all(set(c[3]) == {"loss", "accuracy"} for c in batch_ends)
    # Each batch's logs are that batch's: their size-weighted mean is the epoch's entry.
    for e in (0, 1):
        losses = [c[3]["loss"] for c in batch_ends[3 * e : 3 * e + 3]]
        assert np.dot(losses, [25, 25, 10]) / 60 == pytest.approx(history["loss"][e], rel=1e-12)


def test_a_rate_set_in_on_epoch_begin_is_that_epochs_rate():
    X, y = data()
    model, _ = build()
    rates = mn.LambdaCallback(on_epoch_begin=lambda run, epoch: setattr(run.optimizer, "lr", 0.1 * epoch))
    history = mn.fit(
        model, mn.BCE(), mn.SGD(model.parameters(), lr=1.0), X, y, epochs=3, callbacks=[rates], progress=False
    )
    assert history["lr"] == [0.1, 0.2, 0.1 * 3]
    # The same updates as one full-batch epoch at each of those rates in turn.
    model_b, _ = build()
    for lr in history["lr"]:
        mn.fit(model_b, mn.BCE(), mn.SGD(model_b.parameters(), lr=lr), X, y, epochs=1, progress=False)
    assert same(values(model_b), values(model))


class Unknown(mn.Callback):
    def on_batch_ended(self, run, batch, logs):
        pass


class KerasNamed(mn.Callback):
    def on_train_batch_start(self, run, batch):
        pass


class NotAHook(mn.Callback):
    on_gpu = True  # an attribute, not a method: nothing to call

    @staticmethod
    def on_plateau(value):
        return value


@pytest.mark.parametrize(
    "callback, match",
    [
        (Unknown(), r"Unknown\(\) has a method on_batch_ended, .*; did you mean on_batch_end\?"),
        (KerasNamed(), r"method on_train_batch_start, .*; did you mean on_batch_begin\?"),
        (NotAHook(), r"method on_plateau, which is not a callback hook.* The hooks are on_train_begin, on_epoch_begin"),
    ],
)
@row("callback-unknown-hook")
def test_a_method_named_like_an_unknown_hook_is_refused_before_training(callback, match):
    X, y = data()
    model, opt = build()
    before = values(model)
    with pytest.raises(TypeError, match=match):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=1, callbacks=[callback], **FIT)
    assert same(values(model), before) and opt.step_count == 0


def test_a_function_set_on_an_instance_under_an_unknown_hook_name_is_refused():
    cb = mn.Callback()
    cb.on_epoch_start = lambda run, epoch: None
    X, y = data()
    model, opt = build()
    with pytest.raises(TypeError, match="on_epoch_start"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=1, callbacks=[cb], **FIT)


def test_only_callbacks_that_override_a_per_batch_hook_are_called_per_batch():
    def f(run, batch, logs):
        return None

    plain = [mn.EarlyStopping("loss"), mn.Checkpoint("c.npz"), mn.LambdaCallback(on_epoch_end=print), mn.Callback()]
    ends = [Recorder(), mn.LambdaCallback(on_batch_end=f)]
    assert overriding(plain + ends, "on_batch_end") == ends
    assert overriding(plain, "on_batch_begin") == []
    assert set(HOOKS) == {name for name in vars(mn.Callback) if name.startswith("on_")}


class Fail(mn.Callback):
    def __init__(self, hook, epoch, batch=0):
        self.hook, self.epoch, self.batch = hook, epoch, batch

    def on_epoch_begin(self, run, epoch):
        if self.hook == "on_epoch_begin" and epoch == self.epoch:
            raise ZeroDivisionError("boom")

    def on_batch_begin(self, run, batch):
        if self.hook == "on_batch_begin" and (run.epoch + 1, batch) == (self.epoch, self.batch):
            raise ZeroDivisionError("boom")

    def on_batch_end(self, run, batch, logs):
        if self.hook == "on_batch_end" and (run.epoch + 1, batch) == (self.epoch, self.batch):
            raise ZeroDivisionError("boom")

    def __repr__(self):
        return "Fail()"


@pytest.mark.parametrize(
    "hook, batch, where, steps",
    [
        ("on_epoch_begin", 0, "at the start of epoch 2", 9),
        ("on_batch_begin", 3, "at epoch 2, batch 3", 11),
        ("on_batch_end", 3, "at epoch 2, batch 3", 12),
    ],
)
@row("callback-fails-in-hook")
def test_a_failing_hook_is_a_training_error_naming_the_callback_and_where(hook, batch, where, steps):
    X, y = data()
    model, opt = build()
    with pytest.raises(
        mn.TrainingError,
        match=rf"training stopped {where}: callback Fail\(\) failed in {hook}: "
        r"ZeroDivisionError: boom",
    ) as info:
        mn.fit(model, mn.BCE(), opt, X, y, epochs=3, callbacks=[Fail(hook, 2, batch)], **FIT)
    assert (info.value.epoch, info.value.batch) == (2, batch) and len(info.value.history) == 1
    assert opt.step_count == steps


# -- ReduceLROnPlateau ----------------------------------------------------------------

NO_BATCH = dict(shuffle=True, progress=False)

PLATEAU_SETTINGS = [
    dict(),
    dict(patience=2, factor=0.5, cooldown=1, min_lr=0.02),
    dict(patience=0, threshold=0.05, threshold_mode="abs", eps=0.0),
    dict(patience=1, factor=0.3, mode="max", threshold=0.1),
    dict(patience=1, factor=0.3, mode="max", threshold_mode="abs", cooldown=2),
]


def plateau_values(n=40, seed=0):
    gen = np.random.default_rng(seed)
    values = list(gen.choice([1.0, 0.99995, 0.9, 0.95, 1.2, 0.5, 0.4999], size=n) * gen.uniform(0.9, 1.1, size=n))
    values[7:12] = [0.3] * 5  # a flat run: equal values never improve
    values[20] = math.nan  # never an improvement
    return values


@pytest.mark.parametrize("settings", PLATEAU_SETTINGS)
def test_reduce_lr_on_plateau_gives_torchs_rates(settings):
    torch = pytest.importorskip("torch")
    sequence = plateau_values()
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    torch_opt = torch.optim.SGD([p], lr=0.8)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **settings)
    expected = [0.8]
    for value in sequence[:-1]:
        torch_plateau.step(value)
        expected.append(torch_opt.param_groups[0]["lr"])
    X, y = data()
    model, _ = build()
    history = mn.fit(
        model,
        mn.BCE(),
        mn.SGD(model.parameters(), lr=0.8),
        X,
        y,
        epochs=len(sequence),
        callbacks=[Feed(sequence), mn.ReduceLROnPlateau("loss", **settings)],
        **FIT,
    )
    assert history["lr"] == expected  # bit for bit: each epoch's rate
    assert len(set(expected)) > 2  # the rate did change, more than once


def test_reduce_lr_on_plateau_reduces_each_parameter_group_as_torch():
    torch = pytest.importorskip("torch")
    settings = dict(patience=1, factor=0.5, min_lr=0.1)
    sequence = plateau_values()
    params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in range(2)]
    torch_opt = torch.optim.SGD([{"params": [params[0]], "lr": 0.8}, {"params": [params[1]], "lr": 0.3}], lr=0.8)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **settings)
    expected = []
    for value in sequence[:-1]:
        torch_plateau.step(value)
        expected.append([group["lr"] for group in torch_opt.param_groups])
    X, y = data()
    model, _ = build()
    body, head = model.layers[0].parameters(), model.layers[2].parameters()
    opt = mn.SGD([{"params": body, "lr": 0.8}, {"params": head, "lr": 0.3}], lr=0.8)
    seen = []
    record = mn.LambdaCallback(
        on_epoch_begin=lambda run, epoch: seen.append([opt.hyperparameter("lr", k) for k in (0, 1)])
    )
    mn.fit(
        model,
        mn.BCE(),
        opt,
        X,
        y,
        epochs=len(sequence),
        callbacks=[Feed(sequence), mn.ReduceLROnPlateau("loss", **settings), record],
        **FIT,
    )
    assert seen[1:] == expected  # bit for bit, group by group
    assert expected[-1][1] == 0.1 and expected[-1][0] < 0.8  # each group reduced, the second one to min_lr


def build_plain(seeds=(0, 1)):
    model, _ = build(seeds=seeds)
    return model, mn.SGD(model.parameters(), lr=0.8, momentum=0.5)


def interrupted_and_resumed(tmp_path, interrupt_at, make_callbacks, epochs, stop_at, **kwargs):
    """(uninterrupted, resumed) runs with the callbacks ``make_callbacks()``: each a (model, optimizer, history)."""
    X, y = data()
    runs = []
    model, opt = build_plain()
    runs.append(
        (
            model,
            opt,
            mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, seed=5, callbacks=make_callbacks(), **FIT, **kwargs),
        )
    )
    path = tmp_path / "run.npz"
    model, opt = build_plain()
    cbs = [*make_callbacks(), interrupt_at(stop_at)]
    if not any(isinstance(cb, mn.Checkpoint) for cb in cbs):
        cbs.append(mn.Checkpoint(path))
    mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, seed=5, callbacks=cbs, **FIT, **kwargs)
    model, opt = build_plain(seeds=(7, 8))  # a fresh process: new objects and weights
    resumed = [cb for cb in make_callbacks() if not isinstance(cb, mn.Checkpoint)]
    runs.append(
        (model, opt, mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, resume=path, callbacks=resumed, **FIT, **kwargs))
    )
    return runs


def test_reduce_lr_on_plateau_resumes_bit_identically(tmp_path, interrupt_at):
    def callbacks():
        return [mn.ReduceLROnPlateau("loss", patience=0, factor=0.5, threshold=0.2, cooldown=1)]

    (model_a, opt_a, hist_a), (model_c, opt_c, hist_c) = interrupted_and_resumed(
        tmp_path, interrupt_at, callbacks, epochs=12, stop_at=6
    )
    assert len(set(hist_a["lr"][:6])) > 1 and len(set(hist_a["lr"][6:])) > 1  # reduced before and after
    assert hist_c.history == hist_a.history
    assert same(values(model_c), values(model_a)) and opt_c.lr == opt_a.lr
    assert same_state(opt_c.state_dict(), opt_a.state_dict())


@row("reduce-lr-schedule")
def test_reduce_lr_on_plateau_refuses_a_schedule_before_training():
    X, y = data()
    model, opt = build()  # a CyclicLR rate
    with pytest.raises(ValueError, match="this optimizer's lr is the schedule CyclicLR"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.ReduceLROnPlateau("loss")], **FIT)
    assert opt.step_count == 0


@pytest.mark.parametrize(
    "callback",
    [lambda p: mn.ReduceLROnPlateau(), lambda p: mn.Checkpoint(p / "c.npz", save_best_only=True)],
)
@row("monitor-not-logged")
def test_a_monitor_the_run_does_not_log_is_refused_before_training(tmp_path, callback):
    X, y = data()
    model, opt = build_plain()
    cb = callback(tmp_path)
    with pytest.raises(ValueError, match=rf"{type(cb).__name__} monitors 'val_loss', which this run does not log"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[cb], **FIT)
    assert opt.step_count == 0 and not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(factor=1.0), ValueError, "factor"),
        (dict(factor=-0.1), ValueError, "factor"),
        (dict(patience=-1), ValueError, "patience"),
        (dict(threshold=-1e-4), ValueError, "threshold"),
        (dict(threshold_mode="relative"), ValueError, "threshold_mode"),
        (dict(cooldown=1.5), TypeError, "cooldown"),
        (dict(min_lr=-1.0), ValueError, "min_lr"),
        (dict(mode="lower"), ValueError, "mode"),
        (dict(monitor=None), TypeError, "monitor"),
    ],
)
def test_reduce_lr_on_plateau_validates_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mn.ReduceLROnPlateau(**kwargs)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(num_bad_epochs=3), "num_bad_epochs must be <= 2, got 3"),
        (dict(cooldown_counter=-1), "cooldown_counter must be >= 0"),
        (dict(lr=[-0.5]), r"lr\[0\] must be >= 0"),
        (dict(lr=[math.nan]), r"lr\[0\] must be finite"),
        (dict(lr=0.1), "lr must be a list of 1 rate"),
        (dict(lr=[0.1, 0.1]), "lr must be a list of 1 rate"),
        (dict(best=math.nan), "best must be a number, not NaN"),
        (dict(extra=1), r"\['extra'\] unknown"),
    ],
)
@row("checkpoint-callback")
def test_reduce_lr_on_plateau_checks_a_saved_state_and_changes_nothing(change, match):
    X, y = data()
    model, opt = build_plain()
    plateau = mn.ReduceLROnPlateau("loss", patience=2)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=1, callbacks=[plateau], **FIT)
    before = plateau.state_dict()
    with pytest.raises(ValueError, match=match):
        plateau.load_state_dict({**before, "lr": [0.1], **change})
    assert plateau.state_dict() == before and opt.lr == 0.8


def test_reduce_lr_on_plateau_repr_shows_the_settings_that_differ():
    assert repr(mn.ReduceLROnPlateau()) == "ReduceLROnPlateau(monitor='val_loss')"
    plateau = eval(repr(mn.ReduceLROnPlateau("loss", factor=0.5, cooldown=2)), vars(mn))
    assert (plateau.monitor, plateau.factor, plateau.cooldown, plateau.patience) == ("loss", 0.5, 2, 10)


# -- CSVLogger -------------------------------------------------------------------


def read_csv(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_one_row_per_epoch_of_the_history(tmp_path):
    X, y = data()
    model, opt = build()
    path = tmp_path / "log.csv"
    seen = []
    peek = mn.LambdaCallback(on_epoch_end=lambda run, logs: seen.append(len(read_csv(path))))
    history = mn.fit(
        model,
        mn.BCE(),
        opt,
        X,
        y,
        epochs=3,
        validation_data=(X[:10], y[:10]),
        metrics=["accuracy"],
        callbacks=[mn.CSVLogger(path, separator=";"), peek],
        **FIT,
    )
    header, *rows = read_csv(path, ";")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [int(r[0]) for r in rows] == [1, 2, 3]
    for i, key in enumerate(header[1:], start=1):
        assert [float(r[i]) for r in rows] == history[key]  # exact: a float's str round-trips
    assert seen == [2, 3, 4]  # each row is in the file by the end of its epoch


def test_csv_logger_replaces_a_file_unless_appending(tmp_path):
    X, y = data()
    path = tmp_path / "log.csv"
    for append, rows in [(False, 2), (False, 2), (True, 4)]:
        model, opt = build()
        mn.fit(model, mn.BCE(), opt, X, y, epochs=2, callbacks=[mn.CSVLogger(path, append=append)], **FIT)
        assert len(read_csv(path)) == 1 + rows


@row("csv-logger-other-columns")
def test_csv_logger_refuses_to_append_to_other_columns(tmp_path):
    X, y = data()
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,lr\n1,0.5,0.1\n")
    model, opt = build()
    with pytest.raises(
        ValueError,
        match=r"its columns are \['epoch', 'loss', 'lr'\], this run logs \['epoch', 'loss', 'val_loss', 'lr'\]",
    ):
        mn.fit(
            model,
            mn.BCE(),
            opt,
            X,
            y,
            epochs=2,
            validation_data=(X, y),
            callbacks=[mn.CSVLogger(path, append=True)],
            **FIT,
        )
    assert path.read_text() == "epoch,loss,lr\n1,0.5,0.1\n" and opt.step_count == 0


def test_csv_logger_on_resume_ends_with_the_uninterrupted_runs_file(tmp_path, interrupt_at):
    def callbacks():
        return [mn.CSVLogger(tmp_path / "log.csv"), mn.Checkpoint(tmp_path / "run.npz", every=3)]

    X, y = data()
    model, opt = build_plain()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=8, seed=5, callbacks=callbacks(), **FIT)
    expected = (tmp_path / "log.csv").read_text()
    model, opt = build_plain()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=8, seed=5, callbacks=[*callbacks(), interrupt_at(5)], **FIT)
    assert len(read_csv(tmp_path / "log.csv")) == 1 + 5  # epochs 4 and 5 come after the checkpoint of epoch 3
    model, opt = build_plain(seeds=(7, 8))
    mn.fit(model, mn.BCE(), opt, X, y, epochs=8, resume=tmp_path / "run.npz", callbacks=callbacks(), **FIT)
    assert (tmp_path / "log.csv").read_text() == expected


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(path=3), TypeError),
        (dict(append="yes"), TypeError),
        (dict(separator="," * 2), ValueError),
        (dict(separator="\n"), ValueError),
        (dict(separator=44), TypeError),
    ],
)
def test_csv_logger_validates_arguments(kwargs, error):
    with pytest.raises(error):
        mn.CSVLogger(**{"path": "log.csv", **kwargs})


# -- LambdaCallback ----------------------------------------------------------------


def test_lambda_callback_calls_each_function_given_with_its_hooks_arguments():
    calls = []
    functions = {
        "on_train_begin": lambda run: calls.append(("on_train_begin",)),
        "on_epoch_begin": lambda run, epoch: calls.append(("on_epoch_begin", epoch)),
        "on_batch_begin": lambda run, batch: calls.append(("on_batch_begin", batch)),
        "on_batch_end": lambda run, batch, logs: calls.append(("on_batch_end", batch, sorted(logs))),
        "on_epoch_end": lambda run, logs: calls.append(("on_epoch_end", sorted(logs))),
        "on_train_end": lambda run: calls.append(("on_train_end",)),
    }
    X, y = data()
    model, opt = build()
    mn.fit(model, mn.BCE(), opt, X, y, epochs=1, batch_size=40, callbacks=[mn.LambdaCallback(**functions)], **NO_BATCH)
    assert calls == [
        ("on_train_begin",),
        ("on_epoch_begin", 1),
        ("on_batch_begin", 1),
        ("on_batch_end", 1, ["loss"]),
        ("on_batch_begin", 2),
        ("on_batch_end", 2, ["loss"]),
        ("on_epoch_end", ["loss", "lr"]),
        ("on_train_end",),
    ]


def test_lambda_callback_repr_names_its_functions():
    def log(run, logs):
        pass

    assert repr(mn.LambdaCallback(on_epoch_end=log)) == (
        "LambdaCallback(on_epoch_end=<function test_lambda_callback_repr_names_its_functions.<locals>.log>)"
    )


# -- Checkpoint(save_best_only=True) -----------------------------------------------------


def saved_epoch(path):
    with np.load(path, allow_pickle=False) as f:
        return json.loads(f["__minnet__"].tobytes())["checkpoint"]["epoch"]


@pytest.mark.parametrize(
    "mode, feed, saves",
    [
        ("auto", [3, 1, 2, 1, 0.5, math.nan, 0.7], [1, 2, 5]),
        ("max", [3, 1, 2, 3, 4, math.nan, 0.7], [1, 5]),
    ],
)
def test_checkpoint_save_best_only_writes_only_on_improvement(tmp_path, mode, feed, saves):
    X, y = data()
    model, opt = build()
    saved = []

    class Spy(mn.Checkpoint):
        def on_epoch_end(self, run, logs):
            super().on_epoch_end(run, logs)
            if self.last_saved_epoch == run.epoch:
                saved.append(run.epoch)

    path = tmp_path / "c.npz"
    spy = Spy(path, save_best_only=True, monitor="loss", mode=mode)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=len(feed), callbacks=[Feed(feed), spy], **FIT)
    assert saved == saves and saved_epoch(path) == saves[-1] and spy.best == feed[saves[-1] - 1]


def test_checkpoint_save_best_only_resumes_bit_identically(tmp_path, interrupt_at):
    feed = [3, 1, 2, 2, 2, 0.5, 1, 1, 0.2, 1]

    def callbacks():
        return [Feed(feed), mn.Checkpoint(tmp_path / "run.npz", save_best_only=True, monitor="loss")]

    (model_a, opt_a, hist_a), (model_c, opt_c, hist_c) = interrupted_and_resumed(
        tmp_path, interrupt_at, callbacks, epochs=len(feed), stop_at=5
    )
    assert hist_c.history == hist_a.history
    assert same(values(model_c), values(model_a)) and same_state(opt_c.state_dict(), opt_a.state_dict())


def test_resume_from_a_best_only_checkpoint_continues_from_its_epoch(tmp_path, interrupt_at):
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt = build_plain()
    cbs = [Feed([3, 1, 2, 2, 2]), mn.Checkpoint(path, save_best_only=True, monitor="loss"), interrupt_at(5)]
    mn.fit(model, mn.BCE(), opt, X, y, epochs=10, seed=5, callbacks=cbs, **FIT)
    assert saved_epoch(path) == 2
    best_only = mn.Checkpoint(path, save_best_only=True, monitor="loss")
    model, opt = build_plain()
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=3, resume=path, callbacks=[Feed([3, 1, 2]), best_only], **FIT)
    assert len(history) == 3 and best_only.best == 1 and saved_epoch(path) == 2  # epoch 3's 2 is no better


def test_checkpoint_repr_shows_save_best_only():
    assert repr(mn.Checkpoint("run.npz", save_best_only=True, monitor="loss", mode="min")) == (
        "Checkpoint('run.npz', save_best_only=True, monitor='loss', mode='min')"
    )


@row("plateau-auc-mode")
def test_reduce_lr_on_plateau_maximises_an_auc_by_default_as_keras():
    # An AUC that keeps rising is no plateau; PyTorch's mode "min" would cut the rate every epoch.
    X, y = data()
    model, opt = build_plain()
    rising = mn.LambdaCallback(on_epoch_end=lambda run, logs: logs.update(auc=0.5 + 0.01 * run.epoch))
    plateau = mn.ReduceLROnPlateau("auc", patience=0)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=4, metrics=["auc"], callbacks=[rising, plateau], **FIT)
    assert history["lr"] == [0.8] * 4
