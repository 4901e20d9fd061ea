"""The user's own model (TFX's module file): `model.kind: my_models:build` names a function in the
project (importable from the folder holding `cnai.yaml`) that returns a scikit-learn-compatible
estimator taking the raw feature columns.

The code travels with the model, as MLflow's `code_paths` does: the module (or its top-level
package) is saved beside the estimator in `code/`, and a saved model puts that folder on the import
path before it loads, so the model server needs nothing of the project. On a cluster the steps that
build and fit it run in the project's image (`cnai compile` writes its Dockerfile).

The function is called with whichever of these keyword arguments it declares: `task`
("binary"/"multiclass"/"regression"), `categorical` and `numeric` (column names), `params` (the
tuned and fixed hyperparameters) and `seed`. For classification the estimator is fitted on the
class positions 0..k-1 and must have `predict_proba`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import shutil
import sys
from pathlib import Path
from typing import Any, ClassVar

from cnai.core.errors import ConfigError
from cnai.models.base import ModelKind, whole_numbers_restored

CODE_DIR = "code"  # beside a saved model: the user's module it needs to load


def module_files(reference: str) -> Path:
    """The file or package folder to ship for `module:function`: the module's own file, or the
    top-level package holding it (its siblings may import each other)."""
    top = reference.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is not None and spec.origin is None and spec.submodule_search_locations:  # a folder without __init__.py
        return Path(next(iter(spec.submodule_search_locations)))
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise ConfigError(f"model.kind: {reference!r}: no module {top!r} importable from the project folder")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def use_saved_code(model_directory: Path) -> None:
    """Make a saved model's own code the one its names import: first on the path, and any module of
    the same name already imported (another version's, in the gate or a live swap) forgotten."""
    code = Path(model_directory) / CODE_DIR
    if not code.is_dir():
        return
    shipped = {p.stem if p.suffix == ".py" else p.name for p in code.iterdir()}
    for name in [n for n in sys.modules if n.split(".")[0] in shipped]:
        del sys.modules[name]
    if str(code) in sys.path:
        sys.path.remove(str(code))
    sys.path.insert(0, str(code))


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
        # Numbers come through KFP and Katib as floats: restored as the model's last step takes them.
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        restored = whole_numbers_restored(type(final), params)
        if restored != params or any(type(restored[k]) is not type(params[k]) for k in params):
            given["params"] = restored
            estimator = self.function(**{k: v for k, v in given.items() if k in self.arguments})
        if not hasattr(estimator, "fit") or (task != "regression" and not hasattr(estimator, "predict_proba")):
            raise ConfigError(f"model.kind: {self.reference} returned {type(estimator).__name__}, which lacks "
                              f"{'fit' if not hasattr(estimator, 'fit') else 'predict_proba'} (needed for a {task} task)")
        return estimator

    def save(self, estimator, directory: Path) -> None:
        super().save(estimator, directory)
        shipped = module_files(self.reference)
        target = Path(directory) / CODE_DIR / shipped.name
        if shipped.is_dir():  # its Python source only: not the data or checkpoints a package folder may hold
            shutil.copytree(shipped, target, ignore=lambda folder, names: [
                n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir() or n == "__pycache__"])
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(shipped, target)

    def estimator_class(self, task: str) -> type:
        return type(self.build(task, [], [], {}, 0))

    def parameter_problems(self, task: str, parameters: list[dict[str, Any]], key: str = "tuning.parameters") -> list[str]:
        if "params" not in self.arguments and parameters:
            return [f"{key}: {self.reference} takes no `params` argument, so nothing can be tuned; "
                    "add `params: dict` to its signature or remove the tuning parameters"]
        return []
