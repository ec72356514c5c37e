"""Frozen layers (``layer.trainable = False``): no update, no needless backward, BatchNorm on running statistics."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from rows import row

import minnet as mn


def data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, (X[:, :1] - X[:, 1:2] > 0).astype(float)


def net(seed=0):
    return mn.Sequential(
        mn.Dense(4, 8, seed=seed), mn.BatchNorm(8), mn.Tanh(), mn.Dense(8, 8, seed=seed + 1), mn.Tanh(),
        mn.Dense(8, 1, seed=seed + 2), mn.Sigmoid(),
    )  # fmt: skip


class CountBackward(mn.Layer):
    """Identity that records the need_input_grad of each backward call; with a parameter (unused) if asked."""

    def __init__(self, with_parameter=False):
        self.calls = []
        self.w = [mn.Parameter(np.zeros(1), name="w")] if with_parameter else []

    def parameters(self):
        return list(self.w)

    def forward(self, x, training=True):
        self._cache = True
        return x

    def backward(self, grad, need_input_grad=True):
        self.calls.append(need_input_grad)
        return grad if need_input_grad else None


OPTIMIZERS = {
    "sgd-momentum-decay": lambda params: mn.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    "adam-decay": lambda params: mn.Adam(params, lr=0.01, weight_decay=0.1),
    "adamw": lambda params: mn.AdamW(params, lr=0.01, weight_decay=0.5),
    "rmsprop-decay": lambda params: mn.RMSprop(params, lr=0.01, weight_decay=0.1, momentum=0.5),
}


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_a_frozen_layer_is_bit_identical_after_fit_weight_decay_included(make):
    X, y = data()
    model = net()
    model[0].trainable = False
    model[1].trainable = False
    frozen = [p.value.copy() for p in model[0].parameters() + model[1].parameters()]
    state = model[1].get_state()
    head = [p.value.copy() for p in model[5].parameters()]
    mn.fit(model, mn.BCE(), make(model.parameters()), X, y, epochs=5, batch_size=8, seed=0, progress=False)
    after = [p.value for p in model[0].parameters() + model[1].parameters()]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(after, frozen))
    assert all(np.array_equal(a, b) for a, b in zip(model[1].get_state().values(), state.values()))
    assert not np.array_equal(model[5].W.value, head[0])  # the rest trained


def test_an_optimizer_leaves_a_frozen_parameter_and_its_state_alone():
    layer = mn.Dense(3, 2, seed=0)
    opt = mn.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 2)))
    opt.step()
    buffer, value = opt.buffers[0].copy(), layer.W.value.copy()
    layer.trainable = False
    opt.step()
    assert np.array_equal(layer.W.value, value) and np.array_equal(opt.buffers[0], buffer)
    assert opt.step_count == 2
    layer.trainable = True  # unfrozen, it trains on with its momentum
    opt.step()
    assert not np.array_equal(layer.W.value, value)


def test_setting_a_container_sets_every_layer_inside_and_each_may_be_set_again():
    model = mn.Sequential(mn.Dense(2, 3), mn.Sequential(mn.Dense(3, 3), mn.ReLU()), mn.Dense(3, 1))
    model.trainable = False
    assert not model.trainable and not model[1][0].trainable
    assert not any(p.trainable for p in model.parameters())
    model[2].trainable = True
    assert [p.trainable for p in model.parameters()] == [False] * 4 + [True] * 2
    assert len(model.parameters()) == 6  # parameters() still lists every weight


@row("trainable-not-bool")
def test_trainable_takes_a_bool_only_and_a_refusal_changes_nothing():
    model = mn.Sequential(mn.Dense(2, 1))
    with pytest.raises(TypeError, match="trainable must be True or False, got 0"):
        model.trainable = 0
    assert model.trainable and all(p.trainable for p in model.parameters())


def test_a_frozen_start_of_a_sequential_gets_no_backward():
    first, middle = CountBackward(), CountBackward(with_parameter=True)
    model = mn.Sequential(first, mn.Dense(3, 3, seed=0), middle, mn.Dense(3, 1, seed=1))
    model.forward(np.ones((2, 3)))
    mn.layers.backward_through(model, np.ones((2, 1)), need_input_grad=False)
    assert (first.calls, middle.calls) == ([], [True])
    model[1].trainable = False
    model.forward(np.ones((2, 3)))
    mn.layers.backward_through(model, np.ones((2, 1)), need_input_grad=False)
    # The first trainable layer is told its input gradient is not needed; nothing before it runs.
    assert (first.calls, middle.calls) == ([], [True, False])


def test_the_layers_before_the_first_trainable_one_get_no_backward():
    spy = CountBackward()
    model = mn.Sequential(mn.Dense(3, 3, seed=0), spy, mn.Dense(3, 1, seed=1))
    model[0].trainable = False
    model[0].W.grad[...] = 7.0
    model.forward(np.ones((2, 3)))
    mn.layers.backward_through(model, np.ones((2, 1)), need_input_grad=False)
    assert spy.calls == [] and (model[0].W.grad == 7.0).all()
    assert np.isfinite(model[2].W.grad).all()


def test_a_frozen_start_of_a_graph_gets_no_backward():
    x = mn.Input(3)
    spy = CountBackward()
    body = mn.Dense(3, 3, seed=0)
    h = spy(body(x))
    out = mn.Dense(6, 1, seed=1)(mn.Concat()([h, mn.Dense(3, 3, seed=2)(x)]))
    model = mn.Graph(inputs=x, outputs=out)
    model.forward(np.ones((2, 3)))
    mn.layers.backward_through(model, np.ones((2, 1)), need_input_grad=False)
    assert spy.calls == [True]
    body.trainable = False
    body.W.grad[...] = 7.0
    model.forward(np.ones((2, 3)))
    mn.layers.backward_through(model, np.ones((2, 1)), need_input_grad=False)
    assert spy.calls == [True] and (body.W.grad == 7.0).all()  # neither backward ran


def test_freezing_does_not_change_the_gradients_of_the_trainable_layers():
    X, y = data()
    model = net()
    model[1].trainable = False  # BatchNorm on its running statistics in both, so the forwards agree
    frozen = copy.deepcopy(model)
    frozen[0].trainable = False
    loss = mn.BCE()
    grads = []
    for m in (model, frozen):
        loss.forward(m.forward(X), y)
        mn.layers.backward_through(m, loss.backward(), need_input_grad=False)
        grads.append([p.grad.copy() for p in m[3].parameters() + m[5].parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*grads))


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: mn.BatchNorm(3), np.random.default_rng(1).normal(2.0, 3.0, size=(6, 3))),
        (lambda: mn.BatchNorm2D(2), np.random.default_rng(1).normal(2.0, 3.0, size=(3, 2, 2, 2))),
    ],
    ids=["1d", "2d"],
)
def test_a_frozen_batch_norm_uses_and_keeps_its_running_statistics(make, x):
    layer = make()
    layer.forward(x)  # running statistics away from their initial zeros and ones
    layer.forward(x * 0.5 + 1.0)
    state = layer.get_state()
    layer.trainable = False
    out = layer.forward(x, training=True)
    assert np.array_equal(out, layer.forward(x, training=False))
    after = layer.get_state()
    assert all(np.array_equal(after[k], state[k]) for k in state)
    assert mn.gradcheck(layer, x)  # the backward of fixed statistics: x_hat is affine in x
    layer.trainable = True
    assert not np.allclose(layer.forward(x, training=True), out)  # batch statistics again


def test_a_frozen_batch_norm_trains_on_a_batch_of_one():
    layer = mn.BatchNorm(2)
    layer.trainable = False
    assert layer.forward(np.ones((1, 2))).shape == (1, 2)


@pytest.mark.parametrize("container", ["sequential", "graph"])
def test_save_and_load_keep_every_weight_and_the_flags(tmp_path, container):
    X, _ = data()
    if container == "sequential":
        model = mn.Sequential(net(0), mn.Dense(1, 1, seed=9))
        model.trainable = False
        model[0][3].trainable = True
        layers = [model, model[0], model[0][0], model[0][3], model[1]]
    else:
        x = mn.Input(4)
        inner = net(0)
        model = mn.Graph(inputs=x, outputs=mn.Dense(1, 1, seed=9)(inner(x)))
        inner.trainable = False
        inner[5].trainable = True
        layers = [model, inner, inner[0], inner[5]]
    mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), X, data()[1], epochs=1, seed=0, progress=False)
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz")
    loaded_layers = (
        [loaded, loaded[0], loaded[0][0], loaded[0][3], loaded[1]]
        if container == "sequential"
        else [loaded, loaded.children()[0], loaded.children()[0][0], loaded.children()[0][5]]
    )
    assert [layer.trainable for layer in loaded_layers] == [layer.trainable for layer in layers]
    assert [p.trainable for p in loaded.parameters()] == [p.trainable for p in model.parameters()]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(
        (p.value for p in loaded.parameters()), (p.value for p in model.parameters())))  # fmt: skip
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_a_file_without_the_flag_loads_trainable(tmp_path):
    model = net()
    mn.save(model, tmp_path / "m.npz")
    meta = mn.io.serialize.describe_model(model)
    assert "trainable" not in str(meta)  # files of unfrozen models are as before
    assert all(p.trainable for p in mn.load(tmp_path / "m.npz").parameters())


@row("file-trainable-not-bool")
def test_a_file_with_a_trainable_flag_that_is_not_a_bool_is_refused(tmp_path):
    meta = {"class": "Dense", "config": {"n_in": 2, "n_out": 1}, "trainable": "no"}
    with pytest.raises(ValueError, match="with trainable='no'; expected true or false"):
        mn.io.serialize._build(meta, {}, mn.io.serialize._Budget(10), [])


def test_fit_takes_an_optimizer_over_the_trainable_parameters_only():
    X, y = data()
    model = net()
    model[0].trainable = False
    model[1].trainable = False
    trainable = [p for p in model.parameters() if p.trainable]
    history = mn.fit(model, mn.BCE(), mn.Adam(trainable, lr=0.01), X, y, epochs=2, progress=False)
    assert len(history["loss"]) == 2


@row("optimizer-misses-trainable")
def test_fit_refuses_an_optimizer_missing_a_trainable_parameter():
    X, y = data()
    model = net()
    model[0].trainable = False
    opt = mn.SGD(model[5].parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"does not hold the trainable parameters \['1.gamma', '1.beta', '3.W'"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=1, progress=False)


@row("optimizer-foreign-parameter")
def test_fit_refuses_an_optimizer_holding_a_parameter_of_another_model():
    X, y = data()
    model = net()
    opt = mn.SGD(model.parameters() + mn.Dense(2, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds 2 parameters that are not this model's"):
        mn.fit(model, mn.BCE(), opt, X, y, epochs=1, progress=False)


def test_to_torch_carries_the_flag_as_requires_grad_and_from_torch_reads_it_back():
    pytest.importorskip("torch")
    from minnet.interop import from_torch, to_torch

    model = net()
    model[0].trainable = False
    model[1].trainable = False
    module = to_torch(model)
    assert [p.requires_grad for p in module.parameters()] == [p.trainable for p in model.parameters()]
    back = from_torch(module)
    assert [layer.trainable for layer in back.layers] == [layer.trainable for layer in model.layers]
    assert [p.trainable for p in back.parameters()] == [p.trainable for p in model.parameters()]


def test_summary_splits_the_total_into_trainable_and_frozen_as_keras():
    model = net()
    assert "frozen" not in model.summary()
    model[0].trainable = False
    assert model.summary().splitlines()[-2:] == ["Total parameters: 137 (float64)", "Trainable: 97, frozen: 40"]
    x = mn.Input(4)
    graph = mn.Graph(x, model(x))
    assert graph.summary().splitlines()[-1] == "Trainable: 97, frozen: 40"
