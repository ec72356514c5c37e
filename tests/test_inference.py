"""Inference never writes layer state, so it cannot change training, from this thread or another.

``forward(x, training=False)`` of every built-in layer and container writes
no cache, no statistics and draws nothing; ``predict``, ``evaluate``,
``fit``'s validation pass and ``summary()`` write nothing to any layer, even
a custom layer that stores ``self._cache`` in every forward.
"""

from __future__ import annotations

import sys
import threading
import tracemalloc

import numpy as np
import pytest
from exportable_models import Square  # README's custom layer: it caches in every forward, inference too
from rows import row

import minnet as mn


def merge_graph(layer: mn.Layer) -> mn.Graph:
    a, b = mn.Input(3), mn.Input(3)
    return mn.Graph([a, b], layer([a, b]))


def branch_graph() -> mn.Graph:
    x = mn.Input(3)
    return mn.Graph(x, mn.Add()([mn.Dropout(0.5, seed=1)(x), mn.BatchNorm(3)(x)]))


BUILT_IN = {
    "Dense": lambda: mn.Dense(3, 3, seed=0),
    "Sigmoid": mn.Sigmoid,
    "Tanh": mn.Tanh,
    "ReLU": mn.ReLU,
    "LeakyReLU": mn.LeakyReLU,
    "Softmax": mn.Softmax,
    "Dropout": lambda: mn.Dropout(0.5, seed=0),
    "BatchNorm": lambda: mn.BatchNorm(3),
    "ELU": mn.ELU,
    "Softplus": mn.Softplus,
    "GELU": mn.GELU,
    "GELU-tanh": lambda: mn.GELU(approximate="tanh"),
    "LayerNorm": lambda: mn.LayerNorm(3),
    "Add": lambda: merge_graph(mn.Add()),
    "Concat": lambda: merge_graph(mn.Concat()),
    "Sequential": lambda: mn.Sequential(mn.Dense(3, 3, seed=0), mn.BatchNorm(3), mn.Dropout(0.5, seed=1)),
    "Graph": branch_graph,
}


def layer_states(model: mn.Layer) -> list[tuple[object, dict]]:
    """Each layer's cache (the object itself) and non-trained state, below and including ``model``."""
    layers = [model, *(sub for child in model.children() for sub in [child, *child.children()])]
    return [(layer.__dict__.get("_cache"), layer.get_state()) for layer in layers]


def same_states(a, b) -> bool:
    for (cache_a, state_a), (cache_b, state_b) in zip(a, b, strict=True):
        if cache_a is not cache_b or state_a.keys() != state_b.keys():
            return False
        if not all(np.array_equal(state_a[k], state_b[k]) if k != "rng" else state_a[k] == state_b[k] for k in state_a):
            return False
    return True


@row("inference-writes-no-state")
@pytest.mark.parametrize("make", BUILT_IN.values(), ids=BUILT_IN.keys())
def test_forward_in_inference_writes_no_cache_and_no_state(make):
    layer = make()
    gen = np.random.default_rng(0)
    x = gen.standard_normal((4, 3))
    x = [x, gen.standard_normal((4, 3))] if layer.n_inputs != 1 else x
    layer.forward(x)  # a training forward: a cache a backward is waiting for
    before = layer_states(layer)
    layer.forward([a + 1.0 for a in x] if isinstance(x, list) else x + 1.0, training=False)  # other arrays
    assert same_states(layer_states(layer), before)


@row("inference-writes-no-state")
def test_a_fresh_layer_has_no_cache_after_inference():
    for make in BUILT_IN.values():
        layer = make()
        x = np.ones((2, 3))
        layer.forward([x, x] if layer.n_inputs != 1 else x, training=False)
        assert all(cache is None for cache, _ in layer_states(layer))


@row("inference-writes-no-state")
def test_predict_evaluate_and_summary_leave_a_custom_layers_cache_alone():
    model = mn.Sequential(mn.Dense(3, 3, seed=0), Square(), mn.Dense(3, 1, seed=1))
    loss = mn.MSE()
    X, y = np.random.default_rng(0).standard_normal((6, 3)), np.zeros(6)
    loss.forward(model.forward(X), y[:, None])
    square_cache, loss_cache = model[1]._cache, loss._cache
    model.predict(np.ones((9, 3)))
    mn.evaluate(model, loss, np.ones((9, 3)), np.ones(9))
    model.summary()
    assert model[1]._cache is square_cache and loss._cache is loss_cache


def monitored_model() -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(4, 16, seed=0), mn.BatchNorm(16), Square(), mn.Dropout(0.3, seed=1), mn.Tanh(), mn.Dense(16, 1, seed=2)
    )


def train(model: mn.Sequential, X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    opt = mn.SGD(model.parameters(), lr=0.05, momentum=0.9)
    mn.fit(model, mn.MSE(), opt, X, y, epochs=30, batch_size=4, seed=0, progress=False)
    return [p.value.copy() for p in model.parameters()]


@row("predict-from-another-thread")
def test_predict_from_another_thread_during_fit_leaves_training_bit_identical():
    gen = np.random.default_rng(0)
    X, probe = gen.standard_normal((64, 4)), gen.standard_normal((37, 4))
    y = np.sin(X[:, 0]) * X[:, 1]
    expected = train(monitored_model(), X, y)
    model, done, calls = monitored_model(), threading.Event(), []

    def monitor() -> None:
        while not done.is_set():
            calls.append(model.predict(probe))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: many interleavings per step
    thread = threading.Thread(target=monitor)
    thread.start()
    try:
        got = train(model, X, y)
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert len(calls) > 10  # the monitor really ran alongside training
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


@row("predict-default-batch")
def test_predict_without_a_batch_size_keeps_its_memory_bounded():
    """20,000 rows through 512 units: 165 MB at once; default batches of 1024 rows hold two 4 MB activations."""
    model = mn.Sequential(mn.Dense(4, 512, seed=0), mn.ReLU(), mn.Dense(512, 1, seed=1))
    X = np.random.default_rng(0).standard_normal((20_000, 4))
    tracemalloc.start()
    try:
        out = model.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16e6, f"predict peaked at {peak / 1e6:.1f} MB"
    assert np.allclose(out, model.predict(X, batch_size=len(X)), rtol=1e-13, atol=0)


@row("predict-default-batch")
@pytest.mark.parametrize("call", ["evaluate", "validation"])
def test_evaluate_and_validation_without_a_batch_size_keep_their_memory_bounded(call):
    """The same 20,000 rows through 512 units, scored by evaluate or as fit's validation data."""
    model = mn.Sequential(mn.Dense(4, 512, seed=0), mn.ReLU(), mn.Dense(512, 1, seed=1))
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((20_000, 4)), gen.integers(0, 2, 20_000).astype(float)
    X_train, y_train = X[:8], y[:8]
    tracemalloc.start()
    try:
        if call == "evaluate":
            scores = mn.evaluate(model, mn.BCE(from_logits=True), X, y)
        else:
            opt = mn.SGD(model.parameters(), lr=0.0)
            history = mn.fit(
                model, mn.BCE(from_logits=True), opt, X_train, y_train, epochs=1, validation_data=(X, y), progress=False
            )
            scores = {"loss": history["val_loss"][0]}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16e6, f"{call} peaked at {peak / 1e6:.1f} MB"
    whole = mn.evaluate(model, mn.BCE(from_logits=True), X, y, batch_size=len(X))
    assert scores["loss"] == pytest.approx(whole["loss"], rel=1e-12)
