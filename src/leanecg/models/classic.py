"""Classic (non-deep) classifiers on handcrafted features: scikit-learn pipelines and LightGBM.

:func:`build_classic` returns an unfitted :class:`sklearn.pipeline.Pipeline` whose first step maps
``±inf`` to NaN; then, for every model except LightGBM, NaN features (undefined HRV on a three-beat
record, morphology of a flat stretch) are imputed with the training median (columns that are NaN
throughout training become 0), and features are standardised where the model is scale-sensitive
(logistic regression, SVM). LightGBM handles NaN natively (a learned default direction per split).

All models are single-threaded (``n_jobs=1``: CPU is shared) and seeded: two fits with the same seed
and data give identical predictions. LightGBM runs with ``deterministic=True`` and
``force_col_wise=True`` (its documented recipe for reproducible training) and ``verbose=-1``.

Models (:func:`list_classic_models`):

* ``logreg``: multinomial logistic regression (L2, ``C=1``, lbfgs), on standardised features;
* ``svm``: RBF support-vector machine (``C=1``, ``gamma="scale"``) with Platt-sigmoid probabilities
  from 3-fold cross-validated decision values (:class:`~sklearn.calibration.CalibratedClassifierCV`,
  ``ensemble=False``: one SVM refitted on all data; scikit-learn 1.9 deprecates ``SVC(probability=True)``
  in favour of exactly this);
* ``rf``: random forest, 300 trees, ``sqrt`` features per split;
* ``lightgbm``: gradient-boosted trees, 300 rounds of learning rate 0.05, 31 leaves, 80 % row and
  column subsampling;
* ``mlp``: a multilayer perceptron (scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`: two
  ReLU layers of 128 and 64 units, Adam at learning rate 1e-3, L2 1e-4, batches of 200, at most 200
  epochs, stopped when the training loss improves by less than 1e-4 for 10 epochs; no validation-based
  early stopping) on standardised features, with the class weights applied as sample weights
  (:class:`WeightedMLPClassifier`). Unlike the trees it can memorise wrong labels, which is what the
  noisy-label study (:mod:`leanecg.bench.noisy_labels`) needs.

``class_weight="balanced"`` (the default) weights classes inversely to their frequency, which is what
macro-F1 metrics such as the CinC 2017 score reward; pass ``None`` for unweighted training or a
``{class: weight}`` dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from leanecg.errors import LeanECGError
from leanecg.registry import Registry

__all__ = ["WeightedMLPClassifier", "build_classic", "list_classic_models"]


def _inf_to_nan(x: Any) -> np.ndarray:
    """Replace ``±inf`` by NaN (a float copy), so imputation / LightGBM treat them as missing."""
    arr = np.array(x, dtype=np.float64, copy=True)
    arr[np.isinf(arr)] = np.nan
    return arr


def _finite_step() -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(_inf_to_nan, feature_names_out="one-to-one")


def _imputer() -> Any:
    from sklearn.impute import SimpleImputer

    return SimpleImputer(strategy="median", keep_empty_features=True)


def _scaler() -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def _logreg(seed: int, class_weight: Any) -> tuple[list[tuple[str, Any]], str]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=5000, class_weight=class_weight, random_state=seed)
    return [("finite", _finite_step()), ("impute", _imputer()), ("scale", _scaler()), ("model", model)], ""


def _svm(seed: int, class_weight: Any) -> tuple[list[tuple[str, Any]], str]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import SVC

    svc = SVC(kernel="rbf", C=1.0, gamma="scale", class_weight=class_weight, random_state=seed)
    model = CalibratedClassifierCV(
        svc, method="sigmoid", cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=seed), ensemble=False
    )
    steps = [("finite", _finite_step()), ("impute", _imputer()), ("scale", _scaler()), ("model", model)]
    return steps, "estimator__"


def _rf(seed: int, class_weight: Any) -> tuple[list[tuple[str, Any]], str]:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(
        n_estimators=300, max_features="sqrt", class_weight=class_weight, n_jobs=1, random_state=seed
    )
    return [("finite", _finite_step()), ("impute", _imputer()), ("model", model)], ""


def _lightgbm(seed: int, class_weight: Any) -> tuple[list[tuple[str, Any]], str]:
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=10,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        class_weight=class_weight,
        random_state=seed,
        n_jobs=1,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )
    return [("finite", _finite_step()), ("model", model)], ""


class WeightedMLPClassifier(ClassifierMixin, BaseEstimator):
    """:class:`~sklearn.neural_network.MLPClassifier` with a ``class_weight`` (applied as per-sample
    weights in ``fit``, which the scikit-learn estimator itself does not offer).

    ``max_iter`` is the number of epochs (passes over the training set); a run that stops at it is
    expected (no early stopping on held-out data), so its convergence warning is silenced.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (128, 64),
        alpha: float = 1e-4,
        learning_rate_init: float = 1e-3,
        batch_size: int = 200,
        max_iter: int = 200,
        class_weight: Any = None,
        random_state: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> WeightedMLPClassifier:
        """Fit on ``X (N, F)`` and labels ``y (N,)``."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        from sklearn.utils.class_weight import compute_sample_weight

        self.mlp_ = MLPClassifier(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            alpha=self.alpha,
            learning_rate_init=self.learning_rate_init,
            batch_size=max(1, min(int(self.batch_size), len(y))),  # a small set: one batch
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        weights = None if self.class_weight is None else compute_sample_weight(self.class_weight, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.mlp_.fit(X, y, sample_weight=weights)
        self.classes_ = self.mlp_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(N, n_classes)`` class probabilities, columns in the order of ``classes_``."""
        return self.mlp_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """``(N,)`` most probable class of each row."""
        return self.mlp_.predict(X)


def _mlp(seed: int, class_weight: Any) -> tuple[list[tuple[str, Any]], str]:
    model = WeightedMLPClassifier(class_weight=class_weight, random_state=seed)
    return [("finite", _finite_step()), ("impute", _imputer()), ("scale", _scaler()), ("model", model)], ""


_Builder = Callable[[int, Any], tuple[list[tuple[str, Any]], str]]
_BUILDERS: Registry[_Builder] = Registry("classic model", "model")
for _name, _builder in (
    ("logreg", _logreg),
    ("svm", _svm),
    ("rf", _rf),
    ("lightgbm", _lightgbm),
    ("mlp", _mlp),
):
    _BUILDERS.register(_name, _builder)
del _name, _builder


def list_classic_models() -> list[str]:
    """Names accepted by :func:`build_classic`."""
    return _BUILDERS.list()


def build_classic(
    name: str,
    seed: int = 0,
    class_weight: str | Mapping[Any, float] | None = "balanced",
    **params: Any,
) -> Pipeline:
    """An unfitted, seeded classic classifier pipeline (see the module docstring).

    Args:
        name: one of :func:`list_classic_models` (``logreg``, ``svm``, ``rf``, ``lightgbm``, ``mlp``).
        seed: random seed of every random component.
        class_weight: ``"balanced"``, ``None`` or ``{class label: weight}``.
        **params: hyperparameters of the underlying estimator, overriding the defaults
            (``n_estimators=500`` for ``rf`` / ``lightgbm``, ``C=10`` for ``logreg`` / ``svm``, ...).

    Returns:
        A scikit-learn :class:`~sklearn.pipeline.Pipeline` with ``fit``, ``predict``, ``predict_proba``
        (columns in the order of ``pipeline.classes_``).

    Raises:
        LeanECGError: unknown model name, bad seed, class weight or hyperparameter.
    """
    builder = _BUILDERS.get(name)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise LeanECGError("seed", f"must be a non-negative integer, got {seed!r}")
    if not (class_weight is None or class_weight == "balanced" or isinstance(class_weight, Mapping)):
        raise LeanECGError("class_weight", f"must be 'balanced', None or a dict, got {class_weight!r}")
    cw = dict(class_weight) if isinstance(class_weight, Mapping) else class_weight
    steps, prefix = builder(int(seed), cw)
    pipe = Pipeline(steps)
    if params:
        known = {k[len(f"model__{prefix}") :] for k in pipe.get_params() if k.startswith(f"model__{prefix}")}
        unknown = sorted(set(params) - known)
        if unknown:
            raise LeanECGError("params", f"unknown hyperparameter(s) for {name}: {', '.join(unknown)}")
        pipe.set_params(**{f"model__{prefix}{k}": v for k, v in params.items()})
    return pipe
