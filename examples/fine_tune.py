"""Fine-tune on a few samples: a body trained on digits 0-4 reused for 5-9, against training from scratch.

1. **Pretrain**: a body of two ReLU layers under a 5-class head learns
   digits 0-4 from every training image of them. On MNIST (its ~30,600
   training images of 0-4) the body is ``784-256-64``, trained for 3 epochs
   with a ``Dropout(0.3)`` between it and the head, so that no class leans
   on a few of its 64 features; on the 8 x 8 digits (675 images) it is
   ``64-128-64``, trained for 20 epochs.
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

3. Every model is scored on the test images of 5-9: a fixed 2,000 of
   MNIST's (the first), all 224 of the digits'. A table gives, per number
   of images per class, each way's mean test accuracy over the draws and
   its spread, the standard error of that mean; a last line says whether
   the best reuse beats training from scratch at the fewest images beyond
   the spread (its mean less its spread above scratch's mean plus
   scratch's spread), and how much more one draw varies (the standard
   deviations). ``fine_tune.png`` in ``--out`` draws the table: accuracy
   against images per class, one line per way, its band the spread.

What it shows, with the defaults (seed 0, 10 draws; the numbers are in
``docs/training.md``, "Does fine-tuning pay?"): on MNIST, pretrained on
30,596 images, reusing the body beats training from scratch beyond the
spread up to 10 images per class, by 14 points at 1, 9 at 2, 5 at 5
(the frozen first layer) and 3 at 10 (the slow body), and is about a
point ahead at 20 and 50; the frozen body, whose top layer learnt what
tells 0-4 apart, falls behind from 5 images on. On the 8 x 8 digits,
pretrained on 675 images, it does not pay: scratch is as good as or
better than every reuse at every count, 8 x 8 pixels being already good
features for a network this small. The MNIST run takes about 30 s of CPU
on one thread (``--threads 1``, the default).

The data are MNIST's 28 x 28 digits when their four files are found (in
``--data``, else ``$MINNET_DATA/mnist``, else ``~/.cache/minnet/mnist``;
never downloaded unless ``--dataset mnist`` asks for them), else
scikit-learn's 8 x 8 digits that ship with minnet (a stratified 25% held
out as the test set). Run ``python examples/fine_tune.py --help`` for the
flags. Plots are written to files (headless by default); ``--show`` also
opens them in a window.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

import minnet as mn
from _common import add_common_flags, check_flags, headless_unless_shown, run, save, show_if_asked, use_threads
from minnet.datasets.mnist import MNIST_FILES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The ways of training on the few samples, as the table's columns and the plot's lines name them.
METHODS = ("frozen body", "frozen first layer", "all, slow body", "from scratch")
BODY_RATE = 0.1  # the body's share of the head's rate in "all, slow body"
TEST_SIZE = 0.25


class Setting(NamedTuple):
    """A data set's body (widths, float type), its pretraining (epochs, dropout) and how many test images score."""

    name: str
    widths: tuple[int, int, int]
    dtype: type
    pretrain_epochs: int
    dropout: float
    test_images: int | None  # the first so many test images of 5-9; None for all


DIGITS = Setting("Digits", (64, 128, 64), np.float64, pretrain_epochs=20, dropout=0.0, test_images=None)
# float32, as examples/mnist.py: MNIST is 45 times the digits' images and 12 times their pixels.
MNIST = Setting("MNIST", (784, 256, 64), np.float32, pretrain_epochs=3, dropout=0.3, test_images=2000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shots",
        type=shot_counts,
        default=(1, 2, 5, 10, 20, 50),
        help="training images per class of 5-9, comma-separated (default 1,2,5,10,20,50)",
    )
    parser.add_argument("--repeats", type=int, default=10, help="draws of the few samples per count (default 10)")
    parser.add_argument("--epochs", type=int, default=100, help="full-batch epochs on the few samples (default 100)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's rate on the few samples (default 0.01)")
    parser.add_argument(
        "--pretrain-epochs",
        type=int,
        default=None,
        help=f"epochs of pretraining on 0-4, batches of 32 (default {MNIST.pretrain_epochs} on MNIST, "
        f"{DIGITS.pretrain_epochs} on the digits)",
    )
    parser.add_argument(
        "--pretrain-limit",
        type=int,
        default=None,
        help="pretrain on only the first N training images of 0-4 (a quick check; default all)",
    )
    parser.add_argument(
        "--dataset",
        choices=("auto", "mnist", "digits"),
        default="auto",
        help="auto (the default): MNIST if its files are found, else the 8 x 8 digits; "
        "mnist: MNIST, downloaded if missing; digits: the 8 x 8 digits",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of the four MNIST .gz files (default: $MINNET_DATA/mnist, else ~/.cache/minnet/mnist)",
    )
    add_common_flags(parser, seed_of="the split, the pretraining and the draws", plots="plot")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs",), positive=("lr",))
    if args.repeats < 2:
        parser.error(f"--repeats must be at least 2 (the spread needs two draws), got {args.repeats}")
    for flag in ("pretrain_epochs", "pretrain_limit"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
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


def mnist_found(folder: Path | None) -> bool:
    """Whether the four MNIST files are in ``folder``, or where ``mn.datasets.load_mnist`` looks by default."""
    if folder is None:
        data = os.environ.get("MINNET_DATA")
        folder = Path(data) / "mnist" if data else Path.home() / ".cache" / "minnet" / "mnist"
    return all((folder.expanduser() / name).is_file() for name in MNIST_FILES)


def load(args: argparse.Namespace) -> tuple[Setting, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The data set's setting, and its training and test images as rows of pixels in [0, 1] with their labels."""
    if args.dataset == "mnist" or (args.dataset == "auto" and mnist_found(args.data)):
        X_train, y_train, X_test, y_test = mn.datasets.load_mnist(args.data)
        return MNIST, X_train, y_train, X_test, y_test
    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(
        X / 16.0, y, test_size=TEST_SIZE, seed=args.seed, stratify=y
    )
    return DIGITS, X_train, y_train, X_test, y_test


def body(setting: Setting, seed: int | list[int]) -> mn.Sequential:
    """The part of the network that is reused: two ReLU layers of the setting's widths."""
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = setting.widths
    dtype = setting.dtype
    return mn.Sequential(
        mn.Dense(n_in, n_hidden, init="he", seed=rng, dtype=dtype),
        mn.ReLU(),
        mn.Dense(n_hidden, n_out, init="he", seed=rng, dtype=dtype),
        mn.ReLU(),
    )


def head(setting: Setting, seed: np.random.Generator) -> mn.Dense:
    """A new output layer: one score per class of five."""
    return mn.Dense(setting.widths[-1], 5, seed=seed, dtype=setting.dtype)


def pretrain(args: argparse.Namespace, setting: Setting, X: np.ndarray, y: np.ndarray, progress: bool) -> mn.Sequential:
    """A body trained with a head on the digits 0-4 (``y`` in 0-4); the head (and any dropout) is then dropped."""
    trained = body(setting, args.seed)
    dropout = [mn.Dropout(setting.dropout, seed=np.random.default_rng([args.seed, 2]))] if setting.dropout else []
    model = mn.Sequential(trained, *dropout, head(setting, np.random.default_rng([args.seed, 1])))
    optimizer = mn.Adam(model.parameters(), lr=1e-3)
    epochs = args.pretrain_epochs or setting.pretrain_epochs
    mn.fit(model, mn.CrossEntropy(), optimizer, X, y, epochs=epochs, batch_size=32, seed=args.seed, progress=progress)
    return trained


def networks(
    setting: Setting, pretrained: mn.Sequential, lr: float, rng: np.random.Generator
) -> dict[str, tuple[mn.Layer, mn.Optimizer]]:
    """The four networks of one draw, named as :data:`METHODS`, each with its Adam optimizer at rate ``lr``."""
    frozen, first, slow = copy.deepcopy(pretrained), copy.deepcopy(pretrained[:2]), copy.deepcopy(pretrained)
    frozen.trainable = first.trainable = False  # the optimizers skip their parameters
    fresh = body(setting, [int(rng.integers(2**32))])
    models = {
        "frozen body": mn.Sequential(frozen, head(setting, rng)),
        "frozen first layer": mn.Sequential(first, *fresh[2:], head(setting, rng)),
        "all, slow body": mn.Sequential(slow, head(setting, rng)),
        "from scratch": mn.Sequential(body(setting, [int(rng.integers(2**32))]), head(setting, rng)),
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
    setting: Setting,
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
            for name, (model, optimizer) in networks(setting, pretrained, args.lr, rng).items():
                mn.fit(model, mn.CrossEntropy(), optimizer, X_few, y_few, epochs=args.epochs, seed=r, progress=False)
                scores = mn.evaluate(model, mn.CrossEntropy(), X_test, y_test, metrics=["accuracy"])
                accuracy[name][i, r] = scores["accuracy"]
    return accuracy


def mean_and_spread(accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over the draws (the last axis) and its standard error, the spread the table and plot show.

    The standard error (the standard deviation of the draws, with Bessel's
    correction, over the square root of their number) says how far the mean
    may be from the mean of endless draws; one draw varies more.
    """
    n = accuracy.shape[-1]
    return accuracy.mean(axis=-1), accuracy.std(axis=-1, ddof=1) / np.sqrt(n)


def print_table(shots: tuple[int, ...], accuracy: dict[str, np.ndarray]) -> None:
    """One row per number of samples per class: each method's mean test accuracy and its standard error."""
    print(f"\n{'per class':>9}" + "".join(f"{name:>22}" for name in METHODS))
    spreads = {name: mean_and_spread(accuracy[name]) for name in METHODS}
    for i, k in enumerate(shots):
        print(f"{k:>9}" + "".join(f"{mean[i]:>14.3f} ± {spread[i]:.3f}" for mean, spread in spreads.values()))


def verdict(shots: tuple[int, ...], accuracy: dict[str, np.ndarray]) -> str:
    """Whether the best reuse beats training from scratch at the fewest shots beyond the spread.

    Beyond the spread means the best reuse's mean less its standard error
    is above scratch's mean plus its standard error: the bands of the plot
    do not touch. The standard deviations say how much one draw varies.
    """
    best = max(METHODS[:-1], key=lambda name: accuracy[name][0].mean())
    (mean, spread), (base, base_spread) = (mean_and_spread(accuracy[name][0]) for name in (best, METHODS[-1]))
    per_class = f"{shots[0]} image{'s' if shots[0] > 1 else ''} per class"
    beats = "beats" if mean - spread > base + base_spread else "does not beat"
    deviations = " and ".join(f"{accuracy[name][0].std(ddof=1):.3f}" for name in (best, METHODS[-1]))
    return (
        f"At {per_class}, {best} {beats} from scratch beyond the spread:\n{mean:.3f} ± {spread:.3f} against "
        f"{base:.3f} ± {base_spread:.3f} (one draw varies more: standard deviations {deviations})."
    )


def plot(shots: tuple[int, ...], accuracy: dict[str, np.ndarray], title: str) -> Figure:
    """Test accuracy against samples per class, one line per method, its band one standard error either side."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    # The baseline in black, dashed: the pretrained ways are read against it.
    for name, style, color in zip(METHODS, ("o-", "s-", "^-", "D--"), ("C0", "C1", "C2", "black")):
        mean, spread = mean_and_spread(accuracy[name])
        ax.plot(shots, mean, style, color=color, label=name)
        ax.fill_between(shots, mean - spread, mean + spread, color=color, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(shots, [str(k) for k in shots])
    ax.minorticks_off()
    ax.set_xlabel("training images per class (digits 5-9)")
    ax.set_ylabel("test accuracy, digits 5-9")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", title=f"bands: ± a standard error, {accuracy[METHODS[0]].shape[1]} draws")
    return figure


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    args.out.mkdir(parents=True, exist_ok=True)
    headless_unless_shown(args)
    progress = not args.no_progress and sys.stderr.isatty()
    setting, X_train, y_train, X_test, y_test = load(args)
    X_old, y_old = X_train[y_train < 5][: args.pretrain_limit], y_train[y_train < 5][: args.pretrain_limit]
    new, new_test = y_train >= 5, np.flatnonzero(y_test >= 5)[: setting.test_images]
    print(
        f"{setting.name}: {len(y_old):,} training images of 0-4 to pretrain on; few of the {new.sum():,} of 5-9 "
        f"to train on; {len(new_test):,} test images of 5-9 to score"
    )
    pretrained = pretrain(args, setting, X_old, y_old, progress)
    print(f"pretrained body: {pretrained}")
    accuracy = few_shot(
        args, setting, pretrained, X_train[new], y_train[new] - 5, X_test[new_test], y_test[new_test] - 5
    )
    print(f"\nTest accuracy on digits 5-9, mean ± standard error over {args.repeats} draws")
    print_table(args.shots, accuracy)
    print(f"\n{verdict(args.shots, accuracy)}")
    title = f"{setting.name}: a body pretrained on 0-4, or none, for 5-9 from few images"
    save(plot(args.shots, accuracy, title), args.out / "fine_tune.png")
    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
