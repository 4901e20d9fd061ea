"""Model kinds by the name `cnai.yaml`'s `model.kind` gives:

- `hist_gradient_boosting` (the default), `xgboost`, `lightgbm`, `torch_tabular` (a PyTorch network
  trained with DistributedDataParallel);
- any scikit-learn-compatible estimator class by import path, e.g.
  `sklearn.linear_model.LogisticRegression`, `sklearn.ensemble.RandomForestRegressor`;
- the user's own code, `module:function` (see `cnai.models.user_code`).
"""

from __future__ import annotations

from functools import cache

from cnai.core.errors import ConfigError
from cnai.models.base import ModelKind

NAMED_KINDS = ("hist_gradient_boosting", "xgboost", "lightgbm", "torch_tabular")


@cache
def model_kind(name: str) -> ModelKind:
    if name == "hist_gradient_boosting":
        from cnai.models.hist_gradient_boosting import HistGradientBoosting

        return HistGradientBoosting()
    if name in ("xgboost", "lightgbm"):
        from cnai.models.boosters import LightGBM, XGBoost

        try:
            kind = XGBoost() if name == "xgboost" else LightGBM()
            kind.estimator_class("binary")
        except ImportError as exc:
            package = "xgboost-cpu" if name == "xgboost" else name
            raise ConfigError(f"model.kind: {name} needs its package: pip install '{package}' ({exc})") from exc
        return kind
    if name == "torch_tabular":
        try:
            from cnai.models.torch_tabular import TorchTabular
        except ImportError as exc:  # the CPU build: a plain `pip install torch` pulls the CUDA one
            raise ConfigError(f"model.kind: torch_tabular needs PyTorch: pip install 'torch==2.13.0' ({exc})") from exc
        return TorchTabular()
    if ":" in name:
        from cnai.models.user_code import UserCode

        return UserCode(name)
    if "." in name:
        from cnai.models.sklearn_estimator import SklearnEstimator

        return SklearnEstimator(name)
    raise ConfigError(f"model.kind: {name!r} is not a model kind; use one of {list(NAMED_KINDS)}, a scikit-learn "
                      "estimator's import path (e.g. sklearn.linear_model.LogisticRegression) or module:function")
