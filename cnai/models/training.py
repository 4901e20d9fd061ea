"""Fit the final model with chosen parameters, score it on the holdout and write the model, the
holdout and the metrics: the train step's work, run alike in the step (locally) and in a TrainJob's
node (`cnai.backends.kubeflow.train_job`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from cnai.core.artifacts import atomic_output
from cnai.core.errors import DataError
from cnai.core.sampling import read_training_set
from cnai.core.splits import check_holdout, held_out_hashes, split_frame, split_identity
from cnai.core.tasks import all_scores, encode_labels, is_classification, label_classes
from cnai.models.base import (
    TRAINED_ON,
    boolean_columns,
    feature_kinds,
    fit_threads,
    model_input,
    predicted_scores,
    refuse_empty_features,
)
from cnai.models.kinds import model_kind
from cnai.models.saved import known_categories, save_model

CURVE_POINTS = 50  # KFP's ROC viewer draws a curve from a few dozen thresholds; more only bloats metadata


def fit_and_evaluate(training_set: str, model: str, holdout: str, metrics: str, classification_metrics: str,
                     feature_columns: list[str], label: str, timestamp: str, params: dict[str, Any],
                     holdout_fraction: float, seed: int, task: str = "binary", model_kind_name: str = "hist_gradient_boosting",
                     split: str = "time", positive_label: Any = None, max_training_rows: int | None = None) -> dict[str, Any]:
    """Fit on all but the held-out rows, score on those, and save the model with what serving needs.
    A training set of more than `max_training_rows` rows is used as a seeded sample of that many."""
    frame, sample = read_training_set(training_set, label, is_classification(task), max_training_rows, seed)
    if frame[label].isna().any():
        raise DataError(f"{training_set}: label column {label!r} has {int(frame[label].isna().sum())} missing values "
                        "(validation quarantines them with the suite's label rule)")
    classes = label_classes(task, frame[label], training_set, label, positive_label)
    y = encode_labels(frame[label], classes, training_set, label)
    refuse_empty_features(frame, feature_columns, training_set)
    train, held_out = split_frame(frame, split, holdout_fraction, timestamp, seed, y if classes else None)
    refuse_empty_features(train, feature_columns, training_set, TRAINED_ON.format(rows=len(train)))
    y_train = encode_labels(train[label], classes, training_set, label)
    y_true = encode_labels(held_out[label], classes, training_set, label)
    check_holdout(y_true, classes, label, training_set, split_from=y if classes else None)
    kind = model_kind(model_kind_name)
    # As the estimator takes them: the model card and the registry showed tuning's floats
    # (max_leaf_nodes: 21.0) for what the fit used as whole numbers.
    params = kind.cast(params)
    categorical, numeric = feature_kinds(frame, feature_columns)
    estimator = kind.build(task, categorical, numeric, params, seed)
    train_input = model_input(train, feature_columns, categorical)
    kind.before_fit(estimator, train_input, y_train)
    with fit_threads(len(train_input)):
        estimator.fit(train_input, y_train)

    scored = predicted_scores(estimator, task, model_input(held_out, feature_columns, categorical))
    scores = all_scores(task, y_true, scored)
    meta = {
        "task": task, "classes": classes, "feature_columns": feature_columns, "categorical": categorical,
        "numeric": numeric, "integer": [c for c in numeric if pd.api.types.is_integer_dtype(frame[c])],
        "boolean": boolean_columns(frame, categorical), "label": label, "timestamp": timestamp, "split": split, "params": params,
        "holdout_scores": scores, "trained_rows": len(train), "training_sample": sample,
        "rounds_fitted": kind.rounds_fitted(estimator),
        "trained_until": str(train[timestamp].max()) if timestamp and timestamp in train else None,
        "split_identity": split_identity(split, holdout_fraction, timestamp, seed, frame, train),
        "categories": known_categories(train_input, categorical),
    }
    with atomic_output(model) as staging:
        save_model(model_kind_name, estimator, staging, meta, held_out_hashes(meta["split_identity"], held_out))
    with atomic_output(holdout) as staging:
        held_out.to_parquet(staging, index=False)
    with atomic_output(metrics) as staging:
        staging.write_text(json.dumps(scores, indent=2))
    view = evaluation_view(task, classes, y_true, scored)
    with atomic_output(classification_metrics) as staging:
        staging.write_text(json.dumps(view))
    return {
        "scores": scores,
        "train_rows": len(train),
        "holdout_rows": len(held_out),
        "training_sample": sample,
        "output_metadata": {
            "model": {"kind": model_kind_name, "task": task, "feature_columns": feature_columns, "params": params,
                      **({"rounds_fitted": meta["rounds_fitted"]} if meta["rounds_fitted"] is not None else {}), **scores},
            "holdout": {"rows": len(held_out)},
            "metrics": scores,
            "classification_metrics": view,
        },
    }


def evaluation_view(task: str, classes: list, y_true: np.ndarray, scored: np.ndarray) -> dict[str, Any]:
    """Classification: the confusion matrix (the label's own class names) and, for binary, the ROC
    curve, in the metadata layout of KFP's ClassificationMetrics artifact. Regression: residuals
    by decile of the prediction."""
    from sklearn.metrics import confusion_matrix, roc_curve

    if not is_classification(task):
        residuals = y_true - scored
        order = np.argsort(scored)
        deciles = [chunk for chunk in np.array_split(order, min(10, len(order))) if len(chunk)]
        return {"residuals": [{"predicted_mean": float(scored[c].mean()), "residual_mean": float(residuals[c].mean()),
                               "residual_std": float(residuals[c].std()), "rows": int(len(c))} for c in deciles]}
    predicted = (scored >= 0.5).astype(int) if task == "binary" else scored.argmax(axis=1)
    matrix = confusion_matrix(y_true, predicted, labels=list(range(len(classes))))
    view: dict[str, Any] = {
        "confusionMatrix": {
            "annotationSpecs": [{"displayName": str(c)} for c in classes],
            "rows": [{"row": [int(v) for v in row]} for row in matrix],
        },
    }
    if task == "binary":
        fpr, tpr, thresholds = roc_curve(y_true, scored)
        keep = np.unique(np.linspace(0, len(fpr) - 1, CURVE_POINTS).astype(int))
        view["confidenceMetrics"] = [
            {"confidenceThreshold": float(min(thresholds[i], 1.0)), "recall": float(tpr[i]), "falsePositiveRate": float(fpr[i])}
            for i in keep
        ]
    return view
