"""LayerStats: per-layer activation and gradient statistics, equal to a direct computation, and resumable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rows import row

import minnet as mn
from minnet.callbacks import PROBE_ROWS, LayerStats


def data(n=40, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, 3))
    y = (X[:, 0] - 0.5 * X[:, 1] > 0).astype(float)
    return X, y


def big(n_in, n_out, rng, dtype=np.float64, shape=None):
    """Weights large enough to saturate a sigmoid."""
    return (4.0 * rng.standard_normal(shape or (n_in, n_out))).astype(dtype)


def chain(dtype=np.float64):
    """Sigmoid (saturating), ReLU (two units dead from the start) and Tanh layers."""
    relu_in = mn.Dense(5, 4, seed=1, dtype=dtype)
    relu_in.b.value[:2] = -100.0  # no row can lift these two units above 0: dead, and they stay so
    return mn.Sequential(
        mn.Dense(3, 5, init=big, seed=0, dtype=dtype),
        mn.Sigmoid(),
        relu_in,
        mn.ReLU(),
        mn.Dense(4, 3, seed=2, dtype=dtype),
        mn.Tanh(),
        mn.Dense(3, 1, seed=3, dtype=dtype),
        mn.Sigmoid(),
    )


class Recorder(mn.Callback):
    """The weights and gradients after each epoch, to compute the ratios directly."""

    def __init__(self):
        self.values, self.grads = [], []

    def on_train_begin(self, run):
        self.values = [[p.value.copy() for p in run.model.parameters()]]

    def on_epoch_end(self, run, logs):
        self.values.append([p.value.copy() for p in run.model.parameters()])
        self.grads.append([p.grad.copy() for p in run.model.parameters()])


def norm(arrays):
    return math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays))


def train(model, X, y, epochs=3, callbacks=(), **kwargs):
    opt = mn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    fit_args = dict(epochs=epochs, batch_size=8, seed=0, progress=False)
    return mn.fit(model, mn.BCE(), opt, X, y, callbacks=list(callbacks), **{**fit_args, **kwargs})


def test_the_statistics_equal_a_direct_computation_on_a_sequential():
    X, y = data()
    model, stats, rec = chain(), LayerStats(probe=X[:30]), Recorder()
    train(model, X, y, callbacks=[stats, rec])
    assert stats.epoch == [1, 2, 3]
    assert list(stats.history) == [str(i) for i in range(8)]
    assert stats.layer_types["1"] == "Sigmoid" and stats.layer_types["3"] == "ReLU"
    # The probe's outputs layer by layer, with the final weights, recomputed with numpy alone.
    out, outputs = X[:30], []
    for layer in model.layers:
        if isinstance(layer, mn.Dense):
            out = out @ layer.W.value + layer.b.value
        elif isinstance(layer, mn.Sigmoid):
            out = 1 / (1 + np.exp(-out))
        elif isinstance(layer, mn.ReLU):
            out = np.maximum(out, 0)
        else:
            out = np.tanh(out)
        outputs.append(out)
    last = {name: {key: values[-1] for key, values in record.items()} for name, record in stats.history.items()}
    for i, out in enumerate(outputs):
        assert last[str(i)]["mean"] == pytest.approx(out.mean(), rel=1e-12, abs=1e-15)
        assert last[str(i)]["std"] == pytest.approx(out.std(), rel=1e-12)
    assert last["1"]["saturated"] == pytest.approx(np.mean((outputs[1] < 0.01) | (outputs[1] > 0.99)))
    assert last["5"]["saturated"] == pytest.approx(np.mean(np.abs(outputs[5]) > 0.99))
    assert 0.3 < last["1"]["saturated"] < 1  # the big weights saturate some, not all
    assert last["3"]["dead"] == np.mean(outputs[3].max(axis=0) == 0)
    assert 0.5 <= last["3"]["dead"] < 1  # the two units killed by their bias, at least
    assert set(last["3"]) == {"mean", "std", "dead"}  # no parameters, no ratios
    # Each Dense's ratios, epoch by epoch, from the weights and gradients the Recorder kept.
    for k, name in enumerate(["0", "2", "4", "6"]):
        W_and_b = slice(2 * k, 2 * k + 2)
        for epoch in range(3):
            before, after = rec.values[epoch][W_and_b], rec.values[epoch + 1][W_and_b]
            grad = rec.grads[epoch][W_and_b]
            assert stats.history[name]["grad_ratio"][epoch] == pytest.approx(norm(grad) / norm(after), rel=1e-12)
            moved = norm([a - b for a, b in zip(after, before)]) / norm(before)
            assert stats.history[name]["update_ratio"][epoch] == pytest.approx(moved, rel=1e-12)


def test_a_graph_is_measured_node_by_node_and_a_shared_layer_once():
    X, y = data()
    x = mn.Input(3)
    shared = mn.Dense(3, 3, seed=0)
    h = mn.Tanh()(shared(x))
    a = shared(h)  # the shared layer's second use: node dense:1
    z = mn.Add()([h, a])
    model = mn.Graph(inputs=x, outputs=mn.Sigmoid()(mn.Dense(3, 1, seed=1)(z)))
    stats, rec = LayerStats(probe=X[:25]), Recorder()
    train(model, X, y, epochs=2, callbacks=[stats, rec])
    names = [name for name, layer, _ in model.nodes if layer is not None]
    assert list(stats.history) == names == ["dense", "tanh", "dense:1", "add", "dense_1", "sigmoid"]
    assert "grad_ratio" in stats.history["dense"] and "grad_ratio" not in stats.history["dense:1"]
    W, b = shared.W.value, shared.b.value
    h_out = np.tanh(X[:25] @ W + b)
    a_out = h_out @ W + b
    assert stats.history["tanh"]["mean"][-1] == pytest.approx(h_out.mean(), rel=1e-12)
    assert stats.history["dense:1"]["std"][-1] == pytest.approx(a_out.std(), rel=1e-12)
    assert stats.history["add"]["std"][-1] == pytest.approx((h_out + a_out).std(), rel=1e-12)
    assert stats.history["dense"]["grad_ratio"][-1] == pytest.approx(
        norm(rec.grads[-1][:2]) / norm(rec.values[-1][:2]), rel=1e-12
    )


def test_the_default_probe_is_the_first_rows_of_the_training_data():
    X, y = data(n=PROBE_ROWS + 40)
    default, given = LayerStats(), LayerStats(probe=X[:PROBE_ROWS])
    train(chain(), X, y, epochs=2, callbacks=[default])
    train(chain(), X, y, epochs=2, callbacks=[given])
    assert default.history == given.history


def test_a_graph_of_two_inputs_takes_the_first_rows_of_each():
    X, y = data()
    x1, x2 = mn.Input(3), mn.Input(2)
    out = mn.Dense(5, 1, seed=0)(mn.Concat()([x1, x2]))
    model = mn.Graph(inputs=[x1, x2], outputs=mn.Sigmoid()(out))
    X2 = np.random.default_rng(1).standard_normal((len(X), 2))
    default, given = LayerStats(), LayerStats(probe=[X[:10], X2[:10]])
    mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), [X, X2], y, epochs=1, progress=False, callbacks=[given])
    model_b = mn.Graph(inputs=[x1, x2], outputs=mn.Sigmoid()(mn.Dense(5, 1, seed=0)(mn.Concat()([x1, x2]))))
    mn.fit(
        model_b,
        mn.BCE(),
        mn.SGD(model_b.parameters(), lr=0.1),
        [X, X2],
        y,
        epochs=1,
        progress=False,
        callbacks=[default],
    )
    expected = np.concatenate([X, X2], axis=1)
    assert default.history["concat"]["mean"] == [pytest.approx(expected.mean())]
    assert given.history["concat"]["mean"] == [pytest.approx(expected[:10].mean())]


def test_measuring_changes_nothing_of_the_training():
    X, y = data()

    def build():
        return mn.Sequential(
            mn.Dense(3, 6, seed=0),
            mn.BatchNorm(6),
            mn.ReLU(),
            mn.Dropout(0.3, seed=1),
            mn.Dense(6, 1, seed=2),
            mn.Sigmoid(),
        )

    plain, watched = build(), build()
    train(plain, X, y)
    train(watched, X, y, callbacks=[LayerStats()])
    assert all(np.array_equal(a.value, b.value) for a, b in zip(plain.parameters(), watched.parameters()))
    assert plain.layers[1].get_state().keys() == watched.layers[1].get_state().keys()
    for key, value in plain.layers[1].get_state().items():
        assert np.array_equal(value, watched.layers[1].get_state()[key])


def test_float32_models_are_measured():
    X, y = data()
    stats = LayerStats()
    train(chain(np.float32), X.astype(np.float32), y, epochs=1, callbacks=[stats])
    assert all(isinstance(v[0], float) and math.isfinite(v[0]) for r in stats.history.values() for v in r.values())


def test_weights_all_zero_give_a_nan_ratio():
    X, y = data()
    model = mn.Sequential(mn.Dense(3, 1, init=lambda n_in, n_out, rng, dtype: np.zeros((n_in, n_out))), mn.Sigmoid())
    stats = LayerStats()
    train(model, X, y, epochs=2, callbacks=[stats])
    assert math.isnan(stats.history["0"]["update_ratio"][0])  # it started from zero
    assert stats.history["0"]["update_ratio"][1] > 0


# -- resuming ----------------------------------------------------------------------


def test_a_resumed_run_records_what_the_uninterrupted_one_did(tmp_path, interrupt_at):
    X, y = data()
    whole = LayerStats()
    model_a = chain()
    train(model_a, X, y, epochs=6, callbacks=[whole])
    path = tmp_path / "run.npz"
    train(chain(), X, y, epochs=6, callbacks=[LayerStats(), mn.Checkpoint(path), interrupt_at(3)])
    model_c, resumed = chain(), LayerStats()
    train(model_c, X, y, epochs=6, resume=path, callbacks=[resumed])
    assert resumed.epoch == whole.epoch == [1, 2, 3, 4, 5, 6]
    assert resumed.history == whole.history  # bit for bit, the update ratio of epoch 4 included
    assert all(np.array_equal(a.value, c.value) for a, c in zip(model_a.parameters(), model_c.parameters()))


def test_a_layer_stats_new_to_a_resumed_run_starts_there_without_the_first_update(tmp_path, interrupt_at):
    X, y = data()
    whole = LayerStats()
    train(chain(), X, y, epochs=5, callbacks=[whole])
    path = tmp_path / "run.npz"
    train(chain(), X, y, epochs=5, callbacks=[mn.Checkpoint(path), interrupt_at(3)])
    late = LayerStats()
    train(chain(), X, y, epochs=5, resume=path, callbacks=[late])
    assert late.epoch == [3, 4, 5]  # Ctrl-C at epoch 3's end came before its checkpoint
    assert math.isnan(late.history["0"]["update_ratio"][0])
    assert late.history["0"]["update_ratio"][1:] == whole.history["0"]["update_ratio"][3:]
    assert late.history["1"]["std"] == whole.history["1"]["std"][2:]


def test_fit_again_starts_a_new_record():
    X, y = data()
    model, stats = chain(), LayerStats()
    train(model, X, y, epochs=2, callbacks=[stats])
    train(model, X, y, epochs=3, callbacks=[stats])
    assert stats.epoch == [1, 2, 3] and len(stats.history["0"]["mean"]) == 3


# -- refusals ----------------------------------------------------------------------


@row("layer-stats-probe")
@pytest.mark.parametrize(
    "probe, match",
    [
        (np.zeros(3), r"probe must be a batch with the samples on its first axis"),
        (np.full((2, 3), np.nan), r"probe must be finite, got nan at index \(0, 0\)"),
        (np.zeros((0, 3)), r"probe must hold at least one sample"),
    ],
)
def test_a_probe_that_is_no_batch_is_refused_when_made(probe, match):
    with pytest.raises(ValueError, match=match):
        LayerStats(probe=probe)


@row("layer-stats-probe")
@pytest.mark.parametrize(
    "probe, error, match",
    [
        (np.zeros((4, 5)), ValueError, r"LayerStats cannot run the model on its probe: Dense\(3 -> 5\) expected 3"),
        ([[1.0, 2.0]], ValueError, r"cannot run the model on its probe: .* expected 3 features, got 2"),
        ("abc", TypeError, r"probe must hold numbers"),
    ],
)
def test_a_probe_the_model_cannot_take_is_refused_before_any_update(probe, error, match):
    X, y = data()
    model = chain()
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(error, match=match):
        train(model, X, y, callbacks=[LayerStats(probe=probe)])
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


def test_a_graph_refuses_a_probe_of_the_wrong_sample_shape_even_where_its_layers_would_take_it():
    X, y = data()
    x = mn.Input((1, 3))
    model = mn.Graph(inputs=x, outputs=mn.Sigmoid()(mn.Dense(3, 1, seed=0)(mn.Flatten()(x))))
    with pytest.raises(ValueError, match=r"graph input input takes batches of shape \(n, 1, 3\)"):
        train(model, X.reshape(-1, 1, 3), y, callbacks=[LayerStats(probe=X[:4])])


def started():
    """A LayerStats that has seen on_train_begin and two epochs, and its state."""
    X, y = data()
    stats = LayerStats()
    train(chain(), X, y, epochs=2, callbacks=[stats])
    return stats, stats.state_dict()


def changed(state, where, value):
    state = {**state, "history": {k: dict(v) for k, v in state["history"].items()}}
    if where == "start":
        state["start"] = value
    elif where == "epoch":
        state["epoch"] = value
    elif where == "history":
        state["history"] = value
    else:
        state["history"]["0"][where] = value
    return state


@row("layer-stats-state")
@pytest.mark.parametrize(
    "where, value, match",
    [
        ("epoch", [2, 3], r"epoch must be consecutive epochs ending at the last completed \(2\), got \[2, 3\]"),
        ("epoch", [1, 2, 3], r"epoch must be a list of at most 2 epochs"),
        ("epoch", [1.0, 2], r"epoch\[0\] must be an integer"),
        ("history", {}, r"history must have the keys"),
        (
            "grad_ratio",
            np.zeros(3),
            r"history\['0'\]\['grad_ratio'\] must be float64 of shape \(2,\), got float64 of shape \(3",
        ),
        ("grad_ratio", [0.1, 0.2], r"history\['0'\]\['grad_ratio'\] must be float64 of shape \(2,\), got list"),
        ("start", [np.zeros(2)], r"start must be a list of one array per parameter \(8 parameters\)"),
    ],
)
def test_a_saved_state_that_does_not_fit_the_run_is_refused_and_changes_nothing(where, value, match):
    stats, state = started()
    before = (stats.epoch, stats.history, stats.state_dict()["start"])
    with pytest.raises(ValueError, match=match):
        stats.load_state_dict(changed(state, where, value))
    assert stats.epoch == before[0] and stats.history == before[1]
    assert all(np.array_equal(a, b) for a, b in zip(stats.state_dict()["start"], before[2]))
    stats.load_state_dict(state)  # the state as saved is taken


def test_the_hooks_need_on_train_begin_first():
    stats = LayerStats()
    with pytest.raises(RuntimeError, match="on_train_begin first"):
        stats.load_state_dict({"epoch": [], "history": {}, "start": None})
    with pytest.raises(RuntimeError, match="on_train_begin first"):
        stats.on_epoch_end(None, {})


def test_repr():
    assert repr(LayerStats()) == "LayerStats()"
    assert repr(LayerStats(probe=np.zeros((4, 3)))) == "LayerStats(probe=<ndarray of shape (4, 3)>)"
    assert repr(LayerStats(probe=[np.zeros((4, 3))])) == "LayerStats(probe=<list>)"
    assert mn.LayerStats is LayerStats
