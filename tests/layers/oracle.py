"""Helpers shared by the layer tests: PyTorch as the oracle of a layer's values and gradients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import minnet as mn

FORWARD = dict(rtol=1e-12, atol=1e-13)
GRAD = dict(rtol=1e-10, atol=1e-12)


def assert_matches_torch(
    layer: mn.Layer, module: Any, x: np.ndarray, pairs: Sequence[tuple[mn.Parameter, Any]] = (), training: bool = True
) -> None:
    """``layer`` and the torch ``module`` agree in float64 on the output, dL/dx and each (parameter, torch parameter).

    The upstream gradient is a fixed random array; ``pairs`` name the torch
    parameter each minnet parameter must equal in gradient.
    """
    import torch

    module.train(training)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = module(xt)
    y = layer.forward(x, training=training)
    np.testing.assert_allclose(y, yt.detach().numpy(), **FORWARD)
    if not training:
        return
    grad = np.random.default_rng(99).standard_normal(y.shape)
    yt.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(layer.backward(grad), xt.grad.numpy(), **GRAD)
    for p, tp in pairs:
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), **GRAD, err_msg=f"gradient of {p.name}")


def assert_inference_writes_no_state(layer: mn.Layer, x: np.ndarray) -> None:
    """``forward(x, training=False)`` leaves the cache and every non-trained state as they were."""
    layer.forward(x, training=True)
    cache, state = layer._cache, layer.get_state()
    layer.forward(x, training=False)
    assert layer._cache is cache
    after = layer.get_state()
    assert after.keys() == state.keys()
    for key in state:
        assert np.array_equal(after[key], state[key]), key
