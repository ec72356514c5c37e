"""examples/universal_approximation.py and examples/two_moons.py: each answers --help, runs headless
with small settings, prints its table and writes its plots."""

import re

import numpy as np
import pytest
from rows import row


def table_rows(output, header_start):
    """The rows printed under the header line that starts with ``header_start``, up to a blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header_start))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("saved "):
            break
        rows.append(line)
    return lines[start], rows


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    import matplotlib.pyplot as plt

    height, width = plt.imread(path).shape[:2]
    assert height > 300 and width > 400


@pytest.mark.parametrize(
    "name, flags",
    [
        ("universal_approximation", ["--widths", "--epochs", "--seed", "--out", "--show"]),
        ("two_moons", ["--noise", "--epochs", "--seed", "--out", "--show"]),
    ],
)
def test_each_example_answers_help(name, flags, tmp_path, run_example_script):
    done = run_example_script(name, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
    for flag in flags:
        assert flag in done.stdout
    assert not list(tmp_path.iterdir())  # --help trains nothing and writes nothing


@pytest.mark.parametrize(
    "name, flags, message",
    [
        ("universal_approximation", ["--widths", "4", "0"], "--widths must all be at least 1"),
        ("universal_approximation", ["--lr", "nan"], "--lr must be a positive number"),
        ("two_moons", ["--noise", "-0.1"], "--noise must be a non-negative number"),
        ("two_moons", ["--held-out", "1"], "--held-out must be a fraction"),
    ],
)
def test_each_example_refuses_a_bad_flag_by_name(name, flags, message, tmp_path, run_example_script):
    done = run_example_script(name, *flags, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()


def test_universal_approximation_prints_its_table_and_writes_its_plots(tmp_path, run_example_script):
    done = run_example_script(
        "universal_approximation",
        "--widths",
        "1",
        "4",
        "--epochs",
        "40",
        "--samples",
        "60",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    header, rows = table_rows(done.stdout, "width")
    assert header.split() == ["width", "parameters", "train", "MSE", "held-out", "MSE"]
    cells = [line.split() for line in rows]
    assert [(int(c[0]), int(c[1])) for c in cells] == [(1, 4), (4, 13)]  # 3 k + 1 parameters
    for c in cells:
        assert all(np.isfinite(float(v)) and float(v) >= 0 for v in c[2:])
    assert "60 training points, 1001 held-out grid points" in done.stdout
    for png in ("universal_approximation.png", "universal_approximation_error.png"):
        assert_png(tmp_path / "out" / png)
    assert not re.search(r"\btest\b|validation", done.stdout)  # the held-out set has one name


@row("plot-two-moons-one-row-per-network")
def test_two_moons_prints_its_table_and_writes_its_plot(tmp_path, run_example_script):
    done = run_example_script(
        "two_moons",
        "--samples",
        "60",
        "--epochs",
        "60",
        "--deep-epochs",
        "3",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    header, rows = table_rows(done.stdout, "network")
    assert header.split() == ["network", "train", "loss", "train", "acc", "held-out", "loss", "held-out", "acc"]
    assert [line[:30].strip() for line in rows] == [
        "article 2-16-1 sigmoid",
        "deeper 2-32-32-1 ReLU",
        "deeper 2-64-64-64-1 ReLU",
    ]
    for line in rows:
        train_loss, train_acc, held_loss, held_acc = map(float, line[30:].split())
        assert train_loss > 0 and held_loss > 0 and 0 <= train_acc <= 1 and 0 <= held_acc <= 1
    assert "42 training and 18 held-out points" in done.stdout
    assert_png(tmp_path / "out" / "two_moons.png")
    import matplotlib.pyplot as plt

    # One row per network, two panels wide: a page's text column shows it at full size.
    height, width = plt.imread(tmp_path / "out" / "two_moons.png").shape[:2]
    assert height > width
    assert not re.search(r"\btest\b|validation", done.stdout)


def test_make_moons_draws_two_seeded_interleaving_arcs(load_example):
    make_moons = load_example("two_moons").make_moons
    X, y = make_moons(101, 0.0, np.random.default_rng(0))
    assert X.shape == (101, 2) and y.shape == (101,)
    assert (y == 0).sum() == 50 and (y == 1).sum() == 51
    upper, lower = X[y == 0], X[y == 1]
    # Without noise every point is on its unit half circle: the upper one around (0, 0) opening
    # downwards, the lower one around (1, 0.5) opening upwards.
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(*(lower - [1.0, 0.5]).T), 1.0)
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()
    again, _ = make_moons(101, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(X, again)
    noisy, _ = make_moons(101, 0.2, np.random.default_rng(0))
    spread = np.hypot(*noisy[y == 0].T) - 1.0
    assert 0.1 < spread.std() < 0.3


def test_the_universal_approximation_network_is_a_sum_of_sigmoids(load_example):
    example = load_example("universal_approximation")
    model = example.one_hidden_layer(3, seed=0)
    dense1, _, dense2 = model.layers
    x = np.linspace(-3, 3, 7).reshape(-1, 1)
    units = 1 / (1 + np.exp(-(x @ dense1.W.value + dense1.b.value)))
    np.testing.assert_allclose(model.predict(x), units @ dense2.W.value + dense2.b.value)
    # Seeded by (seed, width) alone: a network is the same whatever other widths run before it.
    example.one_hidden_layer(5, seed=0)
    np.testing.assert_array_equal(example.one_hidden_layer(3, seed=0).layers[0].W.value, dense1.W.value)
    assert not np.array_equal(example.one_hidden_layer(3, seed=1).layers[0].W.value, dense1.W.value)
    np.testing.assert_allclose(example.target(np.array([0.0, np.pi / 3])), [0.0, 0.3 * (np.pi / 3) ** 2], atol=1e-15)
