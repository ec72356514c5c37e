"""The ``@row("id")`` mark: a test covering a row of docs/reliability.md, from any test module.

A module of its own, so that a test module that test_reliability.py imports
(test_archive.py) can mark its tests too; ``test_every_documented_row_has_a_test``
imports every module that does.
"""

from __future__ import annotations

from collections.abc import Callable

# Row id -> names of the tests that cover it (the rows not tested by a table of bad files).
TRAINING_TESTS: dict[str, list[str]] = {}


def row(row_id: str) -> Callable:
    """Mark a test as covering the table row ``row_id``."""

    def mark(test: Callable) -> Callable:
        TRAINING_TESTS.setdefault(row_id, []).append(test.__name__)
        return test

    return mark
