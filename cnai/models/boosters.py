"""XGBoost and LightGBM (the real packages), through their scikit-learn estimators, behind the
same ordinal encoding as histogram gradient boosting (categories as codes, missing and unseen as
NaN, which both libraries route natively). Besides `model.joblib` (what our model server loads) the
fitted booster is saved in the library's own format (`model.bst`), the file KServe's xgboost and
lightgbm runtimes load on a cluster; those runtimes take the encoded matrix, so the encoder's
tables are saved beside it in `model_meta.json` (`categorical` order and the codes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd

from cnai.models.base import ModelKind, leaf_bound, predicted_scores, scores_of, shared_encoding, stages

INTEGER_PARAMETERS = {"n_estimators", "max_depth", "num_leaves", "min_child_samples", "max_bin", "min_child_weight"}


class _Booster(ModelKind):
    stage_parameter: ClassVar[str | None] = "n_estimators"
    fixed_parameters: ClassVar[frozenset[str]] = ModelKind.fixed_parameters | {
        "enable_categorical", "num_class", "verbosity", "random_seed", "seed", "callbacks"}
    classifier_fixed_parameters: ClassVar[frozenset[str]] = frozenset({"objective"})

    def cast(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: int(v) if k in INTEGER_PARAMETERS and isinstance(v, int | float) else v for k, v in params.items()}

    def _encoder(self, categorical: list[str], numeric: list[str]):
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OrdinalEncoder

        return ColumnTransformer(
            [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                            encoded_missing_value=np.nan), categorical),
             ("numeric", "passthrough", numeric)],
            verbose_feature_names_out=False)

    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        from sklearn.pipeline import Pipeline

        return Pipeline([("encode", self._encoder(categorical, numeric)),
                         # The kind's defaults (tree_method: hist) give way to the user's; its fixed ones cannot be given.
                         ("model", self.estimator_class(task)(**{**self._fixed(seed), **self.cast(params)}))])

    def _fixed(self, seed: int) -> dict[str, Any]:
        return {"random_state": seed, "n_jobs": 1}

    def value_problem(self, task: str, name: str, value: Any) -> str | None:
        """The library's own check, by fitting the value on a tiny table: XGBoost and LightGBM check
        their arguments only in fit, which would otherwise fail the first trial after the data steps."""
        import re
        import warnings

        rng = np.random.default_rng(0)
        rows = 60
        features = rng.normal(size=(rows, 2))
        # A regression's label between 0 and 1: in range for every objective (Poisson's, gamma's, logistic's)
        target = {"binary": np.arange(rows) % 2, "multiclass": np.arange(rows) % 3}.get(task, rng.uniform(0.05, 0.95, rows))
        params = {**self._fixed(0), **({} if name == "n_estimators" else {"n_estimators": 2}), **self.cast({name: value})}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.estimator_class(task)(**params).fit(features, target)
        except Exception as exc:  # the libraries raise their own error classes (XGBoostError, LightGBMError)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return re.sub(r" at /\S+, line \d+ ?\.?$", "", first)[:300]  # LightGBM's C++ source position
        return None

    def staged_scores(self, estimator, task: str, features: pd.DataFrame, target, valid_features: pd.DataFrame,
                      total: int, every: int, memo: dict | None = None) -> Iterator[tuple[int, np.ndarray]]:
        # The first stage alone, so that a weak trial stops after it; then one fit of every round,
        # the stages between scored from its first rounds: the trees a fit of that many rounds grows
        # (tested), where each round only adds a tree. Dart re-weighs the earlier trees and a linear
        # booster has no trees: those fit each stage from scratch (both libraries' warm start
        # differs). The encoder does not change between stages: it is fitted once (a study's trials share it).
        encoder, model = estimator.named_steps["encode"], estimator.named_steps["model"]
        fit_rows, valid = shared_encoding(encoder, features, valid_features, memo)
        first, *rest = stages(total, every)
        if not self.adds_trees(model):
            for report in (first, *rest):
                model.set_params(n_estimators=report)
                model.fit(fit_rows, target)
                yield report, predicted_scores(model, task, valid)
            return
        model.set_params(n_estimators=first)
        model.fit(fit_rows, target)
        yield first, self._first_rounds_scores(model, task, valid, first)
        if rest:
            model.set_params(n_estimators=total)
            model.fit(fit_rows, target)
            for report in rest:
                yield report, self._first_rounds_scores(model, task, valid, report)

    def adds_trees(self, model) -> bool:
        """Whether each boosting round only adds a tree (its first rounds are a model of their own)."""
        raise NotImplementedError(self.name)

    def _first_rounds_scores(self, model, task: str, features, rounds: int) -> np.ndarray:
        predict = model.predict if task == "regression" else model.predict_proba
        return scores_of(task, predict(features, **self.first_rounds(rounds)))

    def first_rounds(self, rounds: int) -> dict[str, Any]:
        """The predict argument that scores with the first `rounds` trees alone."""
        raise NotImplementedError(self.name)

    def save(self, estimator, directory: Path) -> None:
        joblib.dump(estimator, directory / self.model_file)
        self.save_native(estimator.named_steps["model"], directory / self.native_file)

    native_file: ClassVar[str] = "model.bst"


class XGBoost(_Booster):
    name: ClassVar[str] = "xgboost"
    serving_format: ClassVar[str] = "xgboost"

    def first_rounds(self, rounds: int) -> dict[str, Any]:
        return {"iteration_range": (0, rounds)}

    def adds_trees(self, model) -> bool:
        return model.get_params().get("booster") in (None, "gbtree")

    def default_search_space(self, rows: int) -> list[dict[str, Any]]:
        return [
            {"name": "learning_rate", "parameter_type": "double", "min": 0.03, "max": 0.3, "log": True},
            {"name": "max_depth", "parameter_type": "int", "min": 3, "max": 10},
            {"name": "min_child_weight", "parameter_type": "double", "min": 1.0, "max": 20.0, "log": True},
            {"name": "reg_lambda", "parameter_type": "double", "min": 0.1, "max": 10.0, "log": True},
            {"name": "n_estimators", "parameter_type": "int", "min": 50, "max": 250, "step": 50},
        ]

    def estimator_class(self, task: str) -> type:
        import xgboost

        return xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier

    def _fixed(self, seed: int) -> dict[str, Any]:
        return {"random_state": seed, "n_jobs": 1, "tree_method": "hist"}

    def save_native(self, model, path: Path) -> None:
        model.get_booster().save_model(str(path.with_suffix(".json")))
        path.with_suffix(".json").replace(path)  # KServe's xgboost runtime loads model.bst (any format xgboost reads)


class LightGBM(_Booster):
    name: ClassVar[str] = "lightgbm"
    serving_format: ClassVar[str] = "lightgbm"

    def first_rounds(self, rounds: int) -> dict[str, Any]:
        return {"num_iteration": rounds}

    def adds_trees(self, model) -> bool:
        return model.get_params().get("boosting_type") in (None, "gbdt", "goss")

    def default_search_space(self, rows: int) -> list[dict[str, Any]]:
        return [
            {"name": "learning_rate", "parameter_type": "double", "min": 0.03, "max": 0.3, "log": True},
            {"name": "num_leaves", "parameter_type": "int", "min": 15, "max": 127},
            {"name": "min_child_samples", "parameter_type": "int", "min": 5, "max": leaf_bound(rows)},
            {"name": "reg_lambda", "parameter_type": "double", "min": 0.0, "max": 5.0},
            {"name": "n_estimators", "parameter_type": "int", "min": 50, "max": 250, "step": 50},
        ]
    fixed_parameters: ClassVar[frozenset[str]] = _Booster.fixed_parameters | {"verbose"}

    def estimator_class(self, task: str) -> type:
        import lightgbm

        return lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier

    def _fixed(self, seed: int) -> dict[str, Any]:
        return {"random_state": seed, "n_jobs": 1, "verbose": -1}

    def save_native(self, model, path: Path) -> None:
        model.booster_.save_model(str(path))
