"""mn.set_num_threads, mn.get_num_threads and mn.threads size numpy's BLAS pool, and refuse a bad count."""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl
from rows import row

import minnet as mn
import minnet.blas


@pytest.fixture(autouse=True)
def pool_restored():
    """Whatever a test sets, the BLAS pools get their sizes back afterwards (threadpoolctl's own restore)."""
    with threadpoolctl.threadpool_limits(limits=None, user_api="blas"):
        yield


@pytest.fixture
def no_blas(monkeypatch):
    """A process in which threadpoolctl finds no BLAS library (a BLAS it does not know, or none loaded)."""
    empty = threadpoolctl.ThreadpoolController().select(user_api="no such library")
    monkeypatch.setattr(minnet.blas, "_blas_pools", lambda: empty)


def blas_sizes() -> set[int]:
    """Every loaded BLAS pool's size, as threadpoolctl itself reads it."""
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}


def test_numpy_brings_a_blas_that_threadpoolctl_controls():
    assert blas_sizes(), "the tests below would check nothing"


@pytest.mark.parametrize("n", [1, 2, 3, np.int64(1)])
def test_set_then_get_round_trips_and_sets_every_blas_pool(n):
    mn.set_num_threads(n)
    assert mn.get_num_threads() == n
    assert blas_sizes() == {n}


def test_threads_limits_the_block_and_restores_the_size_before_it():
    mn.set_num_threads(2)
    with mn.threads(1):
        assert mn.get_num_threads() == 1
        with mn.threads(3):
            assert mn.get_num_threads() == 3
        assert mn.get_num_threads() == 1
    assert mn.get_num_threads() == 2 and blas_sizes() == {2}


def test_threads_restores_the_size_when_the_block_raises():
    mn.set_num_threads(2)
    with pytest.raises(KeyError), mn.threads(1):
        assert mn.get_num_threads() == 1
        raise KeyError("in the block")
    assert mn.get_num_threads() == 2


def test_a_matrix_product_in_a_block_equals_one_outside(rng):
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    with mn.threads(1):
        one = a @ b
    np.testing.assert_allclose(one, a @ b, rtol=1e-12, atol=1e-12)


@row("threads-below-one")
@pytest.mark.parametrize("n", [0, -1])
@pytest.mark.parametrize("call", [mn.set_num_threads, mn.threads])
def test_a_count_below_one_is_refused_and_changes_nothing(call, n):
    mn.set_num_threads(2)
    with pytest.raises(ValueError, match=f"n must be >= 1, got {n}"):
        call(n)
    assert mn.get_num_threads() == 2


@row("threads-not-an-integer")
@pytest.mark.parametrize(
    ("n", "received"), [(1.5, r"1\.5 \(float\)"), ("2", r"'2' \(str\)"), (True, "True"), (None, "None")]
)
@pytest.mark.parametrize("call", [mn.set_num_threads, mn.threads])
def test_a_count_that_is_not_an_integer_is_refused_and_changes_nothing(call, n, received):
    mn.set_num_threads(2)
    with pytest.raises(TypeError, match=f"n must be an integer, got {received}"):
        call(n)
    assert mn.get_num_threads() == 2


@row("threads-no-blas")
def test_without_a_blas_to_control_get_says_none_and_set_warns(no_blas):
    before = blas_sizes()
    assert mn.get_num_threads() is None
    with pytest.warns(RuntimeWarning, match="finds no BLAS library it can control") as caught:
        mn.set_num_threads(1)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(RuntimeWarning, match="the number of threads was not changed") as caught:
        with mn.threads(1):
            pass
    assert caught[0].filename == __file__
    assert blas_sizes() == before
