"""Fit the final model with chosen parameters, score it on the holdout and write the model, the
holdout and the metrics: the train step's work, run alike in the step (locally) and in a TrainJob's
node (`cnai.backends.kubeflow.train_job`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, roc_curve

from cnai.core.artifacts import atomic_output
from cnai.core.errors import DataError
from cnai.models.sklearn_hgb import all_scores, build_estimator, feature_kinds, save_model, split_by_time

ROC_POINTS = 50  # KFP's ROC viewer draws a curve from a few dozen thresholds; more only bloats metadata


def fit_and_evaluate(training_set: str, model: str, holdout: str, metrics: str, classification_metrics: str,
                     feature_columns: list[str], label: str, timestamp: str, params: dict[str, Any],
                     holdout_fraction: float, seed: int) -> dict[str, Any]:
    """Fit on all but the most recent rows, score on those, and save the model KServe can load."""
    frame = pd.read_parquet(training_set)
    if frame[label].isna().any():
        raise DataError(f"{training_set}: label column {label!r} has {int(frame[label].isna().sum())} missing values")
    classes = sorted(frame[label].astype(int).unique())
    if classes != [0, 1]:
        raise DataError(f"{training_set}: label column {label!r} needs both classes 0 and 1, found {classes}")
    train, held_out = split_by_time(frame, timestamp, holdout_fraction)
    categorical, numeric = feature_kinds(frame, feature_columns)
    estimator = build_estimator(categorical, numeric, params, seed)
    estimator.fit(train[feature_columns], train[label].astype(int))

    probability = estimator.predict_proba(held_out[feature_columns])[:, 1]
    y_true = held_out[label].astype(int).to_numpy()
    scores = all_scores(y_true, probability)
    meta = {
        "feature_columns": feature_columns, "categorical": categorical, "numeric": numeric, "label": label,
        "timestamp": timestamp, "params": params, "holdout_scores": scores, "framework": "scikit-learn",
        "trained_rows": len(train), "trained_until": str(train[timestamp].max()),
    }
    with atomic_output(model) as staging:
        save_model(estimator, staging, meta)
    with atomic_output(holdout) as staging:
        held_out.to_parquet(staging, index=False)
    with atomic_output(metrics) as staging:
        staging.write_text(json.dumps(scores, indent=2))
    classification = classification_metadata(y_true, probability)
    with atomic_output(classification_metrics) as staging:
        staging.write_text(json.dumps(classification))
    return {
        "scores": scores,
        "train_rows": len(train),
        "holdout_rows": len(held_out),
        "output_metadata": {
            "model": {"framework": "scikit-learn", "feature_columns": feature_columns, "params": params, **scores},
            "holdout": {"rows": len(held_out)},
            "metrics": scores,
            "classification_metrics": classification,
        },
    }


def classification_metadata(y_true: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """Confusion matrix and ROC in the metadata layout of KFP's ClassificationMetrics artifact."""
    matrix = confusion_matrix(y_true, (probability >= 0.5).astype(int), labels=[0, 1])
    fpr, tpr, thresholds = roc_curve(y_true, probability)
    keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).astype(int))
    return {
        "confusionMatrix": {
            "annotationSpecs": [{"displayName": "on time"}, {"displayName": "delayed"}],
            "rows": [{"row": [int(v) for v in row]} for row in matrix],
        },
        "confidenceMetrics": [
            {"confidenceThreshold": float(min(thresholds[i], 1.0)), "recall": float(tpr[i]), "falsePositiveRate": float(fpr[i])}
            for i in keep
        ],
    }
