"""The layer graph: Input, Graph, Add, Concat; shared layers, fan-out, several inputs and outputs."""

from __future__ import annotations

import numpy as np
import pytest
from rows import row

import minnet as mn


def residual_graph(dtype=np.float64):
    """A skip connection, a shared layer and a concat: the example of the design."""
    x = mn.Input(8)
    h = mn.ReLU()(mn.Dense(8, 6, init="he", seed=0, dtype=dtype)(x))
    r = mn.Tanh()(mn.Dense(6, 6, seed=1, dtype=dtype)(h))
    h = mn.Add()([h, r])
    shared = mn.Dense(6, 4, seed=2, dtype=dtype)
    a, b = shared(h), shared(mn.Tanh()(h))
    z = mn.Concat()([a, b])
    return mn.Graph(inputs=x, outputs=mn.Dense(8, 1, seed=3, dtype=dtype)(z))


def two_in_two_out():
    x1, x2 = mn.Input(3, name="a"), mn.Input(2, name="b")
    h = mn.Tanh()(mn.Dense(3, 4, seed=0)(x1))
    g = mn.Sigmoid()(mn.Dense(2, 4, seed=1)(x2))
    s = mn.Add()([h, g])
    o1 = mn.Dense(4, 1, seed=2)(s)
    o2 = mn.Dense(8, 2, seed=3)(mn.Concat()([s, h]))
    return mn.Graph(inputs=[x1, x2], outputs=[o1, o2])


@pytest.fixture
def data():
    gen = np.random.default_rng(0)
    return gen.standard_normal((12, 8)), gen.standard_normal((12, 3)), gen.standard_normal((12, 2))


# -- gradients ----------------------------------------------------------------------


def test_gradcheck_passes_on_a_skip_a_shared_layer_and_a_concat(data):
    assert mn.gradcheck(residual_graph(), data[0])


def test_gradcheck_passes_on_two_inputs_and_two_outputs(data):
    assert mn.gradcheck(two_in_two_out(), [data[1], data[2]])


def test_a_layer_used_twice_gets_the_sum_of_both_uses_gradients(data):
    """Tied weights: dL/dW of y = f(x W) + g(x W) is the sum of the two paths' gradients."""
    x = mn.Input(3)
    shared = mn.Dense(3, 2, seed=0)
    model = mn.Graph(x, mn.Add()([mn.Tanh()(shared(x)), mn.Sigmoid()(shared(x))]))
    X, G = data[1], np.random.default_rng(1).standard_normal((12, 2))
    model.forward(X)
    model.backward(G)
    together = [p.grad.copy() for p in shared.parameters()]
    parts = []
    for head in (mn.Tanh(), mn.Sigmoid()):
        single = mn.Sequential(mn.Dense(3, 2, seed=0), head)
        single.forward(X)
        single.backward(G)
        parts.append([p.grad.copy() for p in single.parameters()])
    for total, g1, g2 in zip(together, *parts):
        np.testing.assert_allclose(total, g1 + g2, rtol=1e-13)


@pytest.mark.parametrize("container", ["sequential", "graph"])
def test_a_container_used_at_two_nodes_gets_each_uses_caches_back(data, container):
    """A shared Sequential keeps its caches in its layers, not its own slot; each use still gets its own."""
    if container == "sequential":
        block = mn.Sequential(mn.Dense(3, 3, seed=0), mn.Tanh(), mn.Dense(3, 3, seed=1))
    else:
        inner = mn.Input(3)
        block = mn.Graph(inner, mn.Dense(3, 3, seed=1)(mn.Tanh()(mn.Dense(3, 3, seed=0)(inner))))
    x = mn.Input(3)
    model = mn.Graph(x, mn.Dense(3, 1, seed=2)(mn.Add()([block(x), block(mn.Sigmoid()(x))])))
    assert mn.gradcheck(model, data[1])


def test_a_layer_inside_a_container_and_at_another_node_is_refused():
    """Its gradient would be overwritten rather than summed, and parameters() would list it twice."""
    dense = mn.Dense(3, 3)
    x = mn.Input(3)
    block = mn.Sequential(dense, mn.Tanh())
    with pytest.raises(
        ValueError,
        match=r"Dense\(3, 3\) is used in two places of the graph, in node "
        r"sequential and in node dense",
    ):
        mn.Graph(x, mn.Add()([block(x), dense(x)]))


def test_fan_out_gradient_is_the_sum_and_merge_outputs_are_not_modified_in_place(data):
    """x + x: Add returns one gradient array for both inputs; the input gradient is 2 G, G unchanged."""
    x = mn.Input(3)
    model = mn.Graph(x, mn.Add()([x, x]))
    G = np.ones((12, 3))
    model.forward(data[1])
    np.testing.assert_array_equal(model.backward(G), 2 * G)
    np.testing.assert_array_equal(G, np.ones((12, 3)))


def test_an_output_the_loss_ignores_gets_a_zero_gradient(data):
    model = two_in_two_out()
    model.forward([data[1], data[2]])
    g1 = np.random.default_rng(2).standard_normal((12, 1))
    with_none = model.backward([g1, None])
    grads_none = [p.grad.copy() for p in model.parameters()]
    model.forward([data[1], data[2]])
    with_zero = model.backward([g1, np.zeros((12, 2))])
    for a, b in zip(with_none + grads_none, with_zero + [p.grad for p in model.parameters()]):
        np.testing.assert_array_equal(a, b)


def test_a_chain_as_a_graph_trains_bit_identically_to_the_sequential(data):
    X, y = data[0], (data[0][:, 0] > 0).astype(float)

    def layers():
        return [mn.Dense(8, 5, seed=0), mn.Sigmoid(), mn.Dense(5, 1, seed=1)]

    seq = mn.Sequential(*layers())
    x = mn.Input(8)
    node = x
    for layer in layers():
        node = layer(node)
    graph = mn.Graph(x, node)
    histories = []
    for model in (seq, graph):
        opt = mn.SGD(model.parameters(), lr=0.3, momentum=0.9)
        histories.append(
            mn.fit(
                model,
                mn.BCE(from_logits=True),
                opt,
                X,
                y,
                epochs=6,
                batch_size=5,
                seed=3,
                validation_data=(X, y),
                metrics=["accuracy"],
                progress=False,
            )
        )
    assert histories[0].history == histories[1].history
    for a, b in zip(seq.parameters(), graph.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


# -- inference never disturbs training -----------------------------------------------


class Scale(mn.Layer):
    """A custom layer written to the documented contract: its cache in self._cache."""

    def __init__(self) -> None:
        self.s = mn.Parameter(np.full(3, 0.5), name="s")

    def forward(self, x, training=True):
        self._cache = x
        return x * self.s.value

    def backward(self, grad):
        x = self._require_cache()
        self.s.grad[...] = np.sum(grad * x, axis=0)
        return grad * self.s.value

    def parameters(self):
        return [self.s]


def _models():
    x = mn.Input(3)
    custom = Scale()
    return [
        mn.Sequential(mn.Dense(3, 3, seed=0), mn.Tanh(), Scale(), mn.Dense(3, 1, seed=1)),
        mn.Graph(x, mn.Dense(3, 1, seed=1)(mn.Add()([custom(x), mn.Tanh()(custom(mn.Dense(3, 3, seed=0)(x)))]))),
    ]


@pytest.mark.parametrize("model_index", [0, 1], ids=["sequential", "graph"])
@pytest.mark.parametrize("interruption", ["predict", "evaluate", "summary", "predict-batched"])
def test_inference_between_forward_and_backward_changes_no_gradient(data, model_index, interruption):
    X, other = data[1], data[1][::-1] * 3
    G = np.random.default_rng(4).standard_normal((12, 1))
    reference = _models()[model_index]
    reference.forward(X)
    expected_input = reference.backward(G)
    expected = [p.grad.copy() for p in reference.parameters()]

    model = _models()[model_index]
    model.forward(X)
    {
        "predict": lambda: model.predict(other),
        "predict-batched": lambda: model.predict(other, batch_size=5),
        "evaluate": lambda: mn.evaluate(model, mn.MSE(), other, np.zeros(12), batch_size=4),
        "summary": lambda: model.summary(),
    }[interruption]()
    np.testing.assert_array_equal(model.backward(G), expected_input)
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_array_equal(p.grad, g)


def test_predict_in_batches_equals_predict_at_once(data):
    model = residual_graph()
    np.testing.assert_allclose(model.predict(data[0], batch_size=5), model.predict(data[0]), rtol=1e-14)


def test_predict_keeps_no_activations(data):
    model = residual_graph()
    model.predict(data[0])
    assert model._cache is None and all(layer._cache is None for layer in model.children())


# -- fit, evaluate and lr_find on several inputs and outputs --------------------------


def test_fit_evaluate_and_lr_find_take_lists_of_inputs_losses_and_targets(data):
    model = two_in_two_out()
    inputs = [data[1], data[2]]
    targets = [(data[1][:, 0] > 0).astype(float), data[2] * 0.5]
    losses = [mn.BCE(from_logits=True), mn.MSE()]
    before = mn.evaluate(model, losses, inputs, targets, loss_weights=[1.0, 0.5])
    history = mn.fit(
        model,
        losses,
        mn.SGD(model.parameters(), lr=0.2),
        inputs,
        targets,
        epochs=20,
        batch_size=4,
        loss_weights=[1.0, 0.5],
        metrics=["accuracy"],
        validation_data=(inputs, targets),
        progress=False,
    )
    assert set(history.history) == {
        "loss",
        "dense_2_loss",
        "dense_3_loss",
        "accuracy_0",
        "accuracy_1",
        "val_loss",
        "val_dense_2_loss",
        "val_dense_3_loss",
        "val_accuracy_0",
        "val_accuracy_1",
        "lr",
    }
    after = mn.evaluate(model, losses, inputs, targets, loss_weights=[1.0, 0.5], batch_size=5)
    assert after["loss"] < before["loss"]
    assert after["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-12)
    result = mn.lr_find(model, losses, inputs, targets, num_steps=8, batch_size=4)
    assert len(result.lrs) >= 1


def test_the_weighted_loss_is_the_weighted_sum_of_each_outputs_loss(data):
    model = two_in_two_out()
    inputs = [data[1], data[2]]
    p1, p2 = model.predict(inputs)
    y1, y2 = (data[1][:, 0] > 0).astype(float), data[2]
    expected = 0.3 * mn.BCE(from_logits=True).forward(p1, y1) + 2.0 * mn.MSE().forward(p2, y2)
    got = mn.evaluate(model, [mn.BCE(from_logits=True), mn.MSE()], inputs, [y1, y2], loss_weights=[0.3, 2.0])
    assert got["loss"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda m, i, t: mn.fit(m, mn.MSE(), mn.SGD(m.parameters(), lr=0.1), i, t, epochs=1),
            ValueError,
            r"2 output\(s\), so it needs 2 loss\(es\), got 1",
        ),
        (
            lambda m, i, t: mn.evaluate(m, [mn.MSE(), mn.MSE()], i[0], t),
            TypeError,
            "2 inputs, so X must be a list of 2 arrays",
        ),
        (
            lambda m, i, t: mn.evaluate(m, [mn.MSE(), mn.MSE()], i, t[0]),
            TypeError,
            "2 outputs, so y must be a list of 2 targets",
        ),
        (
            lambda m, i, t: mn.evaluate(m, [mn.MSE(), mn.MSE()], i, t, loss_weights=[1.0]),
            ValueError,
            "loss_weights must be a list of 2 numbers",
        ),
        (
            lambda m, i, t: mn.evaluate(m, [mn.MSE(), mn.MSE()], [i[0], i[1][:5]], t),
            ValueError,
            r"same number of samples, got \[12, 5\]",
        ),
        (lambda m, i, t: m.predict([i[1], i[0]]), ValueError, "X|x\\[0\\] must have 3 features, got 2"),
    ],
)
def test_bad_lists_are_clear_errors(data, call, error, match):
    model = two_in_two_out()
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(error, match=match):
        call(model, [data[1], data[2]], [np.zeros(12), np.zeros((12, 2))])
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


# -- construction errors -----------------------------------------------------------------


def test_a_shape_mismatch_names_the_node_and_its_input():
    x = mn.Input(32)
    h = mn.ReLU()(x)
    with pytest.raises(
        ValueError, match=r"node dense: Dense\(16, 4\) cannot take relu of shape \(None, 32\): .*\(\.\.\., 16\)"
    ):
        mn.Graph(x, mn.Dense(16, 4)(h))


def test_an_input_that_reaches_no_output_is_refused():
    x, unused = mn.Input(3), mn.Input(2, name="extra")
    with pytest.raises(ValueError, match="input\\(s\\) extra reach no output"):
        mn.Graph([x, unused], mn.Dense(3, 1)(x))


def test_a_node_of_another_graph_is_refused():
    x, other = mn.Input(3), mn.Input(3)
    out = mn.Add()([mn.Dense(3, 2)(x), mn.Dense(3, 2)(other)])
    with pytest.raises(ValueError, match="not among this graph's inputs"):
        mn.Graph(x, out)


def test_a_cycle_is_refused_naming_a_node():
    x = mn.Input(3)
    a = mn.Tanh()(x)
    b = mn.Tanh()(a)
    a.inputs = (b,)  # only by editing a Node can a cycle be made; it is still caught
    with pytest.raises(ValueError, match="cycle through <Node Tanh"):
        mn.Graph(x, b)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda x: mn.Graph(x, "not a node"), TypeError, "outputs must be graph Nodes"),
        (lambda x: mn.Graph(mn.Tanh()(x), mn.Tanh()(x)), TypeError, "inputs must be mn.Input nodes"),
        (lambda x: mn.Graph([x, x], mn.Tanh()(x)), ValueError, "inputs lists the same node twice"),
        (lambda x: mn.Tanh()([x, x]), TypeError, "takes one input; call it on one Node"),
        (lambda x: mn.Add()(x), TypeError, "merges several inputs; call it on a list of at least two Nodes"),
        (lambda x: mn.Add()([x, np.zeros((2, 3))]), TypeError, "not a mix"),
        (lambda x: mn.Input(0), ValueError, r"shape must hold sizes >= 1, got \(0,\)"),
    ],
)
def test_construction_errors_are_clear(build, error, match):
    with pytest.raises(error, match=match):
        build(mn.Input(3))


def test_sequential_refuses_a_repeated_layer_and_points_to_graph():
    layer = mn.Dense(2, 2)
    with pytest.raises(ValueError, match="build an mn.Graph to share one layer's weights"):
        mn.Sequential(layer, mn.Tanh(), layer)


def test_sequential_refuses_a_merge_layer():
    with pytest.raises(TypeError, match="use mn.Graph"):
        mn.Sequential(mn.Add())


def test_merge_layers_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"Add\(\) needs inputs of one shape"):
        mn.Add().forward([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="one number of rows"):
        mn.Concat().forward([np.zeros((2, 3)), np.zeros((3, 3))])


# -- describing a graph -----------------------------------------------------------------


@row("repr-reads-like-the-code")
def test_print_and_summary_show_nodes_inputs_shapes_and_the_shared_layer_once():
    model = residual_graph()
    text, table = repr(model), model.summary()
    assert "add = Add()([relu, tanh])  # -> (None, 6)" in text  # a list, as in the code
    assert "dense_2:1 = Dense(6, 4)(tanh_1)" in text and "outputs=[dense_3]" in text
    # 8*6+6, 6*6+6, the shared 6*4+4 once, 8*1+1
    assert "(shared)" in table and "Total parameters: 133 (float64)" in table
    assert sum(p.size for p in model.parameters()) == 54 + 42 + 28 + 9
    assert [name for name, _ in model.named_parameters()][:2] == ["dense.W", "dense.b"]


def test_the_graph_dtype_is_decided_at_construction_and_float32_stays_float32(data):
    model = residual_graph(np.float32)
    assert model.dtype == np.float32
    out = model.predict(data[0])
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match="share one dtype"):
        x = mn.Input(2)
        mn.Graph(x, mn.Dense(2, 2, dtype=np.float32)(mn.Dense(2, 2)(x)))


# -- save, load, checkpoint and resume ------------------------------------------------------


def test_a_graph_saves_and_loads_with_its_wiring_and_a_shared_layer_stored_once(tmp_path, data):
    model = residual_graph()
    path = tmp_path / "graph.npz"
    mn.save(model, path)
    loaded = mn.load(path)
    assert repr(loaded) == repr(model)
    assert len(loaded.children()) == len(model.children()) and len(loaded.parameters()) == 8
    np.testing.assert_array_equal(loaded.predict(data[0]), model.predict(data[0]))


def test_a_two_input_two_output_graph_round_trips(tmp_path, data):
    model = two_in_two_out()
    mn.save(model, tmp_path / "g.npz")
    loaded = mn.load(tmp_path / "g.npz")
    assert loaded.input_names == ["a", "b"]
    for a, b in zip(model.predict([data[1], data[2]]), loaded.predict([data[1], data[2]])):
        np.testing.assert_array_equal(a, b)


def test_a_graph_run_resumed_from_a_checkpoint_ends_bit_identical(tmp_path, data):
    inputs = [data[1], data[2]]
    targets = [(data[1][:, 0] > 0).astype(float), data[2]]
    losses = [mn.BCE(from_logits=True), mn.MSE()]

    def run(epochs, **kwargs):
        model = two_in_two_out()
        opt = mn.SGD(model.parameters(), lr=0.1, momentum=0.9)
        history = mn.fit(
            model,
            losses,
            opt,
            inputs,
            targets,
            epochs=epochs,
            batch_size=5,
            seed=7,
            loss_weights=[1.0, 0.5],
            progress=False,
            **kwargs,
        )
        return model, history

    whole, whole_history = run(6)
    run(3, callbacks=[mn.Checkpoint(tmp_path / "ckpt.npz")])
    resumed, resumed_history = run(6, resume=tmp_path / "ckpt.npz")
    assert resumed_history.history == whole_history.history
    for a, b in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: c.update(nodes=[{**c["nodes"][0], "layer": 99}, *c["nodes"][1:]]), "names layer 99"),
        (
            lambda c: c.update(nodes=[{**c["nodes"][0], "inputs": ["nowhere"]}, *c["nodes"][1:]]),
            "not all earlier nodes",
        ),
        (lambda c: c.update(outputs=["missing"]), "outputs .* are not all its nodes"),
        (lambda c: c.update(nodes=c["nodes"][:-1]), "used by no node|outputs"),
        (lambda c: c.update(extra=1), "keys inputs, nodes and outputs"),
        (lambda c: c["inputs"].append(dict(c["inputs"][0])), "needs a new, non-empty name"),
    ],
)
def test_a_damaged_graph_description_is_a_clear_value_error(tmp_path, mutate, match):
    import json
    import zipfile

    model = residual_graph()
    path = tmp_path / "graph.npz"
    mn.save(model, path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    key = next(name for name in members if name.startswith("__minnet__"))
    meta_array = np.load(path, allow_pickle=False)[key.removesuffix(".npy")]
    meta = json.loads(meta_array.tobytes().decode())
    mutate(meta["architecture"]["config"])
    damaged = tmp_path / "damaged.npz"
    arrays = {
        name.removesuffix(".npy"): np.load(path, allow_pickle=False)[name.removesuffix(".npy")] for name in members
    }
    arrays[key.removesuffix(".npy")] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(damaged, **arrays)
    with pytest.raises(ValueError, match=match):
        mn.load(damaged)


# -- shapes: N-d inputs, inferred and checked when the graph is built --------------------


def small_cnn_graph():
    """Images in, a conv block with a residual Add, two outputs of the classes' scores."""
    x = mn.Input((1, 6, 6))
    h = mn.ReLU()(mn.Conv2D(1, 2, 3, padding=1, seed=0)(x))
    h = mn.Add()([h, mn.Conv2D(2, 2, 3, padding="same", seed=1)(h)])
    h = mn.Concat()([h, mn.MaxPool2D(1)(h)])  # along the channels: (4, 6, 6)
    return mn.Graph(inputs=x, outputs=mn.Dense(4 * 3 * 3, 3, seed=2)(mn.Flatten()(mn.MaxPool2D(2)(h))))


def test_input_takes_an_int_or_a_tuple_and_reads_like_the_code():
    assert mn.Input(8).shape == (8,) and mn.Input(8).n_features == 8 and repr(mn.Input(8)) == "Input(8)"
    images = mn.Input([1, 28, 28], name="img")
    assert images.shape == (1, 28, 28) and images.n_features is None
    assert repr(images) == "Input((1, 28, 28), name='img')"
    with pytest.raises(TypeError, match="shape must be an integer or a non-empty tuple of integers"):
        mn.Input((1, 2.5))


def test_node_shapes_are_inferred_and_shown_by_summary_and_repr():
    model = small_cnn_graph()
    summary, text = model.summary(), repr(model)
    for shape in (
        "(None, 1, 6, 6)",
        "(None, 2, 6, 6)",
        "(None, 4, 6, 6)",
        "(None, 4, 3, 3)",
        "(None, 36)",
        "(None, 3)",
    ):
        assert shape in summary
    assert "input = Input((1, 6, 6))  # -> (None, 1, 6, 6)" in text
    assert "concat = Concat()([add, max_pool2d])  # -> (None, 4, 6, 6)" in text, text
    out = model.predict(np.random.default_rng(0).standard_normal((5, 1, 6, 6)))
    assert out.shape == (5, 3)
    assert model.output_shape((1, 6, 6)) == (3,)


@row("graph-table-into-conv")
def test_a_table_into_conv2d_is_refused_when_the_graph_is_built():
    x = mn.Input(784)
    with pytest.raises(
        ValueError,
        match=r"node conv2d: Conv2D\(1, 8, 3\) cannot take input of shape \(None, 784\): "
        r"Conv2D\(1, 8, 3\) expected samples of shape \(1, H, W\), got shape \(784,\)",
    ):
        mn.Graph(inputs=x, outputs=mn.Conv2D(1, 8, 3)(x))


@row("graph-wrong-channels")
def test_the_wrong_channel_count_is_refused_when_the_graph_is_built():
    x = mn.Input((3, 8, 8))
    h = mn.Conv2D(3, 4, 3)(x)
    with pytest.raises(
        ValueError, match=r"node batch_norm2d: BatchNorm2D\(2\) cannot take conv2d of shape \(None, 4, 6, 6\)"
    ):
        mn.Graph(inputs=x, outputs=mn.BatchNorm2D(2)(h))


@row("graph-reshape-size")
def test_a_reshape_to_another_size_is_refused_when_the_graph_is_built():
    x = mn.Input(16)
    with pytest.raises(ValueError, match=r"node reshape: Reshape\(\(3, 5\)\) cannot take input of shape \(None, 16\)"):
        mn.Graph(inputs=x, outputs=mn.Reshape((3, 5))(x))


@row("graph-input-shape")
def test_a_graph_refuses_batches_of_another_shape_than_its_input():
    model = small_cnn_graph()
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(
        ValueError,
        match=r"graph input input takes batches of shape \(n, 1, 6, 6\), got an array of shape \(2, 1, 5, 5\)",
    ):
        model.predict(np.zeros((2, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"^X: graph input input takes batches of shape \(n, 1, 6, 6\)"):
        mn.fit(
            model,
            mn.CrossEntropy(),
            mn.SGD(model.parameters(), lr=0.1),
            np.zeros((4, 36)),
            [0, 1, 2, 0],
            epochs=1,
            progress=False,
        )
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


def test_a_custom_layer_in_a_graph_gets_its_shape_from_one_zero_sample():
    class Transpose(mn.Layer):
        def forward(self, x, training=True):
            return x.transpose(0, 2, 1)

        def backward(self, grad):
            return grad.transpose(0, 2, 1)

    x = mn.Input((2, 5))
    model = mn.Graph(inputs=x, outputs=mn.Dense(2, 1, seed=0)(Transpose()(x)))
    assert "(None, 5, 2)" in model.summary() and "(None, 5, 1)" in model.summary()


def test_a_graph_of_images_saves_and_loads_its_input_shape(tmp_path):
    model = small_cnn_graph()
    mn.save(model, tmp_path / "cnn.npz")
    loaded = mn.load(tmp_path / "cnn.npz")
    assert loaded.input_shapes() == [(1, 6, 6)] and repr(loaded) == repr(model)
    x = np.random.default_rng(1).standard_normal((3, 1, 6, 6))
    assert np.array_equal(loaded.predict(x), model.predict(x))


def _graph_file_with_input(tmp_path, entry):
    """A saved two-layer graph whose description's input is ``entry``."""
    from minnet.io import archive, serialize

    x = mn.Input(4)
    model = mn.Graph(inputs=x, outputs=mn.Dense(4, 1, seed=0)(x))
    meta, arrays = serialize.model_meta(model)
    meta["architecture"]["config"]["inputs"] = [entry]
    path = tmp_path / "graph.npz"
    archive.write_archive(path, meta, arrays)
    return path


def test_a_table_input_is_stored_by_its_width_as_before_shapes_so_older_files_read_alike(tmp_path):
    x = mn.Input(4)
    config = mn.Graph(inputs=x, outputs=mn.Dense(4, 1, seed=0)(x)).get_config()
    assert config["inputs"] == [{"name": "input", "n_features": 4}]
    loaded = mn.load(_graph_file_with_input(tmp_path, {"name": "input", "n_features": 4}))
    assert loaded.input_shapes() == [(4,)] and repr(loaded.input_names) == "['input']"


@row("file-input-shape")
@pytest.mark.parametrize(
    "shape, match",
    [
        ([0, 4], r"the shape of input input\[0\] must be >= 1, got 0"),
        ([4, True], r"input\[1\] must be an integer, got True"),
        ("4", r"must be a list of 1 to 8 sizes, got '4'"),
        ([1] * 9, "must be a list of 1 to 8 sizes"),
        (
            [2**20, 2**20],
            r"is \(1048576, 1048576\), 1099511627776 values per sample; a file may declare at most 134217728",
        ),
    ],
)
def test_a_graph_file_declaring_a_bad_input_shape_is_refused_before_anything_is_allocated(tmp_path, shape, match):
    with pytest.raises(ValueError, match=match):
        mn.load(_graph_file_with_input(tmp_path, {"name": "input", "shape": shape}))


# -- per output: losses, metrics, dicts keyed by name ---------------------------------------


def two_output_problem(data, as_dict):
    """Inputs, targets, losses and weights of two_in_two_out: lists, or dicts keyed by name."""
    y1, y2 = (data[1][:, 0] > 0).astype(float), data[2]
    if as_dict:  # in an order other than the model's, which must not matter
        return (
            {"b": data[2], "a": data[1]},
            {"dense_3": y2, "dense_2": y1},
            {"dense_3": mn.MSE(), "dense_2": mn.BCE(from_logits=True)},
            {"dense_3": 0.5, "dense_2": 1.0},
        )
    return [data[1], data[2]], [y1, y2], [mn.BCE(from_logits=True), mn.MSE()], [1.0, 0.5]


def test_metrics_per_output_and_each_outputs_loss_are_in_the_history(data):
    model = two_in_two_out()
    X, y, losses, weights = two_output_problem(data, as_dict=False)
    history = mn.fit(
        model,
        losses,
        mn.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=3,
        batch_size=5,
        loss_weights=weights,
        metrics={"dense_2": ["auc", "f1"], "dense_3": [mn.metrics.MAE(), "r2"]},
        validation_data=(X, y),
        progress=False,
    )
    logged = ["loss", "dense_2_loss", "dense_3_loss", "dense_2_auc", "dense_2_f1", "dense_3_mae", "dense_3_r2"]
    assert list(history.history) == [*logged, *[f"val_{key}" for key in logged], "lr"]
    # Each output's loss is its own, unweighted; the total is their weighted sum.
    np.testing.assert_allclose(
        history["loss"], np.add(history["dense_2_loss"], np.multiply(0.5, history["dense_3_loss"])), rtol=1e-12
    )
    p1, p2 = model.predict(X)
    assert history["val_dense_2_loss"][-1] == pytest.approx(mn.BCE(from_logits=True)(p1, y[0]), rel=1e-12)
    assert history["val_dense_3_loss"][-1] == pytest.approx(mn.MSE()(p2, y[1]), rel=1e-12)
    assert history["val_dense_2_auc"][-1] == pytest.approx(mn.metrics.AUC()(y[0], p1), rel=1e-12)
    assert history["val_dense_2_f1"][-1] == pytest.approx(mn.metrics.F1(threshold=0.0)(y[0], p1), rel=1e-12)
    assert history["val_dense_3_mae"][-1] == pytest.approx(np.abs(p2 - y[1]).mean(), rel=1e-12)
    assert history.plot() is not None  # the per-output keys draw in the loss and metric panels


def test_evaluate_reports_each_outputs_loss_and_metrics_per_output(data):
    model = two_in_two_out()
    X, y, losses, weights = two_output_problem(data, as_dict=True)
    scores = mn.evaluate(model, losses, X, y, loss_weights=weights, metrics={"dense_3": ["rmse"]}, batch_size=5)
    assert list(scores) == ["loss", "dense_2_loss", "dense_3_loss", "dense_3_rmse"]
    _, p2 = model.predict(X)
    assert scores["dense_3_rmse"] == pytest.approx(np.mean(np.sqrt(((p2 - y["dense_3"]) ** 2).mean(axis=0))))


def test_dicts_keyed_by_input_and_output_names_equal_lists(data):
    runs = []
    for as_dict in (False, True):
        model = two_in_two_out()
        X, y, losses, weights = two_output_problem(data, as_dict)
        history = mn.fit(
            model,
            losses,
            mn.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=3,
            batch_size=5,
            seed=0,
            loss_weights=weights,
            validation_data=(X, y),
            progress=False,
        )
        runs.append(
            (
                history.history,
                [p.value for p in model.parameters()],
                model.predict(X),
                mn.evaluate(model, losses, X, y, loss_weights=weights),
            )
        )
    (h_list, w_list, p_list, e_list), (h_dict, w_dict, p_dict, e_dict) = runs
    assert h_list == h_dict and e_list == e_dict
    assert all(np.array_equal(a, b) for a, b in zip(w_list + p_list, w_dict + p_dict))


def test_a_resumed_run_with_per_output_keys_is_bit_exact(data, tmp_path):
    def run(epochs, **kwargs):
        model = two_in_two_out()
        opt = mn.Adam(model.parameters(), lr=0.01)
        X, y, losses, weights = two_output_problem(data, as_dict=True)
        history = mn.fit(
            model,
            losses,
            opt,
            X,
            y,
            epochs=epochs,
            batch_size=5,
            seed=0,
            loss_weights=weights,
            metrics={"dense_2": ["auc"], "dense_3": ["r2"]},
            progress=False,
            **kwargs,
        )
        return history, model

    whole, model = run(4)
    run(2, callbacks=[mn.Checkpoint(tmp_path / "run.npz")])
    resumed, model_resumed = run(4, resume=tmp_path / "run.npz")
    assert resumed.history == whole.history and "dense_2_loss" in whole.history
    assert all(np.array_equal(a.value, b.value) for a, b in zip(model.parameters(), model_resumed.parameters()))


@row("by-name-unknown-key")
@pytest.mark.parametrize(
    "change, match",
    [
        (
            dict(metrics={"dense_9": ["auc"]}),
            r"metrics has key\(s\) 'dense_9' that name no output of the model; its outputs are 'dense_2', 'dense_3'",
        ),
        (dict(X={"a": 0, "c": 0}), r"X has key\(s\) 'c' that name no input of the model; its inputs are 'a', 'b'"),
        (dict(y={"dense_2": 0}), r"y has no entry for the model's output\(s\) 'dense_3'"),
        (dict(loss={"dense_2": mn.MSE()}), r"loss has no entry for the model's output\(s\) 'dense_3'"),
        (dict(loss_weights={"dense_2": 1.0, "dense_3": 1.0, "out": 2.0}), r"loss_weights has key\(s\) 'out'"),
    ],
)
def test_dicts_with_keys_that_are_not_the_models_names_are_refused(data, change, match):
    model = two_in_two_out()
    before = [p.value.copy() for p in model.parameters()]
    X, y, losses, weights = two_output_problem(data, as_dict=True)
    args = dict(X=X, y=y, loss=losses, loss_weights=weights, metrics=())
    args.update(change)
    opt = mn.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=match):
        mn.fit(
            model,
            args["loss"],
            opt,
            args["X"],
            args["y"],
            epochs=1,
            loss_weights=args["loss_weights"],
            metrics=args["metrics"],
            progress=False,
        )
    assert all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))


@row("by-name-without-names")
def test_a_dict_for_a_model_without_names_is_refused(blobs):
    X, y = blobs
    model = mn.Sequential(mn.Dense(X.shape[1], 1, seed=0))
    opt = mn.SGD(model.parameters(), lr=0.1)
    for kwargs in (dict(y={"out": y}), dict(metrics={"out": ["auc"]})):
        args = dict(y=y, metrics=()) | kwargs
        with pytest.raises(
            TypeError, match="is a dict, which is keyed by output names, but the model names no outputs"
        ):
            mn.fit(
                model, mn.BCE(from_logits=True), opt, X, args["y"], epochs=1, metrics=args["metrics"], progress=False
            )
    with pytest.raises(TypeError, match="x is a dict, which is keyed by input names"):
        model.predict({"x": X})
