"""minnet: a small, readable neural-network framework on numpy.

>>> import minnet as mn
>>> model = mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid())

Importing minnet needs numpy only; ``minnet.plot`` (matplotlib) is loaded on
first use, tqdm when ``fit`` runs, and threadpoolctl when the BLAS threads
are read or set (``get_num_threads``, ``set_num_threads``, ``threads``).
"""

# Private aliases: nothing but the public API should be a name of the package.
import importlib as _importlib
from typing import Any as _Any

from . import data, datasets, init, metrics, regularizers
from ._version import __version__ as __version__  # the package attribute users read
from .blas import get_num_threads, set_num_threads, threads
from .callbacks import Callback, Checkpoint, CSVLogger, EarlyStopping, LambdaCallback, LayerStats, ReduceLROnPlateau
from .clipping import clip_grad_norm, clip_grad_value
from .containers import Model, Sequential
from .gradcheck import GradcheckError, gradcheck
from .graph import Add, Concat, Graph, Input, Node
from .io.serialize import load, register_layer, save
from .layers import (
    ELU,
    GELU,
    AvgPool2D,
    BatchNorm,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    Parameter,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import BCE, MSE, CrossEntropy, Loss
from .lr_finder import lr_find
from .optim import SGD, Adam, AdamW, Optimizer, RMSprop
from .probabilities import predict_proba
from .run import History, TrainingDiverged, TrainingError
from .schedules import (
    Constant,
    CosineDecay,
    CyclicLR,
    ExponentialDecay,
    OneCycle,
    OneCycleMomentum,
    Schedule,
    StepDecay,
)
from .training import evaluate, fit

__all__ = [
    "BCE",
    "ELU",
    "GELU",
    "MSE",
    "SGD",
    "Adam",
    "AdamW",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "BatchNorm2D",
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "Concat",
    "Constant",
    "Conv2D",
    "CosineDecay",
    "CrossEntropy",
    "CyclicLR",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "Flatten",
    "GlobalAvgPool2D",
    "GradcheckError",
    "Graph",
    "History",
    "Input",
    "LambdaCallback",
    "Layer",
    "LayerNorm",
    "LayerStats",
    "LeakyReLU",
    "Loss",
    "MaxPool2D",
    "Model",
    "Node",
    "OneCycle",
    "OneCycleMomentum",
    "Optimizer",
    "Parameter",
    "RMSprop",
    "ReLU",
    "ReduceLROnPlateau",
    "Reshape",
    "Schedule",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StepDecay",
    "Tanh",
    "TrainingDiverged",
    "TrainingError",
    "clip_grad_norm",
    "clip_grad_value",
    "data",
    "datasets",
    "evaluate",
    "fit",
    "get_num_threads",
    "gradcheck",
    "init",
    "load",
    "lr_find",
    "metrics",
    "plot",
    "predict_proba",
    "register_layer",
    "regularizers",
    "save",
    "set_num_threads",
    "threads",
]


def __getattr__(name: str) -> _Any:
    # matplotlib is heavy: load minnet.plot only when someone asks for it.
    if name == "plot":
        return _importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'minnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public API and the module's own dunders, not the submodules and helpers imported to build it.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__") and name.endswith("__"))})
