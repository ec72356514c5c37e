"""examples/_common.py, the helpers the example scripts share: its docstrings run, its checks name the flag."""

from __future__ import annotations

import argparse
import doctest

import pytest


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
    assert (args.seed, str(args.out), args.show, args.no_progress) == (0, "out", False, False)
    text = " ".join(parser.format_help().split())
    assert "seed of the weights (default 0)" in text and "folder for the plots (default ./out)" in text


@pytest.mark.parametrize("error", [ValueError("bad value"), OSError("no such folder")])
def test_run_turns_a_users_mistake_into_one_line(common, error):
    def main():
        raise error

    with pytest.raises(SystemExit) as stop:
        common.run(main)
    assert stop.value.code == f"error: {error}"


def test_run_exits_with_mains_status(common):
    with pytest.raises(SystemExit) as stop:
        common.run(lambda: 0)
    assert stop.value.code == 0
