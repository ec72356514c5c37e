"""PyTorch as the oracle for graphs: skips, concats, shared layers, several inputs and outputs.

Each case builds a minnet Graph and writes the same network by hand as a
``torch.nn.Module`` (its forward in torch code, not translated from minnet's
nodes), with the same weights: minnet's ``W`` is ``(n_in, n_out)``, torch's
``Linear.weight`` is ``(out, in)``, so it is copied transposed. Autograd then
differentiates the torch twin independently of minnet's reverse walk, its
fan-out sums and its shared-layer bookkeeping. All in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import minnet as mn

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Both sides do the same float64 operations, but not always in the same order
# (BLAS blocking, the order fan-out terms are summed in), so they agree to a
# few ulps rather than bit for bit. atol covers elements that cancel to ~0.
VALUES = dict(rtol=1e-12, atol=1e-14)


# -- the cases: a minnet graph, its Dense layers by name, and the torch twin's forward ------


def skip():
    """A residual block: h + tanh(h W + b), h feeding both the Add and the Dense."""
    d = {"inp": mn.Dense(5, 6, init="he", seed=0), "res": mn.Dense(6, 6, seed=1), "out": mn.Dense(6, 1, seed=2)}
    x = mn.Input(5)
    h = mn.ReLU()(d["inp"](x))
    h = mn.Add()([h, mn.Tanh()(d["res"](h))])
    return mn.Graph(x, d["out"](h)), d


def skip_torch(L, x):
    h = F.relu(L["inp"](x))
    h = h + torch.tanh(L["res"](h))
    return L["out"](h)


def concat():
    """Three branches side by side, one of them the input itself (so the input fans out three ways)."""
    d = {"a": mn.Dense(5, 4, seed=3), "b": mn.Dense(5, 3, bias=False, seed=4), "out": mn.Dense(12, 2, seed=5)}
    x = mn.Input(5)
    z = mn.Concat()([mn.Tanh()(d["a"](x)), mn.Sigmoid()(d["b"](x)), x])
    return mn.Graph(x, d["out"](z)), d


def concat_torch(L, x):
    z = torch.cat([torch.tanh(L["a"](x)), torch.sigmoid(L["b"](x)), x], dim=1)
    return L["out"](z)


def shared_in_series():
    """One layer used twice in a row: the second use runs on the first use's output."""
    d = {"inp": mn.Dense(5, 6, seed=6), "shared": mn.Dense(6, 6, seed=7), "out": mn.Dense(6, 1, seed=8)}
    x = mn.Input(5)
    h = mn.Tanh()(d["inp"](x))
    a = d["shared"](h)
    b = d["shared"](mn.LeakyReLU(0.1)(a))
    return mn.Graph(x, d["out"](mn.Add()([a, b]))), d


def shared_in_series_torch(L, x):
    h = torch.tanh(L["inp"](x))
    a = L["shared"](h)
    b = L["shared"](F.leaky_relu(a, 0.1))
    return L["out"](a + b)


def design():
    """DESIGN.md's example: a skip, a layer shared by two parallel branches, a concat."""
    d = {
        "inp": mn.Dense(5, 8, init="he", seed=9),
        "res": mn.Dense(8, 8, init="he", seed=10),
        "shared": mn.Dense(8, 4, seed=11),
        "out": mn.Dense(8, 1, seed=12),
    }
    x = mn.Input(5)
    h = mn.ReLU()(d["inp"](x))
    h = mn.Add()([h, mn.ReLU()(d["res"](h))])
    a, b = d["shared"](h), d["shared"](mn.Tanh()(h))
    return mn.Graph(x, d["out"](mn.Concat()([a, b]))), d


def design_torch(L, x):
    h = F.relu(L["inp"](x))
    h = h + F.relu(L["res"](h))
    a, b = L["shared"](h), L["shared"](torch.tanh(h))
    return L["out"](torch.cat([a, b], dim=1))


def two_in_two_out():
    """Two inputs merged by Add, a layer shared across both inputs' branches, two outputs."""
    d = {
        "a": mn.Dense(3, 4, seed=13),
        "b": mn.Dense(2, 4, seed=14),
        "shared": mn.Dense(4, 4, seed=15),
        "o1": mn.Dense(4, 1, seed=16),
        "o2": mn.Dense(8, 2, seed=17),
    }
    x1, x2 = mn.Input(3, name="a"), mn.Input(2, name="b")
    h = d["shared"](mn.Tanh()(d["a"](x1)))
    g = d["shared"](mn.Sigmoid()(d["b"](x2)))
    s = mn.Add()([h, g])
    return mn.Graph([x1, x2], [d["o1"](s), d["o2"](mn.Concat()([s, h]))]), d


def two_in_two_out_torch(L, x1, x2):
    h = L["shared"](torch.tanh(L["a"](x1)))
    g = L["shared"](torch.sigmoid(L["b"](x2)))
    s = h + g
    return L["o1"](s), L["o2"](torch.cat([s, h], dim=1))


CASES: dict[str, tuple[Callable, Callable]] = {
    "skip": (skip, skip_torch),
    "concat": (concat, concat_torch),
    "shared-in-series": (shared_in_series, shared_in_series_torch),
    "design": (design, design_torch),
    "two-in-two-out": (two_in_two_out, two_in_two_out_torch),
}


class Twin(torch.nn.Module):
    """The torch network: a Linear per named minnet Dense, same weights, wired by ``wiring``."""

    def __init__(self, dense: dict[str, mn.Dense], wiring: Callable) -> None:
        super().__init__()
        self.linears = torch.nn.ModuleDict()
        for name, layer in dense.items():
            linear = torch.nn.Linear(layer.n_in, layer.n_out, bias=layer.b is not None, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.W.value.T.copy()))
                if layer.b is not None:
                    linear.bias.copy_(torch.from_numpy(layer.b.value))
            self.linears[name] = linear
        self.wiring = wiring

    def forward(self, *xs):
        return self.wiring(self.linears, *xs)


def build(case: str, seed: int = 0):
    """The minnet graph (biases made non-zero, so they matter), its Dense layers and the torch twin."""
    make, wiring = CASES[case]
    model, dense = make()
    gen = np.random.default_rng(100 + seed)
    for layer in dense.values():
        if layer.b is not None:
            layer.b.value[...] = 0.3 * gen.standard_normal(layer.b.shape)
    return model, dense, Twin(dense, wiring)


def inputs_for(model: mn.Graph, n: int, seed: int) -> list[np.ndarray]:
    gen = np.random.default_rng(seed)
    return [1.5 * gen.standard_normal((n, width)) for width in model.input_widths()]


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def pairs(dense: dict[str, mn.Dense], twin: Twin, attribute: str):
    """(minnet array, torch array in minnet's layout, label) for every parameter's value or gradient."""
    for name, layer in dense.items():
        linear = twin.linears[name]
        if attribute == "grad":
            yield layer.W.grad, linear.weight.grad.numpy().T, f"{name}.W.grad"
            if layer.b is not None:
                yield layer.b.grad, linear.bias.grad.numpy(), f"{name}.b.grad"
        else:
            yield layer.W.value, linear.weight.detach().numpy().T, f"{name}.W"
            if layer.b is not None:
                yield layer.b.value, linear.bias.detach().numpy(), f"{name}.b"


def test_every_case_names_every_parameter_of_its_graph():
    """The comparisons below cover all of a graph's parameters, each once (a shared layer once)."""
    for case in CASES:
        model, dense, _ = build(case)
        listed = [id(p) for layer in dense.values() for p in layer.parameters()]
        assert sorted(listed) == sorted(id(p) for p in model.parameters()), case


# -- outputs, input gradients, parameter gradients ---------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", list(CASES))
def test_outputs_and_every_gradient_equal_torch(case, seed):
    model, dense, twin = build(case, seed)
    xs = inputs_for(model, 11, seed)
    outs = as_list(model.forward(xs[0] if len(xs) == 1 else xs))
    gen = np.random.default_rng(seed + 50)
    upstream = [gen.standard_normal(out.shape) for out in outs]
    dxs = as_list(model.backward(upstream[0] if len(outs) == 1 else upstream))

    txs = [torch.from_numpy(x.copy()).requires_grad_(True) for x in xs]
    t_outs = as_list(twin(*txs))
    torch.autograd.backward(t_outs, [torch.from_numpy(g) for g in upstream])

    assert len(outs) == len(t_outs) and len(dxs) == len(txs)
    for out, t_out in zip(outs, t_outs):
        np.testing.assert_allclose(out, t_out.detach().numpy(), **VALUES)
    for dx, tx in zip(dxs, txs):
        np.testing.assert_allclose(dx, tx.grad.numpy(), **VALUES)
    for mine, theirs, label in pairs(dense, twin, "grad"):
        np.testing.assert_allclose(mine, theirs, **VALUES, err_msg=label)


def test_an_output_the_loss_ignores_gets_the_gradient_torch_gives_without_it():
    """backward([G1, None]) is backpropagating G1 alone: torch's o1.backward(G1)."""
    model, dense, twin = build("two-in-two-out")
    xs = inputs_for(model, 9, 3)
    o1, _ = model.forward(xs)
    g1 = np.random.default_rng(4).standard_normal(o1.shape)
    dxs = model.backward([g1, None])

    txs = [torch.from_numpy(x.copy()).requires_grad_(True) for x in xs]
    t_o1, _ = twin(*txs)
    t_o1.backward(torch.from_numpy(g1))
    for dx, tx in zip(dxs, txs):
        np.testing.assert_allclose(dx, tx.grad.numpy(), **VALUES)
    # o2's own layer reaches no loss: torch leaves its grad unset, minnet writes zeros.
    assert twin.linears["o2"].weight.grad is None
    assert not dense["o2"].W.grad.any() and not dense["o2"].b.grad.any()
    for name in ("a", "b", "shared", "o1"):
        layer, linear = dense[name], twin.linears[name]
        np.testing.assert_allclose(layer.W.grad, linear.weight.grad.numpy().T, **VALUES)
        np.testing.assert_allclose(layer.b.grad, linear.bias.grad.numpy(), **VALUES)


# -- 30 steps of SGD with momentum through fit ------------------------------------------------


def targets_for(model: mn.Graph, xs: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """A 0/1 label per row for the first output; a real (n, width) target for a second."""
    gen = np.random.default_rng(seed)
    labels = ((xs[0][:, 0] - 0.5 * xs[0][:, 1] + 0.3 * gen.standard_normal(len(xs[0]))) > 0).astype(float)
    ys = [labels.reshape(-1, 1) if model.n_outputs == 1 else labels]
    if model.n_outputs == 2:
        ys.append(np.tanh(xs[-1] @ gen.standard_normal((xs[-1].shape[1], 2))))
    return ys


@pytest.mark.parametrize("batch_size", [None, 10])
@pytest.mark.parametrize("case", list(CASES))
def test_30_sgd_steps_through_fit_give_torchs_weights(case, batch_size):
    """fit(shuffle=False) against torch.optim.SGD on the same batches, in order, and the same loss.

    One output: BCE on logits (MSE when it has two columns). Two outputs:
    BCE on logits for the first, MSE for the second, weighted 1.0 and 0.5.
    """
    model, dense, twin = build(case)
    n = 50
    xs = inputs_for(model, n, 7)
    ys = targets_for(model, xs, 8)
    epochs = 30 if batch_size is None else 6  # 30 full batches, or 6 epochs of 5 batches of 10
    two_columns = model.n_outputs == 1 and model.predict(xs[0][:1]).shape[1] == 2
    if model.n_outputs == 2:
        losses, weights = [mn.BCE(from_logits=True), mn.MSE()], [1.0, 0.5]
    elif two_columns:
        ys = [np.tanh(xs[0][:, :2])]
        losses, weights = mn.MSE(), None
    else:
        losses, weights = mn.BCE(from_logits=True), None

    config = dict(lr=0.1, momentum=0.9)
    optimizer = mn.SGD(model.parameters(), **config)
    mn.fit(
        model,
        losses,
        optimizer,
        xs[0] if len(xs) == 1 else xs,
        ys[0] if len(ys) == 1 else ys,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        loss_weights=weights,
        progress=False,
    )

    bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()

    def torch_loss(t_outs, t_ys):
        if model.n_outputs == 2:
            return 1.0 * bce(t_outs[0], t_ys[0].reshape(-1, 1)) + 0.5 * mse(t_outs[1], t_ys[1])
        return (mse if two_columns else bce)(t_outs[0], t_ys[0])

    t_opt = torch.optim.SGD(twin.parameters(), **config)
    txs, tys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(y) for y in ys]
    step = batch_size or n
    for _ in range(epochs):
        for start in range(0, n, step):
            rows = slice(start, start + step)
            t_opt.zero_grad()
            torch_loss(as_list(twin(*[x[rows] for x in txs])), [y[rows] for y in tys]).backward()
            t_opt.step()

    assert optimizer.step_count == 30
    initial, _, _ = build(case)
    assert not np.allclose(model.parameters()[0].value, initial.parameters()[0].value)  # it did train
    for mine, theirs, label in pairs(dense, twin, "value"):
        np.testing.assert_allclose(mine, theirs, **VALUES, err_msg=label)
