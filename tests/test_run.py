"""minnet.run: what callbacks and checkpoints see of a run lives below the training loop."""

import ast
from pathlib import Path

import minnet as mn
import minnet.run
import minnet.training

PACKAGE = Path(mn.__file__).parent
MOVED = ("History", "Run", "TrainingDiverged", "TrainingError")


def test_the_loop_still_exports_what_moved_to_run():
    for name in MOVED:
        assert getattr(minnet.training, name) is getattr(minnet.run, name)
    for name in ("History", "TrainingDiverged", "TrainingError"):
        assert getattr(mn, name) is getattr(minnet.run, name)


def imports_from_the_loop(path: Path) -> set[str]:
    """The names ``path`` imports from minnet.training (relative or absolute)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "training":
            names |= {alias.name for alias in node.names}
    return names


def test_no_module_takes_the_run_from_the_loop():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "training.py":
            assert not imports_from_the_loop(path) & set(MOVED), f"{path.name} imports the run's classes from training"
    assert not imports_from_the_loop(PACKAGE / "run.py")
