"""The benchmark tasks: data, network shape, training settings and shared initial weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import minnet as mn

SEED = 0


@dataclass
class Task:
    """One training run, described so that every implementation can do the same work.

    Attributes
    ----------
    widths : list of int
        Layer widths from the input to the output, e.g. ``[8, 16, 1]``.
    hidden : {"sigmoid", "relu"}
        Activation after every Dense but the last.
    logits : bool
        False: a Sigmoid ends the network and the loss is BCE on probabilities
        (the article). True: the last Dense gives raw scores and the loss is
        BCE on logits.
    batch_size : int or None
        None for full-batch gradient descent.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    widths: list[int]
    hidden: str
    logits: bool
    batch_size: int | None
    epochs: int
    lr: float
    dtype: type = np.float64
    weights: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = np.ascontiguousarray(self.X, dtype=self.dtype)
        self.y = np.ascontiguousarray(self.y, dtype=self.dtype).reshape(-1, 1)
        if not self.weights:
            init = "xavier" if self.hidden == "sigmoid" else "he"
            rng = np.random.default_rng(SEED)
            for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
                layer = mn.Dense(n_in, n_out, init=init, dtype=self.dtype, rng=rng)
                # A small random bias, so that a bug in the bias path cannot hide behind zeros.
                bias = rng.uniform(-0.1, 0.1, n_out).astype(self.dtype)
                self.weights.append((layer.W.value.copy(), bias))

    @property
    def label(self) -> str:
        return f"{self.name} {np.dtype(self.dtype).name}"

    @property
    def n_batches(self) -> int:
        batch = len(self.X) if self.batch_size is None else self.batch_size
        return -(-len(self.X) // batch)

    def batch_sizes(self) -> list[int]:
        """Rows of each batch of one epoch (the last one may be partial)."""
        n = len(self.X)
        batch = n if self.batch_size is None else min(self.batch_size, n)
        return [min(batch, n - start) for start in range(0, n, batch)]

    def matmul_flops(self) -> float:
        """Floating-point operations of the matrix products of the whole run.

        Per Dense(n_in, n_out) and batch of m rows: the forward ``X W`` and
        the weight gradient ``X^T G`` cost 2 m n_in n_out each, and so does
        the input gradient ``G W^T``, which the first layer does not need.
        """
        per_row = 0.0
        for i, (n_in, n_out) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            per_row += 2 * n_in * n_out * (2 if i == 0 else 3)
        return per_row * len(self.X) * self.epochs

    def activation_bytes(self) -> int:
        """Bytes of one batch's activations: every layer's output for one full batch."""
        batch = self.batch_sizes()[0]
        return batch * sum(self.widths[1:]) * np.dtype(self.dtype).itemsize


def _pima() -> tuple[np.ndarray, np.ndarray]:
    X, y = mn.datasets.load_diabetes()
    return mn.data.Standardizer().fit_transform(X), y


def _synthetic(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A linearly separable-ish binary task with 10% label noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    y = (X @ w + 0.3 * rng.standard_normal(n) > 0).astype(np.float64)
    return X, y


def make_tasks(quick: bool = False, dtypes: tuple = (np.float64, np.float32)) -> list[Task]:
    """The three tasks of ``docs/performance.md`` in each dtype; ``quick`` shrinks them for tests."""
    pima = _pima()
    if quick:
        wide_data, wide_widths, wide_epochs = _synthetic(600, 32, 1), [32, 64, 64, 1], 2
        deep_data, deep_epochs = _synthetic(256, 16, 2), 2
        deep_widths = [16] + [16] * 4 + [1]
        article_epochs = 30
    else:
        wide_data, wide_widths, wide_epochs = _synthetic(20_000, 256, 1), [256, 512, 512, 1], 2
        deep_data, deep_epochs = _synthetic(8192, 64, 2), 2
        deep_widths = [64] + [64] * 10 + [1]
        article_epochs = 1500
    tasks = []
    for dtype in dtypes:
        tasks += [
            Task("article", *pima, widths=[8, 16, 1], hidden="sigmoid", logits=False,
                 batch_size=None, epochs=article_epochs, lr=0.5, dtype=dtype),
            Task("wide", *wide_data, widths=wide_widths, hidden="relu", logits=True,
                 batch_size=128, epochs=wide_epochs, lr=0.01, dtype=dtype),
            Task("deep-narrow", *deep_data, widths=deep_widths, hidden="relu", logits=True,
                 batch_size=32, epochs=deep_epochs, lr=0.01, dtype=dtype),
        ]
    return tasks
