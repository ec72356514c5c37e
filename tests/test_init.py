"""The top-level namespace: ``import minnet as mn`` shows the public API and nothing else."""

from __future__ import annotations

import subprocess
import sys

from rows import row

import minnet as mn

# docs/DESIGN's names that must exist at top level (more may be added).
REQUIRED = {
    "Parameter", "Layer", "Dense", "Sigmoid", "ReLU", "Tanh", "LeakyReLU", "Loss", "BCE", "MSE", "Sequential",
    "Optimizer", "SGD", "Schedule", "CyclicLR", "OneCycle", "lr_find", "fit", "History", "EarlyStopping",
    "Checkpoint", "TrainingDiverged", "gradcheck", "GradcheckError", "save", "load", "data", "datasets", "plot",
    "Input", "Graph", "Add", "Concat", "Softmax", "CrossEntropy", "Dropout", "BatchNorm", "Adam", "AdamW",
    "RMSprop", "TrainingError",
}  # fmt: skip


def module_dunders() -> set[str]:
    return {name for name in vars(mn) if name.startswith("__") and name.endswith("__")}


@row("dir-minnet")
def test_dir_lists_the_public_names_and_the_module_dunders_only():
    assert dir(mn) == sorted(set(mn.__all__) | module_dunders())


def test_the_imports_that_build_the_package_are_not_public_names():
    public = set(dir(mn)) - module_dunders()
    assert not public & {"Any", "annotations", "importlib", "containers", "layers", "training"}


def test_every_public_name_resolves_and_the_required_ones_are_there():
    assert REQUIRED <= set(mn.__all__)
    assert len(mn.__all__) == len(set(mn.__all__))
    for name in mn.__all__:
        assert getattr(mn, name) is not None, name


def test_star_import_gives_the_public_names():
    code = "from minnet import *; print(sorted(n for n in dir() if not n.startswith('__')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(sorted(mn.__all__))
