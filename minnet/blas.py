"""The BLAS thread pool that numpy's matrix products run on: its size, read and set.

numpy hands every matrix product to its BLAS library (OpenBLAS in numpy's
wheels), which splits large ones over a pool of threads, by default one per
core. On a quiet machine that is fastest; beside another CPU-bound process
the pool's threads wait for each other at every product and an epoch can
take 10 to 20 times longer (``docs/performance.md``, "Threads").
:func:`set_num_threads` and :func:`threads` size the pool through
threadpoolctl, as scikit-learn does; minnet itself never changes it.

Examples
--------
>>> import minnet as mn
>>> with mn.threads(1):  # one thread for the block, whatever the default
...     mn.get_num_threads()
1
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from ._validation import check_int


def _blas_pools() -> Any:
    """threadpoolctl's controller of every BLAS library loaded now (imported here: ``import minnet`` stays light)."""
    from threadpoolctl import ThreadpoolController

    # A fresh scan each time: a BLAS loaded after minnet (scipy's, torch's) is found too.
    return ThreadpoolController().select(user_api="blas")


def _found_or_warn(pools: Any, stacklevel: int) -> None:
    if not pools.lib_controllers:
        warnings.warn(
            "threadpoolctl finds no BLAS library it can control in this process, so the number "
            "of threads was not changed: numpy's BLAS sizes its own pool (for OpenBLAS, set "
            "OPENBLAS_NUM_THREADS before Python starts)",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )


def get_num_threads() -> int | None:
    """The number of threads numpy's BLAS runs a matrix product on.

    Returns
    -------
    int or None
        The size of the BLAS thread pool (the largest, if the process has
        loaded several BLAS libraries), or None when threadpoolctl finds no
        BLAS library it can read.

    Examples
    --------
    >>> import minnet as mn
    >>> mn.get_num_threads() >= 1
    True
    """
    sizes = [pool.num_threads for pool in _blas_pools().lib_controllers]
    return max(sizes) if sizes else None


def set_num_threads(n: int) -> None:
    """Run numpy's matrix products on ``n`` threads from now on, as ``torch.set_num_threads`` does for PyTorch.

    Every BLAS library loaded in the process is limited (numpy's, and
    scipy's if it is loaded). To limit a block of code only, use
    :func:`threads`.

    Parameters
    ----------
    n : int
        Number of threads, at least 1. On a machine shared with other
        CPU-bound work, 1 keeps an epoch's time steady; on a quiet one, the
        number of cores is faster on large matrix products.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n`` is below 1.

    Warns
    -----
    RuntimeWarning
        When threadpoolctl finds no BLAS library it can control: nothing
        is changed.

    Examples
    --------
    >>> import minnet as mn
    >>> before = mn.get_num_threads()
    >>> mn.set_num_threads(1)
    >>> mn.get_num_threads()
    1
    >>> mn.set_num_threads(before)
    """
    n = check_int("n", n, low=1)
    pools = _blas_pools()
    _found_or_warn(pools, stacklevel=2)  # the warning points at the caller's line
    pools.limit(limits=n)


def threads(n: int) -> contextlib.AbstractContextManager[None]:
    """Run numpy's matrix products on ``n`` threads inside a ``with`` block, then restore the pool's size.

    The size each BLAS library had before the block comes back when the
    block ends, also when it raises; blocks nest.

    Parameters
    ----------
    n : int
        Number of threads inside the block, at least 1.

    Returns
    -------
    context manager
        Limits the pool on entry and restores it on exit.

    Raises
    ------
    TypeError
        If ``n`` is not an integer (raised by the call, before the block).
    ValueError
        If ``n`` is below 1.

    Warns
    -----
    RuntimeWarning
        On entry, when threadpoolctl finds no BLAS library it can control:
        the block runs with the pool unchanged.

    Examples
    --------
    >>> import minnet as mn
    >>> before = mn.get_num_threads()
    >>> with mn.threads(1):
    ...     mn.get_num_threads()
    1
    >>> mn.get_num_threads() == before
    True
    """
    return _limited(check_int("n", n, low=1))


@contextlib.contextmanager
def _limited(n: int) -> Iterator[None]:
    pools = _blas_pools()
    _found_or_warn(pools, stacklevel=3)  # past contextlib's __enter__, to the with statement
    limiter = pools.limit(limits=n)
    try:
        yield
    finally:
        limiter.restore_original_limits()
