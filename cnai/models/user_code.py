"""The user's own model (TFX's module file): `model.kind: my_models:build` names a function in the
project (importable from the folder holding `cnai.yaml`; on a cluster, copied into the image) that
returns a scikit-learn-compatible estimator taking the raw feature columns.

The function is called with whichever of these keyword arguments it declares: `task`
("binary"/"multiclass"/"regression"), `categorical` and `numeric` (column names), `params` (the
tuned and fixed hyperparameters) and `seed`. For classification the estimator is fitted on the
class positions 0..k-1 and must have `predict_proba`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, ClassVar

from cnai.core.errors import ConfigError
from cnai.models.base import ModelKind


class UserCode(ModelKind):
    name: ClassVar[str] = "user"

    def __init__(self, reference: str) -> None:
        module_name, _, function_name = reference.partition(":")
        try:
            self.function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"model.kind: {reference!r}: cannot import {function_name!r} from {module_name!r} ({exc}); "
                              "the module must be importable from the project folder (the one holding cnai.yaml)") from exc
        self.reference = reference
        accepted = inspect.signature(self.function).parameters
        self.arguments = {name for name in ("task", "categorical", "numeric", "params", "seed") if name in accepted}

    def build(self, task: str, categorical: list[str], numeric: list[str], params: dict[str, Any], seed: int):
        given = {"task": task, "categorical": categorical, "numeric": numeric, "params": dict(params), "seed": seed}
        estimator = self.function(**{k: v for k, v in given.items() if k in self.arguments})
        if not hasattr(estimator, "fit") or (task != "regression" and not hasattr(estimator, "predict_proba")):
            raise ConfigError(f"model.kind: {self.reference} returned {type(estimator).__name__}, which lacks "
                              f"{'fit' if not hasattr(estimator, 'fit') else 'predict_proba'} (needed for a {task} task)")
        return estimator

    def estimator_class(self, task: str) -> type:
        return type(self.build(task, [], [], {}, 0))

    def parameter_problems(self, task: str, parameters: list[dict[str, Any]]) -> list[str]:
        if "params" not in self.arguments and parameters:
            return [f"tuning.parameters: {self.reference} takes no `params` argument, so nothing can be tuned; "
                    "add `params: dict` to its signature or remove the tuning parameters"]
        return []
