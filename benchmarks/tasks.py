"""The benchmark tasks: data, network shape, training settings and shared initial weights."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minnet as mn
from minnet.datasets.mnist import MNIST_FILES

SEED = 0

#: One matrix product ``(M, K, N, layout)``: (M, K) times (K, N), its left ("T.")
#: or right (".T") operand a transposed view, as the code computing it has it.
Product = tuple[int, int, int, str]


class _Epochs:
    """What every task shares: its label, its batches, and the FLOPs of its matrix products."""

    name: str
    X: np.ndarray
    dtype: type
    batch_size: int | None
    epochs: int

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

    def matmul_shapes(self, m: int) -> list[Product]:
        """The matrix products of one training step on a batch of ``m`` rows."""
        raise NotImplementedError

    def matmul_flops(self) -> float:
        """Floating-point operations of the matrix products of the whole run, ``2 M K N`` each."""
        per_epoch = sum(2 * M * K * N for m in self.batch_sizes() for M, K, N, _ in self.matmul_shapes(m))
        return float(per_epoch * self.epochs)


@dataclass
class Task(_Epochs):
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

    def optimizer(self, params: list[mn.Parameter]) -> mn.Optimizer:
        """The minnet optimizer of this task: SGD at a constant rate, with ``momentum``."""
        return mn.SGD(params, lr=self.lr, momentum=self.momentum)

    def matmul_shapes(self, m: int) -> list[Product]:
        """Per Dense(n_in, n_out): the forward ``X W``, the weight gradient
        ``X^T G``, and the input gradient ``G W^T``, which the first layer does not need."""
        pairs = list(zip(self.widths[:-1], self.widths[1:]))
        products = [(m, n_in, n_out, "..") for n_in, n_out in pairs]
        for i in reversed(range(len(pairs))):
            n_in, n_out = pairs[i]
            products.append((n_in, m, n_out, "T."))
            if i > 0:
                products.append((m, n_out, n_in, ".T"))
        return products

    def activation_bytes(self) -> int:
        """Bytes of one batch's activations: every layer's output for one full batch."""
        batch = self.batch_sizes()[0]
        return batch * sum(self.widths[1:]) * np.dtype(self.dtype).itemsize


@dataclass
class ConvTask(_Epochs):
    """One run of a small CNN of the shape of ``examples/mnist_cnn.py``'s, plain: no BatchNorm2D, no Dropout.

    Conv2D(C, 32, 3), ReLU, MaxPool2D(2), Conv2D(32, 64, 3), ReLU,
    MaxPool2D(2), Flatten, Dense(features, 10); softmax cross-entropy on the
    logits, Adam at a constant rate. No Dropout or BatchNorm, so that minnet,
    numpy and PyTorch compute the same function and can be checked against
    each other to rounding.

    Attributes
    ----------
    X : ndarray of shape (n, C, H, W)
    y : ndarray of shape (n,)
        Class indices, int64.
    weights : list of (W, b)
        Each conv's ``W`` of shape (out, in, 3, 3) (PyTorch's layout), then
        the Dense's ``W`` of shape (features, 10) (minnet's).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    batch_size: int
    epochs: int
    lr: float
    dtype: type = np.float32
    channels: tuple[int, ...] = (32, 64)
    kernel: int = 3
    pool: int = 2
    n_classes: int = 10
    weights: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.X = np.ascontiguousarray(self.X, dtype=self.dtype)
        self.y = np.ascontiguousarray(self.y, dtype=np.int64).reshape(-1)
        if self.X.ndim != 4:
            raise ValueError(f"a ConvTask needs images of shape (n, C, H, W), got shape {self.X.shape}")
        if not self.weights:
            rng = np.random.default_rng(SEED)
            for c_in, c_out, _, _ in self.conv_blocks():
                conv = mn.Conv2D(c_in, c_out, self.kernel, init="he", seed=rng, dtype=self.dtype)
                # A small random bias, so that a bug in the bias path cannot hide behind zeros.
                self.weights.append((conv.W.value.copy(), rng.uniform(-0.1, 0.1, c_out).astype(self.dtype)))
            dense = mn.Dense(self.features, self.n_classes, dtype=self.dtype, rng=rng)
            self.weights.append((dense.W.value.copy(), rng.uniform(-0.1, 0.1, self.n_classes).astype(self.dtype)))

    def conv_blocks(self) -> list[tuple[int, int, int, int]]:
        """``(in_channels, out_channels, H_out, W_out)`` of each convolution (stride 1, no padding)."""
        blocks = []
        c, h, w = self.X.shape[1:]
        for c_out in self.channels:
            h, w = h - self.kernel + 1, w - self.kernel + 1
            blocks.append((c, c_out, h, w))
            c, h, w = c_out, h // self.pool, w // self.pool
        return blocks

    @property
    def features(self) -> int:
        """Values per sample after the last pooling: the Dense layer's input width."""
        _, c, h, w = self.conv_blocks()[-1]
        return c * (h // self.pool) * (w // self.pool)

    def loss(self) -> mn.Loss:
        return mn.CrossEntropy()

    def optimizer(self, params: list[mn.Parameter]) -> mn.Optimizer:
        """Adam at a constant rate, PyTorch's default betas and eps."""
        return mn.Adam(params, lr=self.lr)

    def matmul_shapes(self, m: int) -> list[Product]:
        """The products of im2col convolutions and the Dense layer, forward then backward.

        A conv with columns :math:`X` of shape (C k k, m H_out W_out) computes
        ``Y = W X`` forward, ``dW = G X^T`` and ``dX = W^T G`` backward (the
        first conv needs no ``dX``); the Dense layer as in :class:`Task`.
        """
        k2 = self.kernel**2
        blocks = self.conv_blocks()
        products = [(c_out, c_in * k2, m * h * w, "..") for c_in, c_out, h, w in blocks]
        products.append((m, self.features, self.n_classes, ".."))
        products += [(self.features, m, self.n_classes, "T."), (m, self.n_classes, self.features, ".T")]
        for i in reversed(range(len(blocks))):
            c_in, c_out, h, w = blocks[i]
            products.append((c_out, m * h * w, c_in * k2, ".T"))
            if i > 0:
                products.append((c_in * k2, c_out, m * h * w, "T."))
        return products

    def activation_bytes(self) -> int:
        """Bytes of one batch's activations: each conv's im2col columns, its output, the ReLU's
        and the pooling's, and the logits (what an im2col network keeps for its backward)."""
        per_sample = self.n_classes
        for c_in, c_out, h, w in self.conv_blocks():
            per_sample += (
                c_in * self.kernel**2 * h * w + 2 * c_out * h * w + c_out * (h // self.pool) * (w // self.pool)
            )
        return self.batch_sizes()[0] * per_sample * np.dtype(self.dtype).itemsize


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


def mnist_task(X: np.ndarray, y: np.ndarray, quick: bool = False) -> Task:
    """One epoch of the 784-256-128-10 ReLU network of ``examples/mnist.py`` on MNIST's training images.

    ``X`` of shape (n, 784) or (n, 1, 28, 28) (flattened here); float32,
    batches of 128, SGD with momentum 0.9 at a constant rate, softmax
    cross-entropy on logits; ``quick`` keeps the first 1,000 images.

    The rate is 0.01, not the example's peak of 0.1: at 0.05 and above, float32
    runs that differ only by rounding (minnet, numpy and PyTorch sum in
    different orders) now and then part ways within the epoch, ending with
    weights 10-20% apart (in float64 they agree to 1e-15), and the final
    weights could not be checked against each other.
    """
    if quick:
        X, y = X[:1000], y[:1000]
    return Task(
        "mnist",
        X.reshape(len(X), -1),
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


def mnist_cnn_task(X: np.ndarray, y: np.ndarray, quick: bool = False) -> ConvTask:
    """One epoch of the plain CNN of :class:`ConvTask` on MNIST's training images.

    ``X`` of shape (n, 1, 28, 28); float32, batches of 128, Adam at 1e-3,
    softmax cross-entropy on logits; ``quick`` keeps the first 512 images.
    """
    if quick:
        X, y = X[:512], y[:512]
    return ConvTask("mnist_cnn", X, y, batch_size=128, epochs=1, lr=1e-3)


def make_tasks(
    quick: bool = False, dtypes: tuple = (np.float64, np.float32), mnist: str | os.PathLike[str] | None = None
) -> list[Task | ConvTask]:
    """The tasks of ``docs/performance.md``; ``quick`` shrinks them for tests.

    The three synthetic and Pima tasks in each dtype, then the two MNIST
    tasks, ``mnist`` and ``mnist_cnn`` (float32 only), when float32 is asked
    for and :func:`find_mnist` finds the files (in ``mnist``, if given).
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
    tasks: list[Task | ConvTask] = []
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
        X, y, _, _ = mn.datasets.load_mnist(folder, images=True)
        tasks += [mnist_task(X, y, quick), mnist_cnn_task(X, y, quick)]
    return tasks
