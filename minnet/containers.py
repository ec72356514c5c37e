"""Containers: layers made of layers, and the model base they share.

:class:`Model` is what :class:`Sequential` and :class:`~minnet.Graph` have in
common: ``predict`` in batches, ``summary()``, a dtype decided once at
construction, and inference that never disturbs training. That last
guarantee rests on the Layer contract: ``forward(x, training=False)`` writes
no layer state, and every inference pass runs inside
an inference pass (``minnet._inference``), which keeps a layer that stores
its cache anyway from doing so. So a forward/backward pair can have any
number of ``predict`` or ``evaluate`` calls between its halves, from this
thread or another.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from ._inference import inference_pass
from ._validation import as_batch, as_float_array, by_name, check_int, check_shape
from .layers import Layer, Parameter, backward_through, has_trainable_parameters
from .layers.base import model_dtype

__all__ = [
    "MAX_NESTING",
    "PREDICT_BATCH_SIZE",
    "Model",
    "Sequential",
    "as_model_inputs",
    "check_nesting",
    "inference_batches",
    "iter_layers",
    "model_dtype",
    "restore_states",
    "shape_text",
    "snapshot_states",
    "summary_table",
]


PREDICT_BATCH_SIZE = 1024
"""Rows per forward pass of :meth:`Model.predict` when it is given no ``batch_size``."""


def iter_layers(layer: Layer) -> Iterator[Layer]:
    """Yield ``layer`` and every distinct layer below it, depth first, each once."""
    seen: set[int] = set()

    def walk(current: Layer) -> Iterator[Layer]:
        if id(current) in seen:
            return
        seen.add(id(current))
        yield current
        for child in current.children():
            yield from walk(child)

    return walk(layer)


MAX_NESTING = 100
"""How many containers deep a model may hold a layer: ``Sequential(Dense(...))`` is 1.

One limit that building, :func:`~minnet.save`, :func:`~minnet.load` and
``predict`` agree on: a model within it is saved, loaded and run; a deeper
one cannot be built (a container knows its children's depth).
"""


def nesting_depth(layer: Layer) -> int:
    """How many containers deep ``layer`` holds its deepest layer: 0 for a leaf.

    Walked without recursion, and no further than one level past
    :data:`MAX_NESTING`, which is then the depth returned.
    """
    deepest, stack = 0, [(layer, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:  # deeper is refused anyway, and a cycle of children must end
            stack.extend((child, depth + 1) for child in current.children())
    return deepest


def check_nesting(layer: Layer, what: str) -> None:
    """Refuse ``layer`` if it holds layers more than :data:`MAX_NESTING` containers deep; ``what`` names it."""
    depth = nesting_depth(layer)
    if depth > MAX_NESTING:
        raise ValueError(
            f"{what} would hold a layer {depth} containers deep; minnet models nest at most "
            f"{MAX_NESTING} (the depth that save, load and predict all handle): flatten inner containers"
        )


def stateful_layers(model: Layer) -> list[Layer]:
    """The layers of ``model`` that keep non-trained state (:meth:`Layer.get_state` is not empty)."""
    return [layer for layer in iter_layers(model) if layer.get_state()]


def snapshot_states(model: Layer) -> list[tuple[Layer, dict[str, Any]]]:
    """The non-trained state of every layer of ``model`` that has one, for :func:`restore_states`.

    The one way minnet puts running statistics and random generators back
    after a pass that must leave them as they were (``gradcheck``'s probes,
    ``lr_find``'s trial steps). Each state is a copy (:meth:`Layer.get_state`).
    """
    snapshot = []
    for layer in iter_layers(model):
        state = layer.get_state()
        if state:
            snapshot.append((layer, state))
    return snapshot


def restore_states(snapshot: Sequence[tuple[Layer, dict[str, Any]]]) -> None:
    """Put back the states taken by :func:`snapshot_states`; the snapshot may be restored again."""
    for layer, state in snapshot:
        layer.set_state(state)


def inference_batches(
    model: Layer, inputs: Sequence[np.ndarray], batch_size: int | None
) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """Forward ``inputs`` in inference mode, ``batch_size`` rows at a time, as an inference pass.

    Parameters
    ----------
    model : Layer
    inputs : list of ndarray, each of shape (n_samples, ...)
        One array per model input, already validated.
    batch_size : int or None
        Rows per forward; None runs all rows at once.

    Yields
    ------
    rows : slice
        The rows of this batch.
    outputs : list of ndarray
        The model's outputs for them (one per model output).
    """
    n = len(inputs[0])
    step = n if batch_size is None else batch_size
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        batch = [x[rows] for x in inputs]
        with inference_pass():  # not held across the yield: the caller's code is not part of the pass
            out = model.forward(batch[0] if model.n_inputs == 1 else batch, training=False)
        yield rows, ([out] if model.n_outputs == 1 else list(out))


def as_model_inputs(model: Layer, x: Any, name: str = "x") -> list[np.ndarray]:
    """Validate what a caller passes as a model's input; return one batch ``(n_samples, ...)`` per input.

    A model with one input takes an array; one with several takes a list
    with an array for each, all with the same number of samples, or a dict
    keyed by the input names of a :class:`~minnet.Graph`. Arrays are
    converted once to the model's dtype and checked finite.
    """
    dtype = model_dtype(model)
    if isinstance(x, Mapping):
        x = by_name(name, x, getattr(model, "input_names", None), "input")
        x = x[0] if model.n_inputs == 1 else x
    if model.n_inputs == 1:
        return [as_batch(name, x, dtype)]  # a wrong shape is refused by the layer (or graph input) that fixes it
    if not isinstance(x, (list, tuple)) or len(x) != model.n_inputs:
        got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
        raise TypeError(
            f"this model has {model.n_inputs} inputs, so {name} must be a list of {model.n_inputs} arrays, got {got}"
        )
    shapes = model.input_shapes() if isinstance(model, Model) else [None] * model.n_inputs
    arrays = [as_batch(f"{name}[{i}]", xi, dtype, shapes[i]) for i, xi in enumerate(x)]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"the inputs in {name} must have the same number of samples, got {lengths}")
    return arrays


class Model(Layer):
    """The base of :class:`Sequential` and :class:`~minnet.Graph`.

    A Model is a Layer, so models nest, and adds what a whole network needs:
    :meth:`predict` (inference in batches, memory bounded by one batch),
    :meth:`summary`, and ``dtype``, decided once at construction from the
    parameters (all must share it; float64 without any).

    Attributes
    ----------
    dtype : np.dtype
        float32 or float64; inputs are converted to it once, at the boundary.

    Notes
    -----
    A copy is the same model. ``copy.deepcopy`` and a pickle round trip give
    an independent model with the same outputs, gradients and training;
    ``copy.copy`` gives a model that shares the original's layers, hence its
    weights (as a shallow copy of a PyTorch module does).
    """

    dtype: np.dtype

    def _decide_dtype(self, params: Sequence[Parameter]) -> None:
        dtypes = {p.value.dtype for p in params}
        if len(dtypes) > 1:
            raise TypeError(
                f"all layers of a {type(self).__name__} must share one dtype, got {sorted(d.name for d in dtypes)}"
            )
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float64)

    def input_shapes(self) -> list[tuple[int, ...] | None]:
        """The sample shape of each input, where the model fixes it (else None)."""
        return [self.input_shape()]

    def input_widths(self) -> list[int | None]:
        """The number of features of each input that the model fixes as a table's width (else None)."""
        return [shape[0] if shape is not None and len(shape) == 1 else None for shape in self.input_shapes()]

    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        """Outputs for ``x`` in inference mode (``training=False``).

        Writes nothing to any layer (no cache, no statistics, no generator
        draw), so a pending backward is not disturbed, from this thread or
        another, and keeps no activations once it returns.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, *shape), or a list of them for several inputs
        batch_size : int or None, default None
            Rows per forward pass: memory for activations is bounded by one
            batch. None means :data:`PREDICT_BATCH_SIZE` (1024) rows: a fixed
            number of rows bounds the activations by 1024 times the widest
            layer's width, whatever ``n_samples`` is (8 MB for 1000 units in
            float64; all of 10 million rows at once took 5.5 GB), and batches
            of that size are no slower than one pass over every row, as they
            fit the CPU's caches better. Pass ``len(x)`` for one pass.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), or a list of them for several outputs
        """
        inputs = as_model_inputs(self, x)
        batch_size = PREDICT_BATCH_SIZE if batch_size is None else check_int("batch_size", batch_size, low=1)
        n = len(inputs[0])
        results: list[np.ndarray] = []
        for rows, outputs in inference_batches(self, inputs, batch_size):
            if rows.stop - rows.start == n:  # one batch: its outputs are the result, no copy
                results = outputs
                break
            if not results:
                results = [np.empty((n, *out.shape[1:]), out.dtype) for out in outputs]
            for result, out in zip(results, outputs):
                result[rows] = out
        return results[0] if self.n_outputs == 1 else results

    def summary(self) -> str:
        """A table of the model's layers, their output shapes and parameter counts.

        Returns
        -------
        str
            ``print(model.summary())`` shows it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement summary")


def summary_table(model: Model, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Lay out a model's summary: a header, one row per layer (the last column right-aligned), the totals.

    When some layers are frozen, a last line splits the total into trainable
    and frozen parameters, as Keras' summary does.
    """
    table = [tuple(header), *map(tuple, rows)]
    total = sum(p.size for p in model.parameters())
    frozen = sum(p.size for p in model.parameters() if not p.trainable)
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [
        "  ".join(
            f"{cell:>{w}}" if c == len(header) - 1 else f"{cell:<{w}}" for c, (cell, w) in enumerate(zip(row, widths))
        )
        for row in table
    ]
    totals = [f"Total parameters: {total:,} ({model.dtype.name})"]
    if frozen:
        totals.append(f"Trainable: {total - frozen:,}, frozen: {frozen:,}")
    return "\n".join([lines[0], rule, *lines[1:], rule, *totals])


def shape_text(sample_shape: Sequence[int], batch: str = "None") -> str:
    """``(None, 8, 26, 26)`` for samples of shape ``(8, 26, 26)``: the batch size is free."""
    return f"({', '.join([batch, *map(str, sample_shape)])})"


class Sequential(Model):
    """A chain of layers: the output of each is the input of the next.

    ``forward`` runs the layers in order, ``backward`` in reverse, and
    ``parameters()`` concatenates theirs. A Sequential is itself a Layer, so
    chains nest.

    Parameters
    ----------
    *layers : Layer
        The layers, in order. One layer instance may appear only once
        (to use one layer at several places, with tied weights, build a
        :class:`~minnet.Graph`).

    Examples
    --------
    >>> import minnet as mn
    >>> mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid())
    Sequential(
      Dense(8, 16),
      Sigmoid(),
      Dense(16, 1),
      Sigmoid(),
    )
    """

    def __init__(self, *layers: Layer) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential takes Layer instances, got {layer!r} ({type(layer).__name__}) at position {i}"
                )
            if layer.n_inputs != 1 or layer.n_outputs != 1:
                raise TypeError(
                    f"Sequential chains layers of one input and one output; {layer!r} at "
                    f"position {i} has {layer.n_inputs} and {layer.n_outputs}: use mn.Graph"
                )
        seen: dict[int, int] = {}
        for i, layer in enumerate(layers):
            for sub in iter_layers(layer):
                if id(sub) in seen:
                    raise ValueError(
                        f"{sub!r} appears more than once in Sequential (positions "
                        f"{seen[id(sub)]} and {i}); create a new instance for each use, "
                        f"or build an mn.Graph to share one layer's weights"
                    )
                seen[id(sub)] = i
        self.layers = list(layers)
        check_nesting(self, "this Sequential")
        self._decide_dtype([p for layer in layers for p in layer.parameters()])

    # -- the Layer contract -------------------------------------------------
    def forward(self, x: Any, training: bool = True) -> np.ndarray:
        # Lists and integers are converted, once; a float array is passed on as it is,
        # and a layer that needs another float dtype says so (Dense names the conversion).
        if not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
            x = as_float_array("x", x, self.dtype)
        if x.ndim < 2:
            raise ValueError(
                f"x must be a batch with the samples on its first axis, (n_samples, n_features) for a table "
                f"or (n_samples, C, H, W) for images, got shape {x.shape}"
            )
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        layers = self.layers
        if not layers:
            return grad
        # A layer's input gradient is needed only if the caller wants dL/d(input) or a
        # trainable layer comes before it: a frozen start of the chain gets no backward.
        needs = [need_input_grad]
        for layer in layers[:-1]:
            needs.append(needs[-1] or has_trainable_parameters(layer))
        for i in range(len(layers) - 1, -1, -1):
            grad = backward_through(layers[i], grad, needs[i])
            if grad is None:
                return None
        return grad

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.named_parameters()]

    def children(self) -> list[Layer]:
        return list(self.layers)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape each layer's :meth:`~minnet.Layer.output_shape` gives the next, in turn."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def input_shape(self) -> tuple[int, ...] | None:
        """The shape fixed by the first layer that fixes one, if the layers before it keep it (activations).

        ``Sequential(ReLU(), Dense(3, 4))``: ``(3,)``. None when no layer
        fixes a shape, or the layers before it change shapes (a
        convolution): :meth:`summary` then needs ``input_shape=``.
        """
        for k, layer in enumerate(self.layers):
            shape = layer.input_shape()
            if shape is None:
                continue
            try:
                kept = Sequential(*self.layers[:k]).output_shape(shape) == shape
            except (ValueError, TypeError):
                kept = False
            return shape if kept else None
        return None

    # -- conveniences -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    @overload
    def __getitem__(self, index: int) -> Layer: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: int | slice) -> Layer:
        """``model[i]`` is a layer; ``model[a:b]`` (any step) a Sequential of the same layer objects, as PyTorch's.

        The slice shares its layers, hence their weights, with ``model``:
        training one trains the other (``copy.deepcopy`` it for a separate model).
        """
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(
                f"Sequential indices must be integers or slices, got {index!r} ({type(index).__name__})"
            ) from None
        if not -len(self.layers) <= i < len(self.layers):
            raise IndexError(f"index {i} is out of range for a Sequential of {len(self.layers)} layers")
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        if not self.layers:
            return "Sequential()"
        inner = "".join(f"  {line}\n" for layer in self.layers for line in f"{layer!r},".splitlines())
        return f"Sequential(\n{inner})"

    def summary(self, input_shape: int | tuple[int, ...] | None = None, *, n_features: int | None = None) -> str:
        """A table of each layer's output shape and parameter count.

        Parameters
        ----------
        input_shape : int or tuple of int, optional
            The shape of one input sample: ``(1, 28, 28)`` for images, an int
            for a table's features. When omitted it is asked of the layers
            (the first ``Dense``'s ``n_in``, see :meth:`input_shape`).
        n_features : int, optional
            The older name of an int ``input_shape``.

        Returns
        -------
        str
            The table; ``print(model.summary())`` shows it.
        """
        if n_features is not None:
            if input_shape is not None:
                raise TypeError("summary takes input_shape= or its older name n_features=, not both")
            input_shape = n_features
        if input_shape is None:
            shape = self.input_shape()
            if shape is None:
                raise ValueError("summary() could not infer the input shape from the layers; pass input_shape=")
        else:
            shape = check_shape("input_shape", input_shape)
        rows = []
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            count = sum(p.size for p in layer.parameters())
            rows.append((f"{i}: {layer!r}".splitlines()[0], shape_text(shape), f"{count:,}"))
        return summary_table(self, ("Layer", "Output shape", "Params"), rows)
