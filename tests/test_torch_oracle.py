"""PyTorch as the oracle: the same network, loss and optimizer give the same numbers.

Everything runs in float64. minnet's ``W`` is ``(n_in, n_out)`` (``x @ W + b``),
torch's ``Linear.weight`` is ``(out, in)``, so weights are transposed when copied.
Values that are computed the same way agree to ~1e-15; the tolerances below
(1e-12 for forward values, 1e-10 for gradients and trained weights) leave room
only for a different summation order in the matrix products.
"""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn

torch = pytest.importorskip("torch")

FORWARD = dict(rtol=1e-12, atol=1e-14)
GRAD = dict(rtol=1e-10, atol=1e-13)


def _copy_to_torch(model: mn.Sequential) -> torch.nn.Sequential:
    """A torch.nn.Sequential with the same layers and the same weights as ``model``."""
    modules = []
    for layer in model:
        if isinstance(layer, mn.Dense):
            linear = torch.nn.Linear(layer.n_in, layer.n_out, bias=layer.b is not None, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.W.value.T.copy()))
                if layer.b is not None:
                    linear.bias.copy_(torch.from_numpy(layer.b.value))
            modules.append(linear)
        elif isinstance(layer, mn.LeakyReLU):
            modules.append(torch.nn.LeakyReLU(layer.negative_slope))
        else:
            modules.append(
                {mn.Sigmoid: torch.nn.Sigmoid, mn.ReLU: torch.nn.ReLU, mn.Tanh: torch.nn.Tanh}[type(layer)]()
            )
    return torch.nn.Sequential(*modules)


def _torch_params_as_minnet(net: torch.nn.Sequential) -> list[np.ndarray]:
    """torch's parameters in minnet's order and layout: [W (in, out), b] per Linear."""
    out = []
    for module in net:
        if isinstance(module, torch.nn.Linear):
            out.append(module.weight.detach().numpy().T)
            if module.bias is not None:
                out.append(module.bias.detach().numpy())
    return out


def _torch_grads_as_minnet(net: torch.nn.Sequential) -> list[np.ndarray]:
    out = []
    for module in net:
        if isinstance(module, torch.nn.Linear):
            out.append(module.weight.grad.numpy().T)
            if module.bias is not None:
                out.append(module.bias.grad.numpy())
    return out


def _torch_loss(loss: mn.Loss):
    if isinstance(loss, mn.MSE):
        return torch.nn.MSELoss()
    return torch.nn.BCEWithLogitsLoss() if loss.from_logits else torch.nn.BCELoss()


STACKS = {
    "article": (
        lambda: mn.Sequential(mn.Dense(5, 7, rng=0), mn.Sigmoid(), mn.Dense(7, 1, rng=1), mn.Sigmoid()),
        mn.BCE,
        1,
    ),
    "relu-tanh-logits": (
        lambda: mn.Sequential(
            mn.Dense(5, 8, init="he", rng=2), mn.ReLU(), mn.Dense(8, 6, rng=3), mn.Tanh(), mn.Dense(6, 1, rng=4)
        ),
        lambda: mn.BCE(from_logits=True),
        1,
    ),
    "leaky-mse-two-outputs": (
        lambda: mn.Sequential(
            mn.Dense(5, 6, rng=5), mn.LeakyReLU(0.1), mn.Dense(6, 4, rng=6), mn.Sigmoid(), mn.Dense(4, 2, rng=7)
        ),
        mn.MSE,
        2,
    ),
    "deep-mixed-bce": (
        lambda: mn.Sequential(
            mn.Dense(5, 6, bias=False, rng=8),
            mn.Tanh(),
            mn.Dense(6, 6, rng=9),
            mn.LeakyReLU(),
            mn.Dense(6, 3, init="normal", rng=10),
            mn.ReLU(),
            mn.Dense(3, 2, rng=11),
            mn.Sigmoid(),
        ),
        mn.BCE,
        2,
    ),
    "mse-sigmoid-multi": (
        lambda: mn.Sequential(mn.Dense(5, 3, rng=12), mn.Sigmoid(), mn.Dense(3, 3, rng=13), mn.Tanh()),
        mn.MSE,
        3,
    ),
}


def _data(n_out: int, seed: int, n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, 5)) * 1.5
    y = (gen.random((n, n_out)) > 0.5).astype(float)
    return X, y


def _randomise_biases(model: mn.Sequential, seed: int) -> None:
    gen = np.random.default_rng(seed)
    for p in model.parameters():
        if p.name == "b":
            p.value[...] = gen.standard_normal(p.shape) * 0.3


# -- forward, loss and every gradient ---------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("stack", list(STACKS))
def test_forward_loss_and_gradients_equal_torch(stack, seed):
    make_model, make_loss, n_out = STACKS[stack]
    model, loss = make_model(), make_loss()
    _randomise_biases(model, seed)
    net, torch_loss = _copy_to_torch(model), _torch_loss(loss)
    X, y = _data(n_out, seed)

    out = model.forward(X)
    value = loss.forward(out, y)
    dx = model.backward(loss.backward())

    tx = torch.from_numpy(X.copy()).requires_grad_(True)
    t_out = net(tx)
    t_value = torch_loss(t_out, torch.from_numpy(y))
    t_value.backward()

    np.testing.assert_allclose(out, t_out.detach().numpy(), **FORWARD)
    assert value == pytest.approx(t_value.item(), rel=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **GRAD)
    grads = _torch_grads_as_minnet(net)
    assert len(grads) == len(model.parameters())
    for p, expected in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, expected, **GRAD)


# -- losses at the edges ------------------------------------------------------------------


def _loss_and_grad_torch(torch_loss, pred: np.ndarray, target: np.ndarray):
    tp = torch.from_numpy(pred.copy()).requires_grad_(True)
    value = torch_loss(tp, torch.from_numpy(target))
    value.backward()
    return value.item(), tp.grad.numpy()


def test_bce_at_zero_and_one_equals_torch_clamp():
    p = np.array([[0.0], [1.0], [0.0], [1.0], [1e-50], [1 - 1e-16], [0.3]])
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0], [0.7]])
    loss = mn.BCE()
    value = loss.forward(p, y)
    t_value, t_grad = _loss_and_grad_torch(torch.nn.BCELoss(), p, y)
    assert value == pytest.approx(t_value, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), t_grad, rtol=1e-14, atol=0)


def test_bce_from_logits_at_extreme_logits_equals_torch():
    z = np.array([[-1e4], [1e4], [-800.0], [800.0], [-40.0], [40.0], [0.0], [1e-8]])
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0], [1.0], [0.25]])
    loss = mn.BCE(from_logits=True)
    value = loss.forward(z, y)
    t_value, t_grad = _loss_and_grad_torch(torch.nn.BCEWithLogitsLoss(), z, y)
    assert value == pytest.approx(t_value, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), t_grad, rtol=1e-14, atol=1e-300)


def test_mse_equals_torch(rng):
    p, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    loss = mn.MSE()
    value = loss.forward(p, y)
    t_value, t_grad = _loss_and_grad_torch(torch.nn.MSELoss(), p, y)
    assert value == pytest.approx(t_value, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), t_grad, rtol=1e-14)


def test_sigmoid_at_extreme_inputs_equals_torch():
    x = np.array([[-1e308, -1e4, -745.0, -720.0, -40.0, -1e-20, 0.0, 1e-20, 17.0, 40.0, 720.0, 1e4, 1e308]])
    layer = mn.Sigmoid()
    out = layer.forward(x)
    grad = layer.backward(np.ones_like(x))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = torch.sigmoid(tx)
    t_out.sum().backward()
    # Far on the left both are 0 or a denormal: compare those absolutely, the rest to 1 ulp.
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=2.3e-16, atol=1e-300)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-15, atol=1e-300)


@pytest.mark.parametrize(
    "make, torch_fn",
    [
        (mn.Tanh, "tanh"),
        (mn.ReLU, "relu"),
        (lambda: mn.LeakyReLU(0.2), "leaky_relu"),
    ],
)
def test_activation_values_and_gradients_equal_torch_including_zero(make, torch_fn, rng):
    x = np.concatenate([rng.standard_normal((1, 6)) * 3, np.zeros((1, 6))], axis=1)
    layer = make()
    out = layer.forward(x)
    g = rng.standard_normal(x.shape)
    dx = layer.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    fn = getattr(torch.nn.functional, torch_fn)
    t_out = fn(tx, 0.2) if torch_fn == "leaky_relu" else fn(tx)
    t_out.backward(torch.from_numpy(g))
    # tanh may differ by an ulp between libms; 1 - tanh^2 turns that into ~1e-16 absolute.
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-14, atol=1e-15)


# -- SGD -----------------------------------------------------------------------------------

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, weight_decay=0.05),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=1e-3),
]


def _classification_data(n: int = 50, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, 4))
    y = ((X[:, 0] - 0.5 * X[:, 1] + 0.3 * gen.standard_normal(n)) > 0).astype(float).reshape(-1, 1)
    return X, y


def _sgd_model() -> mn.Sequential:
    return mn.Sequential(
        mn.Dense(4, 6, rng=0), mn.Tanh(), mn.Dense(6, 3, rng=1), mn.Sigmoid(), mn.Dense(3, 1, rng=2), mn.Sigmoid()
    )


def _torch_train(
    net, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, loss, optimizer: str = "SGD", **config
) -> None:
    """The textbook torch loop, batches in order (no shuffling), with ``torch.optim.<optimizer>(**config)``."""
    opt = getattr(torch.optim, optimizer)(net.parameters(), **config)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            opt.zero_grad()
            loss(net(tX[start : start + batch_size]), ty[start : start + batch_size]).backward()
            opt.step()


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_50_steps_equal_torch_optim_sgd(config):
    X, y = _classification_data()
    model = _sgd_model()
    net = _copy_to_torch(model)
    opt, loss = mn.SGD(model.parameters(), **config), mn.BCE()
    for _ in range(5):  # 5 epochs x 10 batches of 5 = 50 steps
        for start in range(0, 50, 5):
            loss.forward(model.forward(X[start : start + 5]), y[start : start + 5])
            model.backward(loss.backward())
            opt.step()
    _torch_train(net, X, y, epochs=5, batch_size=5, loss=torch.nn.BCELoss(), **config)
    assert opt.step_count == 50
    for p, expected in zip(model.parameters(), _torch_params_as_minnet(net)):
        np.testing.assert_allclose(p.value, expected, **GRAD)
    assert not np.allclose(model.parameters()[0].value, _sgd_model().parameters()[0].value)  # it did train


@pytest.mark.parametrize("batch_size", [None, 16, 1])
@pytest.mark.parametrize("loss_name", ["bce", "logits", "mse"])
def test_fit_without_shuffling_equals_a_torch_loop(batch_size, loss_name):
    X, y = _classification_data()
    if loss_name == "bce":
        model, loss = _sgd_model(), mn.BCE()
    else:
        model = mn.Sequential(mn.Dense(4, 6, rng=0), mn.LeakyReLU(), mn.Dense(6, 1, rng=1))
        loss = mn.BCE(from_logits=True) if loss_name == "logits" else mn.MSE()
    net = _copy_to_torch(model)
    epochs = 3 if batch_size == 1 else 20
    config = dict(lr=0.01 if batch_size == 1 else 0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    mn.fit(
        model,
        loss,
        mn.SGD(model.parameters(), **config),
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        progress=False,
    )
    # 50 samples in batches of 16: the last batch has 2, and it is used.
    _torch_train(net, X, y, epochs=epochs, batch_size=batch_size or len(X), loss=_torch_loss(loss), **config)
    for p, expected in zip(model.parameters(), _torch_params_as_minnet(net)):
        np.testing.assert_allclose(p.value, expected, **GRAD)


@pytest.mark.parametrize("base_momentum", [0.85, 0.0])
def test_one_cycle_with_cycling_momentum_trains_as_torch(base_momentum):
    """SGD(lr=OneCycle, momentum=its momentum schedule) == torch's OneCycleLR(cycle_momentum=True).

    With base_momentum=0 the momentum is exactly 0 at the peak, where torch
    neither uses nor updates the momentum buffer.
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(40, 3)), (rng.random(40) > 0.5).astype(float)
    W0, b0 = rng.normal(size=(3, 1)) * 0.5, np.zeros(1)
    schedule = mn.OneCycle(max_lr=0.5, total_steps=60)

    model = mn.Sequential(mn.Dense(3, 1), mn.Sigmoid())
    model[0].W.value[...], model[0].b.value[...] = W0, b0
    opt = mn.SGD(
        model.parameters(), lr=schedule, momentum=schedule.momentum(base_momentum=base_momentum, max_momentum=0.95)
    )
    mn.fit(model, mn.BCE(), opt, X, y, epochs=60, batch_size=None, progress=False)

    lin = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W0.T))
        lin.bias.copy_(torch.from_numpy(b0))
    topt = torch.optim.SGD(lin.parameters(), lr=0.5, momentum=0.95)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        topt, max_lr=0.5, total_steps=60, base_momentum=base_momentum, max_momentum=0.95
    )
    tX, ty = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
    for _ in range(60):
        topt.zero_grad()
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(lin(tX)), ty).backward()
        topt.step()
        if sched.last_epoch + 1 < 60:
            sched.step()
    np.testing.assert_allclose(model[0].W.value, lin.weight.detach().numpy().T, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(model[0].b.value, lin.bias.detach().numpy(), rtol=1e-10, atol=1e-13)


# -- Softmax, CrossEntropy, BatchNorm, Dropout -----------------------------------------------


def test_softmax_forward_and_backward_equal_torch(rng):
    x = np.concatenate([rng.standard_normal((5, 6)) * 4, [[-800.0, 800.0, 0.0, 1e-8, -1e-8, 30.0]]])
    g = rng.standard_normal(x.shape)
    layer = mn.Softmax()
    out = layer.forward(x)
    dx = layer.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = torch.softmax(tx, dim=1)
    t_out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_cross_entropy_on_labels_equals_torch(scale, rng):
    z, y = rng.standard_normal((9, 5)) * scale, rng.integers(0, 5, 9)
    loss = mn.CrossEntropy()
    value = loss.forward(z, y)
    t_value, t_grad = _loss_and_grad_torch(torch.nn.CrossEntropyLoss(), z, y)
    assert value == pytest.approx(t_value, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), t_grad, rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("kind", ["one-hot", "soft", "unnormalised"])
def test_cross_entropy_on_probabilities_equals_torch(kind, rng):
    z = rng.standard_normal((7, 4)) * 3
    y = {
        "one-hot": np.eye(4)[rng.integers(0, 4, 7)],
        "soft": rng.dirichlet(np.ones(4), 7),
        "unnormalised": rng.random((7, 4)),
    }[kind]
    loss = mn.CrossEntropy()
    value = loss.forward(z, y)
    t_value, t_grad = _loss_and_grad_torch(torch.nn.CrossEntropyLoss(), z, y)
    assert value == pytest.approx(t_value, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), t_grad, rtol=1e-13, atol=1e-17)


def test_cross_entropy_after_softmax_equals_torch_nll_of_the_log(rng):
    p, y = rng.dirichlet(np.ones(4), 6), rng.integers(0, 4, 6)
    loss = mn.CrossEntropy(from_logits=False)
    value = loss.forward(p, y)
    tp = torch.from_numpy(p.copy()).requires_grad_(True)
    t_value = torch.nn.NLLLoss()(torch.log(tp), torch.from_numpy(y))
    t_value.backward()
    assert value == pytest.approx(t_value.item(), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), tp.grad.numpy(), rtol=1e-14, atol=0)


def _torch_batchnorm(bn: mn.BatchNorm) -> torch.nn.BatchNorm1d:
    module = torch.nn.BatchNorm1d(bn.n_features, eps=bn.eps, momentum=bn.momentum, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(bn.gamma.value))
        module.bias.copy_(torch.from_numpy(bn.beta.value))
    return module


def _assert_batchnorm_step_equals_torch(bn: mn.BatchNorm, module: torch.nn.BatchNorm1d, x, g) -> None:
    """One forward and backward of ``bn`` and of its torch twin, in the module's mode: output and gradients agree."""
    out = bn.forward(x, training=module.training)
    dx = bn.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    module.zero_grad()
    t_out = module(tx)
    t_out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **FORWARD)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **GRAD)
    np.testing.assert_allclose(bn.gamma.grad, module.weight.grad.numpy(), **GRAD)
    np.testing.assert_allclose(bn.beta.grad, module.bias.grad.numpy(), **GRAD)


@pytest.mark.parametrize("n", [2, 5, 64])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_training_forward_gradients_and_running_statistics_equal_torch(n, momentum, rng):
    bn = mn.BatchNorm(4, momentum=momentum)
    bn.gamma.value[...] = rng.uniform(0.5, 2.0, 4)
    bn.beta.value[...] = rng.standard_normal(4)
    module = _torch_batchnorm(bn).train()
    for step in range(4):  # several batches, so the running statistics are compared after each update
        x = rng.standard_normal((n, 4)) * [1.0, 5.0, 0.1, 2.0] + [0.0, 3.0, -1.0, 10.0]
        _assert_batchnorm_step_equals_torch(bn, module, x, rng.standard_normal((n, 4)))
        np.testing.assert_allclose(bn.running_mean, module.running_mean.numpy(), **FORWARD)
        np.testing.assert_allclose(bn.running_var, module.running_var.numpy(), **FORWARD)
        assert bn.num_batches_tracked == int(module.num_batches_tracked) == step + 1


def test_batchnorm_inference_forward_equals_torch(rng):
    bn = mn.BatchNorm(3, momentum=0.5)
    bn.gamma.value[...] = [1.5, -0.5, 2.0]
    bn.beta.value[...] = [0.1, 0.2, -0.3]
    module = _torch_batchnorm(bn).train()
    for _ in range(3):
        x = rng.standard_normal((6, 3)) * 2 + 1
        bn.forward(x)
        module(torch.from_numpy(x))
    module.eval()
    x = rng.standard_normal((5, 3))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(bn.forward(x, training=False), expected, **FORWARD)


def test_batchnorm_refuses_a_batch_of_one_as_torch_does():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(3, dtype=torch.float64).train()(torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than 1 sample per batch"):
        mn.BatchNorm(3).forward(np.ones((1, 3)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_scaling_and_inference_identity_equal_torch(p, rng):
    x = rng.standard_normal((300, 40)) + 10.0  # no zeros of its own
    module = torch.nn.Dropout(p).train()
    torch.manual_seed(0)  # torch draws from its global generator: fixed, so the test cannot flake
    t_out = module(torch.from_numpy(x)).numpy()
    out = mn.Dropout(p, seed=0).forward(x)
    # The masks come from different generators; the kept values are scaled by the very same float.
    t_kept, kept = t_out != 0, out != 0
    np.testing.assert_array_equal(t_out[t_kept], x[t_kept] * (1 / (1 - p)))
    np.testing.assert_array_equal(out[kept], x[kept] * (1 / (1 - p)))
    # The same share dropped, within 4 standard deviations of a Bernoulli(p) share over 12,000 draws.
    sd = np.sqrt(p * (1 - p) / x.size)
    assert abs((~kept).mean() - p) < 4 * sd and abs((~t_kept).mean() - p) < 4 * sd
    module.eval()
    np.testing.assert_array_equal(mn.Dropout(p, seed=0).forward(x, training=False), module(torch.from_numpy(x)).numpy())


def test_a_batchnorm_classifier_trains_as_torch_with_cross_entropy(rng):
    """Dense -> BatchNorm -> ReLU -> Dense on 3 classes, SGD with momentum, fit without shuffling."""
    X = rng.standard_normal((60, 4))
    y = np.argmax(X[:, :3] + 0.3 * rng.standard_normal((60, 3)), axis=1)
    model = mn.Sequential(mn.Dense(4, 8, init="he", seed=0), mn.BatchNorm(8), mn.ReLU(), mn.Dense(8, 3, seed=1))
    first, bn, last = model[0], model[1], model[3]
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8, dtype=torch.float64),
        _torch_batchnorm(bn),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3, dtype=torch.float64),
    )
    with torch.no_grad():
        for dense, linear in ((first, net[0]), (last, net[3])):
            linear.weight.copy_(torch.from_numpy(dense.W.value.T.copy()))
            linear.bias.copy_(torch.from_numpy(dense.b.value))
    config = dict(lr=0.1, momentum=0.9)
    mn.fit(
        model,
        mn.CrossEntropy(),
        mn.SGD(model.parameters(), **config),
        X,
        y,
        epochs=5,
        batch_size=16,
        shuffle=False,
        progress=False,
    )  # 60 rows: batches of 16, 16, 16, 12
    _torch_train(net, X, y, epochs=5, batch_size=16, loss=torch.nn.CrossEntropyLoss(), **config)
    expected = [
        net[0].weight.detach().numpy().T,
        net[0].bias.detach().numpy(),
        net[1].weight.detach().numpy(),
        net[1].bias.detach().numpy(),
        net[3].weight.detach().numpy().T,
        net[3].bias.detach().numpy(),
    ]
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.value, e, **GRAD)
    np.testing.assert_allclose(bn.running_mean, net[1].running_mean.numpy(), **GRAD)
    np.testing.assert_allclose(bn.running_var, net[1].running_var.numpy(), **GRAD)
    net.eval()
    np.testing.assert_allclose(model.predict(X), net(torch.from_numpy(X)).detach().numpy(), **GRAD)


# -- Adam, AdamW, RMSprop (and SGD once more) on random gradients --------------------------

TIGHT = dict(rtol=1e-12, atol=1e-15)

OPTIMIZER_CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.2)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.001, momentum=0.9)),
    ("RMSprop", dict(lr=0.001, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.001, alpha=0.95, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True)),
]
SHAPES = [(3, 4), (4,), (2, 3, 2), (1,)]


def _random_run(n_steps: int = 50, seed: int = 1) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Initial values and ``n_steps`` gradients per parameter, of magnitudes from 1e-3 to 10."""
    gen = np.random.default_rng(seed)
    initial = [gen.standard_normal(shape) for shape in SHAPES]
    grads = []
    for _ in range(n_steps):
        scale = 10.0 ** gen.uniform(-3, 1)
        step = [gen.standard_normal(shape) * scale for shape in SHAPES]
        step[0][0, 0] = 0.0  # never a gradient here: only eps keeps Adam's and RMSprop's step finite
        grads.append(step)
    return initial, grads


def _run_both(opt: mn.Optimizer, topt, params, tparams, grads, after_step=lambda: None) -> None:
    for step in grads:
        for p, t, g in zip(params, tparams, step):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        after_step()


@pytest.mark.parametrize(
    "name, config",
    OPTIMIZER_CONFIGS,
    ids=lambda c: c if isinstance(c, str) else ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_50_steps_on_random_gradients_equal_torch_optim(name, config):
    initial, grads = _random_run()
    params = [mn.Parameter(v) for v in initial]
    tparams = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in initial]
    opt, topt = getattr(mn, name)(params, **config), getattr(torch.optim, name)(tparams, **config)
    _run_both(opt, topt, params, tparams, grads)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.value, t.detach().numpy(), **TIGHT)
    # The running state too: a resumed run starts from it.
    for state, t in zip(opt.state, tparams):
        assert set(state) == set(topt.state[t]) - {"step"}
        for key, value in state.items():
            np.testing.assert_allclose(value, topt.state[t][key].numpy(), **TIGHT)
    assert not np.allclose(params[0].value, initial[0], rtol=1e-3, atol=0)  # it moved


@pytest.mark.parametrize(
    "name, config",
    [("SGD", dict(lr=0.05, momentum=0.9)), *OPTIMIZER_CONFIGS],
    ids=lambda c: c if isinstance(c, str) else ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_50_float32_steps_equal_torch_optim(name, config):
    # float32 is where the step's finiteness check leans on its bound (sqrt(max) = 2**64): the numbers stay torch's
    initial, grads = _random_run()
    initial = [v.astype(np.float32) for v in initial]
    grads = [[g.astype(np.float32) for g in step] for step in grads]
    params = [mn.Parameter(v) for v in initial]
    tparams = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in initial]
    opt, topt = getattr(mn, name)(params, **config), getattr(torch.optim, name)(tparams, **config)
    _run_both(opt, topt, params, tparams, grads)
    for p, t in zip(params, tparams):
        assert p.value.dtype == np.float32
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=2e-5, atol=2e-6)


def test_adam_under_one_cycle_equals_torch_adam_with_one_cycle_lr():
    initial, grads = _random_run()
    params = [mn.Parameter(v) for v in initial]
    tparams = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in initial]
    opt = mn.Adam(params, lr=mn.OneCycle(max_lr=0.05, total_steps=50), betas=(0.9, 0.99))
    topt = torch.optim.Adam(tparams, lr=0.05, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=50, cycle_momentum=False)
    _run_both(opt, topt, params, tparams, grads, after_step=lambda: schedule.last_epoch + 1 < 50 and schedule.step())
    assert opt.step_count == 50
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.value, t.detach().numpy(), **TIGHT)


@pytest.mark.parametrize(
    "name, config",
    [
        ("Adam", dict(lr=0.01, weight_decay=1e-3, amsgrad=True)),
        ("AdamW", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True)),
    ],
)
def test_fit_with_each_optimizer_equals_a_torch_loop(name, config):
    X, y = _classification_data()
    model = _sgd_model()
    net = _copy_to_torch(model)
    mn.fit(
        model,
        mn.BCE(),
        getattr(mn, name)(model.parameters(), **config),
        X,
        y,
        epochs=10,
        batch_size=16,
        shuffle=False,
        progress=False,
    )
    _torch_train(net, X, y, epochs=10, batch_size=16, loss=torch.nn.BCELoss(), optimizer=name, **config)
    for p, expected in zip(model.parameters(), _torch_params_as_minnet(net)):
        np.testing.assert_allclose(p.value, expected, **GRAD)
    assert not np.allclose(model.parameters()[0].value, _sgd_model().parameters()[0].value)  # it did train


# -- convolutional networks ------------------------------------------------------------------


def _conv_to_torch(conv: mn.Conv2D) -> torch.nn.Conv2d:
    """A torch Conv2d with ``conv``'s weights: the same layout, (out, in, kh, kw)."""
    module = torch.nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        bias=conv.b is not None, dtype=torch.float64,
    )  # fmt: skip
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(conv.W.value))
        if conv.b is not None:
            module.bias.copy_(torch.from_numpy(conv.b.value))
    return module


def _cnn_to_torch(model: mn.Sequential) -> torch.nn.Sequential:
    """The CNN of :func:`_cnn` in torch, with the same weights."""
    modules = []
    for layer in model:
        if isinstance(layer, mn.Conv2D):
            modules.append(_conv_to_torch(layer))
        elif isinstance(layer, mn.BatchNorm2D):
            modules.append(torch.nn.BatchNorm2d(layer.channels, momentum=layer.momentum, dtype=torch.float64))
        elif isinstance(layer, mn.MaxPool2D):
            modules.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding))
        elif isinstance(layer, mn.Dense):
            modules.append(_copy_to_torch(mn.Sequential(layer))[0])
        else:
            modules.append(
                {mn.ReLU: torch.nn.ReLU, mn.Flatten: torch.nn.Flatten, mn.Tanh: torch.nn.Tanh}[type(layer)]()
            )
    return torch.nn.Sequential(*modules)


def _cnn() -> mn.Sequential:
    """Two conv blocks (one with a batch norm, so no bias before it; one strided) and a classifier."""
    return mn.Sequential(
        mn.Conv2D(1, 4, 3, padding=1, bias=False, seed=0), mn.BatchNorm2D(4), mn.ReLU(), mn.MaxPool2D(2),
        mn.Conv2D(4, 6, 3, stride=2, padding="valid", seed=1), mn.Tanh(),
        mn.Flatten(), mn.Dense(6 * 1 * 1, 5, seed=2),
    )  # fmt: skip


def test_a_cnn_trained_with_adam_through_fit_equals_torch():
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((24, 1, 6, 6)), gen.integers(0, 5, 24)
    model = _cnn()
    net = _cnn_to_torch(model)
    mn.fit(
        model,
        mn.CrossEntropy(),
        mn.Adam(model.parameters(), lr=0.01),
        X,
        y,
        epochs=5,
        batch_size=8,
        shuffle=False,
        progress=False,
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(5):
        for start in range(0, 24, 8):
            opt.zero_grad()
            xb, yb = torch.from_numpy(X[start : start + 8]), torch.from_numpy(y[start : start + 8])
            torch.nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
    trained = [p.detach().numpy() for p in net.parameters()]
    trained[-2] = trained[-2].T  # Linear's weight is (out, in)
    for p, expected in zip(model.parameters(), trained):
        np.testing.assert_allclose(p.value, expected, rtol=1e-9, atol=1e-11, err_msg=p.name)
    bn, module = model[1], net[1]
    np.testing.assert_allclose(bn.running_mean, module.running_mean.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_var, module.running_var.numpy(), rtol=1e-10, atol=1e-12)
    net.eval()
    np.testing.assert_allclose(model.predict(X), net(torch.from_numpy(X)).detach().numpy(), rtol=1e-9, atol=1e-11)


class _ResidualCNN(torch.nn.Module):
    """conv -> BN -> ReLU, a residual block around two convs added to it, global pooling, a linear classifier."""

    def __init__(self, convs, bn: mn.BatchNorm2D, dense: mn.Dense) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList([_conv_to_torch(c) for c in convs])
        self.bn = torch.nn.BatchNorm2d(bn.channels, dtype=torch.float64)
        self.linear = _copy_to_torch(mn.Sequential(dense))[0]

    def forward(self, x):
        h = torch.relu(self.bn(self.convs[0](x)))
        h = h + self.convs[2](torch.relu(self.convs[1](h)))
        return self.linear(torch.nn.functional.adaptive_avg_pool2d(torch.relu(h), 1).flatten(1))


def test_a_residual_cnn_graph_equals_torch_in_forward_and_every_gradient():
    convs = [mn.Conv2D(2, 4, 3, padding=1, seed=0), mn.Conv2D(4, 4, 3, padding="same", seed=1)]
    convs.append(mn.Conv2D(4, 4, 1, seed=2))
    bn, dense = mn.BatchNorm2D(4), mn.Dense(4, 3, seed=3)
    x = mn.Input((2, 5, 7))
    h = mn.ReLU()(bn(convs[0](x)))
    h = mn.Add()([h, convs[2](mn.ReLU()(convs[1](h)))])
    model = mn.Graph(inputs=x, outputs=dense(mn.GlobalAvgPool2D()(mn.ReLU()(h))))
    net = _ResidualCNN(convs, bn, dense)
    X = np.random.default_rng(1).standard_normal((4, 2, 5, 7))
    xt = torch.from_numpy(X.copy()).requires_grad_()
    out, expected = model.forward(X), net(xt)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
    grad = np.random.default_rng(2).standard_normal(out.shape)
    expected.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(model.backward(grad), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    pairs = [(c.W, t.weight) for c, t in zip(convs, net.convs)] + [(c.b, t.bias) for c, t in zip(convs, net.convs)]
    pairs += [(bn.gamma, net.bn.weight), (bn.beta, net.bn.bias), (dense.b, net.linear.bias)]
    for p, tp in pairs:
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=p.name)
    np.testing.assert_allclose(dense.W.grad, net.linear.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
