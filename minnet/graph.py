"""The layer graph: :class:`Input`, :class:`Node`, :class:`Graph` and the merge layers :class:`Add`, :class:`Concat`.

Calling a layer on a :class:`Node` (a symbolic batch) records an edge instead
of computing anything; ``Graph(inputs, outputs)`` then orders the recorded
nodes once and checks them once. Its ``forward`` runs the nodes in that
topological order and its ``backward`` in reverse, each node once:

* a node whose output feeds several nodes receives the **sum** of their
  gradients (the chain rule over every path), always into a fresh array;
* a layer used at several nodes keeps one cache per use (the graph hands
  each use its own cache back before calling ``backward``), and its
  parameter gradients are the **sum** over its uses, written once at the
  end, so after ``backward`` every ``p.grad`` holds exactly the batch's
  gradient, as for :class:`~minnet.Sequential`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._validation import as_float_array, check_int, check_shape
from .containers import Model, check_nesting, iter_layers, shape_text, summary_table
from .io.fields import stored_shape
from .layers import Layer, Parameter, backward_through, has_trainable_parameters
from .layers.base import register_symbolic_call

__all__ = ["Add", "Concat", "Graph", "Input", "Node", "call_on_nodes"]


class Node:
    """A symbolic batch: the output of ``layer`` applied to ``inputs``.

    Nodes are made by calling a layer on nodes (``mn.Dense(8, 4)(x)``) or
    by :class:`Input`; they hold no data. A :class:`Graph` built from them
    names each one uniquely.

    Attributes
    ----------
    layer : Layer or None
        None for an :class:`Input`.
    inputs : tuple of Node
        The nodes the layer was called on.
    """

    def __init__(self, layer: Layer | None, inputs: Sequence[Node]) -> None:
        self.layer = layer
        self.inputs = tuple(inputs)

    def __repr__(self) -> str:
        what = type(self.layer).__name__ if self.layer is not None else "Input"
        return f"<Node {what} of {len(self.inputs)} input(s)>"


class Input(Node):
    """A graph input: a symbolic batch of samples of one shape.

    Parameters
    ----------
    shape : int or tuple of int
        The shape of one sample, without the batch axis: an int for a
        table's features (``Input(8)``: batches ``(n, 8)``), a tuple for
        more axes (``Input((1, 28, 28))``: one-channel images, ``(n, 1, 28, 28)``).
    name : str, optional
        Shown by ``print(model)`` and ``summary()``; ``input``, ``input_1``, ...
        when omitted. It may not hold ``:``, which marks a shared layer's
        later uses (``dense:1``), so that node names are unique.
    """

    def __init__(self, shape: int | tuple[int, ...], name: str | None = None) -> None:
        super().__init__(None, ())
        self.shape = check_shape("shape", shape)
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        if name is not None and ":" in name:
            raise ValueError(
                f"an Input's name may not hold ':', which names a shared layer's later uses "
                f"(dense:1, dense:2), got {name!r}"
            )
        self.name = name

    @property
    def n_features(self) -> int | None:
        """The width of a table's rows (``Input(8)``: 8); None for samples of more axes."""
        return self.shape[0] if len(self.shape) == 1 else None

    def __repr__(self) -> str:
        name = "" if self.name is None else f", name={self.name!r}"
        return f"Input({_shape_argument(self.shape)}{name})"


def _input_config(name: str, node: Input) -> dict[str, Any]:
    """How a file describes an input: a table's by its width, as files did before shapes (so they still read)."""
    if node.n_features is not None:
        return {"name": name, "n_features": node.n_features}
    return {"name": name, "shape": list(node.shape)}


def _shape_argument(shape: tuple[int, ...]) -> str:
    """``8`` for ``(8,)``, ``(1, 28, 28)`` otherwise: how ``Input`` is called."""
    return str(shape[0]) if len(shape) == 1 else repr(shape)


def call_on_nodes(layer: Layer, arg: Any) -> Node:
    """``layer(node)`` or ``layer([node, ...])``: record a use of ``layer`` and return its output node."""
    if isinstance(arg, Node):
        inputs = [arg]
    else:
        inputs = list(arg)
        if not inputs or not all(isinstance(a, Node) for a in inputs):
            raise TypeError(
                f"{layer!r} was called on {arg!r}: call a layer on arrays, or on graph "
                f"Nodes (one Node, or a list of Nodes for a merge layer), not a mix"
            )
    if layer.n_inputs == 1 and (len(inputs) != 1 or not isinstance(arg, Node)):
        raise TypeError(f"{layer!r} takes one input; call it on one Node, not a list of {len(inputs)}")
    if layer.n_inputs is None and (isinstance(arg, Node) or len(inputs) < 2):
        raise TypeError(f"{layer!r} merges several inputs; call it on a list of at least two Nodes")
    if layer.n_inputs not in (None, 1) and len(inputs) != layer.n_inputs:
        raise TypeError(f"{layer!r} takes {layer.n_inputs} inputs, got {len(inputs)} Nodes")
    return Node(layer, inputs)


# -- merge layers -----------------------------------------------------------------


register_symbolic_call(Node, call_on_nodes)  # layer(node) builds a node: the layers never import this module


class Add(Layer):
    r"""The element-wise sum of several batches of the same shape: a skip connection.

    .. math:: Y = \sum_k X_k, \qquad \frac{\partial L}{\partial X_k} = G

    Its forward takes a list of arrays and its backward returns a list of
    gradients, one per input (the same array for each: the graph sums
    fan-out gradients into fresh arrays, never in place).
    """

    n_inputs = None  # any number >= 2

    def output_shape(self, input_shape: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """The one shape all inputs share."""
        shapes = [tuple(shape) for shape in input_shape]
        if len(set(shapes)) != 1:
            raise ValueError(f"Add() needs inputs of one shape, got samples of shapes {shapes}")
        return shapes[0]

    def forward(self, xs: Sequence[np.ndarray], training: bool = True) -> np.ndarray:
        shapes = [np.shape(x) for x in xs]
        if len(set(shapes)) != 1:
            raise ValueError(f"Add() needs inputs of one shape, got {shapes}")
        if training:
            self._cache = (len(xs), shapes[0])
        out = np.add(xs[0], xs[1])
        for x in xs[2:]:
            out += x
        return out

    def backward(self, grad: np.ndarray) -> list[np.ndarray]:
        n, shape = self._require_cache()
        grad = self._check_grad(grad, shape)
        return [grad] * n


class Concat(Layer):
    r"""Several batches side by side along one axis: the features of tables, the channels of images.

    .. math:: Y = [X_1, X_2, \dots], \qquad \frac{\partial L}{\partial X_k} = G_{\text{part of } X_k}

    Parameters
    ----------
    axis : int, default 1
        The axis of the batch to join along, as ``torch.cat``'s ``dim``:
        1 is the features of ``(n, F)`` and the channels of ``(n, C, H, W)``;
        negative counts from the end. The inputs' other axes must agree.
        Axis 0, the samples, is refused.
    """

    n_inputs = None  # any number >= 2

    def __init__(self, axis: int = 1) -> None:
        self.axis = check_int("axis", axis)
        if self.axis == 0:
            raise ValueError("Concat axis 0 is the samples of the batch; use axis=1 (features, channels) or later")

    def output_shape(self, input_shape: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """The inputs' common shape, with their sizes along ``axis`` added up."""
        shapes = [tuple(shape) for shape in input_shape]
        axis = self._sample_axis(shapes)
        if len({shape[:axis] + shape[axis + 1 :] for shape in shapes}) != 1:
            raise ValueError(
                f"{self!r} needs inputs whose shapes differ only along axis {self.axis}, got samples of shapes {shapes}"
            )
        return (*shapes[0][:axis], sum(shape[axis] for shape in shapes), *shapes[0][axis + 1 :])

    def _sample_axis(self, shapes: list[tuple[int, ...]]) -> int:
        """``axis`` as an index into the samples' shapes (which must have one number of axes)."""
        ndims = {len(shape) for shape in shapes}
        ndim = ndims.pop() + 1 if len(ndims) == 1 else 0  # the batch's axes, n included
        if not ndim:
            raise ValueError(f"{self!r} needs inputs with one number of axes, got samples of shapes {shapes}")
        if not -ndim < self.axis < ndim:
            raise ValueError(
                f"{self!r} cannot join along axis {self.axis} batches of samples of shapes {shapes}: "
                f"it is not an axis of the samples"
            )
        return self.axis % ndim - 1

    def forward(self, xs: Sequence[np.ndarray], training: bool = True) -> np.ndarray:
        shapes = [np.shape(x) for x in xs]
        if len({shape[:1] for shape in shapes}) != 1 or any(len(shape) < 2 for shape in shapes):
            raise ValueError(f"{self!r} needs batches with one number of rows, got shapes {shapes}")
        out_shape = (shapes[0][0], *self.output_shape([shape[1:] for shape in shapes]))
        axis = self._sample_axis([shape[1:] for shape in shapes]) + 1
        if training:
            self._cache = (out_shape, np.cumsum([shape[axis] for shape in shapes])[:-1], axis)
        return np.concatenate(xs, axis=axis)

    def backward(self, grad: np.ndarray) -> list[np.ndarray]:
        shape, splits, axis = self._require_cache()
        grad = self._check_grad(grad, shape)
        return np.split(grad, splits, axis=axis)  # views of grad, one per input

    def get_config(self) -> dict[str, Any]:
        return {} if self.axis == 1 else {"axis": self.axis}

    def extra_repr(self) -> str:
        return "" if self.axis == 1 else f"axis={self.axis}"


# -- the graph ----------------------------------------------------------------------


def _layer_base_name(layer: Layer) -> str:
    """``dense`` for Dense, ``leaky_relu`` for LeakyReLU, ``batch_norm`` for BatchNorm."""
    name = type(layer).__name__.replace("ReLU", "Relu")  # one word, not "re_lu"
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and name[i - 1].islower():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


class Graph(Model):
    """A network of layers wired as a directed acyclic graph.

    Parameters
    ----------
    inputs : Input or list of Input
    outputs : Node or list of Node

    Examples
    --------
    >>> import minnet as mn
    >>> x = mn.Input(4)
    >>> h = mn.ReLU()(mn.Dense(4, 8, seed=0)(x))
    >>> y = mn.Dense(8, 1, seed=1)(mn.Add()([h, mn.Dense(8, 8, seed=2)(h)]))
    >>> model = mn.Graph(inputs=x, outputs=y)
    >>> model.predict(np.zeros((3, 4))).shape
    (3, 1)

    Notes
    -----
    The graph is ordered and checked once, here: a cycle, an output that
    depends on an Input that is not among ``inputs`` (a node of another
    graph), an input that reaches no output, and a layer that refuses the
    shape of the node it is called on (asked by
    :meth:`~minnet.Layer.output_shape`) are ``ValueError``\\ s naming the
    nodes and the shapes. Forward takes one array per input (a list when there are
    several) and returns one per output (likewise).
    """

    def __init__(self, inputs: Input | Sequence[Input], outputs: Node | Sequence[Node]) -> None:
        given = self._as_node_list("inputs", inputs)
        self._outputs = self._as_node_list("outputs", outputs)
        for node in given:
            if not isinstance(node, Input):
                raise TypeError(f"inputs must be mn.Input nodes, got {node!r}")
        self._inputs: list[Input] = [node for node in given if isinstance(node, Input)]
        for name, nodes in (("inputs", self._inputs), ("outputs", self._outputs)):
            if len({id(n) for n in nodes}) != len(nodes):
                raise ValueError(f"{name} lists the same node twice")
        self._order = self._topological_order()
        # Everything kept is positional (lists indexed by node or layer position), never keyed
        # by id(): a copy (deepcopy, pickle, copy.copy) has new objects with new ids.
        index = {id(node): i for i, node in enumerate(self._order)}  # local: this construction only
        self._arg_index = [[index[id(a)] for a in node.inputs] for node in self._order]
        self._output_index = [index[id(node)] for node in self._outputs]
        # Distinct layers in order of first use, and each node's layer as a position among them.
        self._layers: list[Layer] = []
        position: dict[int, int] = {}
        for node in self._order:
            if node.layer is not None and id(node.layer) not in position:
                position[id(node.layer)] = len(self._layers)
                self._layers.append(node.layer)
        self._layer_of = [None if node.layer is None else position[id(node.layer)] for node in self._order]
        uses = Counter(self._layer_of)
        # Per node: the position of its layer if that layer is used at several nodes (its gradients
        # are summed over them), else None.
        self._shared_at = [k if k is not None and uses[k] > 1 else None for k in self._layer_of]
        input_names, self._layer_names = self._name_inputs_and_layers()
        unused = [name for node, name in zip(self._inputs, input_names) if id(node) not in index]
        if unused:
            raise ValueError(f"the graph's input(s) {', '.join(unused)} reach no output")
        self._input_index = [index[id(node)] for node in self._inputs]
        self._names = self._name_nodes(input_names)
        self._check_no_layer_in_two_places()
        check_nesting(self, "this Graph")
        # A shared layer that holds layers (a Sequential) keeps its caches in them, not in its
        # own slot: each of its uses keeps, and gets back, the caches of every layer inside.
        self._cache_holders = [
            list(iter_layers(self._layers[k])) if k is not None and self._layers[k].children() else None
            for k in self._shared_at
        ]
        self._decide_dtype([p for layer in self._layers for p in layer.parameters()])
        self.n_inputs, self.n_outputs = len(self._inputs), len(self._outputs)
        # Per node: its layer and where its argument is (one index for a one-input layer, a list
        # for a merge layer), so forward does no lookups beyond the list it walks.
        self._steps = [
            (node.layer, indices[0] if node.layer is not None and node.layer.n_inputs == 1 else indices)
            for node, indices in zip(self._order, self._arg_index)
        ]
        self._input_position = {i: k for k, i in enumerate(self._input_index)}
        self._shapes = self._infer_shapes()

    @staticmethod
    def _as_node_list(name: str, value: Any) -> list[Node]:
        nodes = list(value) if isinstance(value, (list, tuple)) else [value]
        if not nodes:
            raise ValueError(f"{name} must hold at least one node")
        for node in nodes:
            if not isinstance(node, Node):
                raise TypeError(
                    f"{name} must be graph Nodes (from mn.Input or from calling a layer on a Node), got {node!r}"
                )
        return nodes

    # -- building and checking, once ---------------------------------------------------
    def _topological_order(self) -> list[Node]:
        """Every node the outputs depend on, each after its inputs (depth first, cycles refused)."""
        order: list[Node] = []
        state: dict[int, str] = {}  # "visiting" while on the current path, then "done"
        allowed = {id(n) for n in self._inputs}
        for output in self._outputs:
            stack: list[tuple[Node, int]] = [(output, 0)]
            while stack:  # iterative, so a deep chain cannot exhaust Python's recursion limit
                node, next_arg = stack.pop()
                if next_arg == 0:
                    if state.get(id(node)) == "done":
                        continue
                    if state.get(id(node)) == "visiting":
                        raise ValueError(f"the graph has a cycle through {node!r}")
                    if isinstance(node, Input) and id(node) not in allowed:
                        raise ValueError(
                            f"an output depends on {node!r}, which is not among this graph's "
                            f"inputs (a node of another graph?); pass it in inputs="
                        )
                    state[id(node)] = "visiting"
                if next_arg < len(node.inputs):
                    stack.append((node, next_arg + 1))
                    child = node.inputs[next_arg]
                    if state.get(id(child)) == "visiting":
                        raise ValueError(f"the graph has a cycle through {child!r}")
                    if state.get(id(child)) != "done":
                        stack.append((child, 0))
                else:
                    state[id(node)] = "done"
                    order.append(node)
        return order

    def _name_inputs_and_layers(self) -> tuple[list[str], list[str]]:
        """Unique names for the inputs (``input``, ``input_1``, ...), then the layers (``dense``, ``dense_1``, ...)."""
        taken: set[str] = set()

        def fresh(base: str) -> str:
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            return name

        input_names = [fresh(node.name or "input") for node in self._inputs]  # in the order given
        return input_names, [fresh(_layer_base_name(layer)) for layer in self._layers]

    def _name_nodes(self, input_names: list[str]) -> list[str]:
        """Each node's name, in order: its input's or its layer's, with ``:1``, ``:2`` for a shared layer's later uses.

        Unique by construction: an input name cannot hold ``:`` (see
        :class:`Input`), and layer names are unique and never hold one.
        """
        given = {id(node): name for node, name in zip(self._inputs, input_names)}  # local, as in __init__
        uses = [0] * len(self._layers)
        names = []
        for node, k in zip(self._order, self._layer_of):
            if k is None:
                names.append(given[id(node)])
                continue
            names.append(self._layer_names[k] if uses[k] == 0 else f"{self._layer_names[k]}:{uses[k]}")
            uses[k] += 1
        return names

    def _check_no_layer_in_two_places(self) -> None:
        """Refuse a layer used inside a container node and elsewhere too (sharing the container is fine).

        Its parameters would be listed twice and its gradient written by each
        place in turn instead of summed over them.
        """
        owner: dict[int, int] = {}  # local: id of a layer -> position of the node layer holding it
        for k, layer in enumerate(self._layers):
            for sub in iter_layers(layer):
                first = owner.setdefault(id(sub), k)
                if first != k:
                    raise ValueError(
                        f"{sub!r} is used in two places of the graph, in node "
                        f"{self._layer_names[first]} and in node {self._layer_names[k]}; "
                        f"a layer inside a container can be shared only by using the whole "
                        f"container at several nodes (or give each place its own layer)"
                    )

    def _infer_shapes(self) -> list[tuple[int, ...]]:
        """Each node's sample shape, asked of its layer (:meth:`~minnet.Layer.output_shape`), which checks its input."""
        shapes: list[tuple[int, ...]] = []
        for i, (layer, args) in enumerate(self._steps):
            if layer is None:
                shapes.append(self._inputs[self._input_position[i]].shape)
                continue
            try:
                shape = layer.output_shape(shapes[args] if isinstance(args, int) else [shapes[j] for j in args])
            except (ValueError, TypeError) as exc:
                given = ", ".join(f"{self._names[j]} of shape {shape_text(shapes[j])}" for j in self._arg_index[i])
                raise ValueError(f"node {self._names[i]}: {layer!r} cannot take {given}: {exc}") from None
            if not (
                isinstance(shape, tuple)
                and shape
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
            ):
                raise ValueError(
                    f"node {self._names[i]}: {layer!r}.output_shape returned {shape!r:.60}; "
                    f"the shape of one sample is a non-empty tuple of ints >= 1"
                )
            shapes.append(shape)
        return shapes

    # -- the Layer contract ------------------------------------------------------------
    def forward(self, x: Any, training: bool = True) -> Any:
        xs = [x] if self.n_inputs == 1 else list(x) if isinstance(x, (list, tuple)) else None
        if xs is None or len(xs) != self.n_inputs:
            raise TypeError(
                f"this graph has {self.n_inputs} inputs: forward takes a list of "
                f"{self.n_inputs} arrays, got {type(x).__name__}"
            )
        values: list[Any] = [None] * len(self._order)
        caches: list[Any] | None = [None] * len(self._order) if training else None  # inference keeps none
        for i, (layer, args) in enumerate(self._steps):
            if layer is None:
                value = xs[self._input_position[i]]
                if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                    value = as_float_array(self._names[i], value, self.dtype)
                if value.shape[1:] != self._shapes[i] or value.ndim < 2:
                    raise ValueError(
                        f"graph input {self._names[i]} takes batches of shape "
                        f"{shape_text(self._shapes[i], 'n')}, got an array of shape {value.shape}"
                    )
                values[i] = value
                continue
            arg = values[args] if isinstance(args, int) else [values[j] for j in args]
            values[i] = layer.forward(arg, training=training)
            if caches is not None:
                holders = self._cache_holders[i]
                # This use's cache: a shared layer's next use overwrites its slot.
                caches[i] = layer._cache if holders is None else [h._cache for h in holders]
        outputs = [values[j] for j in self._output_index]
        if caches is not None:
            self._cache = (caches, [np.shape(out) for out in outputs])
        return outputs[0] if self.n_outputs == 1 else outputs

    def backward(self, grad: Any, need_input_grad: bool = True) -> Any:
        caches, output_shapes = self._require_cache()
        grads_in = [grad] if self.n_outputs == 1 else list(grad) if isinstance(grad, (list, tuple)) else None
        if grads_in is None or len(grads_in) != self.n_outputs:
            raise TypeError(
                f"this graph has {self.n_outputs} outputs: backward takes a list of "
                f"{self.n_outputs} gradients, got {type(grad).__name__}"
            )
        pending: list[Any] = [None] * len(self._order)  # dL/d(node output), summed over its consumers

        def receive(j: int, g: np.ndarray) -> None:
            # Fan-out: the sum over consumers, into a fresh array (never in place into
            # an array a layer returned, which it may have returned for two inputs).
            pending[j] = g if pending[j] is None else pending[j] + g

        for j, g, shape in zip(self._output_index, grads_in, output_shapes):
            receive(j, np.zeros(shape, self.dtype) if g is None else self._check_output_grad(g, shape))
        param_sums: list[list[np.ndarray] | None] = [None] * len(self._layers)
        trained_before = self._trained_before()
        for i in range(len(self._order) - 1, -1, -1):
            g = pending[i]
            layer, args = self._steps[i]
            if layer is None or g is None:
                continue
            pending[i] = None  # let it go as soon as it is used
            holders = self._cache_holders[i]
            if holders is None:
                layer._cache = caches[i]  # this use's cache back in the layer's one slot
            else:
                for holder, cache in zip(holders, caches[i]):
                    holder._cache = cache
            # dL/d(input) is needed unless no trainable layer feeds the node and nobody asked about the inputs.
            needs = need_input_grad or trained_before[i]
            result = backward_through(layer, g, needs)
            k = self._shared_at[i]
            if k is not None:
                sums = param_sums[k]
                if sums is None:
                    param_sums[k] = [p.grad.copy() for p in layer.parameters()]
                else:
                    for total, p in zip(sums, layer.parameters()):
                        total += p.grad
            if result is None:
                continue
            if isinstance(args, int):
                if needs:
                    receive(args, result)
                continue
            for a, j, r in zip(self._order[i].inputs, args, result):
                if a.layer is not None or need_input_grad:
                    receive(j, r)
        for layer, sums in zip(self._layers, param_sums):  # a shared layer's: the sum over its uses, written once
            if sums is not None:
                for p, total in zip(layer.parameters(), sums):
                    p.grad[...] = total
        if not need_input_grad:
            return None
        input_grads = [pending[i] for i in self._input_index]
        return input_grads[0] if self.n_inputs == 1 else input_grads

    def _trained_before(self) -> list[bool]:
        """Per node, whether a layer with a trainable parameter feeds it, directly or not."""
        trainable = {id(layer): has_trainable_parameters(layer) for layer in self._layers}
        before = [False] * len(self._order)
        for i, (node, args) in enumerate(zip(self._order, self._arg_index)):
            before[i] = any(
                a.layer is not None and (trainable[id(a.layer)] or before[j]) for a, j in zip(node.inputs, args)
            )
        return before

    def _check_output_grad(self, g: Any, shape: tuple[int, ...]) -> np.ndarray:
        g = np.asarray(g)
        if g.shape != shape:
            raise ValueError(
                f"backward expected a gradient of shape {shape} for that output "
                f"(the shape of the last output), got {g.shape}"
            )
        return g

    def parameters(self) -> list[Parameter]:
        return [p for layer in self._layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [
            (f"{layer_name}.{name}", p)
            for layer, layer_name in zip(self._layers, self._layer_names)
            for name, p in layer.named_parameters()
        ]

    def children(self) -> list[Layer]:
        return list(self._layers)

    def input_shape(self) -> tuple[int, ...] | None:
        return self._inputs[0].shape if self.n_inputs == 1 else None

    def input_shapes(self) -> list[tuple[int, ...] | None]:
        return [node.shape for node in self._inputs]

    def output_shape(self, input_shape: Any) -> Any:
        """The output nodes' shapes (a list for several outputs), for inputs of exactly the declared shapes."""
        given = [tuple(input_shape)] if self.n_inputs == 1 else [tuple(shape) for shape in input_shape]
        declared = self.input_shapes()
        if given != declared:
            shown = declared[0] if self.n_inputs == 1 else declared
            raise ValueError(f"this Graph takes samples of shape {shown}, got {input_shape}")
        shapes = [self._shapes[j] for j in self._output_index]
        return shapes[0] if self.n_outputs == 1 else shapes

    # -- saving and loading ------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The wiring, as JSON: inputs, each node's layer (an index into ``children()``) and inputs, outputs.

        The layers themselves are the children, so a shared layer is stored once.
        """
        return {
            "inputs": [_input_config(name, node) for name, node in zip(self.input_names, self._inputs)],
            "nodes": [
                {"name": name, "layer": k, "inputs": args}
                for (name, _, args), k in zip(self.nodes, self._layer_of)
                if k is not None
            ],
            "outputs": self.output_names,
        }

    @classmethod
    def from_config(cls, children: list[Layer], config: dict[str, Any]) -> Graph:
        """Rebuild a graph from its layers and :meth:`get_config` (which may come from a stranger's file).

        Every reference is checked: a malformed wiring is a ValueError, never a KeyError.
        """
        if not isinstance(config, dict) or set(config) != {"inputs", "nodes", "outputs"}:
            raise ValueError(f"a Graph's config has the keys inputs, nodes and outputs, got {config!r:.120}")
        inputs, nodes_config, output_names = config["inputs"], config["nodes"], config["outputs"]
        if not all(isinstance(v, list) for v in (inputs, nodes_config, output_names)):
            raise ValueError("a Graph's inputs, nodes and outputs must be lists")
        made: dict[str, Node] = {}
        input_nodes: list[Input] = []

        def fresh_name(entry: Any, what: str) -> str:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name or name in made:
                raise ValueError(f"a Graph's {what} needs a new, non-empty name, got {entry!r:.120}")
            return name

        for entry in inputs:
            name = fresh_name(entry, "input")
            if set(entry) not in ({"name", "shape"}, {"name", "n_features"}):
                raise ValueError(f"a Graph input is described by name and shape, got {entry!r:.120}")
            shape = entry["shape"] if "shape" in entry else [entry["n_features"]]
            made[name] = new_input = Input(stored_shape(f"the shape of input {name}", shape), name=name)
            input_nodes.append(new_input)
        used = set()
        for entry in nodes_config:
            name = fresh_name(entry, "node")
            if set(entry) != {"name", "layer", "inputs"}:
                raise ValueError(f"a Graph node is described by name, layer and inputs, got {entry!r:.120}")
            index, args = entry["layer"], entry["inputs"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(children):
                raise ValueError(f"node {name} names layer {index!r}; the graph has {len(children)}")
            if not isinstance(args, list) or not args or not all(isinstance(a, str) and a in made for a in args):
                raise ValueError(f"node {name} takes inputs {args!r:.120}, which are not all earlier nodes")
            layer = children[index]
            made[name] = call_on_nodes(
                layer, made[args[0]] if layer.n_inputs == 1 and len(args) == 1 else [made[a] for a in args]
            )
            used.add(index)
        if used != set(range(len(children))):
            raise ValueError(f"a Graph's layers {sorted(set(range(len(children))) - used)} are used by no node")
        if not output_names or not all(isinstance(o, str) and o in made for o in output_names):
            raise ValueError(f"a Graph's outputs {output_names!r:.120} are not all its nodes")
        return cls(inputs=input_nodes, outputs=[made[o] for o in output_names])

    # -- describing it -----------------------------------------------------------------
    @property
    def nodes(self) -> list[tuple[str, Layer | None, list[str]]]:
        """``(name, layer, input names)`` for every node, in topological order (layer None for inputs)."""
        return [
            (name, node.layer, [self._names[j] for j in args])
            for name, node, args in zip(self._names, self._order, self._arg_index)
        ]

    @property
    def input_names(self) -> list[str]:
        return [self._names[i] for i in self._input_index]

    @property
    def output_names(self) -> list[str]:
        return [self._names[i] for i in self._output_index]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Each node's sample shape (without the batch axis), in the order of :attr:`nodes`."""
        return list(self._shapes)

    def _rows(self) -> Iterable[tuple[str, str, str, str, str]]:
        for (name, layer, args), shape in zip(self.nodes, self._shapes):
            if layer is None:
                yield name, f"Input({_shape_argument(shape)})", "", shape_text(shape), "0"
                continue
            first_use = ":" not in name
            count = sum(p.size for p in layer.parameters())
            params = f"{count:,}" if first_use else "(shared)"
            yield name, repr(layer).splitlines()[0], ", ".join(args), shape_text(shape), params

    def __repr__(self) -> str:
        lines = []
        for (name, layer, args, shape, _), (_, node_layer, _) in zip(self._rows(), self.nodes):
            if node_layer is not None and node_layer.n_inputs != 1:
                args = f"[{args}]"  # a merge layer is called on a list, as in the code: Add()([a, b])
            lines.append(f"  {name} = {layer}({args})  # -> {shape}" if args else f"  {name} = {layer}  # -> {shape}")
        return (
            "Graph(\n" + "\n".join(lines) + f"\n  inputs=[{', '.join(self.input_names)}], "
            f"outputs=[{', '.join(self.output_names)}],\n)"
        )

    def summary(self) -> str:
        """A table of each node: its layer, its inputs, its output shape and parameter count.

        A shared layer's parameters are counted at its first use only.
        """
        rows = [(name, layer, args, shape, params) for name, layer, args, shape, params in self._rows()]
        return summary_table(self, ("Node", "Layer", "Inputs", "Output shape", "Params"), rows)
