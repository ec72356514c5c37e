"""Checkpoints: what one holds, writing it, checking it field by field, restoring it into a run.

A checkpoint is a model file (see :mod:`minnet.io.serialize`: architecture,
parameters, layers' state) whose description has ``"kind": "checkpoint"`` and
a ``checkpoint`` entry with exactly these fields:

=================  ==============================================================
``epoch``          epochs completed, an integer in ``[1, epochs]``
``epochs``         the ``epochs`` of the run that wrote it
``stop_training``  whether a callback asked to stop: ``true`` or ``false``
``history``        ``{"epoch": [1, ..., epoch], "history": {key: [number] * epoch}}``,
                   one key per logged quantity
``optimizer``      ``{"class": name, "state": optimizer.state_dict()}``
``rng``            the shuffling generator's ``bit_generator.state``
``callbacks``      ``[{"class": name, "state": callback.state_dict()}, ...]``
``config``         the run's settings that a resume must share
                   (:func:`minnet.run.run_config`)
=================  ==============================================================

Arrays inside states are stored as :func:`minnet.io.archive.pack` describes.

:func:`read_checkpoint` checks every field (type, range, length, shape,
dtype, finiteness; the nesting depth was bounded by
:func:`~minnet.io.archive.read_archive`) and changes nothing. :func:`restore`
then hands the optimizer, the layers and the callbacks their parts, whose
own ``load_state_dict`` / ``set_state`` check them too: all of it is
restored, or none of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..containers import iter_layers, model_dtype
from ..layers import Layer, restore_parameters
from .archive import pack, read_archive, unpack, write_archive
from .fields import generator_from_state, stored_bool, stored_dict, stored_int, stored_real
from .serialize import check_header, check_layer_states, check_parameters, describe_model, model_meta, set_layer_states

if TYPE_CHECKING:
    from ..run import Run

__all__ = ["read_checkpoint", "restore", "write_checkpoint"]

_FIELDS = ("epoch", "epochs", "stop_training", "history", "optimizer", "rng", "callbacks", "config")

#: History keys that are never NaN or infinite in a run that was checkpointed (training stops first).
_FINITE_KEYS = ("loss", "val_loss", "lr")


def write_checkpoint(path: Path, run: Run) -> None:
    """Write everything :func:`minnet.fit` needs to continue ``run`` bit for bit."""
    meta, arrays = model_meta(run.model, kind="checkpoint")
    callbacks = [{"class": type(cb).__name__, "state": pack(cb.state_dict(), arrays)} for cb in run.callbacks]
    meta["checkpoint"] = {
        "epoch": run.epoch,
        "epochs": run.epochs,
        "stop_training": bool(run.stop_training),
        "history": {"epoch": list(run.history.epoch), "history": run.history.history},
        "optimizer": {"class": type(run.optimizer).__name__, "state": pack(run.optimizer.state_dict(), arrays)},
        "rng": pack(run.rng.bit_generator.state, arrays),
        "callbacks": callbacks,
        "config": run.config,
    }
    write_archive(path, meta, arrays)


# -- the run's settings, compared on resume ------------------------------------------

_CONFIG_LABELS = {
    "log_keys": "logged keys",
    "batch_size": "batch_size",
    "shuffle": "shuffle",
    "n_samples": "number of training samples",
}


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
            found.append(f"{label} {saved.get(key)!r:.200} in the checkpoint, {current[key]!r} in this call{hint}")
    saved_opt: dict[str, Any] = saved["optimizer"] if isinstance(saved.get("optimizer"), dict) else {}
    current_opt = current["optimizer"]
    for key in [k for k in current_opt if k != "class"] + [k for k in saved_opt if k not in current_opt]:
        a, b = saved_opt.get(key, "(not set)"), current_opt.get(key, "(not set)")
        if a != b:
            found.append(f"optimizer {key!s:.40} {_show(a):.200} in the checkpoint, {_show(b)} in this call")
    return found


# -- reading: every field checked, nothing changed ---------------------------------


def read_checkpoint(path: Path, model: Layer, optimizer: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """Read a checkpoint and check all of it against ``model``, ``optimizer`` and ``config``; change nothing.

    ``config`` (from :func:`~minnet.run.run_config`) holds the settings of
    the resuming call; each one that differs from the checkpointed run's is
    named in the ValueError, since the resumed run could not be the same.

    Returns
    -------
    dict
        ``parameters`` (arrays in ``named_parameters`` order), ``layer_states``
        (one dict per layer, or None for a version-1 file), ``optimizer`` (a
        state dict whose step count is checked; the optimizer checks the
        rest), ``rng`` (a new Generator), ``epoch``, ``stop_training``,
        ``history`` (``(history, epoch)``), ``callbacks`` (a list of
        ``(class name, state dict)``) and ``source`` (the file, for messages).

    Raises
    ------
    ValueError
        Naming the first field that is missing, of the wrong type, out of
        range, of the wrong length, shape or dtype, or not finite.
    """
    meta, arrays = read_archive(path)
    source = f"checkpoint {str(path)!r}"
    check_header(meta, source)
    if meta["kind"] != "checkpoint":
        raise ValueError(
            f"{str(path)!r} is a model file, not a checkpoint; load it with mn.load() "
            f"or write checkpoints with callbacks=[mn.Checkpoint(path)]"
        )
    saved_arch, this_arch = meta.get("architecture"), describe_model(model)
    if saved_arch != this_arch:
        raise ValueError(f"{source} was written for a different model: {_first_difference(saved_arch, this_arch)}")
    if meta.get("dtype") != model_dtype(model).name:
        raise ValueError(
            f"{source} says its dtype is {meta.get('dtype')!r:.40}, this model computes in {model_dtype(model).name}"
        )
    parameters = check_parameters(model, meta.get("parameters"), arrays, source)
    layer_states = check_layer_states(model, meta, arrays, source)

    def field(name: str) -> str:
        return f"{source}: field {name}"

    state = stored_dict(field("checkpoint"), meta.get("checkpoint"), _FIELDS)
    opt = stored_dict(field("optimizer"), state["optimizer"], ("class", "state"))
    if opt["class"] != type(optimizer).__name__:
        raise ValueError(
            f"{source} holds the state of a {opt['class']!s:.40} optimizer, this run uses {type(optimizer).__name__}"
        )
    if isinstance(state["config"], dict):
        stored_dict(field("config"), state["config"], (*_CONFIG_LABELS, "optimizer"))
    differences = _config_differences(state["config"], config)
    if differences:
        raise ValueError(
            f"{source} was written by a run with other settings, so resuming "
            f"could not continue it exactly: " + "; ".join(differences)
        )
    epochs = stored_int(field("epochs"), state["epochs"], low=1)
    epoch = stored_int(field("epoch"), state["epoch"], low=1, high=epochs)
    opt_state = unpack(opt["state"], arrays)
    if not isinstance(opt_state, dict) or "step_count" not in opt_state:
        raise ValueError(f"{field('optimizer.state')} must be a dict with a step_count, got {opt_state!r:.60}")
    # fit reads the step count before the optimizer checks the rest: every
    # completed epoch took one step per batch, so it is at least this many.
    steps_done = epoch * math.ceil(config["n_samples"] / config["batch_size"])
    stored_int(field("optimizer.state.step_count"), opt_state["step_count"], low=steps_done)
    return {
        "source": source,
        "parameters": parameters,
        "layer_states": layer_states,
        "optimizer": opt_state,
        "rng": generator_from_state(field("rng"), unpack(state["rng"], arrays)),
        "epoch": epoch,
        "stop_training": stored_bool(field("stop_training"), state["stop_training"]),
        "history": _history(state["history"], epoch, config["log_keys"], field),
        "callbacks": _callback_states(state["callbacks"], arrays, field),
    }


def _history(saved: Any, epoch: int, log_keys: list[str], field: Callable[[str], str]) -> tuple[dict, list]:
    """The saved history as ``(history, epochs)``: one number per epoch for each logged key."""
    saved = stored_dict(field("history"), saved, ("epoch", "history"))
    if saved["epoch"] != list(range(1, epoch + 1)):
        raise ValueError(
            f"{field('history.epoch')} must be [1, ..., {epoch}] for {epoch} epoch(s), got {saved['epoch']!r:.60}"
        )
    history = stored_dict(field("history.history"), saved["history"], log_keys)
    result = {}
    for key, values in history.items():
        name = field(f"history.history[{key!r}]")
        if not isinstance(values, list) or len(values) != epoch:
            got = f"{len(values)} values" if isinstance(values, list) else f"{values!r:.40}"
            raise ValueError(f"{name} must hold one number per epoch ({epoch}), got {got}")
        finite = key in _FINITE_KEYS
        result[key] = [
            stored_real(f"{name}[{i}]", v, finite=finite, allow_nan=not finite) for i, v in enumerate(values)
        ]
        if key == "lr" and any(v < 0 for v in result[key]):
            raise ValueError(f"{name} holds a negative learning rate")
    return result, list(range(1, epoch + 1))


def _callback_states(
    saved: Any, arrays: Mapping[str, np.ndarray], field: Callable[[str], str]
) -> list[tuple[str, dict[str, Any]]]:
    """The saved callbacks as ``(class name, state)`` pairs; each callback checks its own state."""
    if not isinstance(saved, list):
        raise ValueError(f"{field('callbacks')} must be a list, got {saved!r:.40}")
    result = []
    for i, entry in enumerate(saved):
        entry = stored_dict(field(f"callbacks[{i}]"), entry, ("class", "state"))
        if not isinstance(entry["class"], str) or not isinstance(entry["state"], dict):
            raise ValueError(
                f"{field(f'callbacks[{i}]')} must name a class (a string) and hold a state (a dict), got {entry!r:.60}"
            )
        result.append((entry["class"], unpack(entry["state"], arrays)))
    return result


# -- restoring: all of it or none of it --------------------------------------------


def restore(run: Run, saved: dict[str, Any]) -> None:
    """Put a checkpoint read by :func:`read_checkpoint` into the run's model, optimizer and callbacks.

    Called after the callbacks' ``on_train_begin``. The optimizer, each
    layer and each callback check their own part as they take it; if one
    refuses, everything already restored is put back as it was and a
    ValueError names the part.
    """
    source, layers = saved["source"], list(iter_layers(run.model))
    optimizer_before = run.optimizer.state_dict()
    layers_before = [layer.get_state() for layer in layers]
    callbacks_before = [cb.state_dict() for cb in run.callbacks]
    try:
        _hand_over(source, "the optimizer's state", run.optimizer.load_state_dict, saved["optimizer"])
        set_layer_states(run.model, saved["layer_states"], source)
        for cb, state in _matching(run.callbacks, saved["callbacks"]):
            _hand_over(source, f"the state of {type(cb).__name__}", cb.load_state_dict, state)
    except BaseException:
        run.optimizer.load_state_dict(optimizer_before)
        for layer, state in zip(layers, layers_before):
            layer.set_state(state)
        for cb, state in zip(run.callbacks, callbacks_before):
            cb.load_state_dict(state)
        raise
    # Checked against the model already, so this cannot fail halfway.
    restore_parameters(run.model.parameters(), saved["parameters"])


def _matching(callbacks: list[Any], saved: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any]]]:
    """Pair the k-th callback of each class with the k-th saved state of that class."""
    pairs: list[tuple[Any, dict[str, Any]]] = []
    counts: dict[str, int] = {}
    for cb in callbacks:
        name = type(cb).__name__
        states = [state for cls, state in saved if cls == name]
        k = counts[name] = counts.get(name, -1) + 1
        if k < len(states):
            pairs.append((cb, states[k]))
    return pairs


def _hand_over(source: str, what: str, load: Callable[[Any], None], state: Any) -> None:
    """``load(state)``, any refusal reported as a ValueError naming ``what`` in ``source``."""
    try:
        load(state)
    except ValueError as exc:
        raise ValueError(f"{source}: {what} is refused: {exc}") from None
    except (TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # A custom optimizer or callback may check less carefully than asked.
        raise ValueError(f"{source}: {what} is refused ({type(exc).__name__}: {exc})") from None


def _first_difference(saved: Any, current: Any, where: str = "model") -> str:
    """A short description of the first place two architecture trees differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        if saved.get("class") != current.get("class"):
            return f"{where} is {saved.get('class')!s:.40} in the checkpoint, {current.get('class')} here"
        if saved.get("config") != current.get("config"):
            return (
                f"{where} ({current.get('class')}) has config {saved.get('config')!s:.200} in the "
                f"checkpoint, {current.get('config')} here"
            )
        a, b = saved.get("children", []), current.get("children", [])
        if not isinstance(a, list):
            return f"{where} has children {a!r:.40} in the checkpoint, a list of {len(b)} layers here"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
        if len(a) != len(b):
            return f"{where} has {len(a)} layers in the checkpoint, {len(b)} here"
        return f"{where} has other fields in the checkpoint: {sorted(map(str, saved))!s:.200}"
    return f"{where} is {saved!r:.40} in the checkpoint, a layer here"
