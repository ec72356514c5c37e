"""Small real data sets shipped with minnet, loaded with numpy alone.

See ``README.md`` next to this file for where each data set comes from.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_diabetes", "DIABETES_FEATURES"]

DIABETES_FEATURES: tuple[str, ...] = (
    "pregnancies",
    "glucose",
    "blood_pressure",
    "skin_thickness",
    "insulin",
    "bmi",
    "diabetes_pedigree",
    "age",
)
"""Names of the 8 columns of ``X`` returned by :func:`load_diabetes`, in order."""


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """Load the Pima Indians Diabetes data (768 women, 8 features, 0/1 outcome).

    Each row is one woman of Pima Indian heritage aged 21 or older; the
    target is 1 if diabetes was diagnosed within five years. 500 rows are
    negative and 268 positive, so always predicting 0 scores 0.65.

    Zeros in glucose, blood_pressure, skin_thickness, insulin and bmi stand
    for missing measurements; they are returned as they are, not imputed.
    The rows come in blocks of one class at a time (the order of the
    source's folds), so shuffle before splitting (:func:`minnet.data.train_test_split` does by default).

    Returns
    -------
    X : ndarray of shape (768, 8), float64
        Features, columns named in :data:`DIABETES_FEATURES`.
    y : ndarray of shape (768,), float64
        Outcome, 0.0 or 1.0.

    Examples
    --------
    >>> X, y = load_diabetes()
    >>> X.shape, y.shape, int(y.sum())
    ((768, 8), (768,), 268)
    """
    # importlib.resources finds the file inside an installed package too,
    # including a zipped one, where a path built from __file__ would not.
    with resources.files(__name__).joinpath("diabetes.csv").open("r", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        if tuple(header) != DIABETES_FEATURES + ("outcome",):
            raise ValueError(f"diabetes.csv has unexpected columns {header}")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    # Copies, so X and y are contiguous and do not keep each other alive.
    return table[:, :-1].copy(), table[:, -1].copy()
