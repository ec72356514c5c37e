"""Small real data sets shipped with minnet, loaded with numpy alone.

See ``README.md`` next to this file for where each data set comes from.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np

from minnet._validation import check_bool
from minnet.datasets.mnist import load_mnist

__all__ = ["DIABETES_FEATURES", "load_diabetes", "load_digits", "load_mnist"]

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
        if tuple(header) != (*DIABETES_FEATURES, "outcome"):
            raise ValueError(f"diabetes.csv has unexpected columns {header}")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    # Copies, so X and y are contiguous and do not keep each other alive.
    return table[:, :-1].copy(), table[:, -1].copy()


def load_digits(*, images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's 8 x 8 handwritten digits (1797 images, classes 0-9).

    Each row is one 8 x 8 image, flattened row by row, of pixel values 0-16
    (the count of ink cells in a 4 x 4 block of a 32 x 32 bitmap). The ten
    classes are nearly balanced: 174 to 183 images each.

    Parameters
    ----------
    images : bool, default=False
        If False, each image is a row of 64 pixels; if True, an image of one
        channel, ``(1, 8, 8)`` (NCHW), for :class:`~minnet.Conv2D`. The same
        values either way, without a copy.

    Returns
    -------
    X : ndarray of shape (1797, 64), or (1797, 1, 8, 8) if images=True, float64
        Pixel values 0.0-16.0; ``X[i].reshape(8, 8)`` is the image.
    y : ndarray of shape (1797,), int64
        Class indices 0-9.

    Raises
    ------
    TypeError
        If ``images`` is not True or False.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, y.shape, y.dtype, X.max()
    ((1797, 64), (1797,), dtype('int64'), np.float64(16.0))
    >>> load_digits(images=True)[0].shape
    (1797, 1, 8, 8)
    """
    as_images = check_bool("images", images)
    with (
        resources.files(__name__).joinpath("digits.csv.gz").open("rb") as raw,
        io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="ascii") as f,
    ):
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (1797, 65):
        raise ValueError(f"digits.csv.gz should hold 1797 rows of 65 values, got shape {table.shape}")
    X, y = table[:, :-1].astype(np.float64), table[:, -1].copy()
    if X.min() < 0 or X.max() > 16 or y.min() < 0 or y.max() > 9:
        raise ValueError("digits.csv.gz holds values outside pixels 0-16 and labels 0-9")
    return (X.reshape(len(X), 1, 8, 8) if as_images else X), y
