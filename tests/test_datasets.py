import fnmatch
import hashlib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from rows import row

from minnet.datasets import DIABETES_FEATURES, load_diabetes, load_digits

SHA256 = "055c040265670f684f0beb1dc272900b2dcac19ca45ab74dc334320c98259cd1"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def test_vendored_csv_is_the_documented_file():
    data = resources.files("minnet.datasets").joinpath("diabetes.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256


def test_shapes_and_dtypes():
    X, y = load_diabetes()
    assert X.shape == (768, 8) and X.dtype == np.float64
    assert y.shape == (768,) and y.dtype == np.float64


def test_class_counts():
    _, y = load_diabetes()
    assert set(np.unique(y)) == {0.0, 1.0}
    assert (int((y == 0).sum()), int((y == 1).sum())) == (500, 268)


def test_first_row_and_feature_names():
    X, y = load_diabetes()
    assert len(DIABETES_FEATURES) == X.shape[1]
    assert DIABETES_FEATURES[1] == "glucose" and DIABETES_FEATURES[-1] == "age"
    np.testing.assert_array_equal(X[0], [14, 175, 62, 30, 0, 33.6, 0.212, 38])
    assert y[0] == 1.0


def test_each_call_returns_fresh_arrays():
    X1, _ = load_diabetes()
    X1[:] = 0
    X2, _ = load_diabetes()
    assert X2.any()


def test_arrays_are_finite_and_contiguous():
    X, y = load_diabetes()
    assert np.isfinite(X).all() and X.flags.c_contiguous and y.flags.c_contiguous


# ---- digits -------------------------------------------------------------------


def test_vendored_digits_are_the_documented_file():
    data = resources.files("minnet.datasets").joinpath("digits.csv.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == DIGITS_SHA256


def test_digits_shapes_dtypes_and_values():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and (X == np.round(X)).all()


def test_digits_class_counts():
    _, y = load_digits()
    np.testing.assert_array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_digits_first_image():
    X, y = load_digits()
    np.testing.assert_array_equal(X[0].reshape(8, 8)[:2], [[0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0]])
    np.testing.assert_array_equal(y[:5], [0, 1, 2, 3, 4])


def test_digits_as_images_are_the_rows_as_one_channel_of_8_by_8():
    X, y = load_digits()
    images, y_images = load_digits(images=True)
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float64 and images.flags.c_contiguous
    np.testing.assert_array_equal(images[0, 0, :2], [[0, 0, 5, 13, 9, 1, 0, 0], [0, 0, 13, 15, 10, 15, 5, 0]])
    np.testing.assert_array_equal(images.reshape(1797, 64), X)
    np.testing.assert_array_equal(y_images, y)
    assert images.base is not None and images.base.nbytes == images.nbytes  # a view of one array, not a copy


@row("dataset-images-not-bool")
@pytest.mark.parametrize("images", ["yes", 0, None])
def test_digits_images_must_be_a_bool(images):
    with pytest.raises(TypeError, match=rf"^images must be True or False, got {re.escape(repr(images))} "):
        load_digits(images=images)


def test_digits_equal_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = load_digits()
    X_ref, y_ref = datasets.load_digits(return_X_y=True)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_every_vendored_file_is_package_data():
    """An installed minnet (not just this checkout) must carry every data file next to its loader."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "minnet.datasets"
    ]
    files = [p.name for p in (root / "minnet" / "datasets").iterdir() if p.is_file() and p.suffix != ".py"]
    assert {"diabetes.csv", "digits.csv.gz", "README.md"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
