"""examples/diagnose.py: it runs, writes its picture, and what it says of the three networks holds."""

from __future__ import annotations

import itertools

import pytest

import minnet as mn
from conftest import _load_example as load_example

diagnose = load_example("diagnose")
SMALL, XAVIER, RELU = diagnose.NETWORKS  # their labels


@pytest.fixture(scope="module")
def trained():
    """The three networks after two epochs, as the script trains them."""
    args = diagnose.parse_args(["--epochs", "2", "--no-progress"])
    X, y = mn.datasets.load_digits()
    X_train, X_test, y_train, y_test = mn.data.train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    scaler = mn.data.Standardizer().fit(X_train)
    return diagnose.train_all(args, scaler.transform(X_train), y_train, (scaler.transform(X_test), y_test))


def test_the_three_networks_differ_only_in_activation_and_initial_weights():
    shapes = []
    for activation, init in diagnose.NETWORKS.values():
        model = diagnose.network(activation, init, depth=8, width=64, seed=0)
        shapes.append([p.value.shape for p in model.parameters()])
        assert sum(isinstance(layer, activation) for layer in model) == 8
    assert shapes[0] == shapes[1] == shapes[2] and len(shapes[0]) == 18


def test_small_weights_make_the_gradient_vanish_layer_by_layer(trained):
    small, relu = trained[SMALL], trained[RELU]
    grads = small.grad_ratios()
    assert all(a < b / 10 for a, b in itertools.pairwise(grads[:-1]))  # each hidden layer's 10 times below the next
    assert grads[0] < 1e-9 * grads[-1]
    assert small.grad_ratios()[0] < 1e-9 * relu.grad_ratios()[0]  # orders of magnitude below the good network's
    assert max(small.activation_std()) < 0.03  # every sigmoid outputs about 0.5, whatever the image


def test_xavier_keeps_the_spread_but_the_sigmoids_still_shrink_the_gradient(trained):
    small, xavier = trained[SMALL], trained[XAVIER]
    assert min(xavier.activation_std()) > 3 * max(small.activation_std())
    first, last = xavier.grad_ratios()[0], xavier.grad_ratios()[-1]
    assert 1e-7 * last < first < 1e-3 * last


def test_relu_with_he_weights_keeps_the_gradient_level_and_learns(trained):
    small, xavier, relu = trained[SMALL], trained[XAVIER], trained[RELU]
    grads = relu.grad_ratios()
    assert max(grads) < 10 * min(grads)
    assert relu.history["val_accuracy"][-1] > 0.7
    assert small.history["val_accuracy"][-1] < 0.2 and xavier.history["val_accuracy"][-1] < 0.2


def test_the_table_has_a_row_per_network(trained):
    lines = diagnose.table(trained).splitlines()
    assert lines[0].split()[:3] == ["network", "grad/W", "first"]
    assert [line.startswith(label) for line, label in zip(lines[1:], diagnose.NETWORKS)] == [True] * 3


def test_the_picture_titles_each_column_with_its_gradients_fall(trained):
    import matplotlib

    matplotlib.use("Agg")
    fig = diagnose.picture(trained, depth=8, width=64)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith('sigmoid, init="normal"\nfirst layer\'s gradient\n$10^{-1')
    assert titles[2] == "ReLU, init=\"he\"\nfirst layer's gradient\nas large as the last's"
    assert {ax.get_yscale() for ax in fig.axes[:9]} == {"log"}  # the spreads span decades, as do the ratios


def test_diagnose_py_prints_its_table_and_writes_its_picture(tmp_path, run_example):
    printed = run_example("diagnose", tmp_path, "--epochs", "1", "--depth", "3", "--width", "8")
    assert "3 hidden layers of 8 units, 1 epoch each" in printed
    assert all(label in printed for label in diagnose.NETWORKS)
    assert (tmp_path / "diagnose.png").stat().st_size > 0


@pytest.mark.parametrize(
    "flags, message",
    [(["--depth", "0"], "--depth must be at least 1"), (["--lr", "-1"], "--lr must be a positive number")],
)
def test_diagnose_py_refuses_a_bad_flag_by_name(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        diagnose.parse_args(flags)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_orders_reads_a_ratio_as_a_power_of_ten():
    assert diagnose.orders(1.2e-11) == "first layer's gradient\n$10^{-11}$ \u00d7 the last's"
    assert diagnose.orders(2.0) == "first layer's gradient\nas large as the last's"
    assert diagnose.orders(0.0) == "first layer's gradient 0"
