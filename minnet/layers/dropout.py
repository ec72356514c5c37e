"""Dropout: inverted dropout, a random mask in training and the identity in inference."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    as_generator,
    check_seed,
)
from ..io.fields import generator_from_state, generator_state
from .base import (
    Layer,
)

__all__ = ["Dropout"]


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each element with probability ``p`` and scale the rest.

    .. math:: y = x \odot \frac{M}{1 - p}, \quad M_{ij} \sim \mathrm{Bernoulli}(1 - p), \qquad
              \frac{\partial L}{\partial x} = G \odot \frac{M}{1 - p}

    With ``training=False`` (``predict``, ``evaluate``) it is the identity,
    as is ``p = 0``; the scaling keeps the expected output the same in both
    modes, as ``torch.nn.Dropout``.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of zeroing an element.
    seed : int, np.random.Generator or None
        Seed or generator of the masks. The generator's state is the
        layer's non-trained state (:meth:`get_state`), so a saved or
        checkpointed model goes on drawing the same masks.

    Notes
    -----
    The masks are drawn in float64 whatever the input's dtype, so a seed
    gives the same masks for float32 and float64 models.
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout p must be a probability in [0, 1), got {p!r} ({type(p).__name__})")
        if not 0.0 <= float(p) < 1.0:  # NaN fails this too
            raise ValueError(
                f"Dropout p is the probability of zeroing an element and must lie in [0, 1), "
                f"got {float(p)!r}" + (" (p = 1 would zero everything)" if p == 1 else "")
            )
        self.p = float(p)
        self.seed = check_seed("seed", seed)
        self._rng = as_generator("seed", self.seed)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` itself: any shape."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if not training:
            return x
        if self.p == 0.0:
            self._cache = (None, x.shape)  # the identity: backward passes the gradient through
            return x
        mask = (self._rng.random(x.shape) >= self.p).astype(x.dtype if x.dtype.kind == "f" else np.float64)
        mask *= 1.0 / (1.0 - self.p)  # torch's scale, the same float: 1 / (1 - p)
        self._cache = (mask, x.shape)
        with np.errstate(over="ignore"):  # x / (1 - p) beyond the largest float is inf, as in torch
            return x * mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask, shape = self._require_cache()
        grad = self._check_grad(grad, shape)
        return grad if mask is None else grad * mask

    def get_state(self) -> dict[str, Any]:
        """``{"rng": state}``: the mask generator's bit-generator state, as JSON values."""
        return {"rng": generator_state(self._rng)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue drawing masks exactly where the generator of ``state`` stood."""
        if not isinstance(state, dict) or set(state) != {"rng"}:
            got = f"the keys {sorted(state)!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
            raise ValueError(f"{self!r}: state must be a dict with the key 'rng', got {got}")
        self._rng = generator_from_state(f"{self!r} state 'rng'", state["rng"])

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"p": self.p}
        if isinstance(self.seed, int):  # a Generator is not a constructor argument a file can hold
            config["seed"] = self.seed
        return config

    def extra_repr(self) -> str:
        return f"p={self.p!r}" + (f", seed={self.seed}" if isinstance(self.seed, int) else "")
