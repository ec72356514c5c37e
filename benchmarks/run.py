"""Time the same training runs through minnet, hand-written numpy, PyTorch and scikit-learn.

Usage (from the repository root)::

    python benchmarks/run.py                  # the table, with every target checked
    python benchmarks/run.py --quick          # tiny sizes: checks everything runs and agrees
    python benchmarks/run.py --json out.json  # also write the results as JSON ('-' for stdout)
    python benchmarks/run.py --threads 1      # one BLAS thread (and one PyTorch thread): a busy machine's setting
    python benchmarks/run.py --threads 1 2 --repeat 5           # the whole report at 1, then at 2 threads
    python benchmarks/run.py --busy --threads 1 --tasks mnist article  # also quiet / beside a busy process
    python benchmarks/run.py --plot docs/images/performance.png --markdown out/table.md

Every implementation starts from the same weights and visits the same
batches, so minnet, numpy and PyTorch must end on the same loss and the
same weights; the run fails (exit status 2) if they do not. The ``mnist``
and ``mnist_cnn`` tasks run when the MNIST files are found (``--mnist``,
``$MINNET_DATA/mnist``, ``~/.cache/minnet/mnist`` or ``../shared/data/mnist``)
and are skipped otherwise. Times are the best of ``--repeat``
runs, interleaved so that a burst of load on the machine hits every
implementation alike. Every task also reports the FLOPs of its matrix
products and the fraction of the bound each implementation reaches: the
products alone, timed into preallocated outputs, over its run. Several
``--threads`` counts run the whole report once per count (JSON:
``{"runs": [...]}``, one report each); every target row names the BLAS
thread count it was measured at. ``--busy`` times minnet and the numpy
loop quiet and beside one CPU-bound process, round by round, for the
busy / quiet target at one thread (the examples' default). Exit status 1
means a performance target was missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `minnet` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import minnet as mn
from benchmarks.implementations import (
    Trainer,
    build_minnet,
    build_minnet_cnn,
    conv_implementations,
    implementations,
)
from benchmarks.tasks import SEED, ConvTask, Task, find_mnist, make_tasks

# Agreement between minnet, numpy and PyTorch, of the final loss and of each
# weight array (relative to its largest element): the runs differ only by
# rounding (summation order inside BLAS, fused multiply-adds), which a long
# run can amplify a little, more so in float32.
RTOL = {"float64": 1e-7, "float32": 2e-3}
# Adam steps each weight by about lr whatever its gradient's size, so in float32 a rounding
# difference in a gradient near zero moves a weight by a whole step, and a CNN's epoch ends
# with single weights 5-8% of the largest apart (the loop itself, started 1 ulp away, up to
# 47%). Such runs compare each weight array's distance to the loop's, as a fraction of how far
# the loop's training moved it (5% here, 25% for the loop from 1 ulp away; a wrong update, 100%).
ADAM_FLOAT32_DISTANCE = 0.5

# task -> [(peer, largest allowed time of minnet / peer)], at every thread count and dtype
RATIO_TARGETS = {
    "article": [("numpy", 1.15)],
    "wide": [("torch", 1.0)],
    "deep-narrow": [("torch", 0.6)],
    "mnist": [("numpy", 1.05), ("torch", 0.70)],
    "mnist_cnn": [("numpy", 1.1), ("torch", 1.0)],
}
#: The same chain run as an mn.Graph may cost at most this much more than as a Sequential.
GRAPH_OVERHEAD_TARGET = {"deep-narrow": 1.10}
#: task -> (least fraction of the matmul-bound rate minnet reaches, the thread count it holds at; None: any)
FRACTION_TARGETS: dict[str, tuple[float, int | None]] = {"wide": (0.80, None), "mnist": (0.70, 1)}
#: Beside one CPU-bound process minnet's run may take at most this many times its quiet time, at
#: ``BUSY_THREADS`` BLAS threads: the examples' documented default.
BUSY_TARGET = 2.0
BUSY_THREADS = 1
MEMORY_ACTIVATION_MULTIPLE = 4.0
#: Images of the CNN's memory run: a step's peak does not depend on how many steps an epoch has.
CONV_MEMORY_ROWS = 1024


class Disagreement(RuntimeError):
    """The implementations ended on different losses: one of them computes something else."""


# Thread pools (OpenBLAS's, torch's and scikit-learn's OpenMP) keep their
# workers spinning for a moment after a call; on 2 cores they would steal time
# from whatever runs next. A short pause lets them go idle before each run.
SETTLE_SECONDS = 0.25


def timed_call(fn: Callable[[], Any], settle: float = SETTLE_SECONDS) -> tuple[float, Any]:
    """Seconds of one call of ``fn`` (after ``settle`` seconds of pause), and its result."""
    time.sleep(settle)
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def busy_neighbour() -> Iterator[None]:
    """A CPU-bound process running beside the block: what another user's job does to a shared machine."""
    # A session of its own, as another user's job: Linux shares the cores between sessions first.
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(SETTLE_SECONDS)  # let it start spinning before the clock starts
        yield
    finally:
        spinner.kill()
        spinner.wait()


def quiet_and_busy(
    runs: dict[str, Callable[[], Any]],
    rounds: int,
    settle: float = SETTLE_SECONDS,
    within: Callable[[str], AbstractContextManager[Any]] = lambda name: nullcontext(),
) -> dict[str, dict[str, list[float]]]:
    """Seconds of each of ``runs``, every round quiet then beside :func:`busy_neighbour`.

    The rounds interleave the two conditions and the runs, so that a change
    in the machine's own load hits all of them alike. Each run is timed
    inside ``within(name)``, entered before its clock starts (e.g. a thread
    count). Returns ``{name: {"quiet": [seconds per round], "busy": [...]}}``.
    """
    seconds: dict[str, dict[str, list[float]]] = {name: {"quiet": [], "busy": []} for name in runs}
    for _ in range(rounds):
        for condition, around in (("quiet", nullcontext), ("busy", busy_neighbour)):
            with around():
                for name, fn in runs.items():
                    with within(name):
                        seconds[name][condition].append(timed_call(fn, settle)[0])
    return seconds


def at_threads(n: int | None) -> AbstractContextManager[None]:
    """A ``with`` block on ``n`` BLAS threads (None: the pool as it is)."""
    return mn.threads(n) if n is not None else nullcontext()


def busy_ratios(times: dict[str, list[float]]) -> list[float]:
    """The busy / quiet ratio of each round of one run of :func:`quiet_and_busy`, lowest first."""
    return sorted(busy / quiet for quiet, busy in zip(times["quiet"], times["busy"]))


def time_task(
    task: Task | ConvTask, impls: dict[str, Trainer], repeat: int, settle: float = SETTLE_SECONDS
) -> dict[str, Any]:
    """Best-of-N seconds, the spread of the N and the final loss of each implementation.

    N is ``repeat``, raised up to ``2 * repeat`` for tasks whose minnet run
    takes under a second: short runs are the ones a burst of load distorts.
    The result's ``"weights"`` (each implementation's last run's final
    weights) is for :func:`check_agreement`; it is not part of the report.
    """
    times: dict[str, list[float]] = {name: [] for name in impls}
    losses: dict[str, float] = {}
    weights: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rounds, done = repeat, 0
    while done < rounds:
        done += 1
        for name, train in impls.items():
            seconds, trained = timed_call(functools.partial(train, task), settle)
            times[name].append(seconds)
            losses[name], weights[name] = trained
        if done == 1 and times["minnet"][0] < 1.0:
            rounds = 2 * repeat
    # The spread says how far to trust a ratio: (median - best) / best of each implementation's runs.
    spread = {name: float(np.median(t) / min(t) - 1.0) for name, t in times.items()}
    return {
        "seconds": {name: min(t) for name, t in times.items()},
        "spread": spread,
        "loss": losses,
        "runs": rounds,
        "weights": weights,
    }


def check_agreement(
    task: Task | ConvTask,
    losses: dict[str, float],
    weights: dict[str, list[tuple[np.ndarray, np.ndarray]]] | None = None,
) -> None:
    """Raise :class:`Disagreement` unless minnet (and the graph, and PyTorch) end where the numpy loop does.

    The final losses must agree to ``RTOL`` relative, and so must each final
    weight array, relative to its largest element; a float32 CNN trained with
    Adam, to ``ADAM_FLOAT32_DISTANCE`` of the distance the loop's training
    moved it (see the comment there).
    """
    reference = losses["numpy"]
    rtol = RTOL[np.dtype(task.dtype).name]
    for name in ("minnet", "graph", "torch"):
        if name in losses and not abs(losses[name] - reference) <= rtol * abs(reference):
            raise Disagreement(
                f"{task.label}: {name} ended on loss {losses[name]!r}, the numpy "
                f"loop on {reference!r} (rtol {rtol}); they must do the same math"
            )
    if weights is None:
        return
    by_distance = isinstance(task, ConvTask) and np.dtype(task.dtype) == np.float32
    for name in ("minnet", "graph", "torch"):
        for layer, (ours, theirs, initial) in enumerate(zip(weights.get(name, []), weights["numpy"], task.weights)):
            for what, a, b, start in zip(("W", "b"), ours, theirs, initial):
                if by_distance:
                    error, moved = float(np.linalg.norm(a - b)), float(np.linalg.norm(b - start))
                    if not error <= ADAM_FLOAT32_DISTANCE * moved:
                        raise Disagreement(
                            f"{task.label}: {name}'s final {what} of layer {layer} is {error:.3g} away from "
                            f"the numpy loop's, more than {ADAM_FLOAT32_DISTANCE} of the {moved:.3g} the "
                            f"loop's training moved it; they must do the same math"
                        )
                    continue
                error = float(np.max(np.abs(a - b)))
                if not error <= rtol * float(np.max(np.abs(b))):
                    raise Disagreement(
                        f"{task.label}: {name}'s final {what} of layer {layer} differs from "
                        f"the numpy loop's by up to {error:.3g}, more than {rtol} of its largest "
                        f"element {float(np.max(np.abs(b))):.3g}; they must do the same math"
                    )


def matmul_seconds(task: Task | ConvTask, repeat: int, library: str = "numpy") -> float:
    """Time of only the matrix products of the run (``task.matmul_shapes``), into preallocated outputs.

    ``library="torch"`` times the same products with ``torch.matmul``: a
    PyTorch run cannot be faster than its own products, so the two columns
    say how much of a gap to PyTorch is the BLAS each library ships.
    """
    rng = np.random.default_rng(SEED)
    operands: dict[int, list[tuple[Any, Any, Any]]] = {}
    for m in sorted(set(task.batch_sizes())):
        operands[m] = []
        for M, K, N, layout in task.matmul_shapes(m):
            a = rng.standard_normal((K, M) if layout == "T." else (M, K)).astype(task.dtype)
            b = rng.standard_normal((N, K) if layout == ".T" else (K, N)).astype(task.dtype)
            out = np.empty((M, N), task.dtype)
            if library == "torch":
                import torch

                a, b, out = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            operands[m].append((a.T if layout == "T." else a, b.T if layout == ".T" else b, out))
    matmul: Callable[..., Any] = np.matmul
    if library == "torch":
        import torch

        matmul = torch.matmul

    def products() -> None:
        for _ in range(task.epochs):
            for m in task.batch_sizes():
                for a, b, out in operands[m]:
                    matmul(a, b, out=out)

    return min(timed_call(products)[0] for _ in range(repeat))


class _EpochMemory(mn.callbacks.Callback):
    """Bytes of numpy arrays alive at the end of each epoch."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def on_epoch_end(self, run: Any, logs: dict[str, float]) -> None:
        numpy_arrays = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
        snapshot = tracemalloc.take_snapshot().filter_traces([numpy_arrays])
        self.per_epoch.append(sum(stat.size for stat in snapshot.statistics("filename")))


def traced_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes ``fn`` holds allocated at once (numpy arrays and Python objects), as tracemalloc sees them."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def measure_memory(
    task: Task | ConvTask, epochs: int = 4, rows: int | None = None, numpy_loop: Trainer | None = None
) -> dict[str, Any]:
    """Peak memory a minnet fit allocates on top of the data, and its growth per epoch.

    A short fit on a few rows of another model runs first, untraced: the
    modules and caches a process loads on its first fit (about 2.5 MB of
    Python objects) are not the training's memory. ``rows`` keeps the first
    rows of the data only (the CNN's, whose four epochs would take minutes).
    With ``numpy_loop``, the hand-written loop's peak on the same data is
    measured too, for comparison (PyTorch's allocations are not traced).
    """
    if rows is not None:
        task = dataclasses.replace(task, X=task.X[:rows], y=task.y[:rows])
    build: Callable[[Any], mn.Layer] = build_minnet_cnn if isinstance(task, ConvTask) else build_minnet
    warm = build(task)
    warm_rows = min(len(task.X), 2 * (task.batch_size or len(task.X)))
    mn.fit(
        warm,
        task.loss(),
        task.optimizer(warm.parameters()),
        task.X[:warm_rows],
        task.y[:warm_rows],
        epochs=1,
        batch_size=task.batch_size,
        seed=SEED,
        progress=False,
    )
    model = build(task)
    loss, opt = task.loss(), task.optimizer(model.parameters())
    recorder = _EpochMemory()
    peak = traced_peak(
        lambda: mn.fit(
            model,
            loss,
            opt,
            task.X,
            task.y,
            epochs=epochs,
            batch_size=task.batch_size,
            seed=SEED,
            progress=False,
            callbacks=[recorder],
        )
    )
    steady = recorder.per_epoch[1:]  # the first epoch allocates the reusable buffers
    numpy_peak = {} if numpy_loop is None else {"numpy_peak_extra_bytes": traced_peak(lambda: numpy_loop(task))}
    return {
        **numpy_peak,
        "data_bytes": task.X.nbytes + task.y.nbytes,
        "activation_bytes": task.activation_bytes(),
        "parameter_bytes": sum(p.value.nbytes for p in model.parameters()),
        "optimizer_copies": optimizer_copies(task),
        "index_bytes": len(task.X) * np.dtype(np.int64).itemsize,  # the epoch's shuffled row order
        "peak_extra_bytes": peak,
        "growth_bytes_per_epoch": (steady[-1] - steady[0]) / max(len(steady) - 1, 1),
    }


def optimizer_copies(task: Task | ConvTask) -> int:
    """Parameter-sized arrays the optimizer keeps: its state and the scratch of its all-or-nothing step."""
    if isinstance(task, ConvTask):
        return 5  # Adam: the two moments, and three scratch arrays (the step and the two new moments)
    # SGD: the step's scratch; with momentum also the buffer and the spare it is swapped with on
    # commit, so that a refused step keeps the old buffer.
    return 3 if task.momentum else 1


def memory_ok(mem: dict[str, Any]) -> bool:
    """Peak above the data within a small multiple of one batch's activations, plus the
    optimizer's copies of the parameters and the shuffled row order; no growth."""
    budget = (
        MEMORY_ACTIVATION_MULTIPLE * mem["activation_bytes"]
        + mem["optimizer_copies"] * mem["parameter_bytes"]
        + mem["index_bytes"]
        + 256 * 1024
    )
    return mem["growth_bytes_per_epoch"] == 0 and mem["peak_extra_bytes"] <= budget


def machine_info(torch_threads: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from threadpoolctl import threadpool_info

        # numpy's own BLAS (scipy or scikit-learn may bring another one)
        blas = sorted(
            (p for p in threadpool_info() if p["user_api"] == "blas"), key=lambda p: "numpy" not in p["filepath"]
        )
        if blas:
            info["blas"] = f"{blas[0]['internal_api']} {blas[0]['version']} ({blas[0].get('architecture')})"
            info["blas_threads"] = blas[0]["num_threads"]
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch_threads
    except ImportError:
        pass
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    info["env"] = {
        k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ
    }
    return info


def evaluate_targets(results: list[dict[str, Any]], threads: int | None) -> list[dict[str, Any]]:
    """One row per target: what was measured at ``threads`` BLAS threads, the limit and whether it is met."""
    rows = []

    def add(r: dict[str, Any], target: str, value: float, met: bool) -> None:
        rows.append({"task": r["label"], "threads": threads, "target": target, "value": value, "met": met})

    for r in results:
        secs = r["seconds"]
        for peer, limit in RATIO_TARGETS.get(r["task"], []):
            if peer in secs:
                ratio = secs["minnet"] / secs[peer]
                add(r, f"minnet / {peer} <= {limit}", round(ratio, 3), ratio <= limit)
        if r["task"] in GRAPH_OVERHEAD_TARGET and "graph" in secs:
            limit, ratio = GRAPH_OVERHEAD_TARGET[r["task"]], secs["graph"] / secs["minnet"]
            add(r, f"graph / minnet <= {limit}", round(ratio, 3), ratio <= limit)
        if r["task"] in FRACTION_TARGETS and FRACTION_TARGETS[r["task"]][1] in (None, threads):
            least, fraction = FRACTION_TARGETS[r["task"]][0], r["matmul_fraction"]
            add(r, f"matmul-bound rate >= {least:.0%}", round(fraction, 3), fraction >= least)
        if "busy" in r and threads == BUSY_THREADS:
            ratio = r["busy"]["ratio"]["minnet"]
            add(r, f"minnet busy / quiet <= {BUSY_TARGET}", round(ratio, 3), ratio <= BUSY_TARGET)
        if "memory" in r:
            mem = r["memory"]
            growth = mem["growth_bytes_per_epoch"]
            add(r, "memory: no growth per epoch", growth, growth == 0)
            add(
                r,
                f"peak <= data + {MEMORY_ACTIVATION_MULTIPLE:g} x activations + "
                f"{mem['optimizer_copies']} x params + row order",
                round(mem["peak_extra_bytes"] / mem["activation_bytes"], 2),
                memory_ok(mem),
            )
    return rows


def run(
    quick: bool = False,
    repeat: int = 3,
    tasks: list[str] | None = None,
    dtypes: list[str] | None = None,
    include_torch: bool = True,
    include_sklearn: bool = True,
    memory: bool = True,
    torch_threads: int | None = None,
    mnist: str | None = None,
    busy: bool = False,
) -> dict[str, Any]:
    """Run the benchmark on the BLAS pool as it is and return everything measured (the JSON of ``--json``).

    ``mnist`` is the folder of the MNIST files, if not in one of the places
    :func:`~benchmarks.tasks.find_mnist` looks; without them the mnist task
    is left out, and the report's ``"skipped"`` says why. ``busy`` also
    times minnet and the numpy loop quiet and beside a CPU-bound process
    (:func:`measure_busy`), ``repeat`` rounds of each task.
    """
    impls, conv_impls = implementations(include_torch, include_sklearn), conv_implementations(include_torch)
    if "torch" in impls:
        import torch

        if torch_threads is None:  # like with like: as many threads as numpy's BLAS uses
            try:
                torch_threads = machine_info(None)["blas_threads"]
            except KeyError:
                torch_threads = os.cpu_count() or 1
        torch.set_num_threads(torch_threads)
    wanted_dtypes = tuple(np.dtype(d).type for d in (dtypes or ["float64", "float32"]))
    results, skipped = [], []
    if np.float32 in wanted_dtypes and find_mnist(mnist) is None:
        where = mnist or "any of the places benchmarks.tasks.find_mnist looks"
        skipped += [
            f"{name}: no MNIST files in {where}" for name in ("mnist", "mnist_cnn") if not tasks or name in tasks
        ]
    for task in make_tasks(quick=quick, dtypes=wanted_dtypes, mnist=mnist):
        if tasks and task.name not in tasks:
            continue
        task_impls = conv_impls if isinstance(task, ConvTask) else impls
        timing = time_task(task, task_impls, repeat, settle=0.0 if quick else SETTLE_SECONDS)
        check_agreement(task, timing["loss"], timing.pop("weights"))
        result = {
            "task": task.name,
            "dtype": np.dtype(task.dtype).name,
            "label": task.label,
            "samples": len(task.X),
            "widths": task.widths if isinstance(task, Task) else None,
            "batch_size": task.batch_size,
            "batches": task.n_batches,
            "epochs": task.epochs,
            **timing,
        }
        flops = task.matmul_flops()
        mm = matmul_seconds(task, repeat)
        result.update(
            gflop=flops / 1e9,
            matmul_seconds=mm,
            minnet_gflops=flops / timing["seconds"]["minnet"] / 1e9,
            matmul_gflops=flops / mm / 1e9,
            matmul_fraction=mm / timing["seconds"]["minnet"],
            # The fraction of the matmul-bound rate each implementation reaches: the products alone over its run.
            fractions={name: mm / seconds for name, seconds in timing["seconds"].items()},
        )
        if "torch" in timing["seconds"]:
            result["torch_matmul_seconds"] = matmul_seconds(task, repeat, library="torch")
        if busy:
            result["busy"] = measure_busy(task, task_impls, repeat, settle=0.0 if quick else SETTLE_SECONDS)
        if memory:
            rows = CONV_MEMORY_ROWS if isinstance(task, ConvTask) else None
            result["memory"] = measure_memory(task, rows=rows, numpy_loop=task_impls["numpy"])
        results.append(result)
    machine = machine_info(torch_threads)
    # numpy's own pool, the one minnet runs on (a BLAS loaded later, e.g. torch's, is not limited by mn.threads)
    threads = machine.get("blas_threads")
    return {
        "threads": threads,
        "machine": machine,
        "quick": quick,
        "repeat": repeat,
        "results": results,
        "targets": evaluate_targets(results, threads),
        "skipped": skipped,
    }


def measure_busy(
    task: Task | ConvTask, impls: dict[str, Trainer], rounds: int, settle: float = SETTLE_SECONDS
) -> dict[str, Any]:
    """Seconds of minnet's run and the numpy loop's, quiet and beside one CPU-bound process, per round.

    ``"ratio"`` is each one's median over the rounds of busy / quiet: how
    much one busy neighbour slows it down.
    """
    runs = {name: functools.partial(impls[name], task) for name in ("minnet", "numpy")}
    seconds = quiet_and_busy(runs, rounds, settle)
    return {
        "rounds": rounds,
        "seconds": seconds,
        "ratio": {name: statistics.median(busy_ratios(times)) for name, times in seconds.items()},
    }


# -- reporting -----------------------------------------------------------------


def markdown_table(rows: list[list[str]]) -> str:
    """A Markdown table of ``rows``, the first being the header."""
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * len(rows[0]), *lines[1:]])


def format_table(report: dict[str, Any]) -> str:
    """Markdown tables: times and ratios, each task's FLOP rate and bound, busy / quiet, memory, and the targets."""
    results = report["results"]
    names = [n for n in ("minnet", "graph", "numpy", "torch", "sklearn") if any(n in r["seconds"] for r in results)]
    peers = [n for n in names if n != "minnet"]
    # Two tables, the times then the ratios, so that each fits the width of a page.
    times = [["task", "epochs x batches"] + [f"{n} (s)" for n in names]]
    ratios = [
        ["task"]
        + [f"minnet/{p}" for p in peers]
        + ["spread (minnet / numpy / torch)", "final loss (minnet / numpy / torch)"]
    ]
    for r in results:
        secs, loss = r["seconds"], r["loss"]
        batch = "full" if r["batch_size"] is None else r["batch_size"]
        times.append(
            [r["label"], f"{r['epochs']} x {r['batches']} (batch {batch})"]
            + [f"{secs[n]:.3f}" if n in secs else "-" for n in names]
        )
        ratios.append(
            [r["label"]]
            + [f"{secs['minnet'] / secs[p]:.2f}" if p in secs else "-" for p in peers]
            + [" / ".join(f"{r['spread'][n]:.0%}" for n in ("minnet", "numpy", "torch") if n in secs)]
            + [" / ".join(f"{loss[n]:.6f}" for n in ("minnet", "numpy", "torch") if n in loss)]
        )
    out = [markdown_table(times), markdown_table(ratios)]
    if report.get("skipped"):
        out.append("Skipped: " + "; ".join(report["skipped"]) + ".")
    rows = [
        "| task | GFLOP | matmul only (s) | matmul GFLOP/s | minnet GFLOP/s "
        "| fraction of the bound (minnet / numpy / torch) | torch's matmuls only (s) | torch run (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        fractions = " / ".join(f"{r['fractions'][n]:.0%}" for n in ("minnet", "numpy", "torch") if n in r["fractions"])
        rows.append(
            f"| {r['label']} | {r['gflop']:.3g} | {r['matmul_seconds']:.3g} | {r['matmul_gflops']:.3g} "
            f"| {r['minnet_gflops']:.3g} | {fractions} "
            f"| {r.get('torch_matmul_seconds', float('nan')):.3g} "
            f"| {r['seconds'].get('torch', float('nan')):.3f} |"
        )
    if results:
        out.append("\n".join(rows))
    busy = [r for r in results if "busy" in r]
    if busy:
        rows = [
            "| task | minnet quiet / busy (s, median) | minnet busy / quiet (lowest / median / highest) "
            "| numpy loop quiet / busy (s, median) | numpy loop busy / quiet (lowest / median / highest) |",
            "|---|---|---|---|---|",
        ]
        for r in busy:
            cells = []
            for name in ("minnet", "numpy"):
                times = r["busy"]["seconds"][name]
                ratios = busy_ratios(times)
                cells += [
                    f"{statistics.median(times['quiet']):.3f} / {statistics.median(times['busy']):.3f}",
                    f"{ratios[0]:.2f} / {r['busy']['ratio'][name]:.2f} / {ratios[-1]:.2f}",
                ]
            rows.append(f"| {r['label']} | " + " | ".join(cells) + " |")
        out.append("\n".join(rows))
    mems = [r for r in results if "memory" in r]
    if mems:
        mb = 1 / 2**20
        rows = [
            "| task | data (MB) | one batch's activations (MB) | parameters (MB) | peak above data (MB) "
            "| peak / activations | growth per epoch (bytes) | numpy loop's peak above data (MB) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in mems:
            m = r["memory"]
            rows.append(
                f"| {r['label']} | {m['data_bytes'] * mb:.2f} | {m['activation_bytes'] * mb:.3f} "
                f"| {m['parameter_bytes'] * mb:.3f} | {m['peak_extra_bytes'] * mb:.3f} "
                f"| {m['peak_extra_bytes'] / m['activation_bytes']:.2f} | {m['growth_bytes_per_epoch']:g} "
                f"| {m.get('numpy_peak_extra_bytes', float('nan')) * mb:.3f} |"
            )
        out.append("\n".join(rows))
    rows = ["| task | BLAS threads | target | measured | met |", "|---|---|---|---|---|"]
    rows += [
        f"| {t['task']} | {t['threads']} | {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |"
        for t in report["targets"]
    ]
    out.append("\n".join(rows))
    m = report["machine"]
    threads = f"numpy BLAS threads {m.get('blas_threads', '?')}"
    if "torch" in m:
        threads += f", torch threads {m['torch_threads']} (torch {m['torch']})"
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']} "
        f"({m.get('blas', 'BLAS unknown')}); {threads}"
        + (f"; scikit-learn {m['sklearn']}" if "sklearn" in m else "")
        + f". Best of {report['repeat']} runs ({2 * report['repeat']} for runs under a second); the "
        f"spread is each one's median over its best, minus 1."
    )
    return "\n\n".join(out)


def plot_sweep(path: str, repeat: int, include_torch: bool = True) -> dict[str, Any]:
    """Time per epoch against batch size on the wide network (5,000 samples), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.tasks import _synthetic

    impls = implementations(include_torch, include_sklearn=False)
    X, y = _synthetic(5000, 256, 1)
    batch_sizes = [16, 32, 64, 128, 256, 512, 1024]
    sweep: dict[str, dict[str, list[float]]] = {}
    for dtype in (np.float64, np.float32):
        series = sweep.setdefault(np.dtype(dtype).name, {n: [] for n in impls})
        for b in batch_sizes:
            task = Task(
                "sweep",
                X,
                y,
                widths=[256, 512, 512, 1],
                hidden="relu",
                logits=True,
                batch_size=b,
                epochs=1,
                lr=0.01,
                dtype=dtype,
            )
            timing = time_task(task, impls, repeat)
            check_agreement(task, timing["loss"], timing.pop("weights"))
            for n in impls:
                series[n].append(timing["seconds"][n])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (dtype_name, series) in zip(axes, sweep.items()):
        for n, secs in series.items():
            ax.plot(batch_sizes, secs, marker="o", label=n)
        ax.set(xscale="log", yscale="log", xlabel="batch size", title=f"256-512-512-1 ReLU, {dtype_name}")
        ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per epoch (5,000 samples)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"batch_sizes": batch_sizes, "seconds_per_epoch": sweep}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks it runs and agrees")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--tasks", nargs="+", choices=["article", "wide", "deep-narrow", "mnist", "mnist_cnn"])
    parser.add_argument(
        "--mnist",
        metavar="FOLDER",
        help="folder of the MNIST .gz files (default: $MINNET_DATA/mnist, ~/.cache/minnet/mnist "
        "or ../shared/data/mnist; the mnist and mnist_cnn tasks are skipped without them)",
    )
    parser.add_argument("--dtypes", nargs="+", choices=["float64", "float32"])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc memory runs")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        metavar="N",
        help="threads of numpy's BLAS (minnet, the numpy loop, scikit-learn), and of PyTorch unless "
        "--torch-threads says otherwise (default: the BLAS default, one per core); several counts "
        "run the whole report once per count",
    )
    parser.add_argument("--torch-threads", type=int, help="default: as many as numpy's BLAS")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="also time minnet and the numpy loop quiet and beside one CPU-bound process, "
        "--repeat rounds of each task, against the target of minnet busy / quiet at 1 thread",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON ('-' for stdout)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables to this file")
    parser.add_argument("--plot", metavar="PATH", help="also sweep batch sizes and save the plot here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    for flag, counts in (("threads", args.threads or []), ("torch_threads", [args.torch_threads])):
        for n in counts:
            if n is not None and n < 1:
                parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {n}")
    reports = []
    try:
        for n in args.threads or [None]:
            # PyTorch's thread count follows numpy's pool inside run(), unless --torch-threads is given.
            with at_threads(n):
                report = run(
                    quick=args.quick,
                    repeat=args.repeat,
                    tasks=args.tasks,
                    dtypes=args.dtypes,
                    include_torch=not args.no_torch,
                    include_sklearn=not args.no_sklearn,
                    memory=not args.no_memory,
                    torch_threads=args.torch_threads,
                    mnist=args.mnist,
                    busy=args.busy,
                )
                if args.plot and not reports:  # one sweep, at the first thread count
                    report["sweep"] = plot_sweep(args.plot, args.repeat, include_torch=not args.no_torch)
            reports.append(report)
    except Disagreement as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    for note in reports[0]["skipped"]:
        print(f"skipped {note}", file=sys.stderr)
    if len(reports) == 1:
        table, output = format_table(reports[0]), reports[0]
    else:
        table = "\n\n".join(f"## {r['threads']} BLAS thread(s)\n\n{format_table(r)}" for r in reports)
        output = {"runs": reports}
    if args.json == "-":
        print(json.dumps(output, indent=2))
    else:
        print(table)
        if args.json:
            Path(args.json).write_text(json.dumps(output, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    missed = [t for r in reports for t in r["targets"] if not t["met"]]
    if missed and not args.quick:
        print(f"\n{len(missed)} target(s) missed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
