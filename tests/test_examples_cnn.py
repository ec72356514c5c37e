"""examples/mnist_cnn.py: its flags, its network, and a quick run on a few MNIST images that prints its tables and
writes its five pictures."""

import re

import numpy as np
import pytest
from rows import row
from test_examples_multiclass import MNIST, assert_png, needs_mnist, run, tables

import minnet as mn
from conftest import _load_example as load_example

cnn = load_example("mnist_cnn")
PICTURES = ("history", "confusion", "misclassified", "filters", "feature_maps")


def test_mnist_cnn_answers_help_with_its_flags(tmp_path):
    done = run("mnist_cnn", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    flags = ("--data", "--epochs", "--batch-size", "--lr", "--seed", "--limit", "--out", "--show", "--no-progress")
    for flag in flags:
        assert flag in done.stdout
    assert "--optimizer" not in done.stdout and "--adam-lr" not in done.stdout  # one network, trained by Adam
    assert re.search(rf"--epochs EPOCHS\s+epochs of each network \(default {cnn.EPOCHS}\)", done.stdout)
    assert cnn.EPOCHS <= 15
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0"], "--lr must be a positive number, got 0.0"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--limit", "19"], "--limit must be at least 20"),
    ],
)
def test_mnist_cnn_refuses_a_bad_flag_by_name(flags, message, tmp_path):
    done = run("mnist_cnn", *flags, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_network_is_the_one_the_docstring_draws():
    model = cnn.network(seed=0)
    assert [type(layer).__name__ for layer in model] == [
        *("Conv2D", "MaxPool2D", "BatchNorm2D", "ReLU") * 2,
        *("Flatten", "Dropout", "Dense"),
    ]
    assert model.dtype == np.float32
    assert model.predict(np.zeros((3, 1, 28, 28), np.float32)).shape == (3, 10)
    assert sum(p.size for p in model.parameters()) == 32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 1600 * 10 + 10
    np.testing.assert_array_equal(cnn.network(seed=0)[4].W.value, model[4].W.value)
    assert not np.array_equal(cnn.network(seed=1)[0].W.value, model[0].W.value)


@needs_mnist
@row("plot-cnn-maps-column")
def test_mnist_cnn_trains_on_a_few_images_prints_its_tables_and_writes_its_pictures(tmp_path):
    out = tmp_path / "out"
    done = run(
        "mnist_cnn",
        "--data",
        str(MNIST),
        "--epochs",
        "2",
        "--limit",
        "300",
        "--batch-size",
        "32",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "MNIST: 270 training, 30 validation (the last 10% of the training images) and 300 test" in done.stdout
    assert "Conv2D(1, 32, 3, bias=False, dtype=np.float32)" in done.stdout
    [(_, rows)] = tables(done.stdout, "epoch")
    cells = np.array([[float(v) for v in row.split()] for row in rows])
    assert cells.shape == (2, 6) and list(cells[:, 0]) == [1, 2]
    [(_, rows)] = tables(done.stdout, "network")
    assert [row[:24].strip() for row in rows] == ["CNN, Adam"]
    accuracy = float(re.search(r"Test accuracy of the CNN: ([0-9.]+)", done.stdout).group(1))
    assert accuracy == float(rows[0].split()[-1])
    assert accuracy > 0.3  # 18 steps on 270 digits; chance is 0.1
    for name in PICTURES:
        assert_png(out / f"cnn_{name}.png")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"cnn_{name}.png" for name in PICTURES)
    import matplotlib.pyplot as plt

    # Eight maps a row, as wide as a page's text column: the site shows them at full size.
    height, width = plt.imread(out / "cnn_feature_maps.png").shape[:2]
    assert height > width


def test_the_pictures_of_the_network_are_its_first_filters_and_its_conv_outputs():
    model, digit = cnn.network(seed=0), np.random.default_rng(0).random((1, 28, 28), np.float32)
    filters = mn.plot.filters(model[0])
    assert sum(1 for ax in filters.axes if ax.images) == 32
    maps = mn.plot.feature_maps(model, digit)
    assert [sum(1 for ax in sub.axes if ax.images) for sub in maps.subfigs] == [1, 32, 64]
