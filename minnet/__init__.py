"""minnet: a small, readable neural-network framework on numpy.

>>> import minnet as mn
>>> model = mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid())

Importing minnet needs numpy only; ``minnet.plot`` (matplotlib) is loaded on
first use, and tqdm when ``fit`` runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import data, datasets, metrics
from .callbacks import Callback, Checkpoint, EarlyStopping
from .containers import Model, Sequential
from .gradcheck import GradcheckError, gradcheck
from .graph import Add, Concat, Graph, Input, Node
from .serialize import load, register_layer, save
from .layers import BatchNorm, Dense, Dropout, LeakyReLU, Layer, Parameter, ReLU, Sigmoid, Softmax, Tanh
from .losses import BCE, MSE, CrossEntropy, Loss
from .lr_finder import lr_find
from .optim import SGD, Adam, AdamW, Optimizer, RMSprop
from .schedules import (Constant, CosineDecay, CyclicLR, ExponentialDecay, OneCycle,
                        OneCycleMomentum, Schedule, StepDecay)
from .training import History, TrainingDiverged, TrainingError, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "Parameter", "Layer", "Dense", "Sigmoid", "ReLU", "Tanh", "LeakyReLU", "Softmax", "Dropout", "BatchNorm",
    "Loss", "BCE", "MSE", "CrossEntropy", "Model", "Sequential", "Graph", "Input", "Node", "Add", "Concat",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
    "Schedule", "Constant", "CyclicLR", "OneCycle", "OneCycleMomentum",
    "StepDecay", "ExponentialDecay", "CosineDecay",
    "fit", "evaluate", "lr_find", "History", "Callback", "EarlyStopping", "Checkpoint", "TrainingError", "TrainingDiverged",
    "save", "load", "register_layer",
    "gradcheck", "GradcheckError",
    "data", "datasets", "metrics", "plot",
]


def __getattr__(name: str) -> Any:
    # matplotlib is heavy: load minnet.plot only when someone asks for it.
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'minnet' has no attribute {name!r}")
