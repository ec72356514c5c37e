"""Classify MNIST's handwritten digits with a 784-256-128-10 ReLU network: 98% test accuracy in 10 epochs.

Two networks train on the same 54,000 images and are compared at the end:

1. **plain**: ``Dense(784, 256), ReLU, Dense(256, 128), ReLU, Dense(128, 10)``
   on raw scores (logits) with ``mn.CrossEntropy()``, trained by SGD with
   momentum 0.9 in batches of 128 under a one-cycle learning rate (warm up
   to ``--lr`` over the first 30% of the steps, then anneal to almost 0).
2. **regularised**: the same layers with a ``BatchNorm`` before each ReLU
   and a ``Dropout`` after it, trained by the optimizer ``--optimizer``
   picks.

The last 10% of the training images (6,000) are held out as the
**validation** set (``fit(..., validation_split=0.1)``): they are scored
after every epoch and never trained on. The 10,000 **test** images are
scored once, at the end. Everything is float32.

The script prints a table per network as it trains (one row per epoch:
training loss and accuracy, the running means over the epoch's batches in
training mode, so with dropout on; validation loss and accuracy; seconds),
then one table comparing the two, and writes to ``--out``:

* ``mnist_history.png``: the plain network's loss and accuracy per epoch,
  training and validation, and its learning rate;
* ``mnist_compare.png``: both networks' training and validation curves;
* ``mnist_confusion.png``: the plain network's confusion matrix on the
  test images;
* ``mnist_misclassified.png``: test images it got wrong, with the true and
  the predicted digit.

MNIST is read from ``--data`` (a folder with the four ``.gz`` files), else
``$MINNET_DATA/mnist``, else ``~/.cache/minnet/mnist``, where it is
downloaded the first time. Run ``python examples/mnist.py --help`` for the
flags. Plots are written to files (headless by default); ``--show`` also
opens them in a window.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import minnet as mn

OPTIMIZERS = {"sgd": "SGD"}  # --optimizer's choices, and how the tables name them
VALIDATION_SPLIT = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="folder holding the four MNIST .gz files (default: $MINNET_DATA/mnist, "
                             "else ~/.cache/minnet/mnist, downloaded there if missing)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each network (default 10)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd",
                        help="optimizer of the regularised network (default %(default)s); the plain "
                             "network always uses SGD with momentum 0.9")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="peak of the one-cycle learning rate (default 0.1)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, dropout and shuffling (default 0)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training and N test images (a quick check; default all)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the plots (default ./out)")
    parser.add_argument("--show", action="store_true", help="also show the plots in a window")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bars (they are hidden anyway when stderr is not a terminal)")
    args = parser.parse_args(argv)
    # Checked here, before the data are read, so a typo costs nothing and the message names the flag.
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.limit is not None and args.limit < 20:
        parser.error(f"--limit must be at least 20 (enough to hold out a validation set), got {args.limit}")
    if not args.lr > 0:  # also refuses nan
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    return args


def network(widths: list[int], seed: int, regularised: bool = False) -> mn.Sequential:
    """ReLU layers of the given widths in float32, the last Dense giving one raw score per class.

    ``regularised`` puts a BatchNorm before each ReLU (it takes the place of
    the Dense's bias, which the normalisation would subtract again) and a
    Dropout of 0.2 after it.
    """
    rng = np.random.default_rng(seed)
    layers: list[mn.Layer] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-2], widths[1:-1])):
        layers.append(mn.Dense(n_in, n_out, init="he", bias=not regularised, dtype=np.float32, seed=rng))
        if regularised:
            layers.append(mn.BatchNorm(n_out, dtype=np.float32))
        layers.append(mn.ReLU())
        if regularised:
            # The masks have generators of their own, so the weights are the plain network's.
            layers.append(mn.Dropout(0.2, seed=np.random.default_rng([seed, i])))
    layers.append(mn.Dense(widths[-2], widths[-1], dtype=np.float32, seed=rng))
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
              f"{logs['val_loss']:>11.4f}{logs['val_accuracy']:>11.4f}{self.seconds[-1]:>11.1f}", flush=True)


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

    X_train, y_train, X_test, y_test = mn.datasets.load_mnist(args.data)
    if args.limit is not None:
        X_train, y_train, X_test, y_test = (a[:args.limit] for a in (X_train, y_train, X_test, y_test))
    n_fit = int(len(X_train) * (1 - VALIDATION_SPLIT))  # fit keeps the first rows for training
    print(f"MNIST: {n_fit:,} training, {len(X_train) - n_fit:,} validation (the last "
          f"{VALIDATION_SPLIT:.0%} of the training images) and {len(X_test):,} test images of 28 x 28 pixels")

    widths = [784, 256, 128, 10]
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
        test = mn.evaluate(model, loss, X_test, y_test, metrics=["accuracy"], batch_size=1000)
        print(f"{name:<24}{sum(p.size for p in model.parameters()):>11,}{seconds[name]:>9.1f}"
              f"{last['loss']:>11.4f}{last['accuracy']:>10.4f}{last['val_loss']:>10.4f}"
              f"{last['val_accuracy']:>9.4f}{test['loss']:>11.4f}{test['accuracy']:>10.4f}")

    name, (model, _) = next(iter(runs.items()))  # the plain network: the one the figures look into
    predicted = model.predict(X_test, batch_size=1000).argmax(axis=1)
    print(f"\nTest accuracy of the plain network: {np.mean(predicted == y_test):.4f}")
    save(histories[name].plot(title=f"MNIST, {name}: loss and accuracy per epoch"), args.out / "mnist_history.png")
    save(mn.plot.compare(histories, key=("loss", "val_loss", "val_accuracy"),
                         title="MNIST: training and validation curves of both networks"),
         args.out / "mnist_compare.png")
    save(mn.plot.confusion_matrix(mn.metrics.confusion_matrix(y_test, predicted, n_classes=10),
                                  title=f"MNIST test images, {name}"), args.out / "mnist_confusion.png")
    save(mn.plot.misclassified(X_test, y_test, predicted, image_shape=(28, 28), max_images=45),
         args.out / "mnist_misclassified.png")

    if args.show:
        import matplotlib.pyplot as plt
        plt.show()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, TypeError, OSError) as exc:  # e.g. MNIST missing offline, an --out that is a file
        sys.exit(f"error: {exc}")
