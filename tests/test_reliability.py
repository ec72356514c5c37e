"""Every row of docs/reliability.md: each kind of bad input gets a clear error and changes nothing.

Each case below is one row of the table (its id is the row's first column); the
``file-`` rows are the ids of the bad-file cases in test_archive.py and
test_serialize.py, the ``checkpoint-`` rows those of the bad checkpoints in
test_checkpoint.py, and the training rows are the ids of the tests marked
``@row(...)`` below.
``test_every_documented_row_has_a_test`` keeps the table and the tests in step.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rows import TRAINING_TESTS, row
from test_archive import BAD_ARCHIVES  # the file- rows: each bad-file case names its row
from test_checkpoint import BAD_CHECKPOINTS  # the checkpoint- rows
from test_serialize import BAD_FILES

import minnet as mn
from conftest import snapshot

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


class World:
    """A model, an optimizer with running state, and the caller's arrays, plus copies of all."""

    def __init__(self, dtype=np.float64) -> None:
        gen = np.random.default_rng(0)
        self.X = gen.standard_normal((20, 3))
        self.y = (self.X[:, 0] > 0).astype(float)
        self.model = mn.Sequential(
            mn.Dense(3, 4, rng=0, dtype=dtype), mn.Sigmoid(), mn.Dense(4, 1, rng=1, dtype=dtype), mn.Sigmoid()
        )
        self.opt = mn.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        # One real step, so that the optimizer has a step count and momentum buffers to protect.
        mn.fit(self.model, mn.BCE(), self.opt, self.X, self.y, epochs=1, progress=False)
        self.loss = mn.BCE()
        self._params = [p.value.copy() for p in self.model.parameters()]
        self._opt = self.opt.state_dict()
        self._X, self._y = self.X.copy(), self.y.copy()

    def fit(self, **changes: Any) -> mn.History:
        args = dict(model=self.model, loss=self.loss, optimizer=self.opt, X=self.X, y=self.y)
        kwargs = dict(epochs=2, progress=False)
        for key, value in changes.items():
            (args if key in args else kwargs)[key] = value
        return mn.fit(args["model"], args["loss"], args["optimizer"], args["X"], args["y"], **kwargs)

    def assert_unchanged(self) -> None:
        for p, before in zip(self.model.parameters(), self._params):
            assert np.array_equal(p.value, before), f"parameter {p.name} changed"
        state = self.opt.state_dict()
        assert state["step_count"] == self._opt["step_count"]
        assert all(np.array_equal(a, b) for a, b in zip(state["momentum_buffer"], self._opt["momentum_buffer"]))
        assert np.array_equal(self.X, self._X) and np.array_equal(self.y, self._y)


def _nan_at(shape, where):
    a = np.random.default_rng(1).standard_normal(shape)
    a[where] = np.nan
    return a


class EpochStart(mn.Callback):
    """A hook under the name another library uses: fit would never call it."""

    def on_epoch_start(self, run, epoch):
        run.stop_training = True


# id -> (call(world), expected exception, message pattern)
Case = tuple[Callable[[World], Any], type, str]


def _fit_batch_norm(X, y, **kwargs):
    model = mn.Sequential(mn.Dense(3, 4, seed=0), mn.BatchNorm(4), mn.Dense(4, 1, seed=1), mn.Sigmoid())
    before = [p.value.copy() for p in model.parameters()]
    try:
        return mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), X, y, epochs=1, progress=False, **kwargs)
    finally:
        assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))  # refused up front
        assert model[1].num_batches_tracked == 0


CASES: dict[str, Case] = {
    # -- fit: the features X ---------------------------------------------------
    "X-string": (lambda w: w.fit(X="features.csv"), TypeError, "X must hold numbers, got an array of dtype <U"),
    "X-strings-inside": (lambda w: w.fit(X=w.X.astype(str)), TypeError, "X must hold numbers"),
    "X-objects": (lambda w: w.fit(X=[[1.0, None, 2.0]] * 20), TypeError, "X must hold numbers.*object"),
    "X-ragged": (lambda w: w.fit(X=[[1.0, 2.0, 3.0], [1.0]] * 10), ValueError, "rectangular"),
    "X-1d": (
        lambda w: w.fit(X=w.X[:, 0]),
        ValueError,
        r"X must be a batch with the samples on its first axis.*\(20,\)",
    ),
    "X-3d": (
        lambda w: w.fit(X=w.X[:, :, None]),
        ValueError,
        r"^X: Dense\(3 -> 4\) expected 3 features on the last axis, got samples of shape \(3, 1\)",
    ),
    "X-empty": (lambda w: w.fit(X=np.zeros((0, 3)), y=np.zeros(0)), ValueError, "at least one sample"),
    "X-nan": (lambda w: w.fit(X=_nan_at((20, 3), (4, 2))), ValueError, r"X must be finite, got nan at index \(4, 2\)"),
    "X-inf": (lambda w: w.fit(X=np.full((20, 3), np.inf)), ValueError, r"X must be finite, got inf"),
    "X-complex": (lambda w: w.fit(X=w.X + 1j), TypeError, "X must hold numbers.*complex"),
    "X-wrong-width": (lambda w: w.fit(X=w.X[:, :2]), ValueError, r"^X: Dense\(3 -> 4\) expected 3 features, got 2"),
    # -- fit: the targets y ----------------------------------------------------
    "y-length": (lambda w: w.fit(y=w.y[:-1]), ValueError, "same number of samples, got 20 and 19"),
    "y-scalar": (lambda w: w.fit(y=1.0), ValueError, "got 20 and a scalar"),
    "y-wide": (lambda w: w.fit(y=np.zeros((20, 2))), ValueError, r"shape \(20, 1\).*got \(20, 2\)"),
    "y-transposed": (lambda w: w.fit(y=w.y[None, :]), ValueError, "same number of samples, got 20 and 1"),
    "y-label-2": (lambda w: w.fit(y=np.where(w.y > 0, 2, 0)), ValueError, r"BCE targets must lie in \[0, 1\].*2\.0"),
    "y-negative": (lambda w: w.fit(y=-w.y), ValueError, "BCE targets must lie in"),
    "y-nan": (lambda w: w.fit(y=np.where(w.y > 0, np.nan, 0)), ValueError, "y must be finite, got nan"),
    "y-strings": (lambda w: w.fit(y=np.array(["yes", "no"] * 10)), TypeError, "y must hold numbers"),
    # -- fit: other arguments --------------------------------------------------
    "validation-not-pair": (lambda w: w.fit(validation_data=(w.X,)), TypeError, r"pair \(X_val, y_val\) or a triple"),
    "validation-wrong-width": (
        lambda w: w.fit(validation_data=(w.X[:, :2], w.y)),
        ValueError,
        r"^X_val: Dense\(3 -> 4\) expected 3 features, got 2",
    ),
    "batch-of-one-for-batchnorm": (
        lambda w: _fit_batch_norm(w.X[:9], w.y[:9], batch_size=4),
        ValueError,
        r"BatchNorm\(4\) trains on batches of at least 2 rows, but 9 samples in batches of 4 leave a last batch of 1",
    ),
    "validation-labels": (lambda w: w.fit(validation_data=(w.X, 3 * w.y)), ValueError, "BCE targets"),
    "epochs-zero": (lambda w: w.fit(epochs=0), ValueError, "epochs must be >= 1, got 0"),
    "epochs-float": (lambda w: w.fit(epochs=2.5), TypeError, r"epochs must be an integer, got 2\.5"),
    "batch-size-zero": (lambda w: w.fit(batch_size=0), ValueError, "batch_size must be >= 1"),
    "batch-size-string": (lambda w: w.fit(batch_size="32"), TypeError, "batch_size must be an integer"),
    "seed-negative": (lambda w: w.fit(seed=-1), ValueError, "seed must be a non-negative integer seed"),
    "seed-string": (
        lambda w: w.fit(seed="abc"),
        TypeError,
        "seed must be None, an integer seed or a np.random.Generator",
    ),
    "shuffle-string": (lambda w: w.fit(shuffle="yes"), TypeError, "shuffle must be True or False"),
    "metric-unknown": (lambda w: w.fit(metrics=["f2"]), ValueError, "unknown metric 'f2'"),
    "callback-not-callback": (lambda w: w.fit(callbacks=[print]), TypeError, "callbacks must be Callback"),
    "monitor-not-logged": (
        lambda w: w.fit(callbacks=[mn.EarlyStopping("val_loss")]),
        ValueError,
        "monitors 'val_loss', which this run does not log",
    ),
    "callback-unknown-hook": (
        lambda w: w.fit(callbacks=[EpochStart()]),
        TypeError,
        r"EpochStart\(\) has a method on_epoch_start, which is not a callback hook, so fit would never call it; "
        r"did you mean on_epoch_begin\?",
    ),
    "reduce-lr-schedule": (
        lambda w: w.fit(
            optimizer=mn.SGD(w.model.parameters(), lr=mn.CyclicLR(0.01, 0.1)), callbacks=[mn.ReduceLROnPlateau("loss")]
        ),
        ValueError,
        r"ReduceLROnPlateau sets the optimizer's lr, a float, but this optimizer's lr is the schedule CyclicLR",
    ),
    "model-not-layer": (lambda w: w.fit(model=lambda x: x), TypeError, "model must be a Layer"),
    "loss-not-loss": (lambda w: w.fit(loss="bce"), TypeError, "loss must be a Loss"),
    "optimizer-not-optimizer": (lambda w: w.fit(optimizer="sgd"), TypeError, "optimizer must be an Optimizer"),
    "optimizer-other-model": (
        lambda w: w.fit(optimizer=mn.SGD(mn.Dense(3, 1).parameters(), lr=0.1)),
        ValueError,
        r"does not hold the trainable parameters \['0.W', '0.b', '2.W', '2.b'\] of this model",
    ),
    "resume-missing": (lambda w: w.fit(resume="/nonexistent/run.npz"), FileNotFoundError, "no such file"),
    # -- predict, forward, losses ------------------------------------------------
    "predict-wrong-width": (
        lambda w: w.model.predict(np.ones((2, 5))),
        ValueError,
        r"Dense\(3 -> 4\) expected 3 features, got 5",
    ),
    "predict-nan": (lambda w: w.model.predict([[0.0, np.nan, 1.0]]), ValueError, "x must be finite"),
    "predict-strings": (lambda w: w.model.predict([["a", "b", "c"]]), TypeError, "x must hold numbers"),
    "forward-1d": (lambda w: w.model.forward(np.ones(3)), ValueError, r"x must be a batch with the samples.*\(3,\)"),
    "loss-shape-mismatch": (
        lambda w: w.loss.forward(np.full((4, 1), 0.5), np.zeros((4, 2))),
        ValueError,
        r"target must have shape \(4, 1\).*got \(4, 2\)",
    ),
    "loss-probability-out-of-range": (
        lambda w: w.loss.forward(np.full((4, 1), 1.5), np.zeros(4)),
        ValueError,
        "expects probabilities in",
    ),
    "loss-nan-prediction": (
        lambda w: mn.MSE().forward(np.full((2, 1), np.nan), np.zeros(2)),
        ValueError,
        "pred must be finite",
    ),
    "backward-before-forward": (lambda w: mn.MSE().backward(), RuntimeError, "backward called before forward"),
    "layer-backward-before-forward": (
        lambda w: mn.Dense(2, 2).backward(np.ones((1, 2))),
        RuntimeError,
        "backward called before forward",
    ),
    "gradient-wrong-shape": (
        lambda w: (w.model.forward(w.X), w.model.backward(np.ones((20, 2)))),
        ValueError,
        r"expected a gradient of shape \(20, 1\)",
    ),
    # a model just built (the world's has been trained): test_optim checks that nothing changes
    "step-before-backward": (
        lambda w: mn.SGD(mn.Dense(3, 4).parameters(), lr=0.1, weight_decay=0.01).step(),
        mn.optim.NonFiniteUpdate,
        r"update of parameter W \(3, 4\) at step 0 \(lr=0\.1\) would make it non-finite "
        r"\(its gradient is NaN everywhere: no backward has written it yet, or it overflowed\)",
    ),
    # -- constructors ---------------------------------------------------------
    "dense-zero-width": (lambda w: mn.Dense(0, 3), ValueError, "n_in must be >= 1, got 0"),
    "dense-float-width": (lambda w: mn.Dense(8.0, 3), TypeError, r"n_in must be an integer, got 8\.0"),
    "dense-unknown-init": (lambda w: mn.Dense(2, 3, init="glorot"), ValueError, "init must be one of"),
    "dense-int-dtype": (lambda w: mn.Dense(2, 3, dtype=np.int32), TypeError, "dtype must be np.float32 or np.float64"),
    "dense-bad-rng": (
        lambda w: mn.Dense(2, 3, rng="seed"),
        TypeError,
        "seed must be None, an integer seed or a np.random.Generator, got 'seed'",
    ),
    "leaky-negative-slope": (lambda w: mn.LeakyReLU(-0.1), ValueError, "negative_slope must be >= 0"),
    "bce-from-logits-string": (lambda w: mn.BCE(from_logits="yes"), TypeError, "from_logits must be True or False"),
    "sequential-non-layer": (
        lambda w: mn.Sequential(mn.Dense(2, 2), "relu"),
        TypeError,
        "Sequential takes Layer instances.*position 1",
    ),
    "sequential-repeated-layer": (
        lambda w: mn.Sequential(w.model[1], mn.Dense(4, 4), w.model[1]),
        ValueError,
        "appears more than once",
    ),
    "sequential-mixed-dtypes": (
        lambda w: mn.Sequential(mn.Dense(2, 2), mn.Dense(2, 2, dtype=np.float32)),
        TypeError,
        "share one dtype",
    ),
    "lr-negative": (lambda w: mn.SGD(w.model.parameters(), lr=-0.1), ValueError, r"lr must be >= 0.0, got -0\.1"),
    "lr-string": (lambda w: mn.SGD(w.model.parameters(), lr="0.1"), TypeError, "lr must be a float or a schedule"),
    "lr-nan": (lambda w: mn.SGD(w.model.parameters(), lr=float("nan")), ValueError, "lr must be finite"),
    "momentum-one": (
        lambda w: mn.SGD(w.model.parameters(), lr=0.1, momentum=1.0),
        ValueError,
        "momentum must be < 1.0",
    ),
    "nesterov-without-momentum": (
        lambda w: mn.SGD(w.model.parameters(), lr=0.1, nesterov=True),
        ValueError,
        "nesterov=True needs momentum > 0",
    ),
    "adam-beta-one": (
        lambda w: mn.Adam(w.model.parameters(), betas=(0.9, 1.0)),
        ValueError,
        r"betas\[1\] must be < 1.0, got 1\.0",
    ),
    "adam-betas-not-a-pair": (
        lambda w: mn.Adam(w.model.parameters(), betas=0.9),
        TypeError,
        r"betas must be a pair \(beta1, beta2\), got 0\.9",
    ),
    "adam-eps-zero": (lambda w: mn.AdamW(w.model.parameters(), eps=0.0), ValueError, r"eps must be > 0.0, got 0\.0"),
    "rmsprop-alpha": (
        lambda w: mn.RMSprop(w.model.parameters(), alpha=1.5),
        ValueError,
        r"alpha must be <= 1.0, got 1\.5",
    ),
    "optimizer-no-params": (lambda w: mn.SGD([], lr=0.1), ValueError, "params is empty"),
    "optimizer-repeated-param": (
        lambda w: mn.SGD(w.model.parameters() * 2, lr=0.1),
        ValueError,
        "same Parameter twice",
    ),
    "cyclic-max-below-base": (lambda w: mn.CyclicLR(base_lr=1.0, max_lr=0.1), ValueError, "max_lr must be >= base_lr"),
    "onecycle-zero-steps": (lambda w: mn.OneCycle(max_lr=1.0, total_steps=0), ValueError, "total_steps must be >= 1"),
    "schedule-negative-step": (lambda w: mn.CyclicLR(0.1, 1.0)(-1), ValueError, "step must be >= 0"),
    "early-stopping-negative-patience": (lambda w: mn.EarlyStopping(patience=-1), ValueError, "patience must be >= 0"),
    "checkpoint-every-zero": (lambda w: mn.Checkpoint("run.npz", every=0), ValueError, "every must be >= 1"),
    "checkpoint-best-mode": (
        lambda w: mn.Checkpoint("run.npz", save_best_only=True, mode="up"),
        ValueError,
        "mode must be one of",
    ),
    "reduce-lr-factor-one": (lambda w: mn.ReduceLROnPlateau(factor=1.0), ValueError, r"factor must be < 1.0, got 1\.0"),
    "csv-logger-separator": (
        lambda w: mn.CSVLogger("log.csv", separator=";;"),
        ValueError,
        "separator must be one character other than a quote or a newline, got ';;'",
    ),
    "lambda-callback-not-callable": (
        lambda w: mn.LambdaCallback(on_epoch_end="print"),
        TypeError,
        "on_epoch_end must be a function or None, got 'print'",
    ),
    "gradcheck-zero-eps": (lambda w: mn.gradcheck(mn.Tanh(), w.X, eps=0.0), ValueError, "eps must be > 0"),
    # -- files ----------------------------------------------------------------
    "load-missing": (lambda w: mn.load("/nonexistent/model.npz"), FileNotFoundError, "no such file"),
    "save-missing-directory": (
        lambda w: mn.save(w.model, "/nonexistent/dir/model.npz"),
        FileNotFoundError,
        "does not exist",
    ),
    "save-non-layer": (lambda w: mn.save(w.opt, "model.npz"), TypeError, "save takes a Layer"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error_and_changes_nothing(case):
    world = World()
    call, error, match = CASES[case]
    with pytest.raises(error, match=match):
        call(world)
    world.assert_unchanged()


def test_float32_model_refuses_bad_input_without_changing_anything():
    world = World(np.float32)
    with pytest.raises(ValueError, match="BCE targets"):
        world.fit(y=2 * world.y)
    world.assert_unchanged()


# -- accepted inputs: converted once, explicitly -----------------------------------


def test_lists_and_integer_data_are_accepted_and_converted():
    world = World()
    history = world.fit(X=world.X.round().astype(int).tolist(), y=world.y.astype(int).tolist())
    assert len(history) == 2


def test_float64_data_into_a_float32_model_trains_in_float32():
    world = World(np.float32)
    world.fit()
    assert all(p.value.dtype == np.float32 for p in world.model.parameters())
    assert world.X.dtype == np.float64  # the caller's array is not converted in place


def test_flat_target_is_reshaped_not_broadcast():
    loss = mn.MSE()
    pred = np.array([[1.0], [2.0], [3.0]])
    assert loss.forward(pred, [1.0, 2.0, 4.0]) == pytest.approx(1 / 3)  # broadcasting would give (3, 3)


# -- bad files (one test each in test_archive.py; here: refusal changes nothing) -----


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x04K\x01."])
def test_bad_file_as_resume_changes_nothing(tmp_path, content):
    world = World()
    path = tmp_path / "run.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        world.fit(resume=path)
    world.assert_unchanged()


# -- training-time failures ---------------------------------------------------


@row("diverged")
def test_absurd_learning_rate_raises_training_diverged_with_last_finite_parameters():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((32, 4)) * 1e3
    y = gen.standard_normal(32) * 1e3
    model = mn.Sequential(mn.Dense(4, 8, rng=0), mn.ReLU(), mn.Dense(8, 1, rng=1))
    opt = mn.SGD(model.parameters(), lr=1e12)
    seen: list[list[np.ndarray]] = []

    class Record(mn.Callback):
        def on_epoch_end(self, run, logs):
            seen.append([p.value.copy() for p in run.model.parameters()])

    with pytest.raises(mn.TrainingDiverged, match=r"epoch \d+, batch \d+/4.*lr=1e\+12") as info:
        mn.fit(model, mn.MSE(), opt, X, y, epochs=50, batch_size=8, progress=False, callbacks=[Record()])
    exc = info.value
    assert exc.lr == 1e12 and exc.epoch >= 1 and 1 <= exc.batch <= 4
    assert len(exc.history) == exc.epoch - 1 == len(seen)
    assert all(np.isfinite(p.value).all() for p in model.parameters())


@row("diverged")
def test_divergence_raises_no_floating_point_warning():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((16, 2)) * 1e150
    model = mn.Sequential(mn.Dense(2, 4, rng=0), mn.ReLU(), mn.Dense(4, 1, rng=1))
    opt = mn.SGD(model.parameters(), lr=1.0)
    # pytest turns any RuntimeWarning ("overflow encountered") into an error.
    with pytest.raises(mn.TrainingDiverged, match=r"epoch \d+, batch 1/1"):
        mn.fit(model, mn.MSE(), opt, X, gen.standard_normal(16) * 1e150, epochs=3, progress=False)


@row("diverged")
def test_non_finite_output_is_reported_as_divergence_not_as_bad_input():
    # Finite data and weights whose product overflows: the prediction is +-inf.
    X = np.array([[1e308], [-1e308]])
    model2 = mn.Sequential(mn.Dense(1, 2, rng=0), mn.ReLU(), mn.Dense(2, 1, rng=1))
    model2[0].W.value[...] = [[10.0, -10.0]]
    model2[2].W.value[...] = [[1e10], [-1e10]]
    opt = mn.SGD(model2.parameters(), lr=0.1)
    with pytest.raises(mn.TrainingDiverged, match="the loss is"):
        mn.fit(model2, mn.MSE(), opt, X, [0.0, 0.0], epochs=1, progress=False)
    assert opt.step_count == 0


class SigintOnCall(mn.Layer):
    """Identity that sends this process a real SIGINT (Ctrl-C) on its ``at``-th forward of a kind.

    Only full batches count (``fit`` may probe the model with one sample first).
    """

    def __init__(self, at: int, training: bool) -> None:
        self.at, self.training, self.calls = at, training, 0

    def forward(self, x, training=True):
        if training == self.training and len(x) > 1:
            self.calls += 1
            if self.calls == self.at:
                os.kill(os.getpid(), signal.SIGINT)
        return x

    def backward(self, grad):
        return grad


def ctrl_c_world(at: int, training: bool):
    gen = np.random.default_rng(0)
    X = gen.standard_normal((12, 3))
    y = (X[:, 0] > 0).astype(float)
    model = mn.Sequential(mn.Dense(3, 2, rng=0), SigintOnCall(at, training), mn.Dense(2, 1, rng=1), mn.Sigmoid())
    return model, mn.SGD(model.parameters(), lr=0.1, momentum=0.9), X, y


def parameters_after_steps(n_steps: int) -> list[np.ndarray]:
    """Parameters after exactly ``n_steps`` updates of the run in ``ctrl_c_world`` (unshuffled, 3 batches per epoch)."""
    return snapshot(run_for_steps(n_steps)[0])


def run_for_steps(n_steps: int) -> tuple[mn.Layer, mn.Optimizer]:
    """The model and optimizer of ``ctrl_c_world`` after exactly ``n_steps`` updates (3 batches per epoch)."""
    model, opt, X, y = ctrl_c_world(at=0, training=True)
    epochs, rest = divmod(n_steps, 3)
    if epochs:
        mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, batch_size=4, shuffle=False, progress=False)
    if rest:  # the first batches of the next epoch, with the same optimizer (step count, momentum)
        mn.fit(
            model, mn.BCE(), opt, X[: 4 * rest], y[: 4 * rest], epochs=1, batch_size=4, shuffle=False, progress=False
        )
    assert opt.step_count == n_steps
    return model, opt


@row("ctrl-c")
def test_ctrl_c_during_a_batch_finishes_its_update_then_returns_the_completed_epochs(capsys):
    # The 5th training forward is epoch 2's second batch.
    model, opt, X, y = ctrl_c_world(at=5, training=True)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=4, batch_size=4, shuffle=False, progress=False)
    assert history.epoch == [1] and len(history["loss"]) == 1
    assert opt.step_count == 5
    after = parameters_after_steps(5)
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), after))
    assert "interrupted after 1 complete epoch" in capsys.readouterr().err


@row("ctrl-c")
def test_ctrl_c_during_validation_takes_effect_after_the_next_batch():
    model, opt, X, y = ctrl_c_world(at=1, training=False)  # the 1st validation: after epoch 1
    history = mn.fit(
        model, mn.BCE(), opt, X, y, epochs=4, batch_size=4, shuffle=False, validation_data=(X, y), progress=False
    )
    assert history.epoch == [1] and len(history["val_loss"]) == 1
    assert opt.step_count == 4


@row("ctrl-c")
def test_ctrl_c_during_a_callback_takes_effect_after_the_next_batch():
    class SigintAtEpoch2(mn.Callback):
        def on_epoch_end(self, run, logs):
            if run.epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    model, opt, X, y = ctrl_c_world(at=0, training=True)
    history = mn.fit(
        model, mn.BCE(), opt, X, y, epochs=4, batch_size=4, shuffle=False, callbacks=[SigintAtEpoch2()], progress=False
    )
    assert history.epoch == [1, 2]
    assert opt.step_count == 7  # epochs 1-2 and epoch 3's first batch


@row("ctrl-c")
@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_during_the_optimizers_commit_never_leaves_a_half_applied_step(times):
    """Real SIGINTs in the middle of the 5th update, after its first parameter: the update completes.

    One Ctrl-C stops training after that batch; a second one interrupts at once,
    which is right after the update.
    """
    model, opt, X, y = ctrl_c_world(at=0, training=True)
    replace = opt._replace_state

    def replace_then_interrupt(i, new):
        replace(i, new)
        if opt.step_count == 4 and i == 0:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)

    opt._replace_state = replace_then_interrupt
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=4, batch_size=4, shuffle=False, progress=False)
    assert history.epoch == [1] and opt.step_count == 5
    after = parameters_after_steps(5)
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), after))
    assert all(b is not None for b in opt.buffers)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@row("ctrl-c-early-stopping")
def test_ctrl_c_with_early_stopping_keeps_the_last_update_and_its_optimizer_state():
    """The model is not rolled back to the best epoch: weights and optimizer state stay those of one step."""
    model, opt, X, y = ctrl_c_world(at=8, training=True)  # epoch 3's second batch
    stop = mn.EarlyStopping("loss", mode="max", patience=10)  # the loss falls: epoch 1 stays the best
    history = mn.fit(
        model, mn.BCE(), opt, X, y, epochs=6, batch_size=4, shuffle=False, callbacks=[stop], progress=False
    )
    assert history.epoch == [1, 2] and stop.best_epoch == 1
    reference, reference_opt = run_for_steps(8)
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), snapshot(reference)))
    assert opt.step_count == 8 and all(np.array_equal(a, b) for a, b in zip(opt.buffers, reference_opt.buffers))
    stop.restore(model)  # the best epoch's model, when it is wanted
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), snapshot(run_for_steps(3)[0])))


@row("ctrl-c-first-epoch")
def test_ctrl_c_in_the_first_epoch_returns_a_history_with_every_key_and_no_epoch():
    model, opt, X, y = ctrl_c_world(at=2, training=True)
    history = mn.fit(
        model,
        mn.BCE(),
        opt,
        X,
        y,
        epochs=4,
        batch_size=4,
        shuffle=False,
        validation_data=(X, y),
        metrics=["accuracy"],
        progress=False,
    )
    assert history.epoch == [] and len(history) == 0 and opt.step_count == 2
    assert history.history == {k: [] for k in ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]}


def stopped_run(path: Path) -> tuple[mn.History, list[np.ndarray], int]:
    """A run that EarlyStopping stops after epoch 2 of 10, checkpointed to ``path``: history, parameters, steps."""
    model, opt, X, y = ctrl_c_world(at=0, training=True)
    stop = mn.EarlyStopping("loss", mode="max", patience=1, restore_best=False)  # the loss falls: stop at once
    history = mn.fit(
        model, mn.BCE(), opt, X, y, epochs=10, batch_size=4, callbacks=[stop, mn.Checkpoint(path)], progress=False
    )
    assert history.epoch == [1, 2]
    return history, snapshot(model), opt.step_count


@row("resume-stopped-run")
def test_resuming_a_run_a_callback_stopped_says_it_trains_nothing(tmp_path):
    path = tmp_path / "run.npz"
    history, after, steps = stopped_run(path)
    model, opt, X, y = ctrl_c_world(at=0, training=True)
    with pytest.warns(
        UserWarning,
        match=r"nothing to train: the run in checkpoint '.*run\.npz' was stopped by a "
        r"callback after epoch 2 \(of 10\); fit returns its history",
    ) as warned:
        again = mn.fit(model, mn.BCE(), opt, X, y, epochs=10, batch_size=4, resume=path, progress=False)
    assert warned[0].filename == __file__  # it points at the call to fit
    assert again.history == history.history and opt.step_count == steps
    assert all(np.array_equal(p.value, v) for p, v in zip(model.parameters(), after))


# -- what comes from outside: PyTorch modules --------------------------------------------


@row("from-torch-hook")
def test_from_torch_refuses_a_module_whose_hook_changes_its_output():
    torch = pytest.importorskip("torch")
    from minnet.interop import from_torch

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(2, 1)))
    net[1][1].register_forward_hook(lambda module, inputs, output: 2 * output)  # converted, it would be lost
    with pytest.raises(ValueError, match=r"Linear\(.*\) \(1 of 1 of the module\): it has a hook, <lambda>"):
        from_torch(net)


@row("from-torch-parametrization")
def test_from_torch_refuses_a_weight_norm_parametrization_after_a_step():
    torch = pytest.importorskip("torch")
    from minnet.interop import from_torch

    net = torch.nn.Sequential(torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 2)), torch.nn.Sigmoid())
    net(torch.ones(4, 3)).sum().backward()
    torch.optim.SGD(net.parameters(), lr=1.0).step()
    with pytest.raises(ValueError, match=r"\(0 of the module\): its weight is recomputed at each call"):
        from_torch(net)


@row("from-torch-meta-device")
def test_from_torch_refuses_a_module_on_the_meta_device():
    torch = pytest.importorskip("torch")
    from minnet.interop import from_torch

    net = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 2, device="meta"))
    with pytest.raises(ValueError, match=r"\(1 of the module\): its weight is on the meta device.*to_empty"):
        from_torch(net)


@row("from-torch-image-settings")
def test_from_torch_refuses_a_grouped_convolution():
    torch = pytest.importorskip("torch")
    from minnet.interop import from_torch

    conv = torch.nn.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(
        ValueError,
        match=rf"cannot convert {re.escape(repr(conv))} \(1 of the module\): minnet's Conv2D connects every "
        r"input channel to every output channel \(groups=1\); this one has groups=2",
    ):
        from_torch(torch.nn.Sequential(torch.nn.ReLU(), conv))


@row("onnx-input-shape-unknown")
def test_to_onnx_asks_for_the_input_shape_a_sequential_does_not_fix(tmp_path):
    pytest.importorskip("onnx")
    from minnet.interop import to_onnx

    model = mn.Sequential(mn.Conv2D(1, 2, 3), mn.GlobalAvgPool2D())
    with pytest.raises(ValueError, match=r"pass it as input_shape=, e.g. input_shape=\(1, 28, 28\)"):
        to_onnx(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
    to_onnx(model, tmp_path / "model.onnx", input_shape=(1, 28, 28))


def test_one_cycle_past_total_steps_is_an_error_one_step_before_pytorch():
    """docs/schedules.md: minnet raises at step >= total_steps; PyTorch allows one more step."""
    torch = pytest.importorskip("torch")
    schedule = mn.OneCycle(max_lr=1.0, total_steps=4)
    schedule(3)
    with pytest.raises(ValueError, match="step must be < total_steps=4, got 4"):
        schedule(4)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=4)
    for _ in range(4):  # to step 4 (= total_steps): accepted
        opt.step()
        torch_schedule.step()
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 5 times"):
        torch_schedule.step()
    text = " ".join((DOC.parent / "schedules.md").read_text().split())
    assert "minnet raises a `ValueError` at any step `>= total_steps`" in text
    assert "`OneCycleLR` can be stepped once more, to step `total_steps`" in text


# -- the table and the tests stay in step -------------------------------------


def documented_ids() -> set[str]:
    rows = re.findall(r"^\|\s*`([A-Za-z0-9-]+)`\s*\|", DOC.read_text(), flags=re.MULTILINE)
    return set(rows)


def modules_registering_rows() -> list[str]:
    """The test modules (other than this one) that mark tests with ``@row``."""
    here = Path(__file__).resolve().parent
    marker = re.compile(r"^from (rows|test_reliability) import .*\brow\b", flags=re.MULTILINE)
    return sorted(p.stem for p in here.rglob("test_*.py") if p.stem != __name__ and marker.search(p.read_text()))


def test_every_documented_row_has_a_test():
    for module in modules_registering_rows():
        importlib.import_module(module)  # their @row tests register their rows when imported

    file_rows = {row_id for row_id, _, _ in [*BAD_ARCHIVES.values(), *BAD_FILES.values()]}
    assert all(row_id.startswith("file-") for row_id in file_rows)
    checkpoint_rows = {row_id for row_id, _, _ in BAD_CHECKPOINTS.values()}
    assert all(row_id.startswith("checkpoint-") for row_id in checkpoint_rows)
    ids = documented_ids()
    assert ids == set(CASES) | file_rows | checkpoint_rows | set(TRAINING_TESTS)
    assert len(ids) >= 25  # the pattern really finds the table's rows
