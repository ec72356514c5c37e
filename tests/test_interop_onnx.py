"""minnet.interop.to_onnx: the file passes onnx.checker and ONNX Runtime computes model.predict.

Tolerances: ONNX Runtime runs the same operations in the same dtype with
its own kernels (its float32 sigmoid and tanh are fast approximations a few
ulps off, its Gemm sums in another order), so float64 outputs agree with
``predict`` to rtol 1e-12 (atol 1e-14 for values that cancel to about 0) and
float32 ones to rtol 1e-5 (atol 1e-6). A float64 model exported as float32
is compared to its float64 predictions at float32's rtol 1e-5 (atol 1e-5).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from exportable_models import (
    MODELS,
    Square,
    article,
    blocks,
    cnn,
    design_graph,
    multiclass,
    regularised,
    residual_cnn,
    two_in_two_out,
)

import minnet as mn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from minnet.interop import to_onnx  # noqa: E402  (needs onnx, checked above)

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
DTYPES = [np.float64, np.float32]


def feeds(model, n: int, dtype, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = model.input_names if isinstance(model, mn.Graph) else ["input"]
    return {name: rng.normal(0.0, 2.0, (n, *shape)).astype(dtype) for name, shape in zip(names, model.input_shapes())}


def predictions(model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    x = list(inputs.values())
    out = model.predict(x[0] if len(x) == 1 else x)
    return out if isinstance(out, list) else [out]


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_onnx_runtime_computes_predict(name, dtype, tmp_path):
    model = MODELS[name](dtype)
    path = tmp_path / f"{name}.onnx"
    to_onnx(model, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    runtime = session(path)
    for n in (1, 7):  # the batch size is free
        inputs = feeds(model, n, dtype, seed=n)
        outputs = runtime.run(None, inputs)
        expected = predictions(model, inputs)
        assert len(outputs) == len(expected)
        for got, want in zip(outputs, expected):
            assert got.dtype == want.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("build", [multiclass, cnn, blocks])
@pytest.mark.parametrize("opset", [13, 16, 18, 21])
def test_older_and_newer_opsets_run_alike(opset, build, dtype, tmp_path):
    model = build(dtype)
    proto = to_onnx(model, tmp_path / "model.onnx", opset=opset)
    assert proto.opset_import[0].version == opset
    inputs = feeds(model, 4, dtype)
    (got,) = session(tmp_path / "model.onnx").run(None, inputs)
    np.testing.assert_allclose(got, predictions(model, inputs)[0], **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("opset", [17, 20])
def test_the_exact_gelu_runs_as_gelu_or_erf_and_in_float64_to_float32_accuracy(opset, dtype, tmp_path):
    model = mn.Sequential(mn.Dense(4, 6, seed=0, dtype=dtype), mn.GELU())
    proto = to_onnx(model, tmp_path / "model.onnx", opset=opset)
    ops = [node.op_type for node in proto.graph.node]
    assert ("Gelu" in ops) == (dtype == np.float32 and opset >= 20) and ("Erf" in ops) != ("Gelu" in ops)
    inputs = feeds(model, 9, dtype)
    (got,) = session(tmp_path / "model.onnx").run(None, inputs)
    np.testing.assert_allclose(got, predictions(model, inputs)[0], rtol=1e-6, atol=1e-7)


def test_layer_norm_is_the_standard_operator_in_float32_and_minnets_formula_in_float64(tmp_path):
    for dtype, expected in [(np.float32, "LayerNormalization"), (np.float64, "ReduceMean")]:
        proto = to_onnx(mn.Sequential(mn.LayerNorm(3, dtype=dtype)), tmp_path / "model.onnx", input_shape=(2, 3))
        assert expected in [node.op_type for node in proto.graph.node]


@pytest.mark.parametrize("name", MODELS)
def test_a_float64_model_exported_as_float32_computes_predict_to_float32_rounding(name, tmp_path):
    model = MODELS[name](np.float64)
    to_onnx(model, tmp_path / "model.onnx", dtype=np.float32)
    inputs = feeds(model, 5, np.float64)
    outputs = session(tmp_path / "model.onnx").run(None, {k: v.astype(np.float32) for k, v in inputs.items()})
    for got, want in zip(outputs, predictions(model, inputs)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_inputs_and_outputs_are_named_as_the_graphs_with_a_free_batch_size(tmp_path):
    model = two_in_two_out(np.float64)
    proto = to_onnx(model, tmp_path / "model.onnx")
    shapes = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*proto.graph.input, *proto.graph.output]
    }
    assert shapes == {"a": ["batch", 5], "b": ["batch", 3], "softmax": ["batch", 3], "sigmoid_1": ["batch", 1]}
    assert model.output_names == ["softmax", "sigmoid_1"]
    assert {v.name for v in proto.graph.input} == {"a", "b"}
    assert proto.producer_name == "minnet" and proto.graph.doc_string == repr(model)


def test_image_inputs_have_the_models_image_shape(tmp_path):
    def shapes(proto):
        return [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in proto.graph.input] + [
            [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in proto.graph.output
        ]

    assert shapes(to_onnx(residual_cnn(np.float64), tmp_path / "r.onnx")) == [["batch", 3, 8, 8], ["batch", 1]]
    assert shapes(to_onnx(cnn(np.float64), tmp_path / "c.onnx")) == [["batch", 12], ["batch", 3]]


def conv_first(dtype=np.float64) -> mn.Sequential:
    """A Sequential whose first layer is a Conv2D: images of any height and width."""
    return mn.Sequential(
        mn.Conv2D(1, 3, 3, seed=0, dtype=dtype), mn.ReLU(), mn.MaxPool2D(2), mn.Flatten(), mn.Dense(75, 2, dtype=dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_a_sequential_that_does_not_fix_its_input_shape_is_given_one(dtype, tmp_path):
    model = conv_first(dtype)
    proto = to_onnx(model, tmp_path / "model.onnx", input_shape=(1, 12, 12))
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["batch", 1, 12, 12]
    x = np.random.default_rng(0).normal(size=(6, 1, 12, 12)).astype(dtype)
    (got,) = session(tmp_path / "model.onnx").run(None, {"input": x})
    np.testing.assert_allclose(got, model.predict(x), **TOLERANCE[dtype])


def test_a_sequential_that_does_not_fix_its_input_shape_needs_one(tmp_path):
    with pytest.raises(ValueError, match=r"do not fix \(a first Conv2D .*\); pass it as input_shape=, e.g."):
        to_onnx(conv_first(), tmp_path / "model.onnx")
    with pytest.raises(
        ValueError, match=r"Conv2D\(1, 3, 3\) expected samples of shape \(1, H, W\), got shape \(3, 12, 12\)"
    ):
        to_onnx(conv_first(), tmp_path / "model.onnx", input_shape=(3, 12, 12))
    with pytest.raises(ValueError, match=r"Dense\(75 -> 2\)"):
        to_onnx(conv_first(), tmp_path / "model.onnx", input_shape=(1, 14, 14))  # 3x6x6 after pooling: not 75
    with pytest.raises(TypeError, match="this Graph has 2 inputs, whose Inputs fix their shapes"):
        to_onnx(two_in_two_out(np.float64), tmp_path / "model.onnx", input_shape=5)
    assert not (tmp_path / "model.onnx").exists()


def test_a_sequential_has_one_input_and_one_output_with_plain_names(tmp_path):
    proto = to_onnx(article(np.float64), tmp_path / "model.onnx")
    assert [v.name for v in proto.graph.input] == ["input"] and [v.name for v in proto.graph.output] == ["output"]
    assert [node.op_type for node in proto.graph.node] == ["Gemm", "Sigmoid", "Gemm", "Sigmoid"]


def test_the_operators_are_the_standard_ones(tmp_path):
    ops = [node.op_type for node in to_onnx(regularised(np.float64), tmp_path / "m.onnx").graph.node]
    # LeakyReLU(0.1) in float64: minnet's formula, as 0.1 would be rounded to float32 in the attribute.
    # The other operators are the standard ones, one per layer.
    assert ops == ["Gemm", "BatchNormalization", "Greater", "Mul", "Where", "Identity", "Gemm"]
    ops32 = [node.op_type for node in to_onnx(regularised(np.float32), tmp_path / "m.onnx").graph.node]
    assert ops32 == ["Gemm", "BatchNormalization", "LeakyRelu", "Identity", "Gemm"]
    ops = [node.op_type for node in to_onnx(design_graph(np.float64), tmp_path / "g.onnx").graph.node]
    assert ops.count("Gemm") == 5 and ops.count("Add") == 1 and ops.count("Concat") == 1


def test_image_layers_are_the_standard_operators_in_float32_and_run_in_float64_as_minnet_computes(tmp_path):
    ops32 = [node.op_type for node in to_onnx(cnn(np.float32), tmp_path / "m.onnx").graph.node]
    assert ops32 == [
        *["Gemm", "Reshape", "Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "AveragePool"],
        *["Flatten", "Identity", "Gemm", "Reshape", "Conv", "GlobalAveragePool", "Flatten", "Softmax"],
    ]
    ops = [node.op_type for node in to_onnx(cnn(np.float64), tmp_path / "m.onnx").graph.node]
    # ONNX Runtime has no float64 Conv, AveragePool or GlobalAveragePool: windows as Slices, then a product.
    assert not {"Conv", "AveragePool", "GlobalAveragePool"} & set(ops)
    assert ops.count("Einsum") == 3 and ops.count("ReduceMean") == 1 and ops.count("Sum") == 1
    assert ops.count("Slice") == 3 * 3 + 2 * 2 + 2 * 2 + 3 * 2  # one per kernel offset, pooling's included
    assert ops.count("Pad") == 4  # the 'valid' convolution and the unpadded pooling need none


def test_the_window_settings_reach_the_operators(tmp_path):
    attributes = {
        node.name: {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        for node in to_onnx(cnn(np.float32), tmp_path / "m.onnx").graph.node
        if node.op_type in ("Conv", "MaxPool", "AveragePool")
    }
    assert list(attributes.values()) == [
        {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [0, 0, 1, 1]},  # "same", even: the extra one after
        {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 1},
        {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 0]},
    ]


def test_a_shared_layer_stores_its_weights_once(tmp_path):
    model = two_in_two_out(np.float64)
    proto = to_onnx(model, tmp_path / "model.onnx")
    assert len(proto.graph.initializer) == len(model.parameters())  # the shared block's W and b: once
    stored = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    assert stored == sum(p.size for p in model.parameters())


def test_the_file_is_written_atomically_and_replaced_only_by_a_complete_export(tmp_path):
    path = tmp_path / "model.onnx"
    to_onnx(article(np.float64), path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot export"):
        to_onnx(mn.Sequential(mn.Dense(5, 2), Square()), path)
    assert path.read_bytes() == before
    to_onnx(multiclass(np.float64), path)
    assert path.read_bytes() != before and onnx.load(str(path)).graph.node[-1].op_type == "Softmax"
    assert os.listdir(tmp_path) == ["model.onnx"]  # no temporary file left behind


def test_a_path_that_cannot_be_a_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        to_onnx(article(np.float64), tmp_path / "missing" / "model.onnx")
    with pytest.raises(IsADirectoryError):
        to_onnx(article(np.float64), tmp_path)


def test_a_layer_without_onnx_operators_is_named_with_its_place(tmp_path):
    x = mn.Input(2)
    model = mn.Graph(x, mn.Sequential(mn.Tanh(), Square())(mn.Dense(2, 2)(x)))
    with pytest.raises(TypeError, match=r"cannot export Square\(\) \(layer 1 of node sequential of the model\)"):
        to_onnx(model, tmp_path / "model.onnx")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: to_onnx(mn.Dense(2, 2), p), TypeError, "wrap a single layer in mn.Sequential"),
        (lambda p: to_onnx(article(np.float64), p, dtype=np.float16), TypeError, "float32 or np.float64"),
        (lambda p: to_onnx(article(np.float64), p, opset=12), ValueError, "opset must be >= 13"),
        (lambda p: to_onnx(article(np.float64), 3), TypeError, "path must be a file path"),
        (lambda p: to_onnx(article(np.float64), p, input_shape=(5, 0)), ValueError, "input_shape must hold sizes >= 1"),
        (lambda p: to_onnx(article(np.float64), p, input_shape=6), ValueError, r"Dense\(5 -> 7\)"),
    ],
)
def test_wrong_arguments_are_refused_before_writing(call, error, message, tmp_path):
    with pytest.raises(error, match=message):
        call(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
