"""Fine-tune on a few samples: a body trained on digits 0-4 reused for 5-9, against training from scratch.

1. **Pretrain**: a ``Dense(64, 128), ReLU, Dense(128, 64), ReLU`` body
   (``784`` inputs with ``--mnist``) under a 5-class head learns digits 0-4
   from every training image of them.
2. **Few samples of 5-9**: ``--shots`` images per class are drawn from the
   training images of 5-9, ``--repeats`` times (each draw seeded), and on
   each draw the same architecture, body and a new ``Dense(64, 5)`` head,
   is trained four ways for ``--epochs`` full-batch epochs of Adam:

   * **frozen body**: the pretrained body with ``body.trainable = False``,
     only the new head trains;
   * **frozen first layer**: the pretrained first ``Dense`` and its ReLU
     frozen, the layers above it fresh;
   * **all, slow body**: everything trains from the pretrained weights,
     the body at a tenth of the head's rate (two parameter groups);
   * **from scratch**: fresh weights everywhere.

3. Every model is scored on *all* the test images of 5-9. A table gives
   the mean test accuracy and its standard deviation over the draws per
   number of samples per class, and ``fine_tune.png`` in ``--out`` draws
   it: accuracy against samples per class, one line per way, the band one
   standard deviation either side.

What it shows, on the digits with the defaults (seed 0, 5 draws): training
from scratch is as good as or better than every way of reusing the body,
at every count. The frozen body, whose last layer learnt to tell 0-4
apart, is the worst by 5 to 10 points; the frozen first layer, the most
general features, is level with scratch (ahead by 2 points at one image
per class, within the spread). 8 x 8 pixels are already good features for
a network this small, and five classes teach a body little about the
other five. On MNIST, freezing the first layer of a ``784-256-64`` body
led training from scratch by 6 points at 5 images per class.

The data are scikit-learn's 8 x 8 digits that ship with minnet (a stratified
25% held out as the test set), or with ``--mnist`` MNIST's 28 x 28 images,
read from ``--data``, ``$MINNET_DATA/mnist`` or ``~/.cache/minnet/mnist``
(downloaded there the first time). Run ``python examples/fine_tune.py
--help`` for the flags. Plots are written to files (headless by default);
``--show`` also opens them in a window.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import minnet as mn
from _common import add_common_flags, check_flags, headless_unless_shown, run, save, show_if_asked

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The ways of training on the few samples, as the table's columns and the plot's lines name them.
METHODS = ("frozen body", "frozen first layer", "all, slow body", "from scratch")
BODY_RATE = 0.1  # the body's share of the head's rate in "all, slow body"
TEST_SIZE = 0.25


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shots",
        type=shot_counts,
        default=(1, 2, 5, 10, 20, 50),
        help="training images per class of 5-9, comma-separated (default 1,2,5,10,20,50)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="draws of the few samples per count (default 5)")
    parser.add_argument("--epochs", type=int, default=100, help="full-batch epochs on the few samples (default 100)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's rate on the few samples (default 0.01)")
    parser.add_argument(
        "--pretrain-epochs", type=int, default=20, help="epochs of pretraining on 0-4, batches of 32 (default 20)"
    )
    parser.add_argument("--mnist", action="store_true", help="MNIST's 28 x 28 digits instead of the 8 x 8 ones")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="with --mnist: folder of the four MNIST .gz files (default: $MINNET_DATA/mnist, "
        "else ~/.cache/minnet/mnist, downloaded there if missing)",
    )
    add_common_flags(parser, seed_of="the split, the pretraining and the draws", plots="plot")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("repeats", "epochs", "pretrain_epochs"), positive=("lr",))
    return args


def shot_counts(text: str) -> tuple[int, ...]:
    """``--shots``' value: distinct counts of at least 1, comma-separated, returned in increasing order."""
    try:
        counts = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts separated by commas, such as 1,5,20, got {text!r}") from None
    if counts[0] < 1:
        raise argparse.ArgumentTypeError(f"every count must be at least 1, got {text!r}")
    return tuple(counts)


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """The training and test images as rows of pixels in [0, 1], their labels, and the data set's name."""
    if args.mnist:
        X_train, y_train, X_test, y_test = mn.datasets.load_mnist(args.data)
        return X_train.astype(np.float64), y_train, X_test.astype(np.float64), y_test, "MNIST"
    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(
        X / 16.0, y, test_size=TEST_SIZE, seed=args.seed, stratify=y
    )
    return X_train, y_train, X_test, y_test, "Digits"


def body(n_in: int, seed: int | list[int]) -> mn.Sequential:
    """The part of the network that is reused: two ReLU layers, 128 and 64 wide."""
    rng = np.random.default_rng(seed)
    return mn.Sequential(
        mn.Dense(n_in, 128, init="he", seed=rng), mn.ReLU(), mn.Dense(128, 64, init="he", seed=rng), mn.ReLU()
    )


def head(seed: np.random.Generator) -> mn.Dense:
    """A new output layer: one score per class of five."""
    return mn.Dense(64, 5, seed=seed)


def pretrain(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, progress: bool) -> mn.Sequential:
    """A body trained with a head on the digits 0-4 (``y`` in 0-4); the head is then dropped."""
    trained = body(X.shape[1], args.seed)
    model = mn.Sequential(trained, head(np.random.default_rng([args.seed, 1])))
    optimizer = mn.Adam(model.parameters(), lr=1e-3)
    settings = dict(epochs=args.pretrain_epochs, batch_size=32, seed=args.seed, progress=progress)
    mn.fit(model, mn.CrossEntropy(), optimizer, X, y, **settings)
    return trained


def networks(
    pretrained: mn.Sequential, lr: float, rng: np.random.Generator
) -> dict[str, tuple[mn.Layer, mn.Optimizer]]:
    """The four networks of one draw, named as :data:`METHODS`, each with its Adam optimizer at rate ``lr``."""
    n_in = pretrained[0].n_in
    frozen, first, slow = copy.deepcopy(pretrained), copy.deepcopy(pretrained[:2]), copy.deepcopy(pretrained)
    frozen.trainable = first.trainable = False  # the optimizers skip their parameters
    fresh = body(n_in, [int(rng.integers(2**32))])
    models = {
        "frozen body": mn.Sequential(frozen, head(rng)),
        "frozen first layer": mn.Sequential(first, *fresh[2:], head(rng)),
        "all, slow body": mn.Sequential(slow, head(rng)),
        "from scratch": mn.Sequential(body(n_in, [int(rng.integers(2**32))]), head(rng)),
    }
    built: dict[str, tuple[mn.Layer, mn.Optimizer]] = {}
    for name, model in models.items():
        if name == "all, slow body":
            groups = [{"params": slow.parameters(), "lr": BODY_RATE * lr}, {"params": model[1].parameters()}]
            built[name] = model, mn.Adam(groups, lr=lr)
        else:
            built[name] = model, mn.Adam(model.parameters(), lr=lr)
    return built


def draw(X: np.ndarray, y: np.ndarray, shots: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``shots`` rows of each class of ``y`` (labels 0-4), drawn without replacement."""
    rows = np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in range(5)])
    return X[rows], y[rows]


def few_shot(
    args: argparse.Namespace,
    pretrained: mn.Sequential,
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each method's test accuracies, of shape (len(args.shots), args.repeats)."""
    accuracy = {name: np.zeros((len(args.shots), args.repeats)) for name in METHODS}
    for i, shots in enumerate(args.shots):
        for r in range(args.repeats):
            rng = np.random.default_rng([args.seed, shots, r])  # a draw is the same whatever else runs
            X_few, y_few = draw(X, y, shots, rng)
            for name, (model, optimizer) in networks(pretrained, args.lr, rng).items():
                mn.fit(model, mn.CrossEntropy(), optimizer, X_few, y_few, epochs=args.epochs, seed=r, progress=False)
                scores = mn.evaluate(model, mn.CrossEntropy(), X_test, y_test, metrics=["accuracy"])
                accuracy[name][i, r] = scores["accuracy"]
    return accuracy


def print_table(shots: tuple[int, ...], accuracy: dict[str, np.ndarray]) -> None:
    """One row per number of samples per class: each method's mean test accuracy and standard deviation."""
    print(f"\n{'per class':>9}" + "".join(f"{name:>22}" for name in METHODS))
    for i, k in enumerate(shots):
        cells = "".join(f"{accuracy[name][i].mean():>14.3f} ± {accuracy[name][i].std():.3f}" for name in METHODS)
        print(f"{k:>9}{cells}")


def plot(shots: tuple[int, ...], accuracy: dict[str, np.ndarray], title: str) -> Figure:
    """Test accuracy against samples per class, one line per method, its band one standard deviation wide."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    # The baseline in black, dashed: the pretrained ways are read against it.
    for name, style, color in zip(METHODS, ("o-", "s-", "^-", "D--"), ("C0", "C1", "C2", "black")):
        mean, spread = accuracy[name].mean(axis=1), accuracy[name].std(axis=1)
        ax.plot(shots, mean, style, color=color, label=name)
        ax.fill_between(shots, mean - spread, mean + spread, color=color, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(shots, [str(k) for k in shots])
    ax.minorticks_off()
    ax.set_xlabel("training images per class (digits 5-9)")
    ax.set_ylabel("test accuracy, digits 5-9")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return figure


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    headless_unless_shown(args)
    progress = not args.no_progress and sys.stderr.isatty()
    X_train, y_train, X_test, y_test, name = load(args)
    old, new, new_test = y_train < 5, y_train >= 5, y_test >= 5
    print(
        f"{name}: {old.sum():,} training images of 0-4 to pretrain on; few of the {new.sum():,} of 5-9 to "
        f"train on; {new_test.sum():,} test images of 5-9 to score"
    )
    pretrained = pretrain(args, X_train[old], y_train[old], progress)
    print(f"pretrained body: {pretrained}")
    accuracy = few_shot(args, pretrained, X_train[new], y_train[new] - 5, X_test[new_test], y_test[new_test] - 5)
    print(f"\nTest accuracy on digits 5-9, mean ± standard deviation over {args.repeats} draws")
    print_table(args.shots, accuracy)
    title = f"{name}: a body pretrained on 0-4, or none, for 5-9 from few images"
    save(plot(args.shots, accuracy, title), args.out / "fine_tune.png")
    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
