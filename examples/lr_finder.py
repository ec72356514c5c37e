"""Pick learning-rate bounds with the range test, then train with cyclical rates.

1. The learning-rate range test (``mn.lr_find``) on the Pima diabetes data:
   one mini-batch step per rate, the rate growing geometrically from 1e-4
   to 100, until the loss explodes. The curve goes to ``lr_find.png``.
2. Bounds from the curve: ``max_lr`` is the suggestion (to two digits), the
   rate at which the smoothed loss falls fastest into its minimum, after the
   first tenth of the sweep is skipped as warm-up; ``base_lr`` is a quarter
   of it, as Smith (2017) advises; the step size is 4 epochs' worth of
   batches (the rule is 2 to 10). The schedule is drawn in
   ``cyclic_schedule.png``.
3. The article's network trained with that ``CyclicLR``, and once more at a
   constant rate equal to the suggestion, from the same weights on the same
   batches; ``lr_finder_runs.png`` overlays their losses and a table gives
   their final scores.

Run ``python examples/lr_finder.py --help`` for the flags. Plots are written
to files (headless by default); ``--show`` also opens them in a window.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import minnet as mn
from _common import SCORES_HEADER, add_common_flags, check_flags, run, save, scores, show_if_asked, use_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=40, help="training epochs (default 40: five whole cycles of 8 epochs)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    add_common_flags(parser, seed_of="the split, the weights and the shuffling")
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("epochs", "batch_size", "hidden"))
    return args


def article_network(n_features: int, hidden: int, seed: int) -> mn.Sequential:
    """The from-scratch article's model: a sigmoid hidden layer and a sigmoid output."""
    rng = np.random.default_rng(seed)
    return mn.Sequential(
        mn.Dense(n_features, hidden, init="normal", rng=rng),
        mn.Sigmoid(),
        mn.Dense(hidden, 1, init="normal", rng=rng),
        mn.Sigmoid(),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_threads(args)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = mn.datasets.load_diabetes()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(X, y, test_size=0.2, seed=args.seed, stratify=y)
    scaler = mn.data.Standardizer().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    loss = mn.BCE()

    # 1. The range test. It restores the weights, so the same model trains next.
    model = article_network(X.shape[1], args.hidden, args.seed)
    before = [p.value.copy() for p in model.parameters()]
    result = mn.lr_find(
        model,
        loss,
        X_train,
        y_train,
        start_lr=1e-4,
        end_lr=100.0,
        num_steps=200,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    unchanged = all(np.array_equal(p.value, b) for p, b in zip(model.parameters(), before))
    print(
        f"1. Range test, batches of {args.batch_size}: {result}\n   weights as they were before the test: {unchanged}"
    )
    if result.suggestion is None:
        print("the loss never fell during the range test; try a smaller start_lr")
        return 1
    save(result.plot(title="Range test on the diabetes data (article's network)"), args.out / "lr_find.png")

    # 2. Bounds and step size.
    batches_per_epoch = math.ceil(len(X_train) / args.batch_size)
    max_lr = float(f"{result.suggestion:.2g}")  # two significant digits: the curve is no sharper than that
    base_lr = max_lr / 4
    schedule = mn.CyclicLR(base_lr=base_lr, max_lr=max_lr, step_size_up=4 * batches_per_epoch)
    total_steps = args.epochs * batches_per_epoch
    print(
        f"\n2. Bounds: max_lr = suggestion, rounded = {max_lr:.4g}, base_lr = max_lr / 4 = {base_lr:.4g}; "
        f"step size 4 x {batches_per_epoch} batches per epoch = {4 * batches_per_epoch} steps\n"
        f"   {schedule!r}"
    )
    save(mn.plot.schedule(schedule, total_steps), args.out / "cyclic_schedule.png")

    # 3. Train with the cycle, and at a constant rate for reference.
    histories, models = {}, {}
    for name, rate in [(f"cyclic {base_lr:.3g}-{max_lr:.3g}", schedule), (f"constant {max_lr:.3g}", max_lr)]:
        models[name] = model if not models else article_network(X.shape[1], args.hidden, args.seed)
        histories[name] = mn.fit(
            models[name],
            loss,
            mn.SGD(models[name].parameters(), lr=rate),
            X_train,
            y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            validation_data=(X_test, y_test),
            metrics=["accuracy"],
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    print(f"\n3. {args.epochs} epochs in batches of {args.batch_size}, same initial weights and batches")
    print(f"{'run':<20}{SCORES_HEADER}{'best held-out loss':>20}{'at epoch':>10}")
    for name, history in histories.items():
        train = mn.evaluate(models[name], loss, X_train, y_train, metrics=["accuracy"])
        held_out = mn.evaluate(models[name], loss, X_test, y_test, metrics=["accuracy"])
        best = int(np.argmin(history["val_loss"]))
        print(f"{name:<20}{scores(train, held_out)}{history['val_loss'][best]:>20.4f}{best + 1:>10}")
    save(
        mn.plot.compare(
            histories,
            key=("loss", "val_loss", "lr"),
            title="Rates from the range test: cyclical vs constant",
            held_out="held-out",
        ),
        args.out / "lr_finder_runs.png",
    )

    show_if_asked(args)
    return 0


if __name__ == "__main__":
    run(main)
