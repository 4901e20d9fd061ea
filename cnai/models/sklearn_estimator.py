"""Any scikit-learn estimator by import path (`model.kind: sklearn.linear_model.LogisticRegression`),
with the preprocessing it needs built in: categories one-hot encoded (unseen ones ignored), numbers
imputed with the median and scaled, missing categories imputed as their own value."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from cnai.core.errors import ConfigError
from cnai.core.tasks import is_classification
from cnai.models.base import ModelKind, whole_numbers_restored


def import_estimator(path: str) -> type:
    """The class (or factory) at `package.module.Name`, named in the error when it is not there."""
    module_name, _, attribute = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"model.kind: {path!r} cannot be imported ({exc}); give a class's import path, "
                          "e.g. sklearn.ensemble.RandomForestClassifier") from exc
    if not callable(found):
        raise ConfigError(f"model.kind: {path!r} is not a class")
    return found


def categories_as_text(frame):
    """Categories as text, a missing one as its own value (module-level: a saved model pickles it)."""
    return frame.astype(object).where(frame.notna(), "__missing__").astype(str)


class SklearnEstimator(ModelKind):
    """`estimator_path` names one class; its task is the class's (a classifier needs predict_proba)."""

    name: ClassVar[str] = "sklearn"

    def __init__(self, estimator_path: str) -> None:
        self.estimator_path = estimator_path
        self.cls = import_estimator(estimator_path)

    def estimator_class(self, task: str) -> type:
        from sklearn.base import is_classifier, is_regressor

        probe = self.cls()
        if is_classification(task) and not (is_classifier(probe) and hasattr(probe, "predict_proba")):
            raise ConfigError(f"model.kind: {self.estimator_path} is not a classifier with predict_proba; "
                              f"a {task} task needs one (e.g. sklearn.linear_model.LogisticRegression)")
        if task == "regression" and not is_regressor(probe):
            raise ConfigError(f"model.kind: {self.estimator_path} is not a regressor; a regression task needs one "
                              "(e.g. sklearn.ensemble.RandomForestRegressor)")
        return self.cls

    def cast(self, params: dict[str, Any]) -> dict[str, Any]:
        return whole_numbers_restored(self.cls, params)

    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

        cls = self.estimator_class(task)
        arguments = self.cast(params)
        if "random_state" in cls().get_params() and "random_state" not in arguments:
            arguments["random_state"] = seed
        as_text = FunctionTransformer(categories_as_text, feature_names_out="one-to-one")
        encode = ColumnTransformer(
            [("categorical", make_pipeline(as_text, OneHotEncoder(handle_unknown="ignore")), categorical),
             ("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), numeric)],
            verbose_feature_names_out=False,
        )
        return Pipeline([("encode", encode), ("model", cls(**arguments))])
