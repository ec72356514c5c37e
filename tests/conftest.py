"""Shared fixtures for the test suite."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test, so tests never depend on each other's draws."""
    return np.random.default_rng(1234)


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """A small linearly separable binary problem: 64 samples, 2 features, labels 0/1."""
    gen = np.random.default_rng(7)
    X = np.concatenate([gen.normal(-1.5, 1.0, (32, 2)), gen.normal(1.5, 1.0, (32, 2))])
    y = np.concatenate([np.zeros(32), np.ones(32)])
    return X, y


@pytest.fixture
def small_model() -> mn.Sequential:
    """The article's network shape, scaled down: Dense(2, 4) -> Sigmoid -> Dense(4, 1) -> Sigmoid."""
    return mn.Sequential(mn.Dense(2, 4, rng=0), mn.Sigmoid(), mn.Dense(4, 1, rng=1), mn.Sigmoid())


def snapshot(model: mn.Layer) -> list[np.ndarray]:
    """Copies of every parameter value, to compare before and after a call."""
    return [p.value.copy() for p in model.parameters()]


@pytest.fixture
def params_of():
    """``params_of(model)`` -> copies of the parameter values (see :func:`snapshot`)."""
    return snapshot


class RecordInputs(mn.Layer):
    """Identity that keeps every array it is given in training."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def forward(self, x, training=True):
        if training:
            self.seen.append(x)
        return x

    def backward(self, grad):
        return grad


@pytest.fixture
def record_inputs() -> RecordInputs:
    """A fresh identity layer recording the batches it sees, to check how fit and lr_find batch."""
    return RecordInputs()
