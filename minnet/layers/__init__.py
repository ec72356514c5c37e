"""The layers, one module per family; import them from here or from ``minnet`` (``mn.Dense``).

* :mod:`~minnet.layers.base`: :class:`Parameter` and :class:`Layer`, the contract every layer keeps;
* :mod:`~minnet.layers.dense`: :class:`Dense`, the article's ``x @ W + b``;
* :mod:`~minnet.layers.activations`: :class:`Sigmoid`, :class:`Tanh`, :class:`ReLU`,
  :class:`LeakyReLU`, :class:`ELU`, :class:`GELU`, :class:`Softplus`, :class:`Softmax`;
* :mod:`~minnet.layers.dropout`: :class:`Dropout`;
* :mod:`~minnet.layers.normalization`: :class:`BatchNorm`, :class:`BatchNorm2D` and :class:`LayerNorm`;
* :mod:`~minnet.layers.convolution`: :class:`Conv2D`;
* :mod:`~minnet.layers.pooling`: :class:`MaxPool2D`, :class:`AvgPool2D`, :class:`GlobalAvgPool2D`;
* :mod:`~minnet.layers.reshaping`: :class:`Flatten` and :class:`Reshape`.
"""

from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .base import (
    Layer,
    Parameter,
    backward_through,
    check_dtype,
    dtype_repr,
    has_trainable_parameters,
    restore_parameters,
    snapshot_parameters,
)
from .convolution import Conv2D
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNorm, BatchNorm2D, LayerNorm
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .reshaping import Flatten, Reshape

__all__ = [
    "ELU",
    "GELU",
    "AvgPool2D",
    "BatchNorm",
    "BatchNorm2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool2D",
    "Parameter",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "backward_through",
    "check_dtype",
    "dtype_repr",
    "has_trainable_parameters",
    "restore_parameters",
    "snapshot_parameters",
]
