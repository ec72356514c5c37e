"""Classify scikit-learn's 8 x 8 handwritten digits with a 64-128-64-10 ReLU network, in seconds.

MNIST's example (``examples/mnist.py``) in miniature: the same two
networks, the same training and the same outputs, on 1,797 images of
8 x 8 pixels that ship with minnet (``mn.datasets.load_digits()``).

1. **plain**: ``Dense(64, 128), ReLU, Dense(128, 64), ReLU, Dense(64, 10)``
   on raw scores with ``mn.CrossEntropy()``, trained by SGD with momentum
   0.9 in batches of 32 under a one-cycle learning rate peaking at ``--lr``.
2. **regularised**: the same layers with a ``BatchNorm`` before each ReLU
   and a ``Dropout`` after it, trained by the optimizer ``--optimizer``
   picks.

A stratified 20% of the images (360) is set aside as the **test** set,
scored once at the end. Of the rest, the last 10% (144) are held out as the
**validation** set (``fit(..., validation_split=0.1)``), scored after every
epoch and never trained on. Pixels (0-16) are scaled to [0, 1].

The script prints a table per network as it trains (one row per epoch:
training loss and accuracy, the running means over the epoch's batches in
training mode, so with dropout on; validation loss and accuracy; seconds),
then one table comparing the two, and writes to ``--out``:

* ``digits_history.png``: the plain network's loss and accuracy per epoch,
  training and validation, and its learning rate;
* ``digits_compare.png``: both networks' training and validation curves;
* ``digits_confusion.png``: the plain network's confusion matrix on the
  test images;
* ``digits_misclassified.png``: test images it got wrong, with the true
  and the predicted digit.

Run ``python examples/digits.py --help`` for the flags. Plots are written
to files (headless by default); ``--show`` also opens them in a window.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import minnet as mn

OPTIMIZERS = {"sgd": "SGD"}  # --optimizer's choices, and how the tables name them
TEST_SIZE = 0.2
VALIDATION_SPLIT = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each network (default 20)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd",
                        help="optimizer of the regularised network (default %(default)s); the plain "
                             "network always uses SGD with momentum 0.9")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="peak of the one-cycle learning rate (default 0.1)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the weights, dropout and shuffling (default 0)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the plots (default ./out)")
    parser.add_argument("--show", action="store_true", help="also show the plots in a window")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bars (they are hidden anyway when stderr is not a terminal)")
    args = parser.parse_args(argv)
    # Checked here, before any training, so a typo costs nothing and the message names the flag.
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if not args.lr > 0:  # also refuses nan
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    return args


def network(widths: list[int], seed: int, regularised: bool = False) -> mn.Sequential:
    """ReLU layers of the given widths, the last Dense giving one raw score per class.

    ``regularised`` puts a BatchNorm before each ReLU (it takes the place of
    the Dense's bias, which the normalisation would subtract again) and a
    Dropout of 0.2 after it.
    """
    rng = np.random.default_rng(seed)
    layers: list[mn.Layer] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-2], widths[1:-1])):
        layers.append(mn.Dense(n_in, n_out, init="he", bias=not regularised, seed=rng))
        if regularised:
            layers.append(mn.BatchNorm(n_out))
        layers.append(mn.ReLU())
        if regularised:
            # The masks have generators of their own, so the weights are the plain network's.
            layers.append(mn.Dropout(0.2, seed=np.random.default_rng([seed, i])))
    layers.append(mn.Dense(widths[-2], widths[-1], seed=rng))
    return mn.Sequential(*layers)


def optimizer_for(name: str, model: mn.Layer, lr: float, total_steps: int) -> mn.Optimizer:
    """The optimizer ``--optimizer name`` stands for, under a one-cycle rate peaking at ``lr``."""
    return mn.SGD(model.parameters(), lr=mn.OneCycle(max_lr=lr, total_steps=total_steps), momentum=0.9)


class EpochTable(mn.Callback):
    """Print one row per epoch as it ends: the epoch's scores and how long it took (validation included)."""

    COLUMNS = ("epoch", "train loss", "train acc", "val loss", "val acc", "seconds")

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_begin(self, run: mn.training.Run) -> None:
        print("".join(f"{name:>11}" for name in self.COLUMNS))
        self._start = time.perf_counter()

    def on_epoch_end(self, run: mn.training.Run, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._start)
        self._start = now
        print(f"{run.epoch:>11}{logs['loss']:>11.4f}{logs['accuracy']:>11.4f}"
              f"{logs['val_loss']:>11.4f}{logs['val_accuracy']:>11.4f}{self.seconds[-1]:>11.2f}", flush=True)


def save(figure, path: Path) -> None:
    figure.savefig(path, dpi=120, bbox_inches="tight")
    print(f"saved {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress and sys.stderr.isatty()
    if not args.show:
        import matplotlib
        matplotlib.use("Agg")  # no window, no display needed

    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(X / 16.0, y, test_size=TEST_SIZE, seed=args.seed,
                                                                stratify=y)
    n_fit = int(len(X_train) * (1 - VALIDATION_SPLIT))  # fit keeps the first rows for training
    print(f"Digits: {n_fit:,} training, {len(X_train) - n_fit:,} validation and {len(X_test):,} test images "
          f"of 8 x 8 pixels")

    widths = [64, 128, 64, 10]
    steps = args.epochs * -(-n_fit // args.batch_size)  # one optimizer step per batch
    loss = mn.CrossEntropy()  # on raw scores: softmax and log in one stable step
    runs = {"plain, SGD": (network(widths, args.seed), "sgd"),
            f"regularised, {OPTIMIZERS[args.optimizer]}": (network(widths, args.seed, regularised=True),
                                                           args.optimizer)}
    histories, seconds = {}, {}
    for name, (model, optimizer_name) in runs.items():
        optimizer = optimizer_for(optimizer_name, model, args.lr, steps)
        print(f"\n{name}: {model}\n{optimizer!r}, batches of {args.batch_size}, {args.epochs} epochs")
        table = EpochTable()
        histories[name] = mn.fit(model, loss, optimizer, X_train, y_train, epochs=args.epochs,
                                 batch_size=args.batch_size, seed=args.seed, validation_split=VALIDATION_SPLIT,
                                 metrics=["accuracy"], callbacks=[table], progress=progress)
        seconds[name] = float(np.mean(table.seconds))

    print(f"\n{'network':<24}{'parameters':>11}{'s/epoch':>9}{'train loss':>11}{'train acc':>10}"
          f"{'val loss':>10}{'val acc':>9}{'test loss':>11}{'test acc':>10}")
    for name, (model, _) in runs.items():
        last = {key: values[-1] for key, values in histories[name].history.items()}
        test = mn.evaluate(model, loss, X_test, y_test, metrics=["accuracy"])
        print(f"{name:<24}{sum(p.size for p in model.parameters()):>11,}{seconds[name]:>9.2f}"
              f"{last['loss']:>11.4f}{last['accuracy']:>10.4f}{last['val_loss']:>10.4f}"
              f"{last['val_accuracy']:>9.4f}{test['loss']:>11.4f}{test['accuracy']:>10.4f}")

    name, (model, _) = next(iter(runs.items()))  # the plain network: the one the figures look into
    predicted = model.predict(X_test).argmax(axis=1)
    print(f"\nTest accuracy of the plain network: {np.mean(predicted == y_test):.4f}")
    save(histories[name].plot(title=f"Digits, {name}: loss and accuracy per epoch"), args.out / "digits_history.png")
    save(mn.plot.compare(histories, key=("loss", "val_loss", "val_accuracy"),
                         title="Digits: training and validation curves of both networks"),
         args.out / "digits_compare.png")
    save(mn.plot.confusion_matrix(mn.metrics.confusion_matrix(y_test, predicted, n_classes=10),
                                  title=f"Digits test images, {name}"), args.out / "digits_confusion.png")
    save(mn.plot.misclassified(X_test, y_test, predicted, image_shape=(8, 8)), args.out / "digits_misclassified.png")

    if args.show:
        import matplotlib.pyplot as plt
        plt.show()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, TypeError, OSError) as exc:  # e.g. an --out that cannot be a folder
        sys.exit(f"error: {exc}")
