"""Saving and loading models: a model described as JSON, rebuilt from the description.

:func:`save` writes a model's architecture (a tree of layer classes and
their ``get_config()``), its parameters and the state of each layer that
keeps state beyond its parameters (``Layer.get_state()``: running
statistics, a generator's state) to one file in the format of
:mod:`minnet.io.archive`; :func:`load` rebuilds it, bit-identical.

Layers are rebuilt by class name: built-in layers are found automatically,
custom ones through :func:`register_layer` or ``load(..., custom_layers=...)``.
A layer with children (such as :class:`~minnet.Sequential`) is rebuilt as
``cls(*children, **config)``, a leaf layer as ``cls(**config)``.

The description is checked against the arrays before it can cost memory:
the parameter table against the arrays the file holds, and each layer's size
against the values the file holds (a description of ``Dense(10**6, 10**6)``
next to a few small arrays is a ValueError, not an allocation of terabytes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from .._validation import check_path
from .._version import __version__
from ..containers import MAX_NESTING, check_nesting, iter_layers, model_dtype
from ..layers import Layer, restore_parameters
from .archive import pack, read_archive, unpack, write_archive
from .fields import stored_dict

__all__ = [
    "check_header",
    "check_layer_states",
    "check_parameters",
    "describe_model",
    "load",
    "model_meta",
    "register_layer",
    "save",
    "set_layer_states",
]

_REGISTRY: dict[str, type[Layer]] = {}

LayerClass = TypeVar("LayerClass", bound=type)


# -- the registry ------------------------------------------------------------


def register_layer(cls: LayerClass | None = None, *, name: str | None = None) -> Any:
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

    def decorator(klass: LayerClass) -> LayerClass:
        if not (isinstance(klass, type) and issubclass(klass, Layer)):
            raise TypeError(f"register_layer takes a subclass of minnet.Layer, got {klass!r}")
        key = klass.__name__ if name is None else name
        if not isinstance(key, str) or not key:
            raise TypeError(f"name must be a non-empty string, got {key!r}")
        taken = _REGISTRY.get(key) or _builtin_layers().get(key)
        # Re-running a class definition (a notebook cell, a reload) makes a new
        # class object with the same qualified name: that is a redefinition, not a clash.
        if taken is not None and _qualname(taken) != _qualname(klass):
            raise ValueError(
                f"layer name {key!r} is already used by {_qualname(taken)}; "
                f"register {_qualname(klass)} under another name with name="
            )
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
        if cls.__module__.startswith("minnet.") and not cls.__name__.startswith("_") and _implements_forward(cls):
            found.setdefault(cls.__name__, cls)
    return found


def _implements_forward(cls: type) -> bool:
    """Whether ``cls`` is a usable layer: not the bare base class, nor another abstract one."""
    return cls is not Layer and getattr(cls, "forward", None) is not Layer.forward


def _class_key(layer: Layer) -> str:
    """The name under which ``layer``'s class is written to a file."""
    cls = type(layer)
    for key, registered in _REGISTRY.items():
        if registered is cls:
            return key
    builtin = _builtin_layers().get(cls.__name__)
    if builtin is not None and builtin is not cls:
        raise ValueError(
            f"{_qualname(cls)} has the same name as the built-in minnet.{cls.__name__}; "
            f"register it under another name: @mn.register_layer(name=...)"
        )
    return cls.__name__


def _resolve_class(key: Any, custom: Mapping[str, type[Layer]]) -> type[Layer]:
    if not isinstance(key, str):
        raise ValueError(f"the file names a layer class {key!r}, which is not a string")
    cls = custom.get(key) or _REGISTRY.get(key) or _builtin_layers().get(key)
    if cls is not None and not _implements_forward(cls):
        raise ValueError(
            f"the file names the layer class {key!r}, which does not implement forward "
            f"(it is a base class, not a layer that can be built)"
        )
    if cls is None:
        raise ValueError(
            f"the file uses the layer class {key!r}, which minnet does not know; "
            f"pass custom_layers={{{key!r}: {key}}} to load, or decorate the class "
            f"with @mn.register_layer"
        )
    return cls


def _model_classes(model: Layer) -> dict[str, type[Layer]]:
    """The class of each layer of ``model`` by the name it is saved under: what ``load`` needs to rebuild it.

    Two classes saved under one name could not both be rebuilt, so that is refused.
    """
    classes: dict[str, type[Layer]] = {}
    for layer in iter_layers(model):
        key, cls = _class_key(layer), type(layer)
        if classes.setdefault(key, cls) is not cls:
            raise ValueError(
                f"the model holds two layer classes saved under the name {key!r}, {_qualname(classes[key])} "
                f"and {_qualname(cls)}, so load could not rebuild both; register one under another "
                f"name: @mn.register_layer(name=...)"
            )
    return classes


def _custom_mapping(custom_layers: Any) -> dict[str, type[Layer]]:
    if custom_layers is None:
        return {}
    if isinstance(custom_layers, Mapping):
        items = list(custom_layers.items())
    elif isinstance(custom_layers, Iterable) and not isinstance(custom_layers, (str, bytes)):
        items = [(getattr(cls, "__name__", None), cls) for cls in custom_layers]
    else:
        raise TypeError(
            f"custom_layers must be a dict name -> Layer class or a list of Layer classes, got {custom_layers!r}"
        )
    for key, cls in items:
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"custom_layers must hold subclasses of minnet.Layer, got {cls!r}")
        if not isinstance(key, str):
            raise TypeError(f"custom_layers keys must be class names (str), got {key!r}")
    return dict(items)


# -- model <-> description ---------------------------------------------------


def describe_model(model: Layer, parent_trainable: bool = True) -> dict[str, Any]:
    """The JSON-able architecture tree of ``model``: class, config, children.

    A layer whose ``trainable`` flag differs from its container's (from
    True, at the top) records it, so files of models without frozen layers
    are as before and an old file loads as trainable.
    """
    config = model.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__}.get_config() must return a dict, got {config!r}")
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{type(model).__name__}.get_config() returned {config!r}, which cannot be "
            f"written as JSON ({exc}); return plain numbers, strings, lists and dicts"
        ) from None
    node: dict[str, Any] = {"class": _class_key(model), "config": config}
    if model.trainable != parent_trainable:
        node["trainable"] = model.trainable
    children = model.children()
    if children:
        node["children"] = [describe_model(child, model.trainable) for child in children]
    return node


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
            raise ValueError(
                f"the file describes {what}, which needs {n} parameter values, but the "
                f"file holds only {self.left} more; its description does not match its arrays"
            )
        self.left -= n


def _build(
    node: Any,
    custom: Mapping[str, type[Layer]],
    budget: _Budget,
    flags: list[tuple[Layer, bool]],
    depth: int = 0,
    parent_trainable: bool = True,
) -> Layer:
    """The layer ``node`` describes; each built layer and its ``trainable`` flag are appended to ``flags``."""
    if depth > MAX_NESTING:
        raise ValueError(f"the file's architecture is nested more than {MAX_NESTING} containers deep")
    if not isinstance(node, dict) or "class" not in node:
        raise ValueError(f"the file's architecture holds {node!r:.80} where a layer was expected")
    cls = _resolve_class(node["class"], custom)
    unknown = sorted(map(str, set(node) - {"class", "config", "children", "trainable"}))
    if unknown:
        raise ValueError(f"the file describes {node['class']} with fields minnet does not know: {unknown!s:.80}")
    config = node.get("config", {})
    children_nodes = node.get("children", [])
    if not isinstance(config, dict) or not isinstance(children_nodes, list):
        raise ValueError(f"the file describes {node['class']} with a malformed config or children")
    trainable = node.get("trainable", parent_trainable)
    if not isinstance(trainable, bool):
        raise ValueError(f"the file describes {node['class']} with trainable={trainable!r:.40}; expected true or false")
    children = [_build(child, custom, budget, flags, depth + 1, trainable) for child in children_nodes]
    # A layer that can tell its size from its config (Dense) is checked before it
    # allocates; any other layer's parameters are checked right after it is built.
    size = cls.parameter_count(config)
    if size is not None:
        budget.spend(size, f"{node['class']} with config {config!r:.200}")
    try:
        layer = cls.from_config(children, config)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(
            f"the file describes {node['class']} with config {config!r:.200}, which {cls.__name__} rejects: {exc}"
        ) from None
    except MemoryError:
        raise ValueError(
            f"the file describes {node['class']} with config {config!r:.200}, which needs more "
            f"memory than is available; the file's arrays are far smaller"
        ) from None
    if size is None and not children:
        budget.spend(sum(p.value.size for p in layer.parameters()), f"{node['class']} with config {config!r:.200}")
    _check_config_kept(layer, config, node["class"])
    flags.append((layer, trainable))
    return layer


def _check_config_kept(layer: Layer, config: Mapping[str, Any], name: str) -> None:
    """Refuse a config the layer took but reads otherwise (``dtype=None`` taken as float64, say).

    What is loaded must be what the file describes; a layer's ``get_config``
    may add defaults the file left out, but not change what it says. Both
    are compared as JSON, so a tuple and the list it became are equal.
    """
    try:
        kept = json.loads(json.dumps(layer.get_config()))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} built from the file has a config that cannot be written as JSON ({exc})") from None
    changed = sorted(key for key, value in config.items() if key not in kept or kept[key] != value)
    if changed:
        raise ValueError(
            f"the file describes {name} with config {dict(config)!r:.200}, which {name} reads "
            f"as {kept!r:.200} (it does not keep {changed})"
        )


# -- parameters: the table and the arrays ------------------------------------------


_TABLE_FIELDS = ("name", "shape", "dtype")


def _parameter_table(model: Layer) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    table, values = [], []
    for name, p in model.named_parameters():
        table.append({"name": name, "shape": list(p.value.shape), "dtype": p.value.dtype.name})
        values.append(p.value)
    return table, values


def _check_table(table: Any, arrays: Mapping[str, np.ndarray], source: str) -> int:
    """Check the description's parameter table against the arrays the file holds.

    Runs before any layer is built. Returns the number of parameter values
    in the file, which bounds what the architecture may allocate.
    """
    if not isinstance(table, list):
        raise ValueError(f"{source} has no valid list of parameters in its description")
    total = 0
    for i, entry in enumerate(table):
        if not isinstance(entry, dict) or set(entry) != set(_TABLE_FIELDS) or not isinstance(entry["name"], str):
            raise ValueError(f"{source} describes parameter {i} as {entry!r:.80}, not as a name, shape and dtype")
        value = _parameter_array(
            arrays, i, entry["name"], source, entry.get("shape"), entry.get("dtype"), "its description says"
        )
        total += value.size
    return total


def check_parameters(model: Layer, table: Any, arrays: Mapping[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The file's parameter arrays, checked against ``model``'s parameters, in order.

    Each must have the name, shape and dtype of the model's parameter;
    ``source`` names the file in the messages. Its values are taken as they
    are, NaN and infinities included: a file is a faithful record (of a
    diverged model too, as PyTorch's and Keras' files are), and :func:`save`
    writes them as they are.
    """
    params = model.named_parameters()
    if not isinstance(table, list) or len(table) != len(params):
        count = len(table) if isinstance(table, list) else "no valid list of"
        raise ValueError(f"{source} holds {count} parameters, the model has {len(params)}")
    values = []
    for i, (name, p) in enumerate(params):
        entry = stored_dict(f"{source}: parameter {i}", table[i], _TABLE_FIELDS)
        saved_name = entry["name"]
        if saved_name != name:
            raise ValueError(f"{source} calls parameter {i} {saved_name!r:.40}, the model calls it {name!r}")
        values.append(_parameter_array(arrays, i, name, source, p.value.shape, p.value.dtype, "the model expects"))
    return values


def _parameter_array(
    arrays: Mapping[str, np.ndarray], i: int, name: str, source: str, shape: Any, dtype: Any, expected_by: str
) -> np.ndarray:
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
        raise ValueError(f"{source}: parameter {name!r} has shape {value.shape}, {expected_by} {shape!r:.80}")
    if isinstance(dtype, np.dtype):
        # Equality of dtypes, so a byte-swapped array is refused too.
        fits, shown = value.dtype == dtype, str(dtype)
    else:
        # A name is compared as text: np.dtype would take None or "float" for float64.
        fits, shown = value.dtype.name == dtype, f"{dtype!r:.40}"
    if not fits:
        raise ValueError(f"{source}: parameter {name!r} is {value.dtype}, {expected_by} {shown}")
    return value


# -- the layers' state (Layer.get_state / set_state) ----------------------------------


def _layer_name(index: int, layer: Layer) -> str:
    """How messages name a layer: its place in ``iter_layers`` order and the first line of its repr."""
    return f"layer {index} ({repr(layer).splitlines()[0]})"


def _layer_states(model: Layer, arrays: dict[str, np.ndarray]) -> list[Any]:
    """Every layer's ``get_state()`` in ``iter_layers`` order, packed into JSON and ``arrays``."""
    states = []
    for i, layer in enumerate(iter_layers(model)):
        state = layer.get_state()
        if not isinstance(state, dict):
            raise TypeError(f"{type(layer).__name__}.get_state() must return a dict, got {state!r:.80}")
        try:
            states.append(pack(state, arrays))
        except TypeError as exc:
            raise TypeError(f"the state of {_layer_name(i, layer)} cannot be saved: {exc}") from None
    return states


def check_layer_states(
    model: Layer, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], source: str
) -> list[dict[str, Any]] | None:
    """The file's layer states, one dict per layer of ``model`` in ``iter_layers`` order.

    Checks their number and kind only: each layer's ``set_state`` checks its
    own. Returns None for a file of format version 1, which holds none.
    """
    if meta.get("format_version") == 1 and "states" not in meta:
        return None
    states, layers = meta.get("states"), list(iter_layers(model))
    if not isinstance(states, list) or len(states) != len(layers):
        count = f"{len(states)} entries" if isinstance(states, list) else f"{states!r:.40}"
        raise ValueError(
            f"{source}: the layers' states must be a list of {len(layers)} dicts (one per layer), got {count}"
        )
    unpacked = []
    for i, (layer, state) in enumerate(zip(layers, states)):
        if not isinstance(state, dict):
            raise ValueError(f"{source}: the state of {_layer_name(i, layer)} must be a dict, got {state!r:.40}")
        unpacked.append(unpack(state, arrays))
    return unpacked


def set_layer_states(model: Layer, states: list[dict[str, Any]] | None, source: str) -> None:
    """Hand each layer of ``model`` its state from :func:`check_layer_states`.

    A layer that refuses its state (its ``set_state`` raises) makes this a
    ValueError naming the layer; layers before it keep their new state, so
    a caller restoring into a live model rolls them back.
    """
    if states is None:
        return
    for i, (layer, state) in enumerate(zip(iter_layers(model), states)):
        try:
            layer.set_state(state)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            # A custom layer may check less carefully than asked; whatever it
            # raises about a bad state is reported as the file's fault, by layer.
            raise ValueError(
                f"{source}: {_layer_name(i, layer)} refuses the saved state: {type(exc).__name__}: {exc}"
            ) from None


# -- the whole description -------------------------------------------------------


def model_meta(model: Layer, kind: str = "model") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The description and arrays of ``model`` (parameters, layers' state), for ``archive.write_archive``."""
    check_nesting(model, "the model")  # a custom container is not checked when it is built
    table, values = _parameter_table(model)
    arrays = {f"param.{i}": value for i, value in enumerate(values)}
    meta = {
        "kind": kind,
        "minnet_version": __version__,
        "dtype": model_dtype(model).name,
        "architecture": describe_model(model),
        "parameters": table,
        "states": _layer_states(model, arrays),
    }
    return meta, arrays


_MODEL_FIELDS = ("format", "format_version", "kind", "minnet_version", "dtype", "architecture", "parameters", "states")


def check_header(meta: Mapping[str, Any], source: str) -> None:
    """The description's fields that are not the model: what kind of file, written by which minnet.

    A field minnet does not write (a checkpoint's run in a model file, say)
    is refused, as an array it does not name is.
    """
    if meta.get("kind") not in ("model", "checkpoint"):
        raise ValueError(f"{source} has an unknown kind {meta.get('kind')!r:.40}; expected 'model' or 'checkpoint'")
    known = {*_MODEL_FIELDS, "checkpoint"} if meta["kind"] == "checkpoint" else set(_MODEL_FIELDS)
    unknown = sorted(map(str, set(meta) - known))
    if unknown:
        raise ValueError(f"{source} has fields a {meta['kind']} file does not have: {unknown!s:.120}")
    if not isinstance(meta.get("minnet_version"), str):
        raise ValueError(f"{source} names no minnet version (got {meta.get('minnet_version')!r:.40})")


def _model_from_meta(
    meta: dict[str, Any], arrays: Mapping[str, np.ndarray], source: str, custom_layers: Any = None
) -> Layer:
    """Rebuild the model a description names and fill in its parameters and layers' state."""
    custom = _custom_mapping(custom_layers)
    check_header(meta, source)
    budget = _Budget(_check_table(meta.get("parameters"), arrays, source))
    flags: list[tuple[Layer, bool]] = []
    try:
        model = _build(meta.get("architecture"), custom, budget, flags)
    except RecursionError:
        raise ValueError(f"{source}: the architecture is nested too deeply") from None
    values = check_parameters(model, meta.get("parameters"), arrays, source)
    if meta.get("dtype") != model_dtype(model).name:
        raise ValueError(
            f"{source} says its dtype is {meta.get('dtype')!r:.40}, its model computes in {model_dtype(model).name}"
        )
    states = check_layer_states(model, meta, arrays, source)
    restore_parameters(model.parameters(), values)
    set_layer_states(model, states, source)
    # Containers before the layers inside them: setting a container's flag sets its layers'.
    for layer, trainable in reversed(flags):
        layer.trainable = trainable
    return model


# -- public API --------------------------------------------------------------


def save(model: Layer, path: str | os.PathLike[str]) -> None:
    """Save ``model``'s architecture, parameters and layers' state to one ``.npz`` file.

    Parameters
    ----------
    model : Layer
        Usually a :class:`~minnet.Sequential`. Custom layers need a
        ``get_config()`` returning their constructor arguments as plain JSON
        values, and a ``get_state()`` if they keep state that is not trained.
    path : str or os.PathLike
        Where to write, exactly as given (no suffix is added; ``.npz`` is
        the customary one). An existing file is replaced atomically.

    Raises
    ------
    TypeError
        If ``model`` is not a Layer, ``path`` is not a path, or a layer's
        config or state cannot be written.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    ValueError
        Before anything is written, if :func:`load` would refuse the file
        (``load(path, custom_layers=<the model's classes>)``): the model is
        rebuilt from what the file would hold, so this costs one more copy
        of its parameters while it runs. Also if the file name is longer
        than the file system allows, or the model nests more than
        ``MAX_NESTING`` (100) containers deep.

    Notes
    -----
    What is written is what :func:`load` reads back: the same predictions
    and gradients, bit for bit. Parameters holding NaN or infinities are
    written and read as they are.

    Examples
    --------
    >>> mn.save(model, "model.npz")            # doctest: +SKIP
    >>> same = mn.load("model.npz")            # doctest: +SKIP
    """
    if not isinstance(model, Layer):
        raise TypeError(f"save takes a Layer (e.g. mn.Sequential), got {type(model).__name__}")
    path = check_path("path", path)
    meta, arrays = model_meta(model)
    classes = _model_classes(model)
    # What load would refuse is refused here: the model is rebuilt from what the file will hold.
    write_archive(path, meta, arrays, check=lambda read_back: _model_from_meta(read_back, arrays, "the file", classes))


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
        A new model with the saved architecture, bit-identical parameters
        and each layer's saved state, so it predicts bit-identically.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is empty, truncated, corrupt or foreign, holds pickled
        objects or arrays its description does not name, declares more data
        than it can hold, names a layer class that is neither built in nor
        given, or its arrays or states do not fit the architecture it
        describes. The memory used is bounded by a small multiple of the
        file's size (see :mod:`minnet.io.archive`).
    """
    path = check_path("path", path)
    meta, arrays = read_archive(path)
    return _model_from_meta(meta, arrays, repr(str(path)), custom_layers)
