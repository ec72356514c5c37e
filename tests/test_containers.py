"""Sequential: chaining, parameters, the one-instance rule, predict, summary."""

from __future__ import annotations

import numpy as np
import pytest
from rows import row

import minnet as mn


class Recorder(mn.Layer):
    """Identity that logs every call, to see the order and mode of the chain."""

    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def forward(self, x, training=True):
        self.log.append(("forward", self.name, training))
        return x

    def backward(self, grad):
        self.log.append(("backward", self.name))
        return grad


def test_forward_chains_the_layers(rng):
    d1, d2 = mn.Dense(3, 4, rng=0), mn.Dense(4, 2, rng=1)
    x = rng.standard_normal((5, 3))
    expected = np.tanh(x @ d1.W.value + d1.b.value) @ d2.W.value + d2.b.value
    np.testing.assert_allclose(mn.Sequential(d1, mn.Tanh(), d2).forward(x), expected, rtol=1e-14)


def test_backward_runs_in_reverse():
    log = []
    model = mn.Sequential(Recorder("a", log), Recorder("b", log))
    model.forward(np.ones((1, 1)))
    model.backward(np.ones((1, 1)))
    assert log == [("forward", "a", True), ("forward", "b", True), ("backward", "b"), ("backward", "a")]


def test_predict_runs_in_inference_mode():
    log = []
    out = mn.Sequential(Recorder("a", log)).predict([[1, 2]])
    assert log == [("forward", "a", False)] and out.dtype == np.float64


def test_parameters_concatenate_in_layer_order():
    d1, d2 = mn.Dense(3, 4), mn.Dense(4, 1, bias=False)
    model = mn.Sequential(d1, mn.Sigmoid(), d2)
    assert model.parameters() == [d1.W, d1.b, d2.W]
    assert [name for name, _ in model.named_parameters()] == ["0.W", "0.b", "2.W"]


def test_nested_sequential_parameters_and_names():
    inner = mn.Sequential(mn.Dense(3, 4), mn.ReLU())
    model = mn.Sequential(inner, mn.Dense(4, 1))
    assert model.parameters() == [*inner.parameters(), model[1].W, model[1].b]
    assert [name for name, _ in model.named_parameters()] == ["0.0.W", "0.0.b", "1.W", "1.b"]


def test_nested_sequential_backward_matches_flat(rng):
    a = [mn.Dense(3, 4, rng=0), mn.Tanh(), mn.Dense(4, 2, rng=1)]
    b = [mn.Dense(3, 4, rng=0), mn.Tanh(), mn.Dense(4, 2, rng=1)]
    flat, nested = mn.Sequential(*a), mn.Sequential(mn.Sequential(*b[:2]), b[2])
    x, g = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    np.testing.assert_array_equal(flat.forward(x), nested.forward(x))
    np.testing.assert_array_equal(flat.backward(g), nested.backward(g))
    for p, q in zip(flat.parameters(), nested.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_accepts_a_list_of_layers():
    layers = [mn.Dense(2, 2), mn.Sigmoid()]
    assert mn.Sequential(layers).layers == layers


def test_len_getitem_iter():
    layers = [mn.Dense(2, 2), mn.Sigmoid()]
    model = mn.Sequential(*layers)
    assert len(model) == 2 and model[1] is layers[1] and list(model) == layers


# -- refusals -------------------------------------------------------------------


def test_refuses_a_repeated_layer_instance():
    relu = mn.ReLU()
    with pytest.raises(ValueError, match="more than once"):
        mn.Sequential(mn.Dense(2, 2), relu, mn.Dense(2, 2), relu)


def test_refuses_a_repeated_instance_inside_a_nested_sequential():
    dense = mn.Dense(2, 2)
    with pytest.raises(ValueError, match="more than once"):
        mn.Sequential(dense, mn.Sequential(mn.Sigmoid(), dense))


def test_refuses_the_same_nested_sequential_twice():
    block = mn.Sequential(mn.Dense(2, 2), mn.Tanh())
    with pytest.raises(ValueError, match="more than once"):
        mn.Sequential(block, block)


@pytest.mark.parametrize("bad", [lambda x: x, "Dense", mn.Dense, mn.BCE()])
def test_refuses_non_layers(bad):
    with pytest.raises(TypeError, match="position 1"):
        mn.Sequential(mn.Dense(2, 2), bad)


def test_refuses_mixed_dtypes():
    with pytest.raises(TypeError, match="dtype"):
        mn.Sequential(mn.Dense(2, 2), mn.Dense(2, 1, dtype=np.float32))


def test_forward_refuses_1d_input():
    with pytest.raises(ValueError, match=r"x must be a batch with the samples on its first axis.*got shape \(3,\)"):
        mn.Sequential(mn.Dense(3, 1)).forward(np.ones(3))


def test_predict_converts_to_the_model_dtype():
    model = mn.Sequential(mn.Dense(2, 1, dtype=np.float32))
    assert model.predict([[1.0, 2.0]]).dtype == np.float32


def test_predict_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        mn.Sequential(mn.Dense(2, 1)).predict([[1.0, np.nan]])


# -- repr and summary ------------------------------------------------------------


def test_nested_repr_is_indented():
    model = mn.Sequential(mn.Sequential(mn.Dense(2, 3), mn.ReLU()), mn.Dense(3, 1))
    assert repr(model) == ("Sequential(\n  Sequential(\n    Dense(2, 3),\n    ReLU(),\n  ),\n  Dense(3, 1),\n)")


def test_repr_evaluates_back_to_the_same_architecture():
    model = mn.Sequential(mn.Dense(8, 16, init="he"), mn.ReLU(), mn.Dense(16, 1), mn.Sigmoid())
    assert repr(eval(repr(model), vars(mn))) == repr(model)


def test_summary_shows_shapes_and_parameter_counts():
    model = mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid())
    lines = model.summary().splitlines()
    rows = [line for line in lines if line[:2] in ("0:", "1:", "2:", "3:")]
    assert len(rows) == 4
    assert "(None, 16)" in rows[0] and rows[0].rstrip().endswith("144")  # 8*16 + 16
    assert "(None, 16)" in rows[1] and rows[1].rstrip().endswith(" 0")
    assert "(None, 1)" in rows[2] and rows[2].rstrip().endswith("17")  # 16*1 + 1
    assert "Total parameters: 161" in lines[-1]


def test_summary_does_not_change_parameters():
    model = mn.Sequential(mn.Dense(3, 2, rng=0), mn.Sigmoid())
    before = [p.value.copy() for p in model.parameters()]
    model.summary()
    assert all(np.array_equal(a, p.value) for a, p in zip(before, model.parameters()))


def test_summary_without_a_dense_needs_an_input_shape():
    with pytest.raises(ValueError, match="pass input_shape="):
        mn.Sequential(mn.ReLU()).summary()
    assert "(None, 3)" in mn.Sequential(mn.ReLU()).summary(n_features=3)
    assert "(None, 3)" in mn.Sequential(mn.ReLU()).summary(3)


def test_summary_between_forward_and_backward_leaves_the_caches_alone():
    model = mn.Sequential(mn.Dense(3, 4, rng=0), mn.ReLU(), mn.Dense(4, 2, rng=1))
    x = np.random.default_rng(0).normal(size=(5, 3))
    model.forward(x)
    model.summary()
    grad = model.backward(np.ones((5, 2)))  # would be a shape error if summary had run a 1-sample forward
    assert grad.shape == (5, 3)


def test_summary_of_a_cnn_takes_the_input_shape_and_shows_every_shape():
    model = mn.Sequential(
        mn.Conv2D(1, 8, 3, seed=0), mn.ReLU(), mn.MaxPool2D(2), mn.Flatten(), mn.Dense(8 * 13 * 13, 10, seed=1)
    )
    with pytest.raises(ValueError, match="could not infer the input shape from the layers; pass input_shape="):
        model.summary()
    rows = model.summary(input_shape=(1, 28, 28)).splitlines()[2:7]
    shapes = ["(None, 8, 26, 26)", "(None, 8, 26, 26)", "(None, 8, 13, 13)", "(None, 1352)", "(None, 10)"]
    assert all(shape in line for shape, line in zip(shapes, rows))
    assert rows[0].rstrip().endswith("80") and rows[4].rstrip().endswith("13,530")
    with pytest.raises(
        ValueError, match=r"Conv2D\(1, 8, 3\) expected samples of shape \(1, H, W\), got shape \(784,\)"
    ):
        model.summary(784)


def test_the_input_shape_is_inferred_only_through_layers_that_keep_it():
    assert mn.Sequential(mn.ReLU(), mn.Dense(3, 4)).input_shape() == (3,)
    assert mn.Sequential(mn.Flatten(), mn.Dense(12, 4)).input_shape() == (12,)  # one input it takes
    assert mn.Sequential(mn.Conv2D(1, 2, 3), mn.Flatten(), mn.Dense(8, 4)).input_shape() is None
    assert mn.Sequential(mn.Dense(3, 4)).in_features() == 3


def test_summary_takes_input_shape_or_its_older_name_not_both():
    with pytest.raises(TypeError, match="input_shape= or its older name n_features=, not both"):
        mn.Sequential(mn.ReLU()).summary(3, n_features=3)


# -- indexing and slicing ----------------------------------------------------------------


def five_layers() -> mn.Sequential:
    return mn.Sequential(mn.Dense(3, 4, seed=0), mn.ReLU(), mn.Dense(4, 4, seed=1), mn.Tanh(), mn.Dense(4, 1, seed=2))


def test_a_slice_is_a_sequential_of_the_same_layer_objects():
    model = five_layers()
    body = model[:3]
    assert isinstance(body, mn.Sequential) and len(body) == 3
    assert all(a is b for a, b in zip(body, model.layers[:3]))
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(model[3:].predict(body.predict(x)), model.predict(x))
    body[0].W.value[0, 0] += 1.0  # shared layers: the same weights
    assert model[0].W.value[0, 0] == body[0].W.value[0, 0]


def test_negative_indices_and_steps_are_as_in_pytorch():
    torch = pytest.importorskip("torch")
    model = five_layers()
    twin = torch.nn.Sequential(*(torch.nn.Identity() for _ in model))
    for index in [-1, -5, 2]:
        assert model[index] is model.layers[index]
    for index in [slice(-2, None), slice(None, None, 2), slice(None, None, -1), slice(4, 1, -2), slice(7, 9)]:
        expected = list(range(len(model)))[index]
        assert len(twin[index]) == len(expected)  # torch's slicing takes the same positions
        assert [id(layer) for layer in model[index]] == [id(model.layers[i]) for i in expected]


@row("sequential-bad-index")
@pytest.mark.parametrize(
    "index, error, match",
    [
        (5, IndexError, r"index 5 is out of range for a Sequential of 5 layers"),
        (-6, IndexError, r"index -6 is out of range"),
        ("0", TypeError, r"Sequential indices must be integers or slices, got '0' \(str\)"),
        (1.0, TypeError, r"got 1.0 \(float\)"),
    ],
)
def test_a_bad_index_is_refused(index, error, match):
    with pytest.raises(error, match=match):
        five_layers()[index]


def test_a_numpy_integer_indexes():
    model = five_layers()
    assert model[np.int64(1)] is model.layers[1]
