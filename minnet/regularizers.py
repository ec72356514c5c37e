"""Weight regularizers: a penalty on a layer's weights, added to the loss that training minimises.

As in Keras, a layer takes them as ``Dense(..., kernel_regularizer=L2(0.01))``;
the layer's own forward and backward ignore them (so :func:`~minnet.gradcheck`
checks the layer's function), and the training step adds each penalty to
the loss and its gradient to the parameter's ``grad`` after the backward.
The ``loss`` that :func:`~minnet.fit` and :func:`~minnet.evaluate` report
includes the penalties, as Keras' does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_real

if TYPE_CHECKING:
    from .layers.base import Layer, Parameter

__all__ = ["L1", "L1L2", "L2", "Regularizer", "add_gradients", "collect", "get", "layer_regularizers", "total"]


class Regularizer:
    """Base class: a penalty :math:`R(w)` of a weight array and its gradient.

    A subclass writes :meth:`__call__`, :meth:`gradient` and
    :meth:`get_config`; only the built-in ones can be saved with a model.
    """

    def __call__(self, w: np.ndarray) -> float:
        """The penalty :math:`R(w)` of ``w`` (any shape), a float."""
        raise NotImplementedError

    def gradient(self, w: np.ndarray) -> np.ndarray:
        """:math:`\\partial R / \\partial w`, of ``w``'s shape and dtype."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """``{"class": name, **arguments}``: what :func:`get` rebuilds it from."""
        raise NotImplementedError


class L1L2(Regularizer):
    r"""The L1 and L2 penalties together, as ``keras.regularizers.L1L2``.

    .. math:: R(w) = \ell_1 \sum_i |w_i| + \ell_2 \sum_i w_i^2, \qquad
              \frac{\partial R}{\partial w} = \ell_1 \operatorname{sign}(w) + 2 \ell_2\, w

    Keras' L2 has no factor 1/2: ``L2(l2)`` adds :math:`2 \ell_2 w` to the
    gradient, as an optimizer's ``weight_decay`` of :math:`2 \ell_2` would
    (SGD's; Adam's decay passes through its moments the same way). The
    subgradient of :math:`|w|` at 0 is taken as 0, as PyTorch's.

    Parameters
    ----------
    l1, l2 : float, default 0.0
        :math:`\ell_1, \ell_2` >= 0.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = check_real("l1", l1, low=0.0)
        self.l2 = check_real("l2", l2, low=0.0)

    def __call__(self, w: np.ndarray) -> float:
        value = 0.0
        if self.l1:
            value += self.l1 * float(np.abs(w).sum())
        if self.l2:
            value += self.l2 * float(np.vdot(w, w))
        return value

    def gradient(self, w: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(w)
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += (2.0 * self.l2) * w
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"class": "L1L2", "l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1!r}, l2={self.l2!r})"


class L1(L1L2):
    r"""The L1 penalty :math:`\ell_1 \sum_i |w_i|`, as ``keras.regularizers.L1``; it drives weights to exactly 0.

    Parameters
    ----------
    l1 : float, default 0.01
        :math:`\ell_1` >= 0.
    """

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"class": "L1", "l1": self.l1}

    def __repr__(self) -> str:
        return f"L1({self.l1!r})"


class L2(L1L2):
    r"""The L2 penalty :math:`\ell_2 \sum_i w_i^2` (no 1/2), as ``keras.regularizers.L2``.

    Parameters
    ----------
    l2 : float, default 0.01
        :math:`\ell_2` >= 0.
    """

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"class": "L2", "l2": self.l2}

    def __repr__(self) -> str:
        return f"L2({self.l2!r})"


_BUILT_IN: dict[str, type[L1L2]] = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(name: str, value: Any) -> Regularizer | None:
    """The argument ``name`` of a layer as a Regularizer: one, its :meth:`~Regularizer.get_config` dict, or None.

    A dict is what a model file holds: its ``"class"`` must be a built-in
    regularizer and its other keys that class's arguments.

    Raises
    ------
    TypeError, ValueError
        Saying what was expected, then what was received.
    """
    if value is None or isinstance(value, Regularizer):
        return value
    if not isinstance(value, dict):
        raise TypeError(
            f"{name} must be a Regularizer (e.g. mn.regularizers.L2(0.01)), its config dict or None, got {value!r:.80}"
        )
    config = dict(value)
    kind = config.pop("class", None)
    cls = _BUILT_IN.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"{name} must name one of {sorted(_BUILT_IN)} in its 'class', got {value!r:.80}")
    try:
        return cls(**config)
    except TypeError:
        raise ValueError(f"{name} holds arguments that {cls.__name__} does not take: {value!r:.80}") from None


def layer_regularizers(
    kernel: Parameter,
    kernel_regularizer: Regularizer | None,
    bias: Parameter | None,
    bias_regularizer: Regularizer | None,
) -> dict[str, tuple[Parameter, Regularizer]]:
    """The ``kernel_regularizer`` and ``bias_regularizer`` a layer was given, by argument name, with their parameter."""
    pairs = {"kernel_regularizer": (kernel, kernel_regularizer), "bias_regularizer": (bias, bias_regularizer)}
    return {name: (p, r) for name, (p, r) in pairs.items() if p is not None and r is not None}


def collect(layers: Iterable[Layer]) -> list[tuple[Parameter, Regularizer]]:
    """Every (parameter, regularizer) pair of ``layers`` that trains.

    A frozen layer (``trainable`` False) contributes nothing: its weights do
    not move, so its penalty would only shift the loss.
    """
    return [pair for layer in layers if getattr(layer, "trainable", True) for pair in layer.penalties()]


def total(pairs: Iterable[tuple[Parameter, Regularizer]]) -> float:
    """The sum of the penalties, at the parameters' current values."""
    return sum((reg(p.value) for p, reg in pairs), 0.0)


def add_gradients(pairs: Iterable[tuple[Parameter, Regularizer]]) -> None:
    """Add each penalty's gradient to its parameter's ``grad``, in place (after the backward wrote it)."""
    for p, reg in pairs:
        p.grad += reg.gradient(p.value)
