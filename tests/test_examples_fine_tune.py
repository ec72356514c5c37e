"""examples/fine_tune.py: it runs, prints its table and writes its plot, trains what it says it trains, and on
MNIST shows fine-tuning beating training from scratch at one image per class, beyond the spread."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from rows import row
from test_examples_multiclass import MNIST, needs_mnist

import minnet as mn
from minnet.datasets.mnist import MNIST_FILES

METHODS = ["frozen body", "frozen first layer", "all, slow body", "from scratch"]


@pytest.fixture(scope="module")
def fine_tune(load_example):
    return load_example("fine_tune")


def table(printed: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The printed table: per number of images per class, each method's mean and spread, in METHODS' order."""
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("per class"))
    assert [name.strip() for name in lines[header].split("  ") if name.strip()][1:] == METHODS
    rows = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        count, *cells = line.split()
        assert len(cells) == 12 and cells[1::3] == ["±"] * 4
        rows[int(count)] = np.array(cells[0::3], float), np.array(cells[2::3], float)
    return rows


def test_fine_tune_prints_a_row_per_count_and_writes_its_plot(tmp_path, run_example):
    flags = ["--dataset", "digits", "--shots", "5,1", "--repeats", "2", "--epochs", "20", "--pretrain-epochs", "2"]
    printed = run_example("fine_tune", tmp_path, *flags)
    assert "Digits: 675 training images of 0-4 to pretrain on" in printed
    assert "224 test images of 5-9 to score" in printed
    rows = table(printed)
    assert list(rows) == [1, 5]  # in increasing order
    for means, spreads in rows.values():
        assert np.all((0.2 <= means) & (means <= 1)) and np.all(spreads >= 0)  # above chance, 1 in 5
    assert "At 1 image per class, " in printed and "from scratch beyond the spread" in printed
    assert (tmp_path / "fine_tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_mnist
def test_on_mnist_fine_tuning_beats_scratch_at_one_image_per_class_beyond_the_spread(tmp_path, run_example):
    # All 30,596 images of 0-4 for one epoch, 10 draws of one image per class: about 20 s of CPU.
    flags = ["--data", str(MNIST), "--pretrain-epochs", "1", "--shots", "1", "--repeats", "10"]
    printed = run_example("fine_tune", tmp_path, *flags)
    assert "MNIST: 30,596 training images of 0-4 to pretrain on" in printed
    assert "2,000 test images of 5-9 to score" in printed
    means, spreads = table(printed)[1]
    best = int(np.argmax(means[:3]))
    assert means[best] - spreads[best] > means[3] + spreads[3], printed  # the bands do not touch
    assert f"At 1 image per class, {METHODS[best]} beats from scratch beyond the spread" in printed


def test_the_verdict_says_beyond_the_spread_only_when_the_bands_do_not_touch(fine_tune):
    apart = {name: np.array([[0.5, 0.6, 0.7]]) for name in METHODS[:3]} | {"from scratch": np.array([[0.3, 0.4, 0.5]])}
    assert fine_tune.verdict((1,), apart).splitlines() == [
        "At 1 image per class, frozen body beats from scratch beyond the spread:",
        "0.600 ± 0.058 against 0.400 ± 0.058 (one draw varies more: standard deviations 0.100 and 0.100).",
    ]
    touching = apart | {"all, slow body": np.array([[0.5, 0.8, 0.8]]), "from scratch": np.array([[0.5, 0.6, 0.7]])}
    assert fine_tune.verdict((2,), touching).splitlines()[0] == (
        "At 2 images per class, all, slow body does not beat from scratch beyond the spread:"
    )
    assert fine_tune.verdict((2,), touching).splitlines()[1].startswith("0.700 ± 0.100 against 0.600 ± 0.058 ")


def test_mnist_is_used_only_where_its_four_files_are(fine_tune, tmp_path, monkeypatch):
    monkeypatch.setenv("MINNET_DATA", str(tmp_path))
    assert not fine_tune.mnist_found(None)
    (tmp_path / "mnist").mkdir()
    for name in list(MNIST_FILES)[:3]:
        (tmp_path / "mnist" / name).write_bytes(b"")
    assert not fine_tune.mnist_found(None)  # three of four
    (tmp_path / "mnist" / list(MNIST_FILES)[3]).write_bytes(b"")
    assert fine_tune.mnist_found(None) and fine_tune.mnist_found(tmp_path / "mnist")
    assert not fine_tune.mnist_found(tmp_path)


def test_each_way_trains_the_layers_it_names(fine_tune):
    X, y = np.random.default_rng(0).random((10, 6)), np.arange(10) % 5
    setting = fine_tune.Setting("tiny", (6, 8, 4), np.float64, pretrain_epochs=1, dropout=0.0, test_images=None)
    pretrained = fine_tune.body(setting, 0)
    before = [p.value.copy() for p in pretrained.parameters()]
    built = fine_tune.networks(setting, pretrained, 0.01, np.random.default_rng(1))
    assert list(built) == METHODS == list(fine_tune.METHODS)
    for model, optimizer in built.values():
        mn.fit(model, mn.CrossEntropy(), optimizer, X, y, epochs=3, progress=False)
    bodies = {name: model[0].parameters() for name, (model, _) in built.items()}
    unchanged = {name: [np.array_equal(p.value, b) for p, b in zip(params, before)] for name, params in bodies.items()}
    assert unchanged["frozen body"] == [True] * 4
    assert unchanged["frozen first layer"] == [True] * 2  # its body is the first Dense and its ReLU
    assert unchanged["all, slow body"] == [False] * 4
    assert not any(np.array_equal(p.value, b) for p, b in zip(bodies["from scratch"], before))
    assert all(np.array_equal(p.value, b) for p, b in zip(pretrained.parameters(), before))  # copies were trained
    slow = built["all, slow body"][1]
    assert [slow.rate("lr", group=g) for g in (0, 1)] == [pytest.approx(0.001), 0.01]


def test_pretraining_drops_the_dropout_and_the_head(fine_tune):
    X, y = np.random.default_rng(0).random((20, 6)), np.arange(20) % 5
    setting = fine_tune.Setting("tiny", (6, 8, 4), np.float32, pretrain_epochs=2, dropout=0.3, test_images=None)
    args = fine_tune.parse_args(["--seed", "0"])
    trained = fine_tune.pretrain(args, setting, X.astype(np.float32), y, progress=False)
    assert [type(layer).__name__ for layer in trained] == ["Dense", "ReLU", "Dense", "ReLU"]
    assert all(p.value.dtype == np.float32 for p in trained.parameters())
    assert not np.array_equal(trained[0].W.value, fine_tune.body(setting, 0)[0].W.value)  # it trained


@pytest.mark.parametrize("text", ["0,5", "5,x", ""])
def test_shots_refuses_what_is_not_counts_of_at_least_one(fine_tune, text):
    with pytest.raises(argparse.ArgumentTypeError):
        fine_tune.shot_counts(text)
    assert fine_tune.shot_counts("20,1,5,1") == (1, 5, 20)


@row("example-fine-tune-flags")
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--repeats", "1"], "--repeats must be at least 2 (the spread needs two draws), got 1"),
        (["--pretrain-limit", "0"], "--pretrain-limit must be at least 1, got 0"),
        (["--pretrain-epochs", "0"], "--pretrain-epochs must be at least 1, got 0"),
        (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    ],
)
def test_a_bad_flag_is_refused_by_name(fine_tune, flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        fine_tune.parse_args(flags)
    assert exit.value.code == 2 and message in capsys.readouterr().err
