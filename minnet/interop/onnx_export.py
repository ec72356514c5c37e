"""minnet models as ONNX files: :func:`to_onnx`.

ONNX describes a network as a graph of standard operators, which ONNX
Runtime (and other engines: TensorRT, OpenVINO, browsers) run without
Python or minnet. The export is of the model for **inference**, what
``model.predict`` computes:

==================  ==========================================================
minnet              ONNX operators
==================  ==========================================================
``Dense``           ``Gemm`` (``x @ W + b``, ``W`` as minnet stores it)
``Sigmoid``         ``Sigmoid``
``ReLU``            ``Relu``
``Tanh``            ``Tanh``
``LeakyReLU``       ``LeakyRelu`` in float32; in float64
                    ``Where(x > 0, x, x * slope)`` (see below)
``Softmax``         ``Softmax`` along its axis
``ELU``             ``Elu`` in float32; in float64
                    ``Where(x > 0, x, alpha * (Exp(Min(x, 0)) - 1))``
``Softplus``        ``Where(beta x > threshold, x, Softplus(beta x) / beta)``;
                    in float64 ``Log(1 + Exp(...))`` for ``Softplus``
``GELU``            ``Gelu`` in float32 at opset 20 on; else the formula:
                    ``x * (1 + Erf(x / sqrt 2)) / 2`` or the tanh form
                    (``Tanh`` in float64; ``Erf`` in float32, see below)
``LayerNorm``       ``LayerNormalization`` in float32 at opset 17 on; else
                    ``ReduceMean``, ``Sub``, ``Mul``, ``Sqrt``, ``Div``
                    with ``eps`` as a float64 tensor
``Dropout``         ``Identity`` (dropout is off in inference)
``BatchNorm``       ``BatchNormalization`` on the running statistics, ``eps``
                    added into the variance (see below)
``BatchNorm2D``     as ``BatchNorm``
``Conv2D``          ``Conv`` in float32; in float64 the windows
                    (``Pad``, a ``Slice`` per kernel offset, ``Concat``) and
                    one ``Einsum`` with the weights (see below)
``MaxPool2D``       ``MaxPool``
``AvgPool2D``       ``AveragePool`` (padding counted) in float32; in float64
                    the windows (as Conv2D's), ``Sum``, ``Div``
``GlobalAvgPool2D`` ``GlobalAveragePool`` then ``Flatten`` in float32;
                    ``ReduceMean`` over the height and width in float64
``Flatten``         ``Flatten`` from axis 1
``Reshape``         ``Reshape`` to ``(batch, *shape)``
``Add``             ``Add`` (pairwise, left to right, as minnet sums)
``Concat``          ``Concat`` along its axis
==================  ==========================================================

Each input is a tensor of shape ``(batch, *shape)`` (``(batch, n_features)``
for a table, ``(batch, C, H, W)`` for images) with a free batch size, named
as the Graph's inputs (``input`` for a Sequential); each output is named as
the Graph's outputs (``output`` for a Sequential). A layer used at several
nodes stores its weights once.

ONNX operator attributes are float32. Where minnet computes with a float64
constant (a LeakyReLU slope such as 0.1, BatchNorm's ``eps``), putting it in
an attribute would change a float64 model's outputs by far more than float64
rounding; so those constants travel as tensors of the model's dtype instead.
(For LeakyReLU this also sidesteps ONNX Runtime 1.32, which runs ``LeakyRelu`` in
float64 only at opsets 16 to 18.)

ONNX Runtime 1.32 has no float64 kernel for ``Conv``, ``AveragePool`` or
``GlobalAveragePool``, so a float64 model's file computes them as minnet does
with operators it runs in float64: each kernel offset ``(a, b)`` of the
windows is one strided ``Slice`` of the padded images (the im2col of
``docs/convolution.md``), a convolution is then one ``Einsum`` of those
slices with the weights, an average pooling their ``Sum`` divided by the
window's size, and a global one a ``ReduceMean``. Neither has it a float64
kernel for ``Elu``, ``Softplus``, ``Erf`` or the exact ``Gelu``: ELU and
Softplus are written out with ``Exp`` and ``Log`` (``1 + e^x`` and
``e^x - 1`` round where minnet's ``log1p`` and ``expm1`` do not: an
absolute difference below 1e-16), and the exact GELU's ``Erf`` runs in
float32 between two ``Cast``: its outputs are within 1e-7 of minnet's,
relative to their size (the tanh form stays exact).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import containers, graph, layers
from .._validation import check_int, check_path, check_shape
from .._version import __version__
from ..io.archive import write_atomically
from ..layers import Layer, check_dtype

__all__ = ["to_onnx"]

_ELEM_TYPES = {np.dtype(np.float32): onnx.TensorProto.FLOAT, np.dtype(np.float64): onnx.TensorProto.DOUBLE}
_MIN_OPSET = 13  # Softmax along one axis (not "flatten from axis") and Gemm with an optional bias: 13 on


def to_onnx(
    model: Layer,
    path: str | os.PathLike[str],
    dtype: Any = None,
    *,
    opset: int = 17,
    input_shape: int | tuple[int, ...] | None = None,
) -> onnx.ModelProto:
    """Write ``model`` to the ONNX file ``path``, for inference, and return the ONNX model.

    Parameters
    ----------
    model : Sequential or Graph
        Any number of inputs and outputs; containers may nest.
    path : str or os.PathLike
        The file to write. It is written atomically: to a temporary file
        first, renamed into place once complete, so a failure leaves no half
        file (and an existing file as it was).
    dtype : np.float32, np.float64 or None
        The ONNX model's element type; None (the default) keeps the model's.
        A float64 model exported as float32 rounds its weights to float32.
    opset : int, default 17
        The ONNX operator set version: 13 or newer (the operators used
        compute the same from 13 on), up to the newest the installed onnx
        knows. An older opset suits older runtimes.
    input_shape : int or tuple of int, optional
        The shape of one input sample, for a model with one input whose
        layers do not fix it: a Sequential that starts with a ``Conv2D``
        takes images of any height and width, so it needs, say,
        ``input_shape=(1, 28, 28)``. A Graph's Inputs fix their shapes.

    Returns
    -------
    onnx.ModelProto
        What was written; it has passed ``onnx.checker.check_model``
        (with shape inference).

    Raises
    ------
    TypeError
        For a model that is not a Sequential or a Graph, or a layer with no
        ONNX equivalent (a custom one), naming it and where it is.
    ValueError
        For a model whose input shape is neither fixed by its layers nor
        given, or an ``input_shape`` its layers cannot take (naming the layer).

    Examples
    --------
    >>> import os, tempfile, numpy as np, onnxruntime, minnet as mn
    >>> from minnet.interop import to_onnx
    >>> model = mn.Sequential(mn.Dense(3, 4, seed=0), mn.Tanh(), mn.Dense(4, 2, seed=1), mn.Softmax())
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "model.onnx")
    >>> proto = to_onnx(model, path)
    >>> [node.op_type for node in proto.graph.node]
    ['Gemm', 'Tanh', 'Gemm', 'Softmax']
    >>> session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> x = np.ones((5, 3))
    >>> bool(np.allclose(session.run(None, {"input": x})[0], model.predict(x), rtol=1e-12))
    True
    >>> folder.cleanup()
    """
    if not isinstance(model, containers.Model):
        raise TypeError(
            f"to_onnx exports a model (mn.Sequential or mn.Graph), got {type(model).__name__}; "
            f"wrap a single layer in mn.Sequential"
        )
    path = check_path("path", path)
    dtype = model.dtype if dtype is None else check_dtype(dtype)
    opset = check_int("opset", opset, low=_MIN_OPSET, high=onnx.defs.onnx_opset_version())
    input_shapes, output_shapes = _sample_shapes(model, input_shape)
    builder = _Builder(dtype, opset)
    if isinstance(model, graph.Graph):
        input_names, output_names = model.input_names, model.output_names
    else:
        input_names, output_names = ["input"], ["output"]
    for name in input_names:
        builder.reserve(name)
    outputs = builder.layer(model, list(input_names), "", "the model")
    for produced, name in zip(outputs, output_names):
        builder.name_output(produced, name)

    elem = _ELEM_TYPES[dtype]
    inputs_info = [
        helper.make_tensor_value_info(name, elem, ["batch", *shape]) for name, shape in zip(input_names, input_shapes)
    ]
    outputs_info = [
        helper.make_tensor_value_info(name, elem, ["batch", *shape]) for name, shape in zip(output_names, output_shapes)
    ]
    onnx_graph = helper.make_graph(
        builder.nodes,
        type(model).__name__.lower(),
        inputs_info,
        outputs_info,
        initializer=builder.initializers,
        doc_string=repr(model),
    )
    opsets = [helper.make_opsetid("", opset)]
    # The oldest IR version that can carry this opset, so older runtimes read the file too.
    proto = helper.make_model(
        onnx_graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="minnet",
        producer_version=__version__,
    )
    onnx.checker.check_model(proto, full_check=True)
    write_atomically(path, lambda f: f.write(proto.SerializeToString()))
    return proto


def _sample_shapes(model: containers.Model, input_shape: Any) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The shape of one sample of each input and each output, checked by the layers before anything is built."""
    if input_shape is not None:
        if model.n_inputs != 1:
            raise TypeError(
                f"input_shape is the shape of a model's one input; this {type(model).__name__} has "
                f"{model.n_inputs} inputs, whose Inputs fix their shapes"
            )
        inputs = [check_shape("input_shape", input_shape)]
    else:
        known = model.input_shapes()
        if any(shape is None for shape in known):
            raise ValueError(
                f"to_onnx needs the shape of one input sample, which the layers of this {type(model).__name__} "
                f"do not fix (a first Conv2D takes images of any height and width); "
                f"pass it as input_shape=, e.g. input_shape=(1, 28, 28)"
            )
        inputs = [shape for shape in known if shape is not None]
    outputs: Any = model.output_shape(inputs[0] if model.n_inputs == 1 else inputs)  # the layers check them
    return inputs, [tuple(shape) for shape in (outputs if model.n_outputs > 1 else [outputs])]


class _Builder:
    """Collects the ONNX nodes and initializers of a model, naming each tensor once.

    Parameters
    ----------
    dtype : np.dtype
        The element type of every tensor.
    opset : int
        The ONNX operator set version, for the operators whose form changed.
    """

    def __init__(self, dtype: np.dtype, opset: int) -> None:
        self.dtype = dtype
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._taken: set[str] = set()
        self._weights: dict[int, list[str]] = {}  # a layer's initializer names, so a shared layer stores them once
        self._producer: dict[str, onnx.NodeProto] = {}

    def reserve(self, name: str) -> None:
        self._taken.add(name)

    def fresh(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... : a tensor name not used yet."""
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def constant(self, name: str, value: Any) -> str:
        """An initializer holding ``value`` in the export dtype; returns its name."""
        array = np.asarray(value, dtype=self.dtype)
        name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(array, name=name))
        return name

    def integers(self, name: str, values: list[int]) -> str:
        """An int64 initializer holding ``values`` (shapes, axes, indices); returns its name."""
        name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name=name))
        return name

    def weights(self, layer: Layer, prefix: str, arrays: dict[str, np.ndarray | float]) -> list[str]:
        """The initializers of ``layer`` (made on its first use only), named ``prefix.key``."""
        if id(layer) not in self._weights:
            self._weights[id(layer)] = [self.constant(f"{prefix}.{key}", value) for key, value in arrays.items()]
        return self._weights[id(layer)]

    def op(self, op_type: str, inputs: list[str], name: str, **attributes: Any) -> str:
        """Append one operator node with one output, named ``name`` (made unique); return the output."""
        output = self.fresh(name)
        node = helper.make_node(op_type, inputs, [output], name=output, **attributes)
        self.nodes.append(node)
        self._producer[output] = node
        return output

    def name_output(self, tensor: str, name: str) -> None:
        """Make the tensor ``tensor`` available as the graph output ``name``."""
        if tensor == name:
            return
        node = self._producer.get(tensor)
        read = any(tensor in other.input for other in self.nodes)
        if node is None or read or name in self._taken:  # an input passed through, or a tensor in use
            self.nodes.append(helper.make_node("Identity", [tensor], [self.fresh(name)], name=name))
            return
        # Otherwise the node is renamed rather than followed by an Identity: a plainer graph.
        node.output[0] = name
        node.name = name
        self._taken.add(name)
        self._producer[name] = self._producer.pop(tensor)

    def layer(self, layer: Layer, inputs: list[str], name: str, where: str) -> list[str]:
        """Append the operators computing ``layer`` on the tensors ``inputs``; return its output tensor(s)."""
        export = _EXPORTERS.get(type(layer))  # the exact type: a subclass may compute something else
        if export is None:
            raise TypeError(
                f"to_onnx cannot export {layer!r} ({where}): it knows no ONNX operators computing a "
                f"{type(layer).__qualname__}; it exports "
                f"{', '.join(sorted(cls.__name__ for cls in _EXPORTERS))}"
            )
        outputs = export(self, layer, inputs, name, where)
        return outputs if isinstance(outputs, list) else [outputs]


def _base_name(layer: Layer) -> str:
    return type(layer).__name__.lower()


def _dense(b: _Builder, layer: layers.Dense, inputs: list[str], name: str, where: str) -> str:
    arrays = {"W": layer.W.value} if layer.b is None else {"W": layer.W.value, "b": layer.b.value}
    # Gemm is A @ B + C: minnet's (n_in, n_out) W is B as it is, no transpose needed.
    return b.op("Gemm", [inputs[0], *b.weights(layer, name, arrays)], name)


def _leaky_relu(b: _Builder, layer: layers.LeakyReLU, inputs: list[str], name: str, where: str) -> str:
    slope = layer.negative_slope
    if b.dtype == np.float32:
        return b.op("LeakyRelu", inputs, name, alpha=slope)
    # In float64, minnet's own formula with a float64 slope: the float32 attribute would round a
    # slope such as 0.1, and ONNX Runtime has no float64 LeakyRelu kernel for most opsets.
    x = inputs[0]
    positive = b.op("Greater", [x, b.constant(f"{name}.zero", 0.0)], f"{name}.positive")
    scaled = b.op("Mul", [x, b.weights(layer, name, {"negative_slope": slope})[0]], f"{name}.scaled")
    return b.op("Where", [positive, x, scaled], name)


def _batch_norm(b: _Builder, layer: layers.BatchNorm, inputs: list[str], name: str, where: str) -> str:
    # minnet's inference is (x - mean) / sqrt(var + eps) * gamma + beta; adding eps into the
    # variance here (as minnet does, in the model's dtype) keeps a float64 eps exact.
    arrays = {
        "gamma": layer.gamma.value,
        "beta": layer.beta.value,
        "running_mean": layer.running_mean,
        "running_var_plus_eps": layer.running_var + layer.eps,
    }
    return b.op("BatchNormalization", [inputs[0], *b.weights(layer, name, arrays)], name, epsilon=0.0)


def _elu(b: _Builder, layer: layers.ELU, inputs: list[str], name: str, where: str) -> str:
    if b.dtype == np.float32:
        return b.op("Elu", inputs, name, alpha=layer.alpha)
    x, zero = inputs[0], b.constant(f"{name}.zero", 0.0)
    # Min(x, 0): e^x of a large x would overflow in the branch Where discards.
    exp = b.op("Exp", [b.op("Min", [x, zero], f"{name}.negative")], f"{name}.exp")
    minus_one = b.op("Sub", [exp, b.constant(f"{name}.one", 1.0)], f"{name}.expm1")
    scaled = b.op("Mul", [minus_one, b.weights(layer, name, {"alpha": layer.alpha})[0]], f"{name}.scaled")
    return b.op("Where", [b.op("Greater", [x, zero], f"{name}.positive"), x, scaled], name)


def _softplus(b: _Builder, layer: layers.Softplus, inputs: list[str], name: str, where: str) -> str:
    x = inputs[0]
    beta, threshold = b.weights(layer, name, {"beta": layer.beta, "threshold": layer.threshold})
    z = b.op("Mul", [x, beta], f"{name}.z")
    if b.dtype == np.float32:
        smooth = b.op("Softplus", [z], f"{name}.softplus")
    else:
        # log(1 + e^z) on z clipped at the threshold: the linear branch covers what lies above it.
        exp = b.op("Exp", [b.op("Min", [z, threshold], f"{name}.clipped")], f"{name}.exp")
        smooth = b.op("Log", [b.op("Add", [exp, b.constant(f"{name}.one", 1.0)], f"{name}.sum")], f"{name}.log")
    scaled = b.op("Div", [smooth, beta], f"{name}.smooth")
    return b.op("Where", [b.op("Greater", [z, threshold], f"{name}.linear"), x, scaled], name)


def _gelu(b: _Builder, layer: layers.GELU, inputs: list[str], name: str, where: str) -> str:
    x = inputs[0]
    if b.dtype == np.float32 and b.opset >= 20:
        return b.op("Gelu", inputs, name, approximate=layer.approximate)
    half = b.op("Mul", [x, b.constant(f"{name}.half", 0.5)], f"{name}.half_x")
    if layer.approximate == "tanh":
        cube = b.op("Mul", [b.op("Mul", [x, x], f"{name}.square"), x], f"{name}.cube")
        inner = b.op("Add", [x, b.op("Mul", [cube, b.constant(f"{name}.k", 0.044715)], f"{name}.k_cube")], f"{name}.u")
        inner = b.op("Mul", [inner, b.constant(f"{name}.scale", np.sqrt(2.0 / np.pi))], f"{name}.inner")
        bend = b.op("Tanh", [inner], f"{name}.tanh")
    else:
        scaled = b.op("Mul", [x, b.constant(f"{name}.rsqrt2", np.sqrt(0.5))], f"{name}.scaled")
        if b.dtype == np.float32:
            bend = b.op("Erf", [scaled], f"{name}.erf")
        else:  # ONNX Runtime has no float64 Erf: computed in float32
            single = b.op("Cast", [scaled], f"{name}.float32", to=onnx.TensorProto.FLOAT)
            erf = b.op("Erf", [single], f"{name}.erf32")
            bend = b.op("Cast", [erf], f"{name}.erf", to=_ELEM_TYPES[b.dtype])
    one_plus = b.op("Add", [bend, b.constant(f"{name}.one", 1.0)], f"{name}.one_plus")
    return b.op("Mul", [half, one_plus], name)


def _layer_norm(b: _Builder, layer: layers.LayerNorm, inputs: list[str], name: str, where: str) -> str:
    x, k = inputs[0], len(layer.normalized_shape)
    affine = (
        {} if layer.weight is None or layer.bias is None else {"weight": layer.weight.value, "bias": layer.bias.value}
    )
    if b.dtype == np.float32 and b.opset >= 17:
        scale_bias = b.weights(layer, name, affine or {"weight": np.ones(layer.normalized_shape), "bias": 0.0})
        return b.op("LayerNormalization", [x, *scale_bias], name, axis=-k, epsilon=layer.eps)
    # minnet's own formulas, eps as a tensor of the model's dtype (the attribute is float32).
    axes = list(range(-k, 0))
    centred = b.op("Sub", [x, _mean(b, x, axes, f"{name}.mean")], f"{name}.centred")
    variance = _mean(b, b.op("Mul", [centred, centred], f"{name}.square"), axes, f"{name}.variance")
    std = b.op(
        "Sqrt", [b.op("Add", [variance, b.constant(f"{name}.eps", layer.eps)], f"{name}.var_eps")], f"{name}.std"
    )
    if not affine:
        return b.op("Div", [centred, std], name)
    weight, bias = b.weights(layer, name, affine)
    scaled = b.op("Mul", [b.op("Div", [centred, std], f"{name}.x_hat"), weight], f"{name}.scaled")
    return b.op("Add", [scaled, bias], name)


def _mean(b: _Builder, x: str, axes: list[int], name: str) -> str:
    """``ReduceMean`` over ``axes``, keeping them; the axes became an input at opset 18."""
    if b.opset < 18:
        return b.op("ReduceMean", [x], name, axes=axes, keepdims=1)
    return b.op("ReduceMean", [x, b.integers(f"{name}.axes", axes)], name, keepdims=1)


def _window_attributes(layer: layers.Conv2D | layers.MaxPool2D | layers.AvgPool2D) -> dict[str, list[int]]:
    """The kernel, strides and pads of a sliding window, ONNX's ``pads`` being ``[top, left, bottom, right]``."""
    (top, bottom), (left, right) = layer.pads
    return {"kernel_shape": list(layer.kernel_size), "strides": list(layer.stride), "pads": [top, left, bottom, right]}


def _window_slices(b: _Builder, x: str, layer: layers.Conv2D | layers.AvgPool2D, name: str) -> list[str]:
    """For each kernel offset ``(a, c)`` in row-major order, that pixel of every window: (n, C, H_out, W_out).

    The slice of the zero-padded images starting at ``(a, c)`` with the
    strides as steps; it ends ``k - 1 - a`` pixels before the end, where the
    last whole window's pixel lies, so it needs no image size.
    """
    (top, bottom), (left, right) = layer.pads
    if top or bottom or left or right:
        x = b.op("Pad", [x, b.integers(f"{name}.pads", [0, 0, top, left, 0, 0, bottom, right])], f"{name}.padded")
    (kh, kw), big = layer.kernel_size, np.iinfo(np.int64).max
    axes, steps = b.integers(f"{name}.axes", [2, 3]), b.integers(f"{name}.steps", list(layer.stride))
    slices = []
    for a in range(kh):
        for c in range(kw):
            ends = [a - (kh - 1) or big, c - (kw - 1) or big]  # 0 would be an empty slice: "to the end" instead
            starts_name, ends_name = b.integers(f"{name}.starts", [a, c]), b.integers(f"{name}.ends", ends)
            slices.append(b.op("Slice", [x, starts_name, ends_name, axes, steps], f"{name}.window"))
    return slices


def _conv(b: _Builder, layer: layers.Conv2D, inputs: list[str], name: str, where: str) -> str:
    if b.dtype == np.float32:
        arrays = {"W": layer.W.value} if layer.b is None else {"W": layer.W.value, "b": layer.b.value}
        return b.op("Conv", [inputs[0], *b.weights(layer, name, arrays)], name, **_window_attributes(layer))
    # float64: the windows' pixels stacked offset by offset, (n, kh kw C, H_out, W_out), times W laid out alike.
    columns = b.op("Concat", _window_slices(b, inputs[0], layer, name), f"{name}.columns", axis=1)
    arrays = {"W": layer.W.value.transpose(0, 2, 3, 1).reshape(layer.out_channels, -1)}
    if layer.b is not None:
        arrays["b"] = layer.b.value.reshape(-1, 1, 1)
    weights = b.weights(layer, name, arrays)
    if layer.b is None:
        return b.op("Einsum", [columns, weights[0]], name, equation="nkhw,ok->nohw")
    product = b.op("Einsum", [columns, weights[0]], f"{name}.product", equation="nkhw,ok->nohw")
    return b.op("Add", [product, weights[1]], name)


def _avg_pool(b: _Builder, layer: layers.AvgPool2D, inputs: list[str], name: str, where: str) -> str:
    if b.dtype == np.float32:
        return b.op("AveragePool", inputs, name, count_include_pad=1, **_window_attributes(layer))
    total = b.op("Sum", _window_slices(b, inputs[0], layer, name), f"{name}.sum")
    size = layer.kernel_size[0] * layer.kernel_size[1]
    return b.op("Div", [total, b.constant(f"{name}.size", size)], name)


def _max_pool(b: _Builder, layer: layers.MaxPool2D, inputs: list[str], name: str, where: str) -> str:
    return b.op("MaxPool", inputs, name, **_window_attributes(layer))  # ONNX never takes the padding as the max


def _global_avg_pool(b: _Builder, layer: layers.GlobalAvgPool2D, inputs: list[str], name: str, where: str) -> str:
    if b.dtype == np.float32:
        return b.op("Flatten", [b.op("GlobalAveragePool", inputs, f"{name}.pooled")], name, axis=1)
    if b.opset < 18:  # the axes became an input at opset 18
        return b.op("ReduceMean", inputs, name, axes=[2, 3], keepdims=0)
    return b.op("ReduceMean", [inputs[0], b.integers(f"{name}.axes", [2, 3])], name, keepdims=0)


def _reshape(b: _Builder, layer: layers.Reshape, inputs: list[str], name: str, where: str) -> str:
    # A 0 in ONNX's shape keeps that axis of the input: the batch.
    return b.op("Reshape", [inputs[0], b.integers(f"{name}.shape", [0, *layer.shape])], name)


def _add(b: _Builder, layer: graph.Add, inputs: list[str], name: str, where: str) -> str:
    total = inputs[0]
    for k, x in enumerate(inputs[1:], start=1):  # pairwise, left to right: minnet's order of rounding
        total = b.op("Add", [total, x], name if k == len(inputs) - 1 else f"{name}.partial")
    return total


def _sequential(b: _Builder, model: containers.Sequential, inputs: list[str], name: str, where: str) -> str:
    x = inputs[0]
    for i, layer in enumerate(model):
        inner = f"{name}.{i}" if name else str(i)  # the top-level model's tensors get no prefix
        x = b.layer(layer, [x], f"{inner}.{_base_name(layer)}", f"layer {i} of {where}")[0]
    return x


def _graph(b: _Builder, model: graph.Graph, inputs: list[str], name: str, where: str) -> list[str]:
    # Tensors are named after the nodes; a graph inside another gets its own name as a prefix.
    prefix = f"{name}." if name else ""
    tensors = dict(zip(model.input_names, inputs))
    for node_name, layer, args in model.nodes:
        if layer is None:
            continue
        outputs = b.layer(layer, [tensors[a] for a in args], prefix + node_name, f"node {node_name} of {where}")
        tensors[node_name] = outputs[0]
    return [tensors[o] for o in model.output_names]


def _simple(op_type: str, **attributes: Any) -> Callable[..., str]:
    """The exporter of a layer that is one ONNX operator without weights."""
    return lambda b, layer, inputs, name, where: b.op(op_type, inputs, name, **attributes)


_EXPORTERS: dict[type, Callable[..., Any]] = {
    layers.Dense: _dense,
    layers.Sigmoid: _simple("Sigmoid"),
    layers.ReLU: _simple("Relu"),
    layers.Tanh: _simple("Tanh"),
    layers.LeakyReLU: _leaky_relu,
    layers.Softmax: lambda b, layer, inputs, name, where: b.op("Softmax", inputs, name, axis=layer.axis),
    layers.ELU: _elu,
    layers.Softplus: _softplus,
    layers.GELU: _gelu,
    layers.LayerNorm: _layer_norm,
    layers.Dropout: _simple("Identity"),
    layers.BatchNorm: _batch_norm,
    layers.BatchNorm2D: _batch_norm,
    layers.Conv2D: _conv,
    layers.MaxPool2D: _max_pool,
    layers.AvgPool2D: _avg_pool,
    layers.GlobalAvgPool2D: _global_avg_pool,
    layers.Flatten: _simple("Flatten", axis=1),
    layers.Reshape: _reshape,
    graph.Add: _add,
    graph.Concat: lambda b, layer, inputs, name, where: b.op("Concat", inputs, name, axis=layer.axis),
    containers.Sequential: _sequential,
    graph.Graph: _graph,
}
