"""scikit-learn estimators built on minnet: :class:`MinnetClassifier` and :class:`MinnetRegressor`.

They are multi-layer perceptrons in the manner of scikit-learn's
``MLPClassifier`` and ``MLPRegressor`` (the same ``hidden_layer_sizes`` and
``activation``), trained by :func:`minnet.fit`, so they drop into a
``Pipeline``, ``cross_val_score`` or ``GridSearchCV`` (see Examples).

The fitted network is a :class:`~minnet.Sequential` in ``model_``, to
inspect, save with :func:`minnet.save`, or export with
:func:`~minnet.interop.pytorch.to_torch` or :func:`~minnet.interop.onnx_export.to_onnx`.

This module needs scikit-learn 1.6 or newer (``pip install "minnet[sklearn]"``);
the rest of minnet never imports it.

Examples
--------
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from sklearn.model_selection import cross_val_score
>>> import minnet as mn
>>> from minnet.sklearn import MinnetClassifier
>>> X, y = mn.datasets.load_diabetes()
>>> pipe = make_pipeline(StandardScaler(), MinnetClassifier((16,), epochs=20, random_state=0))
>>> scores = cross_val_score(pipe, X, y, cv=3)
>>> bool(0.7 < scores.mean() < 0.85)
True
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data  # new in scikit-learn 1.6
except ImportError as exc:  # absent (a ModuleNotFoundError, kept as one) or older than 1.6
    raise type(exc)(
        'minnet.sklearn needs scikit-learn 1.6 or newer: pip install "minnet[sklearn]"', name=exc.name
    ) from exc

import itertools

from . import optim
from ._validation import check_bool, check_choice, check_int, check_real
from .containers import Sequential
from .layers import Dense, Layer, LeakyReLU, ReLU, Sigmoid, Tanh
from .losses import BCE, MSE, CrossEntropy, Loss
from .probabilities import class_probabilities
from .run import History
from .training import fit

__all__ = ["MinnetClassifier", "MinnetRegressor"]

# The hidden layers' activation and the initialiser that suits it.
_ACTIVATIONS: dict[str, tuple[type[Layer] | None, str]] = {
    "relu": (ReLU, "he"),
    "leaky_relu": (LeakyReLU, "he"),
    "tanh": (Tanh, "xavier"),
    "logistic": (Sigmoid, "xavier"),
    "sigmoid": (Sigmoid, "xavier"),
    "identity": (None, "xavier"),
}
# Optimizers by name, looked up in minnet.optim when a fit asks for one.
_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}


class _MinnetEstimator(BaseEstimator):
    """What the classifier and the regressor share: checking the settings, building the network, training it."""

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        optimizer: Any = "sgd",
        lr: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        epochs: int = 200,
        batch_size: int | None = 32,
        shuffle: bool = True,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    # -- subclasses say what the output layer and the loss are -------------------------
    def _loss(self) -> Loss:
        raise NotImplementedError

    def _n_network_outputs(self) -> int:
        raise NotImplementedError

    # -- the settings, checked when fitting (scikit-learn's convention: never in __init__) --
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        if not isinstance(sizes, (list, tuple, np.ndarray)):
            raise TypeError(
                f"hidden_layer_sizes must be a tuple of layer widths such as (100,) or (64, 32), got {sizes!r}"
            )
        return [check_int(f"hidden_layer_sizes[{i}]", size, low=1) for i, size in enumerate(sizes)]

    def _check_settings(self) -> None:
        check_choice("activation", self.activation, tuple(_ACTIVATIONS))
        self._hidden_sizes()
        check_real("lr", self.lr, low=0.0, low_inclusive=False)
        check_real("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        check_real("weight_decay", self.weight_decay, low=0.0)
        check_int("epochs", self.epochs, low=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        check_bool("shuffle", self.shuffle)
        check_bool("verbose", self.verbose)
        self._optimizer_class()

    def _optimizer_class(self) -> Callable[..., optim.Optimizer]:
        if isinstance(self.optimizer, type) and issubclass(self.optimizer, optim.Optimizer):
            return self.optimizer
        # Only the optimizers this minnet has are offered by name.
        known = {name: getattr(optim, cls) for name, cls in _OPTIMIZERS.items() if hasattr(optim, cls)}
        if isinstance(self.optimizer, str) and self.optimizer.lower() in known:
            return known[self.optimizer.lower()]
        raise ValueError(f"optimizer must be one of {list(known)} or a minnet Optimizer class, got {self.optimizer!r}")

    # -- building and training -------------------------------------------------------
    def _build(self, n_features: int) -> None:
        """A fresh network, optimizer and random generator (the weights' and the shuffling's)."""
        # One generator, seeded from random_state, draws every layer's weights and then each epoch's order.
        self._rng = np.random.default_rng(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        activation, init = _ACTIVATIONS[self.activation]
        widths = [n_features, *self._hidden_sizes()]
        network: list[Layer] = []
        for n_in, n_out in itertools.pairwise(widths):
            network.append(Dense(n_in, n_out, init=init, seed=self._rng))
            if activation is not None:
                network.append(activation())
        network.append(Dense(widths[-1], self._n_network_outputs(), seed=self._rng))
        self.model_ = Sequential(*network)
        cls = self._optimizer_class()
        extra = {"momentum": self.momentum} if cls is optim.SGD else {}
        self.optimizer_ = cls(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay, **extra)
        self.loss_curve_: list[float] = []

    def _train(
        self,
        X: np.ndarray,
        target: np.ndarray,
        epochs: int,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
    ) -> None:
        self.history_: History = fit(
            self.model_,
            self._loss(),
            self.optimizer_,
            X,
            target,
            epochs=epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            seed=self._rng,
            progress=self.verbose,
            sample_weight=sample_weight,
            class_weight=class_weight,
        )
        self.loss_curve_ += self.history_.history["loss"]
        self.n_iter_ = len(self.history_)

    def _scores(self, X: Any) -> np.ndarray:
        """The network's raw outputs for ``X``, after the checks every prediction makes."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.model_.predict(X)


class MinnetClassifier(ClassifierMixin, _MinnetEstimator):
    """A multi-layer perceptron classifier trained by minnet.

    Two classes are learned with one output scored as a logit (binary
    cross-entropy on logits, ``mn.BCE(from_logits=True)``), more with one
    output per class (``mn.CrossEntropy()``). Labels may be any values
    numpy can sort (integers, strings, ...).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        The width of each hidden layer; ``()`` is logistic regression.
    activation : {"relu", "leaky_relu", "tanh", "logistic", "sigmoid", "identity"}, default "relu"
        The hidden layers' activation ("logistic" and "sigmoid" are the same).
        ReLU layers start from He weights, the others from Xavier's.
    optimizer : {"sgd", "adam", "adamw", "rmsprop"} or a minnet Optimizer class, default "sgd"
        Names are those of the optimizers this minnet has (SGD always).
        A class is called as ``cls(params, lr=lr, weight_decay=weight_decay)``,
        plus ``momentum=momentum`` for SGD.
    lr : float, default 0.001
        The learning rate (scikit-learn's ``learning_rate_init``).
    momentum : float in [0, 1), default 0.9
        SGD's momentum; other optimizers ignore it.
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (scikit-learn's ``alpha``, up to a
        factor of the batch size).
    epochs : int, default 200
        Passes over the data in ``fit``; ``partial_fit`` makes one.
    batch_size : int or None, default 32
        Samples per update; None trains on the whole batch.
    shuffle : bool, default True
        Visit the samples in a new order each epoch.
    random_state : int, RandomState or None
        Seeds the initial weights and the shuffling; an int makes ``fit``
        reproducible bit for bit.
    verbose : bool, default False
        Show minnet's progress bar.
    class_weight : dict, "balanced" or None, default None
        The weight of each class's samples in the loss, as in scikit-learn's
        ``LogisticRegression``: a dict from a label to its weight (a label it
        does not name weighs 1), or ``"balanced"``, which weighs class
        :math:`c` by ``n_samples / (n_classes * n_c)`` on the data ``fit``
        is given. Multiplied with ``fit``'s ``sample_weight``. ``partial_fit``
        takes a dict only (as ``SGDClassifier``): one call sees part of the data.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    model_ : minnet.Sequential
        The trained network; its outputs are logits.
    optimizer_ : minnet.Optimizer
    history_ : minnet.History
        What the last ``fit`` or ``partial_fit`` recorded.
    loss_curve_ : list of float
        The training loss of every epoch so far (``partial_fit`` appends).
    n_iter_ : int
        Epochs of the last ``fit`` or ``partial_fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (a pandas DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from minnet.sklearn import MinnetClassifier
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
    >>> y = np.array(["no", "yes", "yes", "yes"] * 10)
    >>> clf = MinnetClassifier((8,), epochs=100, lr=0.1, random_state=0).fit(X, y)
    >>> clf.predict([[0.0, 0.0], [1.0, 1.0]]).tolist()
    ['no', 'yes']
    >>> clf.predict_proba([[0.0, 0.0]]).round(1)
    array([[1., 0.]])
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        optimizer: Any = "sgd",
        lr: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        epochs: int = 200,
        batch_size: int | None = 32,
        shuffle: bool = True,
        random_state: Any = None,
        verbose: bool = False,
        class_weight: Any = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes,
            activation,
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            random_state=random_state,
            verbose=verbose,
        )
        self.class_weight = class_weight

    def _check_settings(self) -> None:
        super()._check_settings()
        if not (self.class_weight is None or self._balanced() or isinstance(self.class_weight, dict)):
            raise TypeError(
                'class_weight must be a dict from a label to its weight, "balanced" or None, '
                f"got {self.class_weight!r:.80}"
            )

    def _balanced(self) -> bool:
        """Whether ``class_weight`` asks for scikit-learn's "balanced" weights."""
        return isinstance(self.class_weight, str) and self.class_weight == "balanced"

    def _class_weight(self, classes: np.ndarray, labels: np.ndarray) -> dict[int, float] | None:
        """``class_weight`` as :func:`minnet.fit` takes it: keyed by class index, ``"balanced"`` computed."""
        if self.class_weight is None:
            return None
        if self._balanced():
            counts = np.bincount(labels, minlength=len(classes))
            return {i: len(labels) / (len(classes) * count) for i, count in enumerate(counts) if count}
        known = classes.tolist()
        unknown = [key for key in self.class_weight if key not in known]
        if unknown:
            raise ValueError(f"class_weight names labels {unknown!r:.80} that are not among the classes {known!r:.80}")
        return {
            known.index(key): check_real(f"class_weight[{key!r}]", value, low=0.0)
            for key, value in self.class_weight.items()
        }

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MinnetClassifier:
        """Train a new network on ``(X, y)`` for ``epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels: at least two distinct ones.
        sample_weight : array-like of shape (n_samples,), optional
            As :func:`minnet.fit`'s: each sample's loss term scaled by its
            weight, each batch's size the divisor.

        Returns
        -------
        self
        """
        self._check_settings()  # before anything is changed
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes to learn from, "
                f"got 1 class: {classes.tolist()}"
            )
        class_weight = self._class_weight(classes, labels)
        self.classes_ = classes
        self._build(X.shape[1])
        self._train(X, self._target(labels), self.epochs, sample_weight, class_weight)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MinnetClassifier:
        """Train for one epoch on ``(X, y)``, starting a network on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,)
            Every label the classifier will ever see: needed on the first
            call (it fixes the output layer), checked against later ones.

        Returns
        -------
        self
        """
        if self._balanced():
            raise ValueError(
                'class_weight="balanced" needs all the data, which one partial_fit call does not see; '
                "give the weights as a dict (sklearn.utils.class_weight.compute_class_weight computes them)"
            )
        first = not hasattr(self, "model_")
        if first:
            self._check_settings()
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError(
                    "the first call to partial_fit needs classes=, every label there will be "
                    "(it fixes the number of outputs)"
                )
            self.classes_ = np.unique(classes)
            if len(self.classes_) < 2:
                raise ValueError(f"classes must hold at least 2 classes, got {self.classes_.tolist()!r}")
            self._build(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()!r} differs from the first call's {self.classes_.tolist()!r}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()!r} that are not among the classes {self.classes_.tolist()!r}"
            )
        labels = np.searchsorted(self.classes_, y)
        self._train(X, self._target(labels), 1, class_weight=self._class_weight(self.classes_, labels))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in the order of ``classes_``.
        """
        scores = self._scores(X)  # first: it checks that the classifier is fitted
        return class_probabilities(self._loss(), scores)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # first: it checks that the classifier is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    def _n_network_outputs(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _loss(self) -> Loss:
        return BCE(from_logits=True) if len(self.classes_) == 2 else CrossEntropy()

    def _target(self, labels: np.ndarray) -> np.ndarray:
        """Class indices as the loss takes them: a 0/1 column for two classes, the indices for more."""
        return labels.reshape(-1, 1).astype(np.float64) if len(self.classes_) == 2 else labels.astype(np.int64)


class MinnetRegressor(RegressorMixin, _MinnetEstimator):
    """A multi-layer perceptron regressor trained by minnet, on the mean squared error.

    One linear output per target column; ``y`` of shape ``(n_samples,)``
    gives predictions of that shape, ``(n_samples, n_targets)`` one column
    per target. The parameters are :class:`MinnetClassifier`'s.

    Attributes
    ----------
    n_outputs_ : int
        Target columns.
    model_, optimizer_, history_, loss_curve_, n_iter_, n_features_in_, feature_names_in_
        As for :class:`MinnetClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from minnet.sklearn import MinnetRegressor
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> reg = MinnetRegressor((16,), activation="tanh", epochs=300, random_state=0).fit(X, 3 * X[:, 0] + 1)
    >>> bool(reg.score(X, 3 * X[:, 0] + 1) > 0.99)
    True
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MinnetRegressor:
        """Train a new network on ``(X, y)`` for ``epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), optional
            As :func:`minnet.fit`'s: each sample's loss term scaled by its
            weight, each batch's size the divisor.

        Returns
        -------
        self
        """
        self._check_settings()  # before anything is changed
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        self._y_is_1d = y.ndim == 1
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._build(X.shape[1])
        self._train(X, y.reshape(len(y), self.n_outputs_), self.epochs, sample_weight)
        return self

    def partial_fit(self, X: Any, y: Any) -> MinnetRegressor:
        """Train for one epoch on ``(X, y)``, starting a network on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        first = not hasattr(self, "model_")
        if first:
            self._check_settings()
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=first)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self._y_is_1d, self.n_outputs_ = y.ndim == 1, n_outputs
            self._build(X.shape[1])
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} target column(s), the regressor was started with {self.n_outputs_}")
        self._train(X, y.reshape(len(y), n_outputs), 1)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            As ``y`` was given to ``fit``.
        """
        out = self._scores(X)
        return out[:, 0] if self._y_is_1d else out

    def _n_network_outputs(self) -> int:
        return self.n_outputs_

    def _loss(self) -> Loss:
        return MSE()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
