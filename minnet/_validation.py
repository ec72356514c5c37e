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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "all_finite",
    "as_batch",
    "as_class_indices",
    "as_float_array",
    "as_generator",
    "as_numeric_array",
    "as_sample_weight",
    "as_target",
    "as_weights",
    "by_name",
    "check_bool",
    "check_choice",
    "check_finite",
    "check_int",
    "check_path",
    "check_real",
    "check_seed",
    "check_shape",
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


def by_name(
    name: str, mapping: Mapping[Any, Any], names: Sequence[str] | None, kind: str, *, every: bool = True
) -> list[Any]:
    """The values of ``mapping`` in the order of ``names``, a graph's input or output names.

    ``kind`` ("input", "output") is for messages. A key that names no
    ``kind`` is refused; so is a missing one when ``every``, else its value
    is None.
    """
    if names is None:
        raise TypeError(
            f"{name} is a dict, which is keyed by {kind} names, but the model names no {kind}s "
            f"(only a Graph does); pass a list instead"
        )
    unknown = [key for key in mapping if key not in names]
    if unknown:
        raise ValueError(
            f"{name} has key(s) {', '.join(map(repr, unknown))} that name no {kind} of the model; "
            f"its {kind}s are {', '.join(map(repr, names))}"
        )
    missing = [key for key in names if key not in mapping]
    if missing and every:
        raise ValueError(f"{name} has no entry for the model's {kind}(s) {', '.join(map(repr, missing))}")
    return [mapping.get(key) for key in names]


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


def _rows_are_finite(array: np.ndarray) -> bool:
    """Whether the sums of ``array``'s rows, and theirs, are finite: then so is every element.

    For the data ``fit`` checks once, often hundreds of megabytes: BLAS's
    product with a vector of ones reads it at memory speed, on every BLAS
    thread, in about half the time of numpy's pairwise sum. False (check
    otherwise) for what BLAS does not take or a sum that overflows.
    """
    if array.dtype not in (np.float32, np.float64) or array.ndim < 2 or array.size == 0:
        return False
    if array.ndim > 2 and not array.flags.c_contiguous:
        return False  # its table of rows would be a copy
    rows = array.reshape(len(array), -1)
    return math.isfinite(np.add.reduce(rows @ np.ones(rows.shape[1], array.dtype)))


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first NaN/inf position in ``array``."""
    with np.errstate(over="ignore", invalid="ignore"):  # a sum that overflows is checked exactly
        if _rows_are_finite(array) or all_finite(array):
            return
    bad = np.argwhere(~np.isfinite(array))[0]
    where = tuple(int(i) for i in bad)
    raise ValueError(f"{name} must be finite, got {float(array[where])!r} at index {where}")


def as_batch(name: str, value: Any, dtype: Any = None, sample_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Convert a batch to a finite float array of shape ``(n_samples, *sample_shape)``, two axes or more.

    A table is ``(n_samples, n_features)``, a batch of images ``(n_samples,
    C, H, W)``; with ``sample_shape`` the samples must have exactly that shape.
    """
    array = as_float_array(name, value, dtype)
    if array.ndim < 2:
        raise ValueError(
            f"{name} must be a batch with the samples on its first axis, (n_samples, n_features) for a table "
            f"or (n_samples, C, H, W) for images, got an array of shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    if sample_shape is not None and array.shape[1:] != tuple(sample_shape):
        if array.ndim == 2 and len(sample_shape) == 1:
            raise ValueError(f"{name} must have {sample_shape[0]} features, got {array.shape[1]}")
        shape = tuple(sample_shape)
        raise ValueError(f"{name} must hold samples of shape {shape}, got an array of shape {array.shape}")
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


def as_weights(name: str, value: Any, dtype: Any = None) -> np.ndarray:
    """Convert weights (sample, class or positive-class weights) to a float array, each finite and >= 0.

    Callers check the shape, which depends on what is weighted.
    """
    weights = as_float_array(name, value, dtype)
    check_finite(name, weights)
    if weights.size and weights.min() < 0:
        where = tuple(int(i) for i in np.argwhere(weights < 0)[0])
        at = f" at index {where}" if where else ""
        raise ValueError(f"{name} must be >= 0, got {float(weights[where])!r}{at}")
    return weights


def as_sample_weight(name: str, value: Any, n_samples: int, dtype: Any = None) -> np.ndarray:
    """Convert sample weights to a float array of shape ``(n_samples,)``, each finite and >= 0."""
    weights = as_weights(name, value, dtype)
    if weights.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},), one weight per sample, got shape {weights.shape}")
    return weights


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


def check_shape(name: str, value: Any) -> tuple[int, ...]:
    """The shape of one sample: an int (a table's features) or a tuple (or list) of ints, each >= 1."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be an integer or a non-empty tuple of integers, got {_describe(value)}")
    if min(items) < 1:
        raise ValueError(f"{name} must hold sizes >= 1, got {tuple(int(v) for v in items)!r}")
    return tuple(int(v) for v in items)


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
