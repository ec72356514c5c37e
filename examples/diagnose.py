"""Why a deep network does not learn: its activations and gradients, layer by layer, with LayerStats.

Three networks of the same shape, ``--depth`` hidden layers of ``--width``
units on the 8 x 8 digits (``mn.datasets.load_digits()``), trained from the
same seed on the same batches with the same SGD steps. Only the
activation and the initial weights differ:

1. **sigmoid, init="normal"**: the classic from-scratch network's small
   weights, N(0, 0.01^2). Each layer's pre-activations are nearly 0, so
   every sigmoid outputs about 0.5 whatever the image (the activations'
   std collapses to 0.01), and on the way back each layer multiplies the
   gradient by its small weights and by the sigmoid's slope, at most 1/4:
   the first layer's gradient is some 11 orders of magnitude below the
   last one's, its weights never move, and the loss stays at chance.
2. **sigmoid, init="xavier"**: Glorot's weights keep the activations'
   spread, and the gradient shrinks by a factor of about 4 per layer
   (the sigmoid's slope) instead of 50: better, yet 8 layers still take
   it down 5 orders of magnitude, and in this many epochs the network
   barely learns.
3. **ReLU, init="he"**: a slope of 1 where a unit is active and He's
   weights, which make up for the half of the units that are 0: the
   gradient is the same size at every layer, every layer learns, and
   the network fits the digits in a few epochs.

:class:`minnet.LayerStats` records each layer's activations (on the first
256 training images, in inference mode) and its gradient and update,
relative to its weights, after every epoch. The script prints a table of
what it saw and writes ``diagnose.png``: per network, the activations'
spread, the gradients and the updates of every layer over training
(``mn.plot.layer_stats``, dark lines for the first layers, light for the
last), and the three networks' loss and held-out accuracy.

Run ``python examples/diagnose.py --help`` for the flags. The plot is
written to a file (headless by default); ``--show`` also opens it.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import minnet as mn
from _common import add_common_flags, check_flags, headless_unless_shown, run, save, show_if_asked

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The networks compared: label -> (activation, initialiser of the hidden layers).
NETWORKS: dict[str, tuple[type[mn.Layer], str]] = {
    'sigmoid, init="normal"': (mn.Sigmoid, "normal"),
    'sigmoid, init="xavier"': (mn.Sigmoid, "xavier"),
    'ReLU, init="he"': (mn.ReLU, "he"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--depth", type=int, default=8, help="hidden layers (default 8)")
    parser.add_argument("--width", type=int, default=64, help="units of every hidden layer (default 64)")
    parser.add_argument("--lr", type=float, default=0.02, help="learning rate of SGD, momentum 0.9 (default 0.02)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    add_common_flags(parser, seed_of="the split, the weights and the shuffling", plots="plot")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs", "depth", "width", "batch_size"), positive=("lr",))
    return args


def network(activation: type[mn.Layer], init: str, depth: int, width: int, seed: int) -> mn.Sequential:
    """``depth`` times Dense then ``activation``, then a Dense to the 10 digits' scores (Xavier, as all three)."""
    rng = np.random.default_rng(seed)
    layers: list[mn.Layer] = []
    n_in = 64
    for _ in range(depth):
        layers += [mn.Dense(n_in, width, init=init, seed=rng), activation()]
        n_in = width
    return mn.Sequential(*layers, mn.Dense(width, 10, seed=rng))


@dataclass
class Trained:
    """One network after training: what fit and LayerStats recorded."""

    model: mn.Sequential
    history: mn.History
    stats: mn.LayerStats

    def grad_ratios(self) -> list[float]:
        """Each Dense layer's ||grad|| / ||W|| at the last epoch, first layer first."""
        return [record["grad_ratio"][-1] for record in self.stats.history.values() if "grad_ratio" in record]

    def activation_std(self) -> list[float]:
        """Each activation layer's output std at the last epoch, first layer first."""
        return [record["std"][-1] for record in self.stats.history.values() if {"saturated", "dead"} & set(record)]


def train_all(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, validation: tuple) -> dict[str, Trained]:
    """Train each of :data:`NETWORKS` from the same seed on the same batches, watched by a LayerStats."""
    progress = not args.no_progress and sys.stderr.isatty()
    trained = {}
    for label, (activation, init) in NETWORKS.items():
        model = network(activation, init, args.depth, args.width, args.seed)
        stats = mn.LayerStats()  # the first 256 training images
        history = mn.fit(
            model,
            mn.CrossEntropy(),
            mn.SGD(model.parameters(), lr=args.lr, momentum=0.9),
            X,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            validation_data=validation,
            metrics=["accuracy"],
            callbacks=[stats],
            progress=progress,
        )
        trained[label] = Trained(model, history, stats)
    return trained


def orders(ratio: float) -> str:
    """How the first layer's gradient compares with the last's, to the nearest power of ten: what the eye compares.

    On two lines, to fit above one of the picture's three columns.
    """
    if ratio <= 0:  # a gradient so small that it is 0 in floating point (a network of dozens of layers)
        return "first layer's gradient 0"
    power = round(math.log10(ratio))
    if power == 0:
        return "first layer's gradient\nas large as the last's"
    return f"first layer's gradient\n$10^{{{power}}}$ \u00d7 the last's"


def table(trained: dict[str, Trained]) -> str:
    """One row per network: its first and last layer's gradient ratio, activation spread, loss and accuracy."""
    header = f"{'network':<24}{'grad/W first':>14}{'grad/W last':>13}{'act. std':>10}{'loss':>8}{'held-out acc':>14}"
    rows = [header]
    for label, t in trained.items():
        grads, stds = t.grad_ratios(), t.activation_std()
        rows.append(
            f"{label:<24}{grads[0]:>14.1e}{grads[-1]:>13.1e}{min(stds):>10.3f}"
            f"{t.history['loss'][-1]:>8.3f}{t.history['val_accuracy'][-1]:>14.3f}"
        )
    return "\n".join(rows)


def picture(trained: dict[str, Trained], depth: int, width: int) -> Figure:
    """Each network's layer statistics side by side, over their loss and held-out accuracy."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    # As wide as a page's text column, so that the site shows it near full size.
    fig = plt.figure(figsize=(8.4, 11.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.3, 1.2])
    columns = {}
    for label, t in trained.items():
        grads = t.grad_ratios()
        columns[f"{label}\n{orders(grads[0] / grads[-1])}"] = t.stats
    mn.plot.layer_stats(columns, quantities=("std", "grad_ratio", "update_ratio"), figure=top)
    loss_ax, acc_ax = bottom.subplots(1, 2)
    colours = {label: colour for label, colour in zip(trained, ("C3", "C1", "C2"))}
    widths = {label: width for label, width in zip(trained, (4, 2, 2))}  # the first under the second, both at chance
    for label, t in trained.items():
        epochs, style = t.history.epoch, dict(color=colours[label], linewidth=widths[label], label=label)
        loss_ax.plot(epochs, t.history["loss"], **style)
        acc_ax.plot(epochs, t.history["val_accuracy"], **style)
    loss_ax.axhline(math.log(10), color="grey", linestyle=":", label="chance: log 10")
    acc_ax.axhline(0.1, color="grey", linestyle=":", label="chance: 1 in 10")
    for ax, name in ((loss_ax, "training loss"), (acc_ax, "held-out accuracy")):
        ax.set_ylabel(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize="small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax.set_ylim(0, 1.02)
    fig.suptitle(
        f"Why a deep network does not learn: {depth} hidden layers of {width} units\n"
        "on the digits, same seed, same batches, same SGD steps\n"
        "Small weights (left): every sigmoid outputs 0.5, and each layer shrinks\n"
        "the gradient some 50 times. Xavier's (middle): the sigmoid's slope still\n"
        "shrinks it 4 times per layer. ReLU with He's weights (right): the gradient\n"
        "is the same size at every layer, and only this network learns the digits.",
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    headless_unless_shown(args)

    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(X, y, test_size=0.2, seed=args.seed, stratify=y)
    scaler = mn.data.Standardizer().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(
        f"Digits: {len(X_train)} training and {len(X_test)} held-out images. Three networks of "
        f"{args.depth} hidden layers of {args.width} units, {args.epochs} epoch{'s' if args.epochs > 1 else ''} each:\n"
    )
    trained = train_all(args, X_train, y_train, (X_test, y_test))
    print(table(trained))
    save(picture(trained, args.depth, args.width), args.out / "diagnose.png")

    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
