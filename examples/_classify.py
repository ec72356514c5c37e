"""What ``examples/mnist.py`` and ``examples/digits.py`` share: flags, networks, optimizers, tables and plots.

Each example reads its images, then calls :func:`compare`, which trains two
networks on them (a plain ReLU network by SGD, and the same layers with
BatchNorm and Dropout by the optimizer ``--optimizer`` names), prints a
table per epoch of each and one comparing the two, and writes four figures.

This is a module of the examples, not of minnet. Python puts a script's own
folder first on ``sys.path``, so ``python examples/mnist.py`` imports it as
``_classify`` from any working directory.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import minnet as mn
from _common import add_common_flags, check_flags, headless_unless_shown, save, show_if_asked

# --optimizer's choices. SGD gets momentum 0.9; the others keep their defaults (torch's).
OPTIMIZERS: dict[str, Callable[..., mn.Optimizer]] = {
    "sgd": lambda params, lr: mn.SGD(params, lr=lr, momentum=0.9),
    "adam": mn.Adam,
    "adamw": mn.AdamW,
    "rmsprop": mn.RMSprop,
}
SGD_LR = 0.1  # --lr's default: the one-cycle peak of SGD
ADAM_LR = 0.005  # --adam-lr's default: the one-cycle peak of Adam, AdamW and RMSprop
VALIDATION_SPLIT = 0.1


def training_parser(description: str, *, epochs: int, batch_size: int) -> argparse.ArgumentParser:
    """A parser with ``--epochs`` and ``--batch-size``, the flags every classification example takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs of each network (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"mini-batch size (default {batch_size})")
    return parser


def parser(description: str, *, epochs: int, batch_size: int, seeded: str) -> argparse.ArgumentParser:
    """The flags of the examples that compare two networks; an example adds its own, then calls :func:`parse`."""
    parser = training_parser(description, epochs=epochs, batch_size=batch_size)
    parser.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default="adam",
        help="optimizer of the regularised network (default %(default)s); the plain "
        "network always uses SGD with momentum 0.9",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=SGD_LR,
        help="peak of SGD's one-cycle learning rate: the plain network's, and the "
        f"regularised one's with --optimizer sgd (default {SGD_LR})",
    )
    parser.add_argument(
        "--adam-lr",
        type=float,
        default=ADAM_LR,
        help="peak of the one-cycle learning rate with --optimizer adam, adamw or rmsprop "
        f"(default {ADAM_LR}); they divide each gradient by its running root mean square, "
        "so a weight moves by up to about this much per step, whatever the gradient's scale",
    )
    add_common_flags(parser, seed_of=seeded)
    return parser


def add_mnist_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` (where MNIST is) and ``--limit`` (a quick check on its first images), for :func:`load_mnist`."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding the four MNIST .gz files (default: $MINNET_DATA/mnist, "
        "else ~/.cache/minnet/mnist, downloaded there if missing)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first N training and N test images (a quick check; default all)",
    )


def parse(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, *, positive: tuple[str, ...] = ("lr", "adam_lr")
) -> argparse.Namespace:
    """Parse ``argv`` and check the shared flags' values, exiting with a message that names the flag.

    ``positive`` names the rate flags the parser has; ``--limit``, where
    :func:`add_mnist_flags` added it, must leave enough images to hold out a
    validation set.
    """
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs", "batch_size"), positive=positive)
    if getattr(args, "limit", None) is not None and args.limit < 20:
        parser.error(f"--limit must be at least 20 (enough to hold out a validation set), got {args.limit}")
    return args


def prepare_output(args: argparse.Namespace) -> None:
    """Make the ``--out`` folder (before any data are read: a bad one fails at once), and draw off screen."""
    args.out.mkdir(parents=True, exist_ok=True)
    headless_unless_shown(args)


def load_mnist(args: argparse.Namespace, *, images: bool = False) -> tuple[np.ndarray, ...]:
    """MNIST from ``--data``, cut to ``--limit`` images; prints how many train, validate and test.

    Returns ``X_train, y_train, X_test, y_test`` as :func:`minnet.datasets.load_mnist`
    does: with ``images``, X of shape (n, 1, 28, 28), else (n, 784).
    """
    X_train, y_train, X_test, y_test = mn.datasets.load_mnist(args.data, images=images)
    if args.limit is not None:
        X_train, y_train, X_test, y_test = (a[: args.limit] for a in (X_train, y_train, X_test, y_test))
    n_fit = training_rows(len(X_train))
    print(
        f"MNIST: {n_fit:,} training, {len(X_train) - n_fit:,} validation (the last "
        f"{VALIDATION_SPLIT:.0%} of the training images) and {len(X_test):,} test images of 28 x 28 pixels"
    )
    return X_train, y_train, X_test, y_test


def training_rows(n: int) -> int:
    """How many of ``n`` training images ``fit(..., validation_split=VALIDATION_SPLIT)`` trains on: the first."""
    return int(n * (1 - VALIDATION_SPLIT))


def n_steps(args: argparse.Namespace, n: int) -> int:
    """The optimizer steps of ``--epochs`` on the training rows of ``n`` images: one per batch, the last partial too."""
    return args.epochs * -(-training_rows(n) // args.batch_size)


def network(widths: list[int], seed: int, regularised: bool = False, dtype: type = np.float64) -> mn.Sequential:
    """ReLU layers of the given widths, the last Dense giving one raw score per class.

    ``regularised`` puts a BatchNorm before each ReLU (it takes the place of
    the Dense's bias, which the normalisation would subtract again) and a
    Dropout of 0.2 after it.
    """
    rng = np.random.default_rng(seed)
    layers: list[mn.Layer] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths[:-1])):
        layers.append(mn.Dense(n_in, n_out, init="he", bias=not regularised, dtype=dtype, seed=rng))
        if regularised:
            layers.append(mn.BatchNorm(n_out, dtype=dtype))
        layers.append(mn.ReLU())
        if regularised:
            # The masks have generators of their own, so the weights are the plain network's.
            layers.append(mn.Dropout(0.2, seed=np.random.default_rng([seed, i])))
    layers.append(mn.Dense(widths[-2], widths[-1], dtype=dtype, seed=rng))
    return mn.Sequential(*layers)


def optimizer_for(name: str, model: mn.Layer, lr: float, total_steps: int) -> mn.Optimizer:
    """The optimizer ``--optimizer name`` stands for, under a one-cycle rate peaking at ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](model.parameters(), lr=mn.OneCycle(max_lr=lr, total_steps=total_steps))


class EpochTable(mn.Callback):
    """Print one row per epoch as it ends: the epoch's scores and how long it took (validation included)."""

    COLUMNS = ("epoch", "train loss", "train acc", "val loss", "val acc", "seconds")

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_begin(self, run: mn.run.Run) -> None:
        print("".join(f"{name:>11}" for name in self.COLUMNS))
        self._start = time.perf_counter()

    def on_epoch_end(self, run: mn.run.Run, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._start)
        self._start = now
        print(
            f"{run.epoch:>11}{logs['loss']:>11.4f}{logs['accuracy']:>11.4f}"
            f"{logs['val_loss']:>11.4f}{logs['val_accuracy']:>11.4f}{self.seconds[-1]:>11.2f}",
            flush=True,
        )


def compare(
    args: argparse.Namespace,
    dataset: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    widths: list[int],
    image_shape: tuple[int, int],
    dtype: type = np.float64,
    max_images: int = 36,
) -> None:
    """Train the plain and the regularised network, print their tables and write the figures.

    Both train on the first rows of ``X_train`` and are scored after every
    epoch on its last ``VALIDATION_SPLIT``; the test images are scored once,
    at the end. ``dataset`` names the data in the titles, and in lower case
    starts the files' names (``mnist_history.png``, ...).
    """
    steps = n_steps(args, len(X_train))
    loss = mn.CrossEntropy()  # on raw scores: softmax and log in one stable step
    runs = {}
    for kind, optimizer_name in (("plain", "sgd"), ("regularised", args.optimizer)):
        model = network(widths, args.seed, regularised=kind == "regularised", dtype=dtype)
        optimizer = optimizer_for(optimizer_name, model, args.lr if optimizer_name == "sgd" else args.adam_lr, steps)
        runs[f"{kind}, {type(optimizer).__name__}"] = model, optimizer
    histories, seconds = {}, {}
    for name, (model, optimizer) in runs.items():
        histories[name], seconds[name] = train(args, name, model, loss, optimizer, X_train, y_train)
    results_table(runs, histories, seconds, loss, X_test, y_test)

    name, (model, _) = next(iter(runs.items()))  # the plain network: the one the figures look into
    scores = model.predict(X_test, batch_size=1000)
    print(f"\nTest accuracy of the plain network: {np.mean(scores.argmax(axis=1) == y_test):.4f}")
    stem = dataset.lower()
    save(
        mn.plot.compare(
            histories,
            key=("loss", "val_loss", "val_accuracy"),
            title=f"{dataset}: training and validation curves of both networks",
        ),
        args.out / f"{stem}_compare.png",
    )
    save_figures(
        args,
        stem,
        f"{dataset}, {name}",
        histories[name],
        X_test.reshape(len(X_test), *image_shape),
        y_test,
        scores,
        max_images=max_images,
    )
    show_if_asked(args)


def train(
    args: argparse.Namespace,
    name: str,
    model: mn.Layer,
    loss: mn.Loss,
    optimizer: mn.Optimizer,
    X_train: np.ndarray,
    y_train: np.ndarray,
) -> tuple[mn.History, float]:
    """Train ``model`` for ``--epochs`` in batches of ``--batch-size``, holding out the last ``VALIDATION_SPLIT``.

    Prints the network, its optimizer and a row per epoch (:class:`EpochTable`);
    returns the history and the mean seconds per epoch.
    """
    print(f"\n{name}: {model}\n{optimizer!r}, batches of {args.batch_size}, {args.epochs} epochs")
    table = EpochTable()
    history = mn.fit(
        model,
        loss,
        optimizer,
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        validation_split=VALIDATION_SPLIT,
        metrics=["accuracy"],
        callbacks=[table],
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    return history, float(np.mean(table.seconds))


def results_table(
    runs: dict[str, tuple[mn.Layer, mn.Optimizer]],
    histories: dict[str, mn.History],
    seconds: dict[str, float],
    loss: mn.Loss,
    X_test: np.ndarray,
    y_test: np.ndarray,
) -> None:
    """Print one row per trained network: its size, speed, last epoch's scores and its scores on the test images."""
    print(
        f"\n{'network':<24}{'parameters':>11}{'s/epoch':>9}{'train loss':>11}{'train acc':>10}"
        f"{'val loss':>10}{'val acc':>9}{'test loss':>11}{'test acc':>10}"
    )
    for name, (model, _) in runs.items():
        last = {key: values[-1] for key, values in histories[name].history.items()}
        test = mn.evaluate(model, loss, X_test, y_test, metrics=["accuracy"], batch_size=1000)
        print(
            f"{name:<24}{sum(p.size for p in model.parameters()):>11,}{seconds[name]:>9.2f}"
            f"{last['loss']:>11.4f}{last['accuracy']:>10.4f}{last['val_loss']:>10.4f}"
            f"{last['val_accuracy']:>9.4f}{test['loss']:>11.4f}{test['accuracy']:>10.4f}"
        )


def save_figures(
    args: argparse.Namespace,
    stem: str,
    name: str,
    history: mn.History,
    images: np.ndarray,
    y_test: np.ndarray,
    scores: np.ndarray,
    *,
    max_images: int,
) -> None:
    """Write one network's curves, its confusion matrix on the test images and the images it got wrong.

    The files are ``<stem>_history.png``, ``<stem>_confusion.png`` and
    ``<stem>_misclassified.png`` in ``--out``; ``name`` (data set and
    network) goes in the titles. ``images`` are the test images, of shape
    (n, height, width); ``scores`` the network's outputs for them, of shape
    (n, 10), so that the mistakes are ranked by the network's confidence.
    """
    predicted = scores.argmax(axis=1)
    save(history.plot(title=f"{name}: loss and accuracy per epoch"), args.out / f"{stem}_history.png")
    save(
        mn.plot.confusion_matrix(
            mn.metrics.confusion_matrix(y_test, predicted, n_classes=10), title=f"{name}, test images"
        ),
        args.out / f"{stem}_confusion.png",
    )
    save(
        mn.plot.misclassified(images, y_test, scores, max_images=max_images),
        args.out / f"{stem}_misclassified.png",
    )
