"""The same training run written four ways.

Each ``train_*`` function starts from ``task.weights``, trains for
``task.epochs`` epochs with plain SGD and returns the loss of the last epoch
(the batch-size-weighted mean over its batches). Shuffling draws the same
permutations as :func:`minnet.fit` (one ``permutation(n)`` per epoch from
``default_rng(seed)``), so minnet, numpy and PyTorch visit the same batches
and must end on the same loss.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Callable, Iterator

import numpy as np

import minnet as mn

from .tasks import SEED, Task


def _batches(task: Task, rng: np.random.Generator) -> Iterator[np.ndarray | None]:
    """Row indices of each batch of one epoch; None means the whole data set."""
    n = len(task.X)
    if task.batch_size is None or task.batch_size >= n:
        yield None
        return
    order = rng.permutation(n)
    for start in range(0, n, task.batch_size):
        yield order[start:start + task.batch_size]


# -- minnet ------------------------------------------------------------------

def build_minnet(task: Task) -> mn.Sequential:
    layers: list[mn.Layer] = []
    for i, (W, b) in enumerate(task.weights):
        dense = mn.Dense(*W.shape, dtype=task.dtype)
        dense.W.value[...] = W
        dense.b.value[...] = b
        layers.append(dense)
        if i < len(task.weights) - 1:
            layers.append(mn.Sigmoid() if task.hidden == "sigmoid" else mn.ReLU())
    if not task.logits:
        layers.append(mn.Sigmoid())
    return mn.Sequential(*layers)


def build_minnet_graph(task: Task) -> mn.Graph:
    """The same chain as :func:`build_minnet`, wired as a Graph: what the graph machinery costs."""
    x = mn.Input(task.widths[0])
    node = x
    for layer in build_minnet(task):
        node = layer(node)
    return mn.Graph(inputs=x, outputs=node)


def train_minnet(task: Task, build: Callable[[Task], mn.Layer] = build_minnet) -> float:
    model = build(task)
    history = mn.fit(model, mn.BCE(from_logits=task.logits), mn.SGD(model.parameters(), lr=task.lr),
                     task.X, task.y, epochs=task.epochs, batch_size=task.batch_size,
                     shuffle=True, seed=SEED, progress=False)
    return history["loss"][-1]


# -- hand-written numpy, the article's style generalised to N layers -----------

def train_numpy(task: Task) -> float:
    """Plain numpy: forward, loss, backward and update written out, as in the article."""
    Ws = [W.copy() for W, _ in task.weights]
    bs = [b.copy() for _, b in task.weights]
    X, y, lr, n_layers = task.X, task.y, task.lr, len(Ws)
    relu = task.hidden == "relu"
    rng = np.random.default_rng(SEED)
    epoch_loss = float("nan")
    for _ in range(task.epochs):
        total = 0.0
        for rows in _batches(task, rng):
            xb, yb = (X, y) if rows is None else (X[rows], y[rows])
            m = len(xb)
            # forward: keep every layer's output for the backward pass
            outs = [xb]
            for i in range(n_layers):
                z = outs[-1] @ Ws[i] + bs[i]
                if i < n_layers - 1:
                    z = np.maximum(z, 0) if relu else 1 / (1 + np.exp(-z))
                outs.append(z)
            z = outs[-1]
            if task.logits:
                e = np.exp(-np.abs(z))  # the log-sum-exp form: no overflow for any score
                loss = np.mean(np.maximum(z, 0) - z * yb + np.log1p(e))
                dz = (np.where(z >= 0, 1 / (1 + e), e / (1 + e)) - yb) / m
            else:
                # As the article: the loss on probabilities, then the chain rule
                # through the output sigmoid, dL/dz = dL/dp * p (1 - p).
                p = 1 / (1 + np.exp(-z))
                loss = -np.mean(yb * np.log(p) + (1 - yb) * np.log(1 - p))
                dl_dp = -(yb / p - (1 - yb) / (1 - p)) / m
                dz = dl_dp * (p * (1 - p))
            total += float(loss) * m
            # backward, then update
            for i in reversed(range(n_layers)):
                dW = outs[i].T @ dz
                db = dz.sum(axis=0)
                if i > 0:
                    a = outs[i]
                    dz = (dz @ Ws[i].T) * ((a > 0) if relu else a * (1 - a))
                Ws[i] -= lr * dW
                bs[i] -= lr * db
        epoch_loss = total / len(X)
    return epoch_loss


# -- PyTorch -------------------------------------------------------------------

def train_torch(task: Task) -> float:
    """torch.nn.Sequential + torch.optim.SGD, the way a PyTorch user writes it."""
    import torch
    from torch import nn

    tdtype = torch.float64 if np.dtype(task.dtype) == np.float64 else torch.float32
    layers: list[nn.Module] = []
    for i, (W, b) in enumerate(task.weights):
        linear = nn.Linear(*W.shape, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(task.weights) - 1:
            layers.append(nn.Sigmoid() if task.hidden == "sigmoid" else nn.ReLU())
    if not task.logits:
        layers.append(nn.Sigmoid())
    model = nn.Sequential(*layers)
    loss_fn = nn.BCEWithLogitsLoss() if task.logits else nn.BCELoss()
    opt = torch.optim.SGD(model.parameters(), lr=task.lr)
    X, y = torch.from_numpy(task.X), torch.from_numpy(task.y)
    rng = np.random.default_rng(SEED)
    epoch_loss = float("nan")
    for _ in range(task.epochs):
        total = 0.0
        for rows in _batches(task, rng):
            if rows is None:
                xb, yb = X, y
            else:
                index = torch.from_numpy(rows)
                xb, yb = X[index], y[index]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        epoch_loss = total / len(X)
    return epoch_loss


# -- scikit-learn --------------------------------------------------------------

def train_sklearn(task: Task) -> float:
    """MLPClassifier with plain SGD (no momentum, no L2, no early stop).

    It draws its own initial weights and its own shuffles, so only its time
    is comparable, not its loss. It always uses a sigmoid output with log
    loss, which is the same model as BCE on logits.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(task.widths[1:-1]),
                        activation="logistic" if task.hidden == "sigmoid" else "relu",
                        solver="sgd", learning_rate="constant", learning_rate_init=task.lr,
                        momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                        batch_size=len(task.X) if task.batch_size is None else task.batch_size,
                        max_iter=task.epochs, shuffle=True, tol=0.0, n_iter_no_change=task.epochs + 1,
                        early_stopping=False, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(task.X, task.y.ravel())
    return float(clf.loss_)


def _installed(name: str) -> bool:
    """Whether the package ``name`` can be imported, found without importing it."""
    return importlib.util.find_spec(name) is not None


def implementations(include_torch: bool = True, include_sklearn: bool = True) -> dict[str, Callable[[Task], float]]:
    """Name -> training function, for the peers that are installed."""
    impls: dict[str, Callable[[Task], float]] = {
        "minnet": train_minnet, "numpy": train_numpy,
        "graph": lambda task: train_minnet(task, build_minnet_graph),  # the chain as an mn.Graph
    }
    if include_torch and _installed("torch"):
        impls["torch"] = train_torch
    if include_sklearn and _installed("sklearn"):
        impls["sklearn"] = train_sklearn
    return impls
