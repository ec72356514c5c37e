"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.

Both rewrite each parameter's ``grad`` in place, between the backward and the
optimizer's step; an optimizer built with ``clip_norm=`` or ``clip_value=``
calls them at the start of every ``step()``, before it checks that the
update is finite.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._validation import check_real
from .layers import Parameter
from .layers.base import parameter_list

__all__ = ["check_clipping", "clip_grad_norm", "clip_grad_value", "clip_gradients"]

#: Added to the total norm before dividing by it, as torch does.
NORM_EPS = 1e-6


def _trainable_parameters(params: Iterable[Parameter] | Parameter) -> list[Parameter]:
    """The trainable Parameters of ``params`` (one alone, or an iterable of them), checked.

    A frozen parameter (``p.trainable`` False) is left out, as torch leaves
    out one whose ``grad`` is None: its gradient may be stale, and no step
    uses it.
    """
    return [p for p in parameter_list(params) if p.trainable]


def _check_norm_type(norm_type: Any) -> float:
    """The order of the norm: a real number > 0, or ``math.inf`` for the largest magnitude."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type must be a real number > 0 or math.inf, got {norm_type!r}")
    if not (float(norm_type) > 0):
        raise ValueError(f"norm_type must be > 0 (or math.inf), got {norm_type!r}")
    return float(norm_type)


def clip_grad_norm(params: Iterable[Parameter] | Parameter, max_norm: float, norm_type: float = 2.0) -> float:
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``; return that norm before.

    The norm is taken over every gradient as if they were one vector,

    .. math:: N = \Big(\sum_i \lVert g_i \rVert_p^p\Big)^{1/p}, \qquad
              g_i \leftarrow g_i \cdot \min\Big(1, \frac{\mathrm{max\_norm}}{N + 10^{-6}}\Big)

    (:math:`N = \max_i \lVert g_i \rVert_\infty` for ``norm_type=math.inf``),
    so the direction of the step is kept. Equal to
    ``torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)``,
    including what it does to a gradient that is not finite: an infinite
    norm scales every gradient by 0 (an infinite element becomes NaN), a
    NaN norm makes every gradient NaN. An optimizer then refuses the step.

    Parameters
    ----------
    params : Parameter or iterable of Parameter
        Their ``grad`` arrays are scaled in place, in their own dtype. A
        frozen parameter (``p.trainable`` False) is neither counted nor
        scaled, as torch skips one whose ``grad`` is None.
    max_norm : float
        The largest norm allowed, >= 0.
    norm_type : float, default 2.0
        :math:`p` > 0, or ``math.inf``.

    Returns
    -------
    float
        :math:`N`, the total norm before clipping (0.0 for no trainable
        parameters).
    """
    params = _trainable_parameters(params)
    max_norm = check_real("max_norm", max_norm, low=0.0)
    norm_type = _check_norm_type(norm_type)
    if not params:
        return 0.0
    # An inf or NaN gradient gives an inf or NaN norm, which is the answer, not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.array([np.linalg.norm(p.grad.ravel(), ord=norm_type) for p in params])
        total = np.linalg.norm(norms, ord=norm_type)
        scale = max_norm / (total + NORM_EPS)
        if not scale >= 1.0:  # NaN included: torch scales by it too
            for p in params:
                p.grad *= scale
    return float(total)


def clip_grad_value(params: Iterable[Parameter] | Parameter, clip_value: float) -> None:
    r"""Clip every gradient element into :math:`[-c, c]`, in place.

    .. math:: g \leftarrow \min(\max(g, -c), c)

    Equal to ``torch.nn.utils.clip_grad_value_(params, clip_value)``: an
    infinite element becomes :math:`\pm c`, a NaN stays NaN. The direction
    of the step may change; :func:`clip_grad_norm` keeps it.

    Parameters
    ----------
    params : Parameter or iterable of Parameter
        Their ``grad`` arrays are clipped in place; a frozen parameter's is
        left as it is.
    clip_value : float
        :math:`c` >= 0.
    """
    params = _trainable_parameters(params)
    clip_value = check_real("clip_value", clip_value, low=0.0)
    for p in params:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)


def check_clipping(clip_norm: Any, clip_value: Any) -> tuple[float | None, float | None]:
    """An optimizer's ``clip_norm`` and ``clip_value``, checked: each None or a float >= 0, not both."""
    if clip_norm is not None and clip_value is not None:
        raise ValueError(
            f"give clip_norm or clip_value, not both (got clip_norm={clip_norm!r}, clip_value={clip_value!r})"
        )
    return (
        None if clip_norm is None else check_real("clip_norm", clip_norm, low=0.0),
        None if clip_value is None else check_real("clip_value", clip_value, low=0.0),
    )


def clip_gradients(params: list[Parameter], clip_norm: float | None, clip_value: float | None) -> None:
    """What an optimizer does before its step: clip by global norm, by value, or not at all."""
    if clip_norm is not None:
        clip_grad_norm(params, clip_norm)
    elif clip_value is not None:
        clip_grad_value(params, clip_value)
