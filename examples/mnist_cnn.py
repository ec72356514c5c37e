"""Classify MNIST's handwritten digits with a small convolutional network: above 99.2% test accuracy in 12 epochs.

The network sees each digit as an image, a batch of shape (n, 1, 28, 28):

=================================================  =========================
layer                                              output shape of one digit
=================================================  =========================
``Conv2D(1, 32, 3)``                               (32, 26, 26)
``MaxPool2D(2)``, ``BatchNorm2D(32)``, ``ReLU``    (32, 13, 13)
``Conv2D(32, 64, 3)``                              (64, 11, 11)
``MaxPool2D(2)``, ``BatchNorm2D(64)``, ``ReLU``    (64, 5, 5)
``Flatten``, ``Dropout(0.5)``                      (1600,)
``Dense(1600, 10)``                                (10,): one raw score per class
=================================================  =========================

Each block pools before it normalises and rectifies, so that BatchNorm2D
and ReLU work on a quarter of the values. The order matters little: the
maximum of a window commutes with any increasing function, ReLU's and
(where its scale is positive) BatchNorm2D's. The convolutions have no bias
(BatchNorm2D's beta takes its place). The network trains on logits with
``mn.CrossEntropy()`` by Adam in batches of 128 under a one-cycle learning
rate (warm up to ``--lr`` over the first 30% of the steps, then anneal to
almost 0), in float32.

The last 10% of the training images (6,000) are held out as the
**validation** set, scored after every epoch and never trained on; the
10,000 **test** images are scored once, at the end. The script prints a
row per epoch (training loss and accuracy, the running means over the
epoch's batches with dropout on; validation loss and accuracy; seconds),
then the final scores and the test accuracy, and writes to ``--out``:

* ``cnn_history.png``: loss and accuracy per epoch, training and
  validation, and the learning rate;
* ``cnn_confusion.png``: the confusion matrix on the test images;
* ``cnn_misclassified.png``: test images it got wrong, with the true and
  the predicted digit;
* ``cnn_filters.png``: the 32 learned 3 x 3 filters of the first
  convolution;
* ``cnn_feature_maps.png``: the first test digit and its feature maps
  after each convolution, where in the digit each filter responds.

MNIST is read from ``--data`` (a folder with the four ``.gz`` files), else
``$MINNET_DATA/mnist``, else ``~/.cache/minnet/mnist``, where it is
downloaded the first time. Run ``python examples/mnist_cnn.py --help`` for
the flags. Plots are written to files (headless by default); ``--show``
also opens them in a window. The training loop, tables and figures are
``examples/_classify.py``'s, shared with ``examples/mnist.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

import _classify as classify  # examples/_classify.py, next to this file
import minnet as mn
from _common import add_common_flags, run, save, show_if_asked, use_threads

EPOCHS = 12
LR = 0.003  # the one-cycle peak of Adam


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = classify.training_parser(__doc__.splitlines()[0], epochs=EPOCHS, batch_size=128)
    parser.add_argument("--lr", type=float, default=LR, help=f"peak of Adam's one-cycle learning rate (default {LR})")
    classify.add_mnist_flags(parser)
    add_common_flags(parser, seed_of="the weights, dropout and shuffling")
    return classify.parse(parser, argv, positive=("lr",))


def network(seed: int, dtype: type = np.float32) -> mn.Sequential:
    """Two blocks of convolution, max pooling, BatchNorm2D and ReLU, then dropout and one Dense layer."""
    rng = np.random.default_rng(seed)
    return mn.Sequential(
        mn.Conv2D(1, 32, 3, bias=False, seed=rng, dtype=dtype),
        mn.MaxPool2D(2),
        mn.BatchNorm2D(32, dtype=dtype),
        mn.ReLU(),
        mn.Conv2D(32, 64, 3, bias=False, seed=rng, dtype=dtype),
        mn.MaxPool2D(2),
        mn.BatchNorm2D(64, dtype=dtype),
        mn.ReLU(),
        mn.Flatten(),
        mn.Dropout(0.5, seed=np.random.default_rng([seed, 0])),  # its own generator: the weights stay the seed's
        mn.Dense(64 * 5 * 5, 10, seed=rng, dtype=dtype),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    classify.prepare_output(args)
    X_train, y_train, X_test, y_test = classify.load_mnist(args, images=True)
    model = network(args.seed)
    optimizer = classify.optimizer_for("adam", model, args.lr, classify.n_steps(args, len(X_train)))
    loss = mn.CrossEntropy()  # on raw scores: softmax and log in one stable step
    name = "CNN, Adam"
    history, seconds = classify.train(args, name, model, loss, optimizer, X_train, y_train)
    classify.results_table({name: (model, optimizer)}, {name: history}, {name: seconds}, loss, X_test, y_test)

    scores = model.predict(X_test, batch_size=1000)
    print(f"\nTest accuracy of the CNN: {np.mean(scores.argmax(axis=1) == y_test):.4f}")
    classify.save_figures(args, "cnn", f"MNIST, {name}", history, X_test[:, 0], y_test, scores, max_images=45)
    save(mn.plot.filters(model[0]), args.out / "cnn_filters.png")
    save(
        mn.plot.feature_maps(
            model,
            X_test[0],
            columns=8,  # as wide as a page's column, so the maps are seen at full size there
            title=f"Test digit 0 (a {y_test[0]}) through each Conv2D:\nred > 0 > blue, each map on its own scale",
        ),
        args.out / "cnn_feature_maps.png",
    )
    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)  # a mistake (e.g. MNIST missing offline, an --out that is a file) ends in one line
