"""Saving and loading models: one ``.npz`` file, no pickle.

A minnet file is an ordinary numpy ``.npz`` archive holding

* ``__minnet__``: a ``uint8`` array with the UTF-8 bytes of a JSON
  description (format version, the architecture as a tree of layer classes
  and their ``get_config()``, the dtype, and the name and shape of every
  parameter);
* ``param.0``, ``param.1``, ...: the parameter values, in the order of
  ``model.named_parameters()``;
* for checkpoints, ``state.0``, ``state.1``, ...: optimizer buffers and
  callback arrays referenced from the description.

Files are read with ``np.load(..., allow_pickle=False)``, so opening a file
from a stranger can never run code, and written to a temporary file in the
target directory that is renamed into place only once complete, so a crash
or a full disk never leaves half a file where a good one was.

A file from a stranger is checked before it can cost memory: every array
header against the bytes it stands on, the description's parameter table
against the arrays, and each layer's size against the values the file holds
(a description of ``Dense(10**6, 10**6)`` next to a few small arrays is a
ValueError, not an allocation of terabytes).

Layers are rebuilt by class name: built-in layers are found automatically,
custom ones through :func:`register_layer` or ``load(..., custom_layers=...)``.
A layer with children (such as :class:`~minnet.Sequential`) is rebuilt as
``cls(*children, **config)``, a leaf layer as ``cls(**config)``.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import numbers
import os
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import numpy as np

from ._validation import check_path
from .containers import model_dtype
from .layers import Dense, Layer

__all__ = ["save", "load", "register_layer", "FORMAT_VERSION"]

FORMAT_VERSION = 1
"""Version of the file layout; files from a newer version are refused, older ones read."""

_META_KEY = "__minnet__"
_FORMAT_NAME = "minnet"
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_MAGIC = b"\x80"

_REGISTRY: dict[str, type[Layer]] = {}

LayerType = TypeVar("LayerType", bound=type)


# -- the registry ------------------------------------------------------------

def register_layer(cls: LayerType | None = None, *, name: str | None = None) -> Any:
    """Make a custom Layer class loadable by :func:`load`; usable as a decorator.

    ``@mn.register_layer`` registers the class under its own name,
    ``@mn.register_layer(name="MyDense")`` under another one. The class must
    implement ``get_config()`` so that ``cls(**config)`` rebuilds it.

    Parameters
    ----------
    cls : type, optional
        A subclass of :class:`~minnet.Layer`.
    name : str, optional
        The name written to files; defaults to ``cls.__name__``.

    Returns
    -------
    type
        ``cls`` itself, unchanged (or a decorator when ``cls`` is omitted).

    Raises
    ------
    TypeError
        If ``cls`` is not a Layer subclass.
    ValueError
        If ``name`` is already taken by a different class (a built-in layer
        or another registered one).
    """
    def decorator(klass: LayerType) -> LayerType:
        if not (isinstance(klass, type) and issubclass(klass, Layer)):
            raise TypeError(f"register_layer takes a subclass of minnet.Layer, got {klass!r}")
        key = klass.__name__ if name is None else name
        if not isinstance(key, str) or not key:
            raise TypeError(f"name must be a non-empty string, got {key!r}")
        taken = _REGISTRY.get(key) or _builtin_layers().get(key)
        # Re-running a class definition (a notebook cell, a reload) makes a new
        # class object with the same qualified name: that is a redefinition, not a clash.
        if taken is not None and _qualname(taken) != _qualname(klass):
            raise ValueError(f"layer name {key!r} is already used by {_qualname(taken)}; "
                             f"register {_qualname(klass)} under another name with name=")
        _REGISTRY[key] = klass
        return klass

    if cls is None:
        return decorator
    return decorator(cls)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _builtin_layers() -> dict[str, type[Layer]]:
    """Public Layer classes defined inside minnet, found by walking the subclasses.

    Walking (rather than listing) means a layer added to minnet later is
    saved and loaded without touching this module.
    """
    found: dict[str, type[Layer]] = {}
    stack = [Layer]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if (cls.__module__.startswith("minnet.") and not cls.__name__.startswith("_")
                and _implements_forward(cls)):
            found.setdefault(cls.__name__, cls)
    return found


def _implements_forward(cls: type) -> bool:
    """Whether ``cls`` is a usable layer: not the bare base class, nor another abstract one."""
    return cls is not Layer and cls.forward is not Layer.forward


def _class_key(layer: Layer) -> str:
    """The name under which ``layer``'s class is written to a file."""
    cls = type(layer)
    for key, registered in _REGISTRY.items():
        if registered is cls:
            return key
    builtin = _builtin_layers().get(cls.__name__)
    if builtin is not None and builtin is not cls:
        raise ValueError(f"{_qualname(cls)} has the same name as the built-in minnet.{cls.__name__}; "
                         f"register it under another name: @mn.register_layer(name=...)")
    return cls.__name__


def _resolve_class(key: Any, custom: Mapping[str, type[Layer]]) -> type[Layer]:
    if not isinstance(key, str):
        raise ValueError(f"the file names a layer class {key!r}, which is not a string")
    cls = custom.get(key) or _REGISTRY.get(key) or _builtin_layers().get(key)
    if cls is not None and not _implements_forward(cls):
        raise ValueError(f"the file names the layer class {key!r}, which does not implement forward "
                         f"(it is a base class, not a layer that can be built)")
    if cls is None:
        raise ValueError(f"the file uses the layer class {key!r}, which minnet does not know; "
                         f"pass custom_layers={{{key!r}: {key}}} to load, or decorate the class "
                         f"with @mn.register_layer")
    return cls


def _custom_mapping(custom_layers: Any) -> dict[str, type[Layer]]:
    if custom_layers is None:
        return {}
    if isinstance(custom_layers, Mapping):
        items = list(custom_layers.items())
    elif isinstance(custom_layers, Iterable) and not isinstance(custom_layers, (str, bytes)):
        items = [(getattr(cls, "__name__", None), cls) for cls in custom_layers]
    else:
        raise TypeError(f"custom_layers must be a dict name -> Layer class or a list of Layer classes, "
                        f"got {custom_layers!r}")
    for key, cls in items:
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"custom_layers must hold subclasses of minnet.Layer, got {cls!r}")
        if not isinstance(key, str):
            raise TypeError(f"custom_layers keys must be class names (str), got {key!r}")
    return dict(items)


# -- model <-> description ---------------------------------------------------

def describe_model(model: Layer) -> dict[str, Any]:
    """The JSON-able architecture tree of ``model``: class, config, children."""
    config = model.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__}.get_config() must return a dict, got {config!r}")
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{type(model).__name__}.get_config() returned {config!r}, which cannot be "
                        f"written as JSON ({exc}); return plain numbers, strings, lists and dicts") from None
    node: dict[str, Any] = {"class": _class_key(model), "config": config}
    children = model.children()
    if children:
        node["children"] = [describe_model(child) for child in children]
    return node


def _parameter_table(model: Layer) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    table, values = [], []
    for name, p in model.named_parameters():
        table.append({"name": name, "shape": list(p.value.shape), "dtype": p.value.dtype.name})
        values.append(p.value)
    return table, values


class _Budget:
    """How many parameter values the layers built from a file may still allocate.

    A file holds the values of all its parameters, so a description whose
    layers would need more than that (``Dense(10**6, 10**6)`` next to a few
    small arrays) is refused before or right after each layer is built,
    instead of exhausting memory.
    """

    def __init__(self, n_values: int) -> None:
        self.left = n_values

    def spend(self, n: int, what: str) -> None:
        if n > self.left:
            raise ValueError(f"the file describes {what}, which needs {n} parameter values, but the "
                             f"file holds only {self.left} more; its description does not match its arrays")
        self.left -= n


def _dense_size(config: Mapping[str, Any]) -> int | None:
    """Number of values ``Dense(**config)`` allocates, when the config says it plainly."""
    n_in, n_out = config.get("n_in"), config.get("n_out")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n_in, n_out)):
        return None  # Dense's own checks will refuse it with their message
    return n_in * n_out + (n_out if config.get("bias", True) is not False else 0)


def _build(node: Any, custom: Mapping[str, type[Layer]], budget: _Budget, depth: int = 0) -> Layer:
    if depth > 100:
        raise ValueError("the file's architecture is nested more than 100 levels deep")
    if not isinstance(node, dict) or "class" not in node:
        raise ValueError(f"the file's architecture holds {node!r} where a layer was expected")
    cls = _resolve_class(node["class"], custom)
    config = node.get("config", {})
    children_nodes = node.get("children", [])
    if not isinstance(config, dict) or not isinstance(children_nodes, list):
        raise ValueError(f"the file describes {node['class']} with a malformed config or children")
    children = [_build(child, custom, budget, depth + 1) for child in children_nodes]
    # Dense is the built-in layer whose size a config can inflate; check it before
    # allocating. Any layer's actual parameters are checked right after it is built.
    size = _dense_size(config) if cls is Dense else None
    if size is not None:
        budget.spend(size, f"{node['class']}({config.get('n_in')}, {config.get('n_out')})")
    try:
        layer = cls(*children, **config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the file describes {node['class']} with config {config!r}, which "
                         f"{cls.__name__} rejects: {exc}") from None
    except MemoryError:
        raise ValueError(f"the file describes {node['class']} with config {config!r}, which needs more "
                         f"memory than is available; the file's arrays are far smaller") from None
    if size is None and not children:
        budget.spend(sum(p.value.size for p in layer.parameters()), f"{node['class']} with config {config!r}")
    return layer


def _check_table(table: Any, arrays: Mapping[str, np.ndarray], source: str) -> int:
    """Check the description's parameter table against the arrays the file holds.

    Runs before any layer is built. Returns the number of parameter values
    in the file, which bounds what the architecture may allocate.
    """
    if not isinstance(table, list):
        raise ValueError(f"{source} has no valid list of parameters in its description")
    total = 0
    for i, entry in enumerate(table):
        if not isinstance(entry, dict):
            raise ValueError(f"{source} describes parameter {i} as {entry!r}, not as a name, shape and dtype")
        value = _parameter_array(arrays, i, entry.get("name"), source, entry.get("shape"),
                                 entry.get("dtype"), "its description says")
        total += value.size
    return total


def _check_parameters(model: Layer, table: Any, arrays: Mapping[str, np.ndarray],
                      source: str) -> list[np.ndarray]:
    """The file's parameter arrays, checked against ``model``'s parameters, in order."""
    params = model.named_parameters()
    if not isinstance(table, list) or len(table) != len(params):
        count = len(table) if isinstance(table, list) else "no valid list of"
        raise ValueError(f"{source} holds {count} parameters, the model has {len(params)}")
    values = []
    for i, (name, p) in enumerate(params):
        value = _parameter_array(arrays, i, name, source, p.value.shape, p.value.dtype, "the model expects")
        if not np.isfinite(value).all():
            raise ValueError(f"{source}: parameter {name!r} holds NaN or infinite values")
        values.append(value)
    return values


def _parameter_array(arrays: Mapping[str, np.ndarray], i: int, name: Any, source: str,
                     shape: Any, dtype: Any, expected_by: str) -> np.ndarray:
    """The file's array of parameter ``i`` (called ``name``), refused unless it has ``shape`` and ``dtype``.

    The expectation is either the description's entry (a JSON list and a
    dtype name, which may be anything in a foreign file) or the model's
    parameter (a tuple and an ``np.dtype``); ``expected_by`` names it in
    the message.
    """
    key = f"param.{i}"
    if key not in arrays:
        raise ValueError(f"{source} lacks the array of parameter {name!r} ({key})")
    value = arrays[key]
    if not isinstance(shape, (list, tuple)) or tuple(shape) != value.shape:
        raise ValueError(f"{source}: parameter {name!r} has shape {value.shape}, {expected_by} {shape!r}")
    if isinstance(dtype, np.dtype):
        # Equality of dtypes, so a byte-swapped array is refused too.
        fits, shown = value.dtype == dtype, str(dtype)
    else:
        # A name is compared as text: np.dtype would take None or "float" for float64.
        fits, shown = value.dtype.name == dtype, repr(dtype)
    if not fits:
        raise ValueError(f"{source}: parameter {name!r} is {value.dtype}, {expected_by} {shown}")
    return value


# -- packing state (optimizer buffers, callback arrays) into JSON + arrays -----

def pack(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every ndarray in a nested dict/list by a reference; store it in ``arrays``."""
    if isinstance(obj, np.ndarray):
        key = f"state.{sum(k.startswith('state.') for k in arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"state dicts must have string keys, got {list(obj)!r}")
        return {k: pack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [pack(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save state of type {type(obj).__name__}: {obj!r}")


def unpack(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            key = obj["__array__"]
            if not isinstance(key, str) or key not in arrays:
                raise ValueError(f"the file refers to an array {key!r} it does not hold")
            return arrays[key]
        return {k: unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, arrays) for v in obj]
    return obj


# -- the archive itself ------------------------------------------------------

def write_archive(path: Path, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``meta`` (as JSON) and ``arrays`` to ``path`` atomically.

    The archive is written to a temporary file in the same directory, flushed
    to disk, then renamed over ``path`` with ``os.replace`` (atomic on POSIX
    and Windows). On any failure the temporary file is removed and a previous
    file at ``path`` is left as it was.
    """
    _check_writable(path)
    directory = path.parent
    payload = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    # A fresh name (O_EXCL) created with mode 0o666, so the OS applies the umask
    # as for any ordinary file; an existing file keeps its own permissions.
    tmp_name = str(directory / f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_META_KEY: payload}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, path.stat().st_mode & 0o777)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def _check_writable(path: Path) -> None:
    """Refuse a ``path`` that cannot become a file: a missing directory, or a directory itself.

    Used by :func:`write_archive` and, before the first epoch, by
    :class:`~minnet.Checkpoint`, so both say the same thing.
    """
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {str(path)!r}: it is a directory; give a file name")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every OS.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a minnet archive; returns its description and all its arrays.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is empty, truncated, corrupt, not a minnet file, holds
        pickled objects, or was written by a newer format version.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory, not a minnet file")
    data = path.read_bytes()
    where = f"{str(path)!r}"
    if not data:
        raise ValueError(f"{where} is empty; it is not a minnet file")
    if data.startswith(_PICKLE_MAGIC):
        raise ValueError(f"{where} holds pickled Python objects; minnet never unpickles files")
    if data.startswith(_NPY_MAGIC):
        raise ValueError(f"{where} is a single .npy array, not a minnet .npz file")
    if not data.startswith(_ZIP_MAGIC):
        raise ValueError(f"{where} is not a minnet file (it is not an .npz archive)")
    try:
        # The whole file is in memory already: parsing from bytes keeps every
        # error below a format error, never a half-open file handle.
        _check_array_headers(data)
        with np.load(_io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except MemoryError:
        raise ValueError(f"{where} holds arrays too large for the available memory") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object arrays" in str(exc).lower():
            raise ValueError(f"{where} holds pickled Python objects; minnet never unpickles files") from None
        raise ValueError(f"{where} is corrupt or truncated: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise ValueError(f"{where} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if _META_KEY not in arrays:
        raise ValueError(f"{where} is an .npz archive but not a minnet file (it has no {_META_KEY} entry)")
    raw = arrays.pop(_META_KEY)
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("wrong array type")
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where} has a corrupt description ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
        raise ValueError(f"{where} is not a minnet file (its description is not minnet's)")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{where} was written in format version {version}; this minnet reads "
                         f"versions up to {FORMAT_VERSION}; upgrade minnet to load it")
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: array {key!r} has dtype {value.dtype}, not numbers")
    return meta, arrays


def _check_array_headers(data: bytes) -> None:
    """Check each array's header against its size in the archive, before reading any array.

    numpy allocates an array from the shape its header declares, so a
    hostile header (shape ``(10**6, 10**6)`` over a few bytes) would exhaust
    memory before the lie could be noticed.
    """
    with zipfile.ZipFile(_io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"array {info.filename!r} has .npy format version {version}, "
                                     f"which minnet does not write")
                header_size = f.tell()
            if dtype.hasobject:
                raise ValueError(f"array {info.filename!r} holds pickled Python objects")
            expected = header_size + math.prod(shape) * dtype.itemsize
            if info.file_size != expected:
                raise ValueError(f"array {info.filename!r} declares shape {shape} of {dtype} "
                                 f"({expected - header_size} bytes) but holds {info.file_size - header_size}")


def model_meta(model: Layer, kind: str = "model") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The description and parameter arrays of ``model``, ready for :func:`write_archive`."""
    from . import __version__  # defined in minnet/__init__.py after its imports, this module among them

    table, values = _parameter_table(model)
    meta = {"format": _FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind,
            "minnet_version": __version__, "dtype": model_dtype(model).name,
            "architecture": describe_model(model), "parameters": table}
    return meta, {f"param.{i}": value for i, value in enumerate(values)}


def model_from_meta(meta: dict[str, Any], arrays: Mapping[str, np.ndarray], source: str,
                    custom_layers: Any = None) -> Layer:
    """Rebuild the model a description names and fill in its parameters."""
    custom = _custom_mapping(custom_layers)
    budget = _Budget(_check_table(meta.get("parameters"), arrays, source))
    try:
        model = _build(meta.get("architecture"), custom, budget)
    except RecursionError:
        raise ValueError(f"{source}: the architecture is nested too deeply") from None
    values = _check_parameters(model, meta.get("parameters"), arrays, source)
    for (_, p), value in zip(model.named_parameters(), values):
        p.value[...] = value
    return model


# -- public API --------------------------------------------------------------

def save(model: Layer, path: str | os.PathLike[str]) -> None:
    """Save ``model``'s architecture and parameters to one ``.npz`` file.

    Parameters
    ----------
    model : Layer
        Usually a :class:`~minnet.Sequential`. Custom layers need a
        ``get_config()`` returning their constructor arguments as plain JSON
        values.
    path : str or os.PathLike
        Where to write, exactly as given (no suffix is added; ``.npz`` is
        the customary one). An existing file is replaced atomically.

    Raises
    ------
    TypeError
        If ``model`` is not a Layer, ``path`` is not a path, or a layer's
        config cannot be written as JSON.
    FileNotFoundError
        If the directory of ``path`` does not exist.

    Examples
    --------
    >>> mn.save(model, "model.npz")            # doctest: +SKIP
    >>> same = mn.load("model.npz")            # doctest: +SKIP
    """
    if not isinstance(model, Layer):
        raise TypeError(f"save takes a Layer (e.g. mn.Sequential), got {type(model).__name__}")
    path = check_path("path", path)
    meta, arrays = model_meta(model)
    write_archive(path, meta, arrays)


def load(path: str | os.PathLike[str], custom_layers: Any = None) -> Layer:
    """Load a model written by :func:`save` (or a :class:`~minnet.Checkpoint` file).

    Parameters
    ----------
    path : str or os.PathLike
    custom_layers : dict of str to type, or list of types, optional
        Classes of custom layers not registered with :func:`register_layer`,
        by the name they were saved under (their class name).

    Returns
    -------
    Layer
        A new model with the saved architecture and bit-identical parameters.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is empty, truncated, corrupt or foreign, holds pickled
        objects, names a layer class that is neither built in nor given, or
        its arrays do not fit the architecture it describes.
    """
    path = check_path("path", path)
    meta, arrays = read_archive(path)
    source = repr(str(path))
    model = model_from_meta(meta, arrays, source, custom_layers)
    expected = {f"param.{i}" for i in range(len(model.parameters()))}
    extra = sorted(k for k in arrays if k.startswith("param.") and k not in expected)
    if extra:
        raise ValueError(f"{source} holds arrays {extra} that its architecture does not use")
    return model



# -- checkpoints (used by minnet.Checkpoint and fit(..., resume=)) -------------

def write_checkpoint(path: Path, run: Any) -> None:
    """Write everything :func:`minnet.fit` needs to continue ``run`` bit for bit."""
    meta, arrays = model_meta(run.model, kind="checkpoint")
    callbacks = [{"class": type(cb).__name__, "state": pack(cb.state_dict(), arrays)}
                 for cb in run.callbacks]
    meta["checkpoint"] = {
        "epoch": run.epoch,
        "epochs": run.epochs,
        "stop_training": bool(run.stop_training),
        "history": {"epoch": list(run.history.epoch), "history": run.history.history},
        "optimizer": {"class": type(run.optimizer).__name__,
                      "state": pack(run.optimizer.state_dict(), arrays)},
        "rng": pack(run.rng.bit_generator.state, arrays),
        "callbacks": callbacks,
        "config": run.config,
    }
    write_archive(path, meta, arrays)


def optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's class and hyperparameters as JSON values, to compare two runs.

    Hyperparameters are the public attributes that are not running state
    (``params`` and the keys of ``state_dict()``, such as the step count and
    momentum buffers). A schedule is recorded by its ``repr``, which names
    its class and every constructor argument; a plain function by its
    qualified name, since its default ``repr`` holds a memory address that
    changes from one process to the next.
    """
    running = {"params", *optimizer.state_dict()}
    config: dict[str, Any] = {"class": type(optimizer).__name__}
    for name, value in sorted(vars(optimizer).items()):
        if not name.startswith("_") and name not in running:
            config[name] = _json_value(value)
    return config


def _json_value(value: Any) -> Any:
    """``value`` as a JSON value that is equal for equal settings in any process."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    text = repr(value)
    if " at 0x" in text:  # the default repr: identity, not settings
        # A class or function is named by itself, anything else by its class.
        kind = value if hasattr(value, "__qualname__") else type(value)
        return f"<{kind.__module__}.{kind.__qualname__}>"
    return text


_CONFIG_LABELS = {"log_keys": "logged keys", "batch_size": "batch_size", "shuffle": "shuffle",
                  "n_samples": "number of training samples"}


def _show(value: Any) -> str:
    # Schedules are recorded as their repr: show that text as it is, unquoted.
    return value if isinstance(value, str) else repr(value)


def _config_differences(saved: Any, current: Mapping[str, Any]) -> list[str]:
    """One line per setting that differs between a checkpoint's run and this one."""
    if not isinstance(saved, dict):
        return ["the checkpoint does not record its run's settings (it was written by an older minnet)"]
    found = []
    for key, label in _CONFIG_LABELS.items():
        if saved.get(key) != current[key]:
            hint = " (pass the same metrics and validation_data)" if key == "log_keys" else ""
            found.append(f"{label} {saved.get(key)!r} in the checkpoint, {current[key]!r} in this call{hint}")
    saved_opt = saved.get("optimizer") if isinstance(saved.get("optimizer"), dict) else {}
    current_opt = current["optimizer"]
    for key in [k for k in current_opt if k != "class"] + [k for k in saved_opt if k not in current_opt]:
        a, b = saved_opt.get(key, "(not set)"), current_opt.get(key, "(not set)")
        if a != b:
            found.append(f"optimizer {key} {_show(a)} in the checkpoint, {_show(b)} in this call")
    return found


def read_checkpoint(path: Path, model: Layer, optimizer: Any,
                    config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a checkpoint and check it fits ``model`` and ``optimizer``; change nothing.

    ``config`` (from ``minnet.training._run_config``) holds the settings of
    the resuming call; each one that differs from the checkpointed run's is
    named in the ValueError, since the resumed run could not be the same.

    Returns a dict with ``parameters`` (arrays in ``named_parameters`` order),
    ``optimizer`` (a state dict), ``rng`` (a new Generator), ``epoch``,
    ``stop_training``, ``history`` (``(history, epoch)``) and ``callbacks``
    (a list of ``(class name, state)``).
    """
    meta, arrays = read_archive(path)
    source = f"checkpoint {str(path)!r}"
    if meta.get("kind") != "checkpoint" or not isinstance(meta.get("checkpoint"), dict):
        raise ValueError(f"{str(path)!r} is a model file, not a checkpoint; load it with mn.load() "
                         f"or write checkpoints with callbacks=[mn.Checkpoint(path)]")
    saved_arch, this_arch = meta.get("architecture"), describe_model(model)
    if saved_arch != this_arch:
        raise ValueError(f"{source} was written for a different model: "
                         f"{_first_difference(saved_arch, this_arch)}")
    parameters = _check_parameters(model, meta.get("parameters"), arrays, source)
    state = meta["checkpoint"]
    try:
        opt = state["optimizer"]
        if opt["class"] != type(optimizer).__name__:
            raise ValueError(f"{source} holds the state of a {opt['class']} optimizer, "
                             f"this run uses {type(optimizer).__name__}")
        if config is not None:
            differences = _config_differences(state.get("config"), config)
            if differences:
                raise ValueError(f"{source} was written by a run with other settings, so resuming "
                                 f"could not continue it exactly: " + "; ".join(differences))
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{source} has an invalid epoch {epoch!r}")
        hist = state["history"]
        history, epochs_done = hist["history"], hist["epoch"]
        if (not isinstance(history, dict) or not isinstance(epochs_done, list)
                or len(epochs_done) != epoch
                or any(not isinstance(v, list) or len(v) != epoch for v in history.values())):
            raise ValueError(f"{source} has a history that does not match its {epoch} epoch(s)")
        callbacks = [(entry["class"], unpack(entry["state"], arrays)) for entry in state["callbacks"]]
        return {"parameters": parameters, "optimizer": unpack(opt["state"], arrays),
                "rng": _generator(unpack(state["rng"], arrays), source), "epoch": epoch,
                "stop_training": bool(state.get("stop_training", False)),
                "history": (history, epochs_done), "callbacks": callbacks}
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{source} is malformed ({type(exc).__name__}: {exc})") from None


def _generator(state: Any, source: str) -> np.random.Generator:
    """A new Generator in exactly the saved state (the bit generator is named in it)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise ValueError(f"{source} names an unknown random bit generator {name!r}")
    bit_generator = cls()
    try:
        bit_generator.state = state
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{source} holds an invalid random state ({exc})") from None
    return np.random.Generator(bit_generator)


def _first_difference(saved: Any, current: Any, where: str = "model") -> str:
    """A short description of the first place two architecture trees differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        if saved.get("class") != current.get("class"):
            return f"{where} is {saved.get('class')} in the checkpoint, {current.get('class')} here"
        if saved.get("config") != current.get("config"):
            return (f"{where} ({current.get('class')}) has config {saved.get('config')} in the "
                    f"checkpoint, {current.get('config')} here")
        a, b = saved.get("children", []), current.get("children", [])
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
        return f"{where} has {len(a)} layers in the checkpoint, {len(b)} here"
    return f"{where} differs"
