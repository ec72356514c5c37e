"""Checks of the values read back from a file: a model's description, a checkpoint, a layer's state.

A file is data, not an argument of the wrong kind: anything wrong in it is a
ValueError, whose message names the field (``name``) and shows what was found.
Random generators are written and read here too, as plain fields.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "generator_from_state",
    "generator_state",
    "stored_arrays",
    "stored_bool",
    "stored_dict",
    "stored_int",
    "stored_real",
    "stored_shape",
]


def _shown(value: Any) -> str:
    """A value from a file as a message shows it: its repr, cut short (a file may hold megabytes), and type."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        text = f"<an integer of {value.bit_length()} bits>"
    return f"{text[:60] + '...' if len(text) > 63 else text} ({type(value).__name__})"


#: Largest integer a file may hold where a count is expected (exact as a float too).
MAX_STORED_INT = 2**53


def stored_int(name: str, value: Any, *, low: int = 0, high: int = MAX_STORED_INT) -> int:
    """``value`` read from a file, refused unless it is an integer in ``[low, high]`` (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {_shown(value)}")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise ValueError(f"{name} must be <= {high}, got {_shown(value)}")
    return int(value)


def stored_real(name: str, value: Any, *, finite: bool = True, allow_nan: bool = False) -> float:
    """``value`` read from a file as a float: a real number (never a bool), finite unless ``finite=False``.

    An integer too large for a float is refused here rather than raising
    ``OverflowError`` later. NaN passes only with ``allow_nan=True``
    (and ``finite=False``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {_shown(value)}")
    try:
        result = float(value)
    except OverflowError:
        bits = int(value).bit_length()  # type: ignore[call-overload]
        raise ValueError(f"{name} must fit in a float, got an integer of {bits} bits") from None
    if finite and not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result!r}")
    if math.isnan(result) and not allow_nan:
        raise ValueError(f"{name} must be a number, not NaN")
    return result


#: The most axes a sample shape read from a file may have (an image has 3; numpy allows 64 with n).
MAX_SAMPLE_DIMS = 8
#: The most values one sample read from a file may hold: a graph that checks a layer of the
#: user's by one zero sample allocates that many, and a file is not trusted with more (1 GiB of float64).
MAX_SAMPLE_SIZE = 2**27


def stored_shape(name: str, value: Any) -> tuple[int, ...]:
    """A sample shape read from a file: a list of 1 to 8 integers >= 1, of at most 2**27 values in all."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SAMPLE_DIMS:
        raise ValueError(f"{name} must be a list of 1 to {MAX_SAMPLE_DIMS} sizes, got {_shown(value)}")
    shape = tuple(stored_int(f"{name}[{i}]", v, low=1, high=MAX_SAMPLE_SIZE) for i, v in enumerate(value))
    if math.prod(shape) > MAX_SAMPLE_SIZE:
        raise ValueError(
            f"{name} is {shape}, {math.prod(shape)} values per sample; a file may declare at most {MAX_SAMPLE_SIZE}"
        )
    return shape


def stored_bool(name: str, value: Any) -> bool:
    """``value`` read from a file, refused unless it is exactly ``True`` or ``False`` (not 1, not "no")."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {_shown(value)}")
    return value


def stored_dict(name: str, value: Any, keys: Iterable[str]) -> dict[str, Any]:
    """``value`` read from a file, refused unless it is a dict with exactly the string ``keys``."""
    expected = sorted(keys)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict with the keys {expected}, got {_shown(value)}")
    problems = []
    missing, unknown = sorted(set(expected) - set(value)), sorted(map(str, set(value) - set(expected)))
    if missing:
        problems.append(f"{missing} missing")
    if unknown:
        problems.append(f"{unknown} unknown")
    if problems:
        raise ValueError(f"{name} must have the keys {expected}; " + "; ".join(problems))
    return value


def stored_arrays(
    name: str, values: Any, like: Sequence[tuple[tuple[int, ...], np.dtype]], *, allow_none: bool = False
) -> list[np.ndarray | None]:
    """Arrays read from a file, one per ``(shape, dtype)`` of ``like``: each of exactly that, and finite.

    Used for state kept per parameter (momentum buffers, best weights), so
    that a wrong shape can never be broadcast over a parameter. Returns
    copies, which the caller may keep. With ``allow_none``, an entry may be
    None (a buffer not yet created).
    """
    if not isinstance(values, list) or len(values) != len(like):
        got = f"{len(values)} entries" if isinstance(values, list) else _shown(values)
        raise ValueError(f"{name} must be a list of one array per parameter ({len(like)} parameters), got {got}")
    result: list[np.ndarray | None] = []
    for i, (value, (shape, dtype)) in enumerate(zip(values, like)):
        if value is None and allow_none:
            result.append(None)
            continue
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{name}[{i}] must be an array, got {_shown(value)}")
        if value.shape != tuple(shape) or value.dtype != dtype:
            raise ValueError(
                f"{name}[{i}] must be {np.dtype(dtype)} of shape {tuple(shape)}, "
                f"got {value.dtype} of shape {value.shape}"
            )
        if not np.isfinite(value).all():
            raise ValueError(f"{name}[{i}] holds NaN or infinite values")
        result.append(value.copy())
    return result


def _plain(value: Any) -> Any:
    """``value`` with every ndarray turned into a list, so that it is JSON-able."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """The state of ``generator``'s bit generator as plain JSON values (numbers, strings, lists, dicts).

    :func:`generator_from_state` turns it back into a Generator that draws
    the same numbers, bit for bit.
    """
    return _plain(generator.bit_generator.state)


# Every field of the state of each of numpy's bit generators: a nested dict of the fields,
# (low, high) for an integer in [low, high), (n, low, high) for n of them (a list or an
# integer array). numpy's setters take values outside these (has_uint32 = -3, an MT19937
# position past its key), which the generator then reads as garbage or out of bounds.
_U32, _U64, _U128 = 2**32, 2**64, 2**128
_SPARE_DRAW = {"has_uint32": (0, 2), "uinteger": (0, _U32)}  # a 32-bit half of a 64-bit draw, kept
_PCG = {"state": {"state": (0, _U128), "inc": (0, _U128)}, **_SPARE_DRAW}
_GENERATOR_FIELDS: dict[str, dict[str, Any]] = {
    "PCG64": _PCG,
    "PCG64DXSM": _PCG,
    "MT19937": {"state": {"key": (624, 0, _U32), "pos": (0, 625)}},
    "Philox": {
        "state": {"counter": (4, 0, _U64), "key": (2, 0, _U64)},
        "buffer": (4, 0, _U64),
        "buffer_pos": (0, 5),
        **_SPARE_DRAW,
    },
    "SFC64": {"state": {"state": (4, 0, _U64)}, **_SPARE_DRAW},
}


def _check_generator_fields(name: str, state: Any, fields: dict[str, Any]) -> None:
    """Refuse each of ``fields`` of the dict ``state`` (see ``_GENERATOR_FIELDS``) unless it is in range."""
    for key, rule in fields.items():
        field, value = f"{name}.{key}", state[key]
        if isinstance(rule, dict):
            _check_generator_fields(field, stored_dict(field, value, rule), rule)
        elif len(rule) == 2:
            stored_int(field, value, low=rule[0], high=rule[1] - 1)
        else:
            n, low, high = rule
            if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim == 1:
                value = value.tolist()
            if not isinstance(value, list) or len(value) != n:
                raise ValueError(f"{field} must be a list of {n} integers, got {_shown(value)}")
            for i, item in enumerate(value):
                stored_int(f"{field}[{i}]", item, low=low, high=high - 1)


def generator_from_state(name: str, state: Any) -> np.random.Generator:
    """A new Generator in exactly ``state``, or a ValueError.

    ``state`` comes from :func:`generator_state` or is a bit generator's ``state``.

    The state names its bit generator, which must be one of numpy's
    (``"PCG64"``, ``"PCG64DXSM"``, ``"MT19937"``, ``"Philox"``, ``"SFC64"``);
    every other field is checked first, for its type and range (numpy's own
    setter takes ``has_uint32 = -3`` or a position past the generator's
    buffer). numpy also takes some values it should not (``True`` for 1,
    say): a state that does not come back exactly as given is not the one
    that was saved, and is refused.
    """
    kind = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(kind, str) or kind not in _GENERATOR_FIELDS:
        raise ValueError(
            f"{name} must be the state of one of numpy's bit generators (a dict with "
            f"'bit_generator': one of {sorted(_GENERATOR_FIELDS)}), got {kind!r:.40} as its bit generator"
        )
    fields = _GENERATOR_FIELDS[kind]
    _check_generator_fields(name, stored_dict(name, state, ["bit_generator", *fields]), fields)
    bit_generator = getattr(np.random, kind)()
    try:
        bit_generator.state = state
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise ValueError(f"{name} is not a valid {kind} state ({type(exc).__name__}: {exc})") from None
    if not _identical(_plain(bit_generator.state), _plain(state)):
        raise ValueError(f"{name} is not a valid {kind} state (it does not survive being set)")
    return np.random.Generator(bit_generator)


def _identical(a: Any, b: Any) -> bool:
    """Equality that also requires equal types, so 1 and True (or 1.0) differ, in nested dicts and lists."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
