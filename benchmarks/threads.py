"""Time minnet's MNIST epoch at several BLAS thread counts, on a quiet machine and beside a busy process.

Usage (from the repository root)::

    python benchmarks/threads.py                        # 150 batches, 4 rounds, 1 and 2 threads and the default
    python benchmarks/threads.py --batches 469 --rounds 6 --json out.json

The run is the ``mnist`` task of ``benchmarks/run.py`` (784-256-128-10,
float32, batches of 128, SGD with momentum), cut to its first ``--batches``
batches. Each round times every thread count quiet, then every one again
beside a CPU-bound process (``while True: pass``, in a session of its own
as another user's job would be), so that a change in the machine's load
hits all of them alike. The table gives each setting's median seconds,
quiet and busy, and the busy / quiet ratio of each round (lowest, median,
highest): the slowdown one busy neighbour causes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `minnet` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import minnet as mn
from benchmarks.implementations import train_minnet
from benchmarks.run import at_threads, busy_ratios, quiet_and_busy
from benchmarks.tasks import Task, make_tasks

#: The thread counts timed besides the BLAS default (None).
THREADS = (1, 2)


def measure(
    task: Task, settings: tuple[int | None, ...], rounds: int, train: Callable[[Task], Any] = train_minnet
) -> dict[str, Any]:
    """Seconds of ``train(task)`` at each thread count (None: the BLAS default), quiet and busy, per round."""
    threads = {label(n): n for n in settings}
    runs = {name: functools.partial(train, task) for name in threads}
    seconds = quiet_and_busy(runs, rounds, within=lambda name: at_threads(threads[name]))
    return {
        "blas_default": mn.get_num_threads(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "rounds": rounds,
        "seconds": seconds,
    }


def label(n: int | None) -> str:
    return "default" if n is None else str(n)


def table(report: dict[str, Any]) -> str:
    """A Markdown table: median seconds quiet and busy, and the per-round busy / quiet ratios."""
    rows = [
        "| BLAS threads | quiet (s, median) | busy (s, median) | busy / quiet (lowest / median / highest) |",
        "|---|---|---|---|",
    ]
    for name, times in report["seconds"].items():
        ratios = busy_ratios(times)
        shown = f"default ({report['blas_default']})" if name == "default" else name
        rows.append(
            f"| {shown} | {statistics.median(times['quiet']):.3f} | {statistics.median(times['busy']):.3f} | "
            f"{ratios[0]:.2f} / {statistics.median(ratios):.2f} / {ratios[-1]:.2f} |"
        )
    return "\n".join(rows)


def mnist_task(batches: int, mnist: str | None) -> Task:
    """The benchmark's mnist task, cut to its first ``batches`` batches."""
    task = next((t for t in make_tasks(dtypes=(np.float32,), mnist=mnist) if t.name == "mnist"), None)
    if not isinstance(task, Task):
        raise SystemExit("error: no MNIST files found; pass --mnist FOLDER")
    rows = batches * (task.batch_size or len(task.X))
    return dataclasses.replace(task, X=task.X[:rows], y=task.y[:rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150, help="batches of 128 images per epoch (default 150)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of every setting, quiet and busy (default 4)")
    parser.add_argument("--mnist", metavar="FOLDER", help="folder of the MNIST .gz files (as benchmarks/run.py)")
    parser.add_argument("--json", metavar="PATH", help="also write the times as JSON")
    args = parser.parse_args(argv)
    for flag in ("batches", "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    report = measure(mnist_task(args.batches, args.mnist), (*THREADS, None), args.rounds)
    print(table(report))
    print(f"\n{report['cores']} cores, load average at the end {report['load_average'][0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
