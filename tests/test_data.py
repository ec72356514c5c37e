import numpy as np
import pytest

from minnet.data import Standardizer, one_hot, train_test_split
from minnet.datasets import load_diabetes, load_digits


def _data(n=20, n_features=3):
    X = np.arange(n * n_features, dtype=np.float64).reshape(n, n_features)
    return X, np.arange(n)


# ---- train_test_split ------------------------------------------------------


def test_split_returns_train_test_pairs_per_array():
    X, y = _data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert X_train.shape == (15, 3) and X_test.shape == (5, 3)
    assert y_train.shape == (15,) and y_test.shape == (5,)
    # rows stay paired across arrays
    np.testing.assert_array_equal(X_train[:, 0], y_train * 3)
    np.testing.assert_array_equal(X_test[:, 0], y_test * 3)


@pytest.mark.parametrize("test_size, n_test", [(0.2, 4), (0.01, 1), (0.9, 18), (7, 7), (1, 1)])
def test_split_sizes(test_size, n_test):
    _, y = _data()
    y_train, y_test = train_test_split(y, test_size=test_size, seed=0)
    assert (len(y_train), len(y_test)) == (20 - n_test, n_test)


def test_split_float_test_size_rounds_up():
    _, y = load_diabetes()
    _, y_test = train_test_split(y, test_size=0.2, seed=0)
    assert len(y_test) == 154  # ceil(0.2 * 768)


def test_split_float_noise_does_not_round_up():
    # 0.07 * 100 == 7.000000000000001 in floating point
    _, y_test = train_test_split(np.zeros(100), test_size=0.07, seed=0)
    assert len(y_test) == 7


def test_no_sample_lost_or_duplicated():
    _, y = _data(n=101)
    y_train, y_test = train_test_split(y, test_size=0.3, seed=3)
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)


def test_same_seed_same_split_different_seed_different_split():
    _, y = _data(n=100)
    a = train_test_split(y, seed=7)
    b = train_test_split(y, seed=7)
    c = train_test_split(y, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_generator_seed_is_used_and_advanced():
    _, y = _data(n=100)
    rng = np.random.default_rng(5)
    first, second = train_test_split(y, seed=rng)[1], train_test_split(y, seed=rng)[1]
    np.testing.assert_array_equal(first, train_test_split(y, seed=np.random.default_rng(5))[1])
    assert not np.array_equal(first, second)


def test_split_shuffles_by_default_and_not_when_told():
    _, y = _data()
    y_train, y_test = train_test_split(y, test_size=5, shuffle=False)
    np.testing.assert_array_equal(y_train, np.arange(15))
    np.testing.assert_array_equal(y_test, np.arange(15, 20))
    assert not np.array_equal(train_test_split(y, test_size=5, seed=0)[0], np.arange(15))


def test_split_returns_copies():
    X, _y = _data()
    X_train, _ = train_test_split(X, seed=0)
    X_train[:] = -1
    assert (X >= 0).all()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.33, 0.5, 0.8])
def test_stratify_keeps_class_proportions_within_one_sample(seed, test_size):
    _, y = load_diabetes()
    y_train, y_test = train_test_split(y, test_size=test_size, seed=seed, stratify=y)
    for part in (y_train, y_test):
        assert abs(part.sum() - 268 * len(part) / 768) <= 1


def test_stratify_three_unbalanced_classes():
    y = np.repeat([0, 1, 2], [50, 30, 7])
    y_train, y_test = train_test_split(y, test_size=0.3, seed=1, stratify=y)
    expected = np.array([50, 30, 7]) * len(y_test) / len(y)
    assert np.all(np.abs(np.bincount(y_test, minlength=3) - expected) < 1)
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)


@pytest.mark.parametrize("seed", range(3))
def test_stratify_ten_integer_classes(seed):
    X, y = load_digits()
    _X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=seed, stratify=y)
    counts = np.bincount(y)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - counts * 360 / 1797) < 1)
    np.testing.assert_array_equal(np.bincount(y_train) + np.bincount(y_test), counts)
    assert y_train.dtype == np.int64
    # rows stay paired: each test row is a row of X with the same label
    rows = {X[i].tobytes(): y[i] for i in range(len(y))}
    assert all(rows[x.tobytes()] == label for x, label in zip(X_test, y_test))


def test_stratify_many_classes():
    y = np.repeat(np.arange(500, dtype=np.uint16), 4)
    y_train, y_test = train_test_split(y, test_size=0.5, seed=0, stratify=y)
    np.testing.assert_array_equal(np.bincount(y_test), np.full(500, 2))
    np.testing.assert_array_equal(np.bincount(y_train), np.full(500, 2))


@pytest.mark.parametrize("test_size", [10, 12, 0.9, 0.95])
def test_stratify_keeps_a_small_class_on_both_sides(test_size):
    # Rounding alone gives class 9 (2 of 902 samples) no test sample at
    # test_size=10, and no training sample at 0.9.
    y = np.repeat(np.arange(10), [100] * 9 + [2])
    y_train, y_test = train_test_split(y, test_size=test_size, seed=0, stratify=y)
    assert set(y_train) == set(y_test) == set(range(10))
    assert len(y_test) == (test_size if isinstance(test_size, int) else np.ceil(test_size * 902))


def test_stratify_split_that_needs_no_trade_is_unchanged():
    # Pinned: the diabetes split behind the README's results table (seed 0, 20%).
    _, y = load_diabetes()
    _, test = train_test_split(np.arange(768), test_size=0.2, seed=0, stratify=y)
    np.testing.assert_array_equal(test[:6], [394, 137, 642, 508, 44, 253])
    assert (len(test), int(y[test].sum())) == (154, 54)


def test_stratify_mixes_classes():
    _, y = load_diabetes()  # stored in blocks of one class
    y_train, _ = train_test_split(y, seed=0, stratify=y)
    assert 0 < y_train[:100].sum() < 100


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="array 0 has 20, array 1 has 19"):
        train_test_split(np.zeros((20, 2)), np.zeros(19))


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5, -0.1, 0, 20, -3])
def test_split_rejects_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.zeros(20), test_size=test_size)


@pytest.mark.parametrize("test_size", ["0.2", None, True])
def test_split_rejects_non_numeric_test_size(test_size):
    with pytest.raises(TypeError, match="test_size"):
        train_test_split(np.zeros(20), test_size=test_size)


def test_split_rejects_fraction_leaving_no_training_sample():
    with pytest.raises(ValueError, match="leaves no sample for training"):
        train_test_split(np.zeros(10), test_size=0.95)


def test_split_needs_two_samples_and_an_array():
    with pytest.raises(ValueError, match="at least 2 samples"):
        train_test_split(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="at least one array"):
        train_test_split()


def test_stratify_errors():
    y = np.array([0, 0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="class 2 has only 1 sample"):
        train_test_split(y, stratify=y, seed=0)
    with pytest.raises(ValueError, match="one label per sample: expected 6, got 5"):
        train_test_split(y, stratify=y[:5], seed=0)
    with pytest.raises(ValueError, match="shuffle=True"):
        train_test_split(y, stratify=y, shuffle=False)
    with pytest.raises(ValueError, match=r"got shape \(6, 3\); for one-hot rows pass their class indices"):
        train_test_split(y, stratify=one_hot(y), seed=0)


@pytest.mark.parametrize("shuffle", ["no", 0, 1, None])
def test_split_rejects_a_shuffle_flag_that_is_not_a_bool(shuffle):
    with pytest.raises(TypeError, match=f"shuffle must be True or False, got .*{shuffle!r}"):
        train_test_split(np.arange(10), shuffle=shuffle)


@pytest.mark.parametrize("test_size, side, size", [(1, "test", 1), (0.1, "test", 1), (9, "train", 1)])
def test_stratify_needs_each_side_at_least_as_large_as_the_number_of_classes(test_size, side, size):
    # As scikit-learn: "The test_size = 1 should be greater or equal to the number of classes = 2".
    y = np.array([0] * 5 + [1] * 5)
    with pytest.raises(
        ValueError, match=f"the {side}_size = {size} should be greater or equal to the number of classes = 2"
    ):
        train_test_split(y, test_size=test_size, stratify=y, seed=0)


def test_stratify_with_each_side_as_large_as_the_number_of_classes_puts_every_class_on_both():
    y = np.array([0] * 4 + [1] * 3 + [2] * 3)
    y_train, y_test = train_test_split(y, test_size=3, stratify=y, seed=0)
    assert sorted(y_test) == [0, 1, 2] and set(y_train) == {0, 1, 2}


def test_split_rejects_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        train_test_split(np.zeros(10), seed="0")


# ---- Standardizer ----------------------------------------------------------


def test_standardized_train_has_zero_mean_unit_std():
    X, _ = load_diabetes()
    Z = Standardizer().fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)


def test_fit_uses_only_the_data_it_is_given():
    X = np.random.default_rng(0).normal(size=(200, 4))
    scaler = Standardizer().fit(X[:100])
    np.testing.assert_allclose(scaler.mean_, X[:100].mean(axis=0))
    # the test set is transformed with the train statistics, not its own
    Z = scaler.transform(X[100:] + 5.0)
    np.testing.assert_allclose(Z.mean(axis=0), (X[100:].mean(axis=0) + 5 - scaler.mean_) / scaler.scale_)


def test_inverse_transform_round_trip():
    X, _ = load_diabetes()
    scaler = Standardizer().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12, atol=1e-12)


def test_constant_column_gets_scale_one():
    X = np.column_stack([np.arange(5.0), np.full(5, 0.1), np.zeros(5)])
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    np.testing.assert_array_equal(scaler.scale_[1:], [1.0, 1.0])
    assert np.isfinite(Z).all() and np.allclose(Z[:, 1:], 0)


def test_float32_in_float32_out():
    X = np.random.default_rng(0).normal(3, 2, size=(50, 3)).astype(np.float32)
    scaler = Standardizer().fit(X)
    assert scaler.transform(X).dtype == np.float32
    assert scaler.inverse_transform(X).dtype == np.float32
    assert scaler.transform(X.astype(np.float64)).dtype == np.float64


def test_integer_input_becomes_float64():
    assert Standardizer().fit_transform([[1, 2], [3, 4]]).dtype == np.float64


def test_transform_does_not_modify_input():
    X = np.random.default_rng(0).normal(size=(10, 2))
    before = X.copy()
    Standardizer().fit(X).transform(X)
    np.testing.assert_array_equal(X, before)


def test_transform_before_fit():
    with pytest.raises(RuntimeError, match="call fit first"):
        Standardizer().transform(np.zeros((2, 2)))


def test_wrong_feature_count():
    scaler = Standardizer().fit(np.random.default_rng(0).normal(size=(10, 8)))
    with pytest.raises(ValueError, match="Standardizer was fitted on 8 features, got 7"):
        scaler.transform(np.zeros((3, 7)))


def test_standardizer_rejects_bad_input():
    with pytest.raises(TypeError, match="numbers"):
        Standardizer().fit([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="finite"):
        Standardizer().fit([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError, match="samples on its first axis"):
        Standardizer().fit(np.zeros(5))


def test_standardizer_repr():
    assert repr(Standardizer()) == "Standardizer()"


# ---- one_hot ---------------------------------------------------------------


def test_one_hot():
    np.testing.assert_array_equal(one_hot([1, 0, 2]), [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    assert one_hot(np.array([0.0, 1.0]), n_classes=3).shape == (2, 3)


def test_one_hot_ten_classes():
    _, y = load_digits()
    encoded = one_hot(y)
    assert encoded.shape == (1797, 10) and encoded.dtype == np.float64
    np.testing.assert_array_equal(encoded.argmax(axis=1), y)
    np.testing.assert_array_equal(encoded.sum(axis=1), 1.0)
    np.testing.assert_array_equal(encoded.sum(axis=0), np.bincount(y))


def test_one_hot_width_and_dtype():
    # A class absent from the labels still gets its column when n_classes says so.
    np.testing.assert_array_equal(one_hot([0, 0], n_classes=10)[0], [1] + [0] * 9)
    assert one_hot(np.array([3], dtype=np.uint8)).shape == (1, 4)
    assert one_hot([1, 0], n_classes=2, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(one_hot(np.array([[2], [0]])), [[0, 0, 1], [1, 0, 0]])  # a column
    assert one_hot(np.array([], dtype=np.int64), n_classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    "labels, n_classes, message",
    [
        ([0.5, 1.0], None, r"whole numbers \(class indices\), got 0.5 at index 0"),
        ([0.0, np.nan], None, r"whole numbers \(class indices\), got nan at index 1"),
        ([0, 1, -1], None, r"class indices >= 0, got -1 at index 2"),
        ([0, 2, 1], 2, r"class indices < n_classes=2, got 2 at index 1"),
        ([0, 10], 10, r"class indices < n_classes=10, got 10 at index 1"),
        ([1e300], None, r"got 1e\+300 at index 0, too large to be one"),
        (np.array([2**63], dtype=np.uint64), None, r"too large to be one"),
        (
            [[0, 1], [1, 0]],
            None,
            r"shape \(n_samples,\), got shape \(2, 2\); for one-hot rows pass "
            r"their class indices, labels.argmax\(axis=1\)",
        ),
        ([0, 1], 0, r"n_classes must be >= 1, got 0"),
    ],
)
def test_one_hot_errors(labels, n_classes, message):
    with pytest.raises(ValueError, match=message):
        one_hot(labels, n_classes=n_classes)


@pytest.mark.parametrize(
    "labels, n_classes, message",
    [
        ([True, False], None, "labels must be integer class indices, got an array of dtype bool"),
        (["0", "1"], None, "labels must be integer class indices, got an array of dtype <U1"),
        ([0, 1], 2.0, r"n_classes must be an integer, got 2.0 \(float\)"),
    ],
)
def test_one_hot_type_errors(labels, n_classes, message):
    with pytest.raises(TypeError, match=message):
        one_hot(labels, n_classes=n_classes)


def test_standardizer_scales_each_position_of_an_image_over_the_samples():
    X = np.random.default_rng(0).normal(3.0, 2.0, (50, 2, 3, 3))
    X[:, 0, 0, 0] = 7.0  # a constant position maps to 0
    scaler = Standardizer().fit(X)
    assert scaler.mean_.shape == (2, 3, 3) and scaler.n_features_in_ == 18
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.reshape(50, -1), Standardizer().fit_transform(X.reshape(50, -1)), rtol=1e-15)
    assert np.all(Z[:, 0, 0, 0] == 0) and np.allclose(scaler.inverse_transform(Z), X)
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(2, 3, 3\), got samples of shape \(18,\)"):
        scaler.transform(X.reshape(50, -1))
