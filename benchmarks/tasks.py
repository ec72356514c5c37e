"""The benchmark tasks: data, network shape, training settings and shared initial weights."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minnet as mn
from minnet.datasets.mnist import MNIST_FILES

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
        BCE on logits, or softmax cross-entropy for several outputs.
    batch_size : int or None
        None for full-batch gradient descent.
    momentum : float
        SGD momentum, with torch's convention (``v = mu v + g``, ``W -= lr v``).

    With several outputs (``widths[-1] > 1``) ``y`` holds class indices
    (int64) and the loss is softmax cross-entropy on logits.
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
    momentum: float = 0.0
    weights: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = np.ascontiguousarray(self.X, dtype=self.dtype)
        if self.multiclass:
            self.y = np.ascontiguousarray(self.y, dtype=np.int64).reshape(-1)
        else:
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
    def multiclass(self) -> bool:
        """Several outputs: class labels and softmax cross-entropy."""
        return self.widths[-1] > 1

    def loss(self) -> mn.Loss:
        """The minnet loss of this task."""
        if self.multiclass:
            return mn.CrossEntropy()
        return mn.BCE(from_logits=self.logits)

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


def find_mnist(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder holding the four MNIST files, or None: the benchmark never downloads them.

    Looked for in ``path`` if given, else ``$MINNET_DATA/mnist``, else
    ``~/.cache/minnet/mnist`` (where :func:`minnet.datasets.load_mnist` keeps
    them), else ``../shared/data/mnist`` beside the repository.
    """
    if path is not None:
        candidates = [Path(path)]
    else:
        candidates = [
            Path.home() / ".cache" / "minnet" / "mnist",
            Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist",
        ]
        if os.environ.get("MINNET_DATA"):
            candidates.insert(0, Path(os.environ["MINNET_DATA"]) / "mnist")
    for folder in candidates:
        if all((folder / name).is_file() for name in MNIST_FILES):
            return folder
    return None


def mnist_task(folder: Path, quick: bool = False) -> Task:
    """One epoch of the 784-256-128-10 ReLU network of ``examples/mnist.py`` on MNIST's training images.

    float32, batches of 128, SGD with momentum 0.9 at a constant rate, softmax
    cross-entropy on logits; ``quick`` keeps the first 1,000 images.

    The rate is 0.01, not the example's peak of 0.1: at 0.05 and above, float32
    runs that differ only by rounding (minnet, numpy and PyTorch sum in
    different orders) now and then part ways within the epoch, ending with
    weights 10-20% apart (in float64 they agree to 1e-15), and the final
    weights could not be checked against each other.
    """
    X, y, _, _ = mn.datasets.load_mnist(folder)
    if quick:
        X, y = X[:1000], y[:1000]
    return Task(
        "mnist",
        X,
        y,
        widths=[784, 256, 128, 10],
        hidden="relu",
        logits=True,
        batch_size=128,
        epochs=1,
        lr=0.01,
        dtype=np.float32,
        momentum=0.9,
    )


def make_tasks(
    quick: bool = False, dtypes: tuple = (np.float64, np.float32), mnist: str | os.PathLike[str] | None = None
) -> list[Task]:
    """The tasks of ``docs/performance.md``; ``quick`` shrinks them for tests.

    The three synthetic and Pima tasks in each dtype, then the MNIST task
    (float32 only) when float32 is asked for and :func:`find_mnist` finds
    the files (in ``mnist``, if given).
    """
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
            Task(
                "article",
                *pima,
                widths=[8, 16, 1],
                hidden="sigmoid",
                logits=False,
                batch_size=None,
                epochs=article_epochs,
                lr=0.5,
                dtype=dtype,
            ),
            Task(
                "wide",
                *wide_data,
                widths=wide_widths,
                hidden="relu",
                logits=True,
                batch_size=128,
                epochs=wide_epochs,
                lr=0.01,
                dtype=dtype,
            ),
            Task(
                "deep-narrow",
                *deep_data,
                widths=deep_widths,
                hidden="relu",
                logits=True,
                batch_size=32,
                epochs=deep_epochs,
                lr=0.01,
                dtype=dtype,
            ),
        ]
    folder = find_mnist(mnist)
    if np.float32 in dtypes and folder is not None:
        tasks.append(mnist_task(folder, quick))
    return tasks
