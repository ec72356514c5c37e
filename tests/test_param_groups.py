"""Parameter groups: each with its own rates, equal to torch.optim's param groups, checkpointed bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest
from rows import row

import minnet as mn
from conftest import snapshot


def two_groups(seed=0):
    rng = np.random.default_rng(seed)
    body = [mn.Parameter(rng.normal(size=(3, 4)), name="W"), mn.Parameter(rng.normal(size=(4,)), name="b")]
    head = [mn.Parameter(rng.normal(size=(4, 2)), name="V")]
    return body, head


# Each case: the class (the same name in minnet and torch.optim), the groups, the other arguments.
GROUPED = {
    "sgd-momentum": (
        "SGD",
        lambda body, head: [{"params": body, "lr": 0.01, "weight_decay": 0.1}, {"params": head, "momentum": 0.5}],
        {"lr": 0.1, "momentum": 0.9},
    ),
    "adam": (
        "Adam",
        lambda body, head: [{"params": body, "weight_decay": 0.2, "betas": (0.8, 0.99)}, {"params": head}],
        {"lr": 0.01},
    ),
    "adamw": (
        "AdamW",
        lambda body, head: [{"params": body, "lr": 0.002, "weight_decay": 0.5}, {"params": head}],
        {"lr": 0.01},
    ),
    "rmsprop": (
        "RMSprop",
        lambda body, head: [{"params": body, "lr": 0.001, "alpha": 0.9}, {"params": head, "weight_decay": 0.1}],
        {},
    ),
}


@pytest.mark.parametrize("name, groups, kwargs", GROUPED.values(), ids=GROUPED.keys())
def test_parameter_groups_equal_torch_param_groups_over_many_steps(name, groups, kwargs):
    torch = pytest.importorskip("torch")
    body, head = two_groups()
    t_body = [torch.tensor(p.value, requires_grad=True) for p in body]
    t_head = [torch.tensor(p.value, requires_grad=True) for p in head]
    opt = getattr(mn, name)(groups(body, head), **kwargs)
    t_opt = getattr(torch.optim, name)(groups(t_body, t_head), **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(60):
        for p, t in zip(body + head, t_body + t_head):
            p.grad[...] = rng.normal(size=p.shape)
            t.grad = torch.tensor(p.grad.copy())
        opt.step()
        t_opt.step()
    for p, t in zip(body + head, t_body + t_head):
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_each_group_may_follow_its_own_schedule_as_torch_with_a_scheduler_per_group():
    torch = pytest.importorskip("torch")
    body, head = two_groups()
    t_body = [torch.tensor(p.value, requires_grad=True) for p in body]
    t_head = [torch.tensor(p.value, requires_grad=True) for p in head]
    cyclic = mn.CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=7)
    opt = mn.SGD([{"params": body, "lr": cyclic}, {"params": head}], lr=mn.OneCycle(0.1, total_steps=40), momentum=0.9)
    t_opt = torch.optim.SGD([{"params": t_body}, {"params": t_head}], lr=0.1, momentum=0.9)
    rng = np.random.default_rng(2)
    for step in range(40):
        t_opt.param_groups[0]["lr"] = cyclic(step)  # the schedule's values are tested against torch's elsewhere
        t_opt.param_groups[1]["lr"] = opt.rate("lr", step, group=1)
        for p, t in zip(body + head, t_body + t_head):
            p.grad[...] = rng.normal(size=p.shape)
            t.grad = torch.tensor(p.grad.copy())
        opt.step()
        t_opt.step()
    assert opt.rate("lr", 10, group=0) == cyclic(10) != opt.rate("lr", 10, group=1)
    for p, t in zip(body + head, t_body + t_head):
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_a_group_without_a_setting_takes_the_optimizers():
    body, head = two_groups()
    opt = mn.SGD([{"params": body, "lr": 0.01}, {"params": head}], lr=0.1, momentum=0.9)
    assert [opt.hyperparameter("lr", k) for k in (0, 1)] == [0.01, 0.1]
    assert opt.hyperparameter("momentum", 0) == 0.9
    assert opt.params == body + head


def test_the_repr_shows_the_groups():
    body, head = two_groups()
    opt = mn.SGD([{"params": body, "lr": 0.01}, {"params": head}], lr=0.1, momentum=0.9)
    assert repr(opt) == "SGD([{<2 parameters>, lr=0.01}, {<1 parameters>}], lr=0.1, momentum=0.9)"
    assert repr(mn.SGD(body, lr=0.1)) == "SGD(<2 parameters>, lr=0.1)"


def test_set_hyperparameter_changes_one_group_or_all_and_checks_the_value():
    body, head = two_groups()
    opt = mn.SGD([{"params": body, "lr": 0.01}, {"params": head}], lr=0.1)
    opt.set_hyperparameter("lr", 0.05, group=1)
    assert [opt.rate("lr", group=k) for k in (0, 1)] == [0.01, 0.05]
    opt.set_hyperparameter("lr", 0.2)
    assert [opt.rate("lr", group=k) for k in (0, 1)] == [0.2, 0.2] and opt.lr == 0.2
    with pytest.raises(ValueError, match="parameter group 0: lr must be >= 0.0, got -1"):
        opt.set_hyperparameter("lr", -1.0, group=0)
    with pytest.raises(ValueError, match=r"group must be an index in \[0, 2\), got 2"):
        opt.set_hyperparameter("lr", 0.1, group=2)
    assert [opt.rate("lr", group=k) for k in (0, 1)] == [0.2, 0.2]


BAD_GROUPS = {
    "optimizer-group-shared-parameter": (
        lambda body, head: mn.SGD([{"params": body}, {"params": body[:1]}], lr=0.1),
        "params holds the same Parameter in two parameter groups",
    ),
    "optimizer-group-unknown-key": (
        lambda body, head: mn.SGD([{"params": body, "learning_rate": 0.1}], lr=0.1),
        r"parameter group 0 has unknown keys \['learning_rate'\]; a group may set \['lr', 'momentum'",
    ),
    "optimizer-group-empty": (
        lambda body, head: mn.Adam([{"params": body}, {"params": []}]),
        "parameter group 1 is empty: the optimizer has nothing to train there",
    ),
    "optimizer-group-no-params": (
        lambda body, head: mn.Adam([{"lr": 0.1}]),
        r"parameter group 0 has no 'params' entry, got the keys \['lr'\]",
    ),
    "optimizer-group-bad-value": (
        lambda body, head: mn.SGD([{"params": body, "momentum": 1.5}], lr=0.1),
        "parameter group 0: momentum must be < 1.0, got 1.5",
    ),
    "optimizer-group-per-optimizer": (
        lambda body, head: mn.Adam([{"params": body, "amsgrad": True}, {"params": head}]),
        r"parameter group 0 sets \['amsgrad'\], which Adam takes for all groups only",
    ),
}


@pytest.mark.parametrize("make, message", BAD_GROUPS.values(), ids=BAD_GROUPS.keys())
def test_bad_groups_are_refused_clearly(make, message):
    body, head = two_groups()
    with pytest.raises(ValueError, match=message):
        make(body, head)


for _row_id in BAD_GROUPS:
    row(_row_id)(test_bad_groups_are_refused_clearly)


def fine_tune_setup(seeds=(0, 1)):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, :1] > 0).astype(float)
    body, head = mn.Dense(3, 4, seed=seeds[0]), mn.Dense(4, 1, seed=seeds[1])
    model = mn.Sequential(body, mn.Tanh(), head, mn.Sigmoid())
    schedule = mn.CyclicLR(base_lr=0.001, max_lr=0.05, step_size_up=5)
    opt = mn.SGD([{"params": body.parameters(), "lr": schedule, "weight_decay": 0.01}, {"params": head.parameters()}],
                 lr=0.2, momentum=0.9)  # fmt: skip
    return model, opt, X, y


def test_a_resumed_run_with_groups_ends_bit_identical_to_an_uninterrupted_one(tmp_path, interrupt_at):
    fit = {"epochs": 4, "batch_size": 8, "seed": 3, "progress": False}
    model_a, opt_a, X, y = fine_tune_setup()
    history_a = mn.fit(model_a, mn.BCE(), opt_a, X, y, **fit)
    model_b, opt_b, X, y = fine_tune_setup()
    path = tmp_path / "run.npz"
    mn.fit(model_b, mn.BCE(), opt_b, X, y, callbacks=[interrupt_at(3), mn.Checkpoint(path)], **fit)
    model_c, opt_c, X, y = fine_tune_setup(seeds=(5, 6))
    history_c = mn.fit(model_c, mn.BCE(), opt_c, X, y, resume=path, **fit)
    assert all(a.tobytes() == c.tobytes() for a, c in zip(snapshot(model_a), snapshot(model_c)))
    assert all(a is c is None or a.tobytes() == c.tobytes() for a, c in zip(opt_a.buffers, opt_c.buffers))
    assert history_c.history == history_a.history


@row("resume-other-groups")
def test_a_resume_with_other_groups_is_refused(tmp_path, interrupt_at):
    model, opt, X, y = fine_tune_setup()
    path = tmp_path / "run.npz"
    fit = {"epochs": 3, "batch_size": 8, "seed": 3, "progress": False}
    mn.fit(model, mn.BCE(), opt, X, y, callbacks=[interrupt_at(2), mn.Checkpoint(path)], **fit)
    model, _, X, y = fine_tune_setup()
    other = mn.SGD(model.parameters(), lr=0.2, momentum=0.9)
    with pytest.raises(ValueError, match="optimizer param_groups"):
        mn.fit(model, mn.BCE(), other, X, y, resume=path, **fit)
