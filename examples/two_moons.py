"""Two moons: the article's network against deeper ReLU networks, decision boundaries drawn.

Two interleaving half circles, one per class, blurred by Gaussian noise
(``--noise``): no straight line separates them, so the data show what a
network's hidden layers buy. The points are split into training and
held-out sets (stratified), and three networks learn the training points:

1. the from-scratch article's network, 2-16-1 with sigmoids, binary
   cross-entropy on probabilities, full-batch gradient descent at a
   constant rate (``--lr``) for ``--epochs`` epochs;
2. a deeper ReLU network, 2-32-32-1, and
3. a deeper one still, 2-64-64-64-1, both scoring a logit with
   ``BCE(from_logits=True)`` and trained in mini-batches with momentum and
   a one-cycle rate peaking at ``--deep-lr``.

It prints a table of each network's loss and accuracy on the training and
held-out points, and writes ``two_moons.png``: one row per network, its
decision boundary over the training points (left) and over the held-out
points (right), drawn with ``mn.plot.decision_boundary``: every panel
shades the predicted probability of class 1 on one colour scale.

Run ``python examples/two_moons.py --help`` for the flags. Plots are
written to files (headless by default); ``--show`` also opens them in a
window.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import minnet as mn
from _common import SCORES_HEADER, add_common_flags, check_flags, run, save, scores, show_if_asked, use_threads


def make_moons(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles of radius 1, with Gaussian noise.

    Class 0 is the upper arc, centred at (0, 0); class 1 the lower arc,
    centred at (1, 0.5), so each arc's tip reaches into the other's bowl.

    Parameters
    ----------
    n_samples : int
        Points in all; class 0 gets ``n_samples // 2`` of them.
    noise : float
        Standard deviation of the noise added to each coordinate.
    rng : numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        0.0 or 1.0.
    """
    n_upper = n_samples // 2
    angle = rng.uniform(0.0, np.pi, size=n_samples)
    upper = np.column_stack([np.cos(angle[:n_upper]), np.sin(angle[:n_upper])])
    lower = np.column_stack([1.0 - np.cos(angle[n_upper:]), 0.5 - np.sin(angle[n_upper:])])
    X = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_upper), np.ones(n_samples - n_upper)])
    return X, y


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400, help="points in all, half per moon (default 400)")
    parser.add_argument(
        "--noise", type=float, default=0.2, help="standard deviation of the noise on each coordinate (default 0.2)"
    )
    parser.add_argument(
        "--held-out", type=float, default=0.3, help="fraction of the points held out from training (default 0.3)"
    )
    parser.add_argument("--epochs", type=int, default=1500, help="epochs of the article's network (default 1500)")
    parser.add_argument(
        "--lr",
        type=float,
        default=5.0,
        help="learning rate of the article's network (default 5.0; see docs/math.md on why "
        "a mean loss takes a larger rate than the article's sum)",
    )
    parser.add_argument("--deep-epochs", type=int, default=50, help="epochs of the deeper networks (default 50)")
    parser.add_argument(
        "--deep-lr", type=float, default=0.1, help="peak of the deeper networks' one-cycle rate (default 0.1)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="mini-batch size of the deeper networks (default 32)"
    )
    add_common_flags(parser, seed_of="the data, the split, the weights and the shuffling")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs", "deep_epochs", "batch_size"), positive=("lr", "deep_lr"))
    if args.samples < 8:  # a few points of each class on each side of the split
        parser.error(f"--samples must be at least 8, got {args.samples}")
    if not args.noise >= 0:  # also refuses nan
        parser.error(f"--noise must be a non-negative number, got {args.noise}")
    if not 0 < args.held_out < 1:
        parser.error(f"--held-out must be a fraction strictly between 0 and 1, got {args.held_out}")
    return args


def article_network(seed: int) -> mn.Sequential:
    """The article's model for two features: 16 sigmoid units, a sigmoid output, small normal weights."""
    rng = np.random.default_rng([seed, 0])
    return mn.Sequential(
        mn.Dense(2, 16, init="normal", seed=rng),
        mn.Sigmoid(),
        mn.Dense(16, 1, init="normal", seed=rng),
        mn.Sigmoid(),
    )


def relu_network(widths: list[int], seed: int) -> mn.Sequential:
    """ReLU layers of the given widths on two features and a linear output scored as a logit."""
    rng = np.random.default_rng([seed, len(widths)])  # its own stream: the networks do not shift each other's weights
    layers: list[mn.Layer] = []
    for n_in, n_out in zip([2, *widths], widths):
        layers += [mn.Dense(n_in, n_out, init="he", seed=rng), mn.ReLU()]
    layers.append(mn.Dense(widths[-1], 1, seed=rng))
    return mn.Sequential(*layers)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress and sys.stderr.isatty()

    X, y = make_moons(args.samples, args.noise, np.random.default_rng(args.seed))
    X_train, X_held, y_train, y_held = mn.data.train_test_split(
        X, y, test_size=args.held_out, seed=args.seed, stratify=y
    )
    print(f"two moons, noise {args.noise:g}: {len(X_train)} training and {len(X_held)} held-out points")

    # (name, model, loss, optimizer, epochs, batch size): each network trained as it is usually trained.
    article = article_network(args.seed)
    runs = [("article 2-16-1 sigmoid", article, mn.BCE(), mn.SGD(article.parameters(), lr=args.lr), args.epochs, None)]
    deep_steps = args.deep_epochs * math.ceil(len(X_train) / args.batch_size)
    for widths in ([32, 32], [64, 64, 64]):
        model = relu_network(widths, args.seed)
        rate = mn.OneCycle(max_lr=args.deep_lr, total_steps=deep_steps)
        runs.append(
            (
                f"deeper 2-{'-'.join(map(str, widths))}-1 ReLU",
                model,
                mn.BCE(from_logits=True),
                mn.SGD(model.parameters(), lr=rate, momentum=0.9),
                args.deep_epochs,
                args.batch_size,
            )
        )
    print(
        f"article: full batch, constant rate {args.lr:g}, {args.epochs} epochs; deeper: batches of "
        f"{args.batch_size}, momentum 0.9, one-cycle rate peaking at {args.deep_lr:g}, {args.deep_epochs} epochs"
    )

    results = {}
    for name, model, loss, optimizer, epochs, batch_size in runs:
        mn.fit(
            model,
            loss,
            optimizer,
            X_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            seed=args.seed,
            progress=progress,
        )
        results[name] = {
            part: mn.evaluate(model, loss, X_part, y_part, metrics=["accuracy"])
            for part, X_part, y_part in [("train", X_train, y_train), ("held-out", X_held, y_held)]
        }

    print(f"\n{'network':<30}{SCORES_HEADER}")
    for name, result in results.items():
        print(f"{name:<30}{scores(result['train'], result['held-out'])}")

    import matplotlib.pyplot as plt

    # One row per network, two panels wide: the figure fits a page's text column at full size.
    fig, axes = plt.subplots(
        len(runs), 2, figsize=(7.4, 0.8 + 2.9 * len(runs)), sharex=True, sharey=True, layout="constrained"
    )
    # One plane for every panel: all the points, training and held-out, with a margin.
    (left, bottom), (right, top) = X.min(axis=0) - 0.25, X.max(axis=0) + 0.25
    for row, (name, model, loss, *_) in enumerate(runs):
        # Every panel shades the probability of class 1 (a logit through a sigmoid), so all share
        # one colour scale, [0, 1] with the boundary at 0.5, and one colour bar.
        probability = mn.Sequential(model, mn.Sigmoid()) if loss.from_logits else model
        for column, (part, X_part, y_part) in enumerate([("train", X_train, y_train), ("held-out", X_held, y_held)]):
            score = results[name][part]
            last = (row, column) == (len(runs) - 1, 1)
            mn.plot.decision_boundary(
                probability,
                X_part,
                y_part,
                threshold=0.5,
                ax=axes[row, column],
                extent=(left, right, bottom, top),
                resolution=150,
                title=f"{name}\n{part}: loss {score['loss']:.3f}, accuracy {score['accuracy']:.3f}",
                colorbar=axes if last else False,
                legend=(row, column) == (0, 0),
            )
    for ax in axes[:-1].flat:
        ax.set_xlabel("")  # shared axes: the bottom row's labels name them
    for ax in axes[:, 1]:
        ax.set_ylabel("")
    fig.suptitle(
        f"Two moons (noise {args.noise:g}): decision boundaries over\n"
        f"the training points (left) and the held-out points (right)"
    )
    save(fig, args.out / "two_moons.png")

    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
