"""Hypothesis strategies for whole models, and the check that two models behave the same.

``cases()`` draws a :class:`Case`: a model (a Sequential or a Graph, with
nested containers, a layer shared by two nodes, BatchNorm, Dropout, merges,
float32 or float64), a batch and an output gradient. The model has run one
training forward already, so BatchNorm's statistics and Dropout's generator
are not at their initial values; some models hold NaN or infinite
parameters (a diverged model) and a few a NaN running mean. Any way of
copying a model (save and load, deepcopy, pickle) is checked against the
original with :func:`assert_same_behaviour`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import minnet as mn

__all__ = ["Case", "assert_same_behaviour", "cases"]

MAX_WIDTH = 6


@dataclass
class Case:
    """A model, a batch ``x`` of shape (n, n_features) and a gradient ``grad`` of its output's shape."""

    model: mn.Layer
    x: np.ndarray
    grad: np.ndarray

    def __repr__(self) -> str:
        return f"Case({self.model!r}, x of shape {self.x.shape}, {self.x.dtype})"


def _leaf(draw: st.DrawFn, width: int, dtype: Any) -> tuple[mn.Layer, int]:
    """One layer that takes ``width`` features, and the width it returns."""
    kind = draw(st.sampled_from(["dense", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "dropout", "batch_norm"]))
    seed = draw(st.integers(0, 2**16))
    if kind == "dense":
        out = draw(st.integers(1, MAX_WIDTH))
        return mn.Dense(width, out, init=draw(st.sampled_from(["xavier", "he"])), seed=seed, dtype=dtype), out
    if kind == "dropout":
        return mn.Dropout(draw(st.sampled_from([0.0, 0.25, 0.5])), seed=seed), width
    if kind == "batch_norm":
        return mn.BatchNorm(width, momentum=draw(st.sampled_from([0.1, 0.5, None])), dtype=dtype), width
    if kind == "leaky_relu":
        return mn.LeakyReLU(draw(st.sampled_from([0.01, 0.2]))), width
    return {"sigmoid": mn.Sigmoid, "tanh": mn.Tanh, "relu": mn.ReLU, "softmax": mn.Softmax}[kind](), width


def _block(draw: st.DrawFn, width: int, dtype: Any, depth: int) -> tuple[mn.Layer, int]:
    """A leaf, a Sequential or a Graph taking ``width`` features, holding containers at most ``depth`` deep."""
    kind = draw(st.sampled_from(["leaf", "leaf", "sequential", "graph"])) if depth > 0 else "leaf"
    if kind == "leaf":
        return _leaf(draw, width, dtype)
    if kind == "sequential":
        layers = []
        for _ in range(draw(st.integers(1, 3))):
            layer, width = _block(draw, width, dtype, depth - 1)
            layers.append(layer)
        return mn.Sequential(*layers), width
    return _graph(draw, width, dtype, depth - 1)


def _graph(draw: st.DrawFn, width: int, dtype: Any, depth: int) -> tuple[mn.Graph, int]:
    """A Graph of a few steps: blocks in a chain, a layer (or container) used at two nodes, a concatenation."""
    x = mn.Input(width)
    h: Any = x
    for _ in range(draw(st.integers(1, 3))):
        step = draw(st.sampled_from(["block", "shared", "concat"]))
        if step == "block":
            layer, width = _block(draw, width, dtype, depth)
            h = layer(h)
        elif step == "shared":  # weights tied: its gradient is the sum over both uses
            dense = mn.Dense(width, width, seed=draw(st.integers(0, 2**16)), dtype=dtype)
            shared = mn.Sequential(dense, mn.Tanh()) if draw(st.booleans()) else dense
            h = mn.Add()([shared(h), shared(mn.Sigmoid()(h))])
        elif width * 2 <= MAX_WIDTH:
            h = mn.Concat()([h, mn.ReLU()(h)])
            width *= 2
    return mn.Graph(inputs=x, outputs=h), width


@st.composite
def cases(draw: st.DrawFn, max_depth: int = 3) -> Case:
    """A :class:`Case`: a model nested at most ``max_depth`` containers deep, with a batch and a gradient."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_features = draw(st.integers(1, MAX_WIDTH))
    if draw(st.booleans()):
        model, width = _graph(draw, n_features, dtype, max_depth - 1)
    else:
        first, width = _block(draw, n_features, dtype, max_depth - 1)
        second, width = _block(draw, width, dtype, max_depth - 1)
        model = mn.Sequential(first, second)
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 5))  # BatchNorm trains on two rows or more
    x = gen.standard_normal((n, n_features)).astype(dtype)
    model.forward(x, training=True)  # statistics and generators away from their initial state
    params = model.parameters()
    bad = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
    if bad is not None and params:
        p = params[draw(st.integers(0, len(params) - 1))]
        p.value.flat[draw(st.integers(0, p.value.size - 1))] = bad
    norms = [layer for layer in mn.containers.iter_layers(model) if isinstance(layer, mn.BatchNorm)]
    if norms and draw(st.integers(0, 9)) == 0:
        norms[0].running_mean[0] = np.nan
    grad = gen.standard_normal((n, width)).astype(dtype)
    return Case(model, x, grad)


def _bits(a: Any) -> tuple[Any, ...]:
    """An array (or None) as something compared bit for bit: NaN equal to the same NaN, dtype included."""
    return (None,) if a is None else (a.dtype, a.shape, np.ascontiguousarray(a).tobytes())


def assert_same_behaviour(a: mn.Layer, b: mn.Layer, x: np.ndarray, grad: np.ndarray) -> None:
    """``a`` and ``b`` predict the same, and a training forward and backward give the same outputs and
    gradients (dL/dx and every ``p.grad``), bit for bit. Runs a training step on both: state moves alike."""
    with np.errstate(all="ignore"):  # a diverged model computes NaN; both must compute the same NaN
        assert _bits(a.predict(x)) == _bits(b.predict(x)), "predictions differ"
        outputs = [m.forward(x, training=True) for m in (a, b)]
        assert _bits(outputs[0]) == _bits(outputs[1]), "training outputs differ"
        input_grads = [m.backward(grad) for m in (a, b)]
    assert _bits(input_grads[0]) == _bits(input_grads[1]), "input gradients differ"
    params_a, params_b = a.parameters(), b.parameters()
    assert len(params_a) == len(params_b)
    for i, (p, q) in enumerate(zip(params_a, params_b)):
        assert _bits(p.grad) == _bits(q.grad), f"gradients of parameter {i} ({p.name}) differ"
        assert _bits(p.value) == _bits(q.value), f"values of parameter {i} ({p.name}) differ"
