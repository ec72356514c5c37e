"""Draw the pictures of the site's pages, docs/images/, from the examples: one command makes them all.

Usage (from the repository root)::

    python docs/make_pictures.py                  # every picture but the timed one, into docs/images
    python docs/make_pictures.py two_moons.png    # only the pictures named
    python docs/make_pictures.py --quick --out /tmp/pictures   # tiny runs: checks that every picture draws

Each picture is what an example script draws when run with its defaults
(every seed fixed), or ``mn.plot.model`` of an example's network, so the
pages show what the code does. They are drawn at 90 dpi and stored as
PNGs of 256 colours, which keeps all of them under :data:`BUDGET` bytes
(``tests/test_pictures.py`` checks that budget, that each picture a page
shows exists, and that this script makes every file in docs/images).

Two kinds are made only when they can be true of the code:

* ``cnn_filters.png`` and ``cnn_feature_maps.png`` look into the network
  ``examples/mnist_cnn.py`` trains on MNIST (12 epochs: several minutes on
  two cores), and ``fine_tune.png`` is ``examples/fine_tune.py``'s run on
  MNIST (about 3 minutes). MNIST is read from ``--mnist``, else
  ``$MINNET_DATA/mnist``, ``~/.cache/minnet/mnist`` or
  ``../shared/data/mnist``, as the benchmarks find it, and never
  downloaded: without it they are skipped.
* ``performance.png`` times the machine (``benchmarks/run.py``'s sweep of
  batch sizes, minutes): it is made only when named, on a quiet machine.

``--quick`` runs every example for an epoch or two into ``--out`` (which
must not be docs/images: such pictures are not the pages'), skipping both
kinds above; the tests use it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
DPI = 90
#: Bytes that all the pictures in docs/images may weigh together.
BUDGET = 500_000


@dataclass(frozen=True)
class Job:
    """What a source draws into: a scratch folder, at full size or ``quick``, with MNIST's folder if found."""

    folder: Path
    quick: bool
    mnist: Path | None


@dataclass(frozen=True)
class Source:
    """Pictures drawn together: ``draw(job)`` writes each of ``pictures`` into ``job.folder``.

    ``needs`` is ``"mnist"`` for a source that trains on MNIST, ``"timing"``
    for one that measures the machine, else None.
    """

    pictures: tuple[str, ...]
    draw: Callable[[Job], None]
    needs: str | None = None


def example(script: str, quick: list[str], *, mnist: bool = False) -> Callable[[Job], None]:
    """Run ``examples/<script>.py`` at its defaults, or with the flags ``quick``; ``mnist`` passes ``--data``."""

    def draw(job: Job) -> None:
        data = ["--data", str(job.mnist)] if mnist else []
        argv = [*(quick if job.quick else []), *data, "--no-progress", "--out", str(job.folder)]
        print(f"python examples/{script}.py {' '.join(argv)}", flush=True)
        importlib.import_module(script).main(argv)

    return draw


def save(figure: Figure, path: Path) -> None:
    """Write a figure this script draws itself, as the examples' figures are written."""
    import _common

    _common.save(figure, path)


def draw_residual_graph(job: Job) -> None:
    """``mn.plot.model`` of the residual network of ``examples/residual.py``, with one block."""
    import minnet as mn
    import residual

    model = residual.residual_network(residual.dense_layers(8, 16, blocks=1, seed=0))
    title = "examples/residual.py --blocks 1: the block's input skips to its Add"
    save(mn.plot.model(model, title=title), job.folder / "residual_graph.png")


def draw_cnn(job: Job) -> None:
    """``mn.plot.model`` of the CNN of ``examples/mnist_cnn.py``, for a 28 x 28 digit (no training)."""
    import minnet as mn
    import mnist_cnn

    title = "examples/mnist_cnn.py: the network, for a 28 x 28 digit"
    save(mn.plot.model(mnist_cnn.network(seed=0), input_shape=(1, 28, 28), title=title), job.folder / "cnn_model.png")


def time_batch_sizes(job: Job) -> None:
    """``benchmarks/run.py --plot``'s sweep: seconds per epoch against the batch size, best of 3."""
    from benchmarks.run import plot_sweep

    plot_sweep(str(job.folder / "performance.png"), repeat=3)


SOURCES = (
    Source(("article_loss.png", "schedules.png"), example("diabetes", ["--epochs", "3", "--deep-epochs", "1"])),
    Source(("lr_find.png", "lr_finder_runs.png"), example("lr_finder", ["--epochs", "1"])),
    Source(
        ("universal_approximation.png",),
        example("universal_approximation", ["--widths", "1", "2", "--epochs", "2", "--samples", "20"]),
    ),
    Source(("two_moons.png",), example("two_moons", ["--samples", "40", "--epochs", "2", "--deep-epochs", "1"])),
    Source(("diagnose.png",), example("diagnose", ["--epochs", "1", "--depth", "3", "--width", "8"])),
    Source(("residual.png",), example("residual", ["--epochs", "1", "--blocks", "1"])),
    Source(("residual_graph.png",), draw_residual_graph),
    Source(("digits_confusion.png", "digits_misclassified.png"), example("digits", ["--epochs", "1"])),
    Source(("fine_tune.png",), example("fine_tune", [], mnist=True), needs="mnist"),
    Source(("cnn_model.png",), draw_cnn),
    Source(("cnn_filters.png", "cnn_feature_maps.png"), example("mnist_cnn", [], mnist=True), needs="mnist"),
    Source(("performance.png",), time_batch_sizes, needs="timing"),
)
#: Every picture in docs/images, in the order the sources draw them.
PICTURES = tuple(name for source in SOURCES for name in source.pictures)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "pictures",
        nargs="*",
        metavar="PICTURE",
        help=f"pictures to make (default: all but performance.png); one of: {', '.join(PICTURES)}",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the pictures (default docs/images)")
    parser.add_argument("--quick", action="store_true", help="tiny runs (seconds), into an --out of your choice")
    parser.add_argument("--mnist", type=Path, help="folder of the four MNIST .gz files (default: looked for)")
    args = parser.parse_args(argv)
    args.out = args.out or IMAGES
    unknown = [name for name in args.pictures if name not in PICTURES]
    if unknown:
        parser.error(f"no picture named {', '.join(unknown)}; the pictures are: {', '.join(PICTURES)}")
    if args.quick and args.out.resolve() == IMAGES.resolve():
        parser.error("--quick draws from runs of an epoch or two, not the pages' pictures: give another --out")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out must be a folder, got the file {args.out}")
    return args


def chosen(args: argparse.Namespace, mnist: Path | None) -> list[Source]:
    """The sources to run: those of the pictures named, else all that the machine and data allow."""
    if args.pictures:
        sources = [s for s in SOURCES if set(s.pictures) & set(args.pictures)]
        if mnist is None and any(s.needs == "mnist" for s in sources):
            raise SystemExit("error: the MNIST files were not found; give their folder with --mnist")
        return sources
    sources = []
    for source in SOURCES:
        skip = {
            "mnist": "MNIST was not found (--mnist)" if mnist is None else "",
            "timing": "it times the machine: name it to make it",
        }.get(source.needs or "", "")
        if args.quick and source.needs:
            skip = "--quick runs no MNIST training and no timing"
        if skip:
            print(f"skipped {', '.join(source.pictures)}: {skip}")
        else:
            sources.append(source)
    return sources


def publish(source: Path, target: Path) -> None:
    """Store a PNG in 256 colours, optimised (about half the bytes), through a temporary file renamed into place."""
    from PIL import Image

    with Image.open(source) as image:
        small = image.convert("RGB").quantize(256)
    partial = target.with_name(f".{target.name}.tmp")
    small.save(partial, format="PNG", optimize=True)
    os.replace(partial, target)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The examples import their helpers as top-level modules, and the timing imports `benchmarks`.
    sys.path[:0] = [str(ROOT / "examples"), str(ROOT)]
    import _common
    from benchmarks.tasks import find_mnist

    _common.DPI = DPI
    mnist = find_mnist(args.mnist)
    sources = chosen(args, mnist)
    args.out.mkdir(parents=True, exist_ok=True)
    for source in sources:
        with tempfile.TemporaryDirectory() as scratch:
            job = Job(Path(scratch), args.quick, mnist)
            with contextlib.redirect_stdout(io.StringIO()) if args.quick else contextlib.nullcontext():
                source.draw(job)
            plt.close("all")
            for name in source.pictures:
                publish(job.folder / name, args.out / name)
                print(f"wrote {args.out / name} ({(args.out / name).stat().st_size / 1000:.0f} KB)", flush=True)
    total = sum((args.out / name).stat().st_size for name in PICTURES if (args.out / name).exists())
    print(f"the pictures in {args.out} weigh {total / 1000:.0f} KB (budget {BUDGET / 1000:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
