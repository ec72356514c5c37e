"""Shared fixtures for the test suite."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

import minnet as mn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# test_reliability imports the layer tests by name (their @row tests register rows), whatever is collected.
sys.path.insert(0, str(ROOT / "tests" / "layers"))


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


@mn.register_layer(name="tests.RunningMean")
class RunningMean(mn.Layer):
    """Subtracts a running mean of its inputs, updated by each training forward (state that is not trained).

    The running mean and the number of updates are its state: a loaded
    model must predict with the same mean, a resumed run must go on
    updating the same one.
    """

    def __init__(self, n: int, momentum: float = 0.1) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10**6:
            raise ValueError(f"n must be an integer in [1, 10**6], got {n!r:.40}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r:.40}")
        self.n, self.momentum = n, momentum
        self.mean = np.zeros(n)
        self.updates = 0
        self._cache = None

    def forward(self, x, training=True):
        if training:
            self.mean = (1 - self.momentum) * self.mean + self.momentum * x.mean(axis=0)
            self.updates += 1
        return x - self.mean

    def backward(self, grad):
        return grad

    def get_config(self):
        return {"n": self.n, "momentum": self.momentum}

    def get_state(self):
        return {"mean": self.mean.copy(), "updates": self.updates}

    def set_state(self, state):
        if not isinstance(state, dict) or sorted(state) != ["mean", "updates"]:
            raise ValueError(f"a RunningMean state has the keys mean and updates, got {state!r:.60}")
        mean, updates = state["mean"], state["updates"]
        if not (
            isinstance(mean, np.ndarray)
            and mean.shape == (self.n,)
            and mean.dtype == np.float64
            and np.isfinite(mean).all()
        ):
            raise ValueError(f"mean must be a finite float64 array of shape ({self.n},), got {mean!r:.60}")
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise ValueError(f"updates must be a non-negative integer, got {updates!r:.60}")
        self.mean, self.updates = mean.copy(), updates


@pytest.fixture
def running_mean() -> type[RunningMean]:
    """The class of a registered custom layer with state (a running mean), to test saving that state."""
    return RunningMean


class InterruptAt(mn.Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) at the end of a given epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, run, logs):
        if run.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="session")
def interrupt_at() -> type[InterruptAt]:
    """``interrupt_at(epoch)``: a callback that stops ``fit`` as Ctrl-C would, at the end of that epoch."""
    return InterruptAt


def _load_example(name: str):
    """``examples/<name>.py`` imported as a module (its ``main`` not run).

    The examples' folder is first on ``sys.path`` while the script is
    imported, as when it runs as ``python examples/<name>.py``: that is how
    it finds the helpers it shares with the other examples (``_common``).
    """
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def _run_example(name: str, out: Path, *flags: str) -> str:
    """Run ``examples/<name>.py``'s ``main`` with its plots going to ``out``; return what it printed."""
    import matplotlib

    matplotlib.use("Agg")  # the examples save figures; no window may open
    printed = io.StringIO()
    # A script sizes its process's BLAS pool (--threads); this process gets its own size back.
    with contextlib.redirect_stdout(printed), threadpoolctl.threadpool_limits(limits=None, user_api="blas"):
        assert _load_example(name).main(["--no-progress", "--out", str(out), *flags]) == 0
    return printed.getvalue()


@pytest.fixture(scope="session")
def load_example():
    """``load_example(name)`` imports ``examples/<name>.py``, to test its functions and flags."""
    return _load_example


def _run_example_script(name: str, *flags: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``examples/<name>.py`` in a fresh interpreter from ``cwd``, headless; return the finished process."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def run_example():
    """``run_example(name, out, *flags)`` runs an example script in-process and returns what it printed."""
    return _run_example


@pytest.fixture(scope="session")
def run_example_script():
    """``run_example_script(name, *flags, cwd=folder)`` runs an example as a script, as a user would.

    It returns the ``subprocess.CompletedProcess`` (``returncode``,
    ``stdout``, ``stderr``); ``timeout=`` in seconds, 120 unless told.
    """
    return _run_example_script
