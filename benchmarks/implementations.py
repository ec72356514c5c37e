"""The same training run written four ways.

Each ``train_*`` function starts from ``task.weights``, trains for
``task.epochs`` epochs with SGD (with ``task.momentum``) and returns a
:class:`Trained`: the loss of the last epoch (the batch-size-weighted mean
over its batches) and the final weights. Shuffling draws the same
permutations as :func:`minnet.fit` (one ``permutation(n)`` per epoch from
``default_rng(seed)``), so minnet, numpy and PyTorch visit the same batches
and must end on the same loss and the same weights.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

import minnet as mn

from .tasks import SEED, Task


class Trained(NamedTuple):
    """What a training run ends with."""

    loss: float
    #: ``(W, b)`` of each layer, ``W`` of shape (n_in, n_out) as minnet stores it.
    weights: list[tuple[np.ndarray, np.ndarray]]


def _batches(task: Task, rng: np.random.Generator) -> Iterator[np.ndarray | None]:
    """Row indices of each batch of one epoch; None means the whole data set."""
    n = len(task.X)
    if task.batch_size is None or task.batch_size >= n:
        yield None
        return
    order = rng.permutation(n)
    for start in range(0, n, task.batch_size):
        yield order[start : start + task.batch_size]


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


def dense_weights(model: mn.Layer) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` of every Dense layer of a minnet model, in order."""
    return [(layer.W.value, layer.b.value) for layer in mn.containers.iter_layers(model) if isinstance(layer, mn.Dense)]


def build_minnet_graph(task: Task) -> mn.Graph:
    """The same chain as :func:`build_minnet`, wired as a Graph: what the graph machinery costs."""
    x = mn.Input(task.widths[0])
    node = x
    for layer in build_minnet(task):
        node = layer(node)
    return mn.Graph(inputs=x, outputs=node)


def train_minnet(task: Task, build: Callable[[Task], mn.Layer] = build_minnet) -> Trained:
    model = build(task)
    optimizer = mn.SGD(model.parameters(), lr=task.lr, momentum=task.momentum)
    history = mn.fit(
        model,
        task.loss(),
        optimizer,
        task.X,
        task.y,
        epochs=task.epochs,
        batch_size=task.batch_size,
        shuffle=True,
        seed=SEED,
        progress=False,
    )
    return Trained(history["loss"][-1], dense_weights(model))


# -- hand-written numpy, the article's style generalised to N layers -----------


def train_numpy(task: Task) -> Trained:
    """Plain numpy: forward, loss, backward and update written out, as in the article."""
    Ws = [W.copy() for W, _ in task.weights]
    bs = [b.copy() for _, b in task.weights]
    # Momentum buffers, torch's convention: v = mu v + g, then W -= lr v (v starts at 0, so v_1 = g).
    vWs, vbs = [np.zeros_like(W) for W in Ws], [np.zeros_like(b) for b in bs]
    X, y, lr, mu, n_layers = task.X, task.y, task.lr, task.momentum, len(Ws)
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
            if task.multiclass:
                # Softmax cross-entropy on class labels, in the log-sum-exp form:
                # log s = z - max z - log sum exp(z - max z); dL/dz = (s - onehot(y)) / m.
                in_batch = np.arange(m)
                log_s = z - z.max(axis=1, keepdims=True)
                log_s -= np.log(np.exp(log_s).sum(axis=1, keepdims=True))
                loss = -np.mean(log_s[in_batch, yb])
                dz = np.exp(log_s)
                dz[in_batch, yb] -= 1
                dz /= m
            elif task.logits:
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
                if mu:
                    vWs[i] = mu * vWs[i] + dW
                    vbs[i] = mu * vbs[i] + db
                    dW, db = vWs[i], vbs[i]
                Ws[i] -= lr * dW
                bs[i] -= lr * db
        epoch_loss = total / len(X)
    return Trained(epoch_loss, list(zip(Ws, bs)))


# -- PyTorch -------------------------------------------------------------------


def train_torch(task: Task) -> Trained:
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
    if task.multiclass:
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        loss_fn = nn.BCEWithLogitsLoss() if task.logits else nn.BCELoss()
    opt = torch.optim.SGD(model.parameters(), lr=task.lr, momentum=task.momentum)
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
    weights = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in model if isinstance(m, nn.Linear)]
    return Trained(epoch_loss, weights)


# -- scikit-learn --------------------------------------------------------------


def train_sklearn(task: Task) -> Trained:
    """MLPClassifier with SGD at a constant rate, no L2 and no early stop.

    It draws its own initial weights and its own shuffles, so only its time
    is comparable, not its loss or weights. Its output is a sigmoid with log
    loss for one output, the same model as BCE on logits, and a softmax with
    log loss for several, the same as softmax cross-entropy. Its momentum,
    ``v = mu v - lr g``, ``W += v``, takes the same steps as torch's at a
    constant rate. It keeps float32 data in float32.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(task.widths[1:-1]),
        activation="logistic" if task.hidden == "sigmoid" else "relu",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=task.lr,
        momentum=task.momentum,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=len(task.X) if task.batch_size is None else task.batch_size,
        max_iter=task.epochs,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=task.epochs + 1,
        early_stopping=False,
        random_state=SEED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(task.X, task.y.ravel())
    return Trained(float(clf.loss_), list(zip(clf.coefs_, clf.intercepts_)))


def _installed(name: str) -> bool:
    """Whether the package ``name`` can be imported, found without importing it."""
    return importlib.util.find_spec(name) is not None


def implementations(include_torch: bool = True, include_sklearn: bool = True) -> dict[str, Callable[[Task], Trained]]:
    """Name -> training function, for the peers that are installed."""
    impls: dict[str, Callable[[Task], Trained]] = {
        "minnet": train_minnet,
        "numpy": train_numpy,
        "graph": lambda task: train_minnet(task, build_minnet_graph),  # the chain as an mn.Graph
    }
    if include_torch and _installed("torch"):
        impls["torch"] = train_torch
    if include_sklearn and _installed("sklearn"):
        impls["sklearn"] = train_sklearn
    return impls
