"""Train in minnet, continue with PyTorch's DistributedDataParallel on 2 processes, and come back.

A network outgrows one process: this is the road out, and the proof that
nothing is lost on it. The script

1. trains a small classifier on the Pima data in minnet (full batch, SGD),
2. exports it with ``minnet.interop.to_torch``,
3. continues training it with ``torch.nn.parallel.DistributedDataParallel``
   on 2 CPU processes (``torch.multiprocessing.spawn``, the gloo backend,
   a localhost port): each process takes half of the rows, and DDP averages
   the two halves' gradients,
4. imports the weights of every DDP step back with
   ``minnet.interop.from_torch``,

and checks them against minnet continuing on its own, one full-batch step
at a time. Each half's loss is a mean over half the rows, so the average of
the two halves' gradients is the gradient of the mean over all rows: DDP's
step *is* minnet's full-batch step, and the two runs agree to rounding. The
script prints the largest difference of any weight after each step and exits
with status 1 if one exceeds the tolerance.

Run ``python examples/distributed.py --help`` for the flags; it is headless
and takes a few seconds (most of it starting the two processes). It needs
PyTorch (``pip install -e ".[torch]"``); ``--help`` does not.
"""

from __future__ import annotations

import argparse
import copy
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import minnet as mn
from _common import add_threads_flag, check_flags, require, use_threads
from minnet import interop  # its functions load PyTorch when first used, after the flags are parsed

if TYPE_CHECKING:
    import torch

# Both runs compute the same float64 numbers in different orders (a sum over all
# rows against two half sums averaged), so they differ by rounding, ~1e-16 per step.
RTOL, ATOL = 1e-10, 1e-12


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minnet-epochs", type=int, default=200, help="full-batch epochs in minnet before the export (default 200)"
    )
    parser.add_argument(
        "--steps", type=int, default=10, help="full-batch steps after the export, in DDP and in minnet (default 10)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="DDP processes, each taking an equal share of the rows (default 2)"
    )
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument(
        "--momentum", type=float, default=0.9, help="SGD momentum of the steps after the export (default 0.9)"
    )
    parser.add_argument("--hidden", type=int, default=16, help="units of the hidden layers (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default 0)")
    parser.add_argument(
        "--port", type=int, default=0, help="localhost port for the processes to meet on (default 0: a free one)"
    )
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    check_flags(parser, args, at_least_1=("minnet_epochs", "steps", "processes", "hidden"), positive=("lr",))
    if not 0 <= args.momentum < 1:
        parser.error(f"--momentum must lie in [0, 1), got {args.momentum}")
    if not 0 <= args.port < 65536:
        parser.error(f"--port must be a port number (0 for a free one), got {args.port}")
    return args


def build_model(n_features: int, hidden: int, seed: int) -> mn.Sequential:
    """Dense, ReLU, Dense, Tanh, Dense: one logit per sample. No Dropout or BatchNorm (see the note in train)."""
    rng = np.random.default_rng(seed)
    return mn.Sequential(
        mn.Dense(n_features, hidden, init="he", seed=rng),
        mn.ReLU(),
        mn.Dense(hidden, hidden, seed=rng),
        mn.Tanh(),
        mn.Dense(hidden, 1, seed=rng),
    )


def load_data(processes: int) -> tuple[np.ndarray, np.ndarray]:
    """The standardised Pima rows, as many as split evenly across the processes."""
    X, y = mn.datasets.load_diabetes()
    X = mn.data.Standardizer().fit(X).transform(X)
    n = len(X) - len(X) % processes  # equal shares: then the mean of the shares' means is the mean
    return X[:n], y[:n]


class RecordWeights(mn.Callback):
    """Keeps a copy of every parameter after each epoch (here: each full-batch step)."""

    def __init__(self) -> None:
        self.steps: list[list[np.ndarray]] = []

    def on_epoch_end(self, run, logs) -> None:
        self.steps.append([p.value.copy() for p in run.model.parameters()])


def ddp_worker(
    rank: int,
    processes: int,
    port: int,
    exported: torch.nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    steps: int,
    lr: float,
    momentum: float,
    out: str,
    threads: int,
) -> None:
    """One DDP process: train the module on this rank's share of the rows; rank 0 saves the weights of every step."""
    import torch  # imported where it runs: --help needs no PyTorch, and a spawned process imports its own
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(threads)  # --threads in each process: they share the machine's cores
    # torch.multiprocessing hands tensors to the processes in shared memory: without a private
    # copy, every process would step the same weights, each step applied once per process.
    net = copy.deepcopy(exported)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=processes)
    try:
        model = DistributedDataParallel(net)  # broadcasts rank 0's weights: every process starts alike
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        loss_fn = torch.nn.BCEWithLogitsLoss()  # the mean over this process's rows
        share = len(X) // processes
        rows = slice(rank * share, (rank + 1) * share)
        inputs = torch.from_numpy(X[rows])
        targets = torch.from_numpy(y[rows].reshape(-1, 1).astype(np.float64))
        trajectory = {}
        for step in range(steps):
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()  # DDP averages the gradients over the processes here
            optimizer.step()
            trajectory.update(
                {f"{step}/{name}": value.detach().numpy().copy() for name, value in net.state_dict().items()}
            )
        if rank == 0:
            np.savez(Path(out) / "trajectory.npz", **trajectory)
        del model, optimizer  # DDP's reducer holds the group: free it before the group goes
        dist.barrier()  # leave together: a process that tears gloo down while the other still talks aborts
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    """A localhost port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_at(trajectory: dict[str, np.ndarray], step: int) -> dict[str, torch.Tensor]:
    import torch

    prefix = f"{step}/"
    return {key[len(prefix) :]: torch.from_numpy(value) for key, value in trajectory.items() if key.startswith(prefix)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch = require("torch", extra="torch")
    use_threads(args)
    X, y = load_data(args.processes)
    model = build_model(X.shape[1], args.hidden, args.seed)
    loss = mn.BCE(from_logits=True)

    # 1. minnet, full batch.
    history = mn.fit(
        model, loss, mn.SGD(model.parameters(), lr=args.lr), X, y, epochs=args.minnet_epochs, progress=False
    )
    print(
        f"minnet: {args.minnet_epochs} full-batch epochs on {len(X)} rows, loss "
        f"{history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}"
    )

    # 2.-3. The same network in PyTorch, trained on by DDP. Its weights are a copy:
    # minnet's model goes on below from the same point, as the reference.
    # (No Dropout or BatchNorm here: with them each process would draw its own masks and
    # normalise by its own half's statistics, and DDP's step would no longer be minnet's.)
    net = interop.to_torch(model)
    port = args.port or free_port()
    with tempfile.TemporaryDirectory() as out:
        torch.multiprocessing.spawn(
            ddp_worker,
            nprocs=args.processes,
            join=True,
            args=(args.processes, port, net, X, y, args.steps, args.lr, args.momentum, out, args.threads),
        )
        with np.load(Path(out) / "trajectory.npz", allow_pickle=False) as saved:
            trajectory = dict(saved)
    print(f"DDP: {args.steps} steps on {args.processes} processes (gloo), {len(X) // args.processes} rows each")

    # The reference: minnet's own full-batch steps from the exported weights.
    record = RecordWeights()
    reference = mn.fit(
        model,
        loss,
        mn.SGD(model.parameters(), lr=args.lr, momentum=args.momentum),
        X,
        y,
        epochs=args.steps,
        shuffle=False,
        callbacks=[record],
        progress=False,
    )

    # 4. Every DDP step, imported back into minnet, against minnet's step.
    print(f"\n{'step':>4}  {'loss before':>11}  {'max |minnet - DDP|':>19}  (any weight, after the step)")
    worst = 0.0
    for step, weights in enumerate(record.steps):
        net.load_state_dict(state_at(trajectory, step))
        imported = interop.from_torch(net)
        difference = max(float(np.max(np.abs(a.value - b))) for a, b in zip(imported.parameters(), weights))
        worst = max(worst, difference)
        print(f"{step + 1:>4}  {reference['loss'][step]:>11.6f}  {difference:>19.3e}")
        if not all(np.allclose(a.value, b, rtol=RTOL, atol=ATOL) for a, b in zip(imported.parameters(), weights)):
            print(f"step {step + 1}: DDP's weights differ from minnet's beyond rtol={RTOL}, atol={ATOL}")
            return 1
    final = interop.from_torch(net)  # the last step's weights, a minnet model again
    gap = float(np.max(np.abs(final.predict(X) - model.predict(X))))
    print(
        f"\nDDP's training equals minnet's full-batch training step for step: largest weight difference "
        f"{worst:.3e} (tolerance rtol={RTOL}, atol={ATOL}); the imported model's outputs differ by {gap:.3e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
