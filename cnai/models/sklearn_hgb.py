"""The model shared by tune, train, evaluate and serving: one estimator, one split, one set of metrics."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from cnai.core.errors import ConfigError, DataError

MODEL_FILE = "model.joblib"  # what KServe's sklearn runtime loads on a cluster
META_FILE = "model_meta.json"
HIGHER_IS_BETTER = {"roc_auc": True, "average_precision": True, "accuracy": True, "f1": True, "log_loss": False}


def split_by_time(frame: pd.DataFrame, timestamp: str, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the past, hold out the most recent `holdout_fraction`: how the model will be used."""
    ordered = frame.sort_values(timestamp, kind="stable")
    cut = int(len(ordered) * (1 - holdout_fraction))
    if cut < 1 or cut >= len(ordered):
        raise DataError(f"cannot hold out {holdout_fraction:.0%} of {len(ordered)} rows")
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)


def feature_kinds(frame: pd.DataFrame, feature_columns: list[str]) -> tuple[list[str], list[str]]:
    """(categorical, numeric) columns, by dtype; text columns are categorical."""
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise DataError(f"feature column(s) {missing} not in the data; it has {list(frame.columns)}")
    categorical = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in feature_columns if c not in categorical]
    return categorical, numeric


def build_estimator(categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int = 0):
    """Ordinal-encoded categories into scikit-learn's histogram gradient boosting.

    Pure scikit-learn on purpose: KServe's sklearn runtime can load the same `model.joblib`.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encoder = ColumnTransformer(
        [
            ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                           encoded_missing_value=np.nan), categorical),
            ("numeric", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    classifier = HistGradientBoostingClassifier(
        categorical_features=[True] * len(categorical) + [False] * len(numeric),
        early_stopping=False,
        random_state=seed,
        **_classifier_params(params),
    )
    return Pipeline([("encode", encoder), ("classify", classifier)])


def _classifier_params(params: dict[str, Any]) -> dict[str, Any]:
    casts = {"max_iter": int, "max_leaf_nodes": int, "min_samples_leaf": int, "max_depth": int, "max_bins": int}
    return {k: casts.get(k, float)(v) if isinstance(v, int | float) else v for k, v in params.items()}


def check_hyperparameters(parameters: list[dict[str, Any]]) -> None:
    """Both ends of every numeric range and every listed value must be ones the classifier accepts
    (scikit-learn's own parameter constraints, checked as `fit` checks them), so no trial fails on
    an argument after the data steps have run."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    problems = []
    for p in parameters:
        listed = p["parameter_type"] in ("categorical", "discrete")
        for value in p["values"] if listed else (p["min"], p["max"]):
            value = int(value) if p["parameter_type"] == "int" else value  # cnai.yaml's numbers arrive as floats
            try:
                HistGradientBoostingClassifier(**_classifier_params({p["name"]: value}))._validate_params()
            except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is both
                problems.append(f"tuning.parameters.{p['name']}: {value!r} is refused by the model ({exc})")
    if problems:
        raise ConfigError("; ".join(problems))


def score(metric: str, y_true, probability) -> float:
    y_true = np.asarray(y_true).astype(int)
    probability = np.asarray(probability, dtype=float)
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_true, probability))
    if metric == "average_precision":
        return float(skm.average_precision_score(y_true, probability))
    if metric == "log_loss":
        return float(skm.log_loss(y_true, probability, labels=[0, 1]))
    predicted = (probability >= 0.5).astype(int)
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, predicted))
    if metric == "f1":
        return float(skm.f1_score(y_true, predicted, zero_division=0))
    raise ValueError(f"unknown metric {metric!r}; use one of {sorted(HIGHER_IS_BETTER)}")


def all_scores(y_true, probability) -> dict[str, float]:
    return {name: round(score(name, y_true, probability), 6) for name in HIGHER_IS_BETTER}


def save_model(estimator, directory: str | Path, meta: dict[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, directory / MODEL_FILE)
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, default=str))


class LoadedModel:
    """A saved model with the columns it expects; `predict_proba` takes raw features, as a DataFrame
    or as a mapping of column name to a list of values (what the model server has)."""

    def __init__(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.directory = directory
        try:
            self.meta = json.loads((directory / META_FILE).read_text())
            self.estimator = joblib.load(directory / MODEL_FILE)
        except FileNotFoundError as exc:
            raise DataError(f"{directory}: not a saved model ({exc.filename} is missing)") from exc
        self.feature_columns: list[str] = self.meta["feature_columns"]
        self._direct = DirectPredictor.of(self.estimator)

    def prepare_for_serving(self) -> None:
        """Compile the model now rather than on the first small request (a model server's load)."""
        if self._direct is not None:
            _ = self._direct.compiled

    def predict_proba(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        missing = [c for c in self.feature_columns if c not in features]
        if missing:
            raise DataError(f"input lacks feature column(s) {missing}")
        try:
            if self._direct is not None:
                return self._direct.predict_proba(features)
            frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(dict(features))
            return self.estimator.predict_proba(frame[self.feature_columns])[:, 1]
        except (ValueError, TypeError) as exc:
            numeric = self._direct.numeric if self._direct else []
            text = [c for c in numeric if _holds_text(features[c])]
            where = f"numeric feature(s) {text} hold text" if text else "features could not be scored"
            raise DataError(f"{where}: {exc}") from exc


def _holds_text(values) -> bool:
    if isinstance(values, pd.Series):
        return not pd.api.types.is_numeric_dtype(values)
    return any(isinstance(v, str | bytes) for v in values)


_NOT_YET = object()


class DirectPredictor:
    """The fitted pipeline's own encoder tables and classifier, called without the per-call cost of
    scikit-learn's Pipeline and ColumnTransformer (pandas checks, output wrapping: ~4 ms of a
    single-row request's 4.5 ms), and for small batches through the classifier compiled to Python
    (`cnai.models.compiled_forest`: ~0.02 ms a row instead of ~2 ms a call). Same numbers as
    `estimator.predict_proba` (tested)."""

    COMPILED_BELOW = 128  # rows; past ~170 scikit-learn's Cython loop over the batch is faster
    SINGLE_THREAD_BELOW = 5_000  # rows; for fewer, starting OpenMP threads costs more than it saves

    def __init__(self, categorical: list[str], codes: list[dict], numeric: list[str], classifier) -> None:
        from threadpoolctl import ThreadpoolController

        self.categorical, self.codes, self.numeric, self.classifier = categorical, codes, numeric, classifier
        self.threads = ThreadpoolController()
        self._compiled: Any = _NOT_YET

    @property
    def compiled(self):
        """The compiled classifier (None where it cannot be), made on first use: compiling and checking
        takes ~0.4 s, which steps that only score whole datasets never need to pay."""
        if self._compiled is _NOT_YET:
            from cnai.models.compiled_forest import compile_forest

            self._compiled = compile_forest(self.classifier)
        return self._compiled

    @classmethod
    def of(cls, estimator) -> DirectPredictor | None:
        """For the estimator `build_estimator` makes; None for anything else (it is used as is)."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        try:
            encode, classify = estimator.named_steps["encode"], estimator.named_steps["classify"]
            (_, ordinal, categorical), (_, numeric_step, numeric) = encode.transformers_[:2]
        except (AttributeError, KeyError, ValueError):
            return None
        if not (isinstance(estimator, Pipeline) and isinstance(ordinal, OrdinalEncoder)
                and isinstance(classify, HistGradientBoostingClassifier) and len(encode.transformers_) == 2
                and (numeric_step == "passthrough" or type(numeric_step).__name__ == "FunctionTransformer")
                and np.isnan(ordinal.unknown_value) and np.isnan(ordinal.encoded_missing_value)):
            return None
        # Missing values and unseen categories both encode as NaN, as the OrdinalEncoder does.
        codes = [{value: float(code) for code, value in enumerate(values) if not pd.isna(value)}
                 for values in ordinal.categories_]
        return cls(list(categorical), codes, list(numeric), classify)

    def encode(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        """The matrix the classifier takes: category codes (NaN for missing or unseen), then numbers."""
        rows = len(features[(self.categorical + self.numeric)[0]])
        encoded = np.empty((rows, len(self.categorical) + len(self.numeric)), dtype=float)
        for index, (column, codes) in enumerate(zip(self.categorical, self.codes, strict=True)):
            values = features[column]
            encoded[:, index] = [codes.get(value, np.nan) if isinstance(value, str) else np.nan
                                 for value in (values.tolist() if isinstance(values, pd.Series) else values)]
        for index, column in enumerate(self.numeric, start=len(self.categorical)):
            values = features[column]
            encoded[:, index] = (values.to_numpy(dtype=float, na_value=np.nan) if isinstance(values, pd.Series)
                                 else np.asarray(values, dtype=float))
        return encoded

    def encode_rows(self, features: Mapping[str, Sequence]) -> list[list[float]]:
        """`encode` for a few rows given as plain lists, in plain Python: for one row numpy's
        per-column conversions cost more than walking the trees (18 µs against 8 µs here). Same values:
        `float()` converts what `np.asarray(dtype=float)` does, and None is missing."""
        nan = math.nan
        columns = [[codes.get(value, nan) if isinstance(value, str) else nan for value in features[column]]
                   for column, codes in zip(self.categorical, self.codes, strict=True)]
        columns += [[nan if value is None else float(value) for value in features[column]] for column in self.numeric]
        return [list(row) for row in zip(*columns, strict=True)]

    def predict_proba(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        rows = len(features[(self.categorical + self.numeric)[0]])
        if rows < self.COMPILED_BELOW and self.compiled is not None:
            if isinstance(features, pd.DataFrame):
                return self.compiled.predict_proba(self.encode(features))
            return self.compiled.predict_proba_rows(self.encode_rows(features))
        encoded = self.encode(features)
        few_rows = len(encoded) < self.SINGLE_THREAD_BELOW
        with self.threads.limit(limits=1, user_api="openmp") if few_rows else contextlib.nullcontext():
            return self.classifier.predict_proba(encoded)[:, 1]


ITERATIONS_PER_REPORT = 50  # boosting rounds between intermediate reports to the median pruner



def tuning_split(frame: pd.DataFrame, timestamp: str, holdout_fraction: float, max_tuning_rows: int):
    """(fit, validation) from the training part: the holdout is cut off first and never seen."""
    train, _holdout = split_by_time(frame, timestamp, holdout_fraction)
    return split_by_time(train.tail(max_tuning_rows), timestamp, 0.2)



def staged_scores(params: dict[str, Any], fit_part: pd.DataFrame, valid_part: pd.DataFrame, feature_columns: list[str],
                  label: str, metric: str, seed: int):
    """Yield (iterations, validation score) every ITERATIONS_PER_REPORT boosting rounds.

    The intermediate scores are what early stopping judges: Optuna's pruner locally, Katib's
    medianstop (reading the trial's stdout) on a cluster.
    """
    categorical, numeric = feature_kinds(fit_part, feature_columns)
    total = int(params.get("max_iter", 100))
    estimator = build_estimator(categorical, numeric, {**params, "max_iter": min(ITERATIONS_PER_REPORT, total)}, seed)
    estimator.set_params(classify__warm_start=True)
    for step in range(min(ITERATIONS_PER_REPORT, total), total + 1, ITERATIONS_PER_REPORT):
        estimator.set_params(classify__max_iter=step)
        estimator.fit(fit_part[feature_columns], fit_part[label].astype(int))
        yield step, score(metric, valid_part[label], estimator.predict_proba(valid_part[feature_columns])[:, 1])

