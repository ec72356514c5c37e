"""save / load: exact round trips (layers' state included), custom layers, descriptions that do not fit.

Refusals of damaged, foreign and hostile archives are in test_archive.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
from rows import row

import minnet as mn
import minnet.io.archive


def make_model(dtype=np.float64) -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(3, 5, init="he", rng=0, dtype=dtype),
        mn.LeakyReLU(0.2),
        mn.Sequential(mn.Dense(5, 4, bias=False, rng=1, dtype=dtype), mn.Tanh()),
        mn.Dense(4, 1, rng=2, dtype=dtype),
        mn.Sigmoid(),
    )


def values(model: mn.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


def assert_same_values(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y)


def read_raw(path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop("__minnet__").tobytes().decode()), arrays


def write_raw(path, meta: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> None:
    if meta is not None:
        arrays = {"__minnet__": np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays}
    with open(path, "wb") as f:
        np.savez(f, **arrays)


# -- round trips ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, dtype, rng):
    model = make_model(dtype)
    for p in model.parameters():  # values no initialiser would give
        p.value[...] = rng.standard_normal(p.shape).astype(dtype) * 1e-3 + np.pi
    path = tmp_path / "model.npz"
    mn.save(model, path)
    loaded = mn.load(path)
    assert_same_values(values(model), values(loaded))
    assert repr(loaded) == repr(model)
    x = rng.standard_normal((7, 3)).astype(dtype)
    assert np.array_equal(model.predict(x), loaded.predict(x))


def test_round_trip_keeps_layer_configuration(tmp_path):
    model = make_model()
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz")
    assert loaded[1].negative_slope == 0.2
    assert loaded[2][0].b is None and loaded[0].init == "he"


def test_save_accepts_str_path_and_writes_exactly_that_name(tmp_path):
    path = str(tmp_path / "weights.bin")
    mn.save(make_model(), path)
    assert os.listdir(tmp_path) == ["weights.bin"]
    assert_same_values(values(mn.load(path)), values(make_model()))


def test_file_is_plain_npz_with_json_description(tmp_path):
    mn.save(make_model(np.float32), tmp_path / "m.npz")
    meta, arrays = read_raw(tmp_path / "m.npz")  # allow_pickle=False succeeds: no object arrays
    assert meta["format"] == "minnet" and meta["format_version"] == minnet.io.archive.FORMAT_VERSION
    assert meta["dtype"] == "float32"
    assert [c["class"] for c in meta["architecture"]["children"]] == [
        "Dense",
        "LeakyReLU",
        "Sequential",
        "Dense",
        "Sigmoid",
    ]
    assert [p["name"] for p in meta["parameters"]] == ["0.W", "0.b", "2.0.W", "3.W", "3.b"]
    assert sorted(arrays) == [f"param.{i}" for i in range(5)]
    assert meta["states"] == [{}] * 8  # one per layer of iter_layers(model), none with state


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.npz"
    mn.save(mn.Sequential(mn.Dense(2, 2, rng=0)), path)
    mn.save(make_model(), path)
    assert len(mn.load(path)) == 5
    assert os.listdir(tmp_path) == ["m.npz"]


# -- layers' state (Layer.get_state / set_state) -----------------------------------


def trained_running_mean_model(running_mean):
    """A model whose RunningMean layer has seen training batches, so its state is not the initial one."""
    gen = np.random.default_rng(3)
    X, y = gen.standard_normal((40, 3)) + 2.0, gen.standard_normal(40)
    model = mn.Sequential(running_mean(3), mn.Dense(3, 4, rng=0), mn.Tanh(), mn.Dense(4, 1, rng=1))
    mn.fit(model, mn.MSE(), mn.SGD(model.parameters(), lr=0.01), X, y, epochs=3, batch_size=8, seed=0, progress=False)
    return model, X


def test_layer_state_round_trips_bit_exactly(tmp_path, running_mean):
    model, X = trained_running_mean_model(running_mean)
    path = tmp_path / "m.npz"
    mn.save(model, path)
    loaded = mn.load(path)
    assert loaded[0].updates == model[0].updates == 15  # 5 batches per epoch, 3 epochs
    assert loaded[0].mean.dtype == model[0].mean.dtype and np.array_equal(loaded[0].mean, model[0].mean)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    # The state matters: the same weights with a fresh running mean predict otherwise.
    loaded[0].set_state({"mean": np.zeros(3), "updates": 0})
    assert not np.allclose(loaded.predict(X), model.predict(X))


def test_layer_state_arrays_are_state_members_named_in_the_description(tmp_path, running_mean):
    model, _ = trained_running_mean_model(running_mean)
    mn.save(model, tmp_path / "m.npz")
    meta, arrays = read_raw(tmp_path / "m.npz")
    assert meta["states"][1] == {"mean": {"__array__": "state.0"}, "updates": 15}
    assert meta["states"][0] == {} and np.array_equal(arrays["state.0"], model[0].mean)


def test_a_state_the_layer_refuses_is_a_value_error_naming_the_layer(tmp_path, running_mean):
    model, _ = trained_running_mean_model(running_mean)
    path = tmp_path / "m.npz"
    mn.save(model, path)
    meta, arrays = read_raw(path)
    arrays["state.0"] = np.zeros(4)
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match=r"layer 1 \(RunningMean\(\)\) refuses the saved state.*mean must be"):
        mn.load(path)


def test_a_file_of_format_version_1_has_no_states_and_loads(tmp_path, running_mean):
    model, _X = trained_running_mean_model(running_mean)
    path = tmp_path / "m.npz"
    mn.save(model, path)
    meta, arrays = read_raw(path)
    meta["format_version"] = 1
    del meta["states"], arrays["state.0"]
    write_raw(path, meta, arrays)
    loaded = mn.load(path)
    assert loaded[0].updates == 0 and np.array_equal(loaded[0].mean, np.zeros(3))  # as constructed
    assert all(np.array_equal(a, b) for a, b in zip(values(loaded), values(model)))


def test_get_state_must_return_a_dict(tmp_path):
    class Odd(mn.Layer):
        def get_state(self):
            return [1, 2]

    with pytest.raises(TypeError, match=r"Odd.get_state\(\) must return a dict"):
        mn.save(mn.Sequential(Odd()), tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


# -- custom layers ------------------------------------------------------------


class Scale(mn.Layer):
    """A custom layer with a constructor argument and a parameter."""

    def __init__(self, n: int, factor: float = 2.0) -> None:
        self.n, self.factor = n, factor
        self.s = mn.Parameter(np.full(n, factor), name="s")

    def forward(self, x, training=True):
        self._x = x
        return x * self.s.value

    def backward(self, grad):
        self.s.grad[...] = (grad * self._x).sum(axis=0)
        return grad * self.s.value

    def parameters(self):
        return [self.s]

    def get_config(self):
        return {"n": self.n, "factor": self.factor}


def test_unknown_custom_layer_is_an_error_naming_it(tmp_path):
    mn.save(mn.Sequential(mn.Dense(2, 3, rng=0), Scale(3)), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="'Scale'.*custom_layers"):
        mn.load(tmp_path / "m.npz")


@pytest.mark.parametrize("custom", [{"Scale": Scale}, [Scale]])
def test_custom_layers_argument_round_trips(tmp_path, custom):
    model = mn.Sequential(mn.Dense(2, 3, rng=0), Scale(3, factor=0.5))
    model[1].s.value[...] = [0.1, 0.2, 0.3]
    mn.save(model, tmp_path / "m.npz")
    loaded = mn.load(tmp_path / "m.npz", custom_layers=custom)
    assert isinstance(loaded[1], Scale) and loaded[1].factor == 0.5
    assert_same_values(values(model), values(loaded))


def test_register_layer_decorator_round_trips(tmp_path):
    @mn.register_layer(name="test_serialize.Doubler")
    class Doubler(mn.Layer):
        def forward(self, x, training=True):
            return 2 * x

        def backward(self, grad):
            return 2 * grad

    mn.save(mn.Sequential(mn.Dense(2, 2, rng=0), Doubler()), tmp_path / "m.npz")
    assert read_raw(tmp_path / "m.npz")[0]["architecture"]["children"][1]["class"] == "test_serialize.Doubler"
    assert isinstance(mn.load(tmp_path / "m.npz")[1], Doubler)


def test_register_layer_refuses_a_built_in_name_and_non_layers():
    class Dense(mn.Layer):
        pass

    with pytest.raises(ValueError, match="already used by minnet.layers.dense.Dense"):
        mn.register_layer(Dense)
    with pytest.raises(TypeError, match="subclass of minnet.Layer"):
        mn.register_layer(int)


def test_saving_an_unregistered_class_named_like_a_built_in_is_refused(tmp_path):
    class Sigmoid(mn.Layer):
        def forward(self, x, training=True):
            return x

    with pytest.raises(ValueError, match="same name as the built-in minnet.Sigmoid"):
        mn.save(mn.Sequential(mn.Dense(2, 2, rng=0), Sigmoid()), tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


def test_config_that_is_not_json_is_refused_before_writing(tmp_path):
    class Odd(mn.Layer):
        def get_config(self):
            return {"arr": np.ones(2)}

    with pytest.raises(TypeError, match="Odd.get_config"):
        mn.save(mn.Sequential(Odd()), tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


# -- descriptions that do not fit their arrays ---------------------------------


def good_file(tmp_path):
    path = tmp_path / "good.npz"
    mn.save(make_model(), path)
    return path


def with_meta(change):
    def make(tmp_path):
        meta, arrays = read_raw(good_file(tmp_path))
        change(meta, arrays)
        path = tmp_path / "edited.npz"
        write_raw(path, meta, arrays)
        return path

    return make


def set_field(key, value):
    def change(meta, arrays):
        meta[key] = value

    return change


def set_array(key, value):
    def change(meta, arrays):
        arrays[key] = value

    return change


def _drop_array(meta, arrays):
    del arrays["param.4"]


def _unknown_class(meta, arrays):
    meta["architecture"]["children"][4]["class"] = "Swish"


def _bad_config(meta, arrays):
    meta["architecture"]["children"][0]["config"]["n_in"] = -3


def _huge_dense(meta, arrays):
    meta["architecture"]["children"][0]["config"].update(n_in=10**6, n_out=10**6)


def _huge_dense_and_table(meta, arrays):
    # The description is consistent with itself; only the arrays give the lie away.
    _huge_dense(meta, arrays)
    meta["parameters"][0]["shape"] = [10**6, 10**6]
    meta["parameters"][1]["shape"] = [10**6]


def _class_named(name):
    def change(meta, arrays):
        meta["architecture"]["children"][1] = {"class": name, "config": {}}

    return change


def _null_dtype(meta, arrays):
    meta["architecture"]["children"][0]["config"]["dtype"] = None  # np.dtype(None) is float64


def _layer_field(key, value):
    def change(meta, arrays):
        meta["architecture"]["children"][0][key] = value

    return change


def _table_field(key, value):
    def change(meta, arrays):
        meta["parameters"][0][key] = value

    return change


def _rename_parameter(meta, arrays):
    meta["parameters"][0]["name"] = "W0"


def _drop_key(key):
    def change(meta, arrays):
        del meta[key]

    return change


def _drop_last_state(meta, arrays):
    meta["states"].pop()


def _state_for_sigmoid(meta, arrays):
    meta["states"][-1] = {"slope": 1.0}


# name -> (id of its row in docs/reliability.md, make(tmp_path) -> path, message pattern).
# tests/test_reliability.py checks the table's file- rows against these ids (with test_archive.BAD_ARCHIVES).
BAD_FILES = {
    "Dense of 10^6 x 10^6": (
        "file-mismatched-arrays",
        with_meta(_huge_dense),
        r"Dense with config \{'n_in': 1000000, 'n_out': 1000000, .*which needs 1000001000000",
    ),
    "table matching a huge Dense": (
        "file-mismatched-arrays",
        with_meta(_huge_dense_and_table),
        r"'0.W' has shape \(3, 5\), its description says \[1000000, 1000000\]",
    ),
    "bare Layer class": ("file-unknown-class", with_meta(_class_named("Layer")), "'Layer', which minnet does not know"),
    "Loss class": ("file-unknown-class", with_meta(_class_named("Loss")), "'Loss', which minnet does not know"),
    "Parameter class": (
        "file-unknown-class",
        with_meta(_class_named("Parameter")),
        "'Parameter', which minnet does not know",
    ),
    "unknown layer class": ("file-unknown-class", with_meta(_unknown_class), "'Swish'"),
    "architecture not a dict": (
        "file-corrupt",
        with_meta(set_field("architecture", [1, 2])),
        "where a layer was expected",
    ),
    "config a layer rejects": ("file-mismatched-arrays", with_meta(_bad_config), "Dense rejects.*n_in"),
    "config a layer reads otherwise": (
        "file-mismatched-arrays",
        with_meta(_null_dtype),
        r"Dense reads as .*'dtype': 'float64'.* \(it does not keep \['dtype'\]\)",
    ),
    "a field minnet does not know": (
        "file-corrupt",
        with_meta(_layer_field("init_scale", 2.0)),
        r"describes Dense with fields minnet does not know: \['init_scale'\]",
    ),
    "a field a model file does not have": (
        "file-corrupt",
        with_meta(set_field("checkpoint", {})),
        r"has fields a model file does not have: \['checkpoint'\]",
    ),
    "a parameter described with a field minnet does not know": (
        "file-corrupt",
        with_meta(_table_field("extra", 1)),
        r"describes parameter 0 as \{.*'extra': 1\}, not as a name, shape and dtype",
    ),
    "missing array": ("file-mismatched-arrays", with_meta(_drop_array), "lacks the array of parameter '3.b'"),
    "wrong shape": (
        "file-mismatched-arrays",
        with_meta(set_array("param.0", np.zeros((4, 5)))),
        r"'0.W' has shape \(4, 5\)",
    ),
    "wrong dtype": (
        "file-mismatched-arrays",
        with_meta(set_array("param.0", np.zeros((3, 5), np.float32))),
        "'0.W' is float32",
    ),
    "renamed parameter": (
        "file-mismatched-arrays",
        with_meta(_rename_parameter),
        "calls parameter 0 'W0', the model calls it '0.W'",
    ),
    "wrong model dtype": (
        "file-mismatched-arrays",
        with_meta(set_field("dtype", "float32")),
        "says its dtype is 'float32', its model computes in float64",
    ),
    "unknown kind": ("file-corrupt", with_meta(set_field("kind", "weights")), "unknown kind 'weights'"),
    "no states": (
        "file-layer-state",
        with_meta(_drop_key("states")),
        r"layers' states must be a list of 8 dicts \(one per layer\), got None",
    ),
    "a state too few": (
        "file-layer-state",
        with_meta(_drop_last_state),
        "layers' states must be a list of 8 dicts.*got 7 entries",
    ),
    "a state for a layer without state": (
        "file-layer-state",
        with_meta(_state_for_sigmoid),
        r"layer 7 \(Sigmoid\(\)\) refuses the saved state.*keeps no state",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_refused_with_a_clear_value_error(tmp_path, name):
    _, make, message = BAD_FILES[name]
    path = make(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        mn.load(path)
    assert path.read_bytes() == before  # loading never touches the file


class Hungry(mn.Layer):
    """A custom layer whose constructor allocates what its config says."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.w = mn.Parameter(np.zeros(n), name="w")

    def forward(self, x, training=True):
        return x

    def backward(self, grad):
        return grad

    def parameters(self):
        return [self.w]

    def get_config(self):
        return {"n": self.n}


def test_custom_layer_larger_than_the_file_is_refused_once_built(tmp_path):
    path = tmp_path / "m.npz"
    mn.save(mn.Sequential(Hungry(3), Hungry(4)), path)
    meta, arrays = read_raw(path)
    meta["architecture"]["children"][0]["config"]["n"] = 100_000
    write_raw(path, meta, arrays)
    message = r"Hungry with config \{'n': 100000\}, which needs 100000 parameter values"
    with pytest.raises(ValueError, match=message):
        mn.load(path, custom_layers=[Hungry])


def test_custom_layer_running_out_of_memory_is_a_value_error(tmp_path):
    class Greedy(Hungry):
        def __init__(self, n: int) -> None:
            super().__init__(n)
            if n > 10:
                raise MemoryError("Unable to allocate")

    path = tmp_path / "m.npz"
    mn.save(Greedy(3), path)
    meta, arrays = read_raw(path)
    meta["architecture"]["config"]["n"] = 11
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match="needs more memory than is available"):
        mn.load(path, custom_layers={"Greedy": Greedy})


def test_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        mn.load(tmp_path)


@pytest.mark.parametrize("path", [None, 3, b"m.npz", ""])
def test_load_and_save_refuse_non_paths(path):
    error = ValueError if path == "" else TypeError
    with pytest.raises(error, match="path"):
        mn.load(path)
    with pytest.raises(error, match="path"):
        mn.save(make_model(), path)


def test_save_refuses_a_non_layer(tmp_path):
    with pytest.raises(TypeError, match="save takes a Layer"):
        mn.save([np.ones(3)], tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


def test_load_refuses_bad_custom_layers_argument(tmp_path):
    path = good_file(tmp_path)
    with pytest.raises(TypeError, match="custom_layers"):
        mn.load(path, custom_layers="Scale")
    with pytest.raises(TypeError, match="subclasses of minnet.Layer"):
        mn.load(path, custom_layers={"Scale": int})


# -- models with BatchNorm and Dropout ----------------------------------------------------


def _trained_blocks_model() -> mn.Sequential:
    gen = np.random.default_rng(0)
    model = mn.Sequential(
        mn.Dense(3, 6, seed=0),
        mn.BatchNorm(6, momentum=0.3),
        mn.ReLU(),
        mn.Dropout(0.4, seed=1),
        mn.Dense(6, 4, seed=2),
        mn.Softmax(),
    )
    for _ in range(3):  # running statistics and the generator away from their start
        model.backward(model.forward(gen.standard_normal((8, 3))))
    for p in model.parameters():
        p.value[...] += gen.standard_normal(p.shape) * 0.1
    return model


def test_round_trip_of_the_new_blocks_rebuilds_architecture_and_parameters(tmp_path):
    model = _trained_blocks_model()
    mn.save(model, tmp_path / "model.npz")
    loaded = mn.load(tmp_path / "model.npz")
    assert repr(loaded) == repr(model)
    assert_same_values(values(model), values(loaded))


def test_round_trip_of_batchnorm_and_dropout_predicts_bit_identically_and_draws_the_same_masks(tmp_path):
    model = _trained_blocks_model()
    mn.save(model, tmp_path / "model.npz")
    loaded = mn.load(tmp_path / "model.npz")
    X = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))  # BatchNorm's running statistics
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))  # Dropout's next mask


# -- what save writes, load reads back; what load would refuse, save refuses before writing --------


def nested(depth: int, graph_every: int = 0) -> mn.Layer:
    """``depth`` containers around a Dense; every ``graph_every``-th one a Graph, the rest Sequentials."""
    model: mn.Layer = mn.Dense(2, 2, seed=0)
    for level in range(1, depth + 1):
        if graph_every and level % graph_every == 0:
            x = mn.Input(2)
            model = mn.Graph(inputs=x, outputs=model(x))
        else:
            model = mn.Sequential(model)
    return model


@row("file-deep-nesting")
@pytest.mark.parametrize("graph_every", [0, 3])
def test_the_deepest_model_that_can_be_built_saves_loads_and_predicts(tmp_path, graph_every):
    model = nested(mn.containers.MAX_NESTING, graph_every)
    mn.save(model, tmp_path / "deep.npz")
    loaded = mn.load(tmp_path / "deep.npz")
    x = np.ones((3, 2))
    assert loaded.predict(x).tobytes() == model.predict(x).tobytes()


@row("file-deep-nesting")
@pytest.mark.parametrize("wrap", [mn.Sequential, lambda inner: mn.Graph(inputs=(x := mn.Input(2)), outputs=inner(x))])
def test_one_container_more_is_refused_when_it_is_built(wrap):
    with pytest.raises(ValueError, match=r"would hold a layer 101 containers deep; minnet models nest at most 100"):
        wrap(nested(mn.containers.MAX_NESTING))


class Box(mn.Layer):
    """A container of one layer that is not a minnet Model, so nothing checks its depth when it is built."""

    def __init__(self, inner: mn.Layer) -> None:
        self.inner = inner

    def forward(self, x, training=True):
        return self.inner.forward(x, training)

    def backward(self, grad):
        return self.inner.backward(grad)

    def parameters(self):
        return self.inner.parameters()

    def children(self):
        return [self.inner]


@row("file-deep-nesting")
def test_a_custom_container_too_deep_is_refused_by_save_before_writing(tmp_path):
    model: mn.Layer = mn.Dense(2, 2, seed=0)
    for _ in range(2000):  # as deep as made predict die of a bare RecursionError
        model = Box(model)
    with pytest.raises(ValueError, match=r"the model would hold a layer 101 containers deep"):
        mn.save(model, tmp_path / "deep.npz")
    assert os.listdir(tmp_path) == []


@row("file-non-finite-parameter")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinite_parameters_are_saved_and_loaded_as_they_are(tmp_path, dtype):
    model = make_model(dtype)
    w = model.parameters()[0].value
    w[0, 0], w[1, 1], w[2, 2] = np.nan, np.inf, -np.inf
    bits = w.view(np.uint32 if dtype == np.float32 else np.uint64)
    bits[0, 1] = np.array(np.nan, dtype).view(bits.dtype) | 0x123  # a NaN with a payload: kept bit for bit
    mn.save(model, tmp_path / "diverged.npz")
    loaded = mn.load(tmp_path / "diverged.npz")
    assert [v.tobytes() for v in values(loaded)] == [v.tobytes() for v in values(model)]


class Scaled(mn.Layer):
    """A custom layer whose config its constructor does not take: a file of it could never be loaded."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def forward(self, x, training=True):
        return x * self.factor

    def backward(self, grad):
        return grad * self.factor

    def get_config(self):
        return {"scale": self.factor}


def _two_classes_named_scaled() -> mn.Layer:
    other = type("Scaled", (Scaled,), {"__module__": "elsewhere"})
    return mn.Sequential(Scaled(), other())


def _batch_norm_with_nan_statistics() -> mn.Layer:
    model = mn.Sequential(mn.Dense(3, 2, seed=0), mn.BatchNorm(2))
    model[1].running_mean[0] = np.nan
    return model


class ObjectState(mn.Layer):
    def forward(self, x, training=True):
        return x

    def backward(self, grad):
        return grad

    def get_state(self):
        return {"names": np.array(["a", None], dtype=object)}


@row("file-save-would-not-load")
@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: mn.Sequential(Scaled()),
            ValueError,
            r"load would refuse the file: the file describes Scaled with config \{'scale': 2.0\}, which Scaled rejects",
        ),
        (_two_classes_named_scaled, ValueError, "two layer classes saved under the name 'Scaled'"),
        (
            _batch_norm_with_nan_statistics,
            ValueError,
            r"load would refuse the file: the file: layer 2 \(BatchNorm\(2\)\) refuses the saved state: "
            r"ValueError: BatchNorm\(2\) state 'running_mean' must be finite",
        ),
        (lambda: mn.Sequential(ObjectState()), TypeError, "cannot save an array of dtype object"),
    ],
)
def test_what_load_would_refuse_save_refuses_before_writing_saying_why(tmp_path, make, error, message):
    path = tmp_path / "m.npz"
    mn.save(make_model(), path)
    before = path.read_bytes()
    with pytest.raises(error, match=message):
        mn.save(make(), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_a_cnn_saves_and_loads_bit_exactly_in_predictions_training_and_gradients(tmp_path):
    gen = np.random.default_rng(0)
    model = mn.Sequential(
        mn.Conv2D(2, 3, 3, stride=2, padding="valid", seed=0), mn.BatchNorm2D(3), mn.LeakyReLU(),
        mn.AvgPool2D(2, stride=1, padding=1), mn.Dropout(0.2, seed=1), mn.GlobalAvgPool2D(), mn.Dense(3, 2, seed=2),
    )  # fmt: skip
    X, y = gen.standard_normal((8, 2, 9, 9)), gen.integers(0, 2, 8)
    mn.fit(model, mn.CrossEntropy(), mn.SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=4, progress=False)
    mn.save(model, tmp_path / "cnn.npz")
    loaded = mn.load(tmp_path / "cnn.npz")
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    grad = gen.standard_normal((8, 2))
    for m in (model, loaded):
        m.forward(X)  # the same dropout mask: the generator's state was saved
        m.backward(grad)
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert np.array_equal(p.grad, q.grad), p.name
