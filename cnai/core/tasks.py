"""Tasks (binary, multiclass, regression): their metrics with each one's direction, and how a label
column is checked and encoded for each.

A classification model keeps the label's own values (`classes`, in a fixed order) and is fitted on
their positions 0..k-1; what it scores is a probability per class (for binary: of `classes[1]`, the
positive label). A regression model scores the value itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cnai.core.errors import DataError

if TYPE_CHECKING:  # numpy and pandas are imported where they are used: `cnai.core.config` reads this module's names
    import numpy as np
    import pandas as pd

TASKS = ("binary", "multiclass", "regression")

# metric -> higher is better, per task. The first is the task's default objective and gate metric.
METRICS: dict[str, dict[str, bool]] = {
    "binary": {"roc_auc": True, "average_precision": True, "log_loss": False, "accuracy": True, "f1": True},
    "multiclass": {"log_loss": False, "accuracy": True, "macro_f1": True, "roc_auc_ovr": True},
    "regression": {"rmse": False, "mae": False, "r2": True},
}
ALL_METRICS = sorted({name for metrics in METRICS.values() for name in metrics})


# More classes than this is a quantity or an identifier, not a classification's label.
MAX_CLASSES = 200
MULTICLASS_MAX_INTEGER_VALUES = 20  # an integer label with more values than this is read as a quantity


def is_quantity(present: pd.Series) -> bool:
    """A numeric label (no missing values) whose values are amounts, a regression's target: some
    are not whole, or there are more of them than classes usually are."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(present) or not pd.api.types.is_numeric_dtype(present):
        return False
    return not (present == present.round()).all() or present.nunique() > MULTICLASS_MAX_INTEGER_VALUES


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")


def higher_is_better(metric: str) -> bool:
    for metrics in METRICS.values():
        if metric in metrics:
            return metrics[metric]
    raise DataError(f"unknown metric {metric!r}; use one of {ALL_METRICS}")


NO_MINIMUM = 1e300  # stands for "no bar" in a float pipeline parameter (KFP has no null float)


def no_minimum(metric: str) -> float:
    """The bar every score clears, in the metric's direction."""
    return -NO_MINIMUM if higher_is_better(metric) else NO_MINIMUM


def check_metric(task: str, metric: str, key: str) -> None:
    """`key` names the setting in cnai.yaml, for the error."""
    from cnai.core.errors import ConfigError

    if metric not in METRICS[task]:
        raise ConfigError(f"{key}: {metric!r} is not a {task} metric; use one of {sorted(METRICS[task])}")


def jsonable(value: Any) -> Any:
    """A label value as JSON keeps it (numpy scalars to Python's)."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def label_classes(task: str, values: pd.Series, where: str, label: str, positive_label: Any = None,
                  distinct_kept: int | None = None) -> list[Any]:
    """The label's classes in model order, after checking the column suits the task.

    For binary the positive label comes last (it is what `roc_auc`, `f1` and the probability are
    about): `positive_label` if given, else the larger of the two values (1 of 0/1, True, "yes" of
    no/yes by sort order). `values` may be a sample of the column's distinct values, cut at
    `distinct_kept` plus one: more than `distinct_kept` of them means the column has more than that.
    """
    import pandas as pd

    present = values.dropna()
    if present.empty:
        raise DataError(f"{where}: label column {label!r} has no values")
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(present) or pd.api.types.is_bool_dtype(present):
            raise DataError(f"{where}: label column {label!r} holds {present.dtype} values (e.g. {present.iloc[0]!r}); "
                            "regression needs numbers: set data.task to binary or multiclass, or choose a numeric label")
        if present.nunique() < 2:
            raise DataError(f"{where}: label column {label!r} is constant ({present.iloc[0]!r}); nothing to learn")
        return []
    found = sorted(present.unique().tolist(), key=lambda v: (str(type(v)), v))
    if all(isinstance(v, float) and v.is_integer() for v in found):
        found = [int(v) for v in found]  # an integer label read as float (a column that had nulls) keeps its names
    count = (f"more than {distinct_kept}" if distinct_kept is not None and len(found) > distinct_kept
             else str(len(found)))
    if task == "binary":
        if len(found) != 2:
            hint = ("the data holds one class only" if len(found) < 2 else task_hint(present, len(found), label))
            raise DataError(f"{where}: binary label {label!r} needs exactly 2 values, found {count} "
                            f"({_examples(found)}); {hint}")
        if positive_label is not None:
            match = [v for v in found if v == positive_label or str(v) == str(positive_label)]
            if not match:
                raise DataError(f"{where}: data.positive_label {positive_label!r} is not a value of {label!r} "
                                f"({_examples(found)}){yaml_boolean_hint(positive_label, found)}")
            found = [v for v in found if v is not match[0]] + [match[0]]
        return [jsonable(v) for v in found]
    if len(found) < 3:
        raise DataError(f"{where}: multiclass label {label!r} has {len(found)} value(s) ({_examples(found)}); "
                        "with two, set data.task: binary")
    if len(found) > MAX_CLASSES:
        raise DataError(f"{where}: label {label!r} has {count} distinct values, too many for classes "
                        f"(at most {MAX_CLASSES}); {task_hint(present, len(found), label)}")
    return [jsonable(v) for v in found]


def task_hint(present: pd.Series, distinct: int, label: str) -> str:
    """What to do about a label with more values than the task takes (`distinct` of them, 3 or more)."""
    if is_quantity(present):
        return "its values are amounts: set data.task: regression"
    if distinct > MAX_CLASSES:
        return f"an identifier or free text, not classes: choose another data.label than {label!r}"
    return "set data.task: multiclass"


def _examples(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:6])
    return shown + (", ..." if len(values) > 6 else "")


def encode_labels(values: pd.Series, classes: list[Any], where: str, label: str) -> np.ndarray:
    """Positions in `classes` (classification) or the values as floats (regression, `classes` empty)."""
    import numpy as np
    import pandas as pd

    if not classes:
        return values.to_numpy(dtype=float)
    index = {c: i for i, c in enumerate(classes)}
    index.update({str(c): i for i, c in enumerate(classes)})
    def code(value: Any) -> int:
        return index.get(jsonable(value), index.get(str(value), -1))

    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        # Mixed Python values: distinct ones that compare equal (1, True, 1.0) are told apart by text.
        codes = np.fromiter((code(v) for v in values), dtype=np.int64, count=len(values))
    else:  # looked up once per distinct value, not once per row
        positions, distinct = pd.factorize(values, use_na_sentinel=False)
        codes = np.array([code(v) for v in distinct], dtype=np.int64)[positions]
    unknown = values[codes < 0]
    if len(unknown):
        raise DataError(f"{where}: label {label!r} has value(s) the model does not know: {_examples(unknown.unique().tolist())}; "
                        f"it was trained on {_examples(classes)}")
    return codes


# What a regression loss with a log link needs of the label, as each library checks it in fit:
# the lowest value it takes, whether that value itself is refused, and whether all 0 is refused.
LABEL_RANGES = {
    "poisson": (0, False, True), "tweedie": (0, False, True), "gamma": (0, True, False),  # scikit-learn, LightGBM
    "count:poisson": (0, False, False), "reg:tweedie": (0, False, False), "reg:gamma": (0, True, False),  # XGBoost
    "reg:squaredlogerror": (-1, True, False),
}
LOSS_KEYS = ("loss", "objective", "criterion")  # scikit-learn's loss (trees': criterion), the boosters' objective


def loss_settings(fixed: dict[str, Any], searched: list[dict[str, Any]],
                  fixed_key: str = "model.params") -> list[tuple[str, str]]:
    """Each setting (its key in cnai.yaml) that chooses a loss with a label range, with that loss:
    from the fixed hyperparameters (under `fixed_key`) and every value tuning.parameters lists."""
    chosen = [(f"{fixed_key}.{k}", v) for k, v in fixed.items() if k in LOSS_KEYS]
    chosen += [(f"tuning.parameters.{p['name']}", v) for p in searched if p["name"] in LOSS_KEYS
               for v in p.get("values") or []]
    return [(key, loss) for key, loss in chosen if isinstance(loss, str) and loss in LABEL_RANGES]


def check_label_for_losses(values: pd.Series, losses: list[tuple[str, str]], where: str, label: str) -> None:
    """A regression label the chosen loss cannot take, refused by name before any fit: the libraries
    refuse it in fit, unnamed (XGBoost's with a C++ trace). `losses` as `loss_settings` gives them."""
    import numpy as np

    y = values.to_numpy(dtype=float, na_value=np.nan)
    y = y[~np.isnan(y)]
    for key, loss in losses:
        lowest, strict, positive_sum = LABEL_RANGES[loss]
        if len(y) and (y.min() < lowest or (strict and y.min() == lowest) or (positive_sum and y.sum() <= 0)):
            need = f"{'every value above' if strict else 'no value below'} {lowest}" + (", not all 0" if positive_sum else "")
            raise DataError(f"{where}: label column {label!r} (lowest {y.min():g}) does not suit {key}: {loss!r}, which "
                            f"needs {need}: set another {key.rsplit('.', 1)[1]} (squared error takes any number), "
                            "or choose a label that suits it")


def score(task: str, metric: str, y_true: np.ndarray, scores: np.ndarray) -> float:
    """`y_true` as `encode_labels` gives it; `scores` as `SavedModel.scores` (binary: P(positive),
    multiclass: one column per class, regression: the value)."""
    import numpy as np
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=float)
    if task == "regression":
        if metric == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_true, scores)))
        if metric == "mae":
            return float(skm.mean_absolute_error(y_true, scores))
        if metric == "r2":
            return float(skm.r2_score(y_true, scores))
    elif task == "binary":
        if metric == "roc_auc":
            return float(skm.roc_auc_score(y_true, scores))
        if metric == "average_precision":
            return float(skm.average_precision_score(y_true, scores))
        if metric == "log_loss":
            return float(skm.log_loss(y_true, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1]))
        predicted = (scores >= 0.5).astype(int)
        if metric == "accuracy":
            return float(skm.accuracy_score(y_true, predicted))
        if metric == "f1":
            return float(skm.f1_score(y_true, predicted, zero_division=0))
    elif task == "multiclass":
        labels = list(range(scores.shape[1]))
        if metric == "log_loss":
            return float(skm.log_loss(y_true, scores, labels=labels))
        if metric == "roc_auc_ovr":
            present = np.unique(y_true)
            if len(present) < 2:
                return float("nan")
            # Classes absent from these rows have no ROC curve: score over those present.
            kept = scores[:, present] / scores[:, present].sum(axis=1, keepdims=True)
            remap = {c: i for i, c in enumerate(present)}
            return float(skm.roc_auc_score([remap[c] for c in y_true], kept if len(present) > 2 else kept[:, 1],
                                           multi_class="ovr" if len(present) > 2 else "raise"))
        predicted = scores.argmax(axis=1)
        if metric == "accuracy":
            return float(skm.accuracy_score(y_true, predicted))
        if metric == "macro_f1":
            return float(skm.f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0))
    raise DataError(f"{metric!r} is not a {task} metric; use one of {sorted(METRICS[task])}")


def all_scores(task: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {name: round(score(task, name, y_true, scores), 6) for name in METRICS[task]}


YAML_BOOLEAN_WORDS = {"yes": True, "no": False, "on": True, "off": False}  # PyYAML reads y and n as text


def yaml_boolean_hint(value: Any, found) -> str:
    """Why a positive_label of true or false matches none of a label's words: cnai.yaml's YAML reads
    an unquoted yes, no, on or off as a boolean. "" when that is not it."""
    if str(value).lower() not in ("true", "false"):
        return ""
    words = [str(v) for v in found if YAML_BOOLEAN_WORDS.get(str(v).strip().lower()) == (str(value).lower() == "true")]
    return (f"; YAML reads an unquoted {words[0]} as {str(value).lower()}: write positive_label: '{words[0]}', in quotes"
            if words else "")
