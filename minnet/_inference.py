"""Inference passes, and the cache slot that they cannot write.

``predict``, ``evaluate``, ``fit``'s validation pass and ``summary()`` run
inside :func:`inference_pass`. The built-in layers write no state with
``training=False`` anyway; the pass is what protects a layer of the user's
that stores ``self._cache`` in every forward: while the *current thread*
runs an inference pass, :class:`CacheSlot` drops such a store, so a
backward pending in this thread or another one finds the cache of its own
training forward.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["CacheSlot", "inference_pass"]


class _PassDepth(threading.local):
    depth = 0  # how many inference passes this thread is inside


_passes = _PassDepth()


@contextlib.contextmanager
def inference_pass() -> Iterator[None]:
    """Run the block as an inference pass of this thread: stores into a :class:`CacheSlot` are dropped."""
    _passes.depth += 1
    try:
        yield
    finally:
        _passes.depth -= 1


class CacheSlot:
    """The one cache slot of a Layer or a Loss: ``obj._cache``, None until a training forward stores one.

    A store is dropped while the storing thread runs an :func:`inference_pass`;
    otherwise the value lives in the instance's ``__dict__``, so copies and
    pickles carry it.
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__.get("_cache")

    def __set__(self, obj: Any, value: Any) -> None:
        if not _passes.depth:
            obj.__dict__["_cache"] = value
