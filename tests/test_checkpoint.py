"""Checkpoints: layers' state resumed bit-exactly, every field checked before anything is restored, a fuzz test.

The run here has all the state a checkpoint carries: a layer with a running
mean (``RunningMean``, from conftest), SGD with momentum buffers, an
EarlyStopping with best weights, the shuffling generator and the history.
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_serialize import read_raw, write_raw

import minnet as mn
from minnet.containers import iter_layers
from minnet.io.archive import unpack
from minnet.io.fields import generator_state
from minnet.io.serialize import describe_model

FIT = dict(batch_size=8, shuffle=True, progress=False)


def data():
    gen = np.random.default_rng(0)
    X = gen.standard_normal((24, 3)) + 1.5
    return X, (X[:, 0] - X[:, 1] > 0).astype(float)


def build(running_mean, seeds=(0, 1)):
    """A model with state that is not trained, its optimizer and an EarlyStopping, all new."""
    model = mn.Sequential(
        running_mean(3), mn.Dense(3, 4, rng=seeds[0]), mn.Tanh(), mn.Dense(4, 1, rng=seeds[1]), mn.Sigmoid()
    )
    opt = mn.SGD(model.parameters(), lr=0.2, momentum=0.9)
    return model, opt, mn.EarlyStopping("loss", patience=50)


def snapshot(model, opt, callbacks) -> dict[str, Any]:
    """Everything a resume may change: parameters, optimizer, layers' and callbacks' state."""
    return copy.deepcopy(
        {
            "parameters": [p.value for p in model.parameters()],
            "optimizer": opt.state_dict(),
            "layers": [layer.get_state() for layer in iter_layers(model)],
            "callbacks": [cb.state_dict() for cb in callbacks],
        }
    )


def same(a: Any, b: Any) -> bool:
    """Exact equality of nested states: same types, same keys, arrays equal bit for bit (NaN included)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.fixture
def checkpoint(tmp_path, running_mean, interrupt_at):
    """A checkpoint of a 4-epoch run (3 batches each) interrupted in its third: it holds epoch 2.

    The Ctrl-C comes from a callback that runs before Checkpoint at the end
    of epoch 3, so the last checkpoint written is that of epoch 2.
    """
    X, y = data()
    path = tmp_path / "run.npz"
    model, opt, stop = build(running_mean)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=4, seed=5, callbacks=[stop, mn.Checkpoint(path), interrupt_at(3)], **FIT)
    return path


def resume(path, running_mean, epochs=2):
    """Resume from ``path`` into new objects; returns ``(error, before, after, history)``.

    With ``epochs=2`` (the checkpoint's epoch) nothing is trained: what is
    compared is exactly what was restored.
    """
    X, y = data()
    model, opt, stop = build(running_mean, seeds=(7, 8))
    callbacks = [stop, mn.Checkpoint(path.parent / "again.npz")]
    before = snapshot(model, opt, callbacks)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "nothing to train", UserWarning)  # what is compared is the restore
            history = mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, resume=path, callbacks=callbacks, **FIT)
    except ValueError as exc:
        return exc, before, snapshot(model, opt, callbacks), None
    return None, before, snapshot(model, opt, callbacks), history


# -- layers' state in a resumed run --------------------------------------------------


def test_a_resumed_run_with_layer_state_ends_bit_identical_to_an_uninterrupted_one(checkpoint, running_mean):
    X, y = data()
    model_a, opt_a, stop_a = build(running_mean)
    history_a = mn.fit(model_a, mn.BCE(), opt_a, X, y, epochs=4, seed=5, callbacks=[stop_a], **FIT)
    error, _, _, history_c = resume(checkpoint, running_mean, epochs=4)
    assert error is None
    model_c, opt_c, stop_c = build(running_mean, seeds=(7, 8))
    mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=4, resume=checkpoint, callbacks=[stop_c], **FIT)
    assert model_c[0].updates == model_a[0].updates == 12
    assert same(snapshot(model_c, opt_c, [stop_c]), snapshot(model_a, opt_a, [stop_a]))
    assert history_c.history == history_a.history
    assert np.array_equal(model_c.predict(X), model_a.predict(X))


def test_without_its_layer_state_the_resumed_run_would_differ(checkpoint, running_mean):
    """The test above can fail: a run resumed with the running mean restarted from zero ends elsewhere."""
    meta, arrays = read_raw(checkpoint)
    arrays[meta["states"][1]["mean"]["__array__"]] = np.zeros(3)
    meta["states"][1]["updates"] = 0
    write_raw(checkpoint, meta, arrays)
    X, y = data()
    model_a, opt_a, stop_a = build(running_mean)
    mn.fit(model_a, mn.BCE(), opt_a, X, y, epochs=4, seed=5, callbacks=[stop_a], **FIT)
    model_c, opt_c, stop_c = build(running_mean)
    mn.fit(model_c, mn.BCE(), opt_c, X, y, epochs=4, resume=checkpoint, callbacks=[stop_c], **FIT)
    assert not np.array_equal(model_c[0].mean, model_a[0].mean)


def test_checkpoint_holds_every_layer_state_in_iter_layers_order(checkpoint):
    meta, _arrays = read_raw(checkpoint)
    assert [sorted(state) for state in meta["states"]] == [[], ["mean", "updates"], [], [], [], []]
    assert meta["states"][1]["updates"] == 6


# -- every field checked before anything is restored -----------------------------------


def _get(meta, *path):
    """The field at ``path`` (keys and indices into the description)."""
    for key in path:
        meta = meta[key]
    return meta


def _set(*path_and_value):
    """Set the field at ``path`` (keys and indices into the description) to ``value``."""
    *path, value = path_and_value

    def change(meta, arrays):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(*path):
    def change(meta, arrays):
        node = meta
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _array(*path, value: Callable[[np.ndarray], np.ndarray]):
    """Replace the array that the field at ``path`` refers to by ``value(array)``."""

    def change(meta, arrays):
        node = meta
        for key in path:
            node = node[key]
        arrays[node["__array__"]] = value(arrays[node["__array__"]])

    return change


def _nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _generator_state(kind: str, *path_and_value: Any) -> dict[str, Any]:
    """A valid state of numpy's ``kind`` bit generator as JSON values, with the field at ``path`` set to ``value``."""
    state = generator_state(np.random.Generator(getattr(np.random, kind)(0)))
    _set(*path_and_value)(state, None)
    return state


def _nest(depth):
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


C = ("checkpoint",)
ES = (*C, "callbacks", 0, "state")  # EarlyStopping's state (listed first in the run)
OPT = (*C, "optimizer", "state")

# name -> (id of its row in docs/reliability.md, change(meta, arrays), message pattern).
BAD_CHECKPOINTS: dict[str, tuple[str, Callable, str]] = {
    "missing field": (
        "checkpoint-structure",
        _delete(*C, "rng"),
        r"field checkpoint must have the keys \[.*'rng'.*\]; \['rng'\] missing",
    ),
    "unknown field": (
        "checkpoint-structure",
        _set(*C, "extra", 1),
        r"field checkpoint must have .*\['extra'\] unknown",
    ),
    "a value nested 300 deep": (
        "checkpoint-structure",
        _set(*C, "epoch", _nest(300)),
        "description nested more than 256 levels deep",
    ),
    "a setting minnet does not know": (
        "checkpoint-structure",
        _set(*C, "config", "extra", 1),
        r"field config must have the keys \[.*\]; \['extra'\] unknown",
    ),
    "a parameter described with a field minnet does not know": (
        "checkpoint-structure",
        _set("parameters", 1, "extra", 1),
        r"parameter 1 must have the keys \['dtype', 'name', 'shape'\]; \['extra'\] unknown",
    ),
    "a field a checkpoint does not have": (
        "checkpoint-structure",
        _set("extra", 1),
        r"has fields a checkpoint file does not have: \['extra'\]",
    ),
    "history not a dict": (
        "checkpoint-structure",
        _set(*C, "history", [1, 2]),
        "field history must be a dict with the keys",
    ),
    "epoch a string": ("checkpoint-type", _set(*C, "epoch", "2"), "field epoch must be an integer, got '2' "),
    "epoch a float": ("checkpoint-type", _set(*C, "epoch", 2.0), "field epoch must be an integer, got 2.0"),
    "epoch true": ("checkpoint-type", _set(*C, "epoch", True), "field epoch must be an integer, got True"),
    "stop_training 'no'": (
        "checkpoint-type",
        _set(*C, "stop_training", "no"),
        "field stop_training must be true or false, got 'no'",
    ),
    "stop_training 1": (
        "checkpoint-type",
        _set(*C, "stop_training", 1),
        "field stop_training must be true or false, got 1",
    ),
    "a loss that is a string": (
        "checkpoint-type",
        _set(*C, "history", "history", "loss", 1, "0.5"),
        r"field history.history\['loss'\]\[1\] must be a number, got '0.5'",
    ),
    "a loss of 10**400": (
        "checkpoint-range",
        _set(*C, "history", "history", "loss", 0, 10**400),
        r"history\['loss'\]\[0\] must fit in a float, got an integer of 1329 bits",
    ),
    "negative epoch": ("checkpoint-range", _set(*C, "epoch", -1), "field epoch must be >= 1, got -1"),
    "epoch beyond epochs": ("checkpoint-range", _set(*C, "epoch", 5), "field epoch must be <= 4, got 5"),
    "step count too small": (
        "checkpoint-range",
        _set(*OPT, "step_count", 5),
        r"field optimizer.state.step_count must be >= 6, got 5",
    ),
    "step count of 10**30": (
        "checkpoint-range",
        _set(*OPT, "step_count", 10**30),
        "step_count must be <= 9007199254740992",
    ),
    "negative learning rate": (
        "checkpoint-range",
        _set(*C, "history", "history", "lr", 0, -0.1),
        r"history\['lr'\] holds a negative learning rate",
    ),
    "infinite loss": (
        "checkpoint-range",
        _set(*C, "history", "history", "loss", 0, math.inf),
        r"history\['loss'\]\[0\] must be finite, got inf",
    ),
    "a loss too few": (
        "checkpoint-length",
        _set(*C, "history", "history", "loss", [0.5]),
        r"history.history\['loss'\] must hold one number per epoch \(2\), got 1 values",
    ),
    "history epochs out of step": (
        "checkpoint-length",
        _set(*C, "history", "epoch", [1, 3]),
        r"field history.epoch must be \[1, ..., 2\] for 2 epoch\(s\)",
    ),
    "a metric the run does not log": (
        "checkpoint-length",
        _set(*C, "history", "history", "f1", [0.5, 0.5]),
        r"history.history must have the keys \['loss', 'lr'\]; \['f1'\] unknown",
    ),
    "momentum buffer of another shape": (
        "checkpoint-array",
        _array(*OPT, "momentum_buffer", 0, value=lambda a: a[:2]),
        r"momentum_buffer\[0\] must be float64 of shape \(3, 4\), "
        r"got float64 of shape \(2, 4\)",
    ),
    "momentum buffer of another dtype": (
        "checkpoint-array",
        _array(*OPT, "momentum_buffer", 1, value=lambda a: a.astype(np.float32)),
        r"momentum_buffer\[1\] must be float64 of shape \(4,\), got float32",
    ),
    "NaN momentum buffer": (
        "checkpoint-array",
        _array(*OPT, "momentum_buffer", 2, value=_nan),
        r"momentum_buffer\[2\] holds NaN or infinite values",
    ),
    "best weights of another shape": (
        "checkpoint-callback",
        _array(*ES, "best_values", 1, value=lambda a: a[:1]),
        r"state of EarlyStopping is refused: best_values\[1\] must be float64 of "
        r"shape \(4,\), got float64 of shape \(1,\)",
    ),
    "one best weight broadcast over all": (
        "checkpoint-callback",
        _array(*ES, "best_values", 0, value=lambda a: a[:1, :1]),
        r"best_values\[0\] must be float64 of shape \(3, 4\)",
    ),
    "best layer states one too many": (
        "checkpoint-callback",
        # a second entry, for a model with one layer that keeps state
        lambda meta, arrays: _get(meta, *ES, "best_states").append({"updates": 2}),
        r"state of EarlyStopping is refused: best_states must be a list of 1 layer states, got \[",
    ),
    "best layer state its layer refuses": (
        "checkpoint-callback",
        _array(*ES, "best_states", 0, "mean", value=_nan),
        r"state of EarlyStopping is refused: best_states\[0\] does not fit .*: mean must be a finite",
    ),
    "best a string": ("checkpoint-callback", _set(*ES, "best", "low"), "best must be a number, got 'low'"),
    "best -inf when minimising": (
        "checkpoint-callback",
        _set(*ES, "best", -math.inf),
        r"best must be inf exactly when no epoch has improved .* "
        r"got -inf at best_epoch 2",
    ),
    "best epoch after the last": ("checkpoint-callback", _set(*ES, "best_epoch", 3), "best_epoch must be <= 2, got 3"),
    "stopped at an epoch not run": (
        "checkpoint-callback",
        _set(*ES, "stopped_epoch", 7),
        r"stopped_epoch must be None or 2 \(the last epoch\), got 7",
    ),
    "negative wait": ("checkpoint-callback", _set(*ES, "wait", -3), "wait must be >= 0, got -3"),
    "waited longer than the run": ("checkpoint-callback", _set(*ES, "wait", 5), "wait must be <= 0, got 5"),
    "state for a callback without state": (
        "checkpoint-callback",
        _set(*C, "callbacks", 2, "state", {"x": 1}),
        r"state of Checkpoint is refused: Checkpoint\(.*\) keeps no state",
    ),
    "unknown bit generator": (
        "checkpoint-rng",
        _set(*C, "rng", "bit_generator", "os.system"),
        "field rng must be the state of one of numpy.s bit generators .* got .os.system. as its bit generator",
    ),
    "random state of 10**50": (
        "checkpoint-generator-state",
        _set(*C, "rng", "state", "state", 10**50),
        r"field rng.state.state must be <= 3402823669\d+, got 10000000\d+",
    ),
    "has_uint32 true": (
        "checkpoint-rng",
        _set(*C, "rng", "has_uint32", True),
        r"field rng.has_uint32 must be an integer, got True",
    ),
    "has_uint32 of -3": (
        "checkpoint-generator-state",
        _set(*C, "rng", "has_uint32", -3),
        r"field rng.has_uint32 must be >= 0, got -3",
    ),
    "a spare draw beyond 32 bits": (
        "checkpoint-generator-state",
        _set(*C, "rng", "uinteger", 2**32),
        r"field rng.uinteger must be <= 4294967295, got 4294967296",
    ),
    "a negative increment": (
        "checkpoint-generator-state",
        _set(*C, "rng", "state", "inc", -1),
        r"field rng.state.inc must be >= 0, got -1",
    ),
    "an MT19937 position past its key": (
        "checkpoint-generator-state",
        _set(*C, "rng", _generator_state("MT19937", "state", "pos", 700)),
        r"field rng.state.pos must be <= 624, got 700",
    ),
    "a Philox buffer position past its buffer": (
        "checkpoint-generator-state",
        _set(*C, "rng", _generator_state("Philox", "buffer_pos", 99)),
        r"field rng.buffer_pos must be <= 4, got 99",
    ),
    "an SFC64 state too short": (
        "checkpoint-generator-state",
        _set(*C, "rng", _generator_state("SFC64", "state", "state", [1, 2, 3])),
        r"field rng.state.state must be a list of 4 integers, got \[1, 2, 3\]",
    ),
    "a field the generator does not have": (
        "checkpoint-generator-state",
        _set(*C, "rng", "seed", 7),
        r"field rng must have the keys .*\['seed'\] unknown",
    ),
    "running mean of another shape": (
        "checkpoint-layer-state",
        _array("states", 1, "mean", value=lambda a: np.zeros(5)),
        r"layer 1 \(RunningMean\(\)\) refuses the saved state: "
        r"ValueError: mean must be",
    ),
    "running mean with NaN": (
        "checkpoint-layer-state",
        _array("states", 1, "mean", value=_nan),
        "layer 1 .* refuses the saved state",
    ),
}


@pytest.mark.parametrize("name", list(BAD_CHECKPOINTS))
def test_a_bad_field_is_a_value_error_naming_it_and_nothing_is_restored(checkpoint, running_mean, name):
    _, change, message = BAD_CHECKPOINTS[name]
    meta, arrays = read_raw(checkpoint)
    change(meta, arrays)
    write_raw(checkpoint, meta, arrays)
    error, before, after, _ = resume(checkpoint, running_mean)
    assert isinstance(error, ValueError), f"{name}: not refused"
    assert re.search(message, str(error)), f"{name}: {error}"
    assert same(after, before), f"{name}: refused, but something was restored"


def test_a_layer_refusing_its_state_rolls_back_the_optimizer(checkpoint, running_mean):
    """The optimizer takes its state first; a layer refusing its own afterwards puts it back."""
    meta, arrays = read_raw(checkpoint)
    _array("states", 1, "mean", value=lambda a: np.zeros(5))(meta, arrays)
    write_raw(checkpoint, meta, arrays)
    error, before, after, _ = resume(checkpoint, running_mean)
    assert "RunningMean" in str(error) and after["optimizer"]["step_count"] == 0
    assert same(after, before)


# -- fuzz: damaged and mutated files -------------------------------------------------------


def _kind(value: Any) -> str:
    return "ref" if isinstance(value, dict) and set(value) == {"__array__"} else type(value).__name__


def mutations(value: Any) -> list[Any]:
    """What to put in a field instead of ``value``: other types, values out of range, other lengths."""
    kind = _kind(value)
    if kind == "NoneType":
        return [True, 7, 2.5, "x", [], {}]
    if kind == "bool":
        return [None, 1, 0, "true", [], {}]
    if kind == "int":
        return [None, True, 2.5, "7", [], {}, -1, 10**400]
    if kind == "float":
        return [None, True, "0.5", [], {}, math.nan, math.inf, 10**400]
    if kind == "str":
        return [None, True, 7, 2.5, [], {}]
    if kind == "list":
        longer_and_shorter = [value[:-1], value + value[-1:]] if value else [[None]]
        return [None, 7, "x", {}, *longer_and_shorter, [value]]
    if kind == "dict":
        fewer = [dict(list(value.items())[1:])] if value else []
        return [None, 7, "x", [], {**value, "extra": 1}, *fewer]
    return [None, 7, "x", [], {}, {"__array__": "state.999"}]  # a reference to an array


ARRAY_MUTATIONS = {
    "a longer first axis": lambda a: np.concatenate([a, a[:1]]) if a.ndim else a[None],
    "an extra axis": lambda a: a[..., None],
    "float32": lambda a: a.astype(np.float32),
    "int64": lambda a: a.astype(np.int64),
    "a NaN": lambda a: _nan(a.astype(np.float64)) if a.size else a.astype(np.float64),
}


def fields(node: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every field of a description as ``(path, value)``, containers included, references as leaves."""
    found = []
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        found.append(((*path, key), value))
        if isinstance(value, (dict, list)) and _kind(value) != "ref":
            found.extend(fields(value, (*path, key)))
    return found


def alike(a: Any, b: Any) -> bool:
    """Equality of a state with what a description says: numbers by value (1 as 1.0, never as True),
    arrays bit for bit with their dtype, containers item by item."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(alike(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return same(a, b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b or (a != a and b != b)


def described_model(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model a description says: architecture, parameters, layers' state."""
    return {
        "architecture": meta["architecture"],
        "parameters": [arrays[f"param.{i}"] for i in range(len(meta["parameters"]))],
        "layers": [unpack(state, arrays) for state in meta["states"]],
    }


def loaded_model(model: mn.Layer) -> dict[str, Any]:
    return {
        "architecture": describe_model(model),
        "parameters": [p.value for p in model.parameters()],
        "layers": [layer.get_state() for layer in iter_layers(model)],
    }


def described_run(meta: dict[str, Any], arrays: dict[str, np.ndarray], running_mean) -> tuple[dict, dict]:
    """What a resume from a description restores (as :func:`snapshot` shows it), and the history."""
    model = described_model(meta, arrays)
    saved = [(entry["class"], unpack(entry["state"], arrays)) for entry in meta["checkpoint"]["callbacks"]]
    _, _, fresh = build(running_mean)
    fresh_state = fresh.state_dict()
    stop = next((state for cls, state in saved if cls == "EarlyStopping"), fresh_state)
    optimizer = unpack(meta["checkpoint"]["optimizer"]["state"], arrays)
    return (
        {"parameters": model["parameters"], "optimizer": optimizer, "layers": model["layers"], "callbacks": [stop, {}]},
        meta["checkpoint"]["history"]["history"],
    )


class Fuzz:
    """Tries files on ``mn.load`` and on a resume, counting outcomes and keeping what breaks a promise.

    The promise: a ValueError, after which nothing was restored; or a model
    (and a run) exactly as the file's description says.
    """

    def __init__(self, running_mean, tmp_path) -> None:
        self.running_mean, self.path = running_mean, tmp_path / "mutated.npz"
        self.tried = {"model file": 0, "checkpoint": 0}
        self.outcomes: dict[str, int] = {}
        self.broken: list[str] = []

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def try_file(self, data: bytes | None, meta: dict[str, Any], arrays: dict[str, np.ndarray], what: str) -> None:
        """Load (and resume, for a checkpoint) the file ``data``, or the one ``meta`` and ``arrays`` make,
        whose undamaged content they describe."""
        if data is None:
            write_raw(self.path, meta, arrays)
        else:
            self.path.write_bytes(data)
        is_checkpoint = "checkpoint" in meta
        self.tried["checkpoint" if is_checkpoint else "model file"] += 1
        try:
            exact = alike(loaded_model(mn.load(self.path)), described_model(meta, arrays))
            self._count("load exact" if exact else "load inexact")
            if not exact:
                self.broken.append(f"{what}: mn.load accepted it, but not as described")
        except ValueError:
            self._count("load refused")
        except Exception as exc:
            self.broken.append(f"{what}: mn.load raised {type(exc).__name__}: {exc}")
        if is_checkpoint:
            self._resume(meta, arrays, what)

    def _resume(self, meta, arrays, what: str) -> None:
        try:
            error, before, after, history = resume(self.path, self.running_mean)
        except Exception as exc:
            self.broken.append(f"{what}: resume raised {type(exc).__name__}: {exc}")
            return
        if error is not None:
            self._count("resume refused")
            if not same(after, before):
                self.broken.append(f"{what}: resume refused ({error}), but something was restored")
            return
        expected, expected_history = described_run(meta, arrays, self.running_mean)
        if alike(after, expected) and alike(history.history, expected_history):
            self._count("resume exact")
        else:
            self._count("resume inexact")
            self.broken.append(f"{what}: resume accepted it, but did not restore the run as described")


def test_fuzz_damaged_and_mutated_files_are_refused_or_load_exactly(checkpoint, running_mean, tmp_path):
    """Truncations and byte flips of a model file and of a checkpoint, and type, range, length and
    shape mutations of every field of the checkpoint's description (the archive rewritten with it).

    Every one must be refused with a ValueError that leaves the model,
    optimizer, layers and callbacks untouched, or load (and resume) exactly
    as described. A seeded loop over some 1,200 files (147 model files, 1,080
    checkpoints), each loaded and each checkpoint also resumed: a few seconds.
    """
    gen = np.random.default_rng(2024)
    model_file = tmp_path / "model.npz"
    X, y = data()
    model, opt, _ = build(running_mean)
    mn.fit(model, mn.BCE(), opt, X, y, epochs=2, seed=1, **FIT)
    mn.save(model, model_file)
    fuzz = Fuzz(running_mean, tmp_path)

    for path in (model_file, checkpoint):
        original, (meta, arrays) = path.read_bytes(), read_raw(path)
        cuts = set(np.linspace(0, len(original) - 1, 25).astype(int)) | {1, len(original) - 1, len(original) - 22}
        for cut in sorted(cuts):
            fuzz.try_file(original[:cut], meta, arrays, f"{path.name} cut to {cut} bytes")
        for _ in range(120):
            flipped = bytearray(original)
            at = int(gen.integers(len(flipped)))
            flipped[at] ^= int(gen.integers(1, 256))
            fuzz.try_file(bytes(flipped), meta, arrays, f"{path.name} with byte {at} changed")

    meta, arrays = read_raw(checkpoint)
    for field, value in fields(meta):
        for mutation in mutations(value):
            changed = copy.deepcopy(meta)
            _set(*field, mutation)(changed, arrays)
            fuzz.try_file(None, changed, arrays, f"field {field} set to {mutation!r:.40}")
    for key in arrays:
        for name, mutate in ARRAY_MUTATIONS.items():
            fuzz.try_file(None, meta, {**arrays, key: mutate(arrays[key])}, f"array {key} with {name}")

    print(f"fuzz: tried {fuzz.tried}, outcomes {fuzz.outcomes}")
    assert not fuzz.broken, f"{len(fuzz.broken)} broken promises, the first ones:\n" + "\n".join(fuzz.broken[:15])
    assert fuzz.tried["checkpoint"] > 1000 and fuzz.outcomes["resume refused"] > 900  # the loop really ran


# -- a convolutional network -------------------------------------------------------------


def _cnn_run():
    """Images, a CNN with every kind of state (batch norm statistics, a dropout generator), Adam."""
    gen = np.random.default_rng(3)
    X, y = gen.standard_normal((20, 1, 6, 6)), gen.integers(0, 3, 20)
    model = mn.Sequential(
        mn.Conv2D(1, 3, 3, padding=1, seed=0), mn.BatchNorm2D(3), mn.ReLU(), mn.MaxPool2D(2),
        mn.Flatten(), mn.Dropout(0.3, seed=1), mn.Dense(27, 3, seed=2),
    )  # fmt: skip
    return X, y, model, mn.Adam(model.parameters(), lr=0.01)


def test_a_resumed_cnn_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, interrupt_at):
    fit = dict(epochs=4, batch_size=6, seed=4, progress=False)
    X, y, model_a, opt_a = _cnn_run()
    mn.fit(model_a, mn.CrossEntropy(), opt_a, X, y, **fit)
    X, y, model_b, opt_b = _cnn_run()
    path = tmp_path / "cnn.npz"
    mn.fit(model_b, mn.CrossEntropy(), opt_b, X, y, callbacks=[interrupt_at(3), mn.Checkpoint(path)], **fit)
    X, y, model_c, opt_c = _cnn_run()
    mn.fit(model_c, mn.CrossEntropy(), opt_c, X, y, resume=path, **fit)
    assert same(snapshot(model_c, opt_c, []), snapshot(model_a, opt_a, []))
    assert not same(snapshot(model_b, opt_b, []), snapshot(model_a, opt_a, []))  # the interrupted run stopped early
