"""A model as the registry and the server hold it: the kind's files plus `model_meta.json` (kind,
task, classes, feature columns), and `LoadedModel`, through which every consumer scores one."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cnai.core.errors import DataError
from cnai.models.base import as_boolean, model_input
from cnai.models.kinds import model_kind
from cnai.models.user_code import use_saved_code

META_FILE = "model_meta.json"
HELD_OUT_FILE = "held_out_rows.npy"  # a random split's held-out rows, by hash (cnai.core.splits.held_out_hashes)


def save_model(kind_name: str, estimator, directory: str | Path, meta: dict[str, Any],
               held_out: np.ndarray | None = None) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kind = model_kind(kind_name)
    kind.save(estimator, directory)
    meta = {**meta, "kind": kind_name, "model_file": kind.model_file, "serving_format": kind.serving_format}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    if held_out is not None:
        np.save(directory / HELD_OUT_FILE, held_out, allow_pickle=False)


UNSEEN_SAID = 10  # a feature's unseen values an answer names
KNOWN_CATEGORIES_AT_MOST = 10_000  # a column of more (an identifier) is not listed: its unseen values go unsaid


def known_categories(features: pd.DataFrame, categorical: list[str]) -> dict[str, list]:
    """The values each categorical feature was trained with (missing aside), for the server to say
    which values of a request the model never saw: it scores them as missing, which is no error."""
    from cnai.core.tasks import jsonable

    known = {}
    for column in categorical:
        values = features[column].dropna().unique()
        if len(values) <= KNOWN_CATEGORIES_AT_MOST:
            known[column] = sorted((jsonable(v) for v in values), key=str)
    return known


class LoadedModel:
    """A saved model with the columns it expects. `scores` takes raw features, as a DataFrame or as
    a mapping of column name to a list of values (what the model server has): for binary the
    positive class's probability, for multiclass one probability column per class (in `classes`
    order), for regression the predicted value. `predictions` turns scores into label values."""

    def __init__(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.directory = directory
        try:
            self.meta = json.loads((directory / META_FILE).read_text())
        except FileNotFoundError as exc:
            raise DataError(f"{directory}: not a saved model ({exc.filename} is missing)") from exc
        use_saved_code(directory)  # a model of the user's own code carries it (cnai.models.user_code)
        self.kind = model_kind(self.meta.get("kind", "hist_gradient_boosting"))
        self.task: str = self.meta.get("task", "binary")
        self.classes: list[Any] = self.meta.get("classes", [0, 1] if self.task == "binary" else [])
        self.feature_columns: list[str] = self.meta["feature_columns"]
        try:
            self.estimator = self.kind.load(directory)
        except FileNotFoundError as exc:
            raise DataError(f"{directory}: not a saved model ({exc.filename} is missing)") from exc
        self._direct = self.kind.fast_predictor(self.estimator, self.task)
        self._known: dict[str, frozenset] = {}

    def unseen_categories(self, features: Mapping[str, Sequence]) -> dict[str, list]:
        """Per categorical feature, the values sent (as `as_trained` gives them) that it was never
        trained with (the first UNSEEN_SAID); {} for a model saved before it listed its categories."""
        unseen = {}
        for column, values in (self.meta.get("categories") or {}).items():
            known = self._known.get(column)
            if known is None:
                known = self._known[column] = frozenset(values)
            sent = features.get(column, ())
            new = list(dict.fromkeys(_hashable(v) for v in sent
                                     if v is not None and not (isinstance(v, float) and math.isnan(v))))
            new = [v for v in new if v not in known]
            if new:
                unseen[column] = new[:UNSEEN_SAID]
        return unseen

    def held_out_rows(self) -> np.ndarray | None:
        """The hashes of the rows its random split held out; None for a time split, or a model saved
        before they were kept."""
        path = self.directory / HELD_OUT_FILE
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def prepare_for_serving(self) -> None:
        """Compile the model now rather than on the first small request (a model server's load)."""
        if self._direct is not None and hasattr(self._direct, "compiled"):
            _ = self._direct.compiled

    def as_trained(self, features: dict[str, list]) -> dict[str, list]:
        """Sent values in the form the model learnt: a boolean feature's true and false however
        JSON or a CSV spells them ("true", 1, "yes"); refused when neither (DataError)."""
        booleans = [c for c in self.meta.get("boolean", []) if c in features]
        return {**features, **{c: [as_boolean(v, c) for v in features[c]] for c in booleans}} if booleans else features

    def scores(self, features: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        missing = [c for c in self.feature_columns if c not in features]
        if missing:
            raise DataError(f"input lacks feature column(s) {missing}")
        if not isinstance(features, pd.DataFrame):
            features = self.as_trained(dict(features))
        try:
            if self._direct is not None:
                return np.asarray(self._direct.scores(features))
            frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(dict(features))
            frame = model_input(frame, self.feature_columns, self.meta.get("categorical", []))
            if self.task == "regression":
                return np.asarray(self.estimator.predict(frame), dtype=float)
            probability = self.estimator.predict_proba(frame)
            return probability[:, 1] if self.task == "binary" else probability
        except (ValueError, TypeError) as exc:
            numeric = [c for c in self.feature_columns if c in self.meta.get("numeric", [])]
            text = [c for c in numeric if _holds_text(features[c])]
            where = f"numeric feature(s) {text} hold text" if text else "features could not be scored"
            raise DataError(f"{where}: {exc}") from exc

    def predictions(self, scores: np.ndarray) -> list[Any]:
        """The label values (classification) or numbers (regression) that `scores` mean."""
        if self.task == "regression":
            return [float(v) for v in scores]
        if self.task == "binary":
            return [self.classes[int(p >= 0.5)] for p in scores]
        return [self.classes[i] for i in np.asarray(scores).argmax(axis=1)]

    def drift_signal(self, scores: np.ndarray) -> np.ndarray:
        """One number per row whose distribution the drift check compares: the positive class's
        probability (binary), the predicted class's position (multiclass), the value (regression)."""
        scores = np.asarray(scores, dtype=float)
        return scores.argmax(axis=1).astype(float) if self.task == "multiclass" else scores

    def class_probabilities(self, scores: np.ndarray) -> dict[str, list[float]]:
        """One probability list per class, by the class's name (classification only)."""
        if self.task == "binary":
            return {str(self.classes[0]): (1 - scores).tolist(), str(self.classes[1]): scores.tolist()}
        if self.task == "multiclass":
            return {str(c): scores[:, i].tolist() for i, c in enumerate(self.classes)}
        return {}


def _holds_text(values) -> bool:
    if isinstance(values, pd.Series):
        return not pd.api.types.is_numeric_dtype(values)
    return any(isinstance(v, str | bytes) for v in values)


def _hashable(value: Any) -> Any:
    """A sent value as a set can hold it (a list or a mapping sent as a category is never known)."""
    return value if isinstance(value, str | int | float | bool) else repr(value)
