"""sigint_held: a Ctrl-C inside the block is delivered right after it, never inside it."""

from __future__ import annotations

import os
import signal

import pytest

from minnet._interrupts import deferring, sigint_held


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_inside_the_block_is_raised_at_its_end():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            ctrl_c()
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_blocks_deliver_at_the_end_of_the_outermost():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            with sigint_held():
                ctrl_c()
            done.append("after the inner block")
    assert done == ["after the inner block"]


def test_an_error_in_the_block_still_restores_the_handler():
    seen = []

    def handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(ZeroDivisionError):
            with sigint_held():
                ctrl_c()
                raise ZeroDivisionError
        assert seen == [signal.SIGINT]  # delivered on the way out
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_deferring_handler_is_held_back_in_place_and_called_after_the_block():
    seen = []
    handler = deferring(lambda signum, frame: seen.append(len(done)))
    done = []
    previous = signal.signal(signal.SIGINT, handler)
    try:
        with sigint_held():
            assert signal.getsignal(signal.SIGINT) is handler  # not replaced: no system call per block
            ctrl_c()
            ctrl_c()
            done.append("rest of the block")
        ctrl_c()  # outside a block: at once
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [1, 1, 1]
