"""Preparing data: a seeded train/test split, a feature scaler and one-hot labels.

Batching is not here: :func:`minnet.fit` owns it, so that shuffling,
the last partial batch and the epoch-loss weighting live in one place.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minnet._numerics import safe_column_mean_std
from minnet._validation import as_batch, as_class_indices, as_generator, check_bool, check_int, check_real

__all__ = ["Standardizer", "one_hot", "train_test_split"]


def _n_test(test_size: float | int, n_samples: int) -> int:
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        return check_int("test_size", test_size, low=1, high=n_samples - 1)
    fraction = check_real("test_size", test_size, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    # Round the test set up, so a small fraction of a small set still gets a
    # sample; but first drop float noise, or 0.07 * 100 = 7.000000000000001
    # would round up to 8.
    n_test = int(np.ceil(round(fraction * n_samples, 9)))
    if n_test >= n_samples:
        raise ValueError(
            f"test_size={fraction!r} of {n_samples} samples leaves no sample for training; use a smaller test_size"
        )
    return n_test


def _test_counts(counts: np.ndarray, n_test: int) -> np.ndarray:
    """How many samples of each class go to the test set.

    Each class gets the floor of its proportional share; the slots left over
    go to the classes with the largest remainders, so every class is within
    one sample of its exact proportion. Rounding can still leave a small
    class with no test sample, or with no training sample; each such class
    then trades one slot with the class whose count is furthest past its
    share in the other direction, so every class is on both sides. (Each
    set has at least one slot per class, so such a partner always exists.)
    """
    ideal = n_test * counts / counts.sum()
    per_class = np.floor(ideal).astype(np.int64)
    leftover = n_test - per_class.sum()
    per_class[np.argsort(per_class - ideal, kind="stable")[:leftover]] += 1
    for c in np.flatnonzero(per_class == 0):
        donor = np.argmax(np.where(per_class > 1, per_class - ideal, -np.inf))
        per_class[donor] -= 1
        per_class[c] += 1
    for c in np.flatnonzero(per_class == counts):
        taker = np.argmin(np.where(per_class < counts - 1, per_class - ideal, np.inf))
        per_class[taker] += 1
        per_class[c] -= 1
    return per_class


def _stratified_indices(labels: np.ndarray, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    if counts.min() < 2:
        lonely = classes[np.argmin(counts)].item()
        raise ValueError(
            f"stratify: class {lonely!r} has only 1 sample; every class needs "
            f"at least 2 to appear in both the train and the test set"
        )
    # Every class must get a place on both sides, as scikit-learn requires.
    for side, size in (("train", len(labels) - n_test), ("test", n_test)):
        if size < len(classes):
            raise ValueError(
                f"stratify: the {side}_size = {size} should be greater or equal to the "
                f"number of classes = {len(classes)}, so that every class is in the {side} set"
            )
    # The sample indices grouped by class, each group in increasing order: one
    # sort, however many classes there are.
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    train, test = [], []
    for members, k in zip(by_class, _test_counts(counts, n_test)):
        members = rng.permutation(members)
        test.append(members[:k])
        train.append(members[k:])
    # Mix the classes again, so neither set comes out sorted by class.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(
    *arrays: Any,
    test_size: float | int = 0.25,
    seed: int | np.random.Generator | None = None,
    shuffle: bool = True,
    stratify: Any = None,
) -> list[np.ndarray]:
    """Split arrays into random train and test subsets, row by row.

    Parameters
    ----------
    *arrays : array-likes, each of shape (n_samples, ...)
        Arrays sharing their first dimension, e.g. ``X`` and ``y``. The same
        rows are picked from each.
    test_size : float or int, default=0.25
        A float in (0, 1) is the fraction of samples in the test set (rounded
        up); an int is the number of test samples, in [1, n_samples - 1].
    seed : int, numpy.random.Generator or None, default=None
        Seed of the shuffle. The same int always gives the same split.
    shuffle : bool, default=True
        If False, the last ``n_test`` rows are the test set, in order.
    stratify : array-like of shape (n_samples,) or None, default=None
        Class labels, of any number of classes (integers such as digits
        0-9, strings, ...). If given, each class is split in the same
        proportion as the whole, to within one sample, and every class is in
        both sets: a small class that rounding would leave out of one takes a
        slot from the class furthest past its share in that set. Requires
        ``shuffle=True``, at least 2 samples per class, and train and test
        sets at least as large as the number of classes.

    Returns
    -------
    splits : list of ndarray, length 2 * len(arrays)
        ``[a_train, a_test, b_train, b_test, ...]``: a train and a test part
        for each input array, in order. Each part is a copy.

    Examples
    --------
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    >>> X_train.shape, X_test.shape
    ((8, 2), (2, 2))
    """
    if not arrays:
        raise TypeError("train_test_split needs at least one array to split")
    arrays = tuple(np.asarray(a) for a in arrays)
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"array {i} must have at least one dimension, got a scalar {a!r}")
    n_samples = len(arrays[0])
    for i, a in enumerate(arrays[1:], start=1):
        if len(a) != n_samples:
            raise ValueError(
                f"all arrays must have the same number of samples: array 0 has {n_samples}, array {i} has {len(a)}"
            )
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples to split, got {n_samples}")
    n_test = _n_test(test_size, n_samples)
    shuffle = check_bool("shuffle", shuffle)

    if stratify is not None:
        if not shuffle:
            raise ValueError("stratify requires shuffle=True")
        labels = np.asarray(stratify)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels.ravel()
        if labels.ndim != 1:
            hint = "; for one-hot rows pass their class indices, y.argmax(axis=1)" if labels.ndim == 2 else ""
            raise ValueError(f"stratify must be 1-D of shape (n_samples,), got shape {labels.shape}{hint}")
        if len(labels) != n_samples:
            raise ValueError(f"stratify must have one label per sample: expected {n_samples}, got {len(labels)}")
        train, test = _stratified_indices(labels, n_test, as_generator("seed", seed))
    elif shuffle:
        order = as_generator("seed", seed).permutation(n_samples)
        train, test = order[n_test:], order[:n_test]
    else:
        train, test = np.arange(n_samples - n_test), np.arange(n_samples - n_test, n_samples)

    return [part for a in arrays for part in (a[train], a[test])]


class Standardizer:
    """Scale each feature to zero mean and unit variance.

    .. math:: z = (x - \\mu) / \\sigma

    with :math:`\\mu` and :math:`\\sigma` (population standard deviation)
    learned by :meth:`fit`. A feature is a position of the sample: for a
    table ``(n, F)`` a column, for images ``(n, C, H, W)`` each pixel of
    each channel, with statistics over the samples (axis 0), as
    scikit-learn's ``StandardScaler`` on the flattened images. Fit on the training set only and transform every
    other set with the same statistics; fitting on all the data leaks the
    test set into training.

    A constant feature gets scale 1, so it maps to 0 instead of dividing by
    zero. Float32 input gives float32 output; other numbers give float64.

    Attributes
    ----------
    mean_ : ndarray of the shape of one sample, (n_features,) for a table
        Per-feature mean of the data seen by :meth:`fit` (float64).
    scale_ : ndarray of the shape of one sample
        Per-feature standard deviation, 1 for constant features (float64).
    n_features_in_ : int
        Number of features (values of one sample) seen by :meth:`fit`.

    Examples
    --------
    >>> scaler = Standardizer().fit([[1.0, 10.0], [3.0, 10.0]])
    >>> scaler.transform([[2.0, 10.0], [5.0, 12.0]])
    array([[0., 0.],
           [3., 2.]])
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_features_in_: int | None = None

    def __repr__(self) -> str:
        return "Standardizer()"

    def fit(self, X: Any) -> Standardizer:
        """Learn the per-feature mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *shape)
            Finite numbers.

        Returns
        -------
        self : Standardizer
        """
        X = as_batch("X", X)
        table = X.reshape(len(X), -1)  # a column per position of the sample
        # Statistics in float64 even for float32 data: a float32 sum over
        # many rows loses digits that the scaled output would then carry.
        # Values near 1e200 have squares beyond the float: the helper scales those columns first.
        mean, scale = safe_column_mean_std(table)
        # Test constancy exactly (max == min): the std of a constant column
        # can come out as rounding noise like 1e-17 rather than 0.
        scale[table.max(axis=0) == table.min(axis=0)] = 1.0
        self.mean_, self.scale_ = mean.reshape(X.shape[1:]), scale.reshape(X.shape[1:])
        self.n_features_in_ = table.shape[1]
        return self

    def _check(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X`` checked against the fit, with the mean and scale in its dtype."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("this Standardizer is not fitted yet; call fit first")
        X = as_batch("X", X)
        if X.shape[1:] != self.mean_.shape:
            if X.ndim == 2 and self.mean_.ndim == 1:
                raise ValueError(f"Standardizer was fitted on {self.n_features_in_} features, got {X.shape[1]}")
            raise ValueError(
                f"Standardizer was fitted on samples of shape {self.mean_.shape}, got samples of shape {X.shape[1:]}"
            )
        return X, self.mean_.astype(X.dtype), self.scale_.astype(X.dtype)

    def transform(self, X: Any) -> np.ndarray:
        """Standardize ``X`` with the statistics learned by :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, *shape)

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, *shape)
            A new array, float32 if ``X`` is float32, else float64.
        """
        X, mean, scale = self._check(X)
        return (X - mean) / scale

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit on ``X`` and return it standardized; see :meth:`fit` and :meth:`transform`."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map standardized data back to the original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, *shape)

        Returns
        -------
        X_original : ndarray of shape (n_samples, *shape)
            ``X * scale_ + mean_``, float32 if ``X`` is float32, else float64.
        """
        X, mean, scale = self._check(X)
        return X * scale + mean


def one_hot(labels: Any, n_classes: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or (n_samples, 1)
        Class indices in ``[0, n_classes)``. Floats are accepted if they are
        whole numbers (a 0/1 target loaded as float64, for instance).
    n_classes : int or None, default=None
        Number of columns; ``max(labels) + 1`` if None. Give it whenever a
        class might be absent from ``labels`` (a small test set, say), so
        every encoding has the same width.
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    encoded : ndarray of shape (n_samples, n_classes)
        ``encoded[i, labels[i]] == 1``, every other entry 0.

    Raises
    ------
    TypeError
        If ``labels`` are not numbers, or ``n_classes`` is not an integer.
    ValueError
        If a label is not a whole number, is negative, or is ``>= n_classes``;
        the message gives the first such label and its index.

    Examples
    --------
    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    >>> one_hot([1, 0], n_classes=3, dtype=np.float32)
    array([[0., 1., 0.],
           [1., 0., 0.]], dtype=float32)
    """
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, low=1)
    labels = as_class_indices("labels", labels, n_classes)
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size else 0
    encoded = np.zeros((len(labels), n_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded
