"""Check any Layer's or Loss's analytic gradients against central differences."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._validation import as_batch, check_real, check_seed
from .containers import restore_states, snapshot_states
from .layers import Layer, Parameter
from .losses import Loss

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its numerical estimate."""


def gradcheck(
    layer: Layer | Loss,
    x: Any,
    *,
    target: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> bool:
    r"""Compare analytic gradients with central differences, in float64.

    For a Layer the checked scalar is :math:`L = \sum_{ij} f(x)_{ij}\, G_{ij}`
    with a fixed random :math:`G`, so ``backward(G)`` must return
    :math:`\partial L/\partial x` and write :math:`\partial L/\partial \theta`
    into every parameter's ``grad``. For a Loss the scalar is
    ``loss.forward(x, target)`` and ``backward()`` must return its gradient.
    Each numerical derivative is

    .. math:: \frac{L(\theta + \epsilon) - L(\theta - \epsilon)}{2\epsilon}

    and must satisfy ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Parameters
    ----------
    layer : Layer or Loss
        The object under test. A float32 layer is checked in float64 and
        restored to float32 afterwards.
    x : array-like of shape (n_samples, *shape), or a list of them
        ``(n_samples, n_features)`` for a table, ``(n_samples, C, H, W)`` for images.
        The input (for a Loss: the prediction). A layer of several inputs
        (a :class:`~minnet.Graph` with several, ``Add``, ``Concat``) takes a
        list, and each input's gradient is checked.
    target : array-like, optional
        Required for a Loss, ignored for a Layer.
    eps, atol, rtol : float
        Step and tolerances.
    seed : int
        Seed of the upstream gradient :math:`G`.

    Returns
    -------
    True
        When every gradient matches.

    Raises
    ------
    GradcheckError
        Naming the input or parameter, the worst element and both values.

    Notes
    -----
    The forward passes are training passes (``training=True``): inference
    keeps no cache, so there is no backward through it. Every forward
    starts from the layers' non-trained state as it was at the call
    (:meth:`~minnet.Layer.get_state`), so a :class:`~minnet.Dropout` layer
    draws the same mask each time, and running statistics
    (:class:`~minnet.BatchNorm`) are as they were when gradcheck returns.
    """
    eps = check_real("eps", eps, low=0.0, low_inclusive=False)
    atol = check_real("atol", atol, low=0.0)
    rtol = check_real("rtol", rtol, low=0.0)
    seed = check_seed("seed", seed)
    if not isinstance(layer, (Layer, Loss)):
        raise TypeError(f"gradcheck takes a Layer or a Loss, got {type(layer).__name__}")
    several = isinstance(layer, Layer) and layer.n_inputs != 1
    if several and not isinstance(x, (list, tuple)):
        raise TypeError(f"{layer!r} takes several inputs: pass x as a list of arrays")
    # Copies: the probes perturb them in place.
    xs = [as_batch(f"x[{k}]" if several else "x", xk, np.float64).copy() for k, xk in enumerate(x if several else [x])]
    if isinstance(layer, Loss):
        x = xs[0]
        if target is None:
            raise TypeError("gradcheck of a Loss needs target=")
        target = layer.prepare_target("target", target, x.shape, np.float64)  # the loss decides its targets

        def objective() -> float:
            return layer.forward(x, target)

        objective()
        _compare("pred", layer.backward(), _numeric(objective, x, eps), atol, rtol)
        return True

    arg: Any = xs if several else xs[0]
    states = snapshot_states(layer)
    with _in_float64(layer.parameters()), _states_restored_on_exit(states):
        out = layer.forward(arg, training=True)
        outs = list(out) if layer.n_outputs > 1 else [out]
        gen = np.random.default_rng(seed)
        upstream = [gen.standard_normal(np.shape(o)) for o in outs]

        def objective() -> float:
            restore_states(states)  # the same random mask, the same running statistics, for every probe
            out = layer.forward(arg, training=True)
            return float(sum(np.sum(o * g) for o, g in zip(list(out) if layer.n_outputs > 1 else [out], upstream)))

        named = layer.named_parameters()
        # NaN in every grad before backward: a backward that adds to p.grad (or
        # forgets it) instead of writing it would pass with zeros, and then
        # accumulate across batches in training.
        for _, p in named:
            p.grad[...] = np.nan
        analytic_input = layer.backward(upstream if layer.n_outputs > 1 else upstream[0])
        analytic = [p.grad.copy() for _, p in named]  # a list: two parameters may share a name
        for (name, _), grad in zip(named, analytic):
            if np.isnan(grad).any():
                raise GradcheckError(
                    f"backward did not write the gradient of parameter {name}: it must "
                    f"assign p.grad (p.grad[...] = ...), not add to it or skip it"
                )
        analytic_inputs = list(analytic_input) if several else [analytic_input]
        if len(analytic_inputs) != len(xs):
            raise GradcheckError(f"backward returned {len(analytic_inputs)} input gradients for {len(xs)} inputs")
        for k, (xk, gk) in enumerate(zip(xs, analytic_inputs)):
            _compare(f"input {k}" if several else "input", gk, _numeric(objective, xk, eps), atol, rtol)
        for (name, p), grad in zip(named, analytic):
            _compare(f"parameter {name}", grad, _numeric(objective, p.value, eps), atol, rtol)
    return True


def _numeric(objective: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of ``objective`` w.r.t. each element of ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)  # views: perturbing flat perturbs array
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective()
        flat[i] = original - eps
        minus = objective()
        flat[i] = original  # restored exactly, not by subtracting eps again
        out[i] = (plus - minus) / (2 * eps)
    return grad


def _compare(what: str, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> None:
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise GradcheckError(f"gradient w.r.t. {what} has shape {analytic.shape}, expected {numeric.shape}")
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if not np.isfinite(analytic).all() or (excess > 0).any():
        worst = np.unravel_index(np.argmax(np.where(np.isfinite(excess), excess, np.inf)), excess.shape)
        raise GradcheckError(
            f"gradient w.r.t. {what} is wrong at index {tuple(int(i) for i in worst)}: "
            f"analytic {float(analytic[worst])!r}, numerical {float(numeric[worst])!r} (atol={atol}, rtol={rtol})"
        )


@contextlib.contextmanager
def _states_restored_on_exit(states: list[tuple[Layer, dict[str, Any]]]) -> Iterator[None]:
    try:
        yield
    finally:
        restore_states(states)


class _in_float64:
    """Temporarily hold parameters (and their grads) in float64."""

    def __init__(self, params: list[Parameter]) -> None:
        self.params = params
        self.saved = [(p.value, p.grad) for p in params]

    def __enter__(self) -> None:
        for p in self.params:
            p.value = p.value.astype(np.float64)  # always a copy: the check never edits the originals
            p.grad = np.full_like(p.value, np.nan)  # as a new Parameter's: no backward has written it

    def __exit__(self, *exc: Any) -> None:
        for p, (value, grad) in zip(self.params, self.saved):
            p.value, p.grad = value, grad
