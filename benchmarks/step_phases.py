"""One training step of the MNIST MLP, phase by phase: where minnet's time goes beyond the products.

The step of ``benchmarks.tasks.mnist_task`` (784-256-128-10, ReLU, batch 128,
float32, SGD with momentum 0.9, softmax cross-entropy on logits) on one
batch of random pixels: the values do not change the work. Three things run
in rounds, interleaved, so that a burst of load hits them alike:

- minnet's step, split into its phases (forward, finiteness of the output,
  loss, loss gradient, backward, optimizer);
- the hand-written loop's step (``benchmarks.implementations.train_numpy``'s body);
- the step's matrix products alone, the part both share.

Each phase reports the best time over all rounds and the median, in µs::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.step_phases --rounds 20
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np

import minnet as mn
from minnet._validation import all_finite
from minnet.layers import backward_through
from minnet.steps import Objective

from . import implementations as impl
from .tasks import Task, mnist_task

BATCH = 128


def _minnet_phases(task: Task) -> dict[str, Callable[[], object]]:
    """minnet's step as the calls ``minnet.steps.train_step`` makes, one per phase, in order."""
    model = impl.build_minnet(task)
    optimizer = mn.SGD(model.parameters(), lr=task.lr, momentum=task.momentum)
    objective = Objective(model, mn.CrossEntropy())
    x = task.X[:BATCH]
    target = objective.losses[0].prepare_target("y", task.y[:BATCH], (BATCH, 10), task.dtype)
    held: dict[str, list[np.ndarray]] = {}

    def forward() -> None:
        held["out"] = [model.forward(x, training=True)]

    def loss_backward() -> None:
        held["grads"] = objective.backward()

    return {
        "forward": forward,
        "finite": lambda: all_finite(held["out"][0]),
        "loss": lambda: objective.forward(held["out"], [target]),
        "loss_backward": loss_backward,
        "backward": lambda: backward_through(model, held["grads"][0], need_input_grad=False),
        "optimizer": optimizer.step,
    }


def _hand_step(task: Task) -> Callable[[], None]:
    """The hand-written loop's step on the same batch: forward, loss, backward, update."""
    Ws, bs = [W.copy() for W, _ in task.weights], [b.copy() for _, b in task.weights]
    vWs, vbs = [np.zeros_like(W) for W in Ws], [np.zeros_like(b) for b in bs]
    x, y, lr, mu = task.X[:BATCH], task.y[:BATCH], task.lr, task.momentum
    ones = np.ones(BATCH, task.dtype)

    def step() -> None:
        outs = [x]
        for i in range(3):
            z = outs[-1] @ Ws[i] + bs[i]
            outs.append(np.maximum(z, 0) if i < 2 else z)
        _, dz = impl._softmax_cross_entropy(outs[-1], y)
        for i in reversed(range(3)):
            dW, db = outs[i].T @ dz, ones @ dz
            if i > 0:
                dz = (dz @ Ws[i].T) * (outs[i] > 0)
            vWs[i] = mu * vWs[i] + dW
            vbs[i] = mu * vbs[i] + db
            Ws[i] -= lr * vWs[i]
            bs[i] -= lr * vbs[i]

    return step


def _products(task: Task) -> Callable[[], None]:
    """The step's eight matrix products alone: three forward, three ``dW`` and two ``dX``, as in the backward."""
    Ws = [W for W, _ in task.weights]
    acts = [task.X[:BATCH]] + [np.ones((BATCH, W.shape[1]), task.dtype) for W in Ws]

    def products() -> None:
        for i in range(3):
            acts[i] @ Ws[i]
        for i in reversed(range(3)):
            acts[i].T @ acts[i + 1]
            if i > 0:
                acts[i + 1] @ Ws[i].T

    return products


def measure(rounds: int, steps: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Best and median µs of each phase over ``rounds`` x ``steps`` calls, the three interleaved by round."""
    gen = np.random.default_rng(seed)
    X = gen.random((BATCH, 784), dtype=np.float32)
    task = mnist_task(X, gen.integers(0, 10, BATCH))
    phases = _minnet_phases(task)
    runs: dict[str, Callable[[], object]] = {"hand": _hand_step(task), "products": _products(task)}
    times: dict[str, list[float]] = {name: [] for name in [*phases, "minnet", *runs]}
    with np.errstate(all="ignore"):  # as train_step runs
        for _ in range(rounds):
            for _ in range(steps):
                total = 0.0
                for name, phase in phases.items():
                    start = time.perf_counter()
                    phase()
                    elapsed = time.perf_counter() - start
                    times[name].append(elapsed)
                    total += elapsed
                times["minnet"].append(total)
            for name, run in runs.items():
                for _ in range(steps):
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
    return {
        name: {"best": 1e6 * min(values), "median": 1e6 * float(np.median(values))} for name, values in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--steps", type=int, default=30, help="steps of each per round (default 30)")
    args = parser.parse_args(argv)
    results = measure(args.rounds, args.steps)
    for name, r in results.items():
        print(f"{name:>14}  best {r['best']:8.1f} µs   median {r['median']:8.1f} µs")
    beyond = {k: results[k]["best"] - results["products"]["best"] for k in ("minnet", "hand")}
    print(json.dumps({"beyond_products_us": {k: round(v, 1) for k, v in beyond.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
