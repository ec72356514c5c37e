"""Holding Ctrl-C back while an optimizer commits a step, so that no step is ever half applied."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

try:
    # The C functions under `signal`. The public wrappers convert handlers to and
    # from enums, which costs about 2 µs per call (raising and catching a
    # ValueError for any function handler); these take 0.03 µs (getsignal) and
    # 0.3 µs (signal). Both are paid on every optimizer step.
    from _signal import getsignal as _getsignal, signal as _setsignal
except ImportError:  # an interpreter without them
    from signal import getsignal as _getsignal, signal as _setsignal

__all__ = ["sigint_held"]

_SIGINT = int(signal.SIGINT)


class sigint_held:
    """Context manager: a Ctrl-C (SIGINT) arriving inside the block is delivered right after it.

    In the main thread, the SIGINT handler in place (Python's default one,
    which raises KeyboardInterrupt, :func:`minnet.fit`'s, or one of the
    user's own) is replaced for the duration of the block by one that only
    records each signal; on leaving the block the handler is put back and
    called once per recorded signal, so a KeyboardInterrupt it raises comes
    out of the block's end, never its middle. Any number of signals may
    arrive. Outside the main thread it does nothing: Python runs signal
    handlers in the main thread only, so another thread is never interrupted
    by one. Nor does it when SIGINT is ignored or left to the operating
    system (no Python handler to defer).

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.zeros(2), np.zeros(2)
    >>> with sigint_held():
    ...     a += 1.0   # a Ctrl-C here ...
    ...     b += 1.0   # ... raises KeyboardInterrupt only after this line
    """

    __slots__ = ("_previous", "_held")

    def __enter__(self) -> None:
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            previous = _getsignal(_SIGINT)
            if callable(previous):
                self._held: list[FrameType | None] = []
                _setsignal(_SIGINT, self._hold)
                self._previous = previous

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self._held.append(frame)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        previous = self._previous
        if previous is None:
            return
        _setsignal(_SIGINT, previous)
        for frame in self._held:  # delivered now, in the order they came
            previous(_SIGINT, frame)
