"""The models every exporter must carry over, shared by tests/test_interop_torch.py and tests/test_interop_onnx.py.

Each builder takes the dtype (``np.float64`` or ``np.float32``) and gives
the same weights every call. Between them they hold every exportable layer
(Dense with and without bias, each activation, Softmax, BatchNorm with moved
running statistics, Dropout, a nested Sequential, and the image layers:
Conv2D with each kind of padding, strides and without bias, BatchNorm2D,
MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten, Reshape; LayerNorm, GELU, ELU, Softplus) and the graph
features (a skip, a layer shared by two nodes, a Sequential used at two
nodes, a concat, several inputs and outputs, an output that feeds another
node, a graph inside a graph, a residual block of images). Both test files run :data:`MODELS` through their
exporter, so the two exporters are checked on the same networks.
:class:`Square` is the opposite: a layer of one's own that neither knows.
"""

from __future__ import annotations

import numpy as np

import minnet as mn


def warmed_batch_norm(n: int, dtype) -> mn.BatchNorm:
    """A BatchNorm with moved running statistics and eps 1e-3, one feature of which has a variance of 0."""
    norm = mn.BatchNorm(n, momentum=0.3, eps=1e-3, dtype=dtype)
    rng = np.random.default_rng(n)
    for _ in range(3):
        norm.forward(rng.normal(1.0, 2.0, (10, n)).astype(dtype))
    norm.running_var[0] = 0.0  # then eps alone is the variance: an eps rounded to float32 would show
    norm.gamma.value[...] = rng.uniform(0.5, 1.5, n)
    norm.beta.value[...] = rng.normal(size=n)
    return norm


def warmed_batch_norm_2d(channels: int, dtype) -> mn.BatchNorm2D:
    """A BatchNorm2D with moved running statistics and eps 1e-3, one channel of which has a variance of 0."""
    norm = mn.BatchNorm2D(channels, momentum=0.3, eps=1e-3, dtype=dtype)
    rng = np.random.default_rng(channels)
    for _ in range(3):
        norm.forward(rng.normal(1.0, 2.0, (4, channels, 3, 3)).astype(dtype))
    norm.running_var[0] = 0.0
    norm.gamma.value[...] = rng.uniform(0.5, 1.5, channels)
    norm.beta.value[...] = rng.normal(size=channels)
    return norm


def article(dtype) -> mn.Sequential:
    """The article's network: sigmoid hidden layer, one sigmoid output."""
    return mn.Sequential(
        mn.Dense(5, 7, rng=0, dtype=dtype), mn.Sigmoid(), mn.Dense(7, 1, rng=1, dtype=dtype), mn.Sigmoid()
    )


def multiclass(dtype) -> mn.Sequential:
    """Tanh, a LeakyReLU of slope 0.25, ReLU, a Dense without bias, a nested Sequential, a softmax over 4 classes."""
    return mn.Sequential(
        mn.Dense(5, 8, bias=False, seed=2, dtype=dtype),
        mn.Tanh(),
        mn.Sequential(mn.Dense(8, 6, init="he", seed=3, dtype=dtype), mn.LeakyReLU(0.25)),
        mn.Dense(6, 6, seed=4, dtype=dtype),
        mn.ReLU(),
        mn.Dense(6, 4, seed=5, dtype=dtype),
        mn.Softmax(),
    )


def regularised(dtype) -> mn.Sequential:
    """BatchNorm on its running statistics, Dropout, a LeakyReLU of slope 0.1 (not exact in float32), three logits."""
    return mn.Sequential(
        mn.Dense(5, 8, init="he", seed=6, dtype=dtype),
        warmed_batch_norm(8, dtype),
        mn.LeakyReLU(0.1),
        mn.Dropout(0.3, seed=0),
        mn.Dense(8, 3, seed=7, dtype=dtype),
    )


def design_graph(dtype) -> mn.Graph:
    """DESIGN.md's graph: a skip, one Dense shared by two branches, a concat, one logit; plus BatchNorm and Dropout."""
    x = mn.Input(5)
    h = mn.ReLU()(mn.Dense(5, 8, init="he", seed=8, dtype=dtype)(x))
    h = mn.Add()([h, mn.ReLU()(mn.Dense(8, 8, init="he", seed=9, dtype=dtype)(h))])
    shared = mn.Dense(8, 4, seed=10, dtype=dtype)
    z = mn.Concat()([shared(h), shared(mn.Tanh()(h))])
    z = mn.Dropout(0.2, seed=1)(warmed_batch_norm(8, dtype)(z))
    return mn.Graph(inputs=x, outputs=mn.Dense(8, 1, seed=11, dtype=dtype)(z))


def two_in_two_out(dtype) -> mn.Graph:
    """Two inputs, two outputs (class probabilities and a sigmoid), an input fed straight into a Concat,
    a Sequential used at two nodes, a 3-way Add."""
    a, b = mn.Input(5, name="a"), mn.Input(3, name="b")
    block = mn.Sequential(mn.Dense(6, 6, seed=12, dtype=dtype), mn.Tanh())
    h = mn.Concat()([mn.Dense(5, 3, seed=13, dtype=dtype)(a), b])
    h1 = block(h)
    h2 = block(mn.Sigmoid()(h1))
    s = mn.Add()([h, h1, h2])
    return mn.Graph(
        inputs=[a, b],
        outputs=[
            mn.Softmax()(mn.Dense(6, 3, seed=14, dtype=dtype)(s)),
            mn.Sigmoid()(mn.Dense(6, 1, seed=15, dtype=dtype)(h2)),
        ],
    )


def output_is_an_inner_node(dtype) -> mn.Graph:
    """An output that also feeds another node, and a graph inside the graph."""
    inner_x = mn.Input(4)
    inner = mn.Graph(inner_x, mn.Tanh()(mn.Dense(4, 4, seed=16, dtype=dtype)(inner_x)))
    x = mn.Input(4)
    h = inner(x)
    return mn.Graph(x, [h, mn.Dense(4, 2, seed=17, dtype=dtype)(h)])


def cnn(dtype) -> mn.Sequential:
    """Every image layer in a chain: rows of 12 features made 3x6x6 images, two conv blocks, back to rows and
    to images again, a strided conv without bias, global pooling, a softmax over 3 classes."""
    return mn.Sequential(
        mn.Dense(12, 108, seed=20, dtype=dtype),
        mn.Reshape((3, 6, 6)),
        mn.Conv2D(3, 4, 3, padding=1, seed=21, dtype=dtype),
        warmed_batch_norm_2d(4, dtype),
        mn.ReLU(),
        mn.MaxPool2D(3, stride=2, padding=1),  # overlapping windows: (4, 3, 3)
        mn.Conv2D(4, 4, 2, padding="same", seed=22, dtype=dtype),  # an even kernel: one more pixel after
        mn.AvgPool2D(2, stride=1, padding=1),  # (4, 4, 4)
        mn.Flatten(),
        mn.Dropout(0.2, seed=2),
        mn.Dense(64, 32, seed=23, dtype=dtype),
        mn.Reshape((2, 4, -1)),
        mn.Conv2D(2, 3, (3, 2), stride=2, padding=(1, 0), bias=False, seed=24, dtype=dtype),  # (3, 2, 2)
        mn.GlobalAvgPool2D(),
        mn.Softmax(),
    )


def residual_cnn(dtype) -> mn.Graph:
    """A residual block of images: conv, BatchNorm2D, ReLU, twice, an Add skip, global pooling, one logit."""
    x = mn.Input((3, 8, 8))
    h = mn.ReLU()(warmed_batch_norm_2d(4, dtype)(mn.Conv2D(3, 4, 3, padding=1, seed=25, dtype=dtype)(x)))
    r = mn.Conv2D(4, 4, 3, padding="same", seed=26, dtype=dtype)(h)
    r = mn.ReLU()(warmed_batch_norm_2d(4, dtype)(r))
    pooled = mn.GlobalAvgPool2D()(mn.Add()([h, r]))
    return mn.Graph(inputs=x, outputs=mn.Dense(4, 1, seed=27, dtype=dtype)(pooled))


def blocks(dtype) -> mn.Sequential:
    """LayerNorm over features and over whole images (with random weights, and without), the tanh GELU (the
    exact one's float64 ONNX export is float32-accurate: tested on its own), ELU with alpha 0.5, a Softplus
    of beta 2 whose threshold 3 the outputs cross."""
    rng = np.random.default_rng(30)
    norm, image_norm = mn.LayerNorm(8, eps=1e-3, dtype=dtype), mn.LayerNorm((2, 2, 3), dtype=dtype)
    for layer in (norm, image_norm):
        layer.weight.value[...] = rng.uniform(0.5, 1.5, layer.normalized_shape)
        layer.bias.value[...] = rng.normal(size=layer.normalized_shape)
    return mn.Sequential(
        mn.Dense(5, 8, seed=31, dtype=dtype),
        norm,
        mn.GELU(approximate="tanh"),
        mn.Dense(8, 12, seed=32, dtype=dtype),
        mn.Reshape((2, 2, 3)),
        image_norm,
        mn.ELU(0.5),
        mn.Flatten(),
        mn.Dense(12, 6, seed=33, dtype=dtype),
        mn.Tanh(),
        mn.LayerNorm(6, elementwise_affine=False),
        mn.Dense(6, 3, seed=34, dtype=dtype),
        mn.Softplus(beta=2.0, threshold=3.0),
    )


class Square(mn.Layer):
    """A layer of the user's own, ``x * x``, as README's: no exporter knows it (exporting it must fail naming
    its place), and it stores its cache in every forward, inference too (which must not disturb training)."""

    def forward(self, x, training=True):
        self._cache = x
        return x * x

    def backward(self, grad):
        return 2 * self._require_cache() * grad


#: Every builder by the name the tests' ids show.
MODELS = {
    "article": article,
    "multiclass": multiclass,
    "regularised": regularised,
    "design-graph": design_graph,
    "two-in-two-out": two_in_two_out,
    "output-inner-node": output_is_an_inner_node,
    "cnn": cnn,
    "residual-cnn": residual_cnn,
    "blocks": blocks,
}
