"""Holding Ctrl-C back while an optimizer commits a step, so that no step is ever half applied."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

try:
    # The C functions under `signal`. The public wrappers convert handlers to and
    # from enums, which costs about 2 µs per call (raising and catching a
    # ValueError for any function handler); these take 0.03 µs (getsignal) and
    # 0.3 µs (signal).
    from _signal import getsignal as _getsignal  # type: ignore[import-not-found]
    from _signal import signal as _setsignal
except ImportError:  # an interpreter without them
    from signal import getsignal as _getsignal
    from signal import signal as _setsignal

__all__ = ["deferring", "sigint_held"]

_SIGINT = int(signal.SIGINT)

Handler = Callable[[int, "FrameType | None"], Any]


class _Deferring:
    """A SIGINT handler that calls ``handler``, except while a :class:`sigint_held` block runs.

    Then it only records the signal, for the block to deliver at its end.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.depth = 0  # sigint_held blocks open around the current code
        self.held: list[FrameType | None] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.depth:
            self.held.append(frame)
        else:
            self.handler(signum, frame)


def deferring(handler: Handler) -> Handler:
    """``handler`` as a SIGINT handler that :class:`sigint_held` can hold back without replacing it.

    :func:`minnet.fit` installs its own handler this way for the whole run,
    so that holding Ctrl-C back during each of its thousands of optimizer
    steps costs no system call (replacing a handler costs two per step).
    """
    return _Deferring(handler)


class sigint_held:
    """Context manager: a Ctrl-C (SIGINT) arriving inside the block is delivered right after it.

    In the main thread, each SIGINT that arrives inside the block is only
    recorded; on leaving the block, the handler that was in place (Python's
    default one, which raises KeyboardInterrupt, :func:`minnet.fit`'s, or
    one of the user's own) is called once per recorded signal, so a
    KeyboardInterrupt it raises comes out of the block's end, never its
    middle. Any number of signals may arrive, and blocks may nest (the
    outermost delivers). A handler not made by :func:`deferring` is
    replaced for the duration of the block and put back.

    Outside the main thread it does nothing: Python runs signal handlers in
    the main thread only, so another thread is never interrupted by one.
    Nor does it when SIGINT is ignored or left to the operating system
    (there is no Python handler to hold back).

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.zeros(2), np.zeros(2)
    >>> with sigint_held():
    ...     a += 1.0   # a Ctrl-C here ...
    ...     b += 1.0   # ... raises KeyboardInterrupt only after this line
    """

    __slots__ = ("_deferring", "_replaced")

    def __enter__(self) -> None:
        self._deferring: _Deferring | None = None
        self._replaced: Any = None
        if threading.current_thread() is not threading.main_thread():
            return
        handler = _getsignal(_SIGINT)
        if isinstance(handler, _Deferring):
            self._deferring = handler
        elif callable(handler):  # not SIG_IGN, SIG_DFL or None (a handler set outside Python)
            self._deferring, self._replaced = _Deferring(handler), handler
            _setsignal(_SIGINT, self._deferring)
        else:
            return
        self._deferring.depth += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        deferring = self._deferring
        if deferring is None:
            return
        deferring.depth -= 1
        if self._replaced is not None:
            _setsignal(_SIGINT, self._replaced)
        if deferring.depth == 0 and deferring.held:
            held, deferring.held = deferring.held, []
            for frame in held:  # delivered now, in the order they came
                deferring.handler(_SIGINT, frame)
