"""Argument checks shared by the public entry points.

Every check raises ``TypeError`` (wrong kind of thing) or ``ValueError``
(right kind, wrong value) with a message that says what was expected and
what was received, so a user's mistake is reported at the boundary where
they made it, not as an ``IndexError`` three calls deeper.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "all_finite",
    "as_2d_batch",
    "as_class_indices",
    "as_float_array",
    "as_generator",
    "as_numeric_array",
    "as_target",
    "check_bool",
    "check_choice",
    "check_finite",
    "check_int",
    "check_path",
    "check_real",
    "check_seed",
    "generator_from_state",
    "generator_state",
    "stored_arrays",
    "stored_bool",
    "stored_dict",
    "stored_int",
    "stored_real",
]


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float after checking it is a finite real in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {bound} {low}, got {value!r}")
    if high is not None and (value > high or (not high_inclusive and value == high)):
        bound = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {bound} {high}, got {value!r}")
    return value


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Check ``value`` is one of ``choices``; the message lists the valid ones."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
    return value


def as_numeric_array(name: str, value: Any) -> np.ndarray:
    """Convert an array-like to an ndarray of numbers (bool, int or float), keeping its dtype.

    Strings, objects, complex numbers and ragged lists are refused. An
    ndarray is returned as is, without a copy. A masked array with masked
    entries is refused (``np.asarray`` would silently train on whatever
    values hide under the mask); one with none is taken as its data. A
    PyTorch tensor, even one that requires grad, is taken as its values
    (detached, on the CPU): minnet never backpropagates into it.
    """
    if isinstance(value, np.ma.MaskedArray):
        n_masked = int(np.ma.count_masked(value))
        if n_masked:
            raise TypeError(
                f"{name} is a masked array with {n_masked} masked entries; minnet does not "
                f"guess what they stand for: fill them ({name}.filled(value)) or drop those rows"
            )
        value = np.ma.getdata(value)
    elif type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    return array


def as_float_array(name: str, value: Any, dtype: Any = None) -> np.ndarray:
    """Convert an array-like to a floating ndarray, refusing strings and objects.

    Integer and boolean data are accepted and converted (to ``dtype`` or
    float64); a float array already of the right dtype is returned as is,
    without a copy.
    """
    array = as_numeric_array(name, value)
    target = (
        np.dtype(dtype) if dtype is not None else (array.dtype if array.dtype.kind == "f" else np.dtype(np.float64))
    )
    if array.dtype == target:
        return array
    with np.errstate(over="ignore"):  # reported below, with the value that does not fit
        converted = array.astype(target)
    if array.dtype.kind == "f" and array.dtype.itemsize > target.itemsize:
        overflowed = np.isinf(converted) & np.isfinite(array)
        if overflowed.any():
            value = float(array[tuple(np.argwhere(overflowed)[0])])
            raise ValueError(
                f"{name} holds {value!r}, which does not fit in {target} (largest {float(np.finfo(target).max):.4g})"
            )
    return converted


def all_finite(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is finite.

    The sum reads the array once without allocating; a NaN or infinity
    anywhere makes it non-finite. A sum of finite values can still overflow,
    so only a non-finite sum pays for the exact element-wise check.
    """
    return math.isfinite(np.add.reduce(array, axis=None)) or bool(np.isfinite(array).all())


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first NaN/inf position in ``array``."""
    with np.errstate(over="ignore", invalid="ignore"):  # a sum that overflows is checked exactly
        if all_finite(array):
            return
    bad = np.argwhere(~np.isfinite(array))[0]
    where = tuple(int(i) for i in bad)
    raise ValueError(f"{name} must be finite, got {float(array[where])!r} at index {where}")


def as_2d_batch(name: str, value: Any, dtype: Any = None, n_features: int | None = None) -> np.ndarray:
    """Convert a batch to a finite 2-D float array of shape ``(n_samples, n_features)``."""
    array = as_float_array(name, value, dtype)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), got an array of shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features, got {array.shape[1]}")
    check_finite(name, array)
    return array


def as_target(name: str, value: Any, pred_shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """Convert a target to exactly ``pred_shape``.

    A single-output target may come as ``(n,)`` for a prediction of shape
    ``(n, 1)``; it is reshaped explicitly. Any other mismatch is an error,
    because broadcasting ``(n, 1) - (n,)`` would silently give ``(n, n)``.
    """
    target = as_float_array(name, value, dtype)
    if target.shape != pred_shape:
        single_output = len(pred_shape) == 2 and pred_shape[1] == 1
        if single_output and target.shape == (pred_shape[0],):
            target = target.reshape(pred_shape)
        else:
            raise ValueError(f"{name} must have shape {pred_shape} to match the prediction, got {target.shape}")
    check_finite(name, target)
    return target


def as_class_indices(name: str, value: Any, n_classes: int | None = None) -> np.ndarray:
    """Convert class labels to an int64 array of shape ``(n_samples,)``, each in ``[0, n_classes)``.

    Integers, and floats that are whole numbers (a 0/1 target loaded as
    float64), are accepted; a column ``(n_samples, 1)`` is flattened
    explicitly. Anything else is refused, naming the first bad label.
    """
    try:
        labels = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a 1-D array of class indices: {exc}") from None
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be integer class indices, got an array of dtype {labels.dtype}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        hint = f"; for one-hot rows pass their class indices, {name}.argmax(axis=1)" if labels.ndim == 2 else ""
        raise ValueError(f"{name} must be class indices of shape (n_samples,), got shape {labels.shape}{hint}")
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        with np.errstate(invalid="ignore"):  # NaN and inf are reported below
            whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            i = int(np.argmin(whole))
            raise ValueError(f"{name} must be whole numbers (class indices), got {labels[i].item()!r} at index {i}")
    i = int(np.argmin(labels))
    if labels[i] < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {labels[i].item()!r} at index {i}")
    i = int(np.argmax(labels))
    if n_classes is not None and labels[i] >= n_classes:
        raise ValueError(f"{name} must be class indices < n_classes={n_classes}, got {labels[i].item()!r} at index {i}")
    # Far past any real number of classes, and past where a float64 label is exact.
    if labels[i] >= 2**53:
        raise ValueError(f"{name} must be class indices, got {labels[i].item()!r} at index {i}, too large to be one")
    # int64 labels are used as they are (minnet never writes into a target): no copy of a data set's size.
    return labels.astype(np.int64, copy=False)


def check_bool(name: str, value: Any) -> bool:
    """Check ``value`` is exactly ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def check_path(name: str, value: Any) -> Path:
    """Return a file path given as ``str`` or ``os.PathLike`` as a :class:`~pathlib.Path`."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or pathlib.Path), got {_describe(value)}")
    text = os.fspath(value)
    if text == "":
        raise ValueError(f"{name} must not be empty")
    # Path("name/") would drop the slash and name a file "name": a trailing separator
    # means a folder, which is not a file to save to or load from.
    if text.endswith(("/", os.sep)) and not Path(text).is_file():
        raise ValueError(
            f"{name} {text!r} ends with a path separator, so it names a folder; give a file "
            f"name, such as {str(Path(text) / 'model.npz')!r}"
        )
    return Path(text)


def check_seed(name: str, value: Any) -> Any:
    """Accept ``None``, a non-negative integer seed or a ``np.random.Generator``."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None, an integer seed or a np.random.Generator, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer seed, got {value}")
    return int(value)


def as_generator(name: str, value: Any) -> np.random.Generator:
    """Turn ``None``, a non-negative integer seed or a Generator into a ``np.random.Generator``.

    A Generator is returned as it is (and advanced by whoever uses it), so a
    caller can thread one generator through a whole experiment; an int seeds
    a fresh one, so the same int always draws the same numbers; ``None``
    seeds one from the operating system.
    """
    return np.random.default_rng(check_seed(name, value))


# -- values read back from a file ------------------------------------------------
# A file is data, not an argument of the wrong kind: anything wrong in it is a
# ValueError, whose message names the field (``name``) and shows what was found.


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
