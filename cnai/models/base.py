"""The model seam: everything tune, train, evaluate, register, deploy, serving, drift and the
cluster path need from a model goes through a `ModelKind`.

A kind builds a scikit-learn-compatible estimator for a task from hyperparameters (preprocessing
included, so it takes the raw feature columns), checks a search space against that estimator's own
parameter constraints, fits it in stages (what tuning's median stopping judges), saves and loads
it, and says what KServe needs to serve it on a cluster. `cnai.models.kinds.model_kind` picks one
by the name in `cnai.yaml`'s `model.kind`.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd

from cnai.core.config import time_feature_problem
from cnai.core.errors import DataError
from cnai.core.tabular import DATES_SAMPLED, date_text_example
from cnai.core.tasks import is_classification


def leaf_bound(rows: int) -> int:
    """An upper bound for a minimum-rows-per-leaf parameter that leaves a small table learnable."""
    return max(10, min(400, rows // 20))


def feature_kinds(frame: pd.DataFrame, feature_columns: list[str]) -> tuple[list[str], list[str]]:
    """(categorical, numeric) columns, by dtype; text and bool columns are categorical."""
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise DataError(f"feature column(s) {missing} not in the data; it has {list(frame.columns)}")
    # cnai.yaml refuses a column declared a time; this is one derived as a time, or a Feast repo's own.
    # A Spark `date` (to_date(...)) arrives from Parquet as Python dates in an object column.
    if times := [c for c in feature_columns if pd.api.types.is_datetime64_any_dtype(frame[c]) or (
            frame[c].dtype == object and pd.api.types.infer_dtype(frame[c], skipna=True) in ("date", "datetime"))]:
        raise DataError("feature column " + time_feature_problem(times[0], "derived_columns in cnai.yaml"))
    categorical = [c for c in feature_columns
                   if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    for column in categorical:
        if problem := date_text_problem(column, frame[column], "derived_columns in cnai.yaml"):
            raise DataError(f"feature column {problem}")
    return categorical, [c for c in feature_columns if c not in categorical]


def date_text_problem(column: str, values: pd.Series, derive_in: str) -> str | None:
    """Why a text column of dates is no feature, with the number to derive from it in `derive_in`
    (as time_feature_problem says it of a typed time); None for other values."""
    if (example := date_text_example(values)) is None:
        return None
    return (f"{column!r} holds dates written as text (e.g. {example!r}), which a model takes as categories of their "
            f"exact values that no new row's date matches: derive a number from it in {derive_in} (e.g. {column}_year: "
            f"\"year({_to_time(column, example, values)})\", or days between two dates: \"datediff(a, b)\") and use "
            "that instead")


def _to_time(column: str, example: str, values: pd.Series) -> str:
    """The Spark expression of the time written as `example` (one of `values`): ISO text
    (2013-01-31T12:00Z) reads without a pattern; other forms by theirs, day first where a first
    number in the sample of `values` cannot be a month (month first otherwise: the user knows)."""
    day_part = re.split(r"[ T]", example, maxsplit=1)[0]
    separator = "-" if "-" in day_part else "/"
    parts = day_part.split(separator)
    if len(parts[0]) == 4 and separator == "-":
        return f"to_timestamp({column})"
    if len(parts[0]) == 4:
        date = f"yyyy{separator}M{separator}d"
    else:
        year = "yyyy" if len(parts[-1]) == 4 else "yy"
        firsts = values.dropna().head(DATES_SAMPLED).astype(str).str.extract(r"^\s*(\d{1,2})[-/]")[0].dropna().astype(int)
        day_first = bool((firsts > 12).any())
        date = f"d{separator}M{separator}{year}" if day_first else f"M{separator}d{separator}{year}"
    time = example[len(day_part):].strip()
    return f"to_timestamp({column}, '{date}" + ("" if not time else " H:mm:ss" if time.count(":") == 2 else " H:mm") + "')"


# Which rows an empty column is empty in, when its values are all in the holdout (a time split
# trains on the older rows: a column filled in only lately is empty there).
TRAINED_ON = "the {rows} rows trained on (what values it has are all held out)"


def refuse_empty_features(rows: pd.DataFrame, feature_columns: list[str], where: str, rows_named: str = "") -> None:
    """A feature with no value in the rows a model is fitted on has nothing to teach it, and
    scikit-learn's binning fails on it with a bare "window shape cannot be larger than input array
    shape"; a side table's join that matches no event leaves its features so. Refused by name before
    any fit. `rows_named` says which rows they are (every row of `where` by default)."""
    empty = [c for c in feature_columns if len(rows) and c in rows.columns and rows[c].isna().all()]
    if empty:
        raise DataError(f"{where}: feature column(s) {empty} have no value in {rows_named or f'any of its {len(rows)} rows'}; "
                        "a model learns nothing from an empty column: remove it from data.features (or "
                        "data.feature_refs) in cnai.yaml, or give it values at its source")


# A fit on fewer rows runs on one thread: beside another busy process, OpenMP's barriers wait on
# threads the busy cores deschedule, and a fit of a few thousand rows took five to ten times one
# thread's time; alone on the machine, one thread costs at most a fifth at this size (BENCHMARKS.md,
# fit threads).
ONE_THREAD_BELOW = 20_000


@contextlib.contextmanager
def fit_threads(rows: int) -> Iterator[None]:
    """The threads a fit of `rows` rows uses (every thread pool: OpenMP's, BLAS's)."""
    if rows >= ONE_THREAD_BELOW:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def model_input(frame: pd.DataFrame, feature_columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """The feature columns as every kind takes them: a category's missing value is NaN however it
    came (None from Parquet and JSON, NaN from pandas' CSV reader, pd.NA). An encoder sees None as
    a category of its own and NaN as missing: a model fitted on Parquet's None would score the same
    row otherwise when it arrives from a CSV (a new user's finding: up to 0.7 apart)."""
    features = frame[feature_columns]
    mended = {c: features[c].astype(object).where(features[c].notna(), np.nan) for c in categorical
              if features[c].dtype != bool and (features[c].dtype != object or features[c].isna().any())}
    return features.assign(**mended) if mended else features


def boolean_columns(frame: pd.DataFrame, categorical: list[str]) -> list[str]:
    """The categorical columns of true/false values (Spark's boolean): served, they take JSON's true
    and false, and the spellings Spark's cast reads."""
    def is_boolean(values: pd.Series) -> bool:
        present = values.dropna()
        return values.dtype == bool or (len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present))

    return [c for c in categorical if is_boolean(frame[c])]


# What Spark's cast to boolean reads as true or false (any case); anything else is refused.
TRUE_WORDS, FALSE_WORDS = frozenset({"t", "true", "y", "yes", "1"}), frozenset({"f", "false", "n", "no", "0"})


def as_boolean(value: Any, column: str) -> bool | None:
    """One sent value of a boolean feature as the model learnt it: a bool, or None when missing."""
    if value is None or isinstance(value, bool | np.bool_):
        return None if value is None else bool(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return bool(value)
    if isinstance(value, str | bytes):
        word = (value.decode() if isinstance(value, bytes) else value).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
    raise DataError(f"input {column!r} is true or false; {str(value)[:40]!r} is neither (send true, false or null)")


def whole_numbers_restored(estimator_class: type, params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the user wrote them: a KFP dict parameter (a protobuf Struct) and Katib hand
    every number over as a float, so `n_estimators: 30` arrives as 30.0, which scikit-learn refuses.
    A whole float becomes an int only where the estimator's own constraints take the int and refuse
    the float, never where both mean something (`max_features: 1.0` is every feature, 1 is one)."""
    constraints = getattr(estimator_class, "_parameter_constraints", None)
    if not constraints:  # not scikit-learn's own (LightGBM's, XGBoost's classes): an int default, or a count's name
        import inspect

        try:
            defaults = {k: p.default for k, p in inspect.signature(estimator_class).parameters.items()}
        except (TypeError, ValueError):
            defaults = {}

        def whole(name: str) -> bool:
            default = defaults.get(name)
            if isinstance(default, int) and not isinstance(default, bool):
                return True
            return default is None and name.startswith(("n_", "num_", "max_depth", "max_leaves", "max_bin", "min_child_samples"))

        return {k: int(v) if isinstance(v, float) and v.is_integer() and whole(k) else v for k, v in params.items()}
    from sklearn.utils._param_validation import make_constraint

    def accepted(name: str, value: Any) -> bool:
        return any(make_constraint(c).is_satisfied_by(value) for c in constraints.get(name, []))

    return {k: int(v) if isinstance(v, float) and v.is_integer() and not accepted(k, v) and accepted(k, int(v)) else v
            for k, v in params.items()}


def shared_encoding(encoder, features: pd.DataFrame, valid_features: pd.DataFrame, memo: dict | None) -> tuple:
    """(`features` encoded by `encoder` fitted on them, `valid_features` encoded by it), taken from
    `memo` when it holds them for the same encoder settings (the encoder is then left unfitted): the
    trials of one study encode the same rows, and encoding text categories costs a fair part of a
    short trial. A memo serves one pair of row sets only."""
    key = repr(encoder)  # scikit-learn's repr: its settings, which decide the codes
    if memo is not None and key in memo:
        return memo[key]
    pair = encoder.fit_transform(features), encoder.transform(valid_features)
    if memo is not None:
        memo[key] = pair
    return pair


def stages(total: int, every: int) -> list[int]:
    """The rounds at which a staged fit reports: every `every`, and `total`."""
    return [*range(min(every, total), total, every), total]


def predicted_scores(estimator, task: str, features) -> np.ndarray:
    """What the task's metrics score: a regression's predictions, a binary model's probability of
    the positive class, a multiclass model's probabilities of each class."""
    return scores_of(task, estimator.predict(features) if task == "regression" else estimator.predict_proba(features))


def scores_of(task: str, predicted) -> np.ndarray:
    if task == "regression":
        return np.asarray(predicted, dtype=float)
    return predicted[:, 1] if task == "binary" else predicted


class ModelKind(abc.ABC):
    """One kind of model, for every task it supports."""

    name: ClassVar[str]
    # The InferenceService's `modelFormat.name` on a cluster; the ServingRuntime in manifests/ that
    # declares it serves the files below.
    serving_format: ClassVar[str] = "sklearn"
    model_file: ClassVar[str] = "model.joblib"
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "regression")
    # The hyperparameter that counts boosting rounds (tuning's median stopping and Katib's
    # hyperband step through it); None for a kind fitted in one go.
    stage_parameter: ClassVar[str | None] = None
    # Constructor arguments `build` sets itself (or that are not hyperparameters): never tuned.
    fixed_parameters: ClassVar[frozenset[str]] = frozenset({"random_state", "verbose", "warm_start", "n_jobs"})
    # What a classifier's scores are made by (its loss or objective): cnai reads them as the classes'
    # probabilities, so a classification keeps the kind's own; a regression may choose (absolute
    # error, Poisson, ...).
    classifier_fixed_parameters: ClassVar[frozenset[str]] = frozenset()

    def fixed_for(self, task: str) -> frozenset[str]:
        """The constructor arguments cnai sets itself for `task`: neither tuned nor in model.params."""
        return self.fixed_parameters | (self.classifier_fixed_parameters if is_classification(task) else frozenset())

    def default_search_space(self, rows: int) -> list[dict[str, Any]]:
        """What `cnai init` writes as `tuning.parameters` for a table of `rows` rows (Katib's
        ParameterSpec shape); [] when the kind has no sensible default (declare your own)."""
        return []

    @abc.abstractmethod
    def estimator_class(self, task: str) -> type:
        """The class whose constructor the hyperparameters go to (its constraints are checked)."""

    @abc.abstractmethod
    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        """An unfitted estimator taking the raw feature columns (a DataFrame) and encoded labels."""

    def parameter_problems(self, task: str, parameters: list[dict[str, Any]], key: str = "tuning.parameters") -> list[str]:
        """Each declared hyperparameter must be one the estimator takes, and both ends of every range
        (every listed value) ones it accepts, checked as its own `fit` checks them. `key`: where in
        cnai.yaml they are declared (tuning.parameters, or model.params for fixed ones)."""
        cls = self.estimator_class(task)
        fixed = self.fixed_for(task)
        tunable = sorted(set(cls().get_params()) - fixed) if hasattr(cls, "get_params") else None
        problems, unknown = [], []
        for p in parameters:
            if p["name"] in fixed:
                why = ("the seed is tuning.seed" if p["name"] == "random_state"
                       else f"a {task} model's scores are its classes' probabilities; a regression may set it"
                       if p["name"] in self.classifier_fixed_parameters else "the steps choose it")
                problems.append(f"{key}.{p['name']}: set by cnai itself ({why}), not here")
                continue
            if tunable is not None and p["name"] not in tunable:
                unknown.append(p["name"])
                continue
            listed = p["parameter_type"] in ("categorical", "discrete")
            for value in p["values"] if listed else (p["min"], p["max"]):
                value = int(value) if p["parameter_type"] == "int" else value  # YAML numbers may arrive as floats
                problem = self.value_problem(task, p["name"], value)
                if problem:
                    problems.append(f"{key}.{p['name']}: {value!r} is refused by the model "
                                    f"({cls.__name__}: {problem})")
        if unknown:
            # Said once for all of them: a search space written for another kind names several, and
            # the accepted list repeated for each buried them (a new user's four times 17 names).
            problem = (f"{key}.{unknown[0]}: not a parameter the model takes" if len(unknown) == 1 else
                       f"{key}: {', '.join(unknown)} are not parameters the model takes")
            problem += f" ({cls.__name__}); it takes {tunable}"
            if key == "tuning.parameters" and self.default_search_space(1000):
                problem += (f". If they are another kind's search space (model.kind was changed), `cnai init` with "
                            f"your table and --label, plus `--model {self.name} --force`, writes {self.name}'s own "
                            "(it rewrites the whole cnai.yaml: keep a copy of your edits); or rename them by hand")
            problems.insert(0, problem)
        return problems

    def settings_problem(self, fixed: dict[str, Any], parameters: list[dict[str, Any]]) -> str | None:
        """What the fixed (model.params) and searched (tuning.parameters) settings refuse only together,
        which no check of one value finds; None when nothing (most kinds)."""
        return None

    def value_problem(self, task: str, name: str, value: Any) -> str | None:
        """scikit-learn's own check of one constructor argument; None when it is accepted."""
        estimator = self.estimator_class(task)(**self.cast({name: value}))
        validate = getattr(estimator, "_validate_params", None)
        if validate is None or not hasattr(estimator, "_parameter_constraints"):
            return None  # not a scikit-learn estimator's own constraints (XGBoost, LightGBM check in fit)
        try:
            validate()
        except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is both
            return str(exc)
        return None

    def cast(self, params: dict[str, Any]) -> dict[str, Any]:
        """Hyperparameters as the estimator takes them (Katib and JSON hand numbers over as floats)."""
        return dict(params)

    def rounds_fitted(self, estimator) -> int | None:
        """The boosting rounds the fitted estimator holds, where its stage parameter is only a bound
        (a fit that stops early); None for a kind that fits in one go."""
        return None

    def before_fit(self, estimator, features: pd.DataFrame, target) -> None:
        """Settle, from the rows and labels it will be fitted on, what the estimator cannot fit with
        or need not do (in place); most kinds fit with anything."""
        return

    def staged_scores(self, estimator, task: str, features: pd.DataFrame, target, valid_features: pd.DataFrame,
                      total: int, every: int, memo: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Fit on `features`, yielding at each stage (every `every` rounds up to `total`: `stages`)
        the rounds so far and the scores of `valid_features` by the model as it was then, so that a
        tuner can judge and stop early (it stops iterating). Kinds without stages fit once and
        yield once. `memo`: the study's, for what its trials can share (`shared_encoding`)."""
        estimator.fit(features, target)
        yield total, predicted_scores(estimator, task, valid_features)

    def save(self, estimator, directory: Path) -> None:
        joblib.dump(estimator, directory / self.model_file)

    def load(self, directory: Path):
        return joblib.load(directory / self.model_file)

    def fast_predictor(self, estimator, task: str):
        """An object with `scores(features)` faster than the estimator for small batches, or None."""
        return None
