"""Classify scikit-learn's 8 x 8 handwritten digits with a 64-128-64-10 ReLU network, in seconds.

MNIST's example (``examples/mnist.py``) in miniature: the same two
networks, the same training and the same outputs, on 1,797 images of
8 x 8 pixels that ship with minnet (``mn.datasets.load_digits()``).

1. **plain**: ``Dense(64, 128), ReLU, Dense(128, 64), ReLU, Dense(64, 10)``
   on raw scores with ``mn.CrossEntropy()``, trained by SGD with momentum
   0.9 in batches of 32 under a one-cycle learning rate peaking at ``--lr``.
2. **regularised**: the same layers with a ``BatchNorm`` before each ReLU
   and a ``Dropout`` after it, trained by the optimizer ``--optimizer``
   picks: Adam by default, its one-cycle rate peaking at ``--adam-lr``.

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
The training, tables and plots are ``examples/_classify.py``'s, shared
with ``examples/mnist.py``.
"""

from __future__ import annotations

import argparse

import _classify as classify  # examples/_classify.py, next to this file
import minnet as mn
from _common import run, use_threads

TEST_SIZE = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = classify.parser(
        __doc__.splitlines()[0], epochs=20, batch_size=32, seeded="the split, the weights, dropout and shuffling"
    )
    return classify.parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    classify.prepare_output(args)
    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(
        X / 16.0, y, test_size=TEST_SIZE, seed=args.seed, stratify=y
    )
    n_fit = classify.training_rows(len(X_train))
    print(
        f"Digits: {n_fit:,} training, {len(X_train) - n_fit:,} validation and {len(X_test):,} test images "
        f"of 8 x 8 pixels"
    )
    classify.compare(args, "Digits", X_train, y_train, X_test, y_test, widths=[64, 128, 64, 10], image_shape=(8, 8))
    return 0


if __name__ == "__main__":
    run(main)  # a mistake (e.g. MNIST missing offline, an --out that is a file) ends in one line
