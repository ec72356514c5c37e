"""The same training run written four ways.

Each ``train_*`` function starts from ``task.weights``, trains for
``task.epochs`` epochs (an MLP :class:`~benchmarks.tasks.Task` with SGD and
``task.momentum``, a CNN :class:`~benchmarks.tasks.ConvTask` with Adam) and
returns a :class:`Trained`: the loss of the last epoch (the
batch-size-weighted mean over its batches) and the final weights. Shuffling draws the same
permutations as :func:`minnet.fit` (one ``permutation(n)`` per epoch from
``default_rng(seed)``), so minnet, numpy and PyTorch visit the same batches
and must end on the same loss and the same weights.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import minnet as mn

from .tasks import SEED, ConvTask, Task


class Trained(NamedTuple):
    """What a training run ends with."""

    loss: float
    #: ``(W, b)`` of each layer as minnet stores it: (n_in, n_out) for Dense, (out, in, kh, kw) for Conv2D.
    weights: list[tuple[np.ndarray, np.ndarray]]


def _batches(task: Task | ConvTask, rng: np.random.Generator) -> Iterator[np.ndarray | None]:
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


def build_minnet_cnn(task: ConvTask) -> mn.Sequential:
    """The CNN of :class:`~benchmarks.tasks.ConvTask` as an ``mn.Sequential``, from ``task.weights``."""
    layers: list[mn.Layer] = []
    for W, b in task.weights[:-1]:
        conv = mn.Conv2D(W.shape[1], W.shape[0], W.shape[2:], dtype=task.dtype)
        conv.W.value[...] = W
        conv.b.value[...] = b  # type: ignore[union-attr]
        layers += [conv, mn.ReLU(), mn.MaxPool2D(task.pool)]
    W, b = task.weights[-1]
    dense = mn.Dense(*W.shape, dtype=task.dtype)
    dense.W.value[...] = W
    dense.b.value[...] = b
    return mn.Sequential(*layers, mn.Flatten(), dense)


def layer_weights(model: mn.Layer) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` of every Dense and Conv2D layer of a minnet model, in order."""
    return [
        (layer.W.value, layer.b.value)
        for layer in mn.containers.iter_layers(model)
        if isinstance(layer, (mn.Dense, mn.Conv2D))
    ]


def build_minnet_graph(task: Task) -> mn.Graph:
    """The same chain as :func:`build_minnet`, wired as a Graph: what the graph machinery costs."""
    x = mn.Input(task.widths[0])
    node = x
    for layer in build_minnet(task):
        node = layer(node)
    return mn.Graph(inputs=x, outputs=node)


def train_minnet(task: Task | ConvTask, build: Callable[[Any], mn.Layer] = build_minnet) -> Trained:
    model = build(task)
    optimizer = task.optimizer(model.parameters())
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
    return Trained(history["loss"][-1], layer_weights(model))


def train_minnet_cnn(task: ConvTask) -> Trained:
    """``mn.fit`` of the CNN as an ``mn.Sequential``, with ``mn.Adam``."""
    return train_minnet(task, build_minnet_cnn)


# -- hand-written numpy, the article's style generalised to N layers -----------


def _softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of logits ``z`` (m, C) on class indices ``y`` (m,), and dL/dz.

    In the log-sum-exp form: log s = z - max z - log sum exp(z - max z);
    dL/dz = (s - onehot(y)) / m.
    """
    m, in_batch = len(z), np.arange(len(z))
    log_s = z - z.max(axis=1, keepdims=True)
    log_s -= np.log(np.exp(log_s).sum(axis=1, keepdims=True))
    dz = np.exp(log_s)
    dz[in_batch, y] -= 1
    dz /= m
    return float(-np.mean(log_s[in_batch, y])), dz


def train_numpy(task: Task) -> Trained:
    """Plain numpy: forward, loss, backward and update written out, as in the article."""
    Ws = [W.copy() for W, _ in task.weights]
    bs = [b.copy() for _, b in task.weights]
    # Momentum buffers, torch's convention: v = mu v + g, then W -= lr v (v starts at 0, so v_1 = g).
    vWs, vbs = [np.zeros_like(W) for W in Ws], [np.zeros_like(b) for b in bs]
    X, y, lr, mu, n_layers = task.X, task.y, task.lr, task.momentum, len(Ws)
    relu = task.hidden == "relu"
    rng = np.random.default_rng(SEED)
    # The bias gradient is summed as minnet sums it: in float32 another order of the same sums
    # sends a deep network's run elsewhere (deep-narrow: 0.6229 against 0.6245 after 512 steps).
    ones = np.ones(len(X), task.dtype)
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
                loss, dz = _softmax_cross_entropy(z, yb)
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
                db = ones[:m] @ dz  # column sums as 1^T dz, the order minnet sums them in
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


# -- hand-written numpy CNN: im2col, one product per conv, Adam --------------------


def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """Every k x k window of ``x`` (n, C, H, W) as a column: (C k k, n H_out W_out), stride 1, no padding."""
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # (n, C, H_out, W_out, k, k), a view
    n, c, oh, ow = win.shape[:4]
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, n * oh * ow)  # the one copy


def _col2im(d_cols: np.ndarray, x_shape: tuple[int, ...], k: int) -> np.ndarray:
    """Add each column's gradient back onto the pixels of its window: the adjoint of :func:`_im2col`."""
    n, c, h, w = x_shape
    oh, ow = h - k + 1, w - k + 1
    d = d_cols.reshape(c, k, k, n, oh, ow)
    dx = np.zeros((c, n, h, w), d_cols.dtype)
    for a in range(k):
        for b in range(k):
            dx[:, :, a : a + oh, b : b + ow] += d[:, a, b]
    return dx.transpose(1, 0, 2, 3)


def _max_pool(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """p x p max-pooling of ``x`` (n, C, H, W), stride p (a ragged edge dropped), and each window's argmax."""
    n, c, h, w = x.shape
    oh, ow = h // p, w // p
    win = x[:, :, : oh * p, : ow * p].reshape(n, c, oh, p, ow, p).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, oh, ow, p * p)
    argmax = win.argmax(axis=-1)[..., None]  # the first maximum, where PyTorch sends the gradient
    return np.take_along_axis(win, argmax, axis=-1)[..., 0], argmax


def _max_pool_backward(grad: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, ...], p: int) -> np.ndarray:
    """Each window's gradient to its maximum; pixels in no window (the ragged edge) get 0."""
    n, c, oh, ow = grad.shape
    d = np.zeros((n, c, oh, ow, p * p), grad.dtype)
    np.put_along_axis(d, argmax, grad[..., None], axis=-1)
    dx = np.zeros(x_shape, grad.dtype)
    dx[:, :, : oh * p, : ow * p] = (
        d.reshape(n, c, oh, ow, p, p).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh * p, ow * p)
    )
    return dx


def train_numpy_cnn(task: ConvTask) -> Trained:
    """Plain numpy: the CNN's forward, loss, backward and Adam update written out.

    A conv is ``Y = W X + b`` on the im2col columns ``X``; its backward is
    ``dW = G X^T``, ``db = sum G`` and ``dX = W^T G`` then col2im. Adam is
    PyTorch's: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)``.
    """
    params = [a.copy() for W, b in task.weights for a in (W, b)]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, task.lr
    k, pool, n_convs = task.kernel, task.pool, len(task.channels)
    rng = np.random.default_rng(SEED)
    step, epoch_loss = 0, float("nan")
    for _ in range(task.epochs):
        total = 0.0
        for rows in _batches(task, rng):
            xb, yb = (task.X, task.y) if rows is None else (task.X[rows], task.y[rows])
            m = len(xb)
            # forward, keeping what the backward needs: each conv's columns, ReLU output and pooling argmax
            cache = []
            a = xb
            for i in range(n_convs):
                W, b = params[2 * i], params[2 * i + 1]
                cols = _im2col(a, k)
                oh, ow = a.shape[2] - k + 1, a.shape[3] - k + 1
                z = W.reshape(len(W), -1) @ cols + b[:, None]  # (out, m H_out W_out)
                r = np.maximum(z.reshape(len(W), m, oh, ow).transpose(1, 0, 2, 3), 0)
                pooled, argmax = _max_pool(r, pool)
                cache.append((a.shape, cols, r, argmax))
                a = pooled
            flat = a.reshape(m, -1)
            logits = flat @ params[-2] + params[-1]
            loss, dz = _softmax_cross_entropy(logits, yb)
            total += loss * m
            # backward
            grads = [np.empty(0)] * len(params)
            grads[-2], grads[-1] = flat.T @ dz, dz.sum(axis=0)
            d = (dz @ params[-2].T).reshape(a.shape)
            for i in reversed(range(n_convs)):
                x_shape, cols, r, argmax = cache[i]
                W = params[2 * i]
                d = _max_pool_backward(d, argmax, r.shape, pool) * (r > 0)
                g = d.transpose(1, 0, 2, 3).reshape(len(W), -1)  # G: (out, m H_out W_out)
                grads[2 * i] = (g @ cols.T).reshape(W.shape)
                grads[2 * i + 1] = g.sum(axis=1)
                if i > 0:
                    d = _col2im(W.reshape(len(W), -1).T @ g, x_shape, k)
            # Adam
            step += 1
            for p, grad, m1, m2 in zip(params, grads, ms, vs):
                m1 *= b1
                m1 += (1 - b1) * grad
                m2 *= b2
                m2 += (1 - b2) * grad * grad
                p -= lr / (1 - b1**step) * m1 / (np.sqrt(m2 / (1 - b2**step)) + eps)
        epoch_loss = total / len(task.X)
    return Trained(epoch_loss, list(zip(params[::2], params[1::2])))


# -- PyTorch -------------------------------------------------------------------


def _train_torch(task: Any, model: Any, loss_fn: Any, opt: Any) -> float:
    """PyTorch's training loop over the task's batches, as a PyTorch user writes it; the last epoch's loss."""
    import torch

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
    epoch_loss = _train_torch(task, model, loss_fn, opt)
    weights = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in model if isinstance(m, nn.Linear)]
    return Trained(epoch_loss, weights)


def train_torch_cnn(task: ConvTask) -> Trained:
    """torch.nn.Sequential of Conv2d, ReLU, MaxPool2d, Flatten and Linear + torch.optim.Adam."""
    import torch
    from torch import nn

    tdtype = torch.float64 if np.dtype(task.dtype) == np.float64 else torch.float32
    layers: list[nn.Module] = []
    for W, b in task.weights[:-1]:
        conv = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2:], dtype=tdtype)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(W))
            conv.bias.copy_(torch.from_numpy(b))
        layers += [conv, nn.ReLU(), nn.MaxPool2d(task.pool)]
    W, b = task.weights[-1]
    linear = nn.Linear(*W.shape, dtype=tdtype)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(W.T.copy()))
        linear.bias.copy_(torch.from_numpy(b))
    model = nn.Sequential(*layers, nn.Flatten(), linear)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=task.lr)
    epoch_loss = _train_torch(task, model, loss_fn, opt)
    weights = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in model if isinstance(m, nn.Conv2d)]
    weights.append((linear.weight.detach().numpy().T, linear.bias.detach().numpy()))
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


#: A training function: a task in, what the run ended with out.
Trainer = Callable[[Any], Trained]


def implementations(include_torch: bool = True, include_sklearn: bool = True) -> dict[str, Trainer]:
    """Name -> training function of an MLP :class:`~benchmarks.tasks.Task`, for the peers that are installed."""
    impls: dict[str, Trainer] = {
        "minnet": train_minnet,
        "numpy": train_numpy,
        "graph": lambda task: train_minnet(task, build_minnet_graph),  # the chain as an mn.Graph
    }
    if include_torch and _installed("torch"):
        impls["torch"] = train_torch
    if include_sklearn and _installed("sklearn"):
        impls["sklearn"] = train_sklearn
    return impls


def conv_implementations(include_torch: bool = True) -> dict[str, Trainer]:
    """Name -> training function of a :class:`~benchmarks.tasks.ConvTask` (scikit-learn has no CNN)."""
    impls: dict[str, Trainer] = {"minnet": train_minnet_cnn, "numpy": train_numpy_cnn}
    if include_torch and _installed("torch"):
        impls["torch"] = train_torch_cnn
    return impls
