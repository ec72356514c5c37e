import hashlib
from importlib import resources

import numpy as np

from minnet.datasets import DIABETES_FEATURES, load_diabetes

SHA256 = "055c040265670f684f0beb1dc272900b2dcac19ca45ab74dc334320c98259cd1"


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
