"""Classify MNIST's handwritten digits with a 784-256-128-10 ReLU network: 98% test accuracy in 10 epochs.

Two networks train on the same 54,000 images and are compared at the end:

1. **plain**: ``Dense(784, 256), ReLU, Dense(256, 128), ReLU, Dense(128, 10)``
   on raw scores (logits) with ``mn.CrossEntropy()``, trained by SGD with
   momentum 0.9 in batches of 128 under a one-cycle learning rate (warm up
   to ``--lr`` over the first 30% of the steps, then anneal to almost 0).
2. **regularised**: the same layers with a ``BatchNorm`` before each ReLU
   and a ``Dropout`` after it, trained by the optimizer ``--optimizer``
   picks: Adam by default, its one-cycle rate peaking at ``--adam-lr``.

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
opens them in a window. The training, tables and plots are
``examples/_classify.py``'s, shared with ``examples/digits.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

import _classify as classify  # examples/_classify.py, next to this file
from _common import run, use_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = classify.parser(
        __doc__.splitlines()[0], epochs=10, batch_size=128, seeded="the weights, dropout and shuffling"
    )
    classify.add_mnist_flags(parser)
    return classify.parse(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    classify.prepare_output(args)
    X_train, y_train, X_test, y_test = classify.load_mnist(args)
    classify.compare(
        args,
        "MNIST",
        X_train,
        y_train,
        X_test,
        y_test,
        widths=[784, 256, 128, 10],
        image_shape=(28, 28),
        dtype=np.float32,
        max_images=45,
    )
    return 0


if __name__ == "__main__":
    run(main)  # a mistake (e.g. MNIST missing offline, an --out that is a file) ends in one line
