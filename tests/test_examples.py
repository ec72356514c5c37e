"""examples/residual.py: it runs, prints its table, writes its plot, and builds what it says it builds."""

from __future__ import annotations

import numpy as np
import pytest

import minnet as mn


@pytest.fixture(scope="module")
def residual(load_example):
    return load_example("residual")


def test_residual_py_prints_the_summary_and_the_table_and_writes_the_plot(tmp_path, run_example):
    printed = run_example("residual", tmp_path, "--epochs", "3", "--blocks", "2", "--width", "8")
    lines = printed.splitlines()
    # The graph's summary: 8*8+8, four 8*8+8 in the blocks, 8+1; the second block's Add.
    assert "Total parameters: 369 (float64)" in lines
    assert any(line.split()[:2] == ["add_1", "Add()"] for line in lines if line)
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert lines[header].split() == ["model", "train", "loss", "train", "acc", "held-out", "loss", "held-out", "acc"]
    for line, name in zip(lines[header + 1 : header + 3], ["residual (Graph)", "plain (Sequential)"]):
        assert line.startswith(name)
        numbers = [float(cell) for cell in line[len(name) :].split()]
        assert len(numbers) == 4 and all(np.isfinite(numbers))
    assert (tmp_path / "residual.png").stat().st_size > 0


def test_both_networks_have_the_same_layers_depth_and_parameter_count(residual):
    graph = residual.residual_network(residual.dense_layers(8, 16, 3, seed=0))
    chain = residual.plain_network(residual.dense_layers(8, 16, 3, seed=0))
    assert sum(p.size for p in graph.parameters()) == sum(p.size for p in chain.parameters())
    assert [repr(layer) for layer in graph.children() if not isinstance(layer, mn.Add)] == [
        repr(layer) for layer in chain
    ]


def test_each_residual_block_starts_as_the_identity(residual):
    """At initialisation the residual network is its first and last layers with a ReLU between."""
    dense = residual.dense_layers(8, 16, 3, seed=0)
    graph = residual.residual_network(dense)
    X = np.random.default_rng(0).standard_normal((20, 8))
    shallow = mn.Sequential(dense[0], mn.ReLU(), dense[-1])
    np.testing.assert_allclose(graph.predict(X), shallow.predict(X), rtol=1e-14)


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--width", "-1"], ["--lr", "nan"], ["--seed", "-2"]])
def test_residual_py_refuses_bad_flags(residual, flags):
    with pytest.raises(SystemExit):
        residual.parse_args(flags)
