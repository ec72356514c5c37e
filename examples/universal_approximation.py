"""The Universal Approximation Theorem, shown: one hidden layer of sigmoids fits a curve, better as it widens.

The theorem (Cybenko 1989, Hornik 1991) says that a network with one hidden
layer of sigmoids,

    y(x) = c + v_1 sigmoid(w_1 x + b_1) + ... + v_k sigmoid(w_k x + b_k),

approximates any continuous function on a closed interval as closely as we
like, given enough units k. Each unit is a soft step at x = -b_j / w_j; a
sum of enough steps draws any curve. The theorem says such weights exist,
not that gradient descent finds them, nor how many units a curve needs:
this example measures both on one curve.

It fits f(x) = sin(3x) + 0.3 x^2 on [-3, 3] from ``--samples`` random
points with ``Dense(1, k) -> Sigmoid -> Dense(k, 1)``, the mean squared
error, and SGD with momentum and a one-cycle learning rate, once for each
width k in ``--widths``. The held-out error is measured on a dense grid of
1001 evenly spaced points of the interval. It prints a table of width,
parameters, training and held-out MSE, and writes

- ``universal_approximation.png``: each width's fit against the truth;
- ``universal_approximation_error.png``: the error per width (log scale).

Run ``python examples/universal_approximation.py --help`` for the flags.
Plots are written to files (headless by default); ``--show`` also opens
them in a window.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import minnet as mn
from _common import add_common_flags, check_flags, run, save, show_if_asked, use_threads

LOW, HIGH = -3.0, 3.0
GRID_POINTS = 1001


def target(x: np.ndarray) -> np.ndarray:
    """The curve to fit: sin(3x) + 0.3 x^2, three waves on a parabola."""
    return np.sin(3 * x) + 0.3 * x**2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[1, 2, 4, 8, 16, 32],
        help="hidden units of each network (default 1 2 4 8 16 32)",
    )
    parser.add_argument("--epochs", type=int, default=1000, help="epochs per network (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--lr", type=float, default=0.2, help="peak of the one-cycle learning rate (default 0.2)")
    parser.add_argument(
        "--samples",
        type=int,
        default=200,
        help=f"training points, drawn uniformly on [{LOW:g}, {HIGH:g}] (default 200)",
    )
    add_common_flags(parser, seed_of="the training points, the weights and the shuffling")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs", "batch_size", "samples"), positive=("lr",))
    if min(args.widths) < 1:
        parser.error(f"--widths must all be at least 1, got {args.widths}")
    return args


def one_hidden_layer(width: int, seed: int) -> mn.Sequential:
    """``Dense(1, width) -> Sigmoid -> Dense(width, 1)``: a sum of ``width`` sigmoids and a constant.

    He's initial slopes have a standard deviation of sqrt(2) for one input at
    any width; Xavier's shrink as the layer widens (below 0.43 at 32 units),
    which would start a wide layer as a bundle of nearly linear, nearly
    identical units.
    """
    rng = np.random.default_rng([seed, width])  # its own stream: adding a width changes no other network
    return mn.Sequential(mn.Dense(1, width, init="he", seed=rng), mn.Sigmoid(), mn.Dense(width, 1, seed=rng))


def plot_fits(
    x_grid: np.ndarray, y_grid: np.ndarray, x_train: np.ndarray, fits: dict[int, np.ndarray], errors: dict[int, float]
):
    """Small multiples: one panel per width, its fit over the truth, the training inputs as a rug."""
    import matplotlib.pyplot as plt

    columns = min(3, len(fits))
    rows = math.ceil(len(fits) / columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        sharex=True,
        sharey=True,
        squeeze=False,
        figsize=(3.6 * columns, 2.8 * rows),
        layout="constrained",
    )
    for ax, (width, fit) in zip(axes.flat, fits.items()):
        ax.plot(x_grid, y_grid, color="k", linewidth=2.5, label="truth")
        ax.plot(x_grid, fit, color="C3", linewidth=1.5, label="network")
        # The training points lie on the truth; a rug of their x along the bottom shows the gaps
        # between them, where nothing but the network's shape decides the fit.
        ax.plot(
            x_train,
            np.full_like(x_train, 0.02),
            "|",
            color="C0",
            markersize=5,
            transform=ax.get_xaxis_transform(),
            label="training inputs",
        )
        ax.set_title(f"{width} unit{'s' if width > 1 else ''}: held-out MSE {errors[width]:.2g}", fontsize="medium")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(fits) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    axes[0, 0].legend(frameon=False, fontsize="small", loc="upper center")
    fig.suptitle("One hidden layer of sigmoids fitting sin(3x) + 0.3 x², as it widens")
    return fig


def plot_errors(widths: list[int], train: list[float], held_out: list[float]):
    """Training and held-out MSE against the width, both axes logarithmic."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot(widths, held_out, "o-", color="C0", label="held-out (dense grid)")
    ax.plot(widths, train, "s--", color="C1", label="training points")
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.minorticks_off()  # keep only the widths that were run on the x axis
    ax.set_yscale("log")
    ax.set_xlabel("hidden units (log scale)")
    ax.set_ylabel("mean squared error (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False)
    ax.set_title("Error per width", fontsize="medium")
    return fig


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress and sys.stderr.isatty()

    rng = np.random.default_rng(args.seed)
    x_train = rng.uniform(LOW, HIGH, size=(args.samples, 1))
    y_train = target(x_train)
    # Held out: the whole interval, densely, so the error counts every gap between training points.
    x_grid = np.linspace(LOW, HIGH, GRID_POINTS).reshape(-1, 1)
    y_grid = target(x_grid)
    steps = args.epochs * math.ceil(args.samples / args.batch_size)
    print(
        f"f(x) = sin(3x) + 0.3 x^2 on [{LOW:g}, {HIGH:g}]: {args.samples} training points, "
        f"{GRID_POINTS} held-out grid points"
    )
    print(
        f"each network: {args.epochs} epochs in batches of {args.batch_size}, MSE, SGD with momentum 0.9, "
        f"one-cycle rate peaking at {args.lr:g} ({steps} steps)\n"
    )

    widths = list(dict.fromkeys(args.widths))  # each width once, in the order given
    loss = mn.MSE()
    fits, train_mse, held_out_mse = {}, [], []
    print(f"{'width':>5}{'parameters':>12}{'train MSE':>12}{'held-out MSE':>14}")
    for width in widths:
        model = one_hidden_layer(width, args.seed)
        optimizer = mn.SGD(model.parameters(), lr=mn.OneCycle(max_lr=args.lr, total_steps=steps), momentum=0.9)
        mn.fit(
            model,
            loss,
            optimizer,
            x_train,
            y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=progress,
        )
        train_mse.append(mn.evaluate(model, loss, x_train, y_train)["loss"])
        held_out_mse.append(mn.evaluate(model, loss, x_grid, y_grid)["loss"])
        fits[width] = model.predict(x_grid)[:, 0]
        n_params = sum(p.value.size for p in model.parameters())
        print(f"{width:>5}{n_params:>12}{train_mse[-1]:>12.2e}{held_out_mse[-1]:>14.2e}")

    save(
        plot_fits(x_grid[:, 0], y_grid[:, 0], x_train[:, 0], fits, dict(zip(widths, held_out_mse))),
        args.out / "universal_approximation.png",
    )
    save(plot_errors(widths, train_mse, held_out_mse), args.out / "universal_approximation_error.png")

    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
