"""The Layer contract and its Parameter: what every layer is, and the helpers containers share."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._inference import CacheSlot, inference_pass
from .._validation import check_bool

if TYPE_CHECKING:
    from ..regularizers import Regularizer

__all__ = [
    "Layer",
    "Parameter",
    "backward_through",
    "check_batch",
    "check_dtype",
    "dtype_repr",
    "has_trainable_parameters",
    "model_dtype",
    "parameter_list",
    "register_symbolic_call",
    "restore_parameters",
    "snapshot_parameters",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a numpy dtype, accepting only float32 and float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    # Not `resolved in _FLOAT_DTYPES` alone: a dtype compares equal to None (np.dtype(None) is float64).
    if resolved is None or resolved not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return resolved


def dtype_repr(dtype: np.dtype) -> str:
    """``np.float32`` for a dtype, so reprs read like the code that built them."""
    return f"np.{np.dtype(dtype).name}"


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Parameters
    ----------
    value : array-like
        Initial value; integer input is stored as float64.
    name : str, default ""
        Short name used in error messages and saved files (``"W"``, ``"b"``).

    Attributes
    ----------
    value : ndarray
        Updated in place by optimizers, so references to it stay valid.
    grad : ndarray of the same shape and dtype as value
        Written (not accumulated) by the owning layer's ``backward``. It is
        NaN until the first ``backward`` writes it, so an optimizer step taken
        before any backward is refused (its update would be NaN) instead of
        applying weight decay alone as if it were a gradient.
    trainable : bool
        False while the owning layer is frozen (``layer.trainable = False``
        sets it): optimizers leave the parameter and its running state
        untouched, and its ``grad`` may be stale (a frozen layer's
        backward may be skipped), as ``requires_grad=False`` in PyTorch.
    """

    def __init__(self, value: Any, name: str = "") -> None:
        value = np.array(value)  # a private copy: the caller's array is never trained in place
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Parameter value must be numeric, got dtype {value.dtype}")
        if value.dtype.kind != "f":
            value = value.astype(np.float64)
        if value.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"Parameter value must be float32 or float64, got {value.dtype}")
        self.value = value
        self.grad = np.full_like(value, np.nan)  # "no gradient yet": see the class docstring
        self.name = name
        self.trainable = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return self.value.size

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.value.shape}, dtype={dtype_repr(self.value.dtype)})"


def parameter_list(params: Any, where: str = "params") -> list[Parameter]:
    """``params``, one Parameter or an iterable of them, as a list; a TypeError naming ``where`` otherwise."""
    if isinstance(params, Parameter):
        return [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{where} must be a Parameter or an iterable of them, got {params!r:.80}") from None
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{where} must hold Parameter objects, got {p!r:.80}")
    return params


def snapshot_parameters(params: Sequence[Parameter]) -> list[np.ndarray]:
    """Copies of the parameters' values, for :func:`restore_parameters`.

    The one way minnet saves and puts back parameter values (``lr_find``'s
    restore, ``EarlyStopping``'s best weights).
    """
    return [p.value.copy() for p in params]


def restore_parameters(params: Sequence[Parameter], values: Sequence[np.ndarray]) -> None:
    """Write ``values`` (from :func:`snapshot_parameters`) back into ``params``, in place.

    Also how :func:`~minnet.load` and a resumed checkpoint write the values
    they read. Shapes are checked for all parameters before any is written, so a value
    that does not fit changes nothing (numpy would broadcast a smaller one).
    """
    if len(values) != len(params):
        raise ValueError(f"expected values for {len(params)} parameters, got {len(values)}")
    for p, value in zip(params, values):
        if np.shape(value) != p.value.shape:
            raise ValueError(
                f"a value of shape {np.shape(value)} does not fit parameter {p.name or '?'} of shape {p.value.shape}"
            )
    for p, value in zip(params, values):
        p.value[...] = value


# What a layer called on a symbolic value (a graph Node) does instead of computing: minnet.graph
# registers it when imported, so the contract never imports the graph that builds on it.
_SYMBOLIC_CALLS: dict[type, Callable[[Layer, Any], Any]] = {}


def register_symbolic_call(kind: type, build: Callable[[Layer, Any], Any]) -> None:
    """Make ``layer(x)``, for ``x`` of type ``kind`` (or a list holding one), return ``build(layer, x)``.

    This is how :class:`~minnet.Graph` hooks its :class:`~minnet.Node` into
    every layer's ``__call__``: ``Dense(8, 16)(node)`` builds a new node
    instead of computing on an array.
    """
    _SYMBOLIC_CALLS[kind] = build


def _symbolic_call(x: Any) -> Callable[[Layer, Any], Any] | None:
    """The registered builder for ``x`` (a symbolic value or a list holding one), or None for arrays."""
    for kind, build in _SYMBOLIC_CALLS.items():
        if isinstance(x, kind) or (isinstance(x, (list, tuple)) and any(isinstance(a, kind) for a in x)):
            return build
    return None


class Layer:
    """Base class of everything that maps a batch to a batch (contract v3).

    A subclass implements ``forward`` and ``backward`` and, if it owns
    trainable arrays, ``parameters``:

    * ``forward(x, training)`` returns the output and, in training, keeps
      what ``backward`` needs in **one attribute, ``self._cache``** (any
      object). A :class:`~minnet.Graph` reads and sets that slot to give a
      layer used at several nodes the right cache back for each use.
    * ``forward(x, training=False)`` writes no state at all: no cache, no
      statistics, no generator draw. ``backward`` goes back through the
      last *training* forward. So inference (``predict``, ``evaluate``,
      ``fit``'s validation pass, ``summary``), from this thread or another,
      cannot disturb a training step. A layer that stores ``self._cache``
      in every forward is safe too: while a thread runs one of those
      inference passes, the slot drops that thread's stores (a descriptor:
      one Python call per read or store, lost in the noise of a step), so
      ``forward`` must not read ``self._cache`` back. A layer that keeps activations
      under any other attribute loses these guarantees.
    * ``backward(grad)`` *writes* (does not add to) every parameter's
      ``grad``, so after one forward/backward pair each ``p.grad`` holds
      exactly that batch's gradient, and returns dL/d(input).
    * Optionally ``backward(grad, need_input_grad=True)``: a layer whose
      ``backward`` takes this keyword may skip computing dL/d(input) and
      return None when it is False. Training passes False to a model's
      first layer, whose input is the data (see :func:`backward_through`).
    * State that is not trained (running statistics, a generator) goes
      through :meth:`get_state` / :meth:`set_state`, so files carry it.
    * ``layer.trainable = False`` freezes the layer (see :attr:`trainable`).
    """

    #: What ``backward`` needs from the last training ``forward``; None before the first one.
    _cache = CacheSlot()
    #: The fewest rows a training batch may have (``BatchNorm``: 2); ``fit`` checks
    #: its batches against it before the first update.
    min_training_batch: int = 1
    #: How many arrays ``forward`` takes and returns: 1 means a bare array, more a list.
    n_inputs: int | None = 1  # None: any number of at least two (a merge layer)
    n_outputs: int = 1

    def forward(self, x: Any, training: bool = True) -> Any:
        """Compute the layer's output, keeping what ``backward`` needs in ``self._cache``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, *input_shape)
        training : bool, default True
            False for inference (``predict``); layers such as dropout differ.

        Returns
        -------
        ndarray of shape (n_samples, *output_shape)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad: Any) -> Any:
        """Backpropagate through the last ``forward``.

        Parameters
        ----------
        grad : ndarray of shape (n_samples, *output_shape)
            dL/d(output) of the last forward.

        Returns
        -------
        ndarray of shape (n_samples, *input_shape)
            dL/d(input). Every parameter's ``grad`` is *written* (not added to)
            with dL/d(parameter) of this batch.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def parameters(self) -> list[Parameter]:
        """Every parameter, frozen or not, in a fixed order (``p.trainable`` tells which are trained)."""
        return []

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer; ``False`` freezes it, and all its layers for a container.

        A frozen layer's parameters (``p.trainable`` is False) get no
        update from any optimizer, weight decay included, and their
        running state is left as it is; a batch-norm layer normalises with
        its running statistics and does not update them, as in Keras. A
        frozen start of a model gets no backward at all (see
        :func:`backward_through`). :meth:`parameters` still lists every
        parameter, so saving and exporting see all the weights, and an
        optimizer built on ``model.parameters()`` keeps working after a
        layer is unfrozen. Setting it on a container sets it on every layer
        inside (each may then be set again), as Keras does.
        """
        return self.__dict__.get("_trainable", True)  # a layer whose __init__ skipped Layer's is trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = check_bool("trainable", value)
        self._trainable = value
        for p in self.parameters():
            p.trainable = value
        for child in self.children():
            child.trainable = value

    def get_state(self) -> dict[str, Any]:
        """State this layer keeps that is *not* trained, for saving and checkpoints.

        Running statistics (a batch-norm layer's running mean and variance)
        or a random generator's state belong here: what a loaded model needs
        to predict bit-identically and a resumed run needs to stay bit-exact.
        Values may be ndarrays, numbers, strings, ``None`` and lists or dicts
        of them. A layer without such state (the default) returns ``{}``.
        A container returns ``{}`` too: its children answer for themselves.

        Returns
        -------
        dict of str to value
            Copies, not views: later training must not change a saved state.
        """
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (from a file, so check it first).

        Raise ``ValueError`` naming the field for anything that does not fit
        (a wrong key, shape or dtype), and change nothing in that case.
        """
        if state:
            raise ValueError(f"{self!r} keeps no state, got {sorted(state)!r}")

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; containers prefix the layer's index."""
        return [(p.name or str(i), p) for i, p in enumerate(self.parameters())]

    def output_shape(self, input_shape: Any) -> tuple[int, ...]:
        """The shape of one output sample for one input sample of ``input_shape`` (shapes without ``n``).

        A :class:`~minnet.Graph` asks this of every node when it is built, so
        a layer that cannot take its input says so there, before any data
        flows. Built-in layers compute it and raise ``ValueError`` naming
        the layer and both shapes; this default runs one zero sample through
        ``forward(x, training=False)`` (which writes no state), so a custom
        layer gets it for free. Override it when that sample would be
        costly or the layer can say more precisely what it expects.

        Parameters
        ----------
        input_shape : tuple of int, or a list of them for a merge layer
            ``(features,)`` for a table, ``(C, H, W)`` for an image.

        Returns
        -------
        tuple of int
        """
        dtype = model_dtype(self)
        if self.n_inputs == 1:
            x: Any = np.zeros((1, *input_shape), dtype)
        else:
            x = [np.zeros((1, *shape), dtype) for shape in input_shape]
        with inference_pass(), np.errstate(all="ignore"):
            out = np.asarray(self.forward(x, training=False))
        if out.ndim < 2 or len(out) != 1:
            raise ValueError(f"{self!r} returned shape {out.shape} for one sample; a layer returns a batch (1, ...)")
        return tuple(out.shape[1:])

    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one input sample, when this layer fixes it (``Dense(3, 4)``: ``(3,)``), else None.

        What :meth:`~minnet.Sequential.summary` starts from when it is given no input shape.
        """
        return None

    def in_features(self) -> int | None:
        """The number of input features, when :meth:`input_shape` fixes a table's width, else None."""
        shape = self.input_shape()
        return shape[0] if shape is not None and len(shape) == 1 else None

    def children(self) -> list[Layer]:
        """Layers held directly by this one (empty for a leaf layer)."""
        return []

    def penalties(self) -> list[tuple[Parameter, Regularizer]]:
        """The (parameter, regularizer) pairs whose penalty training adds to the loss.

        Empty by default; :class:`~minnet.Dense` and :class:`~minnet.Conv2D`
        give their ``kernel_regularizer`` and ``bias_regularizer``. A
        container gives none of its own: the training step asks every layer
        below it (:mod:`minnet.regularizers`).
        """
        return []

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer: ``type(self)(**config)``."""
        return {}

    @classmethod
    def from_config(cls, children: list[Layer], config: dict[str, Any]) -> Layer:
        """Rebuild a layer from its children and :meth:`get_config` (what :func:`~minnet.load` calls).

        The default is ``cls(*children, **config)``; a layer whose
        constructor takes something else (a :class:`~minnet.Graph`)
        overrides it.
        """
        return cls(*children, **config)

    @classmethod
    def parameter_count(cls, config: dict[str, Any]) -> int | None:
        """How many parameter values ``cls(**config)`` would allocate, if the config says it plainly.

        :func:`~minnet.load` asks this before building a layer from a file,
        so that a description far larger than the file's arrays is refused
        before it costs memory. None (the default) means "build it, then
        count".
        """
        return None

    def extra_repr(self) -> str:
        """Arguments shown inside the parentheses of ``repr``."""
        return ""

    def __call__(self, x: Any, training: bool = True) -> Any:
        """``forward(x, training)`` on arrays; on a graph Node (or a list of them), a new Node."""
        build = _symbolic_call(x)
        if build is not None:
            return build(self, x)
        return self.forward(x, training=training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _require_cache(self) -> Any:
        """``self._cache``, or a RuntimeError if there is no forward to go back through."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward (no cached forward pass)")
        return cache

    def _check_grad(self, grad: np.ndarray, expected_shape: tuple[int, ...]) -> np.ndarray:
        grad = np.asarray(grad)
        if grad.shape != expected_shape:
            raise ValueError(
                f"{self!r}: backward expected a gradient of shape {expected_shape} "
                f"(the shape of the last output), got {grad.shape}"
            )
        return grad


def model_dtype(layer: Layer) -> np.dtype:
    """The float dtype ``layer`` computes in: its ``dtype`` if set, else its first parameter's, else float64."""
    dtype = getattr(layer, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    params = layer.parameters()
    return params[0].value.dtype if params else np.dtype(np.float64)


def check_batch(
    x: Any,
    n_features: int,
    dtype: np.dtype,
    who: str | Callable[[], str],
    held: str,
    *,
    table: bool = True,
    hint: str = "",
) -> np.ndarray:
    """``x`` as an array of ``n_features`` on its last axis, in ``dtype``, or the error naming the layer ``who``.

    With ``table`` (the default) ``x`` must be 2-D, ``(n, n_features)``;
    otherwise any batch ``(n, ..., n_features)``. ``hint`` ends the message
    of a wrong shape (where to look instead). ``who`` may be a function
    giving the name, called only for an error: a layer checks every batch.
    """
    x = np.asarray(x)
    if x.ndim >= 2 and (x.ndim == 2 or not table) and x.shape[-1] == n_features and x.dtype == dtype:
        return x
    who = who() if callable(who) else who
    if x.ndim < 2 or (table and x.ndim != 2) or x.shape[-1] != n_features:
        got = {0: f"an array of shape {x.shape}", 1: f"an array of shape {x.shape}", 2: f"{x.shape[-1]}"}.get(
            x.ndim, f"samples of shape {x.shape[1:]}"
        )
        where = " on the last axis" if x.ndim > 2 else ""
        raise ValueError(f"{who} expected {n_features} features{where}, got {got}{hint}")
    if x.dtype != dtype:
        raise TypeError(f"{who} holds {dtype} {held}, got {x.dtype} input; convert it with x.astype(np.{dtype.name})")
    return x


@functools.cache
def _takes_need_input_grad(backward: Callable) -> bool:
    try:
        return "need_input_grad" in inspect.signature(backward).parameters
    except (TypeError, ValueError):  # a builtin or other callable without a signature
        return False


def has_trainable_parameters(layer: Layer) -> bool:
    """Whether ``layer`` (or any layer inside it) holds a parameter that is not frozen."""
    return any(p.trainable for p in layer.parameters())


def backward_through(layer: Layer, grad: Any, need_input_grad: bool = True) -> Any:
    """``layer.backward(grad)``, telling the layer when dL/d(input) is not needed.

    This is the one mechanism for skipping the input gradient: a layer whose
    ``backward`` declares a ``need_input_grad`` keyword receives it (and may
    return None when it is False); any other layer is called as
    ``backward(grad)`` and computes dL/d(input) as always, which is correct,
    only slower. When dL/d(input) is not needed and the layer holds no
    trainable parameter (a frozen layer, or one without parameters, at the
    start of a model) its backward is not run at all and the result is None.
    Containers call every layer's backward through this.
    """
    if not need_input_grad and not has_trainable_parameters(layer):
        return None
    if need_input_grad or not _takes_need_input_grad(type(layer).backward):
        return layer.backward(grad)
    backward: Callable[..., Any] = layer.backward  # declares need_input_grad, checked just above
    return backward(grad, need_input_grad=False)
