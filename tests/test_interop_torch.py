"""minnet.interop.to_torch / from_torch: outputs, weights, state, modes, training on, errors.

Tolerances: the module and the model compute the same operations in the
same dtype, differing only in the order BLAS sums a matrix product, so
float64 outputs agree to rtol 1e-12 (atol 1e-14 for values that cancel to
about 0) and float32 ones to rtol 1e-5 (atol 1e-6). Round trips copy
arrays and must give every weight and running statistic back bit for bit.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest
from exportable_models import MODELS, Square, article, design_graph, regularised, two_in_two_out, warmed_batch_norm

import minnet as mn

torch = pytest.importorskip("torch")
from minnet.interop import from_torch, to_torch  # noqa: E402  (needs torch, checked above)
from minnet.interop.pytorch import GraphModule  # noqa: E402

nn = torch.nn
# torch notes that it pads a copy of the input for an even kernel's "same": the result is exact.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
DTYPES = [np.float64, np.float32]


def inputs_for(model, n: int = 9, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(n, *shape)).astype(dtype) for shape in model.input_shapes()]
    return arrays[0] if len(arrays) == 1 else arrays


def as_tensors(x):
    return [torch.from_numpy(a) for a in x] if isinstance(x, list) else [torch.from_numpy(x)]


def as_arrays(out) -> list[np.ndarray]:
    return [o.detach().numpy() for o in (out if isinstance(out, tuple) else (out,))]


def as_list(x) -> list[np.ndarray]:
    return x if isinstance(x, list) else [x]


def states(model) -> list[dict]:
    return [layer.get_state() for layer in mn.containers.iter_layers(model) if layer.get_state()]


# -- minnet to torch ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_an_eval_module_computes_predict(name, dtype):
    model = MODELS[name](dtype)
    x = inputs_for(model, dtype=dtype)
    net = to_torch(model, training=False)
    for got, expected in zip(as_arrays(net(*as_tensors(x))), as_list(model.predict(x))):
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_the_parameters_are_in_the_models_dtype(name, dtype):
    net = to_torch(MODELS[name](dtype))
    expected = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    assert {p.dtype for p in net.parameters()} == {expected}


def without_dropout(model):
    """The same model with each Dropout's p at 0: training-mode outputs are then comparable."""
    for layer in mn.containers.iter_layers(model):
        if isinstance(layer, mn.Dropout):
            layer.p = 0.0
    return model


@pytest.mark.parametrize("name", MODELS)
def test_a_training_module_computes_forward_and_moves_the_running_statistics_alike(name):
    model = without_dropout(MODELS[name](np.float64))
    net = to_torch(model)
    assert net.training and all(m.training for m in net.modules())
    x = inputs_for(model, seed=1)
    for got, expected in zip(as_arrays(net(*as_tensors(x))), as_list(model.forward(x, training=True))):
        np.testing.assert_allclose(got, expected, **TOLERANCE[np.float64])
    norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == sum(isinstance(la, mn.BatchNorm) for la in mn.containers.iter_layers(model))
    for norm, layer in zip(norms, [la for la in mn.containers.iter_layers(model) if isinstance(la, mn.BatchNorm)]):
        np.testing.assert_allclose(norm.running_mean.numpy(), layer.running_mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(norm.running_var.numpy(), layer.running_var, rtol=1e-12)
        assert int(norm.num_batches_tracked) == layer.num_batches_tracked == 4


def test_training_false_gives_a_module_in_eval_mode_throughout():
    net = to_torch(regularised(np.float64), training=False)
    assert not any(m.training for m in net.modules())


def test_dropout_in_a_training_module_zeroes_or_scales_as_minnet_does():
    model = mn.Sequential(mn.Dense(4, 200, seed=0), mn.Dropout(0.25))
    net = to_torch(model)
    x = np.random.default_rng(0).normal(size=(50, 4))
    torch.manual_seed(0)
    out = as_arrays(net(torch.from_numpy(x)))[0]
    kept = model.predict(x) / 0.75
    zero = out == 0
    np.testing.assert_allclose(out[~zero], kept[~zero], rtol=1e-12)
    assert 0.2 < zero.mean() < 0.3  # 10,000 draws at p = 0.25


def test_batch_norm_keeps_its_hyperparameters_and_state():
    norm = warmed_batch_norm(6, np.float64)
    norm.momentum, norm.eps = None, 1e-3
    module = to_torch(norm)
    assert isinstance(module, nn.BatchNorm1d)
    assert (module.momentum, module.eps, module.num_features) == (None, 1e-3, 6)
    assert np.array_equal(module.running_mean.numpy(), norm.running_mean)
    assert np.array_equal(module.running_var.numpy(), norm.running_var)
    assert np.array_equal(module.weight.detach().numpy(), norm.gamma.value)
    assert int(module.num_batches_tracked) == 3


def test_a_graph_becomes_a_module_that_walks_its_nodes_and_shares_a_shared_layer():
    model = design_graph(np.float64)
    net = to_torch(model)
    assert isinstance(net, GraphModule)
    assert [name for name, _, _ in net.nodes] == [name for name, layer, _ in model.nodes if layer is not None]
    # One Linear for the shared Dense, called at two nodes: 5 Linear/BatchNorm modules hold 6 Dense/BN layers' uses.
    assert sum(p.numel() for p in net.parameters()) == sum(p.size for p in model.parameters())
    uses = [key for _, key, _ in net.nodes if key == "dense_2"]
    assert len(uses) == 2


def test_a_graph_module_takes_its_inputs_as_arguments_or_as_a_list():
    model = two_in_two_out(np.float64)
    net = to_torch(model, training=False)
    x = [torch.from_numpy(a) for a in inputs_for(model)]
    first, second = net(*x), net(x)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    with pytest.raises(TypeError, match=r"2 input\(s\) \(a, b\), got 1"):
        net(x[0])


def test_the_weights_are_copied_not_shared():
    model = article(np.float64)
    net = to_torch(model)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not np.allclose(net[0].weight.detach().numpy().T, model[0].W.value)
    model[0].W.value += 1.0
    back = from_torch(net)
    assert np.array_equal(back[0].W.value, model[0].W.value)


# -- the convolution family, layer by layer ------------------------------------------------


def image_layers(dtype) -> dict[str, mn.Layer]:
    """One of each image layer, in the settings their twins must carry (BatchNorm2D with moved statistics)."""
    norm = mn.BatchNorm2D(3, momentum=0.3, eps=1e-3, dtype=dtype)
    rng = np.random.default_rng(5)
    for _ in range(2):
        norm.forward(rng.normal(1.0, 2.0, (4, 3, 5, 6)).astype(dtype))
    norm.gamma.value[...], norm.beta.value[...] = rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    return {
        "conv": mn.Conv2D(3, 4, 3, padding=1, seed=0, dtype=dtype),
        "conv-strided-no-bias": mn.Conv2D(3, 2, (3, 2), stride=(2, 1), bias=False, seed=1, dtype=dtype),
        "conv-same-even": mn.Conv2D(3, 2, (2, 4), padding="same", seed=2, dtype=dtype),
        "conv-valid": mn.Conv2D(3, 2, 5, padding="valid", seed=3, dtype=dtype),
        "max-pool": mn.MaxPool2D(3, stride=2, padding=1),
        "max-pool-pair": mn.MaxPool2D((2, 3)),
        "avg-pool": mn.AvgPool2D(2, stride=1, padding=1),
        "global-avg-pool": mn.GlobalAvgPool2D(),
        "flatten": mn.Flatten(),
        "reshape": mn.Reshape((-1, 6)),
        "batch-norm-2d": norm,
    }


IMAGE_LAYERS = list(image_layers(np.float64))


def images(dtype=np.float64, seed: int = 0) -> np.ndarray:
    """A batch of 3-channel 7x6 images."""
    return np.random.default_rng(seed).normal(size=(4, 3, 7, 6)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", IMAGE_LAYERS)
def test_an_image_layers_twin_computes_its_inference(name, dtype):
    layer = image_layers(dtype)[name]
    x = images(dtype)
    got = to_torch(layer, training=False)(torch.from_numpy(x)).detach().numpy()
    expected = layer.forward(x, training=False)
    assert got.dtype == expected.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("name", IMAGE_LAYERS)
def test_an_image_layers_twin_trains_alike_every_gradient_and_statistic(name):
    layer = image_layers(np.float64)[name]
    module = to_torch(layer)
    x = images(seed=1)
    tensor = torch.from_numpy(x).requires_grad_()
    out = module(tensor)
    np.testing.assert_allclose(out.detach().numpy(), layer.forward(x), **TOLERANCE[np.float64])
    grad = np.random.default_rng(2).normal(size=out.shape)
    out.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(tensor.grad.numpy(), layer.backward(grad), **TOLERANCE[np.float64])
    for parameter, twin in zip(layer.parameters(), module.parameters()):
        np.testing.assert_allclose(twin.grad.numpy(), parameter.grad, **TOLERANCE[np.float64])
    if isinstance(layer, mn.BatchNorm2D):
        np.testing.assert_allclose(module.running_mean.numpy(), layer.running_mean, rtol=1e-12)
        np.testing.assert_allclose(module.running_var.numpy(), layer.running_var, rtol=1e-12)
        assert int(module.num_batches_tracked) == layer.num_batches_tracked == 3


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", IMAGE_LAYERS)
def test_an_image_layer_comes_back_with_its_settings_weights_and_state_exactly(name, dtype):
    layer = image_layers(dtype)[name]
    back = from_torch(to_torch(layer))
    assert type(back) is type(layer) and back.get_config() == layer.get_config()
    for a, b in zip(back.parameters(), layer.parameters(), strict=True):
        assert a.value.dtype == b.value.dtype and np.array_equal(a.value, b.value)
    for key, value in layer.get_state().items():
        assert np.array_equal(back.get_state()[key], value)


def test_conv_and_batch_norm_2d_carry_their_settings_to_torch():
    conv = to_torch(mn.Conv2D(3, 5, (3, 1), stride=(1, 2), padding=(2, 0), bias=False, seed=0))
    assert isinstance(conv, nn.Conv2d) and conv.bias is None
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (
        3,
        5,
        (3, 1),
        (1, 2),
        (2, 0),
    )
    assert to_torch(mn.Conv2D(1, 1, 2, padding="same")).padding == "same"
    norm = to_torch(mn.BatchNorm2D(4, momentum=None, eps=1e-3, dtype=np.float32))
    assert isinstance(norm, nn.BatchNorm2d) and (norm.momentum, norm.eps, norm.weight.dtype) == (
        None,
        1e-3,
        torch.float32,
    )


def test_adaptive_average_pooling_then_flatten_in_a_torch_sequential_is_one_global_pooling():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, dtype=torch.float64), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.ReLU())
    model = from_torch(net)
    assert [type(layer) for layer in model] == [mn.Conv2D, mn.GlobalAvgPool2D, mn.ReLU]
    x = images()
    np.testing.assert_allclose(model.predict(x), net(torch.from_numpy(x)).detach().numpy(), **TOLERANCE[np.float64])


def test_adaptive_average_pooling_alone_keeps_its_one_by_one_images():
    pooled = from_torch(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.ReLU()))[0]
    assert repr(pooled) == "Sequential(\n  GlobalAvgPool2D(),\n  Reshape((-1, 1, 1)),\n)"
    x = images()
    expected = nn.AdaptiveAvgPool2d(1)(torch.from_numpy(x)).numpy()
    got = pooled.predict(x)
    assert got.shape == (4, 3, 1, 1)
    np.testing.assert_allclose(got, expected, **TOLERANCE[np.float64])


TORCH_SETTINGS_MINNET_LACKS = {
    "conv-dilation": (
        nn.Conv2d(3, 4, 3, dilation=2),
        r"Conv2D has no dilation \(dilation=\(1, 1\)\); this one has dilation=\(2, 2\)",
    ),
    "conv-groups": (nn.Conv2d(4, 4, 3, groups=2), r"every output channel \(groups=1\); this one has groups=2"),
    "conv-reflect": (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    "max-pool-dilation": (nn.MaxPool2d(3, dilation=2), "MaxPool2D has no dilation"),
    "max-pool-ceil": (nn.MaxPool2d(2, ceil_mode=True), "fit the padded input .*ceil_mode=True"),
    "max-pool-indices": (nn.MaxPool2d(2, return_indices=True), "return_indices=True"),
    "avg-pool-ceil": (nn.AvgPool2d(2, ceil_mode=True), "ceil_mode=True"),
    "avg-pool-exclude-pad": (nn.AvgPool2d(3, padding=1, count_include_pad=False), "count_include_pad=False"),
    "avg-pool-divisor": (nn.AvgPool2d(2, divisor_override=3), "divisor_override=3"),
    "adaptive-pool-2": (nn.AdaptiveAvgPool2d(2), r"one value \(output_size=1\); this one has output_size=2"),
    "adaptive-pool-none": (nn.AdaptiveAvgPool2d((1, None)), r"output_size=\(1, None\)"),
    "flatten-batch": (nn.Flatten(0), r"keeps the batch axis \(start_dim=1\); this one has start_dim=0"),
    "flatten-part": (nn.Flatten(1, 2), "end_dim=2"),
    "batch-norm-2d-affine": (nn.BatchNorm2d(3, affine=False), "BatchNorm2D always learns a scale"),
    "pool-too-much-padding": (nn.MaxPool2d(2, padding=2), "padding must be at most half the kernel size"),
}


@pytest.mark.parametrize("name", TORCH_SETTINGS_MINNET_LACKS)
def test_an_image_module_in_settings_minnet_lacks_is_a_value_error_naming_it(name):
    module, message = TORCH_SETTINGS_MINNET_LACKS[name]
    with pytest.raises(ValueError, match=message) as info:
        from_torch(nn.Sequential(nn.ReLU(), module))
    assert f"from_torch cannot convert {module!r} (1 of the module)" in str(info.value)


def test_a_global_pooling_module_whose_modules_were_changed_is_refused():
    pooled = to_torch(mn.GlobalAvgPool2D())
    pooled[1] = nn.ReLU()
    with pytest.raises(
        ValueError, match=r"hold nn.AdaptiveAvgPool2d\(1\) then nn.Flatten\(\).*holds AdaptiveAvgPool2d, ReLU"
    ):
        from_torch(pooled)


def test_other_convolutions_are_named_as_having_no_layer():
    with pytest.raises(TypeError, match=r"torch.nn.modules.conv.Conv1d \(the module\).*nn.Conv2d"):
        from_torch(nn.Conv1d(2, 2, 3))
    with pytest.raises(
        TypeError, match=r"ConvTranspose2d.*minnet has no layer for it; it converts nn.AdaptiveAvgPool2d"
    ):
        from_torch(nn.ConvTranspose2d(2, 2, 3))


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_a_round_trip_gives_back_every_weight_and_state_exactly(name, dtype):
    model = MODELS[name](dtype)
    back = from_torch(to_torch(model))
    assert type(back) is type(model) and back.dtype == model.dtype
    assert [type(la) for la in mn.containers.iter_layers(back)] == [type(la) for la in mn.containers.iter_layers(model)]
    assert [p.shape for p in back.parameters()] == [p.shape for p in model.parameters()]
    for a, b in zip(back.parameters(), model.parameters()):
        assert a.value.dtype == b.value.dtype and np.array_equal(a.value, b.value)
    for a, b in zip(states(back), states(model)):
        if "rng" in a:
            continue  # a Dropout's generator does not cross (torch draws its own masks)
        assert a["num_batches_tracked"] == b["num_batches_tracked"]
        assert np.array_equal(a["running_mean"], b["running_mean"]) and np.array_equal(
            a["running_var"], b["running_var"]
        )
    x = inputs_for(model, dtype=dtype)
    for got, expected in zip(as_list(back.predict(x)), as_list(model.predict(x))):
        np.testing.assert_array_equal(got, expected)


def test_a_round_trip_keeps_the_wiring_of_a_graph():
    model = two_in_two_out(np.float64)
    back = from_torch(to_torch(model))
    assert back.nodes and [(n, type(la).__name__, args) for n, la, args in back.nodes] == [
        (n, type(la).__name__, args) for n, la, args in model.nodes
    ]
    assert (back.input_names, back.output_names) == (model.input_names, model.output_names)
    assert len(back.children()) == len(model.children())  # the shared Sequential is still one layer


def hand_written_torch_net(dtype=torch.float64) -> nn.Module:
    """What a PyTorch user writes, trained a little so that BatchNorm's statistics move."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(5, 8, dtype=dtype),
        nn.BatchNorm1d(8, dtype=dtype),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.1),
        nn.Sequential(nn.Linear(8, 6, dtype=dtype), nn.Tanh()),
        nn.Linear(6, 3, bias=False, dtype=dtype),
        nn.Softmax(dim=-1),
    )
    for _ in range(3):
        net(torch.randn(16, 5, dtype=dtype))
    return net


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_a_torch_net_comes_back_with_its_state_dict_unchanged(dtype):
    net = hand_written_torch_net(dtype)
    again = to_torch(from_torch(net))
    before, after = net.state_dict(), again.state_dict()
    assert list(before) == list(after)
    for key in before:
        assert before[key].dtype == after[key].dtype and torch.equal(before[key], after[key]), key


def test_a_torch_net_in_eval_mode_computes_what_its_minnet_twin_predicts():
    net = hand_written_torch_net().eval()
    model = from_torch(net)
    x = np.random.default_rng(3).normal(size=(7, 5))
    np.testing.assert_allclose(as_arrays(net(torch.from_numpy(x)))[0], model.predict(x), **TOLERANCE[np.float64])
    assert repr(model).splitlines()[1:3] == ["  Dense(5, 8),", "  BatchNorm(8),"]


def hand_written_torch_cnn(dtype=torch.float64) -> nn.Module:
    """A PyTorch user's CNN for 1x12x12 images, trained a little so that BatchNorm2d's statistics move."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=dtype),
        nn.BatchNorm2d(4, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding="valid", bias=False, dtype=dtype),
        nn.AvgPool2d(2, padding=1),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(24, 3, dtype=dtype),
    )
    for _ in range(3):
        net(torch.randn(8, 1, 12, 12, dtype=dtype))
    return net


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_a_torch_cnn_comes_back_with_its_state_dict_unchanged(dtype):
    net = hand_written_torch_cnn(dtype)
    again = to_torch(from_torch(net))
    before, after = net.state_dict(), again.state_dict()
    assert list(before) == list(after)
    for key in before:
        assert before[key].dtype == after[key].dtype and torch.equal(before[key], after[key]), key


def test_a_torch_cnn_in_eval_mode_computes_what_its_minnet_twin_predicts():
    net = hand_written_torch_cnn().eval()
    model = from_torch(net)
    assert model.output_shape((1, 12, 12)) == (3,)
    x = np.random.default_rng(3).normal(size=(7, 1, 12, 12))
    np.testing.assert_allclose(model.predict(x), as_arrays(net(torch.from_numpy(x)))[0], **TOLERANCE[np.float64])


def test_a_softmax_with_the_implicit_dim_is_taken_as_along_the_features():
    assert isinstance(from_torch(nn.Softmax()), mn.Softmax)  # torch picks dim 1 for a 2-D batch


# -- training on in torch ------------------------------------------------------------------------


# The models trained on in torch: minnet's loss, torch's, and the number of target columns.
TRAINED = {
    "design-graph": (lambda: mn.BCE(from_logits=True), nn.BCEWithLogitsLoss, 1),
    "cnn": (mn.MSE, nn.MSELoss, 3),  # on its softmax's probabilities
    "residual-cnn": (lambda: mn.BCE(from_logits=True), nn.BCEWithLogitsLoss, 1),
}


@pytest.mark.parametrize("name", TRAINED)
def test_torch_training_steps_on_an_exported_model_are_minnets_steps(name):
    """SGD with momentum, 5 full-batch steps (a graph with a shared layer and a skip, two CNNs): the same weights."""
    make_loss, torch_loss, width = TRAINED[name]
    model = without_dropout(MODELS[name](np.float64))
    before = [p.value.copy() for p in model.parameters()]
    net = to_torch(model)
    X = inputs_for(model, n=32, seed=4)
    y = np.random.default_rng(4).integers(0, 2, (32, width)).astype(np.float64)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(5):
        optimizer.zero_grad()
        torch_loss()(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        optimizer.step()
    mn.fit(
        model,
        make_loss(),
        mn.SGD(model.parameters(), lr=0.05, momentum=0.9),
        X,
        y,
        epochs=5,
        shuffle=False,
        progress=False,
    )
    assert all(not np.array_equal(p.value, v) for p, v in zip(model.parameters(), before))  # every weight moved
    for a, b in zip(from_torch(net).parameters(), model.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-10, atol=1e-13)
    for a, b in zip(states(from_torch(net)), states(model)):
        if "running_mean" in a:
            np.testing.assert_allclose(a["running_mean"], b["running_mean"], rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(a["running_var"], b["running_var"], rtol=1e-10)
            assert a["num_batches_tracked"] == b["num_batches_tracked"] == 8


# -- errors ---------------------------------------------------------------------------------------


class WiderDense(mn.Dense):
    """A subclass may compute something else than its base: it is not converted as one."""


def test_a_layer_without_a_torch_twin_is_named_with_its_place():
    with pytest.raises(TypeError, match=r"cannot convert Square\(\) \(layer 1 of layer 2 of the model\).*Dense"):
        to_torch(mn.Sequential(mn.Dense(2, 2), mn.ReLU(), mn.Sequential(mn.Tanh(), Square())))
    x = mn.Input(2)
    with pytest.raises(TypeError, match=r"WiderDense\(2, 2\) \(node wider_dense of the model\)"):
        to_torch(mn.Graph(x, WiderDense(2, 2)(x)))


def test_a_module_minnet_has_no_layer_for_is_named_with_its_place():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.SiLU()))
    with pytest.raises(TypeError, match=r"torch.nn.modules.activation.SiLU \(1 of 1 of the module\).*nn.Linear"):
        from_torch(net)


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.BatchNorm1d(3, affine=False), "affine=False"),
        (nn.BatchNorm1d(3, track_running_stats=False), "track_running_stats=False"),
        (nn.Softmax(dim=0), "along dim=0"),
        (nn.Dropout(1.0), "p = 1 would zero everything"),
        (nn.LeakyReLU(-0.1), "negative_slope must be >= 0.0"),
        (nn.LayerNorm(3, bias=False), "learns a scale and a shift together; this one has bias=False"),
        (nn.Softplus(beta=-1.0), "beta must be > 0.0, got -1.0"),
    ],
)
def test_a_module_in_a_configuration_minnet_lacks_is_a_value_error_naming_it(module, message):
    with pytest.raises(ValueError, match=message) as info:
        from_torch(nn.Sequential(nn.Linear(3, 3), module))
    assert "(1 of the module)" in str(info.value)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_a_torch_net_of_the_small_blocks_comes_back_computing_the_same(dtype):
    net = nn.Sequential(
        nn.Linear(4, 6),
        nn.LayerNorm(6, eps=1e-4),
        nn.GELU(),
        nn.Linear(6, 6),
        nn.ELU(0.7),
        nn.LayerNorm(6, elementwise_affine=False),
        nn.GELU(approximate="tanh"),
        nn.Linear(6, 2),
        nn.Softplus(beta=1.5, threshold=2.0),
    ).to(dtype)
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.normal_()
    model = from_torch(net)
    assert repr(model[5]) == "LayerNorm(6, elementwise_affine=False)"
    assert repr(model[8]) == "Softplus(beta=1.5, threshold=2.0)"
    x = np.random.default_rng(0).normal(0.0, 2.0, (5, 4))
    want = net(torch.from_numpy(x).to(dtype)).detach().numpy()
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x.astype(want.dtype)), want, **tolerance)
    assert {k: v.dtype for k, v in to_torch(model).state_dict().items()} == {
        k: v.dtype for k, v in net.state_dict().items()
    }


def test_half_precision_is_refused_with_the_conversion_to_use():
    with pytest.raises(TypeError, match=r"torch.float16.*module.float\(\) or module.double\(\)"):
        from_torch(nn.Linear(2, 2, dtype=torch.float16))


def test_a_module_used_twice_in_a_torch_sequential_points_to_graph():
    linear = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="mn.Graph"):
        from_torch(nn.Sequential(linear, nn.ReLU(), linear))


def test_a_stateless_module_used_twice_in_a_torch_sequential_converts_to_a_layer_per_use():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), relu, nn.Linear(4, 2, dtype=torch.float64), relu)
    model = from_torch(net)
    assert model[1] is not model[3] and isinstance(model[3], mn.ReLU)
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(model.predict(x), as_arrays(net(torch.from_numpy(x)))[0], **TOLERANCE[np.float64])


def linear_with(register) -> nn.Module:
    """An nn.Linear changed by ``register(linear)`` (a hook, a parametrization), inside a Sequential."""
    linear = nn.Linear(3, 3, dtype=torch.float64)
    register(linear)
    return nn.Sequential(nn.Tanh(), nn.Sequential(nn.ReLU(), linear))


def doubled(module, inputs, output):
    return 2 * output


HOOKS = {
    "forward": (lambda m: m.register_forward_hook(doubled), r"hook, doubled \(register_forward_hook\)"),
    "forward-pre": (lambda m: m.register_forward_pre_hook(lambda m, x: (2 * x[0],)), "register_forward_pre_hook"),
    "forward-observing": (lambda m: m.register_forward_hook(lambda m, x, y: None), "register_forward_hook"),
    "backward": (lambda m: m.register_full_backward_hook(lambda m, gi, go: None), "register_full_backward_hook"),
    "backward-pre": (
        lambda m: m.register_full_backward_pre_hook(lambda m, go: None),
        "register_full_backward_pre_hook",
    ),
    "gradient": (lambda m: m.weight.register_hook(lambda g: 2 * g), r"its weight has a gradient hook"),
    "accumulated-gradient": (
        lambda m: m.weight.register_post_accumulate_grad_hook(lambda p: p.grad.mul_(2)),
        r"its weight has a gradient hook",
    ),
    "forward-replaced": (lambda m: setattr(m, "forward", lambda x: x), "its forward was replaced on the instance"),
}


@pytest.mark.parametrize("kind", list(HOOKS))
def test_a_module_with_a_hook_is_refused_naming_its_place_and_the_hook(kind):
    register, message = HOOKS[kind]
    with pytest.raises(ValueError, match=rf"cannot convert Linear\(.*\) \(1 of 1 of the module\): .*{message}"):
        from_torch(linear_with(register))


def test_a_hook_on_the_top_module_is_refused_too():
    net = nn.Sequential(nn.Linear(3, 3))
    net.register_forward_hook(doubled)
    with pytest.raises(ValueError, match=r"\(the module\): it has a hook, doubled"):
        from_torch(net)


@pytest.mark.parametrize(
    "register",
    [
        torch.nn.modules.module.register_module_forward_hook,
        torch.nn.modules.module.register_module_forward_pre_hook,
        torch.nn.modules.module.register_module_full_backward_hook,
    ],
)
def test_a_global_module_hook_is_refused(register):
    handle = register(lambda *args: None)
    try:
        with pytest.raises(ValueError, match=rf"torch runs a global hook, .*\({register.__name__}\) on every"):
            from_torch(nn.Linear(2, 2))
    finally:
        handle.remove()
    from_torch(nn.Linear(2, 2))  # once removed, it converts


def trained_a_step(net: nn.Module) -> nn.Module:
    """One SGD step: a reparametrized weight then differs from what was computed at the last call."""
    x = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    net(x).square().sum().backward()
    torch.optim.SGD(net.parameters(), lr=0.5).step()
    return net


def test_a_weight_norm_parametrization_is_refused_and_converts_once_removed():
    net = trained_a_step(linear_with(torch.nn.utils.parametrizations.weight_norm))
    with pytest.raises(
        ValueError,
        match=r"\(1 of 1 of the module\): its weight is recomputed at each call by a parametrization "
        r"\(_WeightNorm\).*remove_parametrizations\(module, 'weight'\)",
    ):
        from_torch(net)
    torch.nn.utils.parametrize.remove_parametrizations(net[1][1], "weight")
    x = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(from_torch(net).predict(x), as_arrays(net(torch.from_numpy(x)))[0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["weight_norm", "spectral_norm"])
def test_the_older_weight_norm_and_spectral_norm_are_refused_and_convert_once_removed(kind):
    with pytest.warns(FutureWarning) if kind == "weight_norm" else contextlib.nullcontext():
        net = trained_a_step(linear_with(getattr(torch.nn.utils, kind)))
    with pytest.raises(ValueError, match=rf"torch.nn.utils.{kind} recomputes its weight before each call"):
        from_torch(net)
    getattr(torch.nn.utils, f"remove_{kind}")(net[1][1])
    x = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(from_torch(net).predict(x), as_arrays(net(torch.from_numpy(x)))[0], rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: to_torch(np.zeros(3)), "converts a minnet Layer"),
        (lambda: to_torch(mn.Sequential(), training=1), "training must be True or False"),
        (lambda: from_torch(mn.Sequential()), "converts a torch.nn.Module, got Sequential"),
    ],
)
def test_arguments_of_the_wrong_kind_are_type_errors(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_importing_minnet_and_minnet_interop_imports_no_optional_package():
    code = (
        "import sys, minnet, minnet.interop; "
        "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_missing_package_is_named_with_the_install_command(monkeypatch):
    import minnet.interop

    monkeypatch.delitem(sys.modules, "minnet.interop.pytorch")
    monkeypatch.setitem(sys.modules, "torch", None)  # what an absent package looks like to import
    with pytest.raises(ModuleNotFoundError, match=r"needs the optional package 'torch'.*minnet\[torch\]") as info:
        minnet.interop.to_torch  # noqa: B018 (looking the name up is what raises)
    assert info.value.name == "torch"
    with pytest.raises(AttributeError):
        minnet.interop.to_tensorflow  # noqa: B018


def test_softmax_and_concat_keep_their_axis_through_torch():
    model = mn.Sequential(mn.Dense(4, 3, seed=0), mn.Softmax(axis=-1))
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    net = to_torch(model)
    assert net[1].dim == -1
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), model.predict(x), rtol=1e-12)
    assert from_torch(net)[1].axis == -1
    a, b = mn.Input(3), mn.Input(2)
    graph = mn.Graph(inputs=[a, b], outputs=mn.Concat(axis=-1)([a, b]))
    assert from_torch(to_torch(graph)).get_config() == graph.get_config()
