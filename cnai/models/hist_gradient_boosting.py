"""scikit-learn's histogram gradient boosting (classifier or regressor), the default kind.

Ordinal-encoded categories into HistGradientBoosting with native categorical splits. Pure
scikit-learn on purpose: `model.joblib` is what KServe's sklearn runtime loads. For small batches
it scores through the fitted encoder tables and trees directly (`DirectPredictor`; binary
classifiers' trees compiled to Python, `cnai.models.compiled_forest`), the same numbers as scikit-learn.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cnai.core.errors import ConfigError
from cnai.models.base import ModelKind, leaf_bound, predicted_scores, scores_of, shared_encoding, stages

INTEGER_PARAMETERS = {"max_iter", "max_leaf_nodes", "min_samples_leaf", "max_depth", "max_bins", "n_iter_no_change"}
QUANTILE_NEEDED = ("model.params.loss: 'quantile' needs the quantile to predict as well "
                   "(model.params.quantile, or a tuning parameter of that name, e.g. 0.9)")


class HistGradientBoosting(ModelKind):
    name: ClassVar[str] = "hist_gradient_boosting"
    stage_parameter: ClassVar[str | None] = "max_iter"
    fixed_parameters: ClassVar[frozenset[str]] = ModelKind.fixed_parameters | {
        "categorical_features", "interaction_cst", "monotonic_cst"}
    classifier_fixed_parameters: ClassVar[frozenset[str]] = frozenset({"loss"})

    def default_search_space(self, rows: int) -> list[dict[str, Any]]:
        return [
            {"name": "learning_rate", "parameter_type": "double", "min": 0.03, "max": 0.3, "log": True},
            {"name": "max_leaf_nodes", "parameter_type": "int", "min": 15, "max": 127},
            {"name": "min_samples_leaf", "parameter_type": "int", "min": 5, "max": leaf_bound(rows)},
            {"name": "l2_regularization", "parameter_type": "double", "min": 0.0, "max": 1.0},
            {"name": "max_iter", "parameter_type": "int", "min": 50, "max": 250, "step": 50},
        ]

    def estimator_class(self, task: str) -> type:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        return HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier

    def cast(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: (int(v) if k in INTEGER_PARAMETERS else float(v)) if isinstance(v, int | float) and not isinstance(v, bool)
                else v for k, v in params.items()}

    def value_problem(self, task: str, name: str, value: Any) -> str | None:
        if name == "loss":  # scikit-learn's own message also offers a loss object, which cnai.yaml cannot hold
            accepted = sorted(next(c.options for c in self.estimator_class(task)._parameter_constraints["loss"]
                                   if hasattr(c, "options")))
            return None if value in accepted else f"use one of {accepted}"
        return super().value_problem(task, name, value)

    def settings_problem(self, fixed: dict[str, Any], parameters: list[dict[str, Any]]) -> str | None:
        """What `build` refuses of model.params and tuning.parameters together, for the check before
        the run (a quantile loss without its quantile); None when nothing."""
        searched = {p["name"]: p for p in parameters}
        losses = {fixed.get("loss"), *(searched.get("loss", {}).get("values") or [])}
        if "quantile" in losses and fixed.get("quantile") is None and "quantile" not in searched:
            return QUANTILE_NEEDED
        return None

    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        cast = self.cast(params)
        if cast.get("loss") == "quantile" and cast.get("quantile") is None:  # else fit fails on a None it names no key of
            raise ConfigError(QUANTILE_NEEDED)
        # The model takes at most max_bins categories per column: a column with more (keys such as a
        # plane's tail number) keeps its most frequent ones, the rest share one "infrequent" code.
        encoder = ColumnTransformer(
            [
                ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                               encoded_missing_value=np.nan,
                                               max_categories=cast.get("max_bins", self.estimator_class(task)().max_bins)),
                 categorical),
                ("numeric", "passthrough", numeric),
            ],
            verbose_feature_names_out=False,
        )
        # scikit-learn's own early stopping stays as it is by default ("auto": on past 10,000 rows, on
        # a tenth of the fitted rows), in trials and in the final fit alike: max_iter is a bound.
        model = self.estimator_class(task)(
            categorical_features=[True] * len(categorical) + [False] * len(numeric), random_state=seed, **cast)
        return Pipeline([("encode", encoder), ("model", model)])

    def rounds_fitted(self, estimator) -> int | None:
        return int(estimator.named_steps["model"].n_iter_)

    def before_fit(self, estimator, features: pd.DataFrame, target) -> None:
        """scikit-learn's early stopping holds out a tenth of a classifier's rows stratified by class,
        which cannot split a class of one row (fit failed): such a fit runs every round instead.
        The encoder's limit of max_bins categories is lifted where no column reaches it: the codes
        are the same, and counting every value (in Python, for text) was most of the encoder's fit."""
        from sklearn.base import is_classifier

        model = estimator.named_steps["model"]
        if is_classifier(model) and model.early_stopping in ("auto", True) and np.unique(target, return_counts=True)[1].min() < 2:
            model.set_params(early_stopping=False)
        _, ordinal, categorical = estimator.named_steps["encode"].transformers[0]
        limit = ordinal.max_categories
        # The encoder groups a column's rarest categories once it has `limit` of them (scikit-learn's
        # _identify_infrequent); a set compares values as its own does. Missing is counted as one
        # too, which scikit-learn does not: at worst the limit stays where it could have gone.
        if limit is not None and all(_categories(features[c]) < limit for c in categorical):
            ordinal.set_params(max_categories=None)

    def staged_scores(self, estimator, task: str, features: pd.DataFrame, target, valid_features: pd.DataFrame,
                      total: int, every: int, memo: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
        # The encoder is fitted once (a study's trials share it): refitting it with each stage cost as much as the stage's trees.
        self.before_fit(estimator, features, target)
        encoder, model = estimator.named_steps["encode"], estimator.named_steps["model"]
        fit_rows, valid = shared_encoding(encoder, features, valid_features, memo)
        reports = stages(total, every)
        model.set_params(warm_start=True, max_iter=reports[0])
        model.fit(fit_rows, target)
        yield reports[0], predicted_scores(model, task, valid)
        if model.n_iter_ < reports[0] or len(reports) == 1:  # it stopped early: nothing past its stop
            return
        # The other stages in one more fit, each scored from its first rounds: a warm start bins the
        # rows again and predicts them with every tree so far, which in a fit per stage cost more
        # than the trees (BENCHMARKS.md, tuning). The trees are those a fit per stage grows, early
        # stopping included (tested), and a stage past the stop is not reported, as a fit of its own
        # would have stopped there.
        model.set_params(max_iter=total)
        model.fit(fit_rows, target)
        staged = model.staged_predict(valid) if task == "regression" else model.staged_predict_proba(valid)
        waiting = iter(reports[1:])
        report = next(waiting)
        for rounds, predicted in enumerate(staged, start=1):
            while report is not None and rounds == min(report, model.n_iter_):
                yield report, scores_of(task, predicted)
                report = None if model.n_iter_ < report else next(waiting, None)
            if report is None:
                return

    def fast_predictor(self, estimator, task: str):
        return DirectPredictor.of(estimator, task)


_NOT_YET = object()


def _codes_of(ordinal, columns: list[str]) -> list[dict]:
    """Category -> code per column, as `ordinal.transform` gives them."""
    longest = max(len(values) for values in ordinal.categories_)
    frame = pd.DataFrame({column: [*values, *[values[0]] * (longest - len(values))]
                          for column, values in zip(columns, ordinal.categories_, strict=True)}).astype(object)
    encoded = ordinal.transform(frame)
    return [{value: float(code) for value, code in zip(values, encoded[: len(values), index], strict=True) if not _is_nan(value)}
            for index, values in enumerate(ordinal.categories_)]


class DirectPredictor:
    """The fitted pipeline's own encoder tables and model, called without the per-call cost of
    scikit-learn's Pipeline and ColumnTransformer (pandas checks, output wrapping: most of a
    single-row request's time), and for small batches of a binary classifier through its trees
    compiled to Python (`cnai.models.compiled_forest`). Same numbers as the pipeline (tested)."""

    COMPILED_BELOW = 128  # rows; past ~170 scikit-learn's Cython loop over the batch is faster
    SINGLE_THREAD_BELOW = 5_000  # rows; for fewer, starting OpenMP threads costs more than it saves

    def __init__(self, categorical: list[str], codes: list[dict], numeric: list[str], model, task: str) -> None:
        from threadpoolctl import ThreadpoolController

        self.categorical, self.codes, self.numeric, self.model, self.task = categorical, codes, numeric, model, task
        self.threads = ThreadpoolController()
        self._compiled: Any = _NOT_YET if task == "binary" else None

    @property
    def compiled(self):
        """The compiled classifier (None where it cannot be), made on first use: compiling and checking
        takes a moment that steps scoring whole datasets never need to pay."""
        if self._compiled is _NOT_YET:
            from cnai.models.compiled_forest import compile_forest

            self._compiled = compile_forest(self.model)
        return self._compiled

    @classmethod
    def of(cls, estimator, task: str) -> DirectPredictor | None:
        """For the estimator `HistGradientBoosting.build` makes; None for anything else (used as is)."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        try:
            encode, model = estimator.named_steps["encode"], estimator.named_steps["model"]
            (_, ordinal, categorical), (_, numeric_step, numeric) = encode.transformers_[:2]
        except (AttributeError, KeyError, ValueError):
            return None
        if not (isinstance(estimator, Pipeline) and isinstance(ordinal, OrdinalEncoder)
                and isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor)
                and len(encode.transformers_) == 2
                and (numeric_step == "passthrough" or type(numeric_step).__name__ == "FunctionTransformer")
                and np.isnan(ordinal.unknown_value) and np.isnan(ordinal.encoded_missing_value)):
            return None
        # NaN and unseen categories encode as NaN, as the OrdinalEncoder does; the codes are the
        # encoder's own answers for its categories (infrequent ones share one; None is one).
        # (With no categorical column the ColumnTransformer never fits the encoder: no categories_.)
        codes = _codes_of(ordinal, list(categorical)) if len(categorical) else []
        return cls(list(categorical), codes, list(numeric), model, task)

    def encode(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        """The matrix the model takes: category codes (NaN for missing or unseen), then numbers."""
        rows = len(features[(self.categorical + self.numeric)[0]])
        encoded = np.empty((rows, len(self.categorical) + len(self.numeric)), dtype=float)
        for index, (column, codes) in enumerate(zip(self.categorical, self.codes, strict=True)):
            values = features[column]
            encoded[:, index] = [codes.get(value, np.nan) if not _is_nan(value) else np.nan
                                 for value in (values.tolist() if isinstance(values, pd.Series) else values)]
        for index, column in enumerate(self.numeric, start=len(self.categorical)):
            values = features[column]
            encoded[:, index] = (values.to_numpy(dtype=float, na_value=np.nan) if isinstance(values, pd.Series)
                                 else np.asarray([np.nan if v is None else v for v in values], dtype=float))
        return encoded

    def encode_rows(self, features: Mapping[str, Sequence]) -> list[list[float]]:
        """`encode` for a few rows given as plain lists, in plain Python: for one row numpy's
        per-column conversions cost more than walking the trees. Same values: `float()` converts
        what `np.asarray(dtype=float)` does, and a None number is missing."""
        nan = math.nan
        columns = [[nan if _is_nan(value) else codes.get(value, nan) for value in features[column]]
                   for column, codes in zip(self.categorical, self.codes, strict=True)]
        columns += [[nan if value is None else float(value) for value in features[column]] for column in self.numeric]
        return [list(row) for row in zip(*columns, strict=True)]

    def scores(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        rows = len(features[(self.categorical + self.numeric)[0]])
        if rows < self.COMPILED_BELOW and self.compiled is not None:
            if isinstance(features, pd.DataFrame):
                return self.compiled.predict_proba(self.encode(features))
            return self.compiled.predict_proba_rows(self.encode_rows(features))
        encoded = self.encode(features)
        few_rows = len(encoded) < self.SINGLE_THREAD_BELOW
        with self.threads.limit(limits=1, user_api="openmp") if few_rows else contextlib.nullcontext():
            if self.task == "regression":
                return self.model.predict(encoded)
            probability = self.model.predict_proba(encoded)
            return probability[:, 1] if self.task == "binary" else probability


def _categories(values: pd.Series) -> int:
    """The categories in `values`: its distinct values, and missing (NaN, as `model_input` writes it)
    as one."""
    present = values.dropna()
    return len(set(present.tolist())) + int(len(present) < len(values))


def _is_nan(value) -> bool:
    """What the OrdinalEncoder reads as missing (its encoded_missing_value). None is not: fitted on
    text with None in it, the encoder keeps None as a category of its own, so the codes hold it."""
    return isinstance(value, float) and math.isnan(value)
