"""examples/_common.py, the helpers the example scripts share: its docstrings run, its checks name the flag."""

from __future__ import annotations

import argparse
import doctest

import pytest
import threadpoolctl

import minnet as mn


@pytest.fixture(scope="module")
def common(load_example):
    return load_example("_common")


def test_the_docstrings_examples_run(common):
    results = doctest.testmod(common, verbose=False)
    assert results.attempted >= 8 and results.failed == 0


def parser_with(common, **flags):
    parser = argparse.ArgumentParser(prog="example.py")
    for name, kind in flags.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=kind(1))
    common.add_common_flags(parser, seed_of="the weights")
    return parser


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--lr", "nan"], "--lr must be a positive number, got nan"),
        (["--lr", "-1", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),  # counts first
        (["--lr", "-1", "--seed", "-3"], "--lr must be a positive number, got -1.0"),  # the seed last
        (["--seed", "-3"], "--seed must be a non-negative integer, got -3"),
        (["--threads", "0"], "--threads must be at least 1, got 0"),
        (["--seed", "-3", "--threads", "-1"], "--seed must be a non-negative integer, got -3"),  # threads last
    ],
)
def test_check_flags_refuses_by_the_flags_name(common, capsys, argv, message):
    parser = parser_with(common, batch_size=int, lr=float)
    with pytest.raises(SystemExit) as stop:
        common.check_flags(parser, parser.parse_args(argv), at_least_1=["batch_size"], positive=["lr"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.endswith(f"example.py: error: {message}\n")


def test_the_common_flags_and_their_help(common):
    parser = parser_with(common)
    args = parser.parse_args([])
    assert (args.seed, str(args.out), args.show, args.no_progress, args.threads) == (0, "out", False, False, 1)
    text = " ".join(parser.format_help().split())
    assert "seed of the weights (default 0)" in text and "folder for the plots (default ./out)" in text
    assert "threads of numpy's matrix products, and of PyTorch's where it runs (default 1:" in text


@pytest.fixture
def torch_and_numpy_pools():
    """PyTorch (the test is skipped without it); both pools get their sizes back after the test."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None, user_api="blas"):
        yield torch
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_use_threads_sizes_numpys_pool_and_pytorchs(common, threads, torch_and_numpy_pools):
    common.use_threads(parser_with(common).parse_args(["--threads", str(threads)]))
    assert mn.get_num_threads() == threads and torch_and_numpy_pools.get_num_threads() == threads
