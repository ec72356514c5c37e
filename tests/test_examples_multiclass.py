"""examples/digits.py and examples/mnist.py: each answers --help, refuses a bad flag by name, runs headless,
prints its tables and writes its plots; the networks and optimizers are the ones the docstrings describe, built
by the module the two share, examples/_classify.py."""

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minnet as mn
from conftest import _load_example as load_example
from minnet.datasets.mnist import MNIST_FILES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MNIST = (
    Path(os.environ["MINNET_DATA"]) / "mnist"
    if os.environ.get("MINNET_DATA")
    else ROOT.parent / "shared" / "data" / "mnist"
)
needs_mnist = pytest.mark.skipif(
    not all((MNIST / name).is_file() for name in MNIST_FILES), reason=f"the MNIST files are not in {MNIST}"
)


def run(name, *flags, cwd, script=None):
    """Run ``examples/<name>.py`` in a fresh interpreter, headless; returns the finished process.

    Only the repository is on PYTHONPATH, not ``examples/``: the example must find ``_classify`` by itself,
    from any working directory.
    """
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, script or str(EXAMPLES / f"{name}.py"), *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


classify = load_example("_classify")


def tables(output, header_start):
    """Every block of rows printed under a header line that starts with ``header_start``, up to a blank line."""
    lines = output.splitlines()
    found = []
    for start, line in enumerate(lines):
        if line.split()[:1] == [header_start]:
            rows = []
            for row in lines[start + 1 :]:
                if not row.strip() or row.startswith("saved "):
                    break
                rows.append(row)
            found.append((line, rows))
    return found


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    import matplotlib.pyplot as plt

    height, width = plt.imread(path).shape[:2]
    assert height > 300 and width > 400


def check_output(stdout, epochs, out, prefix, floor, optimizer="Adam"):
    """The per-epoch tables, the comparison table, the test accuracies and the four PNGs of one run.

    ``floor`` is the least test accuracy of each network; ``optimizer`` names the regularised one's.
    Returns the two test accuracies, plain network first.
    """
    per_epoch = tables(stdout, "epoch")
    assert len(per_epoch) == 2  # one per network
    for header, rows in per_epoch:
        assert header.split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val", "acc", "seconds"]
        cells = np.array([[float(v) for v in row.split()] for row in rows])
        assert cells.shape == (epochs, 6) and list(cells[:, 0]) == list(range(1, epochs + 1))
        assert np.all(cells[:, 1:5] >= 0) and np.all(cells[:, [2, 4]] <= 1) and np.all(cells[:, 5] > 0)
    [(header, rows)] = tables(stdout, "network")
    assert header.split() == [
        "network",
        "parameters",
        "s/epoch",
        "train",
        "loss",
        "train",
        "acc",
        "val",
        "loss",
        "val",
        "acc",
        "test",
        "loss",
        "test",
        "acc",
    ]
    assert [row[:24].strip() for row in rows] == ["plain, SGD", f"regularised, {optimizer}"]
    accuracies = [float(row.split()[-1]) for row in rows]
    accuracy = float(re.search(r"Test accuracy of the plain network: ([0-9.]+)", stdout).group(1))
    assert accuracy == accuracies[0]  # the table's test accuracy of the plain network
    assert min(accuracies) >= floor
    for png in ("history", "compare", "confusion", "misclassified"):
        assert_png(out / f"{prefix}_{png}.png")
    # The held-out sets keep their names: the validation split per epoch, the test set at the end.
    assert "held-out" not in stdout
    return accuracies


@pytest.mark.parametrize(
    "name, flags",
    [
        ("digits", ["--epochs", "--optimizer", "--lr", "--adam-lr", "--batch-size", "--seed", "--out", "--show"]),
        (
            "mnist",
            [
                "--data",
                "--epochs",
                "--optimizer",
                "--lr",
                "--adam-lr",
                "--batch-size",
                "--seed",
                "--limit",
                "--out",
                "--show",
            ],
        ),
    ],
)
def test_each_example_answers_help(name, flags, tmp_path):
    done = run(name, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
    for flag in flags:
        assert flag in done.stdout
    assert "{sgd,adam,adamw,rmsprop}" in done.stdout  # --optimizer's choices
    assert re.search(r"optimizer of the regularised network\s+\(default adam\)", done.stdout)
    assert not list(tmp_path.iterdir())  # --help trains nothing and writes nothing


def test_the_examples_run_from_the_repository_by_a_relative_path():
    """The README's way, ``python examples/digits.py``: _classify is found next to the script."""
    done = run("digits", "--help", cwd=ROOT, script="examples/digits.py")
    assert done.returncode == 0, done.stderr
    assert "--adam-lr" in done.stdout


@pytest.mark.parametrize(
    "name, flags, message",
    [
        ("digits", ["--epochs", "0"], "--epochs must be at least 1"),
        ("digits", ["--lr", "nan"], "--lr must be a positive number"),
        ("digits", ["--adam-lr", "0"], "--adam-lr must be a positive number, got 0.0"),
        ("mnist", ["--adam-lr", "nan"], "--adam-lr must be a positive number"),
        ("digits", ["--optimizer", "ADAM"], "invalid choice: 'ADAM'"),
        ("mnist", ["--batch-size", "0"], "--batch-size must be at least 1"),
        ("mnist", ["--limit", "5"], "--limit must be at least 20"),
        ("mnist", ["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    ],
)
def test_each_example_refuses_a_bad_flag_by_name(name, flags, message, tmp_path):
    done = run(name, *flags, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_digits_trains_both_networks_prints_its_tables_and_writes_its_plots(tmp_path):
    done = run("digits", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Digits: 1,293 training, 144 validation and 360 test images" in done.stdout
    check_output(done.stdout, 20, tmp_path / "out", "digits", floor=0.95)  # 0.9694 and 0.9667 with seed 0
    # The regularised network trains by Adam under a one-cycle rate peaking at --adam-lr's default.
    assert re.search(r"^Adam\(<8 parameters>, lr=OneCycle\(max_lr=0\.005, total_steps=820,", done.stdout, re.MULTILINE)
    assert "dtype=np.float32" not in done.stdout  # float64, unlike MNIST


@pytest.mark.parametrize("optimizer, shown", [("sgd", "SGD"), ("adamw", "AdamW"), ("rmsprop", "RMSprop")])
def test_digits_trains_the_regularised_network_by_the_optimizer_named(optimizer, shown, tmp_path):
    done = run(
        "digits",
        "--optimizer",
        optimizer,
        "--epochs",
        "2",
        "--lr",
        "0.05",
        "--adam-lr",
        "0.004",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    check_output(done.stdout, 2, tmp_path / "out", "digits", floor=0.5, optimizer=shown)
    peaks = re.findall(r"^(\w+)\(<\d+ parameters>, lr=OneCycle\(max_lr=([0-9.]+),", done.stdout, re.MULTILINE)
    # --lr is SGD's peak, the plain network's and the regularised one's with sgd; --adam-lr the others'.
    assert peaks == [("SGD", "0.05"), (shown, "0.05" if optimizer == "sgd" else "0.004")]


@needs_mnist
def test_mnist_trains_one_epoch_on_a_subset_prints_its_tables_and_writes_its_plots(tmp_path):
    done = run(
        "mnist", "--data", str(MNIST), "--epochs", "1", "--limit", "5000", "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "MNIST: 4,500 training, 500 validation (the last 10% of the training images) and 5,000 test" in done.stdout
    check_output(done.stdout, 1, tmp_path / "out", "mnist", floor=0.75)  # 36 steps: 0.84 and 0.86 with seed 0
    assert "Dense(784, 256, init='he', dtype=np.float32)" in done.stdout


def test_mnist_says_where_to_put_the_files_when_they_are_missing(tmp_path, monkeypatch):
    """Offline and without the files: an error naming the folder, no traceback, nothing trained."""
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    # A proxy that refuses every connection makes the download fail at once, as offline.
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "mnist.py"), "--data", str(folder), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: MNIST files are missing from") and str(folder) in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "widths, dtype, n_params",
    [
        ([784, 256, 128, 10], np.float32, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),  # MNIST's
        ([64, 128, 64, 10], np.float64, 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10),  # the digits'
    ],
)
def test_the_plain_network_is_the_relu_mlp_the_docstrings_name(widths, dtype, n_params):
    model = classify.network(widths, seed=0, dtype=dtype)
    assert [type(layer).__name__ for layer in model] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert [(layer.n_in, layer.n_out) for layer in model if isinstance(layer, mn.Dense)] == list(
        itertools.pairwise(widths)
    )
    assert sum(p.size for p in model.parameters()) == n_params
    assert model.dtype == dtype


def test_the_regularised_network_adds_batchnorm_and_dropout_to_the_same_weights():
    widths = [12, 8, 6, 3]
    plain, regularised = classify.network(widths, seed=3), classify.network(widths, seed=3, regularised=True)
    assert [type(layer).__name__ for layer in regularised] == [
        "Dense",
        "BatchNorm",
        "ReLU",
        "Dropout",
        "Dense",
        "BatchNorm",
        "ReLU",
        "Dropout",
        "Dense",
    ]
    dense = [layer for layer in regularised if isinstance(layer, mn.Dense)]
    assert [layer.b is None for layer in dense] == [True, True, False]  # BatchNorm's beta is the bias
    for ours, theirs in zip(dense, (layer for layer in plain if isinstance(layer, mn.Dense))):
        np.testing.assert_array_equal(ours.W.value, theirs.W.value)
    assert not np.array_equal(classify.network(widths, seed=4).layers[0].W.value, dense[0].W.value)


@pytest.mark.parametrize(
    "name, expected, state",
    [
        ("sgd", mn.SGD, "momentum_buffer"),
        ("adam", mn.Adam, "exp_avg_sq"),
        ("adamw", mn.AdamW, "exp_avg_sq"),
        ("rmsprop", mn.RMSprop, "square_avg"),
    ],
)
def test_each_optimizer_name_stands_for_its_optimizer_under_a_one_cycle_rate(name, expected, state):
    model = classify.network([4, 3, 2], seed=0)
    optimizer = classify.optimizer_for(name, model, lr=0.02, total_steps=50)
    assert type(optimizer) is expected
    assert isinstance(optimizer.lr, mn.OneCycle)
    assert (optimizer.lr.max_lr, optimizer.lr.total_steps) == (0.02, 50)
    assert optimizer.lr(int(0.3 * 50) - 1) == pytest.approx(0.02)  # the peak, after 30% of the steps
    assert optimizer.params == model.parameters()
    if name == "sgd":
        assert optimizer.momentum == 0.9
    else:  # the library's defaults (torch's), e.g. AdamW's decoupled decay of 0.01
        assert optimizer.weight_decay == (0.01 if name == "adamw" else 0.0)
    assert state in optimizer.init_state(model.parameters()[0])


def test_an_unknown_optimizer_name_is_refused_by_name():
    with pytest.raises(ValueError, match="got 'lbfgs'"):
        classify.optimizer_for("lbfgs", classify.network([4, 3, 2], seed=0), lr=0.1, total_steps=10)
