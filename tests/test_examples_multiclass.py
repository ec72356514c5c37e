"""examples/digits.py and examples/mnist.py: each answers --help, refuses a bad flag by name, runs headless,
prints its tables and writes its plots; the networks are the ones the docstrings describe."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minnet as mn
from minnet.datasets.mnist import MNIST_FILES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MNIST = (Path(os.environ["MINNET_DATA"]) / "mnist" if os.environ.get("MINNET_DATA")
         else ROOT.parent / "shared" / "data" / "mnist")
needs_mnist = pytest.mark.skipif(not all((MNIST / name).is_file() for name in MNIST_FILES),
                                 reason=f"the MNIST files are not in {MNIST}")


def run(name, *flags, cwd):
    """Run ``examples/<name>.py`` in a fresh interpreter, headless; returns the finished process."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *flags], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def load(name):
    """The example as a module, to test its helpers without running it."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tables(output, header_start):
    """Every block of rows printed under a header line that starts with ``header_start``, up to a blank line."""
    lines = output.splitlines()
    found = []
    for start, line in enumerate(lines):
        if line.split()[:1] == [header_start]:
            rows = []
            for row in lines[start + 1:]:
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


def check_output(stdout, epochs, out, prefix, floor):
    """The per-epoch tables, the comparison table, the test accuracy and the four PNGs of one run."""
    per_epoch = tables(stdout, "epoch")
    assert len(per_epoch) == 2  # one per network
    for header, rows in per_epoch:
        assert header.split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val", "acc", "seconds"]
        cells = np.array([[float(v) for v in row.split()] for row in rows])
        assert cells.shape == (epochs, 6) and list(cells[:, 0]) == list(range(1, epochs + 1))
        assert np.all(cells[:, 1:5] >= 0) and np.all(cells[:, [2, 4]] <= 1) and np.all(cells[:, 5] > 0)
    [(header, rows)] = tables(stdout, "network")
    assert header.split() == ["network", "parameters", "s/epoch", "train", "loss", "train", "acc", "val", "loss",
                              "val", "acc", "test", "loss", "test", "acc"]
    assert [row[:24].strip() for row in rows] == ["plain, SGD", "regularised, SGD"]
    accuracy = float(re.search(r"Test accuracy of the plain network: ([0-9.]+)", stdout).group(1))
    assert accuracy == float(rows[0].split()[-1])  # the table's test accuracy of the plain network
    assert accuracy >= floor
    for png in ("history", "compare", "confusion", "misclassified"):
        assert_png(out / f"{prefix}_{png}.png")
    # The held-out sets keep their names: the validation split per epoch, the test set at the end.
    assert "held-out" not in stdout
    return accuracy


@pytest.mark.parametrize("name, flags", [
    ("digits", ["--epochs", "--optimizer", "--batch-size", "--seed", "--out", "--show"]),
    ("mnist", ["--data", "--epochs", "--optimizer", "--batch-size", "--seed", "--limit", "--out", "--show"]),
])
def test_each_example_answers_help(name, flags, tmp_path):
    done = run(name, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
    for flag in flags:
        assert flag in done.stdout
    assert not list(tmp_path.iterdir())  # --help trains nothing and writes nothing


@pytest.mark.parametrize("name, flags, message", [
    ("digits", ["--epochs", "0"], "--epochs must be at least 1"),
    ("digits", ["--lr", "nan"], "--lr must be a positive number"),
    ("mnist", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ("mnist", ["--limit", "5"], "--limit must be at least 20"),
    ("mnist", ["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
])
def test_each_example_refuses_a_bad_flag_by_name(name, flags, message, tmp_path):
    done = run(name, *flags, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_digits_trains_both_networks_prints_its_tables_and_writes_its_plots(tmp_path):
    done = run("digits", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Digits: 1,293 training, 144 validation and 360 test images" in done.stdout
    check_output(done.stdout, 20, tmp_path / "out", "digits", floor=0.95)


@needs_mnist
def test_mnist_trains_one_epoch_on_a_subset_prints_its_tables_and_writes_its_plots(tmp_path):
    done = run("mnist", "--data", str(MNIST), "--epochs", "1", "--limit", "5000",
               "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MNIST: 4,500 training, 500 validation (the last 10% of the training images) and 5,000 test" \
           in done.stdout
    check_output(done.stdout, 1, tmp_path / "out", "mnist", floor=0.75)  # 35 steps: 0.84 with seed 0


def test_mnist_says_where_to_put_the_files_when_they_are_missing(tmp_path, monkeypatch):
    """Offline and without the files: an error naming the folder, no traceback, nothing trained."""
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    # A proxy that refuses every connection makes the download fail at once, as offline.
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
    done = subprocess.run([sys.executable, str(EXAMPLES / "mnist.py"), "--data", str(folder),
                           "--out", str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: MNIST files are missing from") and str(folder) in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name, widths, n_params", [
    ("mnist", [784, 256, 128, 10], 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),
    ("digits", [64, 128, 64, 10], 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10),
])
def test_the_plain_network_is_the_relu_mlp_the_docstring_names(name, widths, n_params):
    model = load(name).network(widths, seed=0)
    assert [type(layer).__name__ for layer in model] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert [(layer.n_in, layer.n_out) for layer in model if isinstance(layer, mn.Dense)] == list(
        zip(widths[:-1], widths[1:]))
    assert sum(p.size for p in model.parameters()) == n_params
    assert model.dtype == (np.float32 if name == "mnist" else np.float64)


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_the_regularised_network_adds_batchnorm_and_dropout_to_the_same_weights(name):
    example = load(name)
    widths = [12, 8, 6, 3]
    plain, regularised = example.network(widths, seed=3), example.network(widths, seed=3, regularised=True)
    assert [type(layer).__name__ for layer in regularised] == [
        "Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "BatchNorm", "ReLU", "Dropout", "Dense"]
    dense = [layer for layer in regularised if isinstance(layer, mn.Dense)]
    assert [layer.b is None for layer in dense] == [True, True, False]  # BatchNorm's beta is the bias
    for ours, theirs in zip(dense, (layer for layer in plain if isinstance(layer, mn.Dense))):
        np.testing.assert_array_equal(ours.W.value, theirs.W.value)
    assert not np.array_equal(example.network(widths, seed=4).layers[0].W.value, dense[0].W.value)
