"""What every example script shares: its common flags, their checks, saving figures and the ``__main__`` guard.

Not an example itself (the leading underscore keeps it out of the list of
scripts): the scripts import from it, so that each of them shows its data,
its networks, their training and its plots, and only that. A script run as
``python examples/<name>.py`` has its own folder on ``sys.path``, so
``from _common import ...`` finds this file from any working folder.

The pieces, in the order a script uses them:

- :func:`add_common_flags` adds ``--seed``, ``--out``, ``--show``,
  ``--no-progress`` and ``--threads`` to the script's parser
  (:func:`add_threads_flag` adds only the last);
- :func:`check_flags` refuses a bad count, rate, seed or thread count by its
  flag's name, before anything trains;
- :func:`use_threads` sizes numpy's (and PyTorch's) thread pool as
  ``--threads`` says;
- :data:`SCORES_HEADER` and :func:`scores` print a model's loss and
  accuracy on the training and the held-out rows as a table row;
- :func:`headless_unless_shown` keeps matplotlib off screen unless
  ``--show`` asks for windows;
- :func:`save` writes a figure and says where, :func:`show_if_asked` opens
  the figures in windows when ``--show`` asks for it;
- :func:`run` calls ``main`` and turns a user's mistake into a one-line
  error instead of a traceback;
- :func:`require` imports an optional package (PyTorch) when the script
  runs, or stops with a line that says how to install it.

matplotlib is imported only inside the functions that need it, and an
optional package only through :func:`require`, so ``--help`` and a bad
flag need neither matplotlib, a display nor any optional package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

import minnet as mn

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: ``--threads``' default: one thread keeps an epoch's time steady when other work shares the
#: machine (docs/performance.md, "Threads").
DEFAULT_THREADS = 1


def add_common_flags(parser: argparse.ArgumentParser, *, seed_of: str, plots: str = "plots") -> None:
    """Add ``--seed``, ``--out``, ``--show``, ``--no-progress`` and ``--threads``: what every example with plots takes.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser; the flags go after the ones it already has.
    seed_of : str
        What the seed decides, for ``--seed``'s help: ``"the split, the
        weights and the shuffling"`` gives "seed of the split, the weights and
        the shuffling (default 0)".
    plots : str, default "plots"
        What ``--out`` holds and ``--show`` opens, for their help:
        ``"plot"`` for a script that draws one.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_common_flags(parser, seed_of="the weights")
    >>> args = parser.parse_args(["--seed", "3", "--show"])
    >>> args.seed, str(args.out), args.show, args.no_progress, args.threads
    (3, 'out', True, False, 1)
    """
    parser.add_argument("--seed", type=int, default=0, help=f"seed of {seed_of} (default 0)")
    parser.add_argument("--out", type=Path, default=Path("out"), help=f"folder for the {plots} (default ./out)")
    parser.add_argument("--show", action="store_true", help=f"also show the {plots} in a window")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (they are hidden anyway when stderr is not a terminal)",
    )
    add_threads_flag(parser)


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads``: how many threads numpy's matrix products (and PyTorch's, where it runs) use.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser. :func:`check_flags` refuses a count below 1 and
        :func:`use_threads` applies it.
    """
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"threads of numpy's matrix products, and of PyTorch's where it runs (default {DEFAULT_THREADS}: "
        "steady when other work shares the machine; on a quiet one, its number of cores is faster)",
    )


def check_flags(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    at_least_1: Iterable[str] = (),
    positive: Iterable[str] = (),
) -> None:
    """Refuse a count below 1, a rate that is not positive, a negative ``--seed`` or ``--threads`` < 1, naming the flag.

    Called right after ``parse_args``, before any data are read or anything
    trains, so a typo costs nothing. A refusal goes through
    ``parser.error``: the usage line and the message on stderr, exit status 2.
    The checks run in the order of the parameters below, then the seed's,
    then the thread count's; the first that fails is the one reported.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser that made ``args``; it reports the refusal.
    args : argparse.Namespace
        The parsed flags.
    at_least_1 : iterable of str
        Attribute names of integer flags that must be at least 1
        (``"batch_size"`` for ``--batch-size``).
    positive : iterable of str
        Attribute names of number flags that must be greater than 0; nan is
        refused too.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="example.py")
    >>> _ = parser.add_argument("--batch-size", type=int, default=32)
    >>> check_flags(parser, parser.parse_args([]), at_least_1=["batch_size"])
    >>> check_flags(parser, parser.parse_args(["--batch-size", "0"]), at_least_1=["batch_size"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    for flag in at_least_1:
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    for flag in positive:
        if not getattr(args, flag) > 0:  # also refuses nan
            parser.error(f"--{flag.replace('_', '-')} must be a positive number, got {getattr(args, flag)}")
    if getattr(args, "seed", 0) < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if getattr(args, "threads", 1) < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")


def use_threads(args: argparse.Namespace) -> None:
    """Run numpy's matrix products, and PyTorch's if it is loaded, on ``--threads`` threads from now on.

    Called once the flags are checked (and PyTorch imported, where the script
    needs it), before anything trains.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags, from a parser given :func:`add_threads_flag`.
    """
    mn.set_num_threads(args.threads)
    if "torch" in sys.modules:  # only a script that runs PyTorch has imported it
        sys.modules["torch"].set_num_threads(args.threads)


#: The columns :func:`scores` fills, to print after the table's first column.
SCORES_HEADER = f"{'train loss':>11}{'train acc':>11}{'held-out loss':>15}{'held-out acc':>14}"


def scores(train: Mapping[str, float], held_out: Mapping[str, float]) -> str:
    """One table row's cells under :data:`SCORES_HEADER`: loss and accuracy on the training and held-out rows.

    Parameters
    ----------
    train, held_out : mapping of str to float
        What ``mn.evaluate(..., metrics=["accuracy"])`` returns on each set:
        at least ``"loss"`` and ``"accuracy"``.

    Returns
    -------
    str
        The four numbers, right-aligned under the header's four columns.

    Examples
    --------
    >>> print(f"{'model':<8}{SCORES_HEADER}")
    model    train loss  train acc  held-out loss  held-out acc
    >>> print(f"{'tiny':<8}{scores({'loss': 0.5, 'accuracy': 0.75}, {'loss': 0.625, 'accuracy': 0.7})}")
    tiny         0.5000      0.750         0.6250         0.700
    """
    return f"{train['loss']:>11.4f}{train['accuracy']:>11.3f}{held_out['loss']:>15.4f}{held_out['accuracy']:>14.3f}"


def headless_unless_shown(args: argparse.Namespace) -> None:
    """Without ``--show``, draw with matplotlib's Agg backend: no window, and no display needed.

    Call it before the first figure is drawn.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags, from a parser given :func:`add_common_flags`.
    """
    if not args.show:
        import matplotlib

        matplotlib.use("Agg")


#: Resolution of the figures :func:`save` writes; docs/make_pictures.py draws the site's at 90.
DPI = 120


def save(figure: Figure, path: Path) -> None:
    """Write a matplotlib figure to ``path`` (its format from the suffix) and print where.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        What ``mn.plot`` and ``History.plot`` return.
    path : pathlib.Path
        The file, in a folder that exists.
    """
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    print(f"saved {path}")


def show_if_asked(args: argparse.Namespace) -> None:
    """With ``--show``, open every figure drawn so far in a window, and wait until they are closed.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags, from a parser given :func:`add_common_flags`.
    """
    if args.show:
        import matplotlib.pyplot as plt

        plt.show()


def run(main: Callable[[], int]) -> NoReturn:
    """Run a script's ``main`` and exit with its status; a user's mistake ends in one line, not a traceback.

    A ``ValueError``, ``TypeError`` or ``OSError`` (e.g. an ``--out`` that
    cannot be a folder, or a data set missing offline) is printed as
    ``error: <message>`` on stderr, with exit status 1.

    Parameters
    ----------
    main : callable
        The script's ``main``, called with no arguments (it parses
        ``sys.argv``); it returns the exit status.
    """
    try:
        sys.exit(main())
    except (ValueError, TypeError, OSError) as exc:
        sys.exit(f"error: {exc}")


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` (an optional package), or exit with a line saying how to install it.

    Called once the flags are parsed, so ``--help`` works without the package.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"torch"``.
    extra : str
        minnet's extra that installs it at the version CI tests (``pip install -e ".[torch]"``).

    Returns
    -------
    module
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise  # a package that is there but broken: its own traceback says more
        script = Path(sys.argv[0]).name
        sys.exit(
            f"error: {script} needs the optional package {exc.name!r}, which is not installed; "
            f'install it with: .venv/bin/pip install -e ".[{extra}]"'
        )
