"""A copy is the same model: copy.deepcopy, pickle and copy.copy of every kind of model.

A copy must give the same outputs and the same gradients, train exactly as
the original, and work with everything that takes a model (summary, repr,
save, Checkpoint, gradcheck).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from rows import row

import minnet as mn


def shared_layer_graph() -> mn.Graph:
    """A layer used at two nodes, with Dropout and BatchNorm: its gradient is the sum over its uses."""
    x = mn.Input(4, name="x")
    h = mn.BatchNorm(6)(mn.Dense(4, 6, seed=0)(x))
    shared = mn.Dense(6, 6, seed=1)
    a = shared(mn.Tanh()(h))
    b = shared(mn.Dropout(0.3, seed=2)(mn.Sigmoid()(h)))
    return mn.Graph(x, mn.Dense(12, 1, seed=3)(mn.Concat()([a, b])))


def sequential() -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(4, 5, seed=0), mn.BatchNorm(5), mn.ReLU(), mn.Dropout(0.2, seed=1), mn.Dense(5, 1, seed=2)
    )


def nested() -> mn.Graph:
    """A Sequential shared at two nodes of a graph that sits inside a Sequential."""
    x = mn.Input(4)
    block = mn.Sequential(mn.Dense(4, 4, seed=0), mn.Tanh())
    inner = mn.Graph(x, mn.Add()([block(x), block(mn.Sigmoid()(x))]))
    outer = mn.Sequential(inner, mn.Dense(4, 3, seed=1))
    y = mn.Input(4)
    return mn.Graph(y, mn.Dense(3, 1, seed=2)(outer(y)))


def two_in_two_out() -> mn.Graph:
    a, b = mn.Input(4, name="a"), mn.Input(2, name="b")
    s = mn.Add()([mn.Dense(4, 3, seed=0)(a), mn.Dense(2, 3, seed=1)(b)])
    return mn.Graph([a, b], [mn.Dense(3, 1, seed=2)(s), mn.Dense(3, 2, seed=3)(s)])


MODELS = {
    "shared-layer-graph": shared_layer_graph,
    "sequential": sequential,
    "nested": nested,
    "two-in-two-out": two_in_two_out,
}
COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "copy": copy.copy,
}


def inputs_for(model: mn.Layer, n: int = 8) -> list[np.ndarray] | np.ndarray:
    gen = np.random.default_rng(5)
    widths = model.input_widths()
    xs = [gen.standard_normal((n, w)) for w in widths]
    return xs[0] if len(xs) == 1 else xs


def as_list(out):
    return list(out) if isinstance(out, list) else [out]


def step(model: mn.Layer, x) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One training forward and backward: the outputs, dL/dx and every parameter's gradient."""
    outs = as_list(model.forward(x))
    grads = [np.linspace(-1, 1, o.size).reshape(o.shape) for o in outs]
    dx = model.backward(grads[0] if len(grads) == 1 else grads)
    return outs, as_list(dx), [p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
def test_a_copy_gives_the_same_outputs_and_gradients(build, how):
    original, twin = build(), build()  # twin: what the original does, untouched by the copy
    copied = COPIES[how](original)
    x = inputs_for(original)
    for got, want in zip(step(copied, x), step(twin, x)):
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
def test_a_copy_has_the_same_summary_repr_and_file(build, how, tmp_path):
    original = build()
    copied = COPIES[how](original)
    assert repr(copied) == repr(original)
    assert copied.summary() == original.summary()
    mn.save(copied, tmp_path / "copy.npz")
    x = inputs_for(original)
    for got, want in zip(as_list(mn.load(tmp_path / "copy.npz").predict(x)), as_list(original.predict(x))):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
def test_gradcheck_passes_on_a_copy(build, how):
    assert mn.gradcheck(COPIES[how](build()), inputs_for(build(), n=3))


def fit_shared_layer_graph(model: mn.Graph, callbacks=()) -> list[np.ndarray]:
    gen = np.random.default_rng(1)
    X = gen.standard_normal((40, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    opt = mn.Adam(model.parameters(), lr=0.01)
    mn.fit(
        model, mn.BCE(from_logits=True), opt, X, y, epochs=20, batch_size=8, seed=0, callbacks=callbacks, progress=False
    )
    return [p.value.copy() for p in model.parameters()]


@row("copy-graph-shared-layer")
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_graph_with_a_shared_layer_trains_bit_identically(how):
    original = shared_layer_graph()
    copied = COPIES[how](original)
    expected = fit_shared_layer_graph(original)
    assert all(np.array_equal(a, b) for a, b in zip(fit_shared_layer_graph(copied), expected))
    # Not trivially equal: a copy that overwrote the shared gradient instead of summing it would differ.
    assert not all(np.array_equal(a, b) for a, b in zip(expected, [p.value for p in shared_layer_graph().parameters()]))


@row("copy-graph-shared-layer")
def test_a_copied_graph_checkpoints_and_resumes(tmp_path):
    copied = copy.deepcopy(shared_layer_graph())
    fit_shared_layer_graph(copied, callbacks=[mn.Checkpoint(tmp_path / "run.npz")])
    loaded = mn.load(tmp_path / "run.npz")
    assert all(np.array_equal(a.value, b.value) for a, b in zip(loaded.parameters(), copied.parameters()))


def test_a_shallow_copy_shares_the_parameters_as_in_pytorch():
    original = shared_layer_graph()
    shallow = copy.copy(original)
    assert all(a is b for a, b in zip(shallow.parameters(), original.parameters()))
    fit_shared_layer_graph(shallow)  # training the copy trains the original: they are one set of weights
    assert all(a is b for a, b in zip(shallow.parameters(), original.parameters()))
    x = inputs_for(original)
    assert np.array_equal(shallow.predict(x), original.predict(x))


@row("node-names-unique")
def test_an_input_name_that_could_be_a_shared_layers_use_is_refused():
    with pytest.raises(ValueError, match="may not hold ':', which names a shared layer's later uses .*'dense:1'"):
        mn.Input(3, name="dense:1")


@row("node-names-unique")
def test_node_names_are_unique_whatever_the_inputs_are_called(tmp_path):
    """Inputs named like the layers' nodes: every node gets its own name, and the file loads."""
    a, b = mn.Input(3, name="dense"), mn.Input(3, name="dense_1")
    shared = mn.Dense(3, 3, seed=0)
    h = mn.Add()([shared(a), shared(b), mn.Dense(3, 3, seed=1)(a)])
    model = mn.Graph([a, b], shared(h))
    names = [name for name, _, _ in model.nodes]
    assert len(set(names)) == len(names)
    mn.save(model, tmp_path / "m.npz")
    x = [np.ones((2, 3)), np.zeros((2, 3))]
    assert np.array_equal(mn.load(tmp_path / "m.npz").predict(x), model.predict(x))
