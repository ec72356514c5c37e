"""examples/fine_tune.py: it runs, prints its table and writes its plot, and trains what it says it trains."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import minnet as mn


@pytest.fixture(scope="module")
def fine_tune(load_example):
    return load_example("fine_tune")


def test_fine_tune_prints_a_row_per_count_and_writes_its_plot(tmp_path, run_example):
    flags = ["--shots", "5,1", "--repeats", "2", "--epochs", "20", "--pretrain-epochs", "2"]
    printed = run_example("fine_tune", tmp_path, *flags)
    lines = printed.splitlines()
    assert "Digits: 675 training images of 0-4 to pretrain on" in printed
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("per class"))
    assert [name.strip() for name in lines[header].split("  ") if name.strip()][1:] == [
        "frozen body",
        "frozen first layer",
        "all, slow body",
        "from scratch",
    ]
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[0] for row in rows] == ["1", "5"]  # in increasing order
    for row in rows:
        cells = row[1:]
        assert len(cells) == 12 and cells[1::3] == ["±"] * 4
        means, spreads = np.array(cells[0::3], float), np.array(cells[2::3], float)
        assert np.all((0.2 <= means) & (means <= 1)) and np.all(spreads >= 0)  # above chance, 1 in 5
    assert (tmp_path / "fine_tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_way_trains_the_layers_it_names(fine_tune):
    X, y = np.random.default_rng(0).random((10, 6)), np.arange(10) % 5
    pretrained = fine_tune.body(6, 0)
    before = [p.value.copy() for p in pretrained.parameters()]
    built = fine_tune.networks(pretrained, 0.01, np.random.default_rng(1))
    assert list(built) == list(fine_tune.METHODS)
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


@pytest.mark.parametrize("text", ["0,5", "5,x", ""])
def test_shots_refuses_what_is_not_counts_of_at_least_one(fine_tune, text):
    with pytest.raises(argparse.ArgumentTypeError):
        fine_tune.shot_counts(text)
    assert fine_tune.shot_counts("20,1,5,1") == (1, 5, 20)
